/**
 * Pipelines and the step loop. A pipeline is a composed step {@link Stage}
 * plus hooks; `Pipeline.stream` runs it as a `Stream` of step events, and
 * `Pipeline.run` adds the run directory: `metrics.jsonl`, `timings.jsonl`,
 * atomic checkpoints, resume, and a progress line.
 *
 * **Example**
 * ```ts
 * const pipeline = Pipeline.make("sec", Stages.standard({ verifier }))
 * const report = yield* Pipeline.run(pipeline, Sec.plugin({ temperature: 1 }), {
 *   dataset, seed: 1, steps: 100, batchSize: 64, groupSize: 8, out: "runs/sec"
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystemT from "@effect/platform/FileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Checkpoint from "./Checkpoint.ts"
import type { Curriculum, Plugin } from "./Curriculum.ts"
import { CheckpointError, ConfigError, requireConfig, type RuntimeError } from "./Errors.ts"
import type { Hook, StepEnd } from "./Hook.ts"
import * as Metrics from "./Metrics.ts"
import type { Dataset, Problem } from "./Problem.ts"
import { defaultSampling, Evaluator, type LossConfig, type SamplingParams, TrainerRuntime } from "./Runtime.ts"
import type { Stage } from "./Stage.ts"
import type { StepInput, StepSettings } from "./Stages.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Pipeline<Out, E, R> {
  readonly name: string
  readonly step: Stage<StepInput, Out, E, R>
  readonly hooks: ReadonlyArray<Hook<E, R>>
}

/**
 * A pipeline from a step whose first stage needs only {@link StepInput}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Out, E, R, HE = never, HR = never>(
  name: string,
  step: Stage<StepInput, Out, E, R>,
  hooks: ReadonlyArray<Hook<HE, HR>> = []
): Pipeline<Out, E | HE, R | HR> => ({ name, step, hooks })

/**
 * Adds hooks that run after every step (after the plugin's own hooks).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withHooks = <Out, E, R, HE, HR>(
  self: Pipeline<Out, E, R>,
  ...hooks: ReadonlyArray<Hook<HE, HR>>
): Pipeline<Out, E | HE, R | HR> => ({ ...self, hooks: [...self.hooks, ...hooks] })

/**
 * Held-out sets scored by the {@link Evaluator} every `every` steps, as
 * metrics `acc_<name>`. A line of `metrics.jsonl` never depends on the run's
 * step budget, so a resumed or extended run writes exactly the uninterrupted
 * run's lines; the score at a last step that is not a multiple of `every`
 * goes to {@link Report.final} instead.
 *
 * @since 0.1.0
 * @category models
 */
export interface EvalOptions {
  readonly sets: Readonly<Record<string, ReadonlyArray<Problem>>>
  readonly every: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  readonly dataset: Dataset
  readonly seed: number
  /** Run until this step (inclusive). */
  readonly steps: number
  /** Stop early after the first step whose record satisfies this. */
  readonly until?: (record: Metrics.StepRecord) => boolean
  readonly batchSize: number
  readonly groupSize: number
  /**
   * Allow a batch larger than the dataset (then a batch repeats problems, or a
   * curriculum may return fewer). Default `false`: such a run is refused with a
   * {@link ConfigError} naming `batchSize`, whatever the curriculum [R].
   */
  readonly allowRepeats?: boolean
  readonly sampling?: Partial<SamplingParams>
  readonly loss?: Partial<LossConfig>
  readonly eval?: EvalOptions
}

