/**
 * PCL + SEC: SEC's bandit over difficulty levels proposes a pool of k·B
 * prompts; PCL's value model keeps the B whose predicted pass rate is
 * closest to τ = 0.5.
 *
 *   npx tsx examples/hybrid-pcl-sec.ts --steps 100 --seed 1 --out runs/pcl-sec
 */
import { Part } from "@zpd/core"
import { Pcl, Sec } from "@zpd/plugins"
import { runExample } from "./lib/run.ts"

const plugin = Pcl.prefilter({ k: 4, tau: 0.5 }).pipe(
  Part.andThen(Sec.sampler({ arms: ["level"], alpha: 0.5, temperature: 0.2 })),
  Part.named("pcl+sec")
)

runExample({ name: "pcl+sec", plugin })
