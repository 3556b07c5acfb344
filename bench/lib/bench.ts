/**
 * `zpd bench` as a function (the CLI wires its flags to {@link BenchOptions}):
 * every contender × regime × seed × budget on the simulated learner, in
 * `jobs` worker processes, resumable, then the report.
 *
 * Budgets: a curriculum that reads the budget (budget-stretched ordered,
 * AdaCuRL's round length) runs once per budget; the others run once at the
 * largest budget and are read at the smaller ones from the prefix.
 */
import * as Command from "@effect/platform/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Bench from "@zpd/report/Bench"
import * as Report from "@zpd/report/Report"
import * as Effect from "effect/Effect"
import { availableParallelism } from "node:os"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { contenderNamed, contenders, regimes } from "./contenders.ts"

export interface BenchOptions {
  readonly out: string
  readonly jobs: number
  readonly seeds: ReadonlyArray<number>
  readonly budgets: ReadonlyArray<number>
  readonly regimes: ReadonlyArray<string>
  readonly curricula: ReadonlyArray<string>
  /** Absolute target accuracy (default: random's final acc_ood at the largest budget). */
  readonly target?: number
  /** Live display on stderr (default true). */
  readonly display?: boolean
  /** Shown in the report. */
  readonly command?: string
}

/**
 * ~15 minutes on 2 free cores: 17 contenders × regimes default and hard (so
 * rankings can be compared across regimes) × 5 seeds, budgets 100 and 200 steps.
 */
export const defaults: BenchOptions = {
  out: "runs/bench",
  jobs: Math.max(1, availableParallelism()),
  seeds: [1, 2, 3, 4, 5],
  budgets: [100, 200],
  regimes: ["default", "hard"],
  curricula: contenders.map((c) => c.name)
}

/** ~1 minute on 2 cores: regime default only, 2 seeds, budgets 30 and 60 steps. */
export const quick: BenchOptions = {
  ...defaults,
  out: "runs/bench-quick",
  regimes: ["default"],
  seeds: [1, 2],
  budgets: [30, 60]
}

export interface BenchJob extends Bench.Job {
  readonly curriculum: string
  readonly regime: string
  readonly seed: number
}

/** The grid of runs, in an order that starts the longest runs first. */
export const plan = (options: BenchOptions): Array<BenchJob> => {
  const top = Math.max(...options.budgets)
  const jobs: Array<BenchJob> = []
  for (const regime of options.regimes) {
    for (const name of options.curricula) {
      const c = contenderNamed(name)!
      for (const steps of c.budgetAware ? options.budgets : [top]) {
        for (const seed of options.seeds) {
          jobs.push({
            curriculum: name,
            regime,
            seed,
            steps,
            dir: `${options.out}/${regime}/${name}/steps-${steps}/seed-${seed}`,
            label: `${name} ${regime} s${seed} ${steps}`
          })
        }
      }
    }
  }
  return jobs.sort((a, b) => b.steps - a.steps)
}

export const validate = (options: BenchOptions): string | undefined => {
  const unknown = options.curricula.find((c) => contenderNamed(c) === undefined)
  if (unknown !== undefined) {
    return `--curricula: unknown "${unknown}"; expected some of ${contenders.map((c) => c.name).join(", ")}`
  }
  const badRegime = options.regimes.find((r) => regimes[r] === undefined)
  if (badRegime !== undefined) {
    return `--regimes: unknown "${badRegime}"; expected some of ${Object.keys(regimes).join(", ")}`
  }
  if (options.budgets.length === 0 || options.budgets.some((b) => !Number.isInteger(b) || b < 1)) {
    return "--budgets: expected positive integers, e.g. 100,300"
  }
  if (options.seeds.length === 0) return "--seeds: expected at least one seed"
  if (!Number.isInteger(options.jobs) || options.jobs < 1) return "--jobs: expected an integer ≥ 1"
  return undefined
}

/** The `zpd bench` / `bench:curricula` flags as typed (values unparsed), shared by both front ends. */
export interface BenchFlags {
  readonly quick?: boolean | undefined
  readonly jobs?: string | undefined
  readonly out?: string | undefined
  readonly seeds?: string | undefined
  readonly budgets?: string | undefined
  readonly regimes?: string | undefined
  readonly curricula?: string | undefined
  readonly target?: string | undefined
}

/** The flags `zpd bench` and `bench:curricula` take, for usage lines. */
export const benchUsage =
  "[--quick] [--jobs N] [--out DIR] [--seeds 1,2,3] [--budgets 100,200] [--regimes default,hard] [--curricula a,b] [--target X]"

const listOf = (flag: string, v: string): Array<string> | string => {
  const items = v.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  return items.length === 0 ? `--${flag}: expected a comma-separated list, got "${v}"` : items
}

const intsOf = (flag: string, v: string): Array<number> | string => {
  const items = listOf(flag, v)
  if (typeof items === "string") return items
  return items.every((x) => /^-?\d+$/.test(x)) ? items.map(Number) : `--${flag}: expected integers, got "${v}"`
}

/**
 * {@link BenchOptions} from the flags (`--quick` starts from {@link quick},
 * otherwise {@link defaults}), then {@link validate}d; a string is the error,
 * naming the flag and what was expected.
 */
