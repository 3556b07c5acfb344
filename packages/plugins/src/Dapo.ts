/**
 * DAPO's dynamic sampling (Yu et al., "DAPO: An Open-Source LLM
 * Reinforcement Learning System at Scale", arXiv 2503.14476; spec
 * `algorithms.md` §5.3): a post-filter stage that drops zero-variance groups
 * and regenerates until the batch is full. It replaces
 * `selectBatch > rollout > reward` in the step, so any curriculum can run
 * under it.
 *
 * @see https://arxiv.org/abs/2503.14476
 * @since 0.2.0
 */
import * as Advantage from "@zpd/core/Advantage"
import type { RuntimeError } from "@zpd/core/Errors"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { StandardOptions, StepInput, Verifier } from "@zpd/core/Stages"
import { refill, trainOn } from "./internal/refill.ts"

/**
 * Options of {@link dynamicSampling}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DynamicSamplingOptions {
  readonly verifier: Verifier
  /** Prompts generated per round; default 3 × batchSize (public DAPO scripts) [C]. */
  readonly genBatchSize?: number
  /** Give up after this many rounds; 0 = unlimited. Default 10 (public scripts use 6–15) [C]. */
  readonly maxRounds?: number
}

/**
 * DAPO dynamic sampling (spec §5.3): generate
 * rounds of `genBatchSize` prompts chosen by the curriculum, drop groups whose
 * rewards have zero variance (single-response groups are kept), accumulate
 * kept groups until `batchSize` prompts, and truncate to exactly `batchSize`.
 * Fails with a {@link RuntimeError} naming the round budget when `maxRounds`
 * rounds do not fill the batch. Replaces `selectBatch > rollout > reward`:
 * adds `batch`, `groups` and `scored` (kept groups only). Metrics:
 * `rollouts_generated`, `rollouts_discarded`, `gen_rounds`; the reward metrics
 * (`frac_reward_zero_std`, …) describe the first round, i.e. what the
 * curriculum alone would have trained on.
 *
 * @since 0.1.0
 * @category stages
 */
export const dynamicSampling = (options: DynamicSamplingOptions) =>
  Stage.make("dynamicSampling", (ctx: StepInput) =>
    refill(ctx, {
      verifier: options.verifier,
      perRound: options.genBatchSize ?? 3 * ctx.settings.batchSize,
      maxRounds: options.maxRounds ?? 10,
      endpoint: "Dapo.dynamicSampling",
      kept: "non-zero reward variance",
      keep: (g) => g.rewards.length === 1 || !Advantage.isZeroVariance(g.rewards)
    }))

/**
 * The DAPO step: {@link dynamicSampling} (which selects, generates and
 * filters), then advantages, KL weights, the policy update and the curriculum
 * update.
 *
 * @since 0.1.0
 * @category stages
 */
export const step = (options: DynamicSamplingOptions & Omit<StandardOptions, "verifier">) =>
  trainOn(dynamicSampling(options), options)

/**
 * `Pipeline.make(name, step(options))`.
 *
 * @since 0.2.0
 * @category stages
 */
export const pipeline = (options: DynamicSamplingOptions & Omit<StandardOptions, "verifier">, name = "dapo") =>
  Pipeline.make(name, step(options))
