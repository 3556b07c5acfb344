/**
 * What the simulated learners (v1 and v2) share: token ids, the tag that
 * exposes a learner behind its layer, and small helpers.
 */
import { RuntimeError } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import type { Problem } from "@zpd/core/Problem"
import { Rng } from "@zpd/core/Rng"
import type {
  Completion,
  Evaluator,
  GenerateRequest,
  InferenceRuntime,
  PromptInput,
  TrainerRuntime
} from "@zpd/core/Runtime"
import * as Context from "effect/Context"

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
