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
 * runtime's value head), else the default {@link ValueModel.hashed} (no GPU).
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
import * as Checkpoint from "@zpd/core/Checkpoint"
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError, type ConfigError, requireConfig, type RuntimeError } from "@zpd/core/Errors"
import type * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as ValueModel from "@zpd/core/ValueModel"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

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
   * else `ValueModel.hashed(hashed)`.
   */
  readonly valueModel?: ValueModel.ValueModel.Service
  /** Options of the default value model (ignored when another one is used). */
  readonly hashed: Partial<ValueModel.HashedOptions>
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
export const validate = (config: Config): ConfigError | undefined =>
  requireConfig(Number.isFinite(config.k) && config.k >= 1, "pcl.k", "a number ≥ 1 (the pool holds k·m prompts)", config.k) ??
    requireConfig(config.tau >= 0 && config.tau <= 1, "pcl.tau", "a number in [0, 1]", config.tau) ??
    requireConfig(
      config.target === "passRate" || config.target === "meanReward",
      "pcl.target",
      `"passRate" or "meanReward"`,
      config.target
    ) ??
    requireConfig(
      config.pool === "epoch" || config.pool === "independent",
      "pcl.pool",
      `"epoch" or "independent"`,
      config.pool
    ) ??
    (config.valueModel === undefined
      ? ValueModel.validateHashed({ ...ValueModel.hashedDefaults, ...config.hashed }, "pcl.hashed")
      : undefined)

// ---------------------------------------------------------------------------
// selection
// ---------------------------------------------------------------------------

/**
 * Positions of the `m` values closest to `tau` (smallest `|v − τ|`), closest
 * first; ties broken by a uniform random key per position drawn from `rng`
 * (spec §4.2 step 3, §4.5). O(p log p) for a pool of p.
 *
 * @since 0.1.0
 * @category selection
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
// state
// ---------------------------------------------------------------------------

/**
 * The checkpointed state: the epoch loader and the value model's own
 * snapshot.
 *
 * @since 0.1.0
 * @category models
 */
export const State = Schema.Struct({ queue: Columns.Queue, valueModel: Schema.Unknown })

/**
 * The PCL curriculum with accessors for tests, hybrids and the benchmark.
 *
 * @since 0.1.0
 * @category models
 */
export interface PclCurriculum extends Curriculum.Curriculum {
  readonly valueModel: ValueModel.ValueModel.Service
  /** The last pool drawn (dense indices) and V's predictions for it. */
  readonly lastPool: () => { readonly indices: Int32Array; readonly values: Float64Array }
  readonly stateBytes: () => number
  readonly timings: () => Readonly<Record<string, number>>
}

const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6

