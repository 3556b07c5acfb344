/**
 * The names `zpd run <curriculum>` accepts, each configured as its example in
 * `examples/` runs it: the plugin, the step pipeline, the loss, and the
 * identity a checkpoint records (the name plus the options given here).
 *
 * This is the one place a curriculum name becomes a plugin. When
 * `Registry.parse` (curriculum and hybrid expressions) lands in
 * @zpd/plugins, {@link lookup} delegates to it.
 *
 * @since 0.1.0
 */
import { type Curriculum, Errors, Pipeline, type Runtime, Stages, Tasks } from "@zpd/core"
import { AdaCurl, Baselines, Cdas, Pcl, Sec } from "@zpd/plugins"
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

/** `options` (without functions) become part of the checkpoint identity, so a resume checks them too. */
const entry = (
  name: string,
  options: object,
  plugin: Entry["plugin"],
  pipeline: Entry["pipeline"] = standard(name),
  loss: Partial<Runtime.LossConfig> = {}
): Entry => ({
  name,
  plugin: Object.assign({}, plugin, { identity: JSON.stringify({ curriculum: name, options }) }),
  pipeline,
  loss
})

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const secOptions = { arms: ["level"], alpha: 0.5, temperature: 0.2 }
const selector = { alpha: 0.5, temperature: 0.2 }

const table: Record<string, () => Entry> = {
  random: () => entry("random", {}, Baselines.random()),
  ordered: () => entry("ordered", {}, Baselines.ordered()),
  sec: () => entry("sec", secOptions, Sec.plugin(secOptions)),
  cdas: () => entry("cdas", { priorCount: 1 }, Cdas.plugin({ priorCount: 1 })),
  pcl: () => entry("pcl", { k: 4, tau: 0.5 }, Pcl.plugin({ k: 4, tau: 0.5 })),
  adacurl: () => entry("adacurl", adacurl, AdaCurl.plugin(adacurl), AdaCurl.pipeline(adacurl), AdaCurl.loss),
  "adacurl+sec": () => {
    const options = { ...adacurl, selector: AdaCurl.secSelector(selector) }
    return entry(
      "adacurl+sec",
      { ...adacurl, selector },
      AdaCurl.plugin(options),
      AdaCurl.pipeline(options, "adacurl+sec"),
      AdaCurl.loss
    )
  },
  dapo: () => {
    const dapo = { genBatchSize: 192, maxRounds: 10 }
    return entry(
      "dapo",
      { sampler: "random", ...dapo },
      Baselines.random(),
      Pipeline.make("dapo", Stages.dapo({ verifier, ...dapo, kl: "sparse" }))
    )
  }
}

/**
 * The names {@link lookup} knows, in the order `npm start` compares them.
 *
 * @since 0.1.0
 * @category constants
 */
export const names: ReadonlyArray<string> = Object.keys(table)

/**
 * The curriculum named `expression`, or a {@link Errors.ConfigError} naming
 * the argument and the known names.
 *
 * @since 0.1.0
 * @category lookup
 */
export const lookup = (expression: string): Either.Either<Entry, Errors.ConfigError> => {
  const make = Object.hasOwn(table, expression.trim()) ? table[expression.trim()] : undefined
  return make === undefined
    ? Either.left(
      new Errors.ConfigError({
        field: "curriculum",
        expected: `one of ${names.join(", ")}`,
        actual: JSON.stringify(expression)
      })
    )
    : Either.right(make())
}
