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
import * as Checkpoint from "@zpd/core/Checkpoint"
import * as Advantage from "@zpd/core/Advantage"
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import * as Difficulty from "@zpd/core/Difficulty"
import { CheckpointError, ConfigError, requireConfig, type RuntimeError } from "@zpd/core/Errors"
import * as Hook from "@zpd/core/Hook"
import type * as Metrics from "@zpd/core/Metrics"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Rng from "@zpd/core/Rng"
import { InferenceRuntime, type LossConfig, type SamplingParams, TrainerRuntime } from "@zpd/core/Runtime"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { Verdict } from "@zpd/core/Task"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ensureAvailable } from "./Baselines.ts"
import * as Sec from "./Sec.ts"

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
  /** How batches are drawn from D_c. Default {@link uniform} [R]; {@link secSelector} gives AdaCuRL+SEC. */
  readonly selector: Selector<any>
}

/**
 * The options with defaults (all but `verifier`).
 *
 * @since 0.1.0
 * @category config
 */
export const defaults: Omit<Config, "verifier" | "selector"> = {
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
  selector: uniform(),
  ...options,
  fine: { ...Difficulty.fineDefaults, ...options.fine },
  reestimate: { ...defaults.reestimate, ...options.reestimate }
})

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x)
const intAtLeast = (x: number, min: number, field: string, what = "") =>
  requireConfig(isInt(x) && x >= min, field, `an integer ≥ ${min}${what}`, x)
const optionalInt = (x: number | undefined, min: number, field: string) =>
  x === undefined ? undefined : intAtLeast(x, min, field, " (or undefined)")

const validateStep = (config: Pick<Config, "formatUntil" | "formatWeight" | "kl">): ConfigError | undefined =>
  intAtLeast(config.formatUntil, 0, "adacurl.formatUntil", " (T_f, steps)") ??
    requireConfig(
      Number.isFinite(config.formatWeight) && config.formatWeight >= 0,
      "adacurl.formatWeight",
      "a finite number ≥ 0",
      config.formatWeight
    ) ??
    requireConfig(config.kl === "sparse" || config.kl === "dense", "adacurl.kl", `"sparse" or "dense"`, config.kl)

/**
 * Checks every option, naming the field (`adacurl.gamma`, `adacurl.fine.samples`, …).
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (config: Config): ConfigError | undefined => {
  const keep = config.reestimate.keep
  return requireConfig(
    typeof config.verifier === "function",
    "adacurl.verifier",
    "a verifier function",
    typeof config.verifier
  ) ??
    intAtLeast(config.buckets, 1, "adacurl.buckets", " (K)") ??
    intAtLeast(config.window, 1, "adacurl.window", " (M, rewards per update)") ??
    requireConfig(config.gamma > 0 && config.gamma <= 1, "adacurl.gamma", "a number in (0, 1]", config.gamma) ??
    validateStep(config) ??
    (config.coarse === false
      ? undefined
      : Difficulty.validateCoarse({ ...Difficulty.coarseDefaults, ...config.coarse }, "adacurl")) ??
    Difficulty.validateFine(config.fine as Difficulty.FineOptions, "adacurl") ??
    intAtLeast(config.chunkSize, 1, "adacurl.chunkSize") ??
    optionalInt(config.maxStepsPerStage, 1, "adacurl.maxStepsPerStage") ??
    requireConfig(
      typeof config.resetReference === "boolean",
      "adacurl.resetReference",
      "a boolean",
      config.resetReference
    ) ??
    intAtLeast(config.rounds, 1, "adacurl.rounds") ??
    optionalInt(config.roundSteps, 1, "adacurl.roundSteps") ??
    optionalInt(config.stepsAfterLastMerge, 0, "adacurl.stepsAfterLastMerge") ??
    requireConfig(
      Array.isArray(keep) && keep.length === 2 && 0 <= keep[0] && keep[0] <= keep[1] && keep[1] <= 1,
      "adacurl.reestimate.keep",
      "[lo, hi] with 0 ≤ lo ≤ hi ≤ 1",
      JSON.stringify(keep)
    ) ??
    requireConfig(
      config.reestimate.exclude === "trained" || config.reestimate.exclude === "training-set",
      "adacurl.reestimate.exclude",
      `"trained" or "training-set"`,
      config.reestimate.exclude
    ) ??
    config.selector?.validate?.()
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
// selectors
// ---------------------------------------------------------------------------

/**
 * What a {@link Selector} sees: the round's sorted training set D, its bucket
 * bounds and how many buckets are unlocked (`D_c = order[0, bounds[unlocked])`).
 *
 * @since 0.1.0
 * @category selectors
 */
