/**
 * The procedurally generated task suite the examples train on: countdown,
 * multi-digit arithmetic and ARC-1D-like rules at levels 1–4. Levels 1–3 are
 * the training set (plus a disjoint in-distribution test set); level 4 is held
 * out as out-of-distribution, as in the SEC paper.
 */
import { Problem } from "@zpd/core"
import { Tasks } from "@zpd/tasks"
import * as Either from "effect/Either"

export interface TaskSuite {
  readonly train: Problem.Dataset
  readonly test: Problem.Dataset
  readonly ood: Problem.Dataset
  readonly all: ReadonlyArray<Problem.Problem>
}

const generate = (perLevel: number, seed: number, levels: ReadonlyArray<number>) =>
  Either.getOrThrow(Tasks.generate({ families: ["countdown", "arithmetic", "arc1d"], levels, perLevel, seed }))

export const standardSuite = (options: { readonly perLevel?: number; readonly dataSeed?: number } = {}): TaskSuite => {
  const perLevel = options.perLevel ?? 200
  const seed = options.dataSeed ?? 2505
  const train = Problem.make("tasks/train", generate(perLevel, seed, [1, 2, 3]).problems)
  const rename = (prefix: string) => (p: Problem.Problem): Problem.Problem => ({ ...p, id: `${prefix}/${p.id}` })
  const test = Problem.make("tasks/test", generate(50, seed + 1, [1, 2, 3]).problems.map(rename("test")))
  const ood = Problem.make("tasks/ood", generate(50, seed + 2, [4]).problems.map(rename("ood")))
  return { train, test, ood, all: [...train.problems, ...test.problems, ...ood.problems] }
}
