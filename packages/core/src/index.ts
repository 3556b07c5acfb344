/**
 * @zpd/core — the curriculum-RL DSL: stages, pipelines, curricula, the runtime
 * ports, columnar state, checkpoints and metrics. Task families live in
 * `@zpd/tasks`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Advantage from "./Advantage.ts"
/** @since 0.1.0 */
export * as Checkpoint from "./Checkpoint.ts"
/** @since 0.1.0 */
export * as Columns from "./Columns.ts"
/** @since 0.1.0 */
export * as Curriculum from "./Curriculum.ts"
/** @since 0.1.0 */
export * as Errors from "./Errors.ts"
/** @since 0.1.0 */
export * as Fmath from "./Fmath.ts"
/** @since 0.1.0 */
export * as Hook from "./Hook.ts"
/** @since 0.3.0 */
export * as Jsonl from "./Jsonl.ts"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.ts"
/** @since 0.2.0 */
export * as Part from "./Part.ts"
/** @since 0.1.0 */
export * as Pipeline from "./Pipeline.ts"
/** @since 0.1.0 */
export * as Problem from "./Problem.ts"
/** @since 0.1.0 */
export * as Rng from "./Rng.ts"
/** @since 0.1.0 */
export * as Runtime from "./Runtime.ts"
/** @since 0.1.0 */
export * as Stage from "./Stage.ts"
/** @since 0.1.0 */
export * as Stages from "./Stages.ts"
/** @since 0.1.0 */
export * as ValueModel from "./ValueModel.ts"
/** @since 0.1.0 */
export * as WeightSync from "./WeightSync.ts"