/**
 * Builds the PCL curriculum over `dataset` with value model `valueModel` (the
 * plugin's `build`, without the service lookup). `config` is not validated
 * here; see {@link validate}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  dataset: Problem.Dataset,
  seed: number,
  config: Config,
  valueModel: ValueModel.ValueModel.Service
): PclCurriculum => {
  const n = dataset.problems.length
  let queue: Columns.Queue = { items: Rng.make(seed, 0, "pcl-epoch").permutation(n), cursor: 0 }
  let pool: { indices: Int32Array; values: Float64Array } = { indices: new Int32Array(0), values: new Float64Array(0) }
  const predicted = new Map<number, number>()
  let last: Record<string, number> = {}
  let timings: Record<string, number> = {}
  let timingStep = Number.NaN
  let warned = false

  const drawPool = (size: number, step: number): Int32Array => {
    const out = new Int32Array(size)
    if (config.pool === "independent") {
      // Floyd's algorithm: `size` distinct indices, uniformly.
      const rng = Rng.make(seed, step, "pcl-pool")
      const chosen = new Set<number>()
      let k = 0
      for (let j = n - size; j < n; j++) {
        const r = rng.int(j + 1)
        const pick = chosen.has(r) ? j : r
        chosen.add(pick)
        out[k++] = pick
      }
      return out
    }
    const refill = Rng.make(seed, step, "pcl-refill")
    const inPool = new Set<number>()
    let k = 0
    while (k < size) {
      if (queue.cursor >= queue.items.length) queue = { items: refill.permutation(n), cursor: 0 }
      const i = queue.items[queue.cursor++]!
      if (!inPool.has(i)) {
        inPool.add(i)
        out[k++] = i
      }
    }
    return out
  }

  const problemsAt = (indices: ArrayLike<number>): Array<Problem.Problem> =>
    Array.from(indices as ArrayLike<number>, (i) => dataset.problems[i]!)

  const select = (request: Curriculum.SelectRequest): Effect.Effect<ReadonlyArray<number>> =>
    Effect.gen(function*() {
      const m = Math.min(request.batchSize, n)
      if (request.batchSize > n && !warned) {
        warned = true
        yield* Effect.logWarning(
          `pcl: batchSize ${request.batchSize} is larger than the dataset (${n} problems); selecting all of them`
        ).pipe(Effect.annotateLogs({ curriculum: "pcl", field: "batchSize" }))
      }
      const size = Math.min(n, Math.ceil(config.k * m))
      const indices = drawPool(size, request.step)
      const start = yield* Clock.currentTimeNanos
      const values = yield* Effect.orDie(valueModel.predict(problemsAt(indices)))
      // Several selections in one step (DAPO's generation rounds) add up.
      const previous = timingStep === request.step ? timings["value_predict_ms"] ?? 0 : 0
      timings = { value_predict_ms: previous + ms(start, yield* Clock.currentTimeNanos) }
      timingStep = request.step
      pool = { indices, values }
      predicted.clear()
      const chosen = closest(values, config.tau, m, request.rng)
      const batch = chosen.map((p) => indices[p]!)
      for (const p of chosen) predicted.set(indices[p]!, values[p]!)
      return batch
    })

  const observe = (observation: Curriculum.Observation): Effect.Effect<ReadonlyArray<Curriculum.CurriculumEvent>, RuntimeError> =>
    Effect.gen(function*() {
      const groups = observation.groups
      if (groups.length === 0) {
        last = {}
        return []
      }
      const problems = groups.map((g) => g.problem)
      const targets = Float64Array.from(groups, (g) => {
        if (config.target === "passRate") return g.passRate
        let s = 0
        for (const r of g.rewards) s += r
        return g.rewards.length === 0 ? 0 : s / g.rewards.length
      })
      // V's pre-update predictions: from the selection when it made them, else one more forward pass.
      const start = yield* Clock.currentTimeNanos
      const missing = groups.some((g) => !predicted.has(g.index))
      const before = missing
        ? yield* valueModel.predict(problems)
        : Float64Array.from(groups, (g) => predicted.get(g.index)!)
      const update = yield* valueModel.update(problems, targets)
      const updateMs = ms(start, yield* Clock.currentTimeNanos)
      const predictMs = timingStep === observation.step ? timings["value_predict_ms"] ?? 0 : 0
      timings = { value_predict_ms: predictMs, value_update_ms: updateMs, value_model_ms: predictMs + updateMs }
      let mean = 0
      let gap = 0
      for (let i = 0; i < before.length; i++) {
        mean += before[i]!
        gap += Math.abs(before[i]! - config.tau)
      }
      last = {
        value_explained_variance: ValueModel.explainedVariance(before, targets),
        value_loss: update.loss,
        value_pred_mean: mean / before.length,
        pcl_gap_mean: gap / before.length,
        pcl_pool_size: pool.indices.length
      }
      return []
    })

  const encode = Schema.encodeSync(State)
  const decode = Checkpoint.stateDecoder(State, `curriculum "pcl"`)
  const fail = (reason: string) => Effect.fail(new CheckpointError({ path: `curriculum "pcl"`, reason }))

  return {
    name: "pcl",
    select,
    observe,
    metrics: () => last,
    timings: () => timings,
    snapshot: () => encode({ queue, valueModel: valueModel.snapshot() }),
    restore: (encoded) =>
      Effect.flatMap(decode(encoded), (s) =>
          s.queue.items.length > 0 && s.queue.items.length !== n
            ? fail(`the epoch order holds ${s.queue.items.length} problems; the dataset has ${n}`)
            : Effect.zipRight(
              valueModel.restore(s.valueModel),
              Effect.sync(() => {
                queue = { items: s.queue.items, cursor: s.queue.cursor }
                predicted.clear()
                last = {}
              })
            )),
    stateBytes: () => queue.items.byteLength + (valueModel.stateBytes?.() ?? 0),
    valueModel,
    lastPool: () => pool
  }
}

// ---------------------------------------------------------------------------
// plugin
// ---------------------------------------------------------------------------

/**
 * The PCL curriculum as a plugin. Fails the build with a `ConfigError` naming
 * the field for bad options (`pcl.k` < 1, `pcl.tau` outside [0, 1], …) and for
 * a batch size m larger than the dataset (`batchSize`: the pool cannot hold m
 * distinct prompts).
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
export const plugin = (options: Partial<Config> = {}): Curriculum.Plugin => {
  const config: Config = { ...defaults, ...options }
  return {
    name: "pcl",
    identity: Curriculum.canonicalJson({ curriculum: "pcl", options: config }),
    hooks: [],
    build: ({ batchSize, dataset, seed }) =>
      Effect.gen(function*() {
        const invalid = validate(config) ??
          requireConfig(
            batchSize <= dataset.problems.length,
            "batchSize",
            `at most the dataset size (${dataset.problems.length}): PCL picks m = batchSize distinct prompts from a pool of ⌈k·m⌉ ≤ ${dataset.problems.length}`,
            batchSize
          )
        if (invalid !== undefined) return yield* invalid
        const fromContext = yield* Effect.serviceOption(ValueModel.ValueModel)
        const valueModel = config.valueModel ??
          Option.getOrElse(fromContext, () => ValueModel.hashed(config.hashed))
        return make(dataset, seed, config, valueModel) as Curriculum.Curriculum
      })
  }
}
