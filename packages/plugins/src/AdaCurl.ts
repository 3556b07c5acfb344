/**
 * AdaCuRL — Adaptive Curriculum RL with Invalid Sample Mitigation and
 * Historical Revisiting (Li et al., arXiv 2511.09478, AAAI 2026), as a plugin
 * on the public API of `@zpd/core` (spec `algorithms.md` §1).
 *
 * 1. **Difficulty estimation** at build time, through the InferenceRuntime
 *    ({@link Difficulty.estimate}): optional coarse stage, fine stage
 *    (`difficulty = 1 − c/N`, keep `0.05 ≤ d ≤ 0.95`), stable sort easy → hard,
 *    `K` contiguous buckets.
 * 2. **Competence-driven expansion**: the training subset `D_c` starts as
 *    `B_1` and grows cumulatively (earlier buckets are revisited). Accuracy
 *    rewards of samples from the newest bucket fill a buffer `R_b`; every `M`
 *    of them update `cs ← clamp(cs + (r̄ − 0.5)·max(1 − cs, γ), 0, 1)`; when
 *    `cs ≥ (k−1)/K` bucket `B_k` merges, `cs ← (k−1)/K`, `R_b` is cleared and
 *    the curriculum emits `{ _tag: "BucketMerged", bucket: k }`.
 * 3. **Reference reset**: the plugin's hook resets the reference policy
 *    (`TrainerRuntime.resetReference`) on every `BucketMerged` and
 *    `RoundStarted` event — the pipeline's hook mechanism, no special case in
 *    the loop.
 * 4. **Sparse KL and the T_f reward switch** live in the step:
 *    {@link step} = the standard GRPO step with {@link reward} (format +
 *    accuracy until `T_f`, accuracy only after) and `Stages.klWeights("sparse")`
 *    (KL weight 0 for zero-variance groups).
 * 5. **Re-AdaCuRL** (`rounds: 2`): at the end of a round the curriculum
 *    re-estimates difficulty with the updated policy, leaves out the items it
 *    trained on, keeps `0.2 ≤ d ≤ 0.95`, re-buckets and restarts with
 *    `cs = 0`, `D_c = B'_1` and a fresh reference.
 *
 * Every option, its default and its source tag ([Seed], [S], [R]) is listed in
 * `packages/plugins/ADACURL.md`.
 *
 * **Example**
 * ```ts
 * const options = { verifier, fine: { samples: 32 } }
 * Pipeline.run(AdaCurl.pipeline(options), AdaCurl.plugin(options), {
 *   dataset, seed: 1, steps: 200, batchSize: 64, groupSize: 8, loss: AdaCurl.loss
 * })
 * ```
 *
 * @see https://arxiv.org/abs/2511.09478
 * @since 0.1.0
 */
import type * as Advantage from "@zpd/core/Advantage"
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Hook from "@zpd/core/Hook"
import type { CurriculumEvent } from "@zpd/core/Hook"
import type * as Metrics from "@zpd/core/Metrics"
import * as Part from "@zpd/core/Part"
import * as Pipeline from "@zpd/core/Pipeline"
import { InferenceRuntime, type LossConfig, type SamplingParams, TrainerRuntime } from "@zpd/core/Runtime"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { Verdict } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Baselines from "./Baselines.ts"
import * as Difficulty from "./Difficulty.ts"
import { declared, finiteAtLeast, intAtLeast, oneOf, optionalInt, validated } from "./internal/config.ts"

// ---------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------