/**
 * A completed step as the stream emits it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepEvent extends StepEnd {
  readonly timings: ReadonlyMap<string, number>
}

/**
 * Defaults of the loss: β = 0 (SEC and PCL train without KL), clip 0.2,
 * token-mean aggregation (verl).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLoss: LossConfig = { klCoef: 0, clip: 0.2, aggregation: "token-mean" }

const validate = (options: StreamOptions): Effect.Effect<void, ConfigError> => {
  const size = options.dataset.problems.length
  const problems = [
    requireConfig(Number.isInteger(options.steps) && options.steps >= 0, "steps", "an integer ≥ 0", options.steps),
    requireConfig(Number.isInteger(options.seed), "seed", "an integer", options.seed),
    requireConfig(
      Number.isInteger(options.batchSize) && options.batchSize >= 1,
      "batchSize",
      "an integer ≥ 1",
      options.batchSize
    ),
    requireConfig(
      Number.isInteger(options.groupSize) && options.groupSize >= 1,
      "groupSize",
      "an integer ≥ 1",
      options.groupSize
    ),
    requireConfig(size > 0, "dataset", "at least one problem", 0),
    requireConfig(
      options.allowRepeats === true || options.batchSize <= size,
      "batchSize",
      `at most the dataset's ${size} problems (or allow repeats: --allow-repeats / allowRepeats)`,
      options.batchSize
    ),
    options.eval === undefined
      ? undefined
      : requireConfig(
        Number.isInteger(options.eval.every) && options.eval.every >= 1,
        "eval.every",
        "an integer ≥ 1",
        options.eval.every
      )
  ].find((e) => e !== undefined)
  return problems === undefined ? Effect.void : Effect.fail(problems)
}

/**
 * The content hash of a dataset: SHA-256 over its problems in order (ids,
 * prompts, answers, levels, families, metadata), independent of its path.
 *
 * @since 0.1.0
 * @category hashing
 */
export const datasetHash = (dataset: Dataset): Effect.Effect<string> =>
  Checkpoint.sha256(dataset.problems.map((p) => JSON.stringify(p)).join("\n"))

/**
 * The identity a checkpoint of this run carries. The curriculum is known by
 * `plugin.identity` (the canonical JSON of its composition and options) when
 * the plugin has one, else by its name.
 *
 * @since 0.1.0
 * @category checkpoints
 */
export const identity = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: StreamOptions
): Effect.Effect<Checkpoint.Identity> =>
  Effect.map(datasetHash(options.dataset), (hash) => {
    const own = (plugin as { readonly identity?: unknown }).identity
    return {
      seed: options.seed,
      curriculum: typeof own === "string" ? own : JSON.stringify({ plugin: plugin.name }),
      pipeline: pipeline.name,
      dataset: { name: options.dataset.name, size: options.dataset.problems.length, hash },
      batchSize: options.batchSize,
      groupSize: options.groupSize,
      settings: JSON.stringify({
        sampling: { ...defaultSampling, ...options.sampling },
        loss: { ...defaultLoss, ...options.loss },
        eval: options.eval === undefined
          ? null
          : {
            every: options.eval.every,
            sets: Object.fromEntries(Object.entries(options.eval.sets).map(([k, v]) => [k, v.length]))
          },
        allowRepeats: options.allowRepeats === true
      })
    }
  })

/** Fails with the first field in which `actual` differs from the checkpoint's identity. */
const checkIdentity = (
  from: Checkpoint.Identity,
  actual: Checkpoint.Identity
): Effect.Effect<void, ConfigError> => {
  const fields: ReadonlyArray<readonly [string, unknown, unknown, string]> = [
    ["seed", from.seed, actual.seed, "the checkpoint's seed"],
    ["curriculum", from.curriculum, actual.curriculum, "the checkpoint's curriculum"],
    ["pipeline", from.pipeline, actual.pipeline, "the checkpoint's pipeline"],
    ["dataset", from.dataset.size, actual.dataset.size, "the checkpoint's dataset size"],
    [
      "dataset",
      from.dataset.hash,
      actual.dataset.hash,
      `the content of the checkpoint's dataset "${from.dataset.name}" (sha256)`
    ],
    ["batchSize", from.batchSize, actual.batchSize, "the checkpoint's batch size"],
    ["groupSize", from.groupSize, actual.groupSize, "the checkpoint's group size"],
    ["settings", from.settings, actual.settings, "the checkpoint's sampling, loss and eval settings"]
  ]
  for (const [field, expected, got, what] of fields) {
    if (expected !== got) {
      return Effect.fail(
        new ConfigError({
          field,
          expected: `${what} ${JSON.stringify(expected)} to resume`,
          actual: JSON.stringify(got)
        })
      )
    }
  }
  return Effect.void
}

const pastTheEnd = (step: number, steps: number) =>
  Effect.fail(
    new ConfigError({
      field: "steps",
      expected: `at least the checkpoint's step ${step} (the checkpoint is past the requested end)`,
      actual: String(steps)
    })
  )

interface Loop<E, R> {
  readonly curriculum: Curriculum
  readonly identity: Checkpoint.Identity
  readonly firstStep: number
  readonly runStep: (step: number) => Effect.Effect<StepEvent, E, R>
  readonly evaluate: (metrics: Metrics.Sink) => Effect.Effect<void, RuntimeError>
  readonly checkpoint: (step: number, metricsDigest: string) => Effect.Effect<Checkpoint.Checkpoint, RuntimeError>
}

