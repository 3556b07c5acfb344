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
import { RuntimeError } from "@zpd/core/Errors"
import * as Pipeline from "@zpd/core/Pipeline"
import { InferenceRuntime } from "@zpd/core/Runtime"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { Group, ScoredGroup, StandardOptions, StepInput, Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"

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
    Effect.gen(function*() {
      const runtime = yield* InferenceRuntime
      const { batchSize, groupSize } = ctx.settings
      const perRound = options.genBatchSize ?? 3 * batchSize
      const maxRounds = options.maxRounds ?? 10
      const kept: Array<ScoredGroup> = []
      let generated = 0
      let round = 0
      while (kept.length < batchSize) {
        if (maxRounds > 0 && round >= maxRounds) {
          return yield* new RuntimeError({
            endpoint: "Dapo.dynamicSampling",
            reason: "Refused",
            description: `${maxRounds} generation rounds kept ${kept.length} of ${batchSize} prompts with ` +
              `non-zero reward variance; raise maxRounds (0 = unlimited) or genBatchSize`
          })
        }
        const indices = yield* Stages.selectIndices(ctx, perRound, round === 0 ? "select" : `select-round-${round}`)
        const scored = Stages.score(yield* Stages.generateGroups(runtime, ctx, indices, round), options.verifier, ctx.step)
        if (round === 0) Stages.recordRewardMetrics(ctx.metrics, scored)
        generated += scored.length
        for (const g of scored) if (g.rewards.length === 1 || !Advantage.isZeroVariance(g.rewards)) kept.push(g)
        round++
      }
      const scored = kept.slice(0, batchSize)
      const batch = scored.map((g) => g.index)
      Stages.recordBatchMetrics(ctx, batch)
      ctx.metrics.set("rollouts_generated", generated * groupSize)
      ctx.metrics.set("rollouts_discarded", (generated - scored.length) * groupSize)
      ctx.metrics.set("gen_rounds", round)
      return { batch, groups: scored as ReadonlyArray<Group>, scored }
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
  dynamicSampling(options).pipe(
    Stage.andThen(Stages.advantages(options.advantage)),
    Stage.andThen(Stages.klWeights(options.kl ?? "sparse")),
    Stage.andThen(Stages.policyUpdate),
    Stage.andThen(Stages.updateCurriculum)
  )

/**
 * `Pipeline.make(name, step(options))`.
 *
 * @since 0.2.0
 * @category stages
 */
export const pipeline = (options: DynamicSamplingOptions & Omit<StandardOptions, "verifier">, name = "dapo") =>
  Pipeline.make(name, step(options))