/**
 * AdaCuRL's options. Tags: [Seed] the Chinese seed article, [S] secondary
 * summaries, [R] reconstruction (spec §1). See `ADACURL.md`.
 *
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Judges correctness: estimation counts and the accuracy reward. Required. */
  readonly verifier: Stages.Verifier
  /** K, the number of buckets. Default 3 (LLM setting; 4 for MLLMs) [S]. */
  readonly buckets: number
  /** M, accuracy rewards per competence update. Default 512 [S]. */
  readonly window: number
  /** γ ∈ (0, 1], the floor of the step factor max(1 − cs, γ). Default 0.5 [S]. */
  readonly gamma: number
  /** T_f: format + accuracy reward on steps 1..T_f, accuracy only after. Integer ≥ 0. Default 64 [S]. */
  readonly formatUntil: number
  /** Weight of the binary format reward while it is on (rewards are summed [R]). Default 1. */
  readonly formatWeight: number
  /** KL weighting of the step: `sparse` (0 for zero-variance groups) [Seed] or `dense`. Default `sparse`. */
  readonly kl: Advantage.KlMode
  /** Advantage estimator of the step. Default GRPO with verl's conventions (spec §0.1). */
  readonly advantage: Partial<Advantage.AdvantageOptions>
  /** The coarse stage, or `false` (default: the LLM setting runs the fine stage only [S]). */
  readonly coarse: Partial<Difficulty.CoarseOptions> | false
  /** The fine stage: N = 100 samples, keep 0.05 ≤ d ≤ 0.95 [S, Seed]. */
  readonly fine: Partial<Difficulty.FineOptions>
  /** Sampling of estimation rollouts (seed derived). Default the core's defaults (temperature 1) [R]. */
  readonly estimationSampling: Partial<SamplingParams>
  /** Prompts per estimation `generate` request. Default 256. */
  readonly chunkSize: number
  /** Force a merge after this many steps in one stage; `undefined` = never (default) [R]. */
  readonly maxStepsPerStage: number | undefined
  /** Reset the reference policy at every merge and round start. Default true [Seed]. */
  readonly resetReference: boolean
  /** Rounds; 2 or more = Re-AdaCuRL. Default 1 [R: Re-AdaCuRL is reported as a variant]. */
  readonly rounds: number
  /** Steps per round before the last; `undefined` = ⌊steps / rounds⌋ of the run's budget (default) [R]. */
  readonly roundSteps: number | undefined
  /** Also end a round this many steps after its last bucket merged; `undefined` = off (default) [R]. */
  readonly stepsAfterLastMerge: number | undefined
  /** Re-AdaCuRL's re-estimation: difficulty filter and which items to leave out. */
  readonly reestimate: {
    /** Keep `lo ≤ d ≤ hi`. Default `[0.2, 0.95]` (0.2 [Seed]; upper bound re-applied [R]). */
    readonly keep: readonly [number, number]
    /** `trained`: items drawn in any batch of earlier rounds (default [R]); `training-set`: all of earlier rounds' D. */
    readonly exclude: "trained" | "training-set"
  }
}

/**
 * The options with defaults (all but `verifier`).
 *
 * @since 0.1.0
 * @category config
 */
export const defaults: Omit<Config, "verifier"> = {
  buckets: 3,
  window: 512,
  gamma: 0.5,
  formatUntil: 64,
  formatWeight: 1,
  kl: "sparse",
  advantage: {},
  coarse: false,
  fine: Difficulty.fineDefaults,
  estimationSampling: {},
  chunkSize: 256,
  maxStepsPerStage: undefined,
  resetReference: true,
  rounds: 1,
  roundSteps: undefined,
  stepsAfterLastMerge: undefined,
  reestimate: { keep: [0.2, 0.95], exclude: "trained" }
}

/**
 * The paper's MLLM setting: K = 4 and a coarse stage drawing 5K hard / 3K
 * medium / 2K easy items [S].
 *
 * @since 0.1.0
 * @category config
 */
export const mllm: Partial<Config> = { buckets: 4, coarse: { quotas: { counts: [5000, 3000, 2000] } } }

/**
 * The loss AdaCuRL is meant to run with: KL on, β = 0.04 (GRPO's customary
 * value; AdaCuRL's β was not found [R]). Pass it as `Pipeline.run`'s `loss`.
 *
 * @since 0.1.0
 * @category config
 */
export const loss: Partial<LossConfig> = { klCoef: 0.04 }

/**
 * User options: `verifier` plus any overrides.
 *
 * @since 0.1.0
 * @category config
 */
export type Options = Partial<Config> & { readonly verifier: Stages.Verifier }

const resolve = (options: Options): Config => ({
  ...defaults,
  ...options,
  fine: { ...Difficulty.fineDefaults, ...options.fine },
  reestimate: { ...defaults.reestimate, ...options.reestimate }
})

