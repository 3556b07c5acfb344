/**
 * `npm run bench:curricula`, the same as `zpd bench` (both parse with `bench/lib/bench.ts`): every curriculum and
 * hybrid × regime × seed × budget on the simulated learner, in parallel child
 * processes, resumable; then `OUT/report.html` and `OUT/report.md`.
 *
 *   npm run bench:curricula                 # ~15 min on 2 cores: regimes default and hard, 5 seeds, budgets 100 and 200
 *   npm run bench:curricula -- --quick      # ~1 min: regime default, 2 seeds, budgets 30 and 60
 *   options: --jobs N --out DIR --seeds 1,2,3,4,5 --budgets 100,200 --regimes default,hard
 *            --curricula sec,random --target 0.25
 *
 * Rerunning with the same --out skips finished runs and resumes interrupted ones.
 */
import * as Effect from "effect/Effect"
import process from "node:process"
import { main } from "../examples/lib/run.ts"
import { parseBenchArgs, runBench } from "./lib/bench.ts"

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parseBenchArgs(process.argv.slice(2))
  if (typeof options === "string") {
    process.stderr.write(options + "\n")
    process.exit(2)
  }
  main(Effect.gen(function*() {
    const command = `npm run bench:curricula --${process.argv.slice(2).map((a) => ` ${a}`).join("")}`
    const { report, result } = yield* runBench({ ...options, command })
    process.stdout.write(`\n${report.built.markdown}\n`)
    process.stdout.write(
      `${result.ran.length} runs, ${result.skipped.length} already complete, ${result.failed.length} failed, ` +
        `${(result.wallMs / 1000).toFixed(0)} s\nreport: ${report.htmlPath}\n`
    )
    if (result.failed.length > 0) process.exitCode = 1
  }))
}
