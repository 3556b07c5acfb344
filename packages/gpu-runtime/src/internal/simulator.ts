/**
 * What the simulated learners (v1 and v2) share: token ids, the tag that
 * exposes a learner behind its layer, and small helpers.
 */
import { RuntimeError } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import type { Problem } from "@zpd/core/Problem"
import { Rng } from "@zpd/core/Rng"
import {
  type Completion,
  Evaluator,
  type GenerateRequest,
  InferenceRuntime,
  type PromptInput,
  type TrainerCheckpoint,
  TrainerRuntime,
  type TrainStepRequest,
  type TrainStepResult
} from "@zpd/core/Runtime"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** Decision token: solved. */
export const SOLVE_TOKEN = 1
/** Decision token: failed. */
export const FAIL_TOKEN = 2
/** Reasoning token with logit +v. */
export const REASON_UP_TOKEN = 3
/** Reasoning token with logit −v. */
export const REASON_DOWN_TOKEN = 4
/** Format token (v2): the completion is well-formed. */
export const FORMAT_OK_TOKEN = 5
/** Format token (v2): the completion is malformed (the verifier finds no answer). */
export const FORMAT_BAD_TOKEN = 6

/** What every simulated learner offers: the three ports plus introspection for tests and benchmarks. */
export interface Learner {
  readonly model: "v1" | "v2"
  readonly inference: InferenceRuntime.Service
  readonly trainer: TrainerRuntime.Service
  readonly evaluator: Evaluator.Service
  /** Family names in skill order. */
  readonly families: ReadonlyArray<string>
  /** The exact probability that a completion for `problem` is judged correct, at temperature 1. */
  readonly passRate: (problem: Problem) => number
  readonly policyVersion: () => number
}

export class SimulatedLearner extends Context.Tag("@zpd/gpu-runtime/SimulatedLearner")<SimulatedLearner, Learner>() {}

export const charCodes = (text: string): Array<number> => {
  const out = new Array<number>(text.length)
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i)
  return out
}

export const refused = (endpoint: string, description: string) =>
  new RuntimeError({ endpoint, reason: "Refused", description })

export const isFiniteArray = (u: unknown, length: number): u is ReadonlyArray<number> =>
  Array.isArray(u) && u.length === length && u.every((x) => typeof x === "number" && Number.isFinite(x))

/** The checked sampling settings of one `generate` call, with the call's random stream. */
export interface Sampling {
  /** The temperature T (0 = greedy). */
  readonly T: number
  readonly maxTokens: number
  readonly rng: Rng
}

/**
 * Checks a `generate` request (a numeric seed, T ≥ 0, a non-negative integer
 * `n`) and opens its random stream; the error names what was expected.
 */
export const samplingOf = (endpoint: string, request: GenerateRequest): Sampling | RuntimeError => {
  const seed = request.sampling.seed
  if (seed === undefined || !Number.isFinite(seed)) {
    return refused(endpoint, "the simulator requires sampling.seed (a number) to be deterministic")
  }
  const T = request.sampling.temperature
  if (!(T >= 0)) return refused(endpoint, `temperature must be ≥ 0, got ${T}`)
  if (!(request.n >= 0) || !Number.isInteger(request.n)) {
    return refused(endpoint, `n must be a non-negative integer, got ${request.n}`)
  }
  return { T, maxTokens: request.sampling.maxTokens, rng: new Rng(seed) }
}

/** The problem a prompt carries, or the error saying that the simulator needs one. */
export const problemOf = (endpoint: string, prompt: PromptInput): Problem | RuntimeError =>
  prompt.problem ??
    refused(endpoint, `prompt "${prompt.promptId}" has no problem; the simulator needs PromptInput.problem`)

/**
 * The reasoning tokens of one prompt: R binary tokens with logit `v`, drawn
 * at temperature T, of which the first `kept` fit under `maxTokens`.
 */
export interface Reasoning {
  readonly T: number
  readonly v: number
  readonly R: number
  readonly kept: number
  readonly qUp: number
  readonly lpUp: number
  readonly lpDown: number
}

/** {@link Reasoning} for logit `v` at temperature `T` (log-probabilities 0 when greedy). */
export const reasoningOf = (T: number, v: number, R: number, kept: number): Reasoning => ({
  T,
  v,
  R,
  kept,
  qUp: T === 0 ? 0 : Fmath.sigmoid(v / T),
  lpUp: T === 0 ? 0 : Fmath.logSigmoid(v / T),
  lpDown: T === 0 ? 0 : Fmath.logSigmoid(-v / T)
})

/** Who a completion belongs to and which policy wrote it. */
export interface CompletionMeta {
  readonly promptId: string
  readonly sampleIndex: number
  readonly promptTokenIds: ReadonlyArray<number>
  readonly policyVersion: number
}

/**
 * Writes one completion: the `head` tokens (format / decision, already drawn),
 * then all R reasoning tokens drawn from `rng` (so the stream does not depend
 * on `maxTokens`) of which `kept` are emitted, then the text `full` cut to
 * `room` characters. The finish reason is `"length"` when anything was cut.
 */