const validateStep = (config: Pick<Config, "formatUntil" | "formatWeight" | "kl">): ConfigError | undefined =>
  intAtLeast(config.formatUntil, 0, "adacurl.formatUntil", " (T_f, steps)") ??
    finiteAtLeast(config.formatWeight, 0, "adacurl.formatWeight") ??
    oneOf(config.kl, ["sparse", "dense"], "adacurl.kl")

/**
 * Checks every option, naming the field (`adacurl.gamma`, `adacurl.fine.samples`, …).
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> => {
  const keep = config.reestimate.keep
  return validated(
    config,
    requireConfig(
      typeof config.verifier === "function",
      "adacurl.verifier",
      "a verifier function",
      typeof config.verifier
    ),
    intAtLeast(config.buckets, 1, "adacurl.buckets", " (K)"),
    intAtLeast(config.window, 1, "adacurl.window", " (M, rewards per update)"),
    requireConfig(config.gamma > 0 && config.gamma <= 1, "adacurl.gamma", "a number in (0, 1]", config.gamma),
    validateStep(config),
    config.coarse === false
      ? undefined
      : Difficulty.validateCoarse({ ...Difficulty.coarseDefaults, ...config.coarse }, "adacurl"),
    Difficulty.validateFine(config.fine as Difficulty.FineOptions, "adacurl"),
    intAtLeast(config.chunkSize, 1, "adacurl.chunkSize"),
    optionalInt(config.maxStepsPerStage, 1, "adacurl.maxStepsPerStage"),
    requireConfig(
      typeof config.resetReference === "boolean",
      "adacurl.resetReference",
      "a boolean",
      config.resetReference
    ),
    intAtLeast(config.rounds, 1, "adacurl.rounds"),
    optionalInt(config.roundSteps, 1, "adacurl.roundSteps"),
    optionalInt(config.stepsAfterLastMerge, 0, "adacurl.stepsAfterLastMerge"),
    requireConfig(
      Array.isArray(keep) && keep.length === 2 && 0 <= keep[0] && keep[0] <= keep[1] && keep[1] <= 1,
      "adacurl.reestimate.keep",
      "[lo, hi] with 0 ≤ lo ≤ hi ≤ 1",
      JSON.stringify(keep)
    ),
    oneOf(config.reestimate.exclude, ["trained", "training-set"], "adacurl.reestimate.exclude")
  )
}

// ---------------------------------------------------------------------------
// math
// ---------------------------------------------------------------------------

/**
 * One competence update (spec §1.5 step 6):
 * `clamp(cs + (r̄ − 0.5)·max(1 − cs, γ), 0, 1)` [S; factor confirmed by Seed; clamp R].
 *
 * @since 0.1.0
 * @category math
 */
export const updateCompetence = (cs: number, rbar: number, gamma: number): number =>
  Math.min(1, Math.max(0, cs + (rbar - 0.5) * Math.max(1 - cs, gamma)))

/**
 * The expansion condition: `k_next ≤ K` and `cs ≥ (k_next − 1)/K` [S].
 *
 * @since 0.1.0
 * @category math
 */
export const shouldMerge = (cs: number, kNext: number, buckets: number): boolean =>
  kNext <= buckets && cs >= (kNext - 1) / buckets

/**
 * AdaCuRL's reward for a verdict at `step` (1-based): accuracy (`correct`)
 * plus `formatWeight` for a formatted answer while `step ≤ formatUntil`;
 * accuracy only after [Seed; sum R].
 *
 * @since 0.1.0
 * @category math
 */
export const shapeReward = (
  verdict: Verdict,
  step: number,
  options: Pick<Config, "formatUntil" | "formatWeight">
): Verdict => ({
  ...verdict,
  reward: (verdict.correct ? 1 : 0) + (step <= options.formatUntil && verdict.formatted ? options.formatWeight : 0)
})

/**
 * The verifier with AdaCuRL's reward schedule ({@link shapeReward}).
 *
 * @since 0.1.0
 * @category stages
 */
