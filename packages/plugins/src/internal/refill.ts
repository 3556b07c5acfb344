/**
 * The generate-filter-refill loop shared by the post-filters (DAPO's dynamic
 * sampling, online difficulty filtering): rounds of `perRound` prompts chosen
 * by the curriculum, each rolled out and scored, keeping the groups `keep`
 * accepts until `batchSize` are kept, then truncating to exactly `batchSize`.
 * Every generated rollout is counted in `rollouts_generated`; the dropped ones
 * (filtered out or truncated) in `rollouts_discarded`.
 *
 * With `screen` (SPEED), a round first generates `screen` rollouts per prompt,
 * `keep` judges those, and only the prompts still needed get the remaining
 * `G − screen` rollouts (their own request and seed stream); the trained group
 * is the screening rollouts followed by the continuation, re-scored.
 *
 * @internal
 */
import { RuntimeError } from "@zpd/core/Errors"
import { InferenceRuntime } from "@zpd/core/Runtime"
import * as Stage from "@zpd/core/Stage"
import * as Stages from "@zpd/core/Stages"
import type { Group, ScoredGroup, StandardOptions, StepInput, Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"

/** @internal */
export interface RefillOptions {
  readonly verifier: Verifier
  /** Prompts per round (already defaulted). */
  readonly perRound: number
  /** Rounds before giving up; 0 = unlimited. */
  readonly maxRounds: number
  /** The stage, for the error's endpoint. */
  readonly endpoint: string
  /** What a kept group is, for the error ("non-zero reward variance"). */
  readonly kept: string
  readonly keep: (group: ScoredGroup) => boolean
  /** Rollouts per prompt before `keep` judges it (SPEED's screening); default: the whole group. */
  readonly screen?: number
}

/** @internal */
export const refill = (ctx: StepInput, options: RefillOptions) =>
  Effect.gen(function*() {
    const runtime = yield* InferenceRuntime
    const { batchSize, groupSize } = ctx.settings
    const first = options.screen ?? groupSize
    const screening = { ...ctx, settings: { ...ctx.settings, groupSize: first } }
    const continuation = { ...ctx, settings: { ...ctx.settings, groupSize: groupSize - first } }
    const kept: Array<ScoredGroup> = []
    let generated = 0
    let round = 0
    while (kept.length < batchSize) {
      if (options.maxRounds > 0 && round >= options.maxRounds) {
        return yield* new RuntimeError({
          endpoint: options.endpoint,
          reason: "Refused",
          description: `${options.maxRounds} generation rounds kept ${kept.length} of ${batchSize} prompts with ` +
            `${options.kept}; raise maxRounds (0 = unlimited) or genBatchSize`
        })
      }
      const indices = yield* Stages.selectIndices(
        ctx,
        options.perRound,
        round === 0 ? "select" : `select-round-${round}`
      )
      const scored = Stages.score(
        yield* Stages.generateGroups(runtime, screening, indices, round),
        options.verifier,
        ctx.step
      )
      if (round === 0) Stages.recordRewardMetrics(ctx.metrics, scored)
      generated += scored.length * first
      const accepted = scored.filter(options.keep).slice(0, batchSize - kept.length)
      if (first < groupSize && accepted.length > 0) {
        const rest = yield* Stages.generateGroups(runtime, continuation, accepted.map((g) => g.index), `${round}-cont`)
        generated += accepted.length * (groupSize - first)
        const whole = accepted.map((g, k) => ({ ...g, completions: [...g.completions, ...rest[k]!.completions] }))
        kept.push(...Stages.score(whole, options.verifier, ctx.step))
      } else kept.push(...accepted)
      round++
    }
    const scored = kept
    const batch = scored.map((g) => g.index)
    Stages.recordBatchMetrics(ctx, batch)
    ctx.metrics.set("rollouts_generated", generated)
    ctx.metrics.set("rollouts_discarded", generated - scored.length * groupSize)
    ctx.metrics.set("gen_rounds", round)
    return { batch, groups: scored as ReadonlyArray<Group>, scored }
  })

/** A post-filter stage, then advantages, KL weights, the policy update and the curriculum update. @internal */
export const trainOn = <E, R>(
  postFilter: Stage.Stage<StepInput, Effect.Effect.Success<ReturnType<typeof refill>>, E, R>,
  options: Omit<StandardOptions, "verifier">
) =>
  postFilter.pipe(
    Stage.andThen(Stages.advantages(options.advantage)),
    Stage.andThen(Stages.klWeights(options.kl ?? "sparse")),
    Stage.andThen(Stages.policyUpdate),
    Stage.andThen(Stages.updateCurriculum)
  )
