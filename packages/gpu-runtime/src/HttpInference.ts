/**
 * An {@link InferenceRuntime} over HTTP, speaking vLLM's OpenAI-compatible
 * `POST /v1/completions` (also served by SGLang's OpenAI layer and by zpd's
 * PyTorch worker).
 *
 * Every request asks for exactly what GRPO needs (spec/runtime.md §1):
 * `n` completions per prompt, `logprobs: 0` (the sampled token's logprob),
 * `return_token_ids: true` (prompt and completion token ids) and
 * `return_tokens_as_token_ids: true` (ids recoverable from the logprob tokens
 * on servers without `return_token_ids`), a per-request `seed`, `stop`,
 * `max_tokens`, and sampling parameters sent explicitly (`top_p: 1`,
 * `top_k: -1`, `min_p: 0`, no penalties) so a server's `generation_config.json`
 * defaults cannot silently truncate sampling.
 *
 * **Prompts and tokenisation.** A prompt with `tokenIds` is sent as token ids.
 * Otherwise its `text` is sent and the server tokenises it (vLLM adds BOS by
 * default); the exact ids come back in `prompt_token_ids`, so the trainer sees
 * the tokens the policy was conditioned on and nothing is re-tokenised.
 *
 * **Logprob semantics.** vLLM returns pre-temperature ("raw") logprobs unless
 * started with `--logprobs-mode processed_logprobs`, and has no endpoint that
 * reports the mode. So `capabilities.logprobSemantics` comes from the
 * `logprobSemantics` option: `"processed"` is the user's assertion, `"probe"`
 * (default) asks each endpoint's `GET /health` and accepts only a JSON reply
 * with `logprobsMode: "processed_logprobs"` (the zpd worker's), anything else
 * counts as raw. With raw logprobs, or with `topP < 1` / `topK > 0`,
 * `generate` refuses (a `RuntimeError` with reason `Refused`) unless
 * `allowRawLogprobs` / `allowTruncatedSampling` is set (evaluation-only use).
 *
 * **Scale and faults.** Prompts are split into requests of at most
 * `promptsPerRequest` prompts; requests are spread over `endpoints` by
 * least-outstanding-requests with round-robin ties (an endpoint that failed is
 * avoided for `cooldown`), at most `maxConcurrency` in flight in total. Each
 * attempt has its own `timeout`; connection errors, timeouts, bodies cut off
 * mid-way, malformed JSON, 408, 429 and 5xx are retried up to `retries` times
 * with exponential backoff (a `Retry-After` header wins), on the next endpoint
 * the balancer picks. Other 4xx replies and replies that are JSON but not a
 * completions reply fail at once. Interrupting `generate` aborts every request
 * in flight.
 *
 * **Seeds.** Request `k` of a call (in prompt order) carries
 * `Rng.deriveSeed(sampling.seed, k, "http-request")`, so results depend on the
 * seed and on `promptsPerRequest` but not on which endpoint served them.
 * `groupMode: "fanout"` sends each sample as its own `n: 1` request (slime's
 * pattern; use it where a server gives identical samples for one seed and
 * `n > 1`, spec §1.4).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { RuntimeError } from "@zpd/core/Errors"
import type { Problem } from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import {
  type Completion,
  Evaluator,
  type GenerateRequest,
  type InferenceCapabilities,
  InferenceRuntime,
  type PromptInput,
  type RuntimeHealth,
  type SamplingParams
} from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Http from "./internal/http.ts"

/**
 * Options of the HTTP inference client.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Base URLs, e.g. `["http://gpu1:8000", "http://gpu2:8000"]` (a trailing `/v1` is dropped). */
  readonly endpoints: ReadonlyArray<string>
  /** The `model` field. vLLM serves one model per process; omit it for the zpd worker. */
  readonly model?: string
  /** `"processed"`: you assert the server returns post-temperature logprobs; `"probe"` (default): ask `GET /health`. */
  readonly logprobSemantics?: "processed" | "raw" | "probe"
  /** Requests in flight at once, over all endpoints. Default 8 per endpoint. */
  readonly maxConcurrency?: number
  /** Prompts per `/v1/completions` request. Default 8. */
  readonly promptsPerRequest?: number
  /** `"n"` (default): one request carries the whole group; `"fanout"`: one `n: 1` request per sample. */
  readonly groupMode?: "n" | "fanout"
  /** Per-attempt limit. Default 120 s. */
  readonly timeout?: Duration.DurationInput
  /** Retries after the first attempt, on retryable failures. Default 4. */
  readonly retries?: number
  /** First retry delay, doubling per retry. Default 200 ms. */
  readonly backoff?: Duration.DurationInput
  /** Longest retry delay. Default 10 s. */
  readonly maxBackoff?: Duration.DurationInput
  /** How long a failed endpoint is avoided. Default 5 s. */
  readonly cooldown?: Duration.DurationInput
  /** Extra headers, e.g. `{ authorization: "Bearer …" }` for `vllm serve --api-key`. */
  readonly headers?: Readonly<Record<string, string>>
  /** Extra top-level request fields (vLLM's `extra_body`), e.g. `{ skip_special_tokens: false }`. */
  readonly extraBody?: Readonly<Record<string, unknown>>
  /** Permit `topP < 1` / `topK > 0` (evaluation only: the trainer does not replay truncation). */
  readonly allowTruncatedSampling?: boolean
  /** Permit generation when the logprobs are raw (evaluation only). */
  readonly allowRawLogprobs?: boolean
  /** Policy version stamped on completions when the server does not report one (vLLM). Default 0. */
  readonly policyVersion?: number
}

