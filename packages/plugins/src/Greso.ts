/**
 * GRESO — pre-rollout selective skipping (Zheng et al., "Act Only When It
 * Pays: Efficient Reinforcement Learning for LLM Reasoning via Selective
 * Rollouts", arXiv 2506.02177; code `Infini-AI-Lab/GRESO` @ b277843,
 * `verl/trainer/ttis/presampling_selector.py` and
 * `verl/trainer/ppo/ray_trainer.py`; spec `algorithms.md` §5.7): a
 * pre-filter that skips, before any rollout, the prompts whose reward history
 * predicts a zero-variance group (all correct or none correct).
 *
 * ```
 * z_e(x) = how many of x's most recent groups in a row had mean reward ≥ 0.98   (easy streak)
 * z_h(x) = how many of x's most recent groups in a row had mean reward ≤ 0.11   (hard streak)
 * skip x with prob 1 − max(p_easy^z_e, 0.01)   (easy test first), else
 * skip x with prob 1 − max(p_hard^z_h, 0.01)   (a prompt never rolled out: z = 0, never skipped)
 * after each step from the second epoch on, over the step's groups:
 *   p_easy ← clamp(p_easy ∓ 0.01, 0.05, 0.95)   − when the all-correct ratio ≥ target/3, else +
 *   p_hard ← clamp(p_hard ∓ 0.01, 0.05, 0.95)   − when the none-correct ratio ≥ 2·target/3, else +
 * ```
 *
 * | option | default | source |
 * |---|---|---|
 * | `pEasy`, `pHard`: initial exploration probabilities | 0.5, 0.5 | [C] `math_qwen_1_5b_dm_greso.sh` |
 * | `targetZeroVariance`: target; easy gets 1/3, hard 2/3 of it | 0.25 | [C] `ray_trainer.py` |
 * | `pStep`, `pMin`, `pMax`: the adaptation step and clamp | 0.01, 0.05, 0.95 | [C] |
 * | `minKeep`: floor of the keep probability | 0.01 | [C] `presampling_selector.py` |
 * | `easyAbove`, `hardBelow`: streak thresholds on a group's mean | 0.98, 0.11 | [C] |
 * | `adaptFromEpoch`: first (0-based) epoch whose steps adapt p | 1 | [C] `epoch > 0` |
 * | `signal`: the per-group mean the streaks read | `"reward"` | [C] mean reward; `"accuracy"` (pass rate) [R] |
 * | `oversample`: proposals asked of the sampler per batch slot | 4 | [R] |
 *
 * Where this differs from the code, and why:
 * - The code loads dataloader batches until enough prompts survive; a
 *   pre-filter asks its sampler for a fixed `oversample · B` proposals,
 *   walks them in order and keeps the first `B` survivors. When fewer
 *   survive, the batch is filled with skipped proposals in the order they
 *   were examined (metric `greso_forced`) [R]. Proposals past the `B`-th
 *   survivor are not examined and not served; a sampler that walks an epoch
 *   queue (uniform) has moved past them [R].
 * - The code's ratios count groups whose rewards are all 1 (easy) and all 0.1
 *   (format-only, hard); its reward has levels 1 / 0.1 / 0. Here both the
 *   streaks and the ratios use the thresholds on the group's mean, so a
 *   reward without a format bonus (0/1) works the same way [R].
 * - One uniform draw per examined proposal that has a streak (the code draws
 *   `torch.rand` for every easy test, even at probability 0) [R].
 * - Streaks are kept per problem as bytes (saturating at 255: exact while
 *   `pMax^255 ≤ minKeep`, which validation requires) instead of the full
 *   reward trace; the probabilistic rule reads nothing else of the trace.
 * - Epochs count the proposals examined over the dataset size (the code's
 *   dataloader passes) [R].
 * - The code also trains with DAPO's zero-variance filter and an adaptive
 *   rollout batch size; those are not this part. Under a post-filter stage
 *   (DAPO, online filtering) the curriculum observes only the kept groups,
 *   so GRESO's streaks would never see a zero-variance group: run it on the
 *   standard step.
 *
 * @see https://arxiv.org/abs/2506.02177
 * @since 0.2.0
 */
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import type * as Rng from "@zpd/core/Rng"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, finiteAbove, inRange, intAtLeast, oneOf, positive, validated } from "./internal/config.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** Initial easy exploration probability, in [pMin, pMax]. Default 0.5 [C]. */
  readonly pEasy: number
  /** Initial hard exploration probability, in [pMin, pMax]. Default 0.5 [C]. */
  readonly pHard: number
  /** Target zero-variance ratio: easy target is a third, hard two thirds. Default 0.25 [C]. */
  readonly targetZeroVariance: number
  /** The adaptation step of p per training step. Default 0.01 [C]. */
  readonly pStep: number
  /** Lowest p. Default 0.05 [C]. */
  readonly pMin: number
  /** Highest p. Default 0.95 [C]. */
  readonly pMax: number
  /** Floor of the keep probability `max(p^z, minKeep)`. Default 0.01 [C]. */
  readonly minKeep: number
  /** A group whose mean is ≥ this extends the easy streak. Default 0.98 [C]. */
  readonly easyAbove: number
  /** A group whose mean is ≤ this extends the hard streak. Default 0.11 [C]. */
  readonly hardBelow: number
  /** The first 0-based epoch whose steps adapt p. Default 1 [C]. */
  readonly adaptFromEpoch: number
  /** The group mean the streaks read: `"reward"` (default, [C]) or `"accuracy"` (pass rate) [R]. */
  readonly signal: "reward" | "accuracy"
  /** Proposals asked of the sampler per batch slot, ≥ 1. Default 4 [R]. */
  readonly oversample: number
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = {
  pEasy: 0.5,
  pHard: 0.5,
  targetZeroVariance: 0.25,
  pStep: 0.01,
  pMin: 0.05,
  pMax: 0.95,
  minKeep: 0.01,
  easyAbove: 0.98,
  hardBelow: 0.11,
  adaptFromEpoch: 1,
  signal: "reward",
  oversample: 4
}

