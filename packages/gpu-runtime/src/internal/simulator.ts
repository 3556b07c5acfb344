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
  type TrainSample,
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

// ---------------------------------------------------------------------------
// the skeleton both learners share: family order, item table, generate loop,
// update prelude, group KL, restore prelude
// ---------------------------------------------------------------------------

/** The families of `problems` in sorted name order (skill order). */
export const familiesOf = (problems: ReadonlyArray<Problem>): Array<string> =>
  Array.from(new Set(problems.map((p) => p.family))).sort()

/** `R`, checked to be a non-negative integer. */
export const reasoningTokensOf = (R: number): number => {
  if (!(Number.isInteger(R) && R >= 0)) throw new RangeError(`reasoningTokens must be a non-negative integer, got ${R}`)
  return R
}

/** Per-item columns, one typed array each, all of the table's capacity. */
export type Columns = Record<string, Float64Array | Int32Array>

/**
 * The items a learner knows, by id: a dense index per problem and per-item
 * columns that double in size when `register` meets a new problem (generate
 * may see problems the learner was not built with).
 */
export interface ItemTable<C extends Columns> {
  /** The columns; a column is replaced by a larger copy when the table grows. */
  readonly cols: C
  /** Dense index by problem id (and by prompt id where `generate` saw an alias). */
  readonly index: Map<string, number>
  /** Problem ids by dense index. */
  readonly ids: Array<string>
  readonly size: () => number
  /** The dense index of `problem`, registering it (via `fill`) on first sight. */
  readonly register: (problem: Problem) => number
}

export const itemTable = <C extends Columns>(
  problems: ReadonlyArray<Problem>,
  columns: (capacity: number) => C,
  fill: (cols: C, i: number, problem: Problem) => void
): ItemTable<C> => {
  let capacity = Math.max(16, problems.length)
  const cols = columns(capacity)
  const index = new Map<string, number>()
  const ids: Array<string> = []
  let size = 0
  const register = (p: Problem): number => {
    const existing = index.get(p.id)
    if (existing !== undefined) return existing
    if (size === capacity) {
      capacity *= 2
      const fresh = columns(capacity) as Columns
      for (const key of Object.keys(cols)) (cols as Columns)[key] = grown(cols[key]!, fresh[key]!)
    }
    const i = size++
    fill(cols, i, p)
    index.set(p.id, i)
    ids.push(p.id)
    return i
  }
  for (const p of problems) register(p)
  return { cols, index, ids, size: () => size, register }
}

/** One sample's head (format / decision tokens, already drawn from the stream) and its text. */
export interface DrawnHead {
  readonly tokens: ReadonlyArray<number>
  readonly logprobs: ReadonlyArray<number>
  readonly text: string
}

/** What a learner decides per prompt: the reasoning logit and how to draw each sample's head. */
export interface PromptPlan {
  /** The reasoning-token logit before temperature. */
  readonly v: number
  readonly draw: (rng: Rng) => DrawnHead
}

/**
 * The generate loop both learners share: checks the request, registers each
 * prompt's problem (and its prompt id as an alias), and writes `n` completions
 * per prompt: the learner's head tokens (`headLength` of them), then the
 * reasoning tokens and the text as {@link composeCompletion} does.
 */
export const generateWith = (
  endpoint: string,
  request: GenerateRequest,
  options: {
    readonly items: ItemTable<Columns>
    readonly version: number
    readonly R: number
    readonly headLength: number
    readonly plan: (problem: Problem, i: number, T: number) => PromptPlan
  }
): Effect.Effect<ReadonlyArray<Completion>, RuntimeError> => {
  const sampling = samplingOf(endpoint, request)
  if (sampling instanceof RuntimeError) return Effect.fail(sampling)
  const { T, maxTokens, rng } = sampling
  const { R, headLength, items } = options
  const out: Array<Completion> = []
  for (const prompt of request.prompts) {
    const problem = problemOf(endpoint, prompt)
    if (problem instanceof RuntimeError) return Effect.fail(problem)
    const i = items.register(problem)
    if (prompt.promptId !== problem.id) items.index.set(prompt.promptId, i)
    const promptTokenIds = prompt.tokenIds ?? charCodes(prompt.text)
    // Reasoning tokens kept under maxTokens (the head tokens are always emitted).
    const kept = Math.min(R, Math.max(0, maxTokens - headLength))
    const room = Math.max(0, maxTokens - headLength - kept)
    const plan = options.plan(problem, i, T)
    const reasoning = reasoningOf(T, plan.v, R, kept)
    for (let n = 0; n < request.n; n++) {
      const head = plan.draw(rng)
      const meta = { promptId: prompt.promptId, sampleIndex: n, promptTokenIds, policyVersion: options.version }
      out.push(composeCompletion(rng, reasoning, head.tokens, head.logprobs, head.text, room, meta))
    }
  }
  return Effect.succeed(out)
}

/** Where each training sample's tokens are (see {@link layoutOf}). */
export interface SampleLayout {
  /** The first loss token (the head's first token). */
  readonly first: Int32Array
  /** The item's dense index. */
  readonly rows: Int32Array
  /** One past the last reasoning token (they start after the head). */
  readonly reasonEnd: Int32Array
  /** How many reasoning tokens carry loss. */
  readonly reasonLoss: Float64Array
  /** How many tokens carry loss in all. */
  readonly lossTokens: Float64Array
  readonly maxGroup: number
}

/**
 * The update's first pass, shared by both learners: every sample must name a
 * known prompt, have a loss token, start with a valid head (`headError` says
 * what is wrong, else `undefined`) and a temperature > 0; the errors name the
 * sample's prompt.
 */