/**
 * The client: the {@link InferenceRuntime} service plus fleet controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client extends InferenceRuntime.Service {
  readonly endpoints: ReadonlyArray<string>
  /** Requests served per endpoint so far (for load-balancing checks). */
  readonly served: () => ReadonlyArray<number>
  /** Sets the version stamped on completions of servers that report none (after you sync their weights). */
  readonly setPolicyVersion: (version: number) => Effect.Effect<void>
}

// ---------------------------------------------------------------------------
// the reply
// ---------------------------------------------------------------------------

/**
 * One choice of a `/v1/completions` reply (the fields zpd reads; vLLM's
 * `CompletionResponseChoice`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionChoice = Schema.Struct({
  index: Schema.Int,
  text: Schema.String,
  finish_reason: Schema.NullOr(Schema.String),
  token_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.Int))),
  prompt_token_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.Int))),
  logprobs: Schema.optional(Schema.NullOr(Schema.Struct({
    tokens: Schema.Array(Schema.String),
    token_logprobs: Schema.Array(Schema.NullOr(Schema.Number))
  })))
})

/**
 * A `/v1/completions` reply. `policy_version` is the zpd worker's extension;
 * SGLang labels replies with `metadata.weight_version` (a string; zpd's
 * `WeightSync.sglang` sets it to the policy version).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionsReply = Schema.Struct({
  choices: Schema.Array(CompletionChoice),
  policy_version: Schema.optional(Schema.Int),
  metadata: Schema.optional(Schema.NullOr(Schema.Struct({ weight_version: Schema.optional(Schema.NullOr(Schema.String)) })))
})

const labelledVersion = (label: string | null | undefined): number | undefined =>
  label !== null && label !== undefined && /^\d+$/.test(label) ? Number(label) : undefined

const decodeReply = Schema.decodeUnknownEither(CompletionsReply)

type Choice = Schema.Schema.Type<typeof CompletionChoice>

// ---------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------

interface Part {
  /** Index of the part in the call (seeds derive from it). */
  readonly k: number
  /** The prompts of this part, with their positions in the call. */
  readonly prompts: ReadonlyArray<{ readonly at: number; readonly input: PromptInput }>
  readonly n: number
  /** For fanout: the sample index this part produces. */
  readonly sampleIndex: number
}

const chunkPrompts = (
  prompts: ReadonlyArray<PromptInput>,
  n: number,
  perRequest: number,
  mode: "n" | "fanout"
): Array<Part> => {
  const parts: Array<Part> = []
  if (mode === "fanout") {
    prompts.forEach((input, at) => {
      for (let j = 0; j < n; j++) parts.push({ k: parts.length, prompts: [{ at, input }], n: 1, sampleIndex: j })
    })
    return parts
  }
  let current: Array<{ at: number; input: PromptInput }> = []
  const flush = () => {
    if (current.length > 0) parts.push({ k: parts.length, prompts: current, n, sampleIndex: 0 })
    current = []
  }
  prompts.forEach((input, at) => {
    // a request carries either token-id prompts or text prompts, not both
    const kind = input.tokenIds !== undefined
    if (current.length > 0 && (current.length >= perRequest || (current[0]!.input.tokenIds !== undefined) !== kind)) {
      flush()
    }
    current.push({ at, input })
  })
  flush()
  return parts
}

