/**
 * A neural task on which a curriculum can matter, small enough for the
 * worker's tiny transformer on a CPU: **suffix sum** — the prompt is a few
 * distractor digits, a bar, then `k` digits and `=`; the answer is the sum of
 * the `k` digits after the bar, modulo 4.
 *
 *   `2301|31=` → `0`        (level 2: 3 + 1 = 4 ≡ 0 mod 4)
 *
 * - **One answer token, same guessing rate at every level.** Digits come from
 *   `0123` and the answer is one of them; for uniform digits the sum mod 4 is
 *   uniform, so a policy that does not read the suffix scores exactly 1/4 at
 *   every level (the verifier scores any other character wrong).
 * - **Levels compose one skill.** Level `k` sums `k` digits: the sum of `k`
 *   digits is the sum of the first `k − 1` plus one more, so the features a
 *   model builds to locate the suffix and add digits at level `k − 1` are
 *   what level `k` reuses, and a level well beyond what the model can add is
 *   at chance. Mod-`m` sums of growing arity (parities for `m = 2`) are the
 *   standard case where learning the low-arity sums first is what makes the
 *   high-arity ones learnable (Abbe et al., "Provable advantage of curriculum
 *   learning on parity targets with mixed inputs", NeurIPS 2023).
 * - **Held-out levels.** Training uses levels 1–3; levels 4–6 (the next three)
 *   are out-of-distribution sets. Every level has its own eval set of
 *   `evalPerLevel` items (default 200), and the in-distribution test items are
 *   disjoint from the training pool and the warm-start examples (by prompt).
 * - **A pretrained starting point.** {@link warmStartExamples} feed the worker's
 *   supervised warm start (`HttpTrainer.Client.warmStart`): a cross-entropy
 *   phase on levels 1–3 of at least 200 batches of 64, which then goes on
 *   until the expected level-1 accuracy (sampling at temperature 1) on a
 *   check set of its own reaches {@link settings}`.warmStart.until.accuracy`.
 *   A fixed length left some initialisations without competence (greedy
 *   level-1 accuracy 0.56, 0.49, 0.17 on seeds 1–3 after the same 200
 *   batches: the phase sits near the point where the tiny model starts to
 *   read the suffix); a competence target gives every seed a partly solved
 *   level 1 while levels 2–3 stay near chance and the answer entropy stays
 *   high where the policy cannot add, as for a pretrained model.
 *
 * {@link settings} holds the run settings measured to keep a random
 * curriculum learning for 400 steps without entropy collapse (see
 * `bench/neural.ts` and the README for the numbers).
 *
 * @since 0.1.0
 */
import * as Metrics from "@zpd/core/Metrics"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import type { LossConfig, SamplingParams } from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import type { TaskFamily } from "@zpd/tasks/Task"

/**
 * The digits of prompts and answers.
 *
 * @since 0.1.0
 * @category constants
 */
export const alphabet = "0123"

/**
 * The accuracy of any policy that ignores the suffix: 1 / |alphabet|.
 *
 * @since 0.1.0
 * @category constants
 */
export const chance = 1 / alphabet.length

/**
 * Levels trained on.
 *
 * @since 0.1.0
 * @category constants
 */
export const trainLevels: ReadonlyArray<number> = [1, 2, 3]

/**
 * Held-out (out-of-distribution) levels: the next three.
 *
 * @since 0.1.0
 * @category constants
 */
export const oodLevels: ReadonlyArray<number> = [4, 5, 6]

/**
 * Distractor digits before the bar: uniform in [min, max], so the suffix's
 * position in the prompt does not give its length away.
 *
 * @since 0.1.0
 * @category constants
 */
export const prefixLength = { min: 2, max: 6 } as const

/**
 * The `suffix-sum` family: any level ≥ 1.
 *
 * @since 0.1.0
 * @category families
 */