export const reward = (
  options: Pick<Config, "verifier"> & Partial<Pick<Config, "formatUntil" | "formatWeight">>
): Stages.Verifier => {
  const schedule = {
    formatUntil: options.formatUntil ?? defaults.formatUntil,
    formatWeight: options.formatWeight ?? defaults.formatWeight
  }
  return (problem, completion, step) => shapeReward(options.verifier(problem, completion, step), step, schedule)
}

/**
 * The reward stage with AdaCuRL's schedule; fails on its first run with a
 * {@link ConfigError} naming `adacurl.formatUntil` / `adacurl.formatWeight` /
 * `adacurl.kl` when those options are invalid.
 *
 * @since 0.1.0
 * @category stages
 */
export const rewardStage = (options: Options) => {
  const config = resolve(options)
  const invalid = validateStep(config)
  const verifier = reward(config)
  return Stage.make(
    "reward",
    (ctx: { readonly step: number; readonly groups: ReadonlyArray<Stages.Group>; readonly metrics: Metrics.Sink }) =>
      invalid
        ? Effect.fail(invalid)
        : Effect.sync(() => {
          const scored = Stages.score(ctx.groups, verifier, ctx.step)
          Stages.recordRewardMetrics(ctx.metrics, scored)
          return { scored: scored as ReadonlyArray<Stages.ScoredGroup> }
        })
  )
}

/**
 * AdaCuRL's GRPO step: select, rollout, {@link rewardStage} (T_f schedule),
 * advantages, `Stages.klWeights(kl)` (sparse by default), policy update,
 * curriculum update.
 *
 * @since 0.1.0
 * @category stages
 */
export const step = (options: Options) => {
  const config = resolve(options)
  return Stages.selectBatch.pipe(
    Stage.andThen(Stages.rollout),
    Stage.andThen(rewardStage(options)),
    Stage.andThen(Stages.advantages(config.advantage)),
    Stage.andThen(Stages.klWeights(config.kl)),
    Stage.andThen(Stages.policyUpdate),
    Stage.andThen(Stages.updateCurriculum)
  )
}

/**
 * `Pipeline.make(name, step(options))`.
 *
 * @since 0.1.0
 * @category stages
 */
export const pipeline = (options: Options, name = "adacurl") => Pipeline.make(name, step(options))

// ---------------------------------------------------------------------------
// curriculum
// ---------------------------------------------------------------------------

const State = Schema.mutable(Schema.Struct({
  /** 1-based round. */
  round: Schema.Int,
  /** D of the round: dense indices easy → hard. */
  order: Columns.Int32Column,
  /** K + 1 bucket bounds into `order`. */
  bounds: Columns.Int32Column,
  /** Buckets merged into D_c (= k_next − 1). */
  unlocked: Schema.Int,
  /** The bucket whose samples feed R_b (the most recently merged non-empty one). */
  newest: Schema.Int,
  /** cs ∈ [0, 1]. */
  cs: Schema.Number,
  /** R_b: accuracy rewards, one per response. */
  buffer: Columns.Float64Column,
  /** Steps since the last merge (or round start). */
  stepInStage: Schema.Int,
  /** Last step of this round; 0 = the round runs to the end of the budget. */
  roundEnd: Schema.Int,
  /** Step of the last merge or round start: the pool's `since`. */
  lastChange: Schema.Int,
  /** 1 for items left out of later rounds' pools (trained, or in an earlier D). */
  excluded: Columns.Uint8Column,
  refResets: Schema.Int,
  estimationRollouts: Schema.Int
}))

type State = Schema.Schema.Type<typeof State>

/** The bucket (1..K) of every dataset index, 0 outside D: derived from `order` and `bounds`. */
interface Buckets {
  bucketOf: Int32Array
}

const size = (bounds: Int32Array, k: number) => bounds[k]! - bounds[k - 1]!

/** Merges bucket `from`, and with it any empty buckets up to the next non-empty one (spec §1.8 [R]). */
const mergeUpTo = (bounds: Int32Array, from: number): number => {
  const K = bounds.length - 1
  let k = from
  while (k < K && size(bounds, k) === 0) k++
  return k
}

