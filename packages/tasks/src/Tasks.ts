/**
 * The registry of built-in task families and a deterministic dataset
 * generator over them. The families follow the SEC paper's procedurally
 * generated puzzles (arXiv 2505.14970 §4.1): `countdown`, `arithmetic` and
 * `arc1d`, each with integer levels 1–4.
 *
 * **Example**
 * ```ts
 * import * as Either from "effect/Either"
 * import * as Tasks from "@zpd/tasks/Tasks"
 *
 * const dataset = Either.getOrThrow(
 *   Tasks.generate({ families: ["countdown"], levels: [1, 2, 3, 4], perLevel: 500, seed: 0 })
 * )
 * const { train, ood } = Tasks.splitByLevel(dataset, [1, 2, 3], [4])
 * const reward = Tasks.verifier({ formatReward: 0.1 })
 * ```
 *
 * @since 0.1.0
 */
import { ConfigError } from "@zpd/core/Errors"
import { type Dataset, make, type Problem } from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Either from "effect/Either"
import * as Arc1d from "./Arc1d.ts"
import * as Arithmetic from "./Arithmetic.ts"
import * as Countdown from "./Countdown.ts"
import { exactMatch, type RewardOptions, type TaskFamily, type Verdict, verify } from "./Task.ts"

/**
 * The built-in families, keyed by name.
 *
 * @since 0.1.0
 * @category registry
 */
export const families: Readonly<Record<string, TaskFamily>> = {
  countdown: Countdown.family,
  arithmetic: Arithmetic.family,
  arc1d: Arc1d.family
}

const lookup = (name: string): TaskFamily | undefined =>
  Object.prototype.hasOwnProperty.call(families, name) ? families[name] : undefined

/**
 * The registered family that generated `problem` (by `problem.family`), or
 * `undefined` for problems from other sources (e.g. JSONL datasets).
 *
 * @since 0.1.0
 * @category registry
 */
export const familyOf = (problem: Pick<Problem, "family">): TaskFamily | undefined => lookup(problem.family)

/**
 * What to generate: every listed family at every listed level, `perLevel`
 * problems each, from `seed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface GenerateOptions {
  readonly families: ReadonlyArray<string>
  readonly levels: ReadonlyArray<number>
  readonly perLevel: number
  readonly seed: number
}

/**
 * Generates a dataset deterministically. Problems are ordered family-major
 * (in the order given), then by level (in the order given), then by index
 * `0 … perLevel - 1`; ids look like `countdown-L2-00017`. Problem `i` of
 * family `f` at level `L` is drawn from its own stream
 * `Rng.make(seed, i, "f-L<L>")`, so it does not depend on `perLevel` or on
 * which other families and levels are requested.
 *
 * Fails with a {@link ConfigError} on an unknown family (`tasks.families`), a
 * level a requested family does not support (`tasks.levels`), a `perLevel`
 * that is not a non-negative integer (`tasks.perLevel`), or a non-integer
 * seed (`tasks.seed`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (options: GenerateOptions): Either.Either<Dataset, ConfigError> => {
  const allowed = Object.keys(families)
  const chosen: Array<TaskFamily> = []
  for (const name of options.families) {
    const family = lookup(name)
    if (family === undefined) {
      return Either.left(
        new ConfigError({
          field: "tasks.families",
          expected: `one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
          actual: JSON.stringify(name)
        })
      )
    }
    chosen.push(family)
  }
  if (!Number.isSafeInteger(options.perLevel) || options.perLevel < 0) {
    return Either.left(
      new ConfigError({
        field: "tasks.perLevel",
        expected: "a non-negative integer",
        actual: String(options.perLevel)
      })
    )
  }
  if (!Number.isSafeInteger(options.seed)) {
    return Either.left(new ConfigError({ field: "tasks.seed", expected: "an integer", actual: String(options.seed) }))
  }
  for (const family of chosen) {
    for (const level of options.levels) {
      if (!family.levels.includes(level)) {
        return Either.left(
          new ConfigError({
            field: "tasks.levels",
            expected: `levels supported by "${family.name}": ${family.levels.join(", ")}`,
            actual: String(level)
          })
        )
      }
    }
  }
  const problems: Array<Problem> = []
  for (const family of chosen) {
    for (const level of options.levels) {
      const label = `${family.name}-L${level}`
      for (let i = 0; i < options.perLevel; i++) {
        problems.push(family.generate(level, Rng.make(options.seed, i, label), i))
      }
    }
  }
  const name = `tasks:${options.families.join("+")}:L${options.levels.join(",")}:seed=${options.seed}`
  return Either.right(make(name, problems))
}

/**
 * Splits a dataset into a training set (problems whose level is in
 * `trainLevels`) and an out-of-distribution evaluation set (levels in
 * `oodLevels`), keeping the original order. Problems in neither are dropped.
 *
 * @since 0.1.0
 * @category combinators
 */
export const splitByLevel = (
  dataset: Dataset,
  trainLevels: ReadonlyArray<number>,
  oodLevels: ReadonlyArray<number>
): { readonly train: Dataset; readonly ood: Dataset } => ({
  train: make(`${dataset.name}/train`, dataset.problems.filter((p) => trainLevels.includes(p.level))),
  ood: make(`${dataset.name}/ood`, dataset.problems.filter((p) => oodLevels.includes(p.level)))
})

/**
 * A verifier for mixed datasets: dispatches on `problem.family` to the
 * registered family's checker, and falls back to {@link exactMatch} (against
 * `problem.answer`) for unknown families.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifier =
  (options: RewardOptions = { formatReward: 0 }) => (problem: Problem, completion: string): Verdict =>
    verify(familyOf(problem) ?? exactMatch, problem, completion, options)