export interface SelectorContext {
  readonly seed: number
  readonly step: number
  /** D: dense dataset indices, easy → hard. */
  readonly order: Int32Array
  /** Bucket bounds, K + 1 entries: `B_k = order[bounds[k−1], bounds[k])`. */
  readonly bounds: Int32Array
  /** Buckets merged into D_c. */
  readonly unlocked: number
  /** Bucket (1..K) of every dataset index, 0 outside D. */
  readonly bucketOf: Int32Array
}

/**
 * How AdaCuRL draws a batch from D_c. A selector owns a Schema'd state, so
 * AdaCuRL checkpoints it with its own. `init` starts a round, `grow` follows a
 * merge; `select` and `observe` may mutate the state in place.
 *
 * @since 0.1.0
 * @category selectors
 */
export interface Selector<S> {
  readonly name: string
  readonly state: Schema.Schema<S, any>
  readonly validate?: () => ConfigError | undefined
  readonly init: (context: SelectorContext) => S
  readonly grow: (state: S, context: SelectorContext) => S
  readonly select: (state: S, context: SelectorContext, request: Curriculum.SelectRequest) => ReadonlyArray<number>
  readonly observe: (state: S, context: SelectorContext, groups: ReadonlyArray<Curriculum.GroupOutcome>) => void
  readonly metrics: (state: S, context: SelectorContext) => Readonly<Record<string, number>>
}

const shuffledSlice = (rng: Rng.Rng, order: Int32Array, from: number, to: number) => rng.shuffle(order.slice(from, to))

/**
 * Uniform draws without replacement from a shuffled copy of D_c; when fewer
 * than B remain the remainder is followed by a fresh shuffle; the queue is
 * rebuilt whenever D_c changes [R, spec §1.5 step 1].
 *
 * @since 0.1.0
 * @category selectors
 */
export const uniform = (): Selector<Columns.Queue> => {
  const fresh = (c: SelectorContext): Columns.Queue => ({
    items: shuffledSlice(Rng.make(c.seed, c.step, "adacurl-queue"), c.order, 0, c.bounds[c.unlocked]!),
    cursor: 0
  })
  return {
    name: "uniform",
    state: Columns.Queue,
    init: fresh,
    grow: (_, c) => fresh(c),
    select: (state, c, { batchSize, step }) => {
      const refill = Rng.make(c.seed, step, "adacurl-refill")
      const queue = ensureAvailable(state, batchSize, () => shuffledSlice(refill, c.order, 0, c.bounds[c.unlocked]!))
      const batch = Array.from(queue.items.subarray(queue.cursor, queue.cursor + batchSize))
      state.items = queue.items
      state.cursor = queue.cursor + batchSize
      return batch
    },
    observe: () => {},
    metrics: () => ({})
  }
}

const SecState = Schema.Struct({ q: Columns.Float64Column, queues: Schema.mutable(Schema.Array(Columns.Queue)) })

/**
 * AdaCuRL+SEC: SEC's bandit (spec §2.2) chooses among the **unlocked**
 * buckets as arms. Each batch slot draws a bucket from
 * `softmax(Q[unlocked] / τ)`, then the bucket's next item (per-bucket shuffled
 * queues, SEC's perpetual refill); `Q` learns by TD(0) from the mean |Â| of
 * each bucket's groups; a newly unlocked bucket starts at `Q = 0`, like SEC's
 * arms at the start [R]. Defaults as in SEC: α = 0.5, τ = 1, unsampled arms
 * decay.
 *
 * @since 0.1.0
 * @category selectors
 */
export const secSelector = (options: Partial<Pick<Sec.Config, "alpha" | "temperature" | "unsampledArms">> = {}): Selector<
  { readonly q: Float64Array; queues: Array<Columns.Queue> }