const startLoop = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: StreamOptions,
  from: Checkpoint.Checkpoint | undefined
): Effect.Effect<Loop<E | PE | RuntimeError, R | PR>, PE | ConfigError | CheckpointError | RuntimeError, PR> =>
  Effect.gen(function*() {
    yield* validate(options)
    const runIdentity = yield* identity(pipeline, plugin, options)
    if (from !== undefined) {
      yield* checkIdentity(from.identity, runIdentity)
      if (from.step > options.steps) return yield* pastTheEnd(from.step, options.steps)
    }
    const settings: StepSettings = {
      batchSize: options.batchSize,
      groupSize: options.groupSize,
      sampling: { ...defaultSampling, ...options.sampling },
      loss: { ...defaultLoss, ...options.loss }
    }
    const curriculum = yield* plugin.build({
      dataset: options.dataset,
      seed: options.seed,
      steps: options.steps,
      batchSize: options.batchSize,
      groupSize: options.groupSize,
      resuming: from !== undefined
    })
    let firstStep = 1
    if (from !== undefined) {
      yield* curriculum.restore(from.curriculum)
      const trainer = yield* Effect.serviceOption(TrainerRuntime)
      if (Option.isSome(trainer) && from.trainer !== null) yield* trainer.value.restore(from.trainer)
      firstStep = from.step + 1
    }
    const hooks = [...plugin.hooks, ...pipeline.hooks]
    const evaluate = (metrics: Metrics.Sink) =>
      Effect.gen(function*() {
        const evaluator = yield* Effect.serviceOption(Evaluator)
        if (options.eval === undefined || Option.isNone(evaluator)) return
        for (const [name, problems] of Object.entries(options.eval.sets)) {
          metrics.set(`acc_${name}`, yield* evaluator.value.accuracy(problems))
        }
      })
    const runStep = (step: number) =>
      Effect.gen(function*() {
        const metrics = new Metrics.Sink()
        const start = yield* Clock.currentTimeNanos
        const input: StepInput = { step, seed: options.seed, dataset: options.dataset, curriculum, settings, metrics }
        const out = yield* pipeline.step.run(input)
        if (options.eval !== undefined && step % options.eval.every === 0) yield* evaluate(metrics)
        const events = (out as { readonly events?: StepEnd["events"] }).events ?? []
        const end: StepEnd = { step, record: metrics.record(step), events }
        for (const hook of hooks) yield* hook.onStepEnd(end)
        metrics.time("step_ms", Number((yield* Clock.currentTimeNanos) - start) / 1e6)
        return { ...end, timings: metrics.timings }
      })
    const checkpoint = (step: number, metricsDigest: string) =>
      Effect.gen(function*() {
        const trainer = yield* Effect.serviceOption(TrainerRuntime)
        const trainerState = Option.isSome(trainer) ? yield* trainer.value.checkpoint(`step-${step}`) : null
        return {
          format: Checkpoint.format,
          step,
          identity: runIdentity,
          metrics: metricsDigest,
          curriculum: curriculum.snapshot(),
          trainer: trainerState
        }
      })
    return { curriculum, identity: runIdentity, firstStep, runStep, evaluate, checkpoint }
  })

/** The one step loop: a stream pulling `loop.runStep` from the first step to the budget or `until`. */
const steps = <E, R>(loop: Loop<E, R>, options: StreamOptions): Stream.Stream<StepEvent, E, R> =>
  Stream.paginateEffect(loop.firstStep, (step) =>
    step > options.steps
      ? Effect.succeed([undefined, Option.none()] as const)
      : Effect.map(loop.runStep(step), (event) =>
        [
          event,
          step < options.steps && !(options.until?.(event.record) ?? false) ? Option.some(step + 1) : Option.none()
        ] as const)).pipe(Stream.filter((e): e is StepEvent => e !== undefined))

/**
 * The step loop as a stream of step events. Each pull runs one step: the
 * stages, the evaluation (every `eval.every` steps), then the hooks. Resumes
 * after `from` when given, after checking the run's identity against it.
 *
 * @since 0.1.0
 * @category running
 */
