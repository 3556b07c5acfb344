/**
 * The names `zpd run <curriculum>` accepts, each configured as its example in
 * `examples/` runs it: the plugin, the step pipeline, the loss, and the
 * identity a checkpoint records (the plugin's own, canonical JSON of its composition and options).
 *
 * This is the one place a curriculum name becomes a plugin; any other
 * expression goes to `Registry.parse` (curriculum and hybrid expressions).
 *
 * @since 0.1.0
 */
import { type Curriculum, type Errors, Part, Pipeline, type Runtime, Stages } from "@zpd/core"
import { AdaCurl, Baselines, Cdas, Dapo, Dump, Greso, OnlineFilter, Pcl, Registry, Sec, Speed } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Either from "effect/Either"

/** The verifier of the built-in task suite (exact match on `<answer>…</answer>`), also used for `--data`. */
export const verifier = Tasks.verifier()

/**
 * A runnable curriculum: the plugin, the step pipeline and the loss it trains with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly name: string
  readonly plugin: Curriculum.Plugin<Errors.ZpdError, Services>
  readonly pipeline: Pipeline.Pipeline<unknown, Errors.ZpdError, Services>
  readonly loss: Partial<Runtime.LossConfig>
}

/**
 * The runtime services a curriculum and its pipeline may use.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = Runtime.InferenceRuntime | Runtime.TrainerRuntime | Runtime.Evaluator

const standard = (name: string) => Pipeline.make(name, Stages.standard({ verifier, kl: "sparse" }))

/** The plugin keeps its own `identity` (canonical JSON of its composition and options) for the checkpoint. */
const entry = (
  name: string,
  plugin: Entry["plugin"],
  pipeline: Entry["pipeline"] = standard(name),
  loss: Partial<Runtime.LossConfig> = {}
): Entry => ({ name, plugin, pipeline, loss })

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const secOptions = { arms: ["level"], alpha: 0.5, temperature: 0.2 }
const selector = { alpha: 0.5, temperature: 0.2 }

const table: Record<string, () => Entry> = {
  random: () => entry("random", Baselines.random()),
  ordered: () => entry("ordered", Baselines.ordered()),
  sec: () => entry("sec", Sec.plugin(secOptions)),
  cdas: () => entry("cdas", Cdas.plugin({ priorCount: 1 })),
  pcl: () => entry("pcl", Pcl.plugin({ k: 4, tau: 0.5 })),
  adacurl: () => entry("adacurl", AdaCurl.plugin(adacurl), AdaCurl.pipeline(adacurl), AdaCurl.loss),
  "adacurl+sec": () =>
    entry(
      "adacurl+sec",
      AdaCurl.gate(adacurl).pipe(
        Part.andThen(Sec.sampler({ arms: ["bucket"], ...selector })),
        Part.named("adacurl+sec")
      ),
      AdaCurl.pipeline(adacurl, "adacurl+sec"),
      AdaCurl.loss
    ),
  dapo: () =>
    entry("dapo", Baselines.random(), Dapo.pipeline({ verifier, genBatchSize: 192, maxRounds: 10, kl: "sparse" })),
  "greso+sec": () =>
    entry("greso+sec", Greso.prefilter().pipe(Part.andThen(Sec.sampler(secOptions)), Part.named("greso+sec"))),
  "dump+filter": () =>
    entry(
      "dump+filter",
      Dump.sampler({ arms: ["family"] }).pipe(Part.named("dump+filter")),
      OnlineFilter.pipeline({ verifier, pLow: 0.2, pHigh: 0.8, maxRounds: 0, kl: "sparse" }, "dump+filter")
    ),
  "cdas+speed": () =>
    entry(
      "cdas+speed",
      Cdas.sampler({ priorCount: 1 }).pipe(Part.named("cdas+speed")),
      Speed.pipeline({ verifier, screen: 4, maxRounds: 0, kl: "sparse" }, "cdas+speed")
    )
}

/**
 * The names {@link lookup} knows, in the order `npm start` compares them.
 *
 * @since 0.1.0
 * @category constants
 */
export const names: ReadonlyArray<string> = Object.keys(table)

/**
 * The curriculum named `expression` (configured as its example), or else the
 * curriculum or hybrid expression `Registry.parse` reads (e.g.
 * `"adacurl.gate > sec(arms=bucket)"`); a bad expression is a
 * {@link Errors.ConfigError} naming the token and the valid names.
 *
 * @since 0.1.0
 * @category lookup
 */
export const lookup = (expression: string): Either.Either<Entry, Errors.ConfigError> => {
  const make = Object.hasOwn(table, expression.trim()) ? table[expression.trim()] : undefined
  return make === undefined ? Registry.parse(expression, { verifier }) : Either.right(make())
}
