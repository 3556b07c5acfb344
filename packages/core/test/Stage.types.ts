/**
 * Compile-time tests of stage composition. This file is not run; it is
 * type-checked by `tsc -p tsconfig.json --noEmit`. Every `@ts-expect-error`
 * must stay an error: if a composition below starts compiling, tsc reports an
 * unused directive.
 */
import * as Effect from "effect/Effect"
import * as Pipeline from "../src/Pipeline.ts"
import * as Stage from "../src/Stage.ts"
import * as Stages from "../src/Stages.ts"

const verifier: Stages.Verifier = () => ({ reward: 1, correct: true, formatted: true })

// ---------------------------------------------------------------------------
// Negative cases
// ---------------------------------------------------------------------------

// (a) advantages needs `scored`, which selectBatch does not produce.
// @ts-expect-error "missing stage input": "scored"
export const advantagesBeforeRollout = Stages.selectBatch.pipe(Stage.andThen(Stages.advantages()))

// (b) policyUpdate needs groups, advantages and klWeights; rollout only adds groups
// (and itself needs a batch), so neither composition can be satisfied.
// @ts-expect-error policyUpdate's advantages/klWeights are never produced
export const updateAfterRollout = Stage.andThen(Stages.rollout, Stages.policyUpdate)
// @ts-expect-error policyUpdate's inputs are never produced
export const updateAfterSelect = Stages.selectBatch.pipe(Stage.andThen(Stages.policyUpdate))
// @ts-expect-error reward needs groups, which selectBatch does not produce
export const rewardAfterSelect = Stage.andThen(Stages.selectBatch, Stages.reward(verifier))
export const klBeforeReward = Stages.selectBatch.pipe(
  Stage.andThen(Stages.rollout),
  // @ts-expect-error klWeights needs scored
  Stage.andThen(Stages.klWeights())
)

// (c) a pipeline's first stage must need only StepInput; rollout needs `batch`.
// @ts-expect-error rollout needs batch, which StepInput lacks
export const pipelineFromRollout = Pipeline.make("x", Stages.rollout)

// A custom stage that reads a field nobody adds.
const needsBonus = Stage.make(
  "needsBonus",
  (ctx: { readonly scored: ReadonlyArray<Stages.ScoredGroup>; readonly bonus: number }) =>
    Effect.succeed({ bonusSum: ctx.scored.length * ctx.bonus })
)
export const missingBonus = Stages.selectBatch.pipe(
  Stage.andThen(Stages.rollout),
  Stage.andThen(Stages.reward(verifier)),
  // @ts-expect-error "missing stage input": "bonus"
  Stage.andThen(needsBonus)
)

// ---------------------------------------------------------------------------
// Positive cases
// ---------------------------------------------------------------------------

export const standard = Stages.standard({ verifier, advantage: { estimator: "rloo" }, kl: "dense" })
export const standardPipeline = Pipeline.make("standard", standard)

/** A custom stage between reward and advantages: clips rewards to [0, 0.5]. */
const clipRewards = Stage.make(
  "clipRewards",
  (ctx: { readonly scored: ReadonlyArray<Stages.ScoredGroup> }) =>
    Effect.succeed({
      scored: ctx.scored.map((g) => ({ ...g, rewards: g.rewards.map((r) => Math.min(r, 0.5)) }))
    })
)

export const custom = Stages.selectBatch.pipe(
  Stage.andThen(Stages.rollout),
  Stage.andThen(Stages.reward(verifier)),
  Stage.andThen(clipRewards),
  Stage.andThen(Stages.advantages()),
  Stage.andThen(Stages.klWeights("sparse")),
  Stage.andThen(Stages.policyUpdate),
  Stage.andThen(Stages.updateCurriculum)
)
export const customPipeline = Pipeline.make("custom", custom)

// A stage that needs less than what is available stands where more is available.
const needsStep = Stage.make(
  "needsStep",
  (ctx: { readonly step: number }) => Effect.succeed({ stepTwice: ctx.step * 2 })
)
export const lenient = Pipeline.make("lenient", Stages.selectBatch.pipe(Stage.andThen(needsStep)))
export const onlyStep = Pipeline.make("onlyStep", needsStep)

// Data-first composition with everything available.
export const dataFirst = Stage.andThen(Stages.selectBatch, Stages.rollout)