> => {
  const config = { alpha: 0.5, temperature: 1, unsampledArms: "decay" as const, ...options }
  const arms = (c: SelectorContext) => c.bounds.length - 1
  const shuffleArm = (rng: Rng.Rng, c: SelectorContext, k: number) =>
    shuffledSlice(rng, c.order, c.bounds[k]!, c.bounds[k + 1]!)
  return {
    name: "sec",
    state: SecState,
    validate: () => {
      const invalid = Sec.validate({ ...Sec.defaults, ...config })
      return invalid && new ConfigError({ ...invalid, field: invalid.field.replace(/^sec\./, "adacurl.selector.") })
    },
    init: (c) => {
      const rng = Rng.make(c.seed, c.step, "adacurl-sec-init")
      return {
        q: new Float64Array(arms(c)),
        queues: Array.from({ length: arms(c) }, (_, k) => ({ items: shuffleArm(rng, c, k), cursor: 0 }))
      }
    },
    grow: (state) => state,
    select: (state, c, { batchSize, rng, step }) => {
      const refill = Rng.make(c.seed, step, "adacurl-sec-refill")
      const open = c.unlocked
      const sizes = Array.from({ length: open }, (_, k) => c.bounds[k + 1]! - c.bounds[k]!)
      for (let k = 0; k < open; k++) {
        const q = state.queues[k]!
        if (q.items.length - q.cursor < batchSize) {
          state.queues[k] = ensureAvailable(q, Math.min(batchSize, sizes[k]!), () => shuffleArm(refill, c, k))
        }
      }
      // Empty buckets (only when |D| < K in a later round) never get drawn.
      const q = Float64Array.from(state.q.subarray(0, open), (x, k) => (sizes[k]! > 0 ? x : -Infinity))
      const p = Sec.boltzmann(q, config.temperature)
      const batch: Array<number> = []
      for (let j = 0; j < batchSize; j++) {
        const k = Sec.drawArm(p, rng)
        let queue = state.queues[k]!
        if (queue.cursor >= queue.items.length) {
          queue = state.queues[k] = ensureAvailable(queue, 1, () => shuffleArm(refill, c, k))
        }
        batch.push(queue.items[queue.cursor]!)
        queue.cursor++
      }
      return batch
    },
    observe: (state, c, groups) => {
      const inD = groups.filter((g) => c.bucketOf[g.index]! > 0 && c.bucketOf[g.index]! <= c.unlocked)
      const rewards = Sec.armRewards(inD, (index) => c.bucketOf[index]! - 1, c.unlocked)
      Sec.updateQ(state.q.subarray(0, c.unlocked), rewards, config.alpha, config.unsampledArms)
    },
    metrics: (state, c) => {
      const p = Sec.boltzmann(state.q.subarray(0, c.unlocked), config.temperature)
      const out: Record<string, number> = {}
      for (let k = 0; k < arms(c); k++) {
        out[`sec_q_b${k + 1}`] = state.q[k]!
        out[`sec_p_b${k + 1}`] = k < c.unlocked ? p[k]! : 0
      }
      return out
    }
  }
}

// ---------------------------------------------------------------------------
// curriculum
// ---------------------------------------------------------------------------

const stateSchema = (selector: Schema.Schema<any, any>) =>
  Schema.mutable(Schema.Struct({
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
    /** Step of the last merge or round start. */
    lastChange: Schema.Int,
    /** 1 for items left out of later rounds' pools (trained, or in an earlier D). */
    excluded: Columns.Uint8Column,
    refResets: Schema.Int,
    estimationRollouts: Schema.Int,
    selector
  }))

