/**
 * The `zpd` executable: `npx zpd run sec --steps 50`, or unbuilt
 * `npx tsx packages/cli/src/main.ts run sec --steps 50`.
 *
 * @since 0.1.0
 */
import { main, zpd } from "./Command.ts"

main(zpd, "zpd")
