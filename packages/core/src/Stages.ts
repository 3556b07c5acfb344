/**
 * The standard stages of one GRPO step (DESIGN §3), each replaceable on its
 * own:
 *
 * ```
 * selectBatch > rollout > reward > advantages > klWeights > policyUpdate > updateCurriculum
 * ```
 *
 * Post-filters that replace `selectBatch > rollout > reward` (DAPO's dynamic
 * sampling) live beside their algorithm in `@zpd/plugins`.
 *
 * Every stage declares the context fields it reads and the ones it adds, and
 * writes its metrics and timing into the step's {@link Metrics.Sink}.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Advantage from "./Advantage.ts"
import type { Curriculum, CurriculumEvent, GroupOutcome } from "./Curriculum.ts"
import { RuntimeError } from "./Errors.ts"
import type * as Metrics from "./Metrics.ts"
import { type Dataset, type Problem, Problem as ProblemSchema } from "./Problem.ts"
import * as Rng from "./Rng.ts"
import {
  Completion,
  InferenceRuntime,
  type LossConfig,
  type SamplingParams,
  TrainerRuntime,
  type TrainSample,
  type TrainStepResult
} from "./Runtime.ts"
import * as Stage from "./Stage.ts"

/**
 * Run-wide settings every step sees.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepSettings {
  /** Prompts per step, B. */
  readonly batchSize: number
  /** Completions per prompt, G (a.k.a. n). */
  readonly groupSize: number
  readonly sampling: SamplingParams
  readonly loss: LossConfig
}

/**
 * What the pipeline hands the first stage of every step.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepInput {
  /** 1-based step number. */
  readonly step: number
  readonly seed: number
  readonly dataset: Dataset
  readonly curriculum: Curriculum
  readonly settings: StepSettings
  readonly metrics: Metrics.Sink
}

/**
 * A prompt's completions: a GRPO group.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Group = Schema.Struct({
  index: Schema.Int,
  problem: ProblemSchema,
  completions: Schema.Array(Completion)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Group extends Schema.Schema.Type<typeof Group> {}

/**
 * A group with its verifier rewards.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScoredGroup extends Group {
  readonly rewards: Float64Array
  readonly passRate: number
  /** `correct[i]` is 1 when completion `i` was judged correct (the verdict's `correct`). */
  readonly correct?: Uint8Array
}

/**
 * A verifier's judgement of one completion. `reward` is what the advantage
 * stage sees; `correct` feeds pass rates; `formatted` says whether the answer
 * was well-formed. Task families (`@zpd/tasks`) produce it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly reward: number
  readonly correct: boolean
  readonly formatted: boolean
}

/**
 * A verifier: the reward of one completion.
 *
 * @since 0.1.0
 * @category models
 */
export type Verifier = (problem: Problem, completion: string, step: number) => Verdict

const timed = <A, E, R>(metrics: Metrics.Sink, name: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    const out = yield* effect
    const end = yield* Clock.currentTimeNanos
    metrics.time(`${name}_ms`, Number(end - start) / 1e6)
    return out
  })

/**
 * Asks the curriculum for the step's batch. Adds `batch` (dense indices) and
 * the metric `sampled_difficulty_mean` (mean level of the batch); times the
 * call as `select_ms`.
 *
 * @since 0.1.0
 * @category stages
 */
export const selectBatch = Stage.make(
  "selectBatch",
  (ctx: StepInput) =>
    Effect.map(selectIndices(ctx, ctx.settings.batchSize, "select"), (batch) => {
      recordBatchMetrics(ctx, batch)
      return { batch }
    })
)

/**
 * Asks the curriculum for `batchSize` indices with the step's `label` random
 * stream, timing the call as `select_ms`; dies with the curriculum's name if
 * it returns an index outside the dataset.
 *
 * @since 0.1.0
 * @category stages
 */
export const selectIndices = (
  ctx: StepInput,
  batchSize: number,
  label: string
): Effect.Effect<ReadonlyArray<number>> =>
  Effect.gen(function*() {
    const rng = Rng.make(ctx.seed, ctx.step, label)
    const batch = yield* timed(ctx.metrics, "select", ctx.curriculum.select({ step: ctx.step, batchSize, rng }))
    const n = ctx.dataset.problems.length
    for (const i of batch) {
      if (!Number.isInteger(i) || i < 0 || i >= n) {
        return yield* Effect.dieMessage(
          `curriculum "${ctx.curriculum.name}" selected index ${i}; expected an integer in [0, ${n})`
        )
      }
    }
    return batch
  })

/**
 * Writes the batch metrics `sampled_difficulty_mean` (mean level) and
 * `batch_size`.
 *
 * @since 0.2.0
 * @category math
 */
