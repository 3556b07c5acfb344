/**
 * PCL — Prompt Curriculum Learning (Gao et al., "Prompt Curriculum Learning
 * for Efficient LLM Post-Training", arXiv 2510.01135, ICLR 2026; spec
 * `algorithms.md` §4).
 *
 * Each step (spec §4.2):
 *
 * ```
 * 1. pool  = k·m prompts from a shuffled epoch loader            [R]
 * 2. v(x)  = V(x) for x in the pool                              (V lags one step: trained on π_{t−1})
 * 3. batch = the m prompts with the smallest |v(x) − τ|,  ties at random   [S][R]
 * 4–5. rollouts and the policy update (the pipeline's stages)
 * 6. V ← one step on Σ_i (V(x_i) − mean reward of x_i's rollouts)²  on the SAME rollouts
 * ```
 *
 * The value model is the `@zpd/core` {@link ValueModel} port: an explicit
 * `valueModel` option, else the `ValueModel` service from the context (a
 * runtime's value head), else the default `HashedValueModel.hashed` (no GPU).
 *
 * In the curriculum algebra PCL is a pre-filter ({@link prefilter}) over a
 * uniform sampler ({@link poolSampler}): the sampler proposes the pool, the
 * value model keeps the batch. Over another sampler (`pcl > sec`, `pcl > cdas`)
 * that sampler proposes the pool instead.
 * Untrained, the default predicts 0.5 everywhere, so the first step is a
 * uniformly random choice from the pool (cold start, spec §4.5).
 *
 * Metrics per step: `value_explained_variance` (explained variance of V's
 * pre-update predictions for the batch against the observed targets — the
 * paper's diagnostic), `value_loss` (their MSE), `value_pred_mean`,
 * `pcl_gap_mean` (mean |V − τ| of the batch) and `pcl_pool_size`. Timings
 * (`timings.jsonl`, not metrics): `value_predict_ms`, `value_update_ms` and
 * their sum `value_model_ms`.
 *
 * Every option, its default and its source tag is documented in
 * `packages/plugins/PCL.md`.
 *
 * @see https://arxiv.org/abs/2510.01135
 * @since 0.1.0
 */
