/**
 * The runtime boundary: the ports that a GPU runtime implements. Core owns the
 * ports; `@zpd/gpu-runtime` implements them (the simulated learner, HTTP
 * adapters for vLLM and the PyTorch worker). Shapes follow the proposal in
 * `spec/runtime.md` §7: everything crossing the boundary is plain JSON.
 *
 * - {@link InferenceRuntime}: `generate(prompts, n, sampling)` → completions with
 *   token ids, the sampled-token logprobs, a finish reason and a policy version.
 * - {@link TrainerRuntime}: `update(samples)` with per-token advantages and a
 *   per-token `klWeight` (the sparse-KL mask), `resetReference`,
 *   `publishWeights`, `checkpoint`, `restore`.
 * - {@link Evaluator}: expected accuracy over a problem set (exact on the
 *   simulator, sampled on a real model).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { RuntimeError } from "./Errors.ts"
import type { Problem } from "./Problem.ts"

/**
 * Sampling parameters. Training rollouts need `topP = 1` and `topK = 0` so the
 * returned logprobs are the ones the trainer recomputes (see
 * `spec/runtime.md` §1.3).
 *
 * @since 0.1.0
 * @category models
 */
export interface SamplingParams {
  readonly temperature: number
  readonly topP: number
  readonly topK: number
  readonly maxTokens: number
  readonly stop?: ReadonlyArray<string>
  readonly seed?: number
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const defaultSampling: SamplingParams = { temperature: 1, topP: 1, topK: 0, maxTokens: 1024 }

/**
 * One prompt to generate for. `problem` is passed through so that runtimes
 * which need item metadata (the simulator) can use it; HTTP runtimes send only
 * `text` or `tokenIds`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromptInput {
  readonly promptId: string
  readonly text: string
  readonly tokenIds?: ReadonlyArray<number>
  readonly problem?: Problem
}

/**
 * @since 0.1.0
 * @category models
 */
export interface GenerateRequest {
  readonly requestId: string
  readonly prompts: ReadonlyArray<PromptInput>
  /** Group size G: completions per prompt. */
  readonly n: number
  readonly sampling: SamplingParams
}

/**
 * One sampled completion. `logprobs[t]` is the (post-temperature) logprob of
 * `tokenIds[t]` under the policy that sampled it. HTTP runtimes decode replies
 * with this Schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Completion = Schema.Struct({
  promptId: Schema.String,
  sampleIndex: Schema.Int,
  text: Schema.String,
  promptTokenIds: Schema.Array(Schema.Int),
  tokenIds: Schema.Array(Schema.Int),
  logprobs: Schema.Array(Schema.Number),
  finishReason: Schema.Literal("stop", "length", "abort"),
  policyVersion: Schema.Int,
  /** How many times the server aborted this sample (`finish_reason: "abort"`) before it was regenerated. */
  abortedAttempts: Schema.optional(Schema.Int)
}).pipe(
  Schema.filter((c) =>
    c.logprobs.length === c.tokenIds.length ||
    `logprobs has ${c.logprobs.length} entries for ${c.tokenIds.length} tokens`
  )
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Completion extends Schema.Schema.Type<typeof Completion> {}

/**
 * What an inference runtime promises. Training refuses `logprobSemantics: "raw"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InferenceCapabilities {
  readonly logprobSemantics: "processed" | "raw"
  readonly maxConcurrency: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RuntimeHealth {
  readonly ready: boolean
  readonly policyVersion: number
  readonly detail?: string
}

/**
 * The inference port.
 *
 * @since 0.1.0
 * @category tags
 */
export class InferenceRuntime extends Context.Tag("@zpd/core/InferenceRuntime")<
  InferenceRuntime,
  InferenceRuntime.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace InferenceRuntime {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Completions for every prompt, `n` each, ordered by prompt then sample index. */
    readonly generate: (request: GenerateRequest) => Effect.Effect<ReadonlyArray<Completion>, RuntimeError>
    readonly health: Effect.Effect<RuntimeHealth, RuntimeError>
    readonly capabilities: InferenceCapabilities
  }
}