export const stream = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: StreamOptions & { readonly from?: Checkpoint.Checkpoint }
): Stream.Stream<StepEvent, E | PE | ConfigError | CheckpointError | RuntimeError, R | PR> =>
  Stream.unwrap(Effect.map(startLoop(pipeline, plugin, options, options.from), (loop) => steps(loop, options)))

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends StreamOptions {
  /** Run directory: `metrics.jsonl`, `timings.jsonl`, `checkpoint/state.json`. */
  readonly out?: string
  /** Resume from this run directory's checkpoint (writes to `out`, default the same directory). */
  readonly resume?: string
  /** Checkpoint every N steps (and always after the last step). 0 = only at the end. Default 10 [R]. */
  readonly checkpointEvery?: number
  /**
   * A fresh run into a directory that holds a checkpoint is refused unless
   * this is set; then the old checkpoint, metrics and timings are removed
   * once the run's options are validated, before the first step. Default `false`.
   */
  readonly overwrite?: boolean
  /** Receives the progress line after every step. */
  readonly onProgress?: (line: string, event: StepEvent) => void
}

/**
 * What a finished run returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly pipeline: string
  readonly curriculum: string
  readonly records: ReadonlyArray<Metrics.StepRecord>
  /**
   * The evaluation at the last step when that step is not a multiple of
   * `eval.every` (it is not written to `metrics.jsonl`, see {@link EvalOptions}).
   */
  readonly final: Metrics.StepRecord | undefined
  readonly resumedFrom: number | undefined
  readonly out: string | undefined
}

const outError = (expected: string, actual: string) => new ConfigError({ field: "out", expected, actual })

/** Checks the run directory before anything is written: a directory (or nothing), free unless overwriting. */
const prepareOut = (out: string, fresh: boolean, overwrite: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (out.trim().length === 0) return yield* outError("a directory path", JSON.stringify(out))
    const info = yield* fs.stat(out).pipe(Effect.option)
    const usable = Effect.mapError((e: PlatformError) => outError("a usable directory", e.message))
    if (Option.isSome(info) && info.value.type !== "Directory") {
      return yield* outError("a directory (or a path to create one at)", `${out} is a ${info.value.type.toLowerCase()}`)
    }
    const held = yield* fs.exists(Checkpoint.fileIn(out)).pipe(usable)
    if (fresh && held) {
      if (!overwrite) {
        return yield* outError(
          "a directory without a checkpoint (resume it with --resume, or pass --overwrite to start over)",
          `${JSON.stringify(out)}, which holds an earlier run's checkpoint`
        )
      }
    }
    yield* fs.makeDirectory(out, { recursive: true }).pipe(
      Effect.mapError((e) => outError("a directory zpd can create and write", `${JSON.stringify(out)}: ${e.message}`))
    )
    return { clearOld: fresh && held }
  })

/** Removes an earlier run's checkpoint (first, so it can never be resumed again), metrics and timings. */
const clearRun = (out: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    for (const path of [`${out}/checkpoint`, `${out}/metrics.jsonl`, `${out}/timings.jsonl`]) {
      yield* fs.remove(path, { recursive: true }).pipe(
        Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.void),
        Effect.mapError((e) => outError("a directory whose earlier run zpd can remove (--overwrite)", e.message))
      )
    }
  })

/**
 * The lines of steps 1..k of a run's `metrics.jsonl`, checked against the
 * checkpoint's digest: a missing file, a missing step, or lines from another
 * run fail with a {@link CheckpointError} naming the file.
 */
const metricsUpTo = (dir: string, from: Checkpoint.Checkpoint) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = `${dir}/metrics.jsonl`
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(() =>
        new CheckpointError({
          path,
          reason: `missing; the checkpoint at step ${from.step} needs its lines 1..${from.step}`
        })
      )
    )
    const lines = text.split("\n").filter((l) => l.trim().length > 0)
    const kept: Array<string> = []
    let digest = ""
    for (let step = 1; step <= from.step; step++) {
      const line = lines[step - 1]
      const parsed = line === undefined ? undefined : parseStep(line)
      if (parsed !== step) {
        return yield* new CheckpointError({
          path,
          reason: `line ${step} should hold step ${step} of the checkpointed run (found ${
            line === undefined ? "end of file" : parsed === undefined ? "an unreadable line" : `step ${parsed}`
          }); the file is short or belongs to another run`
        })
      }
      kept.push(`${line}\n`)
      digest = yield* Checkpoint.chainDigest(digest, `${line}\n`)
    }
    if (digest !== from.metrics) {
      return yield* new CheckpointError({
        path,
        reason: `lines 1..${from.step} do not match the checkpoint's digest (another run wrote into this directory)`
      })
    }
    return { lines: kept, digest }
  })