export const fromFlags = (flags: BenchFlags): BenchOptions | string => {
  let options: BenchOptions = flags.quick === true ? quick : defaults
  if (flags.jobs !== undefined) {
    const n = Number(flags.jobs)
    if (!/^\d+$/.test(flags.jobs.trim()) || n < 1) return `--jobs: expected an integer ≥ 1, got "${flags.jobs}"`
    options = { ...options, jobs: n }
  }
  if (flags.out !== undefined) {
    if (flags.out.trim().length === 0) return "--out: expected a directory, got an empty value"
    options = { ...options, out: flags.out }
  }
  for (const key of ["seeds", "budgets"] as const) {
    const raw = flags[key]
    if (raw === undefined) continue
    const parsed = intsOf(key, raw)
    if (typeof parsed === "string") return parsed
    options = { ...options, [key]: parsed }
  }
  for (const key of ["regimes", "curricula"] as const) {
    const raw = flags[key]
    if (raw === undefined) continue
    const parsed = listOf(key, raw)
    if (typeof parsed === "string") return parsed
    options = { ...options, [key]: parsed }
  }
  if (flags.target !== undefined) {
    const t = Number(flags.target)
    if (flags.target.trim().length === 0 || !Number.isFinite(t)) {
      return `--target: expected a number, got "${flags.target}"`
    }
    options = { ...options, target: t }
  }
  return validate(options) ?? options
}

/** `bench:curricula`'s argv (`--flag value` pairs and `--quick`) through {@link fromFlags}. */
export const parseBenchArgs = (argv: ReadonlyArray<string>): BenchOptions | string => {
  const flags: Record<string, string | boolean> = {}
  const known = ["jobs", "out", "seeds", "budgets", "regimes", "curricula", "target"]
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    if (flag === "--quick") {
      flags.quick = true
      continue
    }
    const name = flag.startsWith("--") ? flag.slice(2) : flag
    if (!known.includes(name)) return `unknown option ${flag} (usage: ${benchUsage})`
    if (Object.hasOwn(flags, name)) return `${flag}: given more than once`
    const value = argv[i + 1]
    if (value === undefined || value.startsWith("--")) return `${flag}: expected a value (usage: ${benchUsage})`
    flags[name] = value
    i++
  }
  return fromFlags(flags as BenchFlags)
}

const workerScript = fileURLToPath(new URL("../worker.ts", import.meta.url))

const terminal = () => {
  const tty = process.stderr.isTTY === true
  let previous = 0
  let lastPrint = 0
  return (lines: ReadonlyArray<string>, final: boolean) => {
    if (tty) {
      process.stderr.write((previous > 0 ? `\x1b[${previous}F\x1b[J` : "") + lines.join("\n") + "\n")
      previous = lines.length
    } else if (final || Date.now() - lastPrint > 15_000) {
      process.stderr.write(lines.at(-1) + "\n")
      lastPrint = Date.now()
    }
  }
}

/** Runs the grid (skipping finished runs), then writes `out/report.html` and `out/report.md`. */
export const runBench = (options: BenchOptions) =>
  Effect.gen(function*() {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(new Error(invalid))
    const jobs = plan(options)
    const result = yield* Bench.run({
      jobs,
      concurrency: options.jobs,
      worker: () => Command.make(process.execPath, "--import", "tsx", workerScript),
      request: (job, resume) =>
        JSON.stringify({
          curriculum: job.curriculum,
          regime: job.regime,
          seed: job.seed,
          steps: job.steps,
          out: job.dir,
          resume
        }),
      ...(options.display === false ? {} : { display: terminal() })
    })
    for (const f of result.failed) process.stderr.write(`run failed: ${f.job.dir}: ${f.reason}\n`)
    const report = yield* Report.write([options.out], options.out, {
      budgets: options.budgets,
      order: contenders.map((c) => c.name),
      ...(options.target === undefined ? {} : { target: options.target }),
      ...(options.command === undefined ? {} : { command: options.command })
    })
    return { result, report }
  })

/** `zpd report RUN_DIR...` as a function: the same report from any run directories. */
export const reportCommand = (options: {
  readonly paths: ReadonlyArray<string>
  readonly out: string
  readonly target?: number
  readonly title?: string
}) =>
  Report.write(options.paths, options.out, {
    order: contenders.map((c) => c.name),
    ...(options.target === undefined ? {} : { target: options.target }),
    ...(options.title === undefined ? {} : { title: options.title })
  })

/**
 * `npm start`: the quick benchmark (every contender, 2 seeds, 30 and 60 steps)
 * into `out` (default `runs/quick`, emptied first so the table always reflects
 * the current code), then its table and the path of its report.
 */
export const startQuick = (out = "runs/quick") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.remove(out, { recursive: true }).pipe(Effect.ignore)
    process.stdout.write(
      `zpd: every curriculum on the simulated learner (regime default), 2 seeds, budgets 30 and 60 steps, ` +
        `${quick.jobs} parallel workers\n`
    )
    const { report, result } = yield* runBench({ ...quick, out, command: "npm start" })
    process.stdout.write(`\n${report.built.markdown}\n`)
    process.stdout.write(
      `${result.ran.length} runs (${result.skipped.length} already complete) in ${
        (result.wallMs / 1000).toFixed(0)
      } s\n`
    )
    process.stdout.write(
      `report: ${report.htmlPath}\nrun directories: ${out}/<regime>/<curriculum>/steps-<N>/seed-<S>/ (metrics.jsonl, TensorBoard events)\n`
    )
    if (result.failed.length > 0) return yield* Effect.fail(new Error(`${result.failed.length} runs failed`))
  })