export const family: TaskFamily = {
  name: "suffix-sum",
  levels: [...trainLevels, ...oodLevels],
  generate: (level, rng, index) => {
    const m = alphabet.length
    let prompt = ""
    const prefix = prefixLength.min + rng.int(prefixLength.max - prefixLength.min + 1)
    for (let i = 0; i < prefix; i++) prompt += alphabet[rng.int(m)]
    prompt += "|"
    let sum = 0
    for (let i = 0; i < level; i++) {
      const d = rng.int(m)
      sum += d
      prompt += alphabet[d]
    }
    return {
      id: `suffix-sum-L${level}-${String(index).padStart(5, "0")}`,
      prompt: prompt + "=",
      answer: alphabet[sum % m]!,
      level,
      family: "suffix-sum",
      metadata: {}
    }
  },
  check: (problem, answer) => answer === problem.answer
}

/**
 * Reward 1 when the completion is exactly the answer digit, else 0;
 * `formatted` when it is one digit of the alphabet.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifier: Verifier = (problem, completion) => {
  const correct = completion === problem.answer
  return { reward: correct ? 1 : 0, correct, formatted: completion.length === 1 && alphabet.includes(completion) }
}

/**
 * Sampling: temperature 1 and exactly one completion token (answers have a
 * fixed length, so every sample's loss and entropy are the answer token's).
 *
 * @since 0.1.0
 * @category constants
 */
export const sampling: Partial<SamplingParams> = { temperature: 1, maxTokens: 1 }

/**
 * The run settings `examples/torch-worker.ts` and `bench/neural.ts` use,
 * chosen with random sampling only (no curriculum), first in a Python
 * prototype of the same GRPO loop: with dense KL β ≤ 0.1 the answer entropy
 * fell below 0.15 nats within 150 steps and groups lost their variance; with
 * β = 0.3 to the warm-started reference and lr 1e-3 it stayed above 0.54 nats
 * over 400 steps on seeds 1–3 while level 2 rose by 20–35 points. With the
 * warm start to a level-1 competence target (random only, `npm run
 * bench:neural`): entropy above 0.45 nats, level 2 at 0.59, 0.49, 0.50 after
 * 400 steps (from 0.33, 0.27, 0.29), at least 24 points above chance on every
 * seed.
 *
 * @since 0.1.0
 * @category constants
 */
export const settings = {
  batchSize: 16,
  groupSize: 8,
  /** AdamW learning rate of the RL updates. */
  learningRate: 1e-3,
  kl: "dense" as const,
  loss: { klCoef: 0.3, clip: 0.2, aggregation: "token-mean" } satisfies Partial<LossConfig>,
  warmStart: {
    examples: 200 * 64,
    batchSize: 64,
    learningRate: 3e-3,
    /**
     * Go on past the first pass until the expected level-1 accuracy on
     * `warmStartCheck` reaches `accuracy` (10 points above chance), checking
     * every `every` batches, at most `maxSteps` batches in all.
     */
    until: { level: 1, accuracy: 0.35, every: 50, maxSteps: 1000 }
  },
  /** Tiny-model flags (the worker's defaults, with a 32-token context). */
  workerArgs: ["--tiny-dim", "64", "--tiny-layers", "2", "--tiny-heads", "4", "--max-len", "32"],
  /** The answer-token entropy (nats) a run must stay above to count as not collapsed. */
  entropyFloor: 0.2
}

/**
 * `count` problems of `level` from the stream (`seed`, `label`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (level: number, count: number, seed: number, label: string): Array<Problem.Problem> =>
  Array.from({ length: count }, (_, i) => family.generate(level, Rng.make(seed, i, `${label}-L${level}`), i))

/**
 * Supervised warm-start examples: `count` problems cycling through levels 1–3
 * (one level per example, in turn), from their own stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const warmStartExamples = (
  count: number,
  seed: number
): Array<{ readonly prompt: string; readonly answer: string }> =>
  Array.from({ length: count }, (_, i) => {
    const level = trainLevels[i % trainLevels.length]!
    const p = family.generate(level, Rng.make(seed, i, "suffix-sum-warm"), i)
    return { prompt: p.prompt, answer: p.answer }
  })

/**
 * `count` problems of `level` whose prompts are not in `exclude` (nor repeated).
 */
