/**
 * The `zpd` command, built with `@effect/cli`:
 *
 *   zpd run <curriculum> --steps N --seed S --out DIR --resume DIR --data FILE.jsonl
 *           --batch-size B --group-size G --checkpoint-every N --overwrite --quiet
 *           --allow-repeats --allow-unknown-fields --max-prompt-chars N
 *   zpd bench [--quick] --jobs N --out DIR --seeds 1,2,3 --budgets 100,200
 *             --regimes default,hard --curricula a,b --target X
 *   zpd report RUN_DIR... --out DIR --target X --title TEXT
 *   zpd serve --curriculum NAME --data FILE.jsonl --seed S --state DIR [--port P] … (see `Serve.ts`)
 *
 * `zpd bench` and `zpd report` run the repository's benchmark
 * (`bench/lib/bench.ts`), so they work from a checkout of zpd.
 *
 * `zpd --help` and `zpd run --help` list the flags. The examples and
 * `npm start` are commands with the same flags (minus the curriculum
 * argument), so every entry point parses and reports alike. Other
 * subcommands (`serve`) join {@link zpd} through {@link subcommands}.
 *
 * Before `@effect/cli` parses, {@link precheck} refuses what it would
 * otherwise report unclearly: a flag given twice and `--flag=` with an empty
 * value.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Regimes } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import process from "node:process"
import * as Curricula from "./Curricula.ts"
import { type RunArgs, runOne, type RunSpec, summaryTable } from "./Run.ts"
import * as Serve from "./Serve.ts"

/** The version `zpd --version` prints. */
const version = "0.1.0"