import type * as Curriculum from "@zpd/core/Curriculum"
import { type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import type * as Rng from "@zpd/core/Rng"
import * as ValueModel from "@zpd/core/ValueModel"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Baselines from "./Baselines.ts"
import * as Hashed from "./HashedValueModel.ts"
import { oneOf, validated } from "./internal/config.ts"

// ---------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------

/**
 * PCL's options. Tags: [Seed] the Chinese seed article, [S] secondary sources
 * (paper note, reviews), [R] reconstruction (spec §4). See `PCL.md`.
 *
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Pool multiplier: the pool holds ⌈k·m⌉ prompts (capped at the dataset). A number ≥ 1; default 4 [Seed][S]. */
  readonly k: number
  /** τ, the target expected reward, in [0, 1]. Default 0.5, the paper's best [Seed][S]. */
  readonly tau: number
  /**
   * What V regresses on: `"passRate"` (default [R]), the fraction of a
   * prompt's rollouts judged correct, or `"meanReward"`, the mean of their
   * rewards — the paper's formula [S]. The two agree for binary rewards;
   * `passRate` keeps V a probability when the verifier adds format rewards.
   */
  readonly target: "passRate" | "meanReward"
  /**
   * How the pool is drawn (spec §6.6 leaves it open): `"epoch"` (default
   * [R]) walks a shuffled epoch without replacement, reshuffling when it runs
   * out, never repeating a prompt within one pool; `"independent"` draws ⌈k·m⌉
   * distinct prompts uniformly every step.
   */
  readonly pool: "epoch" | "independent"
  /**
   * The value model. Absent: the `ValueModel` service if the context has one,
   * else `HashedValueModel.hashed(hashed)`.
   */
  readonly valueModel?: ValueModel.ValueModel.Service
  /** Options of the default value model (ignored when another one is used). */
  readonly hashed: Partial<Hashed.HashedOptions>
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaults: Config = { k: 4, tau: 0.5, target: "passRate", pool: "epoch", hashed: {} }

/**
 * Checks every option; the error names the field, e.g. `pcl.k`.
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    requireConfig(
      Number.isFinite(config.k) && config.k >= 1,
      "pcl.k",
      "a number ≥ 1 (the pool holds k·m prompts)",
      config.k
    ),
    requireConfig(config.tau >= 0 && config.tau <= 1, "pcl.tau", "a number in [0, 1]", config.tau),
    oneOf(config.target, ["passRate", "meanReward"], "pcl.target"),
    oneOf(config.pool, ["epoch", "independent"], "pcl.pool"),
    config.valueModel === undefined
      ? Hashed.validateHashed({ ...Hashed.hashedDefaults, ...config.hashed }, "pcl.hashed")
      : undefined
  )

// ---------------------------------------------------------------------------
// selection
// ---------------------------------------------------------------------------

/**
 * Positions of the `m` values closest to `tau` (smallest `|v − τ|`), closest
 * first; ties broken by a uniform random key per position drawn from `rng`
 * (spec §4.2 step 3, §4.5). O(p log p) for a pool of p.
 *
 * @since 0.1.0
 * @category math
 */
export const closest = (values: ArrayLike<number>, tau: number, m: number, rng: Rng.Rng): Array<number> => {
  const p = values.length
  const gap = new Float64Array(p)
  const tie = new Float64Array(p)
  const order = new Array<number>(p)
  for (let i = 0; i < p; i++) {
    gap[i] = Math.abs(values[i]! - tau)
    tie[i] = rng.next()
    order[i] = i
  }
  order.sort((a, b) => gap[a]! - gap[b]! || tie[a]! - tie[b]! || a - b)
  return order.slice(0, Math.min(m, p))
}

// ---------------------------------------------------------------------------
// parts
// ---------------------------------------------------------------------------

/**
 * The pre-filter's derived, per-run data: the last pool and V's predictions
 * for it, the batch's pre-update predictions, the last metrics and timings.
 * The value model's own state is checkpointed beside the part's.
 *
 * @since 0.2.0
 * @category models
 */
export interface Derived {
  pool: { readonly indices: Int32Array; readonly values: Float64Array }
  readonly predicted: Map<number, number>
  last: Record<string, number>
  timings: Record<string, number>
  timingStep: number
  warned: boolean
}

const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6

const observeTargets = (groups: ReadonlyArray<Curriculum.GroupOutcome>, target: Config["target"]) =>
  Float64Array.from(groups, (g) => {
    if (target === "passRate") return g.passRate
    let s = 0
    for (const r of g.rewards) s += r
    return g.rewards.length === 0 ? 0 : s / g.rewards.length
  })

/**
 * PCL's value-model pre-filter: asks the sampler for a pool of ⌈k·m⌉
 * prompts, keeps the m whose V is closest to τ, and regresses V on their
 * observed targets. Fails the build for a batch size m larger than the
 * dataset (`batchSize`).
 *
 * @since 0.2.0
 * @category parts
 */
export const prefilter = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options }
  return Part.prefilter({
    name: "pcl",
    options: validate(config),
    state: Schema.Struct({}),
    derive: (): Derived => ({
      pool: { indices: new Int32Array(0), values: new Float64Array(0) },
      predicted: new Map(),
      last: {},
      timings: {},
      timingStep: Number.NaN,
      warned: false
    }),
    build: ({ batchSize, dataset }) =>
      Effect.gen(function*() {
        const n = dataset.problems.length
        const tooLarge = requireConfig(
          batchSize <= n,
          "batchSize",
          `at most the dataset size (${n}): PCL picks m = batchSize distinct prompts from a pool of ⌈k·m⌉ ≤ ${n}`,
          batchSize
        )
        if (tooLarge !== undefined) return yield* tooLarge
        const fromContext = yield* Effect.serviceOption(ValueModel.ValueModel)
        const valueModel = config.valueModel ?? Option.getOrElse(fromContext, () => Hashed.hashed(config.hashed))
        const problemsAt = (indices: ArrayLike<number>) => Array.from(indices, (i) => dataset.problems[i]!)
        const spec: Part.PrefilterSpec<{}, Derived> = {
          initial: {},
          widen: (count) => Math.min(n, Math.ceil(config.k * Math.min(count, n))),
          narrow: ({ derived }, proposals, request) =>
            Effect.gen(function*() {
              const m = Math.min(request.batchSize, n)
              const indices = Int32Array.from(proposals)
              const start = yield* Clock.currentTimeNanos
              const values = yield* Effect.orDie(valueModel.predict(problemsAt(indices)))
              // Several selections in one step (DAPO's generation rounds) add up.
              const previous = derived.timingStep === request.step ? derived.timings["value_predict_ms"] ?? 0 : 0
              derived.timings = { value_predict_ms: previous + ms(start, yield* Clock.currentTimeNanos) }
              derived.timingStep = request.step
              derived.pool = { indices, values }
              derived.predicted.clear()
              const chosen = closest(values, config.tau, m, request.rng)
              for (const p of chosen) derived.predicted.set(indices[p]!, values[p]!)
              if (request.batchSize > n && !derived.warned) {
                derived.warned = true
                yield* Effect.logWarning(
                  `pcl: batchSize ${request.batchSize} is larger than the dataset (${n} problems); selecting all of them`
                ).pipe(Effect.annotateLogs({ curriculum: "pcl", field: "batchSize" }))
              }
              return chosen.map((p) => indices[p]!)
            }),
          observe: ({ derived }, { groups, step }) =>
            Effect.gen(function*() {
              if (groups.length === 0) {
                derived.last = {}
                return
              }
              const problems = groups.map((g) => g.problem)
              const targets = observeTargets(groups, config.target)
              // V's pre-update predictions: from the selection when it made them, else one more forward pass.
              const start = yield* Clock.currentTimeNanos
              const before = groups.some((g) => !derived.predicted.has(g.index))
                ? yield* valueModel.predict(problems)
                : Float64Array.from(groups, (g) => derived.predicted.get(g.index)!)
              const update = yield* valueModel.update(problems, targets)
              const updateMs = ms(start, yield* Clock.currentTimeNanos)
              const predictMs = derived.timingStep === step ? derived.timings["value_predict_ms"] ?? 0 : 0
              derived.timings = {
                value_predict_ms: predictMs,
                value_update_ms: updateMs,
                value_model_ms: predictMs + updateMs
              }
              let mean = 0
              let gap = 0
              for (let i = 0; i < before.length; i++) {
                mean += before[i]!
                gap += Math.abs(before[i]! - config.tau)
              }
              derived.last = {
                value_explained_variance: Hashed.explainedVariance(before, targets),
                value_loss: update.loss,
                value_pred_mean: mean / before.length,
                pcl_gap_mean: gap / before.length,
                pcl_pool_size: derived.pool.indices.length
              }
            }),
          metrics: ({ derived }) => derived.last,
          timings: ({ derived }) => derived.timings,
          stateBytes: () => valueModel.stateBytes?.() ?? 0,
          external: { snapshot: () => valueModel.snapshot(), restore: (state) => valueModel.restore(state) }
        }
        return spec
      })
  })
}