const bucketIndex = (datasetSize: number, order: Int32Array, bounds: Int32Array): Int32Array => {
  const out = new Int32Array(datasetSize)
  for (let k = 1; k < bounds.length; k++) for (let j = bounds[k - 1]!; j < bounds[k]!; j++) out[order[j]!] = k
  return out
}

/** Per-response accuracy values of a group: its `correct` flags, else `round(passRate·G)` ones then zeros. */
const accuracies = (g: Curriculum.GroupOutcome): ArrayLike<number> => {
  if (g.correct !== undefined) return g.correct
  const n = g.rewards.length
  const k = Math.round(g.passRate * n)
  return Float64Array.from({ length: n }, (_, i) => (i < k ? 1 : 0))
}

/** AdaCuRL's estimation for round `round` over `pool` (dense indices), as dense indices easy → hard. */
const estimateRound = (
  config: Config,
  build: Curriculum.BuildContext,
  round: number,
  pool: ReadonlyArray<number>
) =>
  Difficulty.estimate(pool.map((i) => build.dataset.problems[i]!), {
    verifier: config.verifier,
    seed: build.seed,
    label: `adacurl-round-${round}`,
    sampling: config.estimationSampling,
    chunkSize: config.chunkSize,
    field: "adacurl",
    // Later rounds' bins are the policy's doing, not the user's: cap absolute quotas there [R].
    coarse: config.coarse === false ? false : round === 1 ? config.coarse : { ...config.coarse, overflow: "cap" },
    fine: round === 1 ? config.fine : { ...config.fine, keep: config.reestimate.keep }
  }).pipe(Effect.map((e) => ({ order: Int32Array.from(e.order, (j) => pool[j]!), rollouts: e.rollouts })))

/** Round 1's estimate of the whole dataset; fails when fewer than K items survive the filter. */
const firstEstimate = (config: Config, build: Curriculum.BuildContext) =>
  Effect.flatMap(
    estimateRound(config, build, 1, Array.from({ length: build.dataset.problems.length }, (_, i) => i)),
    (first) =>
      first.order.length >= config.buckets ? Effect.succeed(first) : Effect.fail(
        new ConfigError({
          field: "adacurl.buckets",
          expected: `at most |D| = ${first.order.length}, the items left after the difficulty filter ` +
            `[${(config.fine.keep ?? Difficulty.fineDefaults.keep).join(", ")}]`,
          actual: String(config.buckets)
        })
      )
  )

/** Starts round `round` on D = `order` after `step` (0 = before training). */
const startRound = (s: State, config: Config, round: number, order: Int32Array, step: number, roundSteps: number) => {
  s.round = round
  s.order = order
  s.bounds = Difficulty.buckets(order.length, config.buckets)
  s.unlocked = mergeUpTo(s.bounds, 1)
  s.newest = s.unlocked
  s.cs = 0
  s.buffer = new Float64Array(0)
  s.stepInStage = 0
  s.lastChange = step
  s.roundEnd = round < config.rounds ? step + roundSteps : 0
  if (config.reestimate.exclude === "training-set") { for (const i of order) s.excluded[i] = 1 }
}

const merge = (s: State, config: Config, step: number, forced: boolean, events: Array<CurriculumEvent>) => {
  const k = mergeUpTo(s.bounds, s.unlocked + 1)
  s.unlocked = k
  s.newest = k
  s.cs = (k - 1) / config.buckets
  s.buffer = new Float64Array(0)
  s.stepInStage = 0
  s.lastChange = step
  if (config.resetReference) s.refResets++
  events.push({ _tag: "BucketMerged", bucket: k, round: s.round, step, forced })
}

