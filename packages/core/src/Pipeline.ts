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
import type * as FileSystemT from "@effect/platform/FileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Checkpoint from "./Checkpoint.ts"
import type { Curriculum, Plugin } from "./Curriculum.ts"
import { type CheckpointError, ConfigError, requireConfig, type RuntimeError } from "./Errors.ts"
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
 * Held-out sets scored by the {@link Evaluator} every `every` steps and at
 * the last step, as metrics `acc_<name>`.
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
    requireConfig(options.dataset.problems.length > 0, "dataset", "at least one problem", 0),
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

interface Loop<E, R> {
  readonly curriculum: Curriculum
  readonly firstStep: number
  readonly runStep: (step: number) => Effect.Effect<StepEvent, E, R>
  readonly checkpoint: (step: number) => Effect.Effect<Checkpoint.Checkpoint, RuntimeError>
}

const startLoop = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: StreamOptions,
  from: Checkpoint.Checkpoint | undefined
): Effect.Effect<Loop<E | PE | RuntimeError, R | PR>, PE | ConfigError | CheckpointError | RuntimeError, PR> =>
  Effect.gen(function*() {
    yield* validate(options)
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
    const runInfo = {
      curriculum: curriculum.name,
      dataset: options.dataset.name,
      datasetSize: options.dataset.problems.length,
      batchSize: options.batchSize,
      groupSize: options.groupSize
    }
    let firstStep = 1
    if (from !== undefined) {
      yield* checkResumable(from, options.seed, runInfo)
      yield* curriculum.restore(from.curriculum)
      const trainer = yield* Effect.serviceOption(TrainerRuntime)
      if (Option.isSome(trainer) && from.trainer !== null) yield* trainer.value.restore(from.trainer)
      firstStep = from.step + 1
    }
    const hooks = [...plugin.hooks, ...pipeline.hooks]
    const runStep = (step: number) =>
      Effect.gen(function*() {
        const metrics = new Metrics.Sink()
        const start = yield* Clock.currentTimeNanos
        const input: StepInput = { step, seed: options.seed, dataset: options.dataset, curriculum, settings, metrics }
        const out = yield* pipeline.step.run(input)
        if (options.eval !== undefined && (step % options.eval.every === 0 || step === options.steps)) {
          const evaluator = yield* Effect.serviceOption(Evaluator)
          if (Option.isSome(evaluator)) {
            for (const [name, problems] of Object.entries(options.eval.sets)) {
              metrics.set(`acc_${name}`, yield* evaluator.value.accuracy(problems))
            }
          }
        }
        const events = (out as { readonly events?: StepEnd["events"] }).events ?? []
        const end: StepEnd = { step, record: metrics.record(step), events }
        for (const hook of hooks) yield* hook.onStepEnd(end)
        metrics.time("step_ms", Number((yield* Clock.currentTimeNanos) - start) / 1e6)
        return { ...end, timings: metrics.timings }
      })
    const checkpoint = (step: number) =>
      Effect.gen(function*() {
        const trainer = yield* Effect.serviceOption(TrainerRuntime)
        const trainerState = Option.isSome(trainer) ? yield* trainer.value.checkpoint(`step-${step}`) : null
        return {
          format: "zpd-checkpoint/1" as const,
          step,
          seed: options.seed,
          run: runInfo,
          curriculum: curriculum.snapshot(),
          trainer: trainerState
        }
      })
    return { curriculum, firstStep, runStep, checkpoint }
  })

const checkResumable = (
  from: Checkpoint.Checkpoint,
  seed: number,
  run: Checkpoint.Checkpoint["run"]
): Effect.Effect<void, ConfigError> => {
  if (from.seed !== seed) {
    return Effect.fail(
      new ConfigError({ field: "seed", expected: `the checkpoint's seed ${from.seed}`, actual: String(seed) })
    )
  }
  for (const key of Object.keys(run) as Array<keyof typeof run>) {
    if (from.run[key] !== run[key]) {
      return Effect.fail(
        new ConfigError({
          field: key,
          expected: `the checkpoint's value ${JSON.stringify(from.run[key])} to resume`,
          actual: JSON.stringify(run[key])
        })
      )
    }
  }
  return Effect.void
}

