/**
 * Named benchmark regimes: a data suite (what is trained on, what is held out)
 * paired with a simulated learner, both drawn from the run seed, so that a
 * curriculum ranking can be checked across settings (DESIGN §9).
 *
 * - `default`: simulator v2 with its defaults. Trains on `countdown` and
 *   `arithmetic` levels 1–3 (300 problems per family and level, sampled by the
 *   run seed); evaluates per-level ID accuracy (`id_l1` … `id_l3`, and `id`),
 *   the held-out level 4 of the trained families (`ood_level`), the held-out
 *   family `arc1d` at levels 1–3 (`ood_family`), and `ood`, their union of
 *   equal sizes, so `acc_ood` is the mean of `acc_ood_level` and
 *   `acc_ood_family`.
 * - `easy`: lower step difficulties and fewer malformed completions.
 * - `hard`: harder steps spaced twice as far apart as in `default` (level 3
 *   stays beyond reach for the whole budget) and more malformed completions,
 *   so that random sampling wastes at least 40% of its groups (all-fail
 *   groups) over 100 and over 300 steps.
 * - `large`: as `default` with 10 700 problems per family and level (64 200),
 *   ten times what 100 steps of 64 prompts can touch.
 * - `v1`: the first simulator and the examples' original suite (three
 *   families, levels 1–3, fixed data seed 2505, OOD = level 4; eval sets `id`
 *   and `ood`), reproducing earlier runs byte for byte. The run seed changes
 *   only the sampling there.
 *
 * **Example**
 * ```ts
 * const suite = Regimes.suite("hard", seed)
 * const runtime = Regimes.layer("hard", suite.all, seed)
 * // Pipeline.run(…, { dataset: suite.train, eval: { sets: suite.evalSets, every: 10 } })
 * ```
 *
 * @since 0.2.0
 */