/** Feeds the newest bucket's accuracies into R_b and applies every full window of M (spec §1.5 step 6). */
const competenceUpdate = (
  s: State,
  bucketOf: Int32Array,
  config: Config,
  groups: ReadonlyArray<Curriculum.GroupOutcome>,
  step: number,
  events: Array<CurriculumEvent>
) => {
  const fresh: Array<number> = []
  for (const g of groups) {
    if (config.reestimate.exclude === "trained") s.excluded[g.index] = 1
    if (bucketOf[g.index] === s.newest) {
      const acc = accuracies(g)
      for (let i = 0; i < acc.length; i++) fresh.push(acc[i]!)
    }
  }
  const buffer = new Float64Array(s.buffer.length + fresh.length)
  buffer.set(s.buffer)
  buffer.set(fresh, s.buffer.length)
  s.buffer = buffer
  while (s.buffer.length >= config.window) {
    let sum = 0
    for (let j = 0; j < config.window; j++) sum += s.buffer[j]!
    s.buffer = s.buffer.slice(config.window)
    s.cs = updateCompetence(s.cs, sum / config.window, config.gamma)
    if (shouldMerge(s.cs, s.unlocked + 1, config.buckets)) {
      merge(s, config, step, false, events)
      break
    }
  }
}

/**
 * AdaCuRL's gate: difficulty estimation at build (skipped when resuming: the
 * checkpoint holds it), K buckets, competence-driven expansion of D_c with
 * `BucketMerged` events, Re-AdaCuRL rounds (`RoundStarted`), and the hooks
 * that reset the reference policy on both. The pool is D_c, labelled
 * `bucket` (1..K); it changes (`since`) at every merge and round start.
 *
 * Metrics: `competence` (cs), `bucket` (merged buckets), `buffer_fill`
 * (|R_b|/M), `ref_resets`, `round`, `estimation_rollouts` (cumulative),
 * `dc_size` (|D_c|), `d_size` (|D|).
 *
 * @since 0.2.0
 * @category parts
 */
export const gate = (options: Options) => {
  const config = resolve(options)
  const resetHook = (tag: string) =>
    Hook.onEvent(`adacurl-reset-reference-${tag}`, tag, () => Effect.flatMap(TrainerRuntime, (t) => t.resetReference))
  return Part.gate({
    name: "adacurl",
    options: validate(config),
    hooks: config.resetReference ? [resetHook("BucketMerged"), resetHook("RoundStarted")] : [],
    state: State,
    derive: (s): Buckets => ({ bucketOf: bucketIndex(s.excluded.length, s.order, s.bounds) }),
    build: (build) =>
      Effect.gen(function*() {
        const inference = yield* InferenceRuntime
        const n = build.dataset.problems.length
        const K = config.buckets
        const roundSteps = config.roundSteps ?? Math.max(1, Math.floor(build.steps / config.rounds))
        const initial: State = {
          round: 1,
          order: new Int32Array(0),
          bounds: new Int32Array(K + 1),
          unlocked: 0,
          newest: 0,
          cs: 0,
          buffer: new Float64Array(0),
          stepInStage: 0,
          roundEnd: 0,
          lastChange: 0,
          excluded: new Uint8Array(n),
          refResets: 0,
          estimationRollouts: 0
        }
        if (!build.resuming) {
          const first = yield* firstEstimate(config, build)
          initial.estimationRollouts = first.rollouts
          startRound(initial, config, 1, first.order, 0, roundSteps)
        }
        const spec: Part.GateSpec<State, Buckets> = {
          initial,
          check: (s) =>
            s.bounds.length === K + 1 && s.excluded.length === n && s.order.every((i) => i >= 0 && i < n) &&
              s.bounds[K] === s.order.length
              ? undefined
              : `state does not fit this run (K = ${K}, ${n} problems): ` +
                `${s.bounds.length - 1} buckets, ${s.excluded.length} problems`,
          eligible: ({ derived, state }, pool) =>
            Part.restrict(pool, state.order.subarray(0, state.bounds[state.unlocked]), state.lastChange, {
              bucket: derived.bucketOf
            }),
          observe: (live, { groups, step }) =>
            Effect.gen(function*() {
              const s = live.state
              const events: Array<CurriculumEvent> = []
              competenceUpdate(s, live.derived.bucketOf, config, groups, step, events)
              s.stepInStage++
              if (config.maxStepsPerStage !== undefined && s.unlocked < K && s.stepInStage >= config.maxStepsPerStage) {
                merge(s, config, step, true, events)
              }
              const roundOver = s.roundEnd > 0 &&
                (step >= s.roundEnd ||
                  (config.stepsAfterLastMerge !== undefined && s.unlocked === K &&
                    step - s.lastChange >= config.stepsAfterLastMerge))
              if (!roundOver) return events
              const pool: Array<number> = []
              for (let i = 0; i < n; i++) if (s.excluded[i] === 0) pool.push(i)
              const next = yield* estimateRound(config, build, s.round + 1, pool).pipe(
                Effect.provideService(InferenceRuntime, inference),
                Effect.catchTag("ConfigError", (e) => Effect.die(e)) // options were validated at build
              )
              s.estimationRollouts += next.rollouts
              if (next.order.length === 0) {
                s.roundEnd = 0
                events.push({
                  _tag: "RoundSkipped",
                  round: s.round + 1,
                  step,
                  reason: "no items left after the filter"
                })
              } else {
                startRound(s, config, s.round + 1, next.order, step, roundSteps)
                live.derived = { bucketOf: bucketIndex(n, s.order, s.bounds) }
                if (config.resetReference) s.refResets++
                events.push({ _tag: "RoundStarted", round: s.round, step, size: next.order.length })
              }
              return events
            }),
          metrics: ({ state }) => ({
            competence: state.cs,
            bucket: state.unlocked,
            buffer_fill: state.buffer.length / config.window,
            ref_resets: state.refResets,
            round: state.round,
            estimation_rollouts: state.estimationRollouts,
            dc_size: state.bounds[state.unlocked]!,
            d_size: state.order.length
          })
        }
        return spec
      })
  })
}

