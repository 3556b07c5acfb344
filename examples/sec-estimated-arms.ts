/**
 * SEC over estimated-difficulty arms: AdaCuRL's fine stage estimates every
 * problem's difficulty through the runtime (N = 32 samples here; the spec's
 * N = 100), the whole set is cut into K = 3 buckets easy → hard, each problem
 * is tagged `metadata.bucket`, and SEC's bandit treats the buckets as arms.
 *
 *   npx tsx examples/sec-estimated-arms.ts --steps 100 --seed 1 --out runs/sec-estimated
 *
 * On resume the estimate is recomputed at build time, before the trainer's
 * weights are restored, so it matches the original run's on the simulator.
 */
import { Curriculum, Difficulty } from "@zpd/core"
import { Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import { runExample, verifier } from "./lib/run.ts"

const secOverBuckets = Curriculum.plugin("sec-estimated", (context: Curriculum.BuildContext) =>
  Effect.gen(function*() {
    const fine = { samples: 32, keep: [0, 1] as const }
    const estimate = yield* Difficulty.estimate(context.dataset.problems, { verifier, seed: context.seed, fine })
    const bounds = Difficulty.buckets(estimate.order.length, 3)
    const dataset = Difficulty.tagBuckets(context.dataset, estimate.order, bounds)
    const sec = yield* Sec.plugin({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 }).build({ ...context, dataset })
    return { ...sec, metrics: () => ({ ...sec.metrics(), estimation_rollouts: estimate.rollouts }) }
  }))

runExample({ name: "sec-estimated", plugin: secOverBuckets })