/**
 * The uniform draw PCL's pool comes from: a shuffled epoch without
 * replacement, never repeating a prompt within one pool (`pool: "epoch"`), or
 * independent distinct draws (`pool: "independent"`).
 *
 * @since 0.2.0
 * @category parts
 */
export const poolSampler = (options: Partial<Config> = {}) => {
  const pool = options.pool ?? defaults.pool
  return Baselines.uniform({
    draw: pool,
    distinct: true,
    streams: { init: "pcl-epoch", refill: pool === "epoch" ? "pcl-refill" : "pcl-pool" }
  })
}

/**
 * The PCL curriculum: {@link prefilter} over {@link poolSampler}. Fails the
 * build with a `ConfigError` naming the field for bad options (`pcl.k` < 1,
 * `pcl.tau` outside [0, 1], …) and for a batch size m larger than the
 * dataset (`batchSize`: the pool cannot hold m distinct prompts).
 *
 * **Example**
 * ```ts
 * Pipeline.run(Pipeline.make("pcl", Stages.standard({ verifier })), Pcl.plugin({ k: 4, tau: 0.5 }), options)
 * // a runtime's value head instead of the default:
 * program.pipe(Effect.provideService(ValueModel.ValueModel, myValueHead))
 * ```
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) =>
  prefilter(options).pipe(Part.andThen(poolSampler(options)), Part.named("pcl"))