import { type Dataset, make as dataset, type Problem } from "@zpd/core/Problem"
import { mix32 } from "@zpd/core/Rng"
import type { Evaluator, InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"
import * as Tasks from "@zpd/tasks/Tasks"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type { Learner, SimulatedLearner } from "./internal/simulator.ts"
import * as Simulated from "./Simulated.ts"

/**
 * The regime names `--regime` accepts.
 *
 * @since 0.2.0
 * @category models
 */
export type Name = "easy" | "default" | "hard" | "large" | "v1"

/**
 * Every regime name, the default first.
 *
 * @since 0.2.0
 * @category constants
 */
export const names: ReadonlyArray<Name> = ["default", "easy", "hard", "large", "v1"]

/**
 * The regime a run uses when none is named.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultName: Name = "default"

/**
 * What a regime trains on and holds out.
 *
 * @since 0.2.0
 * @category models
 */
export interface DataSpec {
  readonly trainFamilies: ReadonlyArray<string>
  readonly trainLevels: ReadonlyArray<number>
  /** Training problems per family and level. */
  readonly perLevel: number
  /** ID test problems per family and level (disjoint ids). */
  readonly testPerLevel: number
  /** The held-out harder level of the trained families. */
  readonly oodLevel: number
  /** The held-out family (evaluated at `trainLevels`); `undefined` in v1. */
  readonly heldOutFamily: string | undefined
  /** Problems per family at `oodLevel` (and, for the held-out family, per level so both OOD sets are equal in size). */
  readonly oodPerLevel: number
}

/**
 * A named regime.
 *
 * @since 0.2.0
 * @category models
 */
export interface Regime {
  readonly name: Name
  readonly description: string
  readonly data: DataSpec
  /** The learner: simulator v2 with these constants over its defaults, or the first simulator. */
  readonly simulator: { readonly model: "v2"; readonly config: Partial<Simulated.SimulatorConfig> } | {
    readonly model: "v1"
  }
}

const v2Data: DataSpec = {
  trainFamilies: ["countdown", "arithmetic"],
  trainLevels: [1, 2, 3],
  perLevel: 300,
  testPerLevel: 100,
  oodLevel: 4,
  heldOutFamily: "arc1d",
  oodPerLevel: 150
}

/**
 * Every regime by name.
 *
 * @since 0.2.0
 * @category constants
 */
export const regimes: Readonly<Record<Name, Regime>> = {
  default: {
    name: "default",
    description: "simulator v2 defaults; countdown+arithmetic L1-3, held out: level 4 and the arc1d family",
    data: v2Data,
    simulator: { model: "v2", config: {} }
  },
  easy: {
    name: "easy",
    description: "as default with easier steps and 10% malformed completions at the start",
    data: v2Data,
    simulator: { model: "v2", config: { difficultyBase: -1.4, difficultyStep: 0.6, formatInitial: 2.2 } }
  },
  hard: {
    name: "hard",
    description:
      "as default with harder steps twice as far apart and 50% malformed completions: random wastes ≥ 40% of its groups",
    data: v2Data,
    simulator: { model: "v2", config: { difficultyBase: 0.1, difficultyStep: 1.5, formatInitial: 0 } }
  },
  large: {
    name: "large",
    description: "as default with 64 200 training problems, 10x what 100 steps of 64 prompts touch",
    data: { ...v2Data, perLevel: 10_700 },
    simulator: { model: "v2", config: {} }
  },
  v1: {
    name: "v1",
    description:
      "the first simulator and suite (three families L1-3, OOD level 4, fixed data), byte-identical to earlier runs",
    data: {
      trainFamilies: ["countdown", "arithmetic", "arc1d"],
      trainLevels: [1, 2, 3],
      perLevel: 200,
      testPerLevel: 50,
      oodLevel: 4,
      heldOutFamily: undefined,
      oodPerLevel: 50
    },
    simulator: { model: "v1" }
  }
}

/**
 * The regime called `name`, or an error listing the known names.
 *
 * @since 0.2.0
 * @category constructors
 */
export const get = (name: string): Either.Either<Regime, string> =>
  Object.prototype.hasOwnProperty.call(regimes, name)
    ? Either.right(regimes[name as Name])
    : Either.left(`unknown regime ${JSON.stringify(name)}: expected one of ${names.join(", ")}`)

/**
 * A regime's data for one run: the training set, the eval sets (scored as
 * `acc_<name>`) and every problem the learner must know.
 *
 * @since 0.2.0
 * @category models
 */
export interface Suite {
  readonly train: Dataset
  /** ID test set (all training levels). */
  readonly test: Dataset
  /** OOD set (v2: the held-out level and the held-out family, equal sizes). */
  readonly ood: Dataset
  readonly evalSets: Readonly<Record<string, ReadonlyArray<Problem>>>
  readonly all: ReadonlyArray<Problem>
}

/** The data seed of a run: fixed (2505) in v1, drawn from the run seed otherwise. */
const dataSeed = (regime: Regime, seed: number): number =>
  regime.simulator.model === "v1" ? 2505 : (mix32((seed ^ 0x2505) >>> 0) % 1_000_000) + 1

const generate = (families: ReadonlyArray<string>, levels: ReadonlyArray<number>, perLevel: number, seed: number) =>
  Either.getOrThrow(Tasks.generate({ families, levels, perLevel, seed })).problems

const prefixed = (prefix: string, ps: ReadonlyArray<Problem>): Array<Problem> =>
  ps.map((p) => ({ ...p, id: `${prefix}/${p.id}` }))

/**
 * Builds the suite of regime `name` for run seed `seed` (v2 regimes sample
 * their problems from the seed; v1's data is fixed); `data` overrides the
 * regime's sizes (tests use smaller suites).
 *
 * @since 0.2.0
 * @category constructors
 */
export const suite = (name: Name, seed: number, data: Partial<DataSpec> = {}): Suite => {
  const regime = regimes[name]
  const d: DataSpec = { ...regime.data, ...data }
  const s = dataSeed(regime, seed)
  const train = dataset("tasks/train", generate(d.trainFamilies, d.trainLevels, d.perLevel, s))
  const testProblems = prefixed("test", generate(d.trainFamilies, d.trainLevels, d.testPerLevel, s + 1))
  const test = dataset("tasks/test", testProblems)
  const oodLevel = prefixed("ood", generate(d.trainFamilies, [d.oodLevel], d.oodPerLevel, s + 2))
  if (d.heldOutFamily === undefined) {
    const ood = dataset("tasks/ood", oodLevel)
    return {
      train,
      test,
      ood,
      evalSets: { id: test.problems, ood: ood.problems },
      all: [...train.problems, ...test.problems, ...ood.problems]
    }
  }
  const familyPerLevel = Math.round((d.oodPerLevel * d.trainFamilies.length) / d.trainLevels.length)
  const oodFamily = prefixed("oodf", generate([d.heldOutFamily], d.trainLevels, familyPerLevel, s + 3))
  const ood = dataset("tasks/ood", [...oodLevel, ...oodFamily])
  const byLevel = Object.fromEntries(
    d.trainLevels.map((l) => [`id_l${l}`, testProblems.filter((p) => p.level === l)] as const)
  )
  return {
    train,
    test,
    ood,
    evalSets: { id: test.problems, ...byLevel, ood_level: oodLevel, ood_family: oodFamily, ood: ood.problems },
    all: [...train.problems, ...test.problems, ...ood.problems]
  }
}

/**
 * The learner of regime `name` over `problems` for run seed `seed`
 * (`overrides` replace the regime's simulator constants).
 *
 * @since 0.2.0
 * @category constructors
 */
export const learner = (
  name: Name,
  problems: ReadonlyArray<Problem>,
  seed: number,
  overrides: Partial<Simulated.SimulatorConfig> & Partial<Simulated.ConfigV1> = {}
): Learner => {
  const sim = regimes[name].simulator
  return sim.model === "v1"
    ? Simulated.makeV1(problems, overrides as Partial<Simulated.ConfigV1>)
    : Simulated.make(problems, { ...sim.config, seed, ...(overrides as Partial<Simulated.SimulatorConfig>) })
}

/**
 * {@link learner} as a layer providing the three runtime ports and
 * `SimulatedLearner`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  name: Name,
  problems: ReadonlyArray<Problem>,
  seed: number,
  overrides: Partial<Simulated.SimulatorConfig> & Partial<Simulated.ConfigV1> = {}
): Layer.Layer<InferenceRuntime | TrainerRuntime | Evaluator | SimulatedLearner> =>
  Simulated.layerOf(() => learner(name, problems, seed, overrides))
