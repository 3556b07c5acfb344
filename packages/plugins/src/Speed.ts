/**
 * SPEED — selective prompting with efficient estimation of difficulty (Zhang,
 * Arora, Mei, Zanette, "SPEED-RL: Faster Training of Reasoning Models via
 * Online Curriculum Learning", arXiv 2506.09016; spec `algorithms.md` §5.8):
 * screen each candidate prompt with a few rollouts first, and finish the
 * group only for the prompts that qualify.
 *
 * ```
 * repeat until B prompts qualify:
 *   the curriculum proposes genBatchSize prompts; each gets N_init rollouts (screening)
 *   qualified: 0 < screening pass rate < 1
 *   each qualified prompt still needed gets G − N_init more rollouts (continuation)
 * train on the B qualified groups of G = N_init + (G − N_init) rollouts (screening kept)
 * ```
 *
 * | option | default | source |
 * |---|---|---|
 * | `screen` N_init: screening rollouts per prompt | 4 | [S/R] the authors' run names `N4+20` |
 * | continuation `N_cont` | `G − screen` | [R] so the trained group has the run's G, as every contender |
 * | `genBatchSize`: prompts screened per round | 2 × batchSize | [R] not given |
 * | `maxRounds`: rounds before failing (0 = unlimited) | 10 | [R] as DAPO |
 *
 * Why a post-filter stage: screening needs rollouts, which no gate, pre-filter
 * or sampler may make (they act before any rollout). SPEED therefore replaces
 * `selectBatch > rollout > reward` like DAPO's dynamic sampling and shares its
 * refill loop, with the screening rollouts as a round's first request and the
 * continuation as a second one; any curriculum proposes the prompts
 * (`cdas > speed`). Costs are charged in full: `rollouts_generated` counts
 * every screening and continuation rollout, `rollouts_discarded` the
 * screening rollouts of prompts that did not qualify or were not needed.
 *
 * Not reproduced: the paper pipelines the next prompts' screening into the
 * same inference call as the current continuation and keeps a buffer of
 * qualified prompts across steps; here a step screens and continues in its
 * own rounds and qualified prompts beyond B are dropped (a buffer would train
 * on screenings made under an older policy, the off-policy issue PCL reports)
 * [R]. The reward metrics describe the first round's screening groups (size
 * N_init), the curriculum's proposals before filtering.
 *
 * @see https://arxiv.org/abs/2506.09016
 * @since 0.2.0
 */
import { ConfigError, type RuntimeError } from "@zpd/core/Errors"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Stage from "@zpd/core/Stage"
import type { StandardOptions, StepInput, Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { intAtLeast, optionalInt, validated } from "./internal/config.ts"
import { refill, trainOn } from "./internal/refill.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** N_init: screening rollouts per prompt, in [1, G − 1]. Default 4 [S/R]. */
  readonly screen: number
  /** Prompts screened per round; `undefined` (default) = 2 × batchSize [R]. */
  readonly genBatchSize: number | undefined
  /** Give up after this many rounds; 0 = unlimited. Default 10 [R]. */
  readonly maxRounds: number
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = { screen: 4, genBatchSize: undefined, maxRounds: 10 }

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    intAtLeast(config.screen, 1, "speed.screen"),
    optionalInt(config.genBatchSize, 1, "speed.genBatchSize"),
    intAtLeast(config.maxRounds, 0, "speed.maxRounds", " (0 = unlimited)")
  )

/**
 * Whether a screened prompt qualifies: `0 < passRate < 1`.
 *
 * @since 0.2.0
 * @category math
 */
export const qualifies = (passRate: number): boolean => passRate > 0 && passRate < 1

/**
 * Options of {@link screening}: the {@link Config} fields (any omitted take
 * the defaults) and the verifier.
 *
 * @since 0.2.0
 * @category models
 */
export type Options = Partial<Config> & { readonly verifier: Verifier }

/**
 * The screening stage (see the module docs). Invalid options, or a `screen`
 * not below the group size, fail the step with a {@link ConfigError};
 * `maxRounds` rounds that do not fill the batch fail it with a
 * {@link RuntimeError}. Adds `batch`, `groups` and `scored` (the qualified
 * groups, G rollouts each). Metrics: `rollouts_generated`,
 * `rollouts_discarded`, `gen_rounds`.
 *
 * @since 0.2.0
 * @category stages
 */
export const screening = (options: Options) => {
  const { verifier, ...rest } = options
  const checked = validate({ ...defaults, ...rest })
  return Stage.make("speed", (ctx: StepInput) => {
    if (Either.isLeft(checked)) return Effect.fail<ConfigError | RuntimeError>(checked.left)
    const config = checked.right
    if (config.screen >= ctx.settings.groupSize) {
      return Effect.fail<ConfigError | RuntimeError>(
        new ConfigError({
          field: "speed.screen",
          expected: `fewer screening rollouts than the group size G = ${ctx.settings.groupSize}`,
          actual: String(config.screen)
        })
      )
    }
    return refill(ctx, {
      verifier,
      perRound: config.genBatchSize ?? 2 * ctx.settings.batchSize,
      maxRounds: config.maxRounds,
      endpoint: "Speed.screening",
      kept: `a screening pass rate strictly between 0 and 1 (of ${config.screen})`,
      keep: (g) => qualifies(g.passRate),
      screen: config.screen
    })
  })
}

/**
 * The SPEED step: {@link screening}, then advantages, KL weights, the policy
 * update and the curriculum update.
 *
 * @since 0.2.0
 * @category stages
 */
export const step = (options: Options & Omit<StandardOptions, "verifier">) => trainOn(screening(options), options)

/**
 * `Pipeline.make(name, step(options))`.
 *
 * @since 0.2.0
 * @category stages
 */
export const pipeline = (options: Options & Omit<StandardOptions, "verifier">, name = "speed") =>
  Pipeline.make(name, step(options))
