/**
 * @zpd/server — zpd's curricula served over HTTP to the trainers people
 * already run (verl, TRL, prime-rl): sessions over cursors, a durable
 * journal, the routes of the wire contract, and AdaCuRL's difficulty
 * estimation from precomputed difficulties. Runtime-agnostic; the `zpd serve`
 * command (`@zpd/cli`) adds the Node listener.
 *
 * @since 0.3.0
 */

/** @since 0.3.0 */
export * as ApiError from "./ApiError.ts"
/** @since 0.3.0 */
export * as Auth from "./Auth.ts"
/** @since 0.3.0 */
export * as Difficulties from "./Difficulties.ts"
/** @since 0.3.0 */
export * as Journal from "./Journal.ts"
/** @since 0.3.0 */
export * as Routes from "./Routes.ts"
/** @since 0.3.0 */
export * as Server from "./Server.ts"
/** @since 0.3.0 */
export * as Session from "./Session.ts"
/** @since 0.3.0 */
export * as Wire from "./Wire.ts"
