/**
 * A verifiable task that the worker's tiny character-level transformer learns
 * by GRPO from a random initialisation, on a CPU, in a few minutes: **last
 * letter** — the prompt is a few letters, the answer is the prompt's last
 * letter, and a completion is correct when its first character is that letter.
 *
 * Levels widen the alphabet the letters come from: level ℓ uses the first
 * 2^ℓ letters (`ab`, `abcd`, `abcdefgh`, then 16 letters at level 4, held out as
 * out-of-distribution). An untrained model emits any of 98 characters, so
 * early rewards are ≈ 0.01; the model first learns to answer with a letter of
 * the prompt's alphabet, then to copy the right one, so the wider alphabets
 * are harder.
 *
 * It is a plumbing task for the worker's protocol tests, not a task that can
 * rank curricula: its levels differ in guessing rate (1/2 … 1/16), its eval
 * sets are small, and GRPO runs on it collapse (frac_reward_zero_std ≈ 1 after
 * about 60 steps). Curricula on a neural model are compared on
 * `SuffixSumTask` (`./SuffixSumTask.ts`); a real
 * model on a GPU trains on the built-in families (`@zpd/tasks`).
 *
 * @since 0.1.0
 */
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import type { SamplingParams } from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import type { TaskFamily } from "@zpd/tasks/Task"

const LETTERS = "abcdefghijklmnop"

/**
 * Letters per prompt.
 *
 * @since 0.1.0
 * @category constants
 */
export const promptLength = 3

/**
 * The `last-letter` family: levels 1–4.
 *
 * @since 0.1.0
 * @category families
 */
export const family: TaskFamily = {
  name: "last-letter",
  levels: [1, 2, 3, 4],
  generate: (level, rng, index) => {
    const alphabet = LETTERS.slice(0, 2 ** level)
    let prompt = ""
    for (let k = 0; k < promptLength; k++) prompt += alphabet[rng.int(alphabet.length)]
    return {
      id: `last-letter-L${level}-${String(index).padStart(5, "0")}`,
      prompt,
      answer: prompt[prompt.length - 1]!,
      level,
      family: "last-letter",
      metadata: { alphabet: alphabet.length }
    }
  },
  check: (problem, answer) => answer.trim().charAt(0) === problem.answer
}

/**
 * Reward 1 when the completion's first non-blank character is the answer, else 0.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifier: Verifier = (problem, completion) => {
  const first = completion.trimStart().charAt(0)
  const correct = first === problem.answer
  return { reward: correct ? 1 : 0, correct, formatted: first.length > 0 }
}

/**
 * Sampling for this task: temperature 1, two completion tokens (the answer and
 * room for an end-of-sequence token).
 *
 * @since 0.1.0
 * @category constants
 */
export const sampling: Partial<SamplingParams> = { temperature: 1, maxTokens: 2 }

/**
 * Problems of `levels`, `perLevel` each, from `seed` (deterministic).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (
  name: string,
  levels: ReadonlyArray<number>,
  perLevel: number,
  seed: number
): Problem.Dataset => {
  const problems: Array<Problem.Problem> = []
  for (const level of levels) {
    for (let i = 0; i < perLevel; i++) {
      problems.push(family.generate(level, Rng.make(seed, i, `last-letter-L${level}`), i))
    }
  }
  return Problem.make(name, problems)
}

/**
 * The example's suite: levels 1–3 to train on, a disjoint in-distribution test
 * set (prefixed ids) and level 4 as the out-of-distribution set.
 *
 * @since 0.1.0
 * @category constructors
 */
export const suite = (options: { readonly perLevel?: number; readonly seed?: number } = {}) => {
  const seed = options.seed ?? 7
  const rename = (prefix: string) => (p: Problem.Problem): Problem.Problem => ({ ...p, id: `${prefix}/${p.id}` })
  const train = generate("last-letter/train", [1, 2, 3], options.perLevel ?? 200, seed)
  const test = Problem.make("last-letter/test", generate("t", [1, 2, 3], 16, seed + 1).problems.map(rename("test")))
  const ood = Problem.make("last-letter/ood", generate("o", [4], 16, seed + 2).problems.map(rename("ood")))
  return { train, test, ood }
}
