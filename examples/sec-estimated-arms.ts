/**
 * SEC over estimated-difficulty arms: AdaCuRL's fine stage estimates every
 * problem's difficulty through the runtime (N = 32 samples here; the spec's
 * N = 100), the whole set is cut into K = 3 buckets easy → hard, and SEC's
 * bandit treats the buckets as arms. The estimate is part of the checkpoint,
 * so a resumed run does not re-estimate and continues exactly.
 *
 *   npx tsx examples/sec-estimated-arms.ts --steps 100 --seed 1 --out runs/sec-estimated
 */
import { Part } from "@zpd/core"
import { AdaCurl, Sec } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const plugin = AdaCurl.buckets({ verifier, fine: { samples: 32, keep: [0, 1] } }).pipe(
  Part.andThen(Sec.sampler({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 })),
  Part.named("sec-estimated")
)

runExample({ name: "sec-estimated", plugin })
