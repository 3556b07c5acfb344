/**
 * The curricula the simulator benchmark compares: the published ones, the
 * baselines, and the hybrids the examples show (each written as in its
 * example: `examples/hybrid-*.ts`, `examples/sec-estimated-arms.ts`, which run
 * on import and so cannot be imported here).
 */
import { Part } from "@zpd/core"
import { AdaCurl, Baselines, Cdas, Dapo, Pcl, Sec } from "@zpd/plugins"
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
  return {
    name,
    plugin: AdaCurl.plugin(options),
    pipeline: AdaCurl.pipeline(options, name),
    loss: { ...AdaCurl.loss, klCoef: beta }
  }
}

const secLevels = () => Sec.sampler({ arms: ["level"], alpha: 0.5, temperature: 0.2 })
const secBuckets = () => Sec.sampler({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 })

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
    pipeline: Dapo.pipeline({ verifier, genBatchSize: 192, maxRounds: 10, kl: "sparse" })
  }),
  "adacurl+sec": () => ({
    name: "adacurl+sec",
    plugin: AdaCurl.gate(adacurlOptions()).pipe(Part.andThen(secBuckets()), Part.named("adacurl+sec")),
    pipeline: AdaCurl.pipeline(adacurlOptions(), "adacurl+sec"),
    loss: AdaCurl.loss
  }),
  "adacurl+cdas": () => ({
    name: "adacurl+cdas",
    plugin: AdaCurl.gate(adacurlOptions()).pipe(Part.andThen(Cdas.sampler()), Part.named("adacurl+cdas")),
    pipeline: AdaCurl.pipeline(adacurlOptions(), "adacurl+cdas"),
    loss: AdaCurl.loss
  }),
  "pcl+cdas": () => ({
    name: "pcl+cdas",
    plugin: Pcl.prefilter({ k: 2, tau: 0.5 }).pipe(Part.andThen(Cdas.sampler()), Part.named("pcl+cdas"))
  }),
  "pcl+sec": () => ({
    name: "pcl+sec",
    plugin: Pcl.prefilter({ k: 4, tau: 0.5 }).pipe(Part.andThen(secLevels()), Part.named("pcl+sec"))
  }),
  "sec-estimated": () => ({
    name: "sec-estimated",
    plugin: AdaCurl.buckets({ verifier, fine: { samples: 32, keep: [0, 1] } }).pipe(
      Part.andThen(secBuckets()),
      Part.named("sec-estimated")
    )
  })
}

/** AdaCuRL's ablations: each changes one mechanism of the default (β = 0.04, sparse KL, resets, T_f = 64). */
export const ablations: Readonly<Record<string, () => Contender>> = {
  "adacurl": () => adacurl("adacurl"),
  "adacurl/beta=0": () => adacurl("adacurl/beta=0", {}, 0),
  "adacurl/dense-kl": () => adacurl("adacurl/dense-kl", { kl: "dense" }),
  "adacurl/no-resets": () => adacurl("adacurl/no-resets", { resetReference: false }),
  "adacurl/no-format-phase": () => adacurl("adacurl/no-format-phase", { formatUntil: 0 })
}