/**
 * One training sample, aligned per token over `tokenIds` (prompt ++ completion).
 *
 * @since 0.1.0
 * @category models
 */
export interface TrainSample {
  readonly promptId: string
  /** Index of the sample's group within the step, for per-group metrics. */
  readonly group: number
  readonly tokenIds: ReadonlyArray<number>
  /** True on model-sampled tokens. */
  readonly lossMask: ReadonlyArray<boolean>
  /** 0 where `lossMask` is false. */
  readonly samplingLogprobs: ReadonlyArray<number>
  /** The scalar advantage broadcast over completion tokens. */
  readonly advantages: ReadonlyArray<number>
  /** Sparse-KL mask: 0 means no KL on this token. */
  readonly klWeight: ReadonlyArray<number>
  readonly temperature: number
  readonly policyVersion: number
}

/**
 * Loss options the pipeline passes to the trainer with every step.
 *
 * @since 0.1.0
 * @category models
 */
export interface LossConfig {
  /** β, the k3 KL coefficient (GRPO default 0.04 [R], SEC runs use 0). */
  readonly klCoef: number
  /** PPO clip range ε_c. */
  readonly clip: number
  /** `token-mean` (verl, CDAS) or `seq-mean` (the GRPO paper's 1/|y_i|). */
  readonly aggregation: "token-mean" | "seq-mean"
  readonly learningRate?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TrainStepRequest {
  readonly step: number
  readonly samples: ReadonlyArray<TrainSample>
  readonly loss: LossConfig
}

/**
 * `metrics` carries at least `loss`, `kl_mean`, `clipfrac`, `grad_norm`.
 * `groupKl[g]` is the KL contribution of group `g` (for sparse-KL checks).
 *
 * @since 0.1.0
 * @category models
 */
export interface TrainStepResult {
  readonly step: number
  readonly policyVersion: number
  readonly metrics: Readonly<Record<string, number>>
  readonly groupKl?: ReadonlyArray<number>
}

/**
 * Where a trainer checkpoint lives: inline JSON (the simulator) or a path the
 * trainer wrote (the PyTorch worker).
 *
 * @since 0.1.0
 * @category models
 */
export const TrainerCheckpoint = Schema.Union(
  Schema.TaggedStruct("Inline", { state: Schema.Unknown }),
  Schema.TaggedStruct("Path", { path: Schema.String })
)

/**
 * @since 0.1.0
 * @category models
 */
export type TrainerCheckpoint = Schema.Schema.Type<typeof TrainerCheckpoint>

/**
 * The trainer port.
 *
 * @since 0.1.0
 * @category tags
 */
export class TrainerRuntime extends Context.Tag("@zpd/core/TrainerRuntime")<TrainerRuntime, TrainerRuntime.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace TrainerRuntime {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly update: (request: TrainStepRequest) => Effect.Effect<TrainStepResult, RuntimeError>
    /** π_ref ← π_θ (AdaCuRL resets the reference at every bucket merge). */
    readonly resetReference: Effect.Effect<void, RuntimeError>
    /** Makes the current weights visible to the inference side; returns the version. */
    readonly publishWeights: Effect.Effect<number, RuntimeError>
    readonly checkpoint: (tag: string) => Effect.Effect<TrainerCheckpoint, RuntimeError>
    readonly restore: (checkpoint: TrainerCheckpoint) => Effect.Effect<number, RuntimeError>
  }
}

/**
 * Expected accuracy (pass@1 averaged over problems) of the current policy.
 * The simulator computes it exactly; a real runtime estimates it by sampling.
 *
 * @since 0.1.0
 * @category tags
 */
export class Evaluator extends Context.Tag("@zpd/core/Evaluator")<Evaluator, Evaluator.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Evaluator {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly accuracy: (problems: ReadonlyArray<Problem>) => Effect.Effect<number, RuntimeError>
  }
}
