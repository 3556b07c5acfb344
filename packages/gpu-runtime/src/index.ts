/**
 * Runtimes implementing the `@zpd/core/Runtime` ports.
 *
 * @since 0.1.0
 */

/**
 * The simulated learner (an item-response-theory policy).
 *
 * @since 0.1.0
 * @category runtimes
 */
export * as Simulated from "./Simulated.ts"
