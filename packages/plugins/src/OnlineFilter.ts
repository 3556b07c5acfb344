/**
 * Online difficulty filtering (Bae et al., "Online Difficulty Filtering for
 * Reasoning Oriented Reinforcement Learning", arXiv 2504.03380, EACL 2026;
 * spec `algorithms.md` §5.6): a post-filter stage. Roll out an oversampled
 * batch of prompts chosen by the curriculum, keep the groups whose pass rate
 * lies in the band `[pLow, pHigh]` ("balanced filtering"), and stack kept
 * groups over further rounds until the training batch is full. The paper
 * shows that the expected policy improvement is bounded below by the variance
 * of task-level success, which the band keeps away from 0.
 *
 * | option | default | source |
 * |---|---|---|
 * | `pLow`, `pHigh`: the band, inclusive | 0.2, 0.8 | [S] third-party notes; the paper's values are not verified |
 * | `genBatchSize`: prompts per round | 3 × batchSize | [R] DAPO's public scripts; the paper's oversampling is not given |
 * | `maxRounds`: rounds before failing (0 = unlimited) | 10 | [R] as DAPO |
 *
 * Like DAPO (its special case with the open band `(0, 1)`: use
 * `pLow = 1/G`, `pHigh = 1 − 1/G` for groups of `G`), it replaces
 * `selectBatch > rollout > reward`, so any curriculum can run under it, and
 * every rollout of every round is counted in `rollouts_generated`.
 *
 * @see https://arxiv.org/abs/2504.03380
 * @since 0.2.0
 */
import type { ConfigError, RuntimeError } from "@zpd/core/Errors"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { StandardOptions, StepInput, Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { intAtLeast, optionalInt, passRateBand, validated } from "./internal/config.ts"
import { refill, trainOn } from "./internal/refill.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** Lowest kept pass rate, inclusive. Default 0.2 [S]. */
  readonly pLow: number
  /** Highest kept pass rate, inclusive. Default 0.8 [S]. */
  readonly pHigh: number
  /** Prompts generated per round; `undefined` (default) = 3 × batchSize [R]. */
  readonly genBatchSize: number | undefined
  /** Give up after this many rounds; 0 = unlimited. Default 10 [R]. */
  readonly maxRounds: number
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = { pLow: 0.2, pHigh: 0.8, genBatchSize: undefined, maxRounds: 10 }

/**
 * Checks `0 ≤ pLow ≤ pHigh ≤ 1` and the round sizes.
 *
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    passRateBand(config, "onlineFilter"),
    optionalInt(config.genBatchSize, 1, "onlineFilter.genBatchSize"),
    intAtLeast(config.maxRounds, 0, "onlineFilter.maxRounds", " (0 = unlimited)")
  )

/**
 * Whether a group with pass rate `passRate` is kept: `pLow ≤ passRate ≤ pHigh`.
 *
 * @since 0.2.0
 * @category math
 */
export const keeps = (passRate: number, config: Pick<Config, "pLow" | "pHigh">): boolean =>
  passRate >= config.pLow && passRate <= config.pHigh

/**
 * Options of {@link band}: the {@link Config} fields (any omitted take the
 * defaults) and the verifier.
 *
 * @since 0.2.0
 * @category models
 */
export type Options = Partial<Config> & { readonly verifier: Verifier }

/**
 * The balanced-filtering stage (see the module docs). Invalid options fail
 * the step with their {@link ConfigError}; `maxRounds` rounds that do not
 * fill the batch fail it with a {@link RuntimeError} naming the budget.
 * Adds `batch`, `groups` and `scored` (kept groups only). Metrics:
 * `rollouts_generated`, `rollouts_discarded`, `gen_rounds`; the reward
 * metrics describe the first round.
 *
 * @since 0.2.0
 * @category stages
 */
export const band = (options: Options) => {
  const { verifier, ...rest } = options
  const checked = validate({ ...defaults, ...rest })
  return Stage.make("onlineFilter", (ctx: StepInput) =>
    Either.isLeft(checked)
      ? Effect.fail<ConfigError | RuntimeError>(checked.left)
      : refill(ctx, {
        verifier,
        perRound: checked.right.genBatchSize ?? 3 * ctx.settings.batchSize,
        maxRounds: checked.right.maxRounds,
        endpoint: "OnlineFilter.band",
        kept: `a pass rate in [${checked.right.pLow}, ${checked.right.pHigh}]`,
        keep: (g) => keeps(g.passRate, checked.right)
      }))
}

/**
 * The filtered step: {@link band}, then advantages, KL weights, the policy
 * update and the curriculum update.
 *
 * @since 0.2.0
 * @category stages
 */
export const step = (options: Options & Omit<StandardOptions, "verifier">) => trainOn(band(options), options)

/**
 * `Pipeline.make(name, step(options))`.
 *
 * @since 0.2.0
 * @category stages
 */
export const pipeline = (options: Options & Omit<StandardOptions, "verifier">, name = "online-filter") =>
  Pipeline.make(name, step(options))
