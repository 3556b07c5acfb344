/**
 * One training run as the `zpd` command and the examples perform it: the
 * dataset (the built-in task suite, or `--data FILE.jsonl`), the simulated
 * learner, `Pipeline.run` with the run directory, a live progress line on
 * stderr, and the end-of-run summary table (DESIGN §7).
 *
 * @since 0.1.0
 */
import { Checkpoint, type Curriculum, Metrics, Pipeline, Problem, type Runtime, Stages } from "@zpd/core"
import { Regimes, type Simulated } from "@zpd/gpu-runtime"
import * as TensorBoard from "@zpd/report/TensorBoard"
import * as Effect from "effect/Effect"
import process from "node:process"
import { type Services, verifier } from "./Curricula.ts"
import { suiteFor, type TaskSuite } from "./Suite.ts"

/**
 * The parsed flags of `zpd run` (and of every example).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunArgs {
  readonly steps: number
  readonly seed: number | undefined
  readonly out: string | undefined
  readonly resume: string | undefined
  /** A JSONL dataset to train on instead of the built-in task suite. */
  readonly data: string | undefined
  readonly batchSize: number | undefined
  readonly groupSize: number | undefined
  readonly quiet: boolean
  readonly checkpointEvery: number | undefined
  readonly overwrite: boolean
  readonly allowRepeats: boolean
  readonly allowUnknownFields: boolean
  readonly maxPromptChars: number | undefined
  /** The simulated learner and task suite (`Regimes`); undefined = the spec's, else "default". */
  readonly regime: Regimes.Name | undefined
}

/**
 * Flags as they are when none is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultArgs = (steps: number): RunArgs => ({
  steps,
  seed: undefined,
  out: undefined,
  resume: undefined,
  data: undefined,
  batchSize: undefined,
  groupSize: undefined,
  quiet: false,
  checkpointEvery: undefined,
  overwrite: false,
  allowRepeats: false,
  allowUnknownFields: false,
  maxPromptChars: undefined,
  regime: undefined
})

/**
 * What to run: a curriculum plugin, optionally its own step pipeline and
 * loss, and the defaults of an example.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSpec<E, R> {
  readonly name: string
  readonly plugin: Curriculum.Plugin<E, R>
  /** Defaults to the standard GRPO step with sparse KL. */
  readonly pipeline?: Pipeline.Pipeline<unknown, E, Services>
  readonly batchSize?: number
  readonly groupSize?: number
  readonly loss?: Partial<Runtime.LossConfig>
  /** The benchmark regime: data suite and simulated learner (default `Regimes.defaultName`, "default"). */
  readonly regime?: Regimes.Name
  /** Overrides of the regime's simulator constants. */
  readonly simulator?: Partial<Simulated.SimulatorConfig> & Partial<Simulated.ConfigV1>
  /** Also score every eval set level by level, as `acc_<set>_level_<ℓ>` (default false). */
  readonly evalByLevel?: boolean
  /** Write TensorBoard event files beside `metrics.jsonl` when the run has a directory (default true). */
  readonly tensorboard?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunResult {
  readonly name: string
  readonly report: Pipeline.Report
}

/**
 * The progress printer: every step on a terminal (one rewritten line), every
 * tenth of the run otherwise.
 *
 * @since 0.1.0
 * @category printing
 */
export const progressPrinter = (quiet: boolean, steps: number, stderr: NodeJS.WriteStream = process.stderr) => {
  const tty = stderr.isTTY === true
  const every = Math.max(1, Math.floor(steps / 10))
  return (line: string, event: Pipeline.StepEvent) => {
    if (quiet) return
    if (tty) stderr.write(`\r\x1b[2K${line}${event.step === steps ? "\n" : ""}`)
    else if (event.step % every === 0 || event.step === steps) stderr.write(line + "\n")
  }
}

/** A JSONL dataset as a suite: trained on and evaluated in-distribution; no OOD set. */
const jsonlSuite = (file: string, args: RunArgs) =>
  Effect.map(
    Problem.fromJsonl(file, {
      allowUnknownFields: args.allowUnknownFields,
      ...(args.maxPromptChars === undefined ? {} : { maxPromptChars: args.maxPromptChars })
    }),
    (train): TaskSuite => ({
      train,
      test: train,
      ood: Problem.make("none", []),
      evalSets: { id: train.problems },
      all: train.problems
    })
  )

