/**
 * Verifiable task families. A family generates problems at integer difficulty
 * levels from a seed and verifies completions. zpd ships procedurally
 * generated families in the spirit of the SEC paper (arXiv 2505.14970 §3):
 * countdown, multi-digit arithmetic and ARC-1D-like sequence rules; see
 * `tasks/`. Every completion is expected to put its final answer inside
 * `<answer>…</answer>`.
 *
 * @since 0.1.0
 */
import type { Problem } from "@zpd/core/Problem"
import type { Rng } from "@zpd/core/Rng"
import type { Verdict } from "@zpd/core/Stages"

/**
 * A verifier's judgement (defined in core, beside the `Verifier` port that
 * consumes it; re-exported here for task authors).
 *
 * @since 0.1.0
 * @category models
 */
export type { Verdict }

/**
 * Reward shaping shared by all families: 1 if correct, `formatReward` if the
 * answer tag is present but wrong, 0 otherwise. SEC's puzzles use
 * `formatReward = 0.1` [P SEC App. B]; the default 0 gives binary rewards.
 *
 * @since 0.1.0
 * @category models
 */
export interface RewardOptions {
  readonly formatReward: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TaskFamily {
  readonly name: string
  /** Levels this family can generate, easiest first. */
  readonly levels: ReadonlyArray<number>
  /** A deterministic problem for (level, rng). `index` makes the id unique. */
  readonly generate: (level: number, rng: Rng, index: number) => Problem
  /** Is `answer` (the text inside `<answer>`) a correct solution of `problem`? */
  readonly check: (problem: Problem, answer: string) => boolean
}

/**
 * The text inside the last `<answer>…</answer>` tag, trimmed; `undefined` if
 * there is no complete tag.
 *
 * @since 0.1.0
 * @category parsing
 */
export const extractAnswer = (completion: string): string | undefined => {
  const close = completion.lastIndexOf("</answer>")
  if (close < 0) return undefined
  const open = completion.lastIndexOf("<answer>", close)
  if (open < 0) return undefined
  return completion.slice(open + "<answer>".length, close).trim()
}

/**
 * Wraps an answer in the tag every verifier looks for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const formatAnswer = (answer: string): string => `<answer>${answer}</answer>`

/**
 * Scores `completion` for `problem` with `family.check`.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  family: Pick<TaskFamily, "check">,
  problem: Problem,
  completion: string,
  options: RewardOptions = { formatReward: 0 }
): Verdict => {
  const answer = extractAnswer(completion)
  if (answer === undefined) return { reward: 0, correct: false, formatted: false }
  const correct = family.check(problem, answer)
  return { reward: correct ? 1 : options.formatReward, correct, formatted: true }
}

/**
 * Exact string match against `problem.answer` (after trimming). The verifier
 * for JSONL datasets whose family has no dedicated checker.
 *
 * @since 0.1.0
 * @category verification
 */
export const exactMatch: Pick<TaskFamily, "check"> = {
  check: (problem, answer) => answer === problem.answer.trim()
}