/** Streaks are bytes. */
const maxStreak = 255

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (c: Config): Either.Either<Config, ConfigError> =>
  validated(
    c,
    requireConfig(c.pMin > 0 && c.pMin <= c.pMax, "greso.pMin", `a number in (0, pMax = ${c.pMax}]`, c.pMin),
    requireConfig(
      c.pMax < 1 && c.pMax ** maxStreak <= c.minKeep,
      "greso.pMax",
      `a number < 1 with pMax^${maxStreak} ≤ minKeep (streaks saturate at ${maxStreak})`,
      c.pMax
    ),
    inRange(c.pEasy, c.pMin, c.pMax, "greso.pEasy", `a number in [pMin, pMax] = [${c.pMin}, ${c.pMax}]`),
    inRange(c.pHard, c.pMin, c.pMax, "greso.pHard", `a number in [pMin, pMax] = [${c.pMin}, ${c.pMax}]`),
    inRange(c.targetZeroVariance, 0, 1, "greso.targetZeroVariance"),
    positive(c.pStep, "greso.pStep"),
    requireConfig(c.minKeep > 0 && c.minKeep <= 1, "greso.minKeep", "a number in (0, 1]", c.minKeep),
    finiteAbove(c.easyAbove, c.hardBelow, "greso.easyAbove", "hardBelow"),
    intAtLeast(c.adaptFromEpoch, 0, "greso.adaptFromEpoch"),
    oneOf(c.signal, ["reward", "accuracy"], "greso.signal"),
    requireConfig(Number.isFinite(c.oversample) && c.oversample >= 1, "greso.oversample", "a number ≥ 1", c.oversample)
  )

/**
 * `p^z` for an integer `z ≥ 0` by repeated squaring (exact IEEE products,
 * the same on every runtime).
 *
 * @since 0.2.0
 * @category math
 */
export const powInt = (p: number, z: number): number => {
  let out = 1
  let base = p
  for (let e = z; e > 0; e >>= 1) {
    if (e & 1) out *= base
    base *= base
  }
  return out
}

/**
 * GRESO's skip probability of a prompt with streak `z`: `1 − max(p^z, minKeep)`
 * (0 for `z = 0`).
 *
 * @since 0.2.0
 * @category math
 */
export const skipProbability = (p: number, streak: number, minKeep: number): number =>
  1 - Math.max(powInt(p, streak), minKeep)

/**
 * A streak after a group with mean `m`: one longer when `m` passes the test,
 * else 0; saturating at 255.
 *
 * @since 0.2.0
 * @category math
 */
export const extendStreak = (streak: number, passes: boolean): number => passes ? Math.min(maxStreak, streak + 1) : 0

/**
 * The exploration update of one step: `p − step` when the observed ratio
 * reached its target (skip more), else `p + step`; clamped to `[pMin, pMax]`.
 *
 * @since 0.2.0
 * @category math
 */
export const adapt = (p: number, ratio: number, target: number, config: Config): number =>
  ratio >= target ? Math.max(p - config.pStep, config.pMin) : Math.min(p + config.pStep, config.pMax)

/**
 * A group's mean: its reward (`signal: "reward"`) or its pass rate.
 *
 * @since 0.2.0
 * @category math
 */
export const groupMean = (group: Curriculum.GroupOutcome, signal: Config["signal"]): number => {
  if (signal === "accuracy" || group.rewards.length === 0) return group.passRate
  let sum = 0
  for (let j = 0; j < group.rewards.length; j++) sum += group.rewards[j]!
  return sum / group.rewards.length
}

/**
 * @since 0.2.0
 * @category schemas
 */
