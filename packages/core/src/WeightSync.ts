/**
 * Weight sync: the two ports that keep inference servers on the trainer's
 * current policy when they are not the trainer itself (spec/runtime.md §1.6,
 * §3.1: every disaggregated RL framework does "publish, then pause → load →
 * label the version → resume" on every engine).
 *
 * - {@link WeightPublisher}: the trainer writes its current policy where the
 *   inference servers can read it and says where ({@link PublishedWeights}).
 * - {@link WeightSync}: brings every inference server to those weights
 *   (implementations for zpd workers, vLLM and SGLang live in
 *   `@zpd/gpu-runtime/WeightSync`).
 *
 * {@link afterUpdate} is the pipeline hook that does both after a policy
 * update, so the next step's rollouts are sampled from the new weights.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { RuntimeError } from "./Errors.ts"
import * as Hook from "./Hook.ts"

/**
 * Weights a trainer wrote: the policy version they hold and the directory
 * (Hugging Face layout, or the tiny model's file) that inference servers
 * load, at the same path on a filesystem they share.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublishedWeights = Schema.Struct({
  policyVersion: Schema.Int,
  path: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface PublishedWeights extends Schema.Schema.Type<typeof PublishedWeights> {}

/**
 * The trainer side of a sync: publish the current weights.
 *
 * @since 0.1.0
 * @category tags
 */
export class WeightPublisher extends Context.Tag("@zpd/core/WeightPublisher")<
  WeightPublisher,
  WeightPublisher.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace WeightPublisher {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly publish: Effect.Effect<PublishedWeights, RuntimeError>
  }
}

/**
 * The inference side of a sync: after `sync(weights)` succeeds, every
 * target serves `weights` (and nothing computed with older weights, such as
 * prefix-cache entries, is reused).
 *
 * @since 0.1.0
 * @category tags
 */
export class WeightSync extends Context.Tag("@zpd/core/WeightSync")<WeightSync, WeightSync.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace WeightSync {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** What is synced, e.g. `vLLM (2 engines)`, for error messages and logs. */
    readonly name: string
    /** The servers' base URLs. */
    readonly targets: ReadonlyArray<string>
    readonly sync: (weights: PublishedWeights) => Effect.Effect<void, RuntimeError>
  }
}

/**
 * A pipeline hook: every `every` steps (after the policy update), publish the
 * trainer's weights and sync every inference server to them. With `every`
 * above 1 the servers lag up to `every − 1` versions behind the trainer, so
 * those rollouts are off-policy (the PPO clip bounds, but does not undo, the
 * mismatch). A failed sync fails the step before its checkpoint is written.
 *
 * **Example**
 * ```ts
 * const pipeline = Pipeline.withHooks(Pipeline.make("sec", step), WeightSync.afterUpdate(1))
 * ```
 *
 * @since 0.1.0
 * @category hooks
 */
export const afterUpdate = (every = 1): Hook.Hook<RuntimeError, WeightPublisher | WeightSync> =>
  Hook.make("weightSync", (end) =>
    end.step % Math.max(1, Math.floor(every)) === 0
      ? Effect.gen(function*() {
        const published = yield* (yield* WeightPublisher).publish
        yield* (yield* WeightSync).sync(published)
      })
      : Effect.void)