const requestBody = (
  part: Part,
  sampling: SamplingParams,
  seed: number | undefined,
  model: string | undefined,
  extraBody: Readonly<Record<string, unknown>>
): Record<string, unknown> => {
  const byIds = part.prompts[0]!.input.tokenIds !== undefined
  const body: Record<string, unknown> = {
    ...(model === undefined ? {} : { model }),
    prompt: byIds ? part.prompts.map((p) => [...p.input.tokenIds!]) : part.prompts.map((p) => p.input.text),
    n: part.n,
    max_tokens: sampling.maxTokens,
    temperature: sampling.temperature,
    top_p: sampling.topP,
    top_k: sampling.topK > 0 ? sampling.topK : -1,
    min_p: 0,
    presence_penalty: 0,
    frequency_penalty: 0,
    repetition_penalty: 1,
    logprobs: 0,
    return_token_ids: true,
    return_tokens_as_token_ids: true,
    stream: false
  }
  if (seed !== undefined) body.seed = seed
  if (sampling.stop !== undefined && sampling.stop.length > 0) body.stop = [...sampling.stop]
  return { ...body, ...extraBody }
}

const bad = (description: string): Http.Failure => ({ retryable: false, reason: "BadResponse", description })

const tokenIdsOf = (choice: Choice): ReadonlyArray<number> | Http.Failure => {
  if (choice.token_ids !== undefined && choice.token_ids !== null) return choice.token_ids
  const tokens = choice.logprobs?.tokens
  if (tokens !== undefined) {
    const ids: Array<number> = []
    for (const t of tokens) {
      const m = /^token_id:(\d+)$/.exec(t)
      if (m === null) {
        return bad(
          `choice ${choice.index}: expected token_ids (return_token_ids) or logprob tokens rendered as ` +
            `"token_id:<id>" (return_tokens_as_token_ids), got token ${JSON.stringify(t)}`
        )
      }
      ids.push(Number(m[1]))
    }
    return ids
  }
  return bad(`choice ${choice.index}: expected token_ids; send return_token_ids: true to a server that supports it`)
}