interface State {
  round: number
  order: Int32Array
  bounds: Int32Array
  unlocked: number
  newest: number
  cs: number
  buffer: Float64Array
  stepInStage: number
  roundEnd: number
  lastChange: number
  excluded: Uint8Array
  refResets: number
  estimationRollouts: number
  selector: unknown
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

/**
 * The AdaCuRL curriculum as a plugin (estimation at build time, buckets,
 * competence-driven expansion, reference-reset hooks, Re-AdaCuRL rounds).
 * Pair it with {@link step} (or {@link pipeline}) for the T_f reward schedule
 * and sparse KL, and with {@link loss} for β > 0.
 *
 * Metrics: `competence` (cs), `bucket` (merged buckets), `buffer_fill`
 * (|R_b|/M), `ref_resets`, `round`, `estimation_rollouts` (cumulative),
 * `dc_size` (|D_c|), `d_size` (|D|), plus the selector's.
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Options): Curriculum.Plugin<RuntimeError, InferenceRuntime | TrainerRuntime> => {
  const config = resolve(options)
  const selector = config.selector
  const name = selector?.name === "uniform" ? "adacurl" : `adacurl+${selector?.name}`
  const StateSchema = stateSchema(selector?.state ?? Schema.Unknown)
  const resetHook = (tag: string) =>
    Hook.onEvent(`adacurl-reset-reference-${tag}`, tag, () => Effect.flatMap(TrainerRuntime, (t) => t.resetReference))
  const hooks = config.resetReference ? [resetHook("BucketMerged"), resetHook("RoundStarted")] : []

  return Curriculum.plugin(
    name,
    (build) =>
      Effect.gen(function*() {
        const invalid = validate(config)
        if (invalid) return yield* invalid
        const inference = yield* InferenceRuntime
        const { dataset, seed } = build
        const n = dataset.problems.length
        const K = config.buckets
        const roundSteps = config.roundSteps ?? Math.max(1, Math.floor(build.steps / config.rounds))

        const estimate = (round: number, pool: ReadonlyArray<number>) =>
          Difficulty.estimate(pool.map((i) => dataset.problems[i]!), {
            verifier: config.verifier,
            seed,
            label: `adacurl-round-${round}`,
            sampling: config.estimationSampling,
            chunkSize: config.chunkSize,
            field: "adacurl",
            // Later rounds' bins are the policy's doing, not the user's: cap absolute quotas there [R].
            coarse: config.coarse === false ? false : round === 1 ? config.coarse : { ...config.coarse, overflow: "cap" },
            fine: round === 1 ? config.fine : { ...config.fine, keep: config.reestimate.keep }
          }).pipe(
            Effect.map((e) => ({ order: Int32Array.from(e.order, (j) => pool[j]!), rollouts: e.rollouts })),
            Effect.provideService(InferenceRuntime, inference)
          )

        let bucketOf: Int32Array = new Int32Array(n)
        const context = (state: State, step: number): SelectorContext => ({
          seed,
          step,
          order: state.order,
          bounds: state.bounds,
          unlocked: state.unlocked,
          bucketOf
        })

        /** Starts round `round` on D = `order` after `step` (0 = before training). */
        const startRound = (state: State, round: number, order: Int32Array, step: number) => {
          state.round = round
          state.order = order
          state.bounds = Difficulty.buckets(order.length, K)
          state.unlocked = mergeUpTo(state.bounds, 1)
          state.newest = state.unlocked
          state.cs = 0
          state.buffer = new Float64Array(0)
          state.stepInStage = 0
          state.lastChange = step
          state.roundEnd = round < config.rounds ? step + roundSteps : 0
          if (config.reestimate.exclude === "training-set") for (const i of order) state.excluded[i] = 1
          bucketOf = bucketIndex(n, state.order, state.bounds)
          state.selector = selector.init(context(state, step))
        }

        const state: State = {
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
          estimationRollouts: 0,
          selector: undefined
        }
        let ready = false
        if (!build.resuming) {
          const first = yield* estimate(1, Array.from({ length: n }, (_, i) => i))
          if (first.order.length < K) {
            return yield* new ConfigError({
              field: "adacurl.buckets",
              expected: `at most |D| = ${first.order.length}, the items left after the difficulty filter ` +
                `[${(config.fine.keep ?? Difficulty.fineDefaults.keep).join(", ")}]`,
              actual: String(K)
            })
          }
          state.estimationRollouts = first.rollouts
          startRound(state, 1, first.order, 0)
          ready = true
        }
        let current = state
        const encode = Schema.encodeSync(StateSchema)
        const decode = Checkpoint.stateDecoder(StateSchema, `curriculum "${name}"`)

        const merge = (s: State, step: number, forced: boolean, events: Array<Curriculum.CurriculumEvent>) => {
          const k = mergeUpTo(s.bounds, s.unlocked + 1)
          s.unlocked = k
          s.newest = k
          s.cs = (k - 1) / K
          s.buffer = new Float64Array(0)
          s.stepInStage = 0
          s.lastChange = step
          s.selector = selector.grow(s.selector, context(s, step))
          if (config.resetReference) s.refResets++
          events.push({ _tag: "BucketMerged", bucket: k, round: s.round, step, forced })
        }

