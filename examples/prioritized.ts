/**
 * A custom sampler composed with AdaCuRL's gate: prioritized sampling with
 * weight p(1 − p) + ε on an exponential moving average p of each problem's
 * pass rate (unseen problems start at 0.5), B draws without replacement from
 * the unlocked buckets (Efraimidis–Spirakis keys log(u)/w).
 *
 *   npx tsx examples/prioritized.ts --steps 100 --seed 1 --out runs/prioritized
 */
import { Columns, Fmath, Part } from "@zpd/core"
import { AdaCurl } from "@zpd/plugins"
import * as Schema from "effect/Schema"
import { runExample, verifier } from "./lib/run.ts"

const prioritized = (options: { readonly decay: number; readonly eps: number }) =>
  Part.sampler({
    name: "prioritized",
    options,
    state: Schema.Struct({ ema: Columns.Float64Column }),
    build: ({ dataset }) => ({
      initial: { ema: new Float64Array(dataset.problems.length).fill(0.5) },
      select: ({ state: { ema } }, pool, { batchSize, rng }) =>
        Array.from(pool.indices, (i) => [Fmath.log(rng.next()) / (ema[i]! * (1 - ema[i]!) + options.eps), i] as const)
          .sort((a, b) => b[0] - a[0])
          .slice(0, batchSize)
          .map(([, i]) => i),
      observe: ({ state: { ema } }, { groups }) => {
        for (const g of groups) ema[g.index] = options.decay * ema[g.index]! + (1 - options.decay) * g.passRate
      },
      metrics: ({ state: { ema } }) => ({
        prioritized_weight_mean: ema.reduce((s, p) => s + p * (1 - p), 0) / ema.length
      })
    })
  })

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const plugin = AdaCurl.gate(adacurl).pipe(
  Part.andThen(prioritized({ decay: 0.7, eps: 0.05 })),
  Part.named("adacurl+prioritized")
)

runExample({
  name: "adacurl+prioritized",
  pipeline: AdaCurl.pipeline(adacurl, "adacurl+prioritized"),
  plugin,
  loss: AdaCurl.loss
})