/** Turns one part's reply into completions, checking counts, ids and logprobs. */
const toCompletions = (
  part: Part,
  json: unknown,
  fallbackVersion: number
): Effect.Effect<Array<Completion & { readonly at: number }>, Http.Failure> =>
  Effect.suspend(() => {
    const decoded = decodeReply(json)
    if (decoded._tag === "Left") {
      return Effect.fail(
        bad(`expected a completions reply ({choices: [...]}): ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
      )
    }
    const reply = decoded.right
    const expected = part.prompts.length * part.n
    if (reply.choices.length !== expected) {
      return Effect.fail(
        bad(`expected ${expected} choices (${part.prompts.length} prompts × n=${part.n}), got ${reply.choices.length}`)
      )
    }
    const choices = [...reply.choices].sort((a, b) => a.index - b.index)
    const version = reply.policy_version ?? labelledVersion(reply.metadata?.weight_version) ?? fallbackVersion
    const out: Array<Completion & { readonly at: number }> = []
    for (let c = 0; c < choices.length; c++) {
      const choice = choices[c]!
      if (choice.index !== c) {
        return Effect.fail(bad(`expected choice indexes 0..${expected - 1}, got index ${choice.index}`))
      }
      const i = Math.floor(c / part.n)
      const j = part.n === 1 ? part.sampleIndex : c % part.n
      const prompt = part.prompts[i]!
      const ids = tokenIdsOf(choice)
      if (!Array.isArray(ids)) return Effect.fail(ids as Http.Failure)
      const lps = choice.logprobs?.token_logprobs
      if (lps === undefined) {
        return Effect.fail(bad(`choice ${c}: expected logprobs.token_logprobs (the request sent logprobs: 0)`))
      }
      if (lps.length !== ids.length) {
        return Effect.fail(bad(`choice ${c}: ${lps.length} logprobs for ${ids.length} completion tokens`))
      }
      const logprobs: Array<number> = []
      for (let t = 0; t < lps.length; t++) {
        const lp = lps[t]
        if (typeof lp !== "number" || !Number.isFinite(lp) || lp > 1e-6) {
          return Effect.fail(bad(`choice ${c}: token ${t} has logprob ${String(lp)}; expected a finite number ≤ 0`))
        }
        logprobs.push(Math.min(lp, 0))
      }
      const promptTokenIds = choice.prompt_token_ids ?? prompt.input.tokenIds
      if (promptTokenIds === undefined || promptTokenIds === null) {
        return Effect.fail(
          bad(`choice ${c}: expected prompt_token_ids for a text prompt (the request sent return_token_ids: true)`)
        )
      }
      const reason = choice.finish_reason
      if (reason !== "stop" && reason !== "length" && reason !== "abort") {
        return Effect.fail(bad(`choice ${c}: expected finish_reason "stop", "length" or "abort", got ${JSON.stringify(reason)}`))
      }
      out.push({
        at: prompt.at,
        promptId: prompt.input.promptId,
        sampleIndex: j,
        text: choice.text,
        promptTokenIds: [...promptTokenIds],
        tokenIds: [...ids],
        logprobs,
        finishReason: reason,
        policyVersion: version
      })
    }
    return Effect.succeed(out)
  })

const refused = (endpoint: string, description: string) => new RuntimeError({ endpoint, reason: "Refused", description })

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

const HealthReply = Schema.Struct({
  logprobsMode: Schema.optional(Schema.String),
  policyVersion: Schema.optional(Schema.Int),
  ready: Schema.optional(Schema.Boolean)
})

/**
 * Builds the client. With `logprobSemantics: "probe"` (the default) it asks
 * every endpoint's `GET /health` once (with retries) and fails with an
 * `Unavailable` error naming the endpoint when one cannot be reached.
 *
 * **Example**
 * ```ts
 * const vllm = HttpInference.layer({
 *   endpoints: ["http://gpu1:8000", "http://gpu2:8000"],
 *   model: "Qwen/Qwen2.5-1.5B-Instruct",
 *   logprobSemantics: "processed"        // vllm serve … --logprobs-mode processed_logprobs
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Client, RuntimeError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    if (options.endpoints.length === 0) {
      return yield* refused("HttpInference", "expected at least one endpoint URL")
    }
    const policy = Http.retryPolicy(options, { timeout: "120 seconds", retries: 4 })
    const balancer = new Http.Balancer(options.endpoints, Duration.toMillis(policy.cooldown))
    const headers = options.headers ?? {}
    const extraBody = options.extraBody ?? {}
    const perRequest = Math.max(1, Math.floor(options.promptsPerRequest ?? 8))
    const groupMode = options.groupMode ?? "n"
    const maxConcurrency = Math.max(1, Math.floor(options.maxConcurrency ?? 8 * balancer.endpoints.length))
    const semaphore = yield* Effect.makeSemaphore(maxConcurrency)
    let version = options.policyVersion ?? 0

    const probeOne = (ep: Http.Endpoint) =>
      Http.withRetries(
        new Http.Balancer([ep.url], 0),
        { ...policy, timeout: Duration.min(policy.timeout, Duration.seconds(30)) },
        "/health",
        (e) => Http.requestJson(client, "GET", `${e.url}/health`, undefined, headers, policy.timeout).pipe(
          Effect.catchIf((f) => f.reason === "BadResponse", () => Effect.succeed({}))
        )
      ).pipe(Effect.map((json) => {
        const decoded = Schema.decodeUnknownOption(HealthReply)(json)
        return decoded._tag === "Some" ? decoded.value.logprobsMode : undefined
      }))

    let semantics: InferenceCapabilities["logprobSemantics"]
    let why = ""
    if (options.logprobSemantics === "processed" || options.logprobSemantics === "raw") {
      semantics = options.logprobSemantics
      why = `logprobSemantics: "${semantics}" was set in the options`
    } else {
      const modes = yield* Effect.forEach(balancer.endpoints, probeOne, { concurrency: "unbounded" })
      const notProcessed = balancer.endpoints.filter((_, i) => modes[i] !== "processed_logprobs")
      semantics = notProcessed.length === 0 ? "processed" : "raw"
      why = notProcessed.length === 0
        ? "every endpoint reported logprobsMode processed_logprobs"
        : `${notProcessed.map((e) => e.url).join(", ")} did not report logprobsMode "processed_logprobs" on GET /health ` +
          `(vLLM reports nothing: start it with --logprobs-mode processed_logprobs and set logprobSemantics: "processed")`
    }
    const capabilities: InferenceCapabilities = { logprobSemantics: semantics, maxConcurrency }

    const runPart = (part: Part, sampling: SamplingParams, seed: number | undefined) => {
      const body = requestBody(part, sampling, seed, options.model, extraBody)
      return semaphore.withPermits(1)(
        Http.withRetries(balancer, policy, "/v1/completions", (ep) =>
          Http.requestJson(client, "POST", `${ep.url}/v1/completions`, body, headers, policy.timeout).pipe(
            Effect.flatMap((json) => toCompletions(part, json, version))
          ))
      )
    }

    const generate = (request: GenerateRequest): Effect.Effect<ReadonlyArray<Completion>, RuntimeError> =>
      Effect.gen(function*() {
        const endpoint = `${balancer.endpoints[0]!.url}/v1/completions`
        const { sampling, n } = request
        if (!Number.isInteger(n) || n < 1) return yield* refused(endpoint, `n must be an integer ≥ 1, got ${n}`)
        if (!options.allowTruncatedSampling && (sampling.topP !== 1 || sampling.topK > 0)) {
          return yield* refused(
            endpoint,
            `training rollouts need topP = 1 and topK = 0 (got topP ${sampling.topP}, topK ${sampling.topK}); ` +
              `set allowTruncatedSampling for evaluation-only use`
          )
        }
        if (!options.allowRawLogprobs && semantics !== "processed") {
          return yield* refused(
            endpoint,
            `training needs processed (post-temperature) logprobs, but ${why}; set allowRawLogprobs for evaluation-only use`
          )
        }
        if (request.prompts.length === 0) return []
        const parts = chunkPrompts(request.prompts, n, perRequest, groupMode)
        const results = yield* Effect.forEach(
          parts,
          (part) =>
            runPart(
              part,
              sampling,
              sampling.seed === undefined ? undefined : Rng.deriveSeed(sampling.seed, part.k, "http-request")
            ),
          { concurrency: "unbounded" }
        )
        const all = results.flat()
        all.sort((a, b) => a.at - b.at || a.sampleIndex - b.sampleIndex)
        return all.map(({ at: _at, ...c }) => c)
      })

    const health: Effect.Effect<RuntimeHealth, RuntimeError> = Effect.gen(function*() {
      const replies = yield* Effect.forEach(
        balancer.endpoints,
        (ep) =>
          Effect.either(
            Http.requestJson(client, "GET", `${ep.url}/health`, undefined, headers, Duration.seconds(10)).pipe(
              Effect.catchIf((f) => f.reason === "BadResponse", () => Effect.succeed({}))
            )
          ),
        { concurrency: "unbounded" }
      )
      let ready = 0
      let reported: number | undefined
      const lines = replies.map((r, i) => {
        const url = balancer.endpoints[i]!.url
        if (r._tag === "Left") return `${url}: ${r.left.description}`
        ready++
        const decoded = Schema.decodeUnknownOption(HealthReply)(r.right)
        if (decoded._tag === "Some" && decoded.value.policyVersion !== undefined) {
          reported = Math.max(reported ?? 0, decoded.value.policyVersion)
        }
        return `${url}: ok`
      })
      return {
        ready: ready > 0,
        policyVersion: reported ?? version,
        detail: `${ready}/${replies.length} endpoints ready; logprobs ${semantics}; ${lines.join("; ")}`
      }
    })

    return {
      generate,
      health,
      capabilities,
      endpoints: balancer.endpoints.map((e) => e.url),
      served: () => balancer.endpoints.map((e) => e.served),
      setPolicyVersion: (v) =>
        Effect.sync(() => {
          version = v
        })
    }
  })

/**
 * The client as the {@link InferenceRuntime} layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<InferenceRuntime, RuntimeError, HttpClient.HttpClient> =>
  Layer.effect(InferenceRuntime, make(options))

// ---------------------------------------------------------------------------
// evaluation by sampling
// ---------------------------------------------------------------------------

/**
 * Options of {@link evaluator}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EvaluatorOptions {
  readonly verifier: Verifier
  /** Samples per problem. Default 1. */
  readonly n?: number
  /** Default: greedy (`temperature: 0`), `maxTokens` 1024. */
  readonly sampling?: Partial<SamplingParams>
  /** Seed of the evaluation requests. Default 0. */
  readonly seed?: number
}

/**
 * An {@link Evaluator} that estimates accuracy by sampling through the
 * {@link InferenceRuntime}: the share of `n` samples per problem the verifier
 * judges correct, averaged over problems (greedy decoding by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const evaluator = (options: EvaluatorOptions): Layer.Layer<Evaluator, never, InferenceRuntime> =>
  Layer.effect(
    Evaluator,
    Effect.map(InferenceRuntime, (runtime) => ({
      accuracy: (problems: ReadonlyArray<Problem>) =>
        Effect.gen(function*() {
          if (problems.length === 0) return 0
          const n = options.n ?? 1
          const sampling: SamplingParams = {
            temperature: 0,
            topP: 1,
            topK: 0,
            maxTokens: 1024,
            seed: options.seed ?? 0,
            ...options.sampling
          }
          const completions = yield* runtime.generate({
            requestId: "eval",
            prompts: problems.map((problem) => ({ promptId: problem.id, text: problem.prompt, problem })),
            n,
            sampling
          })
          let correct = 0
          completions.forEach((c, k) => {
            if (options.verifier(problems[Math.floor(k / n)]!, c.text, 0).correct) correct++
          })
          return correct / completions.length
        })
    }))
  )