export const State = Schema.mutable(Schema.Struct({
  /** Easy streak z_e per problem. */
  easy: Columns.Uint8Column,
  /** Hard streak z_h per problem. */
  hard: Columns.Uint8Column,
  pEasy: Schema.Number,
  pHard: Schema.Number,
  /** Proposals examined so far (epochs = examined / |dataset|). */
  examined: Schema.Number,
  /** The 0-based epoch of the last batch's first examined proposal. */
  epoch: Schema.Int,
  /** The last step's counts: skipped as easy, as hard, and skipped but served to fill the batch. */
  skippedEasy: Schema.Int,
  skippedHard: Schema.Int,
  forced: Schema.Int
}))

/**
 * @since 0.2.0
 * @category models
 */
export type State = Schema.Schema.Type<typeof State>

/**
 * Keeps `count` of `proposals` (see the module docs), updating the step's
 * counters in `state`; one `rng` draw per examined proposal with a streak.
 *
 * @since 0.2.0
 * @category math
 */
export const narrow = (
  state: State,
  proposals: ReadonlyArray<number>,
  count: number,
  rng: Rng.Rng,
  config: Config
): Array<number> => {
  const kept: Array<number> = []
  const skipped: Array<number> = []
  let easy = 0
  let hard = 0
  let examined = 0
  for (const i of proposals) {
    if (kept.length === count) break
    examined++
    const ze = state.easy[i]!
    const zh = state.hard[i]!
    if (ze > 0 && rng.next() < skipProbability(state.pEasy, ze, config.minKeep)) easy++
    else if (zh > 0 && rng.next() < skipProbability(state.pHard, zh, config.minKeep)) hard++
    else {
      kept.push(i)
      continue
    }
    skipped.push(i)
  }
  const forced = Math.min(count - kept.length, skipped.length)
  for (let k = 0; k < forced; k++) kept.push(skipped[k]!)
  state.epoch = Math.floor(state.examined / state.easy.length)
  state.examined += examined
  state.skippedEasy = easy
  state.skippedHard = hard
  state.forced = forced
  return kept
}

/**
 * Extends every observed problem's streaks and, from `adaptFromEpoch` on,
 * adapts `pEasy` and `pHard` to the step's all-correct and none-correct ratios.
 *
 * @since 0.2.0
 * @category math
 */
export const observe = (state: State, groups: ReadonlyArray<Curriculum.GroupOutcome>, config: Config): void => {
  let easy = 0
  let hard = 0
  for (const g of groups) {
    const m = groupMean(g, config.signal)
    const isEasy = m >= config.easyAbove
    const isHard = m <= config.hardBelow
    state.easy[g.index] = extendStreak(state.easy[g.index]!, isEasy)
    state.hard[g.index] = extendStreak(state.hard[g.index]!, isHard)
    if (isEasy) easy++
    if (isHard) hard++
  }
  if (groups.length === 0 || state.epoch < config.adaptFromEpoch) return
  state.pHard = adapt(state.pHard, hard / groups.length, (config.targetZeroVariance * 2) / 3, config)
  state.pEasy = adapt(state.pEasy, easy / groups.length, config.targetZeroVariance / 3, config)
}

/**
 * GRESO's skipping as a pre-filter: put it before any sampler
 * (`Greso.prefilter().pipe(Part.andThen(Sec.sampler()))`). Metrics:
 * `greso_p_easy`, `greso_p_hard`, `greso_epoch`, and the last batch's
 * `greso_skipped_easy`, `greso_skipped_hard`, `greso_forced`.
 *
 * @since 0.2.0
 * @category parts
 */
export const prefilter = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options }
  return Part.prefilter({
    ...declared("greso", State, validate(config)),
    build: ({ dataset }) => {
      const n = dataset.problems.length
      const spec: Part.PrefilterSpec<State, undefined> = {
        initial: {
          easy: new Uint8Array(n),
          hard: new Uint8Array(n),
          pEasy: config.pEasy,
          pHard: config.pHard,
          examined: 0,
          epoch: 0,
          skippedEasy: 0,
          skippedHard: 0,
          forced: 0
        },
        check: ({ easy }) => easy.length === n ? undefined : `it tracks ${easy.length} problems; the dataset has ${n}`,
        widen: (count) => Math.ceil(config.oversample * count),
        narrow: ({ state }, proposals, { batchSize, rng }) => narrow(state, proposals, batchSize, rng, config),
        observe: ({ state }, { groups }) => observe(state, groups, config),
        metrics: ({ state }) => ({
          greso_p_easy: state.pEasy,
          greso_p_hard: state.pHard,
          greso_epoch: state.epoch,
          greso_skipped_easy: state.skippedEasy,
          greso_skipped_hard: state.skippedHard,
          greso_forced: state.forced
        })
      }
      return spec
    }
  })
}
