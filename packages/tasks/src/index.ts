/**
 * @zpd/tasks — verifiable, procedurally generated task families (countdown,
 * multi-digit arithmetic, ARC-1D-like rules, after the SEC paper,
 * arXiv 2505.14970 §4.1) and the answer-tag verifier they share.
 *
 * A package of its own, not a module of `@zpd/core`: core is the DSL (stages,
 * pipelines, curricula, runtime ports) and must not carry content; the
 * families are data generators a user may swap for their own dataset, and
 * both the simulator (`@zpd/gpu-runtime`) and the examples depend on them,
 * while core depends on nothing here (the `Verdict` type they return is
 * core's, beside the `Verifier` port).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Task from "./Task.ts"
/** @since 0.1.0 */
export * as Tasks from "./Tasks.ts"