export const recordBatchMetrics = (ctx: StepInput, batch: ReadonlyArray<number>): void => {
  let levels = 0
  for (const i of batch) levels += ctx.dataset.problems[i]!.level
  ctx.metrics.set("sampled_difficulty_mean", batch.length === 0 ? Number.NaN : levels / batch.length)
  ctx.metrics.set("batch_size", batch.length)
}

/**
 * Generates `groupSize` completions per selected prompt through the
 * {@link InferenceRuntime}. Refuses runtimes whose logprobs are raw
 * (pre-temperature): importance ratios computed from them are wrong.
 *
 * @since 0.1.0
 * @category stages
 */
export const rollout = Stage.make(
  "rollout",
  (ctx: StepInput & { readonly batch: ReadonlyArray<number> }) =>
    Effect.gen(function*() {
      const runtime = yield* InferenceRuntime
      const groups = yield* timed(ctx.metrics, "rollout", generateGroups(runtime, ctx, ctx.batch, 0))
      ctx.metrics.set("rollouts_generated", groups.length * ctx.settings.groupSize)
      ctx.metrics.set("rollouts_discarded", 0)
      ctx.metrics.set("gen_rounds", 1)
      let truncated = 0
      let aborted = 0
      for (const g of groups) {
        for (const c of g.completions) {
          if (c.finishReason === "length") truncated++
          aborted += c.abortedAttempts ?? 0
        }
      }
      ctx.metrics.set("frac_truncated", truncated / Math.max(1, groups.length * ctx.settings.groupSize))
      ctx.metrics.set("rollouts_aborted", aborted)
      return { groups }
    })
)

/**
 * One generation round for `indices`: builds the request (seeded per step and
 * round: a number, or a label such as SPEED's `"0-cont"` for a second request
 * in a round), checks capabilities and regroups completions by prompt.
 *
 * @since 0.1.0
 * @category stages
 */
export const generateGroups = (
  runtime: InferenceRuntime.Service,
  ctx: StepInput,
  indices: ReadonlyArray<number>,
  round: number | string
): Effect.Effect<ReadonlyArray<Group>, RuntimeError> =>
  Effect.gen(function*() {
    if (runtime.capabilities.logprobSemantics !== "processed") {
      return yield* new RuntimeError({
        endpoint: "InferenceRuntime.capabilities",
        reason: "Refused",
        description:
          "logprobs are raw (pre-temperature); training needs processed logprobs (vLLM: --logprobs-mode processed_logprobs)"
      })
    }
    const { sampling, groupSize } = ctx.settings
    if (sampling.topP !== 1 || sampling.topK > 0) {
      return yield* new RuntimeError({
        endpoint: "InferenceRuntime.generate",
        reason: "Refused",
        description: `training rollouts need topP = 1 and topK = 0 (got topP ${sampling.topP}, topK ${sampling.topK})`
      })
    }
    const problems = indices.map((i) => ctx.dataset.problems[i]!)
    const completions = yield* runtime.generate({
      requestId: `step-${ctx.step}-round-${round}`,
      prompts: problems.map((problem) => ({ promptId: problem.id, text: problem.prompt, problem })),
      n: groupSize,
      sampling: { ...sampling, seed: Rng.deriveSeed(ctx.seed, ctx.step, `rollout-${round}`) }
    })
    if (completions.length !== problems.length * groupSize) {
      return yield* new RuntimeError({
        endpoint: "InferenceRuntime.generate",
        reason: "BadResponse",
        description: `expected ${
          problems.length * groupSize
        } completions (${problems.length} prompts × n=${groupSize}), got ${completions.length}`
      })
    }
    for (let g = 0; g < problems.length; g++) {
      for (let i = 0; i < groupSize; i++) {
        const c = completions[g * groupSize + i]!
        if (c.promptId !== problems[g]!.id) {
          return yield* new RuntimeError({
            endpoint: "InferenceRuntime.generate",
            reason: "BadResponse",
            description: `completion ${g * groupSize + i} is for prompt "${c.promptId}"; expected "${
              problems[g]!.id
            }" (completions must be ordered prompt-major, sample-minor)`
          })
        }
      }
    }
    return indices.map((index, g) => {
      const group = completions.slice(g * groupSize, (g + 1) * groupSize)
      return { index, problem: problems[g]!, completions: group }
    })
  })

/**
 * Scores groups with a verifier: `rewards[g][i]`, the per-completion
 * correctness `correct[g][i]` and the pass rate.
 *
 * @since 0.1.0
 * @category math
 */