const BucketsState = Schema.Struct({
  order: Columns.Int32Column,
  bounds: Columns.Int32Column,
  estimationRollouts: Schema.Int
})

/**
 * AdaCuRL's estimation alone, as a gate: estimates every problem's
 * difficulty at build (skipped when resuming), cuts D into K buckets easy →
 * hard and lets all of D through, labelled `bucket` (1..K). With SEC's
 * sampler over `arms: ["bucket"]` this is SEC over estimated-difficulty arms.
 * Uses `buckets`, `coarse`, `fine`, `estimationSampling` and `chunkSize`.
 * Metric: `estimation_rollouts`.
 *
 * @since 0.2.0
 * @category parts
 */
export const buckets = (options: Options) => {
  const config = resolve(options)
  return Part.gate({
    ...declared("buckets", BucketsState, validate(config)),
    derive: (s): Buckets => ({
      bucketOf: bucketIndex(s.order.length === 0 ? 0 : Math.max(...s.order) + 1, s.order, s.bounds)
    }),
    build: (build) =>
      Effect.gen(function*() {
        const empty = { order: new Int32Array(0), bounds: new Int32Array(config.buckets + 1), estimationRollouts: 0 }
        const first = build.resuming ? undefined : yield* firstEstimate(config, build)
        const spec: Part.GateSpec<Schema.Schema.Type<typeof BucketsState>, Buckets> = {
          initial: first === undefined ? empty : {
            order: first.order,
            bounds: Difficulty.buckets(first.order.length, config.buckets),
            estimationRollouts: first.rollouts
          },
          eligible: ({ derived, state }, pool) => Part.restrict(pool, state.order, 0, { bucket: derived.bucketOf }),
          metrics: ({ state }) => ({ estimation_rollouts: state.estimationRollouts })
        }
        return spec
      })
  })
}

/**
 * AdaCuRL's uniform draws from D_c: a shuffled queue rebuilt at every
 * change of D_c, refilled as `remaining ++ fresh shuffle` [R, spec §1.5
 * step 1].
 *
 * @since 0.2.0
 * @category parts
 */
export const uniform = () => Baselines.uniform({ streams: { init: "adacurl-queue", refill: "adacurl-refill" } })

/**
 * The AdaCuRL curriculum: {@link gate} then {@link uniform}. Pair it with
 * {@link step} (or {@link pipeline}) for the T_f reward schedule and sparse
 * KL, and with {@link loss} for β > 0.
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Options) => gate(options).pipe(Part.andThen(uniform()), Part.named("adacurl"))
