/**
 * A custom curriculum in a few lines, run through the same pipeline as the
 * built-ins: a sampler that trains on the eligible problems whose last
 * observed pass rate is closest to 0.5 (unseen problems count as 0.5). Put a
 * gate in front of it (`AdaCurl.gate(options).pipe(Part.andThen(nearHalf))`)
 * and it samples from the unlocked buckets only.
 *
 *   npx tsx examples/custom-curriculum.ts --steps 100 --out runs/near-half
 */
import { Columns, Part } from "@zpd/core"
import * as Schema from "effect/Schema"
import { runExample } from "./lib/run.ts"

const nearHalf = Part.sampler({
  name: "near-half",
  state: Schema.Struct({ passRate: Columns.Float64Column }),
  build: ({ dataset }) => ({
    initial: { passRate: new Float64Array(dataset.problems.length).fill(0.5) },
    select: ({ state: { passRate } }, pool, { batchSize, rng }) =>
      Array.from(pool.indices, (i) => [Math.abs(passRate[i]! - 0.5) + 0.05 * rng.next(), i] as const)
        .sort((a, b) => a[0] - b[0])
        .slice(0, batchSize)
        .map(([, i]) => i),
    observe: ({ state: { passRate } }, { groups }) => {
      for (const g of groups) passRate[g.index] = g.passRate
    }
  })
})

runExample({ name: "near-half", plugin: nearHalf })
