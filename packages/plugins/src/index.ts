/**
 * @zpd/plugins — published curricula as plugins, plus the baselines they beat.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Baselines from "./Baselines.ts"
/** @since 0.1.0 */
export * as Cdas from "./Cdas.ts"
/** @since 0.1.0 */
export * as Pcl from "./Pcl.ts"
/** @since 0.1.0 */
export * as Sec from "./Sec.ts"
/** @since 0.1.0 */
export * as AdaCurl from "./AdaCurl.ts"