export const score = (groups: ReadonlyArray<Group>, verifier: Verifier, step: number): Array<ScoredGroup> =>
  groups.map((group) => {
    const rewards = new Float64Array(group.completions.length)
    const correct = new Uint8Array(group.completions.length)
    let solved = 0
    group.completions.forEach((c, i) => {
      const verdict = verifier(group.problem, c.text, step)
      rewards[i] = verdict.reward
      if (verdict.correct) {
        correct[i] = 1
        solved++
      }
    })
    return {
      ...group,
      rewards,
      correct,
      passRate: group.completions.length === 0 ? 0 : solved / group.completions.length
    }
  })

/**
 * Writes the reward metrics of a step's scored groups.
 *
 * @since 0.1.0
 * @category math
 */
export const recordRewardMetrics = (
  metrics: Metrics.Sink,
  scored: ReadonlyArray<Pick<ScoredGroup, "rewards" | "passRate">>
): void => {
  let sum = 0
  let count = 0
  let zero = 0
  let pass = 0
  for (const g of scored) {
    for (const r of g.rewards) sum += r
    count += g.rewards.length
    pass += g.passRate
    if (Advantage.isZeroVariance(g.rewards)) zero++
  }
  metrics.set("reward_mean", count === 0 ? Number.NaN : sum / count)
  metrics.set("pass_rate_mean", scored.length === 0 ? Number.NaN : pass / scored.length)
  metrics.set("frac_reward_zero_std", scored.length === 0 ? Number.NaN : zero / scored.length)
}

/**
 * Scores completions with `verifier`. Adds `scored`; metrics `reward_mean`,
 * `pass_rate_mean`, `frac_reward_zero_std` (share of groups whose rewards
 * are all equal).
 *
 * @since 0.1.0
 * @category stages
 */
export const reward = (verifier: Verifier) =>
  Stage.make(
    "reward",
    (ctx: { readonly step: number; readonly groups: ReadonlyArray<Group>; readonly metrics: Metrics.Sink }) =>
      Effect.sync(() => {
        const scored = score(ctx.groups, verifier, ctx.step)
        recordRewardMetrics(ctx.metrics, scored)
        return { scored }
      })
  )

/**
 * Writes the advantage metrics `adv_abs_mean` (mean |Â|) and
 * `effective_ratio` (share of completions with a non-zero advantage).
 *
 * @since 0.3.0
 * @category math
 */
export const recordAdvantageMetrics = (metrics: Metrics.Sink, advantages: ReadonlyArray<ArrayLike<number>>): void => {
  let abs = 0
  let nonzero = 0
  let count = 0
  for (const a of advantages) {
    for (let i = 0; i < a.length; i++) {
      abs += Math.abs(a[i]!)
      if (a[i] !== 0) nonzero++
    }
    count += a.length
  }
  metrics.set("adv_abs_mean", count === 0 ? Number.NaN : abs / count)
  metrics.set("effective_ratio", count === 0 ? Number.NaN : nonzero / count)
}

/**
 * Group-relative advantages (GRPO by default). Adds `advantages[g][i]`;
 * metrics `adv_abs_mean` and `effective_ratio` (share of completions with a
 * non-zero advantage).
 *
 * @since 0.1.0
 * @category stages
 */
export const advantages = (options: Partial<Advantage.AdvantageOptions> = {}) => {
  const resolved = { ...Advantage.defaults, ...options }
  return Stage.make(
    "advantages",
    (ctx: { readonly scored: ReadonlyArray<ScoredGroup>; readonly metrics: Metrics.Sink }) =>
      Effect.sync(() => {
        const advantages = ctx.scored.map((g) => Advantage.groupAdvantages(g.rewards, resolved))
        recordAdvantageMetrics(ctx.metrics, advantages)
        return { advantages: advantages as ReadonlyArray<Float64Array> }
      })
  )
}

/**
 * Per-group KL weights: `sparse` (0 for zero-variance groups; AdaCuRL) or
 * `dense` (1 everywhere). Adds `klWeights`; metric `kl_weight_mean`.
 *
 * @since 0.1.0
 * @category stages
 */
export const klWeights = (mode: Advantage.KlMode = "sparse") =>
  Stage.make(
    "klWeights",
    (ctx: { readonly scored: ReadonlyArray<ScoredGroup>; readonly metrics: Metrics.Sink }) =>
      Effect.sync(() => {
        const weights = Float64Array.from(ctx.scored, (g) => Advantage.klWeight(g.rewards, mode))
        let s = 0
        for (const w of weights) s += w
        ctx.metrics.set("kl_weight_mean", weights.length === 0 ? Number.NaN : s / weights.length)
        return { klWeights: weights }
      })
  )

/**
 * Builds the trainer's samples: prompt ++ completion tokens, a loss mask on
 * the completion, its sampling logprobs, and the group's advantage and KL
 * weight broadcast over completion tokens.
 *
 * @since 0.1.0
 * @category math
 */