        const observe = (s: State, observation: Curriculum.Observation) =>
          Effect.gen(function*() {
            const { groups, step } = observation
            const events: Array<Curriculum.CurriculumEvent> = []
            selector.observe(s.selector, context(s, step), groups)
            const fresh: Array<number> = []
            for (const g of groups) {
              if (config.reestimate.exclude === "trained") s.excluded[g.index] = 1
              if (bucketOf[g.index] === s.newest) {
                const acc = accuracies(g)
                for (let i = 0; i < acc.length; i++) fresh.push(acc[i]!)
              }
            }
            let buffer = new Float64Array(s.buffer.length + fresh.length)
            buffer.set(s.buffer)
            buffer.set(fresh, s.buffer.length)
            s.buffer = buffer
            while (s.buffer.length >= config.window) {
              let sum = 0
              for (let j = 0; j < config.window; j++) sum += s.buffer[j]!
              s.buffer = s.buffer.slice(config.window)
              s.cs = updateCompetence(s.cs, sum / config.window, config.gamma)
              if (shouldMerge(s.cs, s.unlocked + 1, K)) {
                merge(s, step, false, events)
                break
              }
            }
            s.stepInStage++
            if (
              config.maxStepsPerStage !== undefined && s.unlocked < K && s.stepInStage >= config.maxStepsPerStage
            ) merge(s, step, true, events)
            const roundOver = s.roundEnd > 0 &&
              (step >= s.roundEnd ||
                (config.stepsAfterLastMerge !== undefined && s.unlocked === K &&
                  step - s.lastChange >= config.stepsAfterLastMerge))
            if (roundOver) {
              const pool: Array<number> = []
              for (let i = 0; i < n; i++) if (s.excluded[i] === 0) pool.push(i)
              const next = yield* estimate(s.round + 1, pool).pipe(
                Effect.catchTag("ConfigError", (e) => Effect.die(e)) // options were validated at build
              )
              s.estimationRollouts += next.rollouts
              if (next.order.length === 0) {
                s.roundEnd = 0
                events.push({ _tag: "RoundSkipped", round: s.round + 1, step, reason: "no items left after the filter" })
              } else {
                startRound(s, s.round + 1, next.order, step)
                if (config.resetReference) s.refResets++
                events.push({ _tag: "RoundStarted", round: s.round, step, size: next.order.length })
              }
            }
            return events as ReadonlyArray<Curriculum.CurriculumEvent>
          })

        const notReady = () =>
          Effect.dieMessage("AdaCuRL was built for resuming (difficulty estimation skipped) but no checkpoint was restored")

        const curriculum: Curriculum.Curriculum = {
          name,
          select: (request) =>
            ready
              ? Effect.sync(() => selector.select(current.selector, context(current, request.step), request))
              : notReady(),
          observe: (observation) => (ready ? observe(current, observation) : notReady()),
          metrics: () => ({
            competence: current.cs,
            bucket: current.unlocked,
            buffer_fill: current.buffer.length / config.window,
            ref_resets: current.refResets,
            round: current.round,
            estimation_rollouts: current.estimationRollouts,
            dc_size: current.bounds[current.unlocked]!,
            d_size: current.order.length,
            ...(ready ? selector.metrics(current.selector, context(current, 0)) : {})
          }),
          snapshot: () => encode(current),
          restore: (encoded) =>
            Effect.flatMap(decode(encoded), (s) => {
                const restored = s as State
                const shapeOk = restored.bounds.length === K + 1 && restored.excluded.length === n &&
                  restored.order.every((i) => i >= 0 && i < n) && restored.bounds[K] === restored.order.length
                if (!shapeOk) {
                  return Effect.fail(
                    new CheckpointError({
                      path: `curriculum "${name}"`,
                      reason: `state does not fit this run (K = ${K}, ${n} problems): ` +
                        `${restored.bounds.length - 1} buckets, ${restored.excluded.length} problems`
                    })
                  )
                }
                return Effect.sync(() => {
                  current = restored
                  bucketOf = bucketIndex(n, current.order, current.bounds)
                  ready = true
                })
              })
        }
        return curriculum
      }),
    hooks
  )
}