export const layoutOf = (
  endpoint: string,
  samples: ReadonlyArray<TrainSample>,
  index: ReadonlyMap<string, number>,
  R: number,
  headLength: number,
  headError: (sample: TrainSample, first: number) => string | undefined
): SampleLayout | RuntimeError => {
  const N = samples.length
  const first = new Int32Array(N)
  const rows = new Int32Array(N)
  const reasonEnd = new Int32Array(N)
  const reasonLoss = new Float64Array(N)
  const lossTokens = new Float64Array(N)
  let maxGroup = -1
  for (let n = 0; n < N; n++) {
    const s = samples[n]!
    const i = index.get(s.promptId)
    if (i === undefined) {
      return refused(endpoint, `unknown promptId "${s.promptId}": the simulator was not built with it`)
    }
    let f = -1
    let count = 0
    for (let t = 0; t < s.lossMask.length; t++) {
      if (s.lossMask[t]) {
        if (f < 0) f = t
        count++
      }
    }
    if (f < 0) return refused(endpoint, `sample for "${s.promptId}" has no loss tokens`)
    const bad = headError(s, f)
    if (bad !== undefined) return refused(endpoint, `sample for "${s.promptId}": ${bad}`)
    if (!(s.temperature > 0)) {
      return refused(endpoint, `sample for "${s.promptId}": temperature must be > 0, got ${s.temperature}`)
    }
    const span = reasoningSpan(s.tokenIds, s.lossMask, f + headLength, R)
    first[n] = f
    rows[n] = i
    reasonEnd[n] = span.end
    reasonLoss[n] = span.lossTokens
    lossTokens[n] = count
    if (s.group > maxGroup) maxGroup = s.group
  }
  return { first, rows, reasonEnd, reasonLoss, lossTokens, maxGroup }
}

/** The loss settings of an update: clip ε, KL coefficient β, aggregation and step size (`fallback` when unset). */
export const lossSettingsOf = (request: TrainStepRequest, fallback: number) => ({
  clip: request.loss.clip,
  beta: request.loss.klCoef,
  aggregation: request.loss.aggregation,
  lr: request.loss.learningRate ?? fallback
})

/** The metrics every simulated update reports, in this order (the learner appends its own after them). */
export const updateMetrics = (m: {
  readonly loss: number
  readonly klSum: number
  readonly samples: number
  readonly clipped: number
  readonly gradTokens: number
  readonly gradNorm: number
  readonly stepNorm: number
}) => ({
  loss: m.loss,
  kl_mean: m.samples > 0 ? m.klSum / m.samples : 0,
  clipfrac: m.gradTokens > 0 ? m.clipped / m.gradTokens : 0,
  grad_norm: m.gradNorm,
  step_norm: m.stepNorm
})

/** Per-group sums of the samples' KL terms, reported as the per-group mean (`groupKl`). */
export class GroupKl {
  private readonly sum: Float64Array
  private readonly count: Float64Array
  constructor(maxGroup: number) {
    this.sum = new Float64Array(maxGroup + 1)
    this.count = new Float64Array(maxGroup + 1)
  }
  add(group: number, term: number): void {
    if (group >= 0) {
      this.sum[group] = this.sum[group]! + term
      this.count[group] = this.count[group]! + 1
    }
  }
  means(): Array<number> {
    return Array.from(this.sum, (sum, g) => this.count[g]! > 0 ? sum / this.count[g]! : 0)
  }
}

/** What every simulator checkpoint's `Inline` state holds (v2 adds its own fields). */
export interface SavedState {
  readonly families: ReadonlyArray<string>
  readonly theta: ReadonlyArray<number>
  readonly thetaRef: ReadonlyArray<number>
  readonly theta0: ReadonlyArray<number>
  readonly version: number
}

/** The parameter vectors every checkpoint holds. */
export interface SavedParameters {
  readonly theta: Float64Array<ArrayBuffer>
  readonly thetaRef: Float64Array<ArrayBuffer>
  readonly theta0: ReadonlyArray<number>
  readonly version: number
}

/**
 * The restore prelude both learners share: an `Inline` state, then `before`
 * (the learner's own checks), the same families, `P` finite numbers in each of
 * θ, θ_ref and θ⁰, then `after`, and a valid version; the first failure is the
 * error.
 */
export const restoredParameters = <S>(
  endpoint: string,
  checkpoint: TrainerCheckpoint,
  families: ReadonlyArray<string>,
  P: number,
  checks: {
    readonly before?: (state: Partial<Record<keyof S, unknown>>) => RuntimeError | undefined
    readonly after?: (state: Partial<Record<keyof S, unknown>>) => RuntimeError | undefined
  } = {}
): { readonly state: Partial<Record<keyof S, unknown>>; readonly saved: SavedParameters } | RuntimeError => {
  const st = inlineStateOf<S>(endpoint, checkpoint)
  if (st instanceof RuntimeError) return st
  const before = checks.before?.(st)
  if (before !== undefined) return before
  const saved = st as Partial<Record<"families" | "theta" | "thetaRef" | "theta0" | "version", unknown>>
  const wrongFamilies = familiesMismatch(endpoint, saved.families, families)
  if (wrongFamilies !== undefined) return wrongFamilies
  if (!isFiniteArray(saved.theta, P) || !isFiniteArray(saved.thetaRef, P) || !isFiniteArray(saved.theta0, P)) {
    return refused(endpoint, `checkpoint theta, thetaRef and theta0 must be ${P} finite numbers each`)
  }
  const after = checks.after?.(st)
  if (after !== undefined) return after
  const v = savedVersionOf(endpoint, saved.version)
  if (v instanceof RuntimeError) return v
  return {
    state: st,
    saved: {
      theta: Float64Array.from(saved.theta),
      thetaRef: Float64Array.from(saved.thetaRef),
      theta0: saved.theta0,
      version: v
    }
  }
}
