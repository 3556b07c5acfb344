/**
 * A custom curriculum in a few lines, run through the same pipeline as the
 * built-ins: train on the problems whose last observed pass rate is closest
 * to 0.5 (unseen problems count as 0.5).
 *
 *   npx tsx examples/custom-curriculum.ts --steps 100 --out runs/near-half
 */
import { Columns, Curriculum } from "@zpd/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { runExample } from "./lib/run.ts"

const nearHalf = Curriculum.plugin("near-half", ({ dataset }) =>
  Effect.succeed(Curriculum.make({
    name: "near-half",
    state: Schema.Struct({ passRate: Columns.Float64Column }),
    initial: { passRate: new Float64Array(dataset.problems.length).fill(0.5) },
    select: ({ passRate }, { batchSize, rng }) =>
      Array.from(passRate, (p, i) => [Math.abs(p - 0.5) + 0.05 * rng.next(), i] as const)
        .sort((a, b) => a[0] - b[0])
        .slice(0, batchSize)
        .map(([, i]) => i),
    observe: ({ passRate }, { groups }) => {
      for (const g of groups) passRate[g.index] = g.passRate
    }
  })))

runExample({ name: "near-half", plugin: nearHalf })
