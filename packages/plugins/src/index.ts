/**
 * @zpd/plugins — published curricula as compositions of gates, pre-filters
 * and samplers (`@zpd/core/Part`), the baselines they beat, the post-filter
 * stages (DAPO, online filtering, SPEED), the machinery each needs beside it, and a registry that parses
 * curriculum expressions.
 *
 * Every plugin module has one skeleton: `Config`, `defaults`, `validate`
 * (an `Either` with the `ConfigError` naming the field), its parts, and the
 * plugin (a composition of them). JSDoc `@category` comes from one list:
 * models, config, constructors, combinators, accessors, parts, plugins,
 * stages, math, schemas, layers, constants.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AdaCurl from "./AdaCurl.ts"
/** @since 0.2.0 */
export * as AdaRft from "./AdaRft.ts"
/** @since 0.1.0 */
export * as Baselines from "./Baselines.ts"
/** @since 0.1.0 */
export * as Cdas from "./Cdas.ts"
/** @since 0.2.0 */
export * as Dapo from "./Dapo.ts"
/** @since 0.2.0 */
export * as Dump from "./Dump.ts"
/** @since 0.1.0 */
export * as Difficulty from "./Difficulty.ts"
/** @since 0.2.0 */
export * as Greso from "./Greso.ts"
/** @since 0.1.0 */
export * as HashedValueModel from "./HashedValueModel.ts"
/** @since 0.2.0 */
export * as OfflineFilter from "./OfflineFilter.ts"
/** @since 0.2.0 */
export * as OnlineFilter from "./OnlineFilter.ts"
/** @since 0.1.0 */
export * as OrderedIndex from "./OrderedIndex.ts"
/** @since 0.1.0 */
export * as Pcl from "./Pcl.ts"
/** @since 0.2.0 */
export * as Prioritized from "./Prioritized.ts"
/** @since 0.2.0 */
export * as Registry from "./Registry.ts"
/** @since 0.1.0 */
export * as Sec from "./Sec.ts"
/** @since 0.2.0 */
export * as Speed from "./Speed.ts"