const evalSets = (suite: TaskSuite, byLevel: boolean) => {
  const sets = Object.entries(suite.evalSets).filter(([, ps]) => ps.length > 0)
  const levels = byLevel
    ? sets.filter(([name]) => name === "id" || name === "ood").flatMap(([name, problems]) =>
      Array.from(new Set(problems.map((p) => p.level))).sort((a, b) => a - b).map((level) =>
        [`${name}_level_${level}`, problems.filter((p) => p.level === level)] as const
      )
    )
    : []
  return Object.fromEntries([...sets, ...levels])
}

/**
 * Runs one curriculum under a fresh simulated learner and returns its report.
 * On `--resume` without `--seed`, the checkpoint's seed is used.
 *
 * @since 0.1.0
 * @category running
 */
export const runOne = <E, R>(spec: RunSpec<E, R>, args: RunArgs, suite?: TaskSuite) =>
  Effect.gen(function*() {
    let seed = args.seed
    if (seed === undefined && args.resume !== undefined) seed = (yield* Checkpoint.read(args.resume)).identity.seed
    const regime = args.regime ?? spec.regime ?? Regimes.defaultName
    const data = args.data === undefined ? suite ?? suiteFor(regime, seed ?? 1) : yield* jsonlSuite(args.data, args)
    const base = spec.pipeline ?? Pipeline.make(spec.name, Stages.standard({ verifier, kl: "sparse" }))
    const dir = args.out ?? args.resume
    const pipeline = dir === undefined || spec.tensorboard === false
      ? base
      : Pipeline.withHooks(base, yield* TensorBoard.hook(dir))
    const report = yield* Pipeline.run(pipeline, spec.plugin, {
      dataset: data.train,
      seed: seed ?? 1,
      steps: args.steps,
      batchSize: args.batchSize ?? spec.batchSize ?? 64,
      groupSize: args.groupSize ?? spec.groupSize ?? 8,
      loss: spec.loss ?? {},
      eval: { sets: evalSets(data, spec.evalByLevel ?? false), every: 10 },
      allowRepeats: args.allowRepeats,
      overwrite: args.overwrite,
      ...(args.checkpointEvery === undefined ? {} : { checkpointEvery: args.checkpointEvery }),
      ...(args.out === undefined ? {} : { out: args.out }),
      ...(args.resume === undefined ? {} : { resume: args.resume }),
      onProgress: progressPrinter(args.quiet, args.steps)
    }).pipe(Effect.provide(Regimes.layer(regime, data.all, seed ?? 1, spec.simulator)))
    return { name: spec.name, report } satisfies RunResult
  })

const fmt = (x: number | undefined, digits = 3) => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : "-")

/**
 * The end-of-run table: one row per run. `rollouts` is every rollout charged
 * (`Metrics.rolloutsCharged`: step rollouts plus one-off estimation). Accuracies are the last evaluation
 * (the final one when the last step is not an evaluation step).
 *
 * @since 0.1.0
 * @category printing
 */
export const summaryTable = (results: ReadonlyArray<RunResult>): string =>
  Metrics.table(
    [
      "curriculum",
      "steps",
      "rollouts",
      "frac_reward_zero_std",
      "pass_rate_mean",
      "difficulty first→last 10",
      "acc_id",
      "acc_ood"
    ],
    results.map(({ name, report }) => {
      const r = report.records
      const acc = (key: string) => report.final?.[key] ?? Metrics.lastOf(r, key)
      return [
        name,
        String(r.length),
        String(Metrics.rolloutsCharged(r)),
        fmt(Metrics.meanOf(r, "frac_reward_zero_std")),
        fmt(Metrics.meanOf(r, "pass_rate_mean")),
        `${fmt(Metrics.meanOf(r.slice(0, 10), "sampled_difficulty_mean"), 2)} → ${
          fmt(Metrics.meanOf(r.slice(-10), "sampled_difficulty_mean"), 2)
        }`,
        fmt(acc("acc_id")),
        fmt(acc("acc_ood"))
      ]
    })
  )
