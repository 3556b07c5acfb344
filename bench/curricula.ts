/**
 * `npm run bench:curricula` (the future `zpd bench`): every curriculum and
 * hybrid × regime × seed × budget on the simulated learner, in parallel child
 * processes, resumable; then `OUT/report.html` and `OUT/report.md`.
 *
 *   npm run bench:curricula                 # ~10 min on 2 cores: 5 seeds, budgets 100 and 300
 *   npm run bench:curricula -- --quick      # ~1 min: 2 seeds, budgets 30 and 60
 *   options: --jobs N --out DIR --seeds 1,2,3 --budgets 100,300 --regimes default
 *            --curricula sec,random --target 0.25
 *
 * Rerunning with the same --out skips finished runs and resumes interrupted ones.
 */
import * as Effect from "effect/Effect"
import process from "node:process"
import { main } from "../examples/lib/run.ts"
import { type BenchOptions, defaults, quick, runBench } from "./lib/bench.ts"

const usage =
  "usage: bench/curricula.ts [--quick] [--jobs N] [--out DIR] [--seeds 1,2,3] [--budgets 100,300] [--regimes default] [--curricula a,b] [--target X]"

export const parseBenchArgs = (argv: ReadonlyArray<string>): BenchOptions | string => {
  let options: BenchOptions = argv.includes("--quick") ? quick : defaults
  const list = (flag: string, v: string) => {
    const items = v.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    return items.length === 0 ? `${flag}: expected a comma-separated list` : items
  }
  const ints = (flag: string, v: string) => {
    const items = list(flag, v)
    if (typeof items === "string") return items
    const n = items.map(Number)
    return n.every((x) => Number.isInteger(x)) ? n : `${flag}: expected integers, got "${v}"`
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    if (flag === "--quick") continue
    const value = argv[i + 1]
    if (value === undefined || value.startsWith("--")) return `${flag}: expected a value (${usage})`
    i++
    let parsed: unknown
    switch (flag) {
      case "--jobs":
        parsed = Number(value)
        if (!Number.isInteger(parsed) || (parsed as number) < 1) return `--jobs: expected an integer ≥ 1, got "${value}"`
        options = { ...options, jobs: parsed as number }
        break
      case "--out":
        options = { ...options, out: value }
        break
      case "--seeds":
      case "--budgets":
        parsed = ints(flag, value)
        if (typeof parsed === "string") return parsed
        options = { ...options, [flag.slice(2)]: parsed }
        break
      case "--regimes":
      case "--curricula":
        parsed = list(flag, value)
        if (typeof parsed === "string") return parsed
        options = { ...options, [flag.slice(2)]: parsed }
        break
      case "--target":
        parsed = Number(value)
        if (!Number.isFinite(parsed)) return `--target: expected a number, got "${value}"`
        options = { ...options, target: parsed as number }
        break
      default:
        return `unknown option ${flag} (${usage})`
    }
  }
  return options
}

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
