/**
 * Test fixtures shared by the sampler tests: a plain dataset and the group
 * outcome a curriculum observes for given rewards.
 */
import * as Advantage from "@zpd/core/Advantage"
import type * as Curriculum from "@zpd/core/Curriculum"
import * as Problem from "@zpd/core/Problem"

/** `n` level-1 countdown problems with ids p0, p1, … */
export const plainDataset = (n: number): Problem.Dataset =>
  Problem.make(
    "test",
    Array.from({ length: n }, (_, i) => ({
      id: `p${i}`,
      prompt: `prompt ${i}`,
      answer: "0",
      level: 1,
      family: "countdown",
      metadata: {}
    }))
  )

/** The outcome of problem `index` with these rewards: pass rate = share of rewards equal to 1, GRPO advantages. */
export const groupOf = (
  dataset: Problem.Dataset,
  index: number,
  rewards: ReadonlyArray<number>
): Curriculum.GroupOutcome => {
  const r = Float64Array.from(rewards)
  return {
    index,
    problem: dataset.problems[index]!,
    rewards: r,
    passRate: rewards.filter((x) => x === 1).length / r.length,
    advantages: Advantage.groupAdvantages(r)
  }
}