export const composeCompletion = (
  rng: Rng,
  reasoning: Reasoning,
  headTokens: ReadonlyArray<number>,
  headLogprobs: ReadonlyArray<number>,
  full: string,
  room: number,
  meta: CompletionMeta
): Completion => {
  const { R, T, kept, v } = reasoning
  const h = headTokens.length
  const text = full.length > room ? full.slice(0, room) : full
  const tokenIds = new Array<number>(h + kept + text.length)
  const logprobs = new Array<number>(tokenIds.length).fill(0)
  for (let k = 0; k < h; k++) {
    tokenIds[k] = headTokens[k]!
    logprobs[k] = headLogprobs[k]!
  }
  for (let j = 0; j < R; j++) {
    const up = T === 0 ? v > 0 : rng.next() < reasoning.qUp
    if (j < kept) {
      tokenIds[h + j] = up ? REASON_UP_TOKEN : REASON_DOWN_TOKEN
      logprobs[h + j] = up ? reasoning.lpUp : reasoning.lpDown
    }
  }
  for (let c = 0; c < text.length; c++) tokenIds[h + kept + c] = text.charCodeAt(c)
  return {
    promptId: meta.promptId,
    sampleIndex: meta.sampleIndex,
    text,
    promptTokenIds: meta.promptTokenIds,
    tokenIds,
    logprobs,
    finishReason: full.length > room || kept < R ? "length" : "stop",
    policyVersion: meta.policyVersion
  }
}

/** The operations a simulated learner implements; {@link portsOf} wraps them into the three ports. */
export interface LearnerOps {
  /** The `detail` of `health`. */
  readonly detail: string
  readonly version: () => number
  readonly generate: (request: GenerateRequest) => Effect.Effect<ReadonlyArray<Completion>, RuntimeError>
  readonly update: (request: TrainStepRequest) => Effect.Effect<TrainStepResult, RuntimeError>
  /** Copies the current parameters into the KL reference. */
  readonly resetReference: () => void
  readonly checkpoint: (tag: string) => Effect.Effect<TrainerCheckpoint, RuntimeError>
  readonly restore: (checkpoint: TrainerCheckpoint) => Effect.Effect<number, RuntimeError>
  /** Expected accuracy over `problems` under the current parameters. */
  readonly accuracy: (problems: ReadonlyArray<Problem>) => number
}

/** The inference, trainer and evaluator ports of a simulated learner (in-process, one request at a time). */
export const portsOf = (ops: LearnerOps): Pick<Learner, "inference" | "trainer" | "evaluator"> => ({
  inference: {
    generate: ops.generate,
    health: Effect.sync(() => ({ ready: true, policyVersion: ops.version(), detail: ops.detail })),
    capabilities: { logprobSemantics: "processed", maxConcurrency: 1 }
  },
  trainer: {
    update: ops.update,
    resetReference: Effect.sync(ops.resetReference),
    publishWeights: Effect.sync(ops.version),
    checkpoint: ops.checkpoint,
    restore: ops.restore
  },
  evaluator: { accuracy: (ps) => Effect.sync(() => ops.accuracy(ps)) }
})

/**
 * The fields of an `Inline` checkpoint, or the error saying it is a `Path`
 * checkpoint or not an object.
 */
export const inlineStateOf = <S>(
  endpoint: string,
  checkpoint: TrainerCheckpoint
): Partial<Record<keyof S, unknown>> | RuntimeError => {
  if (checkpoint._tag !== "Inline") {
    return refused(endpoint, `the simulator restores Inline checkpoints only, got a Path (${checkpoint.path})`)
  }
  const st = checkpoint.state as Partial<Record<keyof S, unknown>> | null
  if (typeof st !== "object" || st === null) return refused(endpoint, "checkpoint state is not an object")
  return st
}

/** The error saying a checkpoint's family list differs from the learner's, `undefined` when they match. */
export const familiesMismatch = (
  endpoint: string,
  saved: unknown,
  families: ReadonlyArray<string>
): RuntimeError | undefined =>
  !Array.isArray(saved) || saved.length !== families.length || saved.some((f, i) => f !== families[i])
    ? refused(endpoint, `checkpoint families ${JSON.stringify(saved)} differ from ${JSON.stringify(families)}`)
    : undefined

/** A checkpoint's policy version (a non-negative integer), or the error naming what it holds. */
export const savedVersionOf = (endpoint: string, v: unknown): number | RuntimeError =>
  typeof v === "number" && Number.isInteger(v) && v >= 0
    ? v
    : refused(endpoint, `checkpoint version must be a non-negative integer, got ${String(v)}`)

/**
 * A learner as a layer providing the three runtime ports and
 * {@link SimulatedLearner}, all over one instance built at layer build.
 */
export const layerOf = (
  build: () => Learner
): Layer.Layer<InferenceRuntime | TrainerRuntime | Evaluator | SimulatedLearner> =>
  Layer.effectContext(
    Effect.sync(() => {
      const sim = build()
      return Context.make(InferenceRuntime, sim.inference).pipe(
        Context.add(TrainerRuntime, sim.trainer),
        Context.add(Evaluator, sim.evaluator),
        Context.add(SimulatedLearner, sim)
      )
    })
  )

/**
 * The reasoning tokens of a training sample that start at `start`: up to `R`
 * consecutive {@link REASON_UP_TOKEN}/{@link REASON_DOWN_TOKEN} tokens. Returns
 * the index after the last one and how many of them carry loss.
 */
export const reasoningSpan = (
  tokenIds: ReadonlyArray<number>,
  lossMask: ReadonlyArray<boolean>,
  start: number,
  R: number
): { readonly end: number; readonly lossTokens: number } => {
  let e = start
  let r = 0
  while (e < start + R && e < tokenIds.length) {
    const rt = tokenIds[e]
    if (rt !== REASON_UP_TOKEN && rt !== REASON_DOWN_TOKEN) break
    if (lossMask[e]) r++
    e++
  }
  return { end: e, lossTokens: r }
}

/** Copies `old` into the larger `fresh` array and returns it (item tables grow by doubling). */
export const grown = <A extends Float64Array | Int32Array>(old: A, fresh: A): A => {
  fresh.set(old)
  return fresh
}