const heldOut = (
  prefix: string,
  level: number,
  count: number,
  seed: number,
  exclude: Set<string>
): Array<Problem.Problem> => {
  const out: Array<Problem.Problem> = []
  const seen = new Set(exclude)
  for (let i = 0; out.length < count; i++) {
    if (i > 100 * count) throw new Error(`suffix-sum: cannot draw ${count} distinct held-out prompts of level ${level}`)
    const p = family.generate(level, Rng.make(seed, i, `${prefix}-L${level}`), i)
    if (seen.has(p.prompt)) continue
    seen.add(p.prompt)
    out.push({ ...p, id: `${prefix}/${p.id}` })
  }
  return out
}

/**
 * The suite of a run:
 * - `train`: `trainPerLevel` problems of each of levels 1–3 (default 2000);
 * - `warmStart`: {@link settings}`.warmStart.examples` warm-start examples;
 * - `test`: per training level, `evalPerLevel` (default 200) problems whose
 *   prompts appear neither in `train` nor in `warmStart`;
 * - `ood`: per held-out level 4–6, `evalPerLevel` problems;
 * - `warmStartCheck`: `evalPerLevel` problems of the warm start's target
 *   level, disjoint from all the above (the warm start's competence check,
 *   so the test set stays unseen by any decision).
 *
 * @since 0.1.0
 * @category constructors
 */
export const suite = (
  options: {
    readonly seed?: number
    readonly trainPerLevel?: number
    readonly evalPerLevel?: number
    readonly warmStartExamples?: number
  } = {}
) => {
  const seed = options.seed ?? 7
  const evalPerLevel = options.evalPerLevel ?? 200
  const train = Problem.make(
    "suffix-sum/train",
    trainLevels.flatMap((level) => generate(level, options.trainPerLevel ?? 2000, seed, "suffix-sum-train"))
  )
  const warmStart = warmStartExamples(options.warmStartExamples ?? settings.warmStart.examples, seed)
  const seen = new Set([...train.problems.map((p) => p.prompt), ...warmStart.map((e) => e.prompt)])
  const test = new Map(trainLevels.map((level) => [level, heldOut("test", level, evalPerLevel, seed, seen)]))
  const ood = new Map(oodLevels.map((level) => [level, heldOut("ood", level, evalPerLevel, seed, seen)]))
  const checkLevel = settings.warmStart.until.level
  const warmStartCheck = heldOut(
    "check",
    checkLevel,
    evalPerLevel,
    seed,
    new Set([...seen, ...test.get(checkLevel)!.map((p) => p.prompt)])
  ).map((p) => ({ prompt: p.prompt, answer: p.answer }))
  return { train, warmStart, test, ood, warmStartCheck }
}

/**
 * The suite's eval sets by name: `id_L1`…`id_L3` and `ood_L4`…`ood_L6`, so
 * the pipeline records `acc_id_L1`, …, `acc_ood_L6`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const evalSets = (s: ReturnType<typeof suite>): Record<string, ReadonlyArray<Problem.Problem>> =>
  Object.fromEntries([
    ...Array.from(s.test, ([level, problems]) => [`id_L${level}`, problems] as const),
    ...Array.from(s.ood, ([level, problems]) => [`ood_L${level}`, problems] as const)
  ])

/**
 * Per-level held-out accuracy at the last evaluated step of `records`
 * (level → accuracy), in level order.
 *
 * @since 0.1.0
 * @category metrics
 */
export const levelAccuracy = (records: ReadonlyArray<Metrics.StepRecord>): Array<[level: number, accuracy: number]> =>
  [...trainLevels.map((l) => [l, `acc_id_L${l}`] as const), ...oodLevels.map((l) => [l, `acc_ood_L${l}`] as const)]
    .map(([level, name]) => [level, Metrics.lastOf(records, name)])
