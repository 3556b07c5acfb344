/**
 * @zpd/cli — the `zpd` command and the run helpers the examples share. The
 * one package that depends on `@effect/platform-node`; the libraries stay
 * runtime-agnostic.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Command from "./Command.ts"
/** @since 0.1.0 */
export * as Curricula from "./Curricula.ts"
/** @since 0.1.0 */
export * as Run from "./Run.ts"
/** @since 0.3.0 */
export * as Serve from "./Serve.ts"
/** @since 0.1.0 */
export * as Suite from "./Suite.ts"
