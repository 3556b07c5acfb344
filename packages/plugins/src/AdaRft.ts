/**
 * AdaRFT — adaptive curriculum for reinforcement fine-tuning (Shi et al.,
 * "Efficient Reinforcement Finetuning via Adaptive Curriculum Learning",
 * arXiv 2504.05520; code `limenlp/verl`, `verl/trainer/ppo/custom_sampler.py`;
 * spec `algorithms.md` §5.5): a sampler that serves the `B` problems whose
 * offline difficulty score is closest to a target `T`, and moves `T` with
 * the batch's mean reward:
 *
 * ```
 * batch = the B problems with smallest |d(x) − T|     (every step; seen problems are not excluded)
 * T ← clip(T + η · tanh(α · (R_avg − β)), dMin, dMax)  R_avg = mean sequence reward of the batch's responses
 * ```
 *
 * | option | default | source |
 * |---|---|---|
 * | `beta` β, target reward | 0.5 | [C] `ppo_trainer.yaml` |
 * | `alpha` α, sensitivity | 2 | [C] |
 * | `eta` η, step on the 0–100 scale | 50 | [C] |
 * | `dMin`, `dMax` | 0, 100 | [C] |
 * | `initialTarget` T₀ | 0 | [C] the code initialises `T = 0` |
 * | `scoreKey`: the metadata field with `d(x)` | `"difficulty"` | [R] the code reads the dataset's score column |
 * | `missingScore`: a problem without it | `"level"`: its level rescaled linearly onto [dMin, dMax] | [R] |
 * | `signal`: what `R_avg` averages | `"reward"` (sequence reward); `"accuracy"` for shaped rewards | [C] / [R] |
 *
 * Checked against the code (`limenlp/verl` @ fe9979a): `ray_trainer.py`
 * l.956–967 computes `T + η·tanh(α·(mean(token_level_rewards.sum(-1)) − β))`
 * clipped to `[d_min, d_max]` after the advantages, every step, with the
 * `ppo_trainer.yaml` defaults above and `T = 0` at the sampler's construction;
 * `custom_sampler.py` takes the `batch_size` smallest `|d − T|` by
 * `np.argsort`. The sequence reward includes a KL penalty only with
 * `use_kl_in_reward` (off by default). Where this follows the paper rather
 * than the code: the code's sampler feeds a `StatefulDataLoader` with 8
 * workers, which draws index batches ahead of training (PyTorch prefetches
 * `2 × num_workers` batches), so there a new `T` reaches the batches some 16
 * steps later; here the next batch uses it, as the paper's Algorithm 1 reads.
 *
 * Ties in `|d − T|`: numpy's argsort order is unspecified; here the problems
 * are ordered by `(d, index)` once at build and the batch grows outward from
 * `T`, taking the lower difficulty first on an equal distance [R]. When `T`
 * stalls the same problems repeat, as in the code.
 *
 * @see https://arxiv.org/abs/2504.05520
 * @since 0.2.0
 */
import * as Columns from "@zpd/core/Columns"
import { ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import * as Part from "@zpd/core/Part"
import type * as Problem from "@zpd/core/Problem"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, finiteAbove, oneOf, positive, validated } from "./internal/config.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  readonly beta: number
  readonly alpha: number
  readonly eta: number
  readonly dMin: number
  readonly dMax: number
  readonly initialTarget: number
  readonly scoreKey: string
  readonly missingScore: "level" | "error"
  /**
   * What `R_avg` averages: `"reward"` (default, the sequence reward, as the
   * code [C]) or `"accuracy"` (the verifier's correct flags, else the pass
   * rate: for pipelines whose reward adds shaping, e.g. AdaCuRL's format
   * reward, so that β = 0.5 keeps its meaning) [R].
   */
  readonly signal: "reward" | "accuracy"
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = {
  beta: 0.5,
  alpha: 2,
  eta: 50,
  dMin: 0,
  dMax: 100,
  initialTarget: 0,
  scoreKey: "difficulty",
  missingScore: "level",
  signal: "reward"
}

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    requireConfig(Number.isFinite(config.beta), "adarft.beta", "a finite number", config.beta),
    positive(config.alpha, "adarft.alpha"),
    positive(config.eta, "adarft.eta"),
    finiteAbove(config.dMax, config.dMin, "adarft.dMax", "dMin"),
    requireConfig(
      config.initialTarget >= config.dMin && config.initialTarget <= config.dMax,
      "adarft.initialTarget",
      `a number in [dMin, dMax] = [${config.dMin}, ${config.dMax}]`,
      config.initialTarget
    ),
    oneOf(config.missingScore, ["level", "error"], "adarft.missingScore"),
    oneOf(config.signal, ["reward", "accuracy"], "adarft.signal")
  )

/**
 * AdaRFT's target update: `clip(T + η · tanh(α · (R_avg − β)), dMin, dMax)`.
 *
 * @since 0.2.0
 * @category math
 */
