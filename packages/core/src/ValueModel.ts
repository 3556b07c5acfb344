/**
 * The value-model port: a prompt-only regressor `V(x) ≈ p_π(x)`, the
 * expected reward of the current policy on prompt x, from one forward pass
 * and no rollouts. PCL (Prompt Curriculum Learning, arXiv 2510.01135) ranks
 * candidate prompts by `|V(x) − τ|` and regresses V on each step's observed
 * pass rates; other curricula can use it as a cheap difficulty predictor.
 *
 Core owns the port ({@link ValueModel}); implementations plug in through
 * the Context tag or as a plain value:
 * - `HashedValueModel.hashed` in `@zpd/plugins` (PCL's default, no GPU);
 * - a runtime's value head (e.g. a scalar head on the policy's encoder in
 *   the PyTorch worker): provide `ValueModel` with a Layer; a plugin that
 *   reads the tag uses it unchanged.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { CheckpointError, RuntimeError } from "./Errors.ts"
import type { Problem } from "./Problem.ts"

/**
 * What one update reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValueUpdate {
  /** Mean squared error of the predictions before the update. */
  readonly loss: number
}

/**
 * The value-model port.
 *
 * @since 0.1.0
 * @category tags
 */
export class ValueModel extends Context.Tag("@zpd/core/ValueModel")<ValueModel, ValueModel.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace ValueModel {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly name: string
    /** `V(x)` for every problem, in order, each in [0, 1]. */
    readonly predict: (problems: ReadonlyArray<Problem>) => Effect.Effect<Float64Array, RuntimeError>
    /**
     * One training step on `Σ_i (V(x_i) − targets[i])²` (PCL: the mean
     * reward of each prompt's rollouts, spec §4.2 step 6).
     */
    readonly update: (
      problems: ReadonlyArray<Problem>,
      targets: Float64Array
    ) => Effect.Effect<ValueUpdate, RuntimeError>
    /** A JSON-safe copy of the model's state (weights, optimiser). */
    readonly snapshot: () => unknown
    readonly restore: (state: unknown) => Effect.Effect<void, CheckpointError>
    /** Bytes of parameters and optimiser state held, for the overhead benchmark. */
    readonly stateBytes?: () => number
  }
}