export const trainSamples = (
  groups: ReadonlyArray<Group>,
  advantages: ReadonlyArray<Float64Array>,
  weights: Float64Array,
  temperature: number
): Array<TrainSample> => {
  const samples: Array<TrainSample> = []
  groups.forEach((group, g) => {
    group.completions.forEach((c, i) => {
      const p = c.promptTokenIds.length
      const t = c.tokenIds.length
      const lossMask = new Array<boolean>(p + t).fill(false, 0, p).fill(true, p)
      const samplingLogprobs = new Array<number>(p).fill(0).concat(c.logprobs)
      const adv = new Array<number>(p).fill(0).concat(new Array<number>(t).fill(advantages[g]![i]!))
      const kl = new Array<number>(p).fill(0).concat(new Array<number>(t).fill(weights[g]!))
      samples.push({
        promptId: c.promptId,
        group: g,
        tokenIds: [...c.promptTokenIds, ...c.tokenIds],
        lossMask,
        samplingLogprobs,
        advantages: adv,
        klWeight: kl,
        temperature,
        policyVersion: c.policyVersion
      })
    })
  })
  return samples
}

/**
 * One policy update through the {@link TrainerRuntime}. Adds `update`;
 * metrics `loss`, `kl_mean`, `clipfrac`, `grad_norm`, `policy_version`.
 *
 * @since 0.1.0
 * @category stages
 */
export const policyUpdate = Stage.make(
  "policyUpdate",
  (
    ctx: StepInput & {
      readonly groups: ReadonlyArray<Group>
      readonly advantages: ReadonlyArray<Float64Array>
      readonly klWeights: Float64Array
    }
  ) =>
    Effect.gen(function*() {
      const trainer = yield* TrainerRuntime
      const samples = trainSamples(ctx.groups, ctx.advantages, ctx.klWeights, ctx.settings.sampling.temperature)
      const update: TrainStepResult = yield* timed(
        ctx.metrics,
        "update",
        trainer.update({ step: ctx.step, samples, loss: ctx.settings.loss })
      )
      for (const [name, value] of Object.entries(update.metrics)) ctx.metrics.set(name, value)
      ctx.metrics.set("policy_version", update.policyVersion)
      return { update }
    })
)

/**
 * The observations a curriculum learns from.
 *
 * @since 0.1.0
 * @category math
 */
export const outcomes = (
  scored: ReadonlyArray<ScoredGroup>,
  advantages: ReadonlyArray<Float64Array>
): Array<GroupOutcome> =>
  scored.map((g, i) => ({
    index: g.index,
    problem: g.problem,
    rewards: g.rewards,
    passRate: g.passRate,
    advantages: advantages[i]!,
    ...(g.correct === undefined ? {} : { correct: g.correct })
  }))

/**
 * Feeds the step's outcomes to the curriculum. Adds `events`, and copies the
 * curriculum's own metrics into the step record.
 *
 * @since 0.1.0
 * @category stages
 */
export const updateCurriculum = Stage.make(
  "updateCurriculum",
  (
    ctx: StepInput & {
      readonly scored: ReadonlyArray<ScoredGroup>
      readonly advantages: ReadonlyArray<Float64Array>
    }
  ) =>
    Effect.gen(function*() {
      const events: ReadonlyArray<CurriculumEvent> = yield* timed(
        ctx.metrics,
        "curriculum_update",
        ctx.curriculum.observe({ step: ctx.step, groups: outcomes(ctx.scored, ctx.advantages) })
      )
      for (const [name, value] of Object.entries(ctx.curriculum.metrics())) ctx.metrics.set(name, value)
      for (const [name, ms] of Object.entries(ctx.curriculum.timings?.() ?? {})) ctx.metrics.time(name, ms)
      return { events }
    })
)

/**
 * Options of the standard step.
 *
 * @since 0.1.0
 * @category models
 */
export interface StandardOptions {
  readonly verifier: Verifier
  readonly advantage?: Partial<Advantage.AdvantageOptions>
  readonly kl?: Advantage.KlMode
}

/**
 * The canonical GRPO step: select, rollout, reward, advantages, KL weights,
 * policy update, curriculum update.
 *
 * @since 0.1.0
 * @category stages
 */
export const standard = (options: StandardOptions) =>
  selectBatch.pipe(
    Stage.andThen(rollout),
    Stage.andThen(reward(options.verifier)),
    Stage.andThen(advantages(options.advantage)),
    Stage.andThen(klWeights(options.kl ?? "sparse")),
    Stage.andThen(policyUpdate),
    Stage.andThen(updateCurriculum)
  )
