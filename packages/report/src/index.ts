/**
 * @zpd/report — the benchmark runner, its analysis and the self-contained
 * HTML report, and TensorBoard event files for zpd runs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Analysis from "./Analysis.ts"
/** @since 0.1.0 */
export * as Bench from "./Bench.ts"
/** @since 0.1.0 */
export * as Charts from "./Charts.ts"
/** @since 0.1.0 */
export * as Progress from "./Progress.ts"
/** @since 0.1.0 */
export * as Report from "./Report.ts"
/** @since 0.1.0 */
export * as RunData from "./RunData.ts"
/** @since 0.1.0 */
export * as RunMeta from "./RunMeta.ts"
/** @since 0.1.0 */
export * as Stats from "./Stats.ts"
/** @since 0.1.0 */
export * as TensorBoard from "./TensorBoard.ts"
/** @since 0.1.0 */
export * as TfRecord from "./TfRecord.ts"
