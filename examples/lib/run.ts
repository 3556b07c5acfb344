/**
 * The CLI contract shared by the examples (DESIGN §7):
 * `--steps N --seed S --out DIR --resume DIR` (+ `--batch-size`, `--group-size`,
 * `--quiet`). Writes `DIR/metrics.jsonl`, `DIR/timings.jsonl` and
 * `DIR/checkpoint/`, shows a live progress line on stderr and ends with a
 * summary table. Runs on the embedded simulated learner.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Regimes, type Simulated } from "@zpd/gpu-runtime"
import { Checkpoint, Cli, type Curriculum, type Errors, Metrics, Pipeline, Problem, type Runtime, Stages } from "@zpd/core"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import process from "node:process"
import { suiteFor, type TaskSuite } from "./tasks.ts"

export interface ExampleOptions<E, R> {
  readonly name: string
  readonly plugin: Curriculum.Plugin<E, R>
  /** Defaults to the standard GRPO step with sparse KL. */
  readonly pipeline?: Pipeline.Pipeline<
    unknown,
    Errors.ZpdError,
    Runtime.InferenceRuntime | Runtime.TrainerRuntime | Runtime.Evaluator
  >
  readonly steps?: number
  readonly batchSize?: number
  readonly groupSize?: number
  readonly loss?: Partial<Runtime.LossConfig>
  /** The benchmark regime: data suite and simulated learner (default `Regimes.defaultName`, "default"). */
  readonly regime?: Regimes.Name
  /** Overrides of the regime's simulator constants. */
  readonly simulator?: Partial<Simulated.SimulatorConfig> & Partial<Simulated.ConfigV1>
}

export const verifier = Tasks.verifier()

export const standardPipeline = (name: string, kl: "sparse" | "dense" = "sparse") =>
  Pipeline.make(name, Stages.standard({ verifier, kl }))

const progressPrinter = (quiet: boolean, steps: number) => {
  const tty = process.stderr.isTTY === true
  const every = Math.max(1, Math.floor(steps / 10))
  return (line: string, event: Pipeline.StepEvent) => {
    if (quiet) return
    if (tty) process.stderr.write(`\r\x1b[2K${line}${event.step === steps ? "\n" : ""}`)
    else if (event.step % every === 0 || event.step === steps) process.stderr.write(line + "\n")
  }
}

export interface ExampleResult {
  readonly name: string
  readonly report: Pipeline.Report
}

/** Runs one example under a fresh simulated learner and returns its report. */
export const runOne = <E, R>(options: ExampleOptions<E, R>, args: Cli.Args, suite?: TaskSuite) =>
  Effect.gen(function*() {
    let seed = args.seed
    if (seed === undefined && args.resume !== undefined) seed = (yield* Checkpoint.read(args.resume)).seed
    const regime = options.regime ?? Regimes.defaultName
    const data = args.data === undefined ? suite ?? suiteFor(regime, seed ?? 1) : yield* jsonlSuite(args.data)
    const pipeline = options.pipeline ?? standardPipeline(options.name)
    const report = yield* Pipeline.run(pipeline, options.plugin, {
      dataset: data.train,
      seed: seed ?? 1,
      steps: args.steps,
      batchSize: args.batchSize ?? options.batchSize ?? 64,
      groupSize: args.groupSize ?? options.groupSize ?? 8,
      loss: options.loss ?? {},
      eval: { sets: evalSets(data), every: 10 },
      ...(args.out === undefined ? {} : { out: args.out }),
      ...(args.resume === undefined ? {} : { resume: args.resume }),
      onProgress: progressPrinter(args.quiet, args.steps)
    }).pipe(Effect.provide(Regimes.layer(regime, data.all, seed ?? 1, options.simulator)))
    return { name: options.name, report } satisfies ExampleResult
  })

/** A JSONL dataset as a suite: trained on and evaluated in-distribution; no OOD set. */
const jsonlSuite = (file: string) =>
  Effect.map(Problem.fromJsonl(file), (train): TaskSuite => ({
    train,
    test: train,
    ood: Problem.make("none", []),
    evalSets: { id: train.problems },
    all: train.problems
  }))

const evalSets = (suite: TaskSuite) =>
  Object.fromEntries(Object.entries(suite.evalSets).filter(([, problems]) => problems.length > 0))

const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : "-")

/** The end-of-run table: one row per run. */
export const summaryTable = (results: ReadonlyArray<ExampleResult>): string =>
  Metrics.table(
    ["curriculum", "steps", "frac_reward_zero_std", "pass_rate_mean", "difficulty first→last 10", "acc_id", "acc_ood"],
    results.map(({ name, report }) => {
      const r = report.records
      return [
        name,
        String(r.length),
        fmt(Metrics.meanOf(r, "frac_reward_zero_std")),
        fmt(Metrics.meanOf(r, "pass_rate_mean")),
        `${fmt(Metrics.meanOf(r.slice(0, 10), "sampled_difficulty_mean"), 2)} → ${
          fmt(Metrics.meanOf(r.slice(-10), "sampled_difficulty_mean"), 2)
        }`,
        fmt(Metrics.lastOf(r, "acc_id")),
        fmt(Metrics.lastOf(r, "acc_ood"))
      ]
    })
  )

export const parseArgs = (defaultSteps: number): Cli.Args =>
  Either.getOrElse(Cli.parse(process.argv.slice(2), defaultSteps), (e) => {
    process.stderr.write(`${e.message}\n`)
    process.exit(2)
  })

/** Runs `program` with the Node/Deno platform layer; prints errors without a stack and exits 1. */
export const main = <A, E>(program: Effect.Effect<A, E, NodeContext.NodeContext>): void => {
  Effect.runPromiseExit(Effect.provide(program, NodeContext.layer)).then((exit) => {
    if (exit._tag === "Failure") {
      const failure = exit.cause._tag === "Fail" ? (exit.cause.error as { message?: string }) : undefined
      process.stderr.write(`error: ${failure?.message ?? String(exit.cause)}\n`)
      process.exitCode = 1
    }
  })
}

/** The whole CLI for a single-curriculum example. */
export const runExample = <E, R>(options: ExampleOptions<E, R>): void => {
  const args = parseArgs(options.steps ?? 100)
  main(Effect.gen(function*() {
    const result = yield* runOne(options, args)
    if (!args.quiet) process.stdout.write(`\n${summaryTable([result])}\n`)
    if (result.report.out !== undefined && !args.quiet) process.stdout.write(`metrics: ${result.report.out}/metrics.jsonl\n`)
  }) as Effect.Effect<void, unknown, NodeContext.NodeContext>)
}

