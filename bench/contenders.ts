/**
 * The curricula the simulator benchmark compares: the published ones, the
 * baselines, and the hybrids the examples show. The hybrids are written as in
 * `examples/hybrid-*.ts` and `examples/sec-estimated-arms.ts` (those files run
 * on import, so they cannot be imported here).
 */
import { Curriculum, Difficulty, Pipeline, Stages, ValueModel } from "@zpd/core"
import { AdaCurl, Baselines, Cdas, Pcl, Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import type { ExampleOptions } from "../examples/lib/run.ts"
import { verifier } from "../examples/lib/run.ts"

type Contender = Pick<ExampleOptions<any, any>, "name" | "plugin" | "pipeline" | "loss">

const adacurlOptions = (extra: Partial<AdaCurl.Options> = {}): AdaCurl.Options => ({
  verifier,
  fine: { samples: 32 },
  window: 256,
  ...extra
})

/** AdaCuRL with `extra` options (ablations), under `name`, with KL coefficient `beta`. */
export const adacurl = (name: string, extra: Partial<AdaCurl.Options> = {}, beta = 0.04): Contender => {
  const options = adacurlOptions(extra)
  return { name, plugin: AdaCurl.plugin(options), pipeline: AdaCurl.pipeline(options, name), loss: { ...AdaCurl.loss, klCoef: beta } }
}

const pclCdas = Curriculum.plugin("pcl+cdas", ({ dataset, seed }) => {
  const pcl = Pcl.make(dataset, seed, Pcl.defaults, ValueModel.hashed())
  const cdas = Cdas.make(dataset.problems.length, seed)
  return Effect.succeed<Curriculum.Curriculum>({
    name: "pcl+cdas",
    select: (request) =>
      cdas.state().warmingUp ? cdas.select(request) : Effect.map(
        pcl.select({ ...request, batchSize: 2 * request.batchSize }),
        (candidates) => cdas.alignCandidates(candidates, request.batchSize)
      ),
    observe: (observation) => Effect.zipRight(pcl.observe(observation), cdas.observe(observation)),
    metrics: () => ({ ...pcl.metrics(), ...cdas.metrics() }),
    timings: pcl.timings,
    snapshot: () => ({ pcl: pcl.snapshot(), cdas: cdas.snapshot() }),
    restore: (s) => {
      const { cdas: c, pcl: p } = s as { readonly pcl: unknown; readonly cdas: unknown }
      return Effect.zipRight(pcl.restore(p), cdas.restore(c))
    }
  })
})

const secEstimated = Curriculum.plugin("sec-estimated", (context: Curriculum.BuildContext) =>
  Effect.gen(function*() {
    const fine = { samples: 32, keep: [0, 1] as const }
    const estimate = yield* Difficulty.estimate(context.dataset.problems, { verifier, seed: context.seed, fine })
    const bounds = Difficulty.buckets(estimate.order.length, 3)
    const dataset = Difficulty.tagBuckets(context.dataset, estimate.order, bounds)
    const sec = yield* Sec.plugin({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 }).build({ ...context, dataset })
    return { ...sec, metrics: () => ({ ...sec.metrics(), estimation_rollouts: estimate.rollouts }) }
  }))

/** Every contender by name (the examples' settings). */
export const contenders: Readonly<Record<string, () => Contender>> = {
  random: () => ({ name: "random", plugin: Baselines.random() }),
  ordered: () => ({ name: "ordered", plugin: Baselines.ordered() }),
  sec: () => ({ name: "sec", plugin: Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }) }),
  cdas: () => ({ name: "cdas", plugin: Cdas.plugin({ priorCount: 1 }) }),
  pcl: () => ({ name: "pcl", plugin: Pcl.plugin({ k: 4, tau: 0.5 }) }),
  adacurl: () => adacurl("adacurl"),
  dapo: () => ({
    name: "dapo",
    plugin: Baselines.random(),
    pipeline: Pipeline.make("dapo", Stages.dapo({ verifier, genBatchSize: 192, maxRounds: 10, kl: "sparse" }))
  }),
  "adacurl+sec": () => adacurl("adacurl+sec", { selector: AdaCurl.secSelector({ alpha: 0.5, temperature: 0.2 }) }),
  "pcl+cdas": () => ({ name: "pcl+cdas", plugin: pclCdas }),
  "sec-estimated": () => ({ name: "sec-estimated", plugin: secEstimated })
}

/** AdaCuRL's ablations: each changes one mechanism of the default (β = 0.04, sparse KL, resets, T_f = 64). */
export const ablations: Readonly<Record<string, () => Contender>> = {
  "adacurl": () => adacurl("adacurl"),
  "adacurl/beta=0": () => adacurl("adacurl/beta=0", {}, 0),
  "adacurl/dense-kl": () => adacurl("adacurl/dense-kl", { kl: "dense" }),
  "adacurl/no-resets": () => adacurl("adacurl/no-resets", { resetReference: false }),
  "adacurl/no-format-phase": () => adacurl("adacurl/no-format-phase", { formatUntil: 0 })
}
