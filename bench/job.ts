/**
 * One benchmark cell in its own process (the bench runner starts one per
 * job): `tsx bench/job.ts '{"curriculum":"sec","regime":"default","seed":1,"steps":300,"out":"DIR","resume":false}'`.
 * Progress goes to stdout as `@progress <step>` lines for the runner's display.
 */
import * as Effect from "effect/Effect"
import process from "node:process"
import { main } from "../examples/lib/run.ts"
import { makeRun, type RunSpec } from "./lib/contenders.ts"

const spec = JSON.parse(process.argv[2] ?? "null") as RunSpec | null
if (spec === null || typeof spec !== "object") {
  process.stderr.write("usage: bench/job.ts '<json run spec>'\n")
  process.exit(2)
}
main(Effect.asVoid(makeRun({ ...spec, onStep: (step) => process.stdout.write(`@progress ${step}\n`) })))