const parseStep = (line: string): number | undefined => {
  try {
    const step = (JSON.parse(line) as { step?: unknown }).step
    return typeof step === "number" ? step : undefined
  } catch {
    return undefined
  }
}

/** `timings.jsonl` lines up to `step` (wall-clock only, so a missing or torn file is tolerated). */
const timingsUpTo = (dir: string, step: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(`${dir}/timings.jsonl`).pipe(Effect.orElseSucceed(() => ""))
    return text.split("\n").filter((l) => {
      const s = l.trim().length === 0 ? undefined : parseStep(l)
      return s !== undefined && s <= step
    }).map((l) => `${l}\n`).join("")
  })

/**
 * Runs the pipeline to completion by consuming {@link stream}, writing the run
 * directory when `out` (or `resume`) is set: `metrics.jsonl`,
 * `timings.jsonl`, and a checkpoint every `checkpointEvery` steps and at the
 * end. A resume checks the checkpoint's identity, its step against `steps`,
 * and that the directory's metrics are the checkpointed run's own; metrics
 * after the checkpoint's step are discarded, so the directory ends up exactly
 * as an uninterrupted run's.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: RunOptions
): Effect.Effect<
  Report,
  E | PE | ConfigError | CheckpointError | RuntimeError,
  R | PR | FileSystemT.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const out = options.out ?? options.resume
    const every = options.checkpointEvery ?? 10
    if (!Number.isInteger(every) || every < 0) {
      return yield* new ConfigError({ field: "checkpointEvery", expected: "an integer ≥ 0", actual: String(every) })
    }
    const prepared = out === undefined
      ? { clearOld: false }
      : yield* prepareOut(out, options.resume === undefined || out !== options.resume, options.overwrite === true)
    const from = options.resume === undefined ? undefined : yield* Checkpoint.read(options.resume)
    if (from !== undefined && from.step > options.steps) return yield* pastTheEnd(from.step, options.steps)
    const previous = from === undefined || options.resume === undefined
      ? { lines: [] as Array<string>, digest: "" }
      : yield* metricsUpTo(options.resume, from)
    const loop = yield* startLoop(pipeline, plugin, options, from)
    const records: Array<Metrics.StepRecord> = previous.lines.map((l) => JSON.parse(l))
    let digest = previous.digest
    if (out !== undefined) {
      if (prepared.clearOld) yield* clearRun(out)
      yield* Checkpoint.writeAtomic(`${out}/metrics.jsonl`, previous.lines.join(""))
      yield* Checkpoint.writeAtomic(
        `${out}/timings.jsonl`,
        from === undefined || options.resume === undefined ? "" : yield* timingsUpTo(options.resume, from.step)
      )
    }
    const append = (file: string, line: string) =>
      fs.writeFileString(`${out}/${file}`, line, { flag: "a" }).pipe(
        Effect.mapError((e) => outError("a writable run directory", e.message))
      )
    let last: StepEvent | undefined
    yield* Stream.runForEach(steps(loop, options), (event) =>
      Effect.gen(function*() {
        last = event
        records.push(event.record)
        const line = Metrics.toJsonLine(event.record)
        digest = yield* Checkpoint.chainDigest(digest, line)
        if (out !== undefined) {
          yield* append("metrics.jsonl", line)
          yield* append("timings.jsonl", Metrics.toJsonLine({ step: event.step, ...Object.fromEntries(event.timings) }))
        }
        const stop = event.step === options.steps || (options.until?.(event.record) ?? false)
        if (out !== undefined && (stop || (every > 0 && event.step % every === 0))) {
          yield* Checkpoint.write(out, yield* loop.checkpoint(event.step, digest))
        }
        options.onProgress?.(
          Metrics.progressLine(loop.curriculum.name, event.record, options.steps, event.timings),
          event
        )
      }))
    let final: Metrics.StepRecord | undefined
    if (last !== undefined && options.eval !== undefined && last.step % options.eval.every !== 0) {
      const metrics = new Metrics.Sink()
      yield* loop.evaluate(metrics)
      if (metrics.values.size > 0) final = metrics.record(last.step)
    }
    return {
      pipeline: pipeline.name,
      curriculum: loop.curriculum.name,
      records,
      final,
      resumedFrom: from?.step,
      out
    }
  })