/**
 * The step loop as a stream of step events. Each pull runs one step: the
 * stages, the evaluation, then the hooks. Resumes after `from` when given.
 *
 * @since 0.1.0
 * @category running
 */
export const stream = <Out, E, R, PE, PR>(
  pipeline: Pipeline<Out, E, R>,
  plugin: Plugin<PE, PR>,
  options: StreamOptions & { readonly from?: Checkpoint.Checkpoint }
): Stream.Stream<StepEvent, E | PE | ConfigError | CheckpointError | RuntimeError, R | PR> =>
  Stream.unwrap(
    Effect.map(startLoop(pipeline, plugin, options, options.from), (loop) =>
      Stream.paginateEffect(loop.firstStep, (step) =>
        step > options.steps
          ? Effect.succeed([undefined, Option.none()] as const)
          : Effect.map(loop.runStep(step), (event) =>
            [
              event,
              step < options.steps && !(options.until?.(event.record) ?? false) ? Option.some(step + 1) : Option.none()
            ] as const)).pipe(Stream.filter((e): e is StepEvent => e !== undefined)))
  )

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends StreamOptions {
  /** Run directory: `metrics.jsonl`, `timings.jsonl`, `checkpoint/state.json`. */
  readonly out?: string
  /** Resume from this run directory's checkpoint (writes to `out`, default the same directory). */
  readonly resume?: string
  /** Checkpoint every N steps (and always after the last step). 0 = only at the end. */
  readonly checkpointEvery?: number
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
  readonly resumedFrom: number | undefined
  readonly out: string | undefined
}

const keepUntil = (text: string, step: number): string =>
  text
    .split("\n")
    .filter((line) => {
      if (line.trim().length === 0) return false
      try {
        return (JSON.parse(line) as { step?: number }).step! <= step
      } catch {
        return false
      }
    })
    .map((line) => line + "\n")
    .join("")

/**
 * Runs the pipeline to completion, writing the run directory when `out` (or
 * `resume`) is set. On resume, metrics after the checkpoint's step are
 * discarded first, so the directory ends up exactly as an uninterrupted run's.
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
    const from = options.resume === undefined ? undefined : yield* Checkpoint.read(options.resume)
    const loop = yield* startLoop(pipeline, plugin, options, from)
    const records: Array<Metrics.StepRecord> = []
    if (out !== undefined) {
      let previous = ""
      let previousTimings = ""
      if (from !== undefined && options.resume !== undefined) {
        previous = yield* fs.readFileString(`${options.resume}/metrics.jsonl`).pipe(Effect.orElseSucceed(() => ""))
        previous = keepUntil(previous, from.step)
        previousTimings = yield* fs.readFileString(`${options.resume}/timings.jsonl`).pipe(
          Effect.orElseSucceed(() => "")
        )
        previousTimings = keepUntil(previousTimings, from.step)
        for (const line of previous.split("\n")) if (line.length > 0) records.push(JSON.parse(line))
      }
      yield* Checkpoint.writeAtomic(`${out}/metrics.jsonl`, previous)
      yield* Checkpoint.writeAtomic(`${out}/timings.jsonl`, previousTimings)
    }
    const every = options.checkpointEvery ?? 10
    const append = (file: string, line: string) =>
      fs.writeFileString(`${out}/${file}`, line, { flag: "a" }).pipe(
        Effect.mapError((e) => new ConfigError({ field: "out", expected: "a writable run directory", actual: e.message }))
      )
    let step = loop.firstStep
    while (step <= options.steps) {
      const event = yield* loop.runStep(step)
      records.push(event.record)
      if (out !== undefined) {
        yield* append("metrics.jsonl", Metrics.toJsonLine(event.record))
        yield* append("timings.jsonl", Metrics.toJsonLine({ step, ...Object.fromEntries(event.timings) }))
      }
      const stop = options.until?.(event.record) ?? false
      if (out !== undefined && (stop || step === options.steps || (every > 0 && step % every === 0))) {
        yield* Checkpoint.write(out, yield* loop.checkpoint(step))
      }
      options.onProgress?.(Metrics.progressLine(loop.curriculum.name, event.record, options.steps, event.timings), event)
      if (stop) break
      step++
    }
    return {
      pipeline: pipeline.name,
      curriculum: loop.curriculum.name,
      records,
      resumedFrom: from?.step,
      out
    }
  })
