/**
 * One run on the neural task (`SuffixSumTask`) through zpd's PyTorch worker:
 * spawn the worker, warm-start it (supervised), measure the starting
 * per-level accuracy, then run the standard GRPO step under a curriculum.
 * Shared by examples/torch-worker.ts, bench/neural.ts and the integration test.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { type Curriculum, type Metrics, Pipeline, type Problem, Stages } from "@zpd/core"
import { Evaluator } from "@zpd/core/Runtime"
import { HttpInference, SuffixSumTask, Worker } from "@zpd/gpu-runtime"
import { Baselines, Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const curricula = {
  random: () => Baselines.random(),
  /** The paper's 3B defaults (α = 0.5, τ = 1). */
  sec: () => Sec.plugin({ arms: ["level"] }),
  /** examples/sec.ts's sharper bandit (α = 0.5, τ = 0.2, the paper's 7B countdown setting). */
  "sec-tau0.2": () => Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 })
} as const satisfies Record<string, () => Curriculum.Plugin>

export type CurriculumName = keyof typeof curricula

export interface NeuralRunOptions {
  readonly curriculum: CurriculumName
  readonly seed: number
  readonly steps: number
  /** Default: the worker's own resolution (`ZPD_PYTHON`, the repository's `.venv`, `python3`). */
  readonly python?: string
  /** `tiny` (default) or `hf:PATH`. */
  readonly model?: string
  readonly out?: string
  readonly resume?: string
  readonly evalEvery?: number
  /** Replace a previous run in `out` (a fresh run into a checkpointed directory is refused otherwise). */
  readonly overwrite?: boolean
  readonly checkpointEvery?: number
  readonly suite?: ReturnType<typeof SuffixSumTask.suite>
  readonly onProgress?: (line: string, event: Pipeline.StepEvent) => void
}

export interface NeuralRunResult {
  readonly report: Pipeline.Report
  /** Per-level held-out accuracy after the warm start, before RL (undefined when resuming). */
  readonly initial: Record<string, number> | undefined
  readonly warmStart:
    | {
      readonly steps: number
      readonly lossFirst: number
      readonly lossLast: number
      /** Expected accuracy on the warm start's check set when it stopped. */
      readonly checkAccuracy: number
    }
    | undefined
}

const accuracies = (sets: Record<string, ReadonlyArray<Problem.Problem>>) =>
  Effect.gen(function*() {
    const evaluator = yield* Evaluator
    const out: Record<string, number> = {}
    for (const [name, problems] of Object.entries(sets)) out[`acc_${name}`] = yield* evaluator.accuracy(problems)
    return out
  })

export const neuralRun = (options: NeuralRunOptions) => {
  const s = options.suite ?? SuffixSumTask.suite()
  const settings = SuffixSumTask.settings
  const sets = SuffixSumTask.evalSets(s)
  const pipeline = Pipeline.make(
    options.curriculum,
    Stages.standard({ verifier: SuffixSumTask.verifier, kl: settings.kl })
  )
  const out = options.out ?? options.resume
  const runtime = Worker.layer({
    ...(options.python === undefined ? {} : { python: options.python }),
    model: options.model ?? "tiny",
    seed: options.seed,
    threads: 1,
    lr: settings.learningRate,
    args: settings.workerArgs,
    // answers are one token by design: every completion stops at maxTokens = 1, which is not truncation
    inference: { warnTruncatedAbove: 1 },
    ...(out === undefined ? {} : { checkpointDir: `${out}/worker` })
  })
  const evaluator = HttpInference.evaluator({ verifier: SuffixSumTask.verifier, sampling: { maxTokens: 1 } })
  return Effect.gen(function*() {
    let initial: Record<string, number> | undefined
    let warmStart: NeuralRunResult["warmStart"]
    if (options.resume === undefined) {
      const handle = yield* Worker.WorkerHandle
      const reply = yield* handle.trainer.warmStart({
        examples: s.warmStart,
        batchSize: settings.warmStart.batchSize,
        learningRate: settings.warmStart.learningRate,
        until: {
          examples: s.warmStartCheck,
          accuracy: settings.warmStart.until.accuracy,
          every: settings.warmStart.until.every,
          maxSteps: settings.warmStart.until.maxSteps
        }
      })
      warmStart = {
        steps: reply.steps,
        lossFirst: reply.lossFirst,
        lossLast: reply.lossLast,
        checkAccuracy: reply.checkAccuracy ?? Number.NaN
      }
      initial = yield* accuracies(sets)
    }
    const report = yield* Pipeline.run(pipeline, curricula[options.curriculum](), {
      dataset: s.train,
      seed: options.seed,
      steps: options.steps,
      batchSize: settings.batchSize,
      groupSize: settings.groupSize,
      sampling: SuffixSumTask.sampling,
      loss: settings.loss,
      eval: { sets, every: options.evalEvery ?? 20 },
      ...(options.out === undefined ? {} : { out: options.out }),
      ...(options.resume === undefined ? {} : { resume: options.resume }),
      ...(options.overwrite === undefined ? {} : { overwrite: options.overwrite }),
      ...(options.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
    })
    return { report, initial, warmStart } satisfies NeuralRunResult
  }).pipe(Effect.provide(Layer.provideMerge(evaluator, runtime)), Effect.provide(FetchHttpClient.layer))
}

/** The smallest answer-token entropy over the run's steps. */
export const minEntropy = (records: ReadonlyArray<Metrics.StepRecord>): number =>
  Math.min(...records.map((r) => r["entropy"] ?? Number.NaN))

/** A level's accuracy column name. */
export const accName = (level: number): string =>
  SuffixSumTask.trainLevels.includes(level) ? `acc_id_L${level}` : `acc_ood_L${level}`