const invalid = (flag: string, expected: string, raw: string) =>
  Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${flag}: expected ${expected}, got ${JSON.stringify(raw)}`)))

/** The integer flags and their least value (also checked by {@link precheck}, so a bad number names its flag). */
const integerFlags = {
  steps: 0,
  seed: -(2 ** 31),
  "batch-size": 1,
  "group-size": 1,
  "checkpoint-every": 0,
  "max-prompt-chars": 1
} as const

/** The switches (no value). */
const booleanFlags: ReadonlyArray<string> = [
  "quick",
  "overwrite",
  "allow-repeats",
  "allow-unknown-fields",
  "quiet",
  "help",
  "version",
  "wizard"
]

const badInteger = (flag: string, raw: string): string | undefined => {
  if (!Object.hasOwn(integerFlags, flag)) return undefined
  const min = integerFlags[flag as keyof typeof integerFlags]
  const n = Number(raw)
  return (/^-?\d+$/.test(raw.trim()) && Number.isSafeInteger(n) && n >= min)
    ? undefined
    : `--${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`
}

const integer = (flag: keyof typeof integerFlags, description: string) =>
  Options.integer(flag).pipe(
    Options.withPseudoName("N"),
    Options.withDescription(description),
    Options.mapEffect((n) => {
      const bad = badInteger(flag, String(n))
      return bad === undefined ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(bad)))
    })
  )

const path = (flag: string, pseudo: string, description: string) =>
  Options.text(flag).pipe(
    Options.withPseudoName(pseudo),
    Options.withDescription(description),
    Options.mapEffect((
      raw
    ) => (raw.trim().length === 0 ? invalid(flag, `a ${pseudo} path`, raw) : Effect.succeed(raw))),
    Options.optional
  )

const optionalInt = (flag: keyof typeof integerFlags, description: string) =>
  integer(flag, description).pipe(Options.optional)

/**
 * The flags every run shares; `defaultSteps` is the `--steps` default.
 *
 * @since 0.1.0
 * @category options
 */
export const runOptions = (defaultSteps: number) => ({
  steps: integer("steps", `Run until this step (default ${defaultSteps}).`).pipe(Options.withDefault(defaultSteps)),
  seed: optionalInt("seed", "Random seed (default 1, or the checkpoint's on --resume)."),
  out: path("out", "DIR", "Run directory: metrics.jsonl, timings.jsonl, checkpoint/."),
  resume: path("resume", "DIR", "Resume the run in DIR from its checkpoint (writes to --out, default DIR)."),
  data: path("data", "FILE", "Train on this JSONL dataset instead of the built-in task suite."),
  batchSize: optionalInt("batch-size", "Problems per step (default 64)."),
  groupSize: optionalInt("group-size", "Completions per problem (default 8)."),
  checkpointEvery: optionalInt(
    "checkpoint-every",
    "Checkpoint every N steps and at the end; 0 = only at the end (default 10)."
  ),
  overwrite: Options.boolean("overwrite").pipe(
    Options.withDescription("Start over in an --out directory that holds another run's checkpoint.")
  ),
  allowRepeats: Options.boolean("allow-repeats").pipe(
    Options.withDescription("Allow a batch larger than the dataset (problems repeat within a batch).")
  ),
  allowUnknownFields: Options.boolean("allow-unknown-fields").pipe(
    Options.withDescription("Ignore dataset fields zpd does not know instead of failing.")
  ),
  maxPromptChars: optionalInt("max-prompt-chars", "Longest prompt accepted in --data (default 32768)."),
  regime: Options.choice("regime", Regimes.names).pipe(
    Options.withDescription(
      "Simulated learner and task suite: default, easy, hard, large (simulator v2) or v1 (the first simulator; default: default)."
    ),
    Options.optional
  ),
  quiet: Options.boolean("quiet").pipe(Options.withDescription("No progress line and no table."))
})

type Parsed = {
  readonly [K in keyof ReturnType<typeof runOptions>]: ReturnType<typeof runOptions>[K] extends
    Options.Options<infer A> ? A
    : never
}

/**
 * Parsed options as {@link RunArgs}.
 *
 * @since 0.1.0
 * @category options
 */
export const toRunArgs = (parsed: Parsed): RunArgs => ({
  steps: parsed.steps,
  seed: Option.getOrUndefined(parsed.seed),
  out: Option.getOrUndefined(parsed.out),
  resume: Option.getOrUndefined(parsed.resume),
  data: Option.getOrUndefined(parsed.data),
  batchSize: Option.getOrUndefined(parsed.batchSize),
  groupSize: Option.getOrUndefined(parsed.groupSize),
  checkpointEvery: Option.getOrUndefined(parsed.checkpointEvery),
  maxPromptChars: Option.getOrUndefined(parsed.maxPromptChars),
  regime: Option.getOrUndefined(parsed.regime),
  overwrite: parsed.overwrite,
  allowRepeats: parsed.allowRepeats,
  allowUnknownFields: parsed.allowUnknownFields,
  quiet: parsed.quiet
})

/**
 * Runs one curriculum with the given flags and prints its table.
 *
 * @since 0.1.0
 * @category running
 */
export const runAndReport = <E, R>(spec: RunSpec<E, R>, args: RunArgs) =>
  Effect.gen(function*() {
    const result = yield* runOne(spec, args)
    if (args.quiet) return
    if (result.report.records.length === 0) process.stdout.write(`nothing to run: already at step ${args.steps}\n`)
    process.stdout.write(`\n${summaryTable([result])}\n`)
    if (result.report.out !== undefined) process.stdout.write(`metrics: ${result.report.out}/metrics.jsonl\n`)
  })

/**
 * `zpd run <curriculum>`.
 *
 * @since 0.1.0
 * @category commands
 */
export const run = Command.make(
  "run",
  {
    curriculum: Args.text({ name: "curriculum" }).pipe(
      Args.withDescription(
        `The curriculum to train with: ${
          Curricula.names.join(", ")
        }, or a curriculum expression such as "adacurl.gate > sec(arms=bucket)".`
      )
    ),
    ...runOptions(100)
  },
  ({ curriculum, ...flags }) =>
    Effect.gen(function*() {
      const entry = yield* Curricula.lookup(curriculum)
      yield* runAndReport(entry, toRunArgs(flags))
    })
).pipe(Command.withDescription("Train with a curriculum on the simulated learner and write a run directory."))

/**
 * The repository's benchmark (`bench/lib/bench.ts`), loaded when `zpd bench`
 * or `zpd report` runs. The bench lives in the zpd repository, not in a
 * published package, so these two subcommands work from a checkout of the
 * repository (`npx zpd bench`); the import is dynamic so that `zpd run` never
 * loads it (and the bench, which runs `@zpd/cli`'s curricula, imports no cycle).
 */
const repositoryBench = Effect.promise(() => import("../../../bench/lib/bench.ts"))

const benchText = (flag: string, pseudo: string, description: string) =>
  Options.text(flag).pipe(Options.withPseudoName(pseudo), Options.withDescription(description), Options.optional)

/**
 * `zpd bench`: the repository's curriculum benchmark (the same run as
 * `npm run bench:curricula`): every contender × regime × seed × budget on the
 * simulated learner, in `--jobs` worker processes, resumable, then
 * `OUT/report.html` and `OUT/report.md`.
 *
 * @since 0.2.0
 * @category commands
 */
export const bench = Command.make(
  "bench",
  {
    quick: Options.boolean("quick").pipe(
      Options.withDescription(
        "About 1 minute: regime default, 2 seeds, budgets 30 and 60 steps (out: runs/bench-quick)."
      )
    ),
    jobs: benchText("jobs", "N", "Parallel worker processes (default: the machine's cores)."),
    out: benchText("out", "DIR", "Benchmark directory; finished runs in it are not redone (default runs/bench)."),
    seeds: benchText("seeds", "1,2,3", "Seeds (default 1,2,3,4,5)."),
    budgets: benchText("budgets", "100,200", "Step budgets the table reads (default 100,200)."),
    regimes: benchText(
      "regimes",
      "default,hard",
      `Regimes: some of ${Regimes.names.join(", ")} (default default,hard).`
    ),
    curricula: benchText("curricula", "a,b", "Contenders (default: every one; see bench/lib/contenders.ts)."),
    target: benchText(
      "target",
      "X",
      "Target acc_ood for the cost-to-target columns (default: random's final accuracy)."
    )
  },
  (flags) =>
    Effect.gen(function*() {
      const lib = yield* repositoryBench
      const options = lib.fromFlags({
        quick: flags.quick,
        jobs: Option.getOrUndefined(flags.jobs),
        out: Option.getOrUndefined(flags.out),
        seeds: Option.getOrUndefined(flags.seeds),
        budgets: Option.getOrUndefined(flags.budgets),
        regimes: Option.getOrUndefined(flags.regimes),
        curricula: Option.getOrUndefined(flags.curricula),
        target: Option.getOrUndefined(flags.target)
      })
      if (typeof options === "string") return yield* Effect.fail(new Error(options))
      const command = ["zpd", ...process.argv.slice(process.argv.indexOf("bench"))].join(" ")
      const { report, result } = yield* lib.runBench({ ...options, command })
      process.stdout.write(`\n${report.built.markdown}\n`)
      process.stdout.write(
        `${result.ran.length} runs, ${result.skipped.length} already complete, ${result.failed.length} failed, ` +
          `${(result.wallMs / 1000).toFixed(0)} s\nreport: ${report.htmlPath}\n`
      )
      if (result.failed.length > 0) return yield* Effect.fail(new Error(`${result.failed.length} runs failed`))
    })
).pipe(Command.withDescription(
  "Run the repository's curriculum benchmark on the simulated learner and write report.html and report.md."
))

/**
 * `zpd report RUN_DIR...`: `report.html` (self-contained) and `report.md` from
 * any run directories (searched recursively for `metrics.jsonl`), the same
 * report `zpd bench` writes (as `npm run report`).
 *
 * @since 0.2.0
 * @category commands
 */
export const report = Command.make(
  "report",
  {
    paths: Args.text({ name: "RUN_DIR" }).pipe(
      Args.withDescription("Run directories (searched recursively for metrics.jsonl)."),
      Args.atLeast(1)
    ),
    out: benchText("out", "DIR", "Where report.html and report.md go (default: the first RUN_DIR)."),
    target: Options.float("target").pipe(
      Options.withPseudoName("X"),
      Options.withDescription("Target acc_ood for the cost-to-target columns (default: random's final accuracy)."),
      Options.optional
    ),
    title: benchText("title", "TEXT", "The report's title.")
  },
  ({ out, paths, target, title }) =>
    Effect.gen(function*() {
      const lib = yield* repositoryBench
      const { built, htmlPath } = yield* lib.reportCommand({
        paths,
        out: Option.getOrElse(out, () => paths[0]),
        ...Option.match(target, { onNone: () => ({}), onSome: (t) => ({ target: t }) }),
        ...Option.match(title, { onNone: () => ({}), onSome: (t) => ({ title: t }) })
      })
      process.stdout.write(`${built.markdown}\nreport: ${htmlPath}\n`)
    })
).pipe(
  Command.withDescription("Build report.html and report.md from run directories (bench, examples or real-model runs).")
)

/**
 * The subcommands of `zpd` (`serve`: `Serve.ts`).
 *
 * @since 0.1.0
 * @category commands
 */
export const subcommands = [run, bench, report, Serve.command] as const

/**
 * The `zpd` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const zpd = Command.make("zpd").pipe(
  Command.withDescription("zpd: curriculum reinforcement learning for LLMs, as code."),
  Command.withSubcommands(subcommands)
)

/**
 * A command with the run flags for an example: `handler` gets the parsed
 * {@link RunArgs}.
 *
 * @since 0.1.0
 * @category commands
 */
export const example = <E, R>(
  name: string,
  defaultSteps: number,
  description: string,
  handler: (args: RunArgs) => Effect.Effect<void, E, R>
) =>
  Command.make(name, runOptions(defaultSteps), (flags) => handler(toRunArgs(flags))).pipe(
    Command.withDescription(description)
  )

/**
 * Refuses, before parsing, a flag given twice (`--steps 5 --steps 6` would
 * otherwise be reported as an unknown argument), a `--flag=` with an empty
 * value, and a bad number (reported with its flag, which `@effect/cli`'s own
 * message omits). Returns the message, or `undefined` when the flags are fine.
 *
 * @since 0.1.0
 * @category parsing
 */
export const precheck = (argv: ReadonlyArray<string>): string | undefined => {
  const seen = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === "--") break
    if (!token.startsWith("--")) continue
    const eq = token.indexOf("=")
    const flag = eq < 0 ? token : token.slice(0, eq)
    if (eq >= 0 && token.slice(eq + 1).trim().length === 0) return `${flag}: expected a value after "=", got nothing`
    if (eq >= 0 && booleanFlags.includes(flag.slice(2)) && !["true", "false"].includes(token.slice(eq + 1))) {
      return `${flag}: a switch; expected ${flag} alone (or =true / =false), got ${JSON.stringify(token.slice(eq + 1))}`
    }
    if (seen.has(flag)) return `${flag}: given more than once (give each flag at most once)`
    seen.add(flag)
    const value = eq >= 0 ? token.slice(eq + 1) : argv[i + 1]
    if (Object.hasOwn(integerFlags, flag.slice(2)) && (value === undefined || value.startsWith("--"))) {
      return `${flag}: expected a value (an integer) after the flag, got ${value === undefined ? "nothing" : value}`
    }
    const bad = value === undefined ? undefined : badInteger(flag.slice(2), value)
    if (bad !== undefined) return bad
  }
  return undefined
}

/** Config fields and the flags that set them, so an error names what the user typed. */
const flagOf: Record<string, string> = {
  steps: "--steps",
  seed: "--seed",
  out: "--out",
  batchSize: "--batch-size",
  groupSize: "--group-size",
  checkpointEvery: "--checkpoint-every",
  curriculum: "<curriculum>"
}

const describe = (error: unknown): string => {
  const e = error as { readonly _tag?: string; readonly field?: string; readonly message?: string }
  const field = e.field?.startsWith("curriculum") ? "curriculum" : e.field
  const flag = e._tag === "ConfigError" && field !== undefined ? flagOf[field] : undefined
  const message = e.message ?? String(error)
  return flag === undefined ? message : `${flag}: ${message}`
}

/**
 * Runs `command` on `argv` (as `process.argv`) with the Node platform
 * (also under Deno): validation errors exit 2 (`@effect/cli` has printed
 * them), run errors print `error: …` without a stack and exit 1.
 *
 * @since 0.1.0
 * @category running
 */
export const main = <Name extends string, R extends NodeContext.NodeContext, E, A>(
  command: Command.Command<Name, R, E, A>,
  name: string,
  argv: ReadonlyArray<string> = process.argv
): void => {
  const refused = precheck(argv.slice(2))
  if (refused !== undefined) {
    process.stderr.write(`error: ${refused}\n`)
    process.exitCode = 2
    return
  }
  const program = Command.run(command, { name, version })(argv).pipe(
    Effect.provide(NodeContext.layer)
  ) as Effect.Effect<void, unknown>
  Effect.runPromiseExit(program).then((exit) => {
    if (exit._tag === "Success") return
    const failure = exit.cause._tag === "Fail" ? Either.right(exit.cause.error) : Either.left(exit.cause)
    if (Either.isRight(failure) && ValidationError.isValidationError(failure.right)) {
      process.exitCode = 2
      return
    }
    process.stderr.write(`error: ${Either.isRight(failure) ? describe(failure.right) : String(failure.left)}\n`)
    process.exitCode = 1
  })
}