export const nextTarget = (target: number, rewardMean: number, config: Config): number => {
  const tanh = 2 * Fmath.sigmoid(2 * config.alpha * (rewardMean - config.beta)) - 1
  return Math.min(config.dMax, Math.max(config.dMin, target + config.eta * tanh))
}

/**
 * The positions in `order` (ascending scores `d[order[k]]`) of the `count`
 * members closest to `target`, growing outward from it; on an equal distance
 * the lower score first. `member` (optional) marks the eligible problems.
 *
 * @since 0.2.0
 * @category math
 */
export const closest = (
  d: Float64Array,
  order: Int32Array,
  target: number,
  count: number,
  member?: Uint8Array
): Array<number> => {
  let lo = 0
  let hi = order.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (d[order[mid]!]! < target) lo = mid + 1
    else hi = mid
  }
  let right = lo
  let left = lo - 1
  const out: Array<number> = []
  const ok = (k: number) => member === undefined || member[order[k]!] === 1
  while (out.length < count && (left >= 0 || right < order.length)) {
    while (left >= 0 && !ok(left)) left--
    while (right < order.length && !ok(right)) right++
    if (left < 0 && right >= order.length) break
    const takeLeft = right >= order.length ||
      (left >= 0 && target - d[order[left]!]! <= d[order[right]!]! - target)
    if (takeLeft) out.push(order[left--]!)
    else out.push(order[right++]!)
  }
  return out
}

/** Each problem's score `d(x)`, or a ConfigError-worthy reason. */
const scores = (problems: ReadonlyArray<Problem.Problem>, config: Config): Float64Array | string => {
  let minLevel = Infinity
  let maxLevel = -Infinity
  for (const p of problems) {
    minLevel = Math.min(minLevel, p.level)
    maxLevel = Math.max(maxLevel, p.level)
  }
  const d = new Float64Array(problems.length)
  for (let i = 0; i < problems.length; i++) {
    const p = problems[i]!
    const v = p.metadata[config.scoreKey]
    if (typeof v === "number" && Number.isFinite(v)) d[i] = v
    else if (config.missingScore === "error") {
      return `problem "${p.id}" has no numeric metadata.${config.scoreKey}`
    } else {
      const t = maxLevel > minLevel ? (p.level - minLevel) / (maxLevel - minLevel) : 0.5
      d[i] = config.dMin + t * (config.dMax - config.dMin)
    }
  }
  return d
}

/**
 * @since 0.2.0
 * @category schemas
 */
export const State = Schema.mutable(Schema.Struct({ target: Schema.Number, rewardMean: Schema.Number }))

/**
 * AdaRFT's sampler (see the module docs). Metrics: `adarft_target` (T after
 * the update), `adarft_reward_mean` (R_avg).
 *
 * @since 0.2.0
 * @category parts
 */
export const sampler = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options }
  return Part.sampler({
    ...declared("adarft", State, validate(config)),
    build: ({ dataset }) => {
      const d = scores(dataset.problems, config)
      if (typeof d === "string") {
        return Effect.fail(
          new ConfigError({
            field: "adarft.scoreKey",
            expected: "a numeric score on every problem (or missingScore: \"level\")",
            actual: d
          })
        )
      }
      const order = Int32Array.from({ length: d.length }, (_, i) => i).sort((a, b) => d[a]! - d[b]! || a - b)
      const spec: Part.SamplerSpec<Schema.Schema.Type<typeof State>, undefined> = {
        initial: { target: config.initialTarget, rewardMean: 0 },
        select: ({ state }, pool, { batchSize }) => {
          const near = closest(d, order, state.target, batchSize, pool.full ? undefined : Part.members(pool, d.length))
          // a batch larger than the pool repeats the nearest problems in order
          for (let k = 0; near.length < batchSize && near.length > 0; k++) near.push(near[k]!)
          return near
        },
        observe: ({ state }, { groups }) => {
          let sum = 0
          let count = 0
          for (const g of groups) {
            if (config.signal === "reward") { for (let j = 0; j < g.rewards.length; j++) sum += g.rewards[j]! }
            else if (g.correct !== undefined) { for (let j = 0; j < g.correct.length; j++) sum += g.correct[j]! }
            else sum += g.passRate * g.rewards.length
            count += g.rewards.length
          }
          if (count === 0) return
          state.rewardMean = sum / count
          state.target = nextTarget(state.target, sum / count, config)
        },
        metrics: ({ state }) => ({ adarft_target: state.target, adarft_reward_mean: state.rewardMean }),
        stateBytes: () => Columns.byteSize([d, order])
      }
      return Effect.succeed(spec)
    }
  })
}

/**
 * The AdaRFT baseline: {@link sampler} over the whole dataset.
 *
 * @since 0.2.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) => sampler(options)
