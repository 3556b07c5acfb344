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
 * `logprobSemantics` option: `"processed"` is the user's assertion (checked
 * against `GET /health` where a server reports `logprobsMode`, as the zpd
 * worker does: a contradiction fails the build), `"probe"` (default) asks each
 * endpoint's `GET /health` and accepts `logprobsMode: "processed_logprobs"` or
 * an SGLang server (its logprobs follow the temperature, spec §2); anything
 * else counts as raw. With raw logprobs, or with `topP < 1` / `topK > 0`,
 * `generate` refuses (a `RuntimeError` with reason `Refused`) unless
 * `allowRawLogprobs` / `allowTruncatedSampling` is set (evaluation-only use).
 *
 * **Scale.** Prompts are split into requests of at most `promptsPerRequest`
 * prompts; a pool of at most `maxConcurrency` promise loops sends them (a
 * FIFO permit queue bounds the requests in flight over concurrent calls too,
 * so the cost is linear in the number of requests; a request is a plain
 * promise around `fetch` until an attempt fails, when `Effect.retry` takes
 * over; the call is wrapped once in Effect); requests are spread over
 * `endpoints` by least-outstanding-requests with round-robin ties (an
 * endpoint that failed is avoided for `cooldown`, a retry avoids the endpoint
 * it just failed on). Replies are checked field by field, without copies.
 *
 * **Faults.** Each attempt's limit is `timeout + timeoutPerToken × maxTokens`.
 * Connection errors, timeouts (at most `timeoutRetries` times), bodies cut
 * off mid-way, 429 and 5xx are retried up to `retries` times (`Effect.retry`
 * over an exponential, jittered `Schedule`; a `Retry-After` header wins);
 * redirects, other 4xx, a 200 that is not JSON and replies that are JSON but
 * not a valid completions reply fail at once, naming the endpoint, the choice
 * and field, what was expected, and the request's prompts. Policy versions
 * may not go backwards between replies; returned `prompt_token_ids` must
 * equal the ids sent (`checkPromptTokenIds`). Completions that finish with
 * `abort` are dropped and regenerated (`n: 1`, their own seed, up to
 * `abortRetries` times; counted in `abortedAttempts`, the pipeline's
 * `rollouts_aborted` metric). More than `warnTruncatedAbove` of a call's
 * completions stopping at `maxTokens` logs a warning (the pipeline records
 * `frac_truncated`). Token-id prompts longer than `contextLength − maxTokens`
 * are refused before sending. Interrupting `generate` aborts every request in
 * flight.
 *
 * **Seeds.** Request `k` of a call (in prompt order) carries
 * `Rng.deriveSeed(sampling.seed, k, "http-request")`, so results depend on the
 * seed and on `promptsPerRequest` but not on which endpoint served them.
 * `groupMode: "fanout"` sends each sample as its own `n: 1` request (slime's
 * pattern, spec §1.4); `"auto"` (default) does so on SGLang, whose n samples of
 * one request can share a seed.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
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
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Batch from "./internal/batch.ts"
import * as Completions from "./internal/completions.ts"
import * as Http from "./internal/http.ts"
import * as NodeHttp from "./internal/nodeHttp.ts"

/**
 * Options of the HTTP inference client. Transport defaults: `timeout` 30 s
 * plus `timeoutPerToken` 20 ms per requested token (`maxTokens`), `retries` 4
 * of which `timeoutRetries` 1 (a server that never answers is reported after
 * two limits), `backoff` 200 ms doubling up to `maxBackoff` 10 s.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Http.TransportOptions {
  /** Base URLs, e.g. `["http://gpu1:8000", "http://gpu2:8000"]` (a trailing `/v1` is dropped). */
  readonly endpoints: ReadonlyArray<string>
  /** The `model` field. vLLM serves one model per process; omit it for the zpd worker. */
  readonly model?: string
  /**
   * `"probe"` (default): ask each endpoint's info routes; `"processed"`: you assert the server returns
   * post-temperature logprobs (still checked against an info route that reports a mode); `"raw"`.
   */
  readonly logprobSemantics?: "processed" | "raw" | "probe"
  /** Requests in flight at once, over all endpoints and concurrent calls. Default 8 per endpoint. */
  readonly maxConcurrency?: number
  /** Prompts per `/v1/completions` request. Default 8. */
  readonly promptsPerRequest?: number
  /**
   * `"n"`: one request carries the whole group; `"fanout"`: one `n: 1` request per sample, each with its own
   * seed; `"auto"` (default): fanout on servers whose n samples share one seed (SGLang, found by its
   * `GET /get_server_info`), else `"n"` (spec/runtime.md §1.4).
   */
  readonly groupMode?: "n" | "fanout" | "auto"
  /** How long a failed endpoint is avoided. Default 5 s. */
  readonly cooldown?: Duration.DurationInput
  /** Extra top-level request fields (vLLM's `extra_body`), e.g. `{ skip_special_tokens: false }`. */
  readonly extraBody?: Readonly<Record<string, unknown>>
  /** Permit `topP < 1` / `topK > 0` (evaluation only: the trainer does not replay truncation). */
  readonly allowTruncatedSampling?: boolean
  /** Permit generation when the logprobs are raw (evaluation only). */
  readonly allowRawLogprobs?: boolean
  /** Policy version stamped on completions when the server does not report one (vLLM). Default 0. */
  readonly policyVersion?: number
  /** The server's context length (vLLM `--max-model-len`): token-id prompts with `maxTokens` beyond it are refused before sending. */
  readonly contextLength?: number
  /** Check that the returned `prompt_token_ids` equal the token ids sent. Default true. */
  readonly checkPromptTokenIds?: boolean
  /** Completions that finish with `abort` (partial) are dropped and regenerated up to this many times each. Default 3. */
  readonly abortRetries?: number
  /** Log a warning when more than this fraction of a call's completions stop at `maxTokens`. Default 0.5. */
  readonly warnTruncatedAbove?: number
  /**
   * Says why the server's process has ended, once it has (set by `Worker.layer`): a failed request to a
   * dead server is then reported at once instead of retried.
   */
  readonly serverExited?: Effect.Effect<Option.Option<string>>
  /**
   * How `/v1/completions` requests are sent. `"auto"` (default): `"node"` when running under Node with every
   * endpoint on plain `http:`, else `"fetch"`. `"fetch"` (portable): straight through `fetch` (the
   * `FetchHttpClient.Fetch` service when the application provides one, else the runtime's global `fetch`,
   * as on Node 18+ and Deno), one promise per attempt. `"node"` (Node only, `http:` endpoints only):
   * `node:http` with a keep-alive agent capped at `maxConcurrency` sockets per endpoint; about a third of
   * fetch's client CPU per request. `"httpClient"`: through the application's `HttpClient` (its middleware
   * and tracing apply, at several times the CPU per request). Probes and health checks always use the
   * `HttpClient`.
   */
  readonly transport?: "auto" | "fetch" | "node" | "httpClient"
}

/** Under Node proper (not Deno or Bun, which also define `process`). */
const isNode = (): boolean => {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown }
  return g.process?.versions?.node !== undefined && g.Deno === undefined && g.Bun === undefined
}

/** The transport `Options.transport` names, `"auto"` resolved for this runtime and these endpoints. */
const resolveTransport = (options: Options): "fetch" | "node" | "httpClient" => {
  const chosen = options.transport ?? "auto"
  if (chosen !== "auto") return chosen
  return isNode() && options.endpoints.every((url) => url.startsWith("http:")) ? "node" : "fetch"
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
  /** The group mode in use (`"auto"` resolved by the probe). */
  readonly groupMode: "n" | "fanout"
  /** Sets the version stamped on completions of servers that report none (after you sync their weights). */
  readonly setPolicyVersion: (version: number) => Effect.Effect<void>
}

// ---------------------------------------------------------------------------
// the reply
// ---------------------------------------------------------------------------

/**
 * One choice of a `/v1/completions` reply: the fields zpd reads (vLLM's
 * `CompletionResponseChoice`). Replies are checked field by field against
 * this shape without a Schema decode (it is the hot path at fleet scale);
 * the Schema documents the shape for implementers of other servers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionChoice = Schema.Struct({
  index: Schema.Int,
  text: Schema.String,
  finish_reason: Schema.NullOr(Schema.String),
  token_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.NonNegativeInt))),
  prompt_token_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.NonNegativeInt))),
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
  policy_version: Schema.optional(Schema.NonNegativeInt),
  metadata: Schema.optional(
    Schema.NullOr(Schema.Struct({ weight_version: Schema.optional(Schema.NullOr(Schema.String)) }))
  )
})

const refused = (endpoint: string, description: string) =>
  new RuntimeError({ endpoint, reason: "Refused", description })

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

const HealthReply = Schema.Struct({
  logprobsMode: Schema.optional(Schema.String),
  policyVersion: Schema.optional(Schema.Int),
  ready: Schema.optional(Schema.Boolean)
})

/** What the info routes of one endpoint said. */
interface Probed {
  readonly url: string
  /** `logprobsMode` from `GET /health` (the zpd worker reports it; vLLM reports nothing). */
  readonly logprobsMode: string | undefined
  /** `GET /get_server_info` answered as SGLang does. */
  readonly sglang: boolean
}

const isSglangInfo = (json: unknown): boolean =>
  typeof json === "object" && json !== null && typeof (json as { version?: unknown }).version === "string" &&
  ("model_path" in json || "server_args" in json || "tokenizer_path" in json)

/**
 * Builds the client. Unless `logprobSemantics` and `groupMode` are both set
 * explicitly it asks every endpoint's `GET /health` once (with retries; an
 * endpoint that cannot be reached fails the build with `Unavailable` naming
 * it) and `GET /get_server_info` (SGLang's; any failure means "not SGLang").
 * A logprob mode that an endpoint reports and that contradicts
 * `logprobSemantics: "processed"` fails the build with `Refused`.
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
    if (options.endpoints.length === 0) {
      return yield* refused("HttpInference", "expected at least one endpoint URL")
    }
    const transport = Http.transport(yield* HttpClient.HttpClient, options.headers ?? {})
    const policy = Http.retryPolicy(options, { timeout: "30 seconds", retries: 4 })
    const perToken = Duration.toMillis(Duration.decode(options.timeoutPerToken ?? "20 millis"))
    const balancer = new Http.Balancer(options.endpoints, Duration.toMillis(policy.cooldown))
    const extraBody = options.extraBody ?? {}
    const perRequest = Math.max(1, Math.floor(options.promptsPerRequest ?? 8))
    const maxConcurrency = Math.max(1, Math.floor(options.maxConcurrency ?? 8 * balancer.endpoints.length))
    const permits = new Batch.Permits(maxConcurrency)
    /** The first attempt of each `/v1/completions` request, unless `transport: "httpClient"` (see `Options.transport`). */
    const transportName = resolveTransport(options)
    if (transportName === "node") {
      const secure = options.endpoints.find((url) => !url.startsWith("http:"))
      if (secure !== undefined) {
        return yield* refused(
          "HttpInference",
          `transport: "node" sends plain http: only, got endpoint ${secure}; use transport: "fetch"`
        )
      }
    }
    const direct = transportName === "httpClient"
      ? undefined
      : transportName === "node"
      ? yield* Effect.tryPromise({
        try: () => NodeHttp.nodeAttempt(maxConcurrency, options.headers ?? {}),
        catch: (e) =>
          refused("HttpInference", `transport: "node" needs Node's node:http (${String(e)}); use transport: "fetch"`)
      })
      : Http.fetchAttempt(
        Option.getOrElse(yield* Effect.serviceOption(FetchHttpClient.Fetch), () => globalThis.fetch),
        options.headers ?? {}
      )
    /** Every later attempt (retries, after a first failure). */
    const retryTransport = direct === undefined ? transport : Http.fetchTransport(direct)
    const abortRetries = Math.max(0, Math.floor(options.abortRetries ?? 3))
    const warnTruncatedAbove = options.warnTruncatedAbove ?? 0.5
    const checkPromptTokenIds = options.checkPromptTokenIds ?? true
    let version = options.policyVersion ?? 0
    /** The newest policy version any reply carried: replies may not go below it. */
    let floor = version

    const asserted = options.logprobSemantics === "processed" || options.logprobSemantics === "raw"
    const autoGroups = options.groupMode !== "n" && options.groupMode !== "fanout"
    const quick = Duration.min(policy.timeout, Duration.seconds(2))
    /** A route that may not exist: one attempt, any failure is "no answer". */
    const ask = (url: string) => transport("GET", url, undefined, quick).pipe(Effect.option)
    const probeOne = (ep: Http.Endpoint): Effect.Effect<Probed, RuntimeError> =>
      Effect.all([
        // unasserted: the mode decides whether training may run, so the endpoint must answer
        !asserted
          ? Http.withRetries(
            new Http.Balancer([ep.url], 0),
            { ...policy, timeout: Duration.min(policy.timeout, Duration.seconds(30)) },
            "/health",
            (e) =>
              transport("GET", `${e.url}/health`, undefined, Duration.min(policy.timeout, Duration.seconds(30))).pipe(
                Effect.catchIf((f) => f.reason === "BadResponse", () => Effect.succeed({}))
              ),
            options.serverExited
          ).pipe(Effect.map(Option.some))
          : options.logprobSemantics === "processed"
          ? ask(`${ep.url}/health`)
          : Effect.succeedNone,
        autoGroups ? Effect.map(ask(`${ep.url}/get_server_info`), Option.exists(isSglangInfo)) : Effect.succeed(false)
      ], { concurrency: 2 }).pipe(Effect.map(([health, sglang]) => {
        const decoded = Option.flatMap(health, Schema.decodeUnknownOption(HealthReply))
        return { url: ep.url, logprobsMode: Option.getOrUndefined(decoded)?.logprobsMode, sglang }
      }))

    const needProbe = !asserted || autoGroups || options.logprobSemantics === "processed"
    const probed = needProbe
      ? yield* Effect.forEach(balancer.endpoints, probeOne, { concurrency: "unbounded" })
      : []
    const processedBy = (p: Probed) =>
      p.logprobsMode === "processed_logprobs" || (p.logprobsMode === undefined && p.sglang)
    let semantics: InferenceCapabilities["logprobSemantics"]
    let why = ""
    if (asserted) {
      semantics = options.logprobSemantics as "processed" | "raw"
      why = `logprobSemantics: "${semantics}" was set in the options`
      const contradicting = semantics === "processed"
        ? probed.find((p) => p.logprobsMode !== undefined && p.logprobsMode !== "processed_logprobs")
        : undefined
      if (contradicting !== undefined) {
        return yield* refused(
          `${contradicting.url}/health`,
          `logprobSemantics: "processed" was asserted, but the server reports logprobsMode ` +
            `${JSON.stringify(contradicting.logprobsMode)}; expected "processed_logprobs" ` +
            `(restart it with --logprobs-mode processed_logprobs, or set logprobSemantics: "raw" for evaluation)`
        )
      }
    } else {
      const notProcessed = probed.filter((p) => !processedBy(p))
      semantics = notProcessed.length === 0 ? "processed" : "raw"
      why = notProcessed.length === 0
        ? "every endpoint reported processed logprobs"
        : `${
          notProcessed.map((e) => e.url).join(", ")
        } did not report logprobsMode "processed_logprobs" on GET /health ` +
          `(vLLM reports nothing: start it with --logprobs-mode processed_logprobs and set logprobSemantics: "processed")`
    }
    const groupMode: "n" | "fanout" = options.groupMode === "n" || options.groupMode === "fanout"
      ? options.groupMode
      : probed.some((p) => p.sglang)
      ? "fanout"
      : "n"
    const capabilities: InferenceCapabilities = { logprobSemantics: semantics, maxConcurrency }

    /** A reply's completions, or why it is refused (shape, fields, a policy version going backwards). */
    const readChecked = (
      part: Completions.Part,
      json: unknown,
      read: Completions.ReadOptions
    ): Array<Completions.Placed> | Http.Failure => {
      const out = Completions.readReply(part, json, read)
      if (!Array.isArray(out)) return out
      const replied = out[0]!.policyVersion
      if (replied < floor) {
        return {
          retryable: false,
          reason: "BadResponse",
          description: `policy_version ${replied} is older than version ${floor} seen before; expected versions ` +
            `never to go backwards (was the server restarted from older weights? after a deliberate restore, ` +
            `call setPolicyVersion)`
        }
      }
      floor = replied
      return out
    }

    /** What one call's requests share: its batch, the runtime retries run in, its sampling and limits. */
    interface Call {
      readonly batch: Batch.Batch
      readonly runtime: Runtime.Runtime<never>
      readonly now: () => number
      readonly sampling: SamplingParams
      readonly timeout: Duration.Duration
    }

    /**
     * One request, holding a permit: a first attempt as a plain promise (fetch transport); if it fails,
     * `Http.withRetries` takes over from that failure in a fiber. Its completions in choice order; rejects
     * with a `RuntimeError` naming the endpoint and the request's prompts.
     */
    const request = (
      call: Call,
      part: Completions.Part,
      seed: number | undefined
    ): Promise<Array<Completions.Placed>> =>
      call.batch.withPermit(async () => {
        const body = JSON.stringify(Completions.requestBody(part, call.sampling, seed, options.model, extraBody))
        const read = { fallbackVersion: version, checkPromptTokenIds }
        let first: { endpoint: Http.Endpoint; failure: Http.Failure } | undefined
        if (direct !== undefined) {
          const endpoint = balancer.pick(call.now(), undefined)
          endpoint.inFlight++
          const outcome = await call.batch.attempt(
            direct,
            "POST",
            `${endpoint.url}/v1/completions`,
            body,
            call.timeout,
            () => endpoint.inFlight--
          )
          const out = outcome.ok ? readChecked(part, outcome.json, read) : outcome.failure
          if (Array.isArray(out)) {
            balancer.succeeded(endpoint)
            return out
          }
          first = { endpoint, failure: out }
        }
        const retried = Http.withRetries(
          balancer,
          policy,
          "/v1/completions",
          (ep) =>
            Effect.flatMap(retryTransport("POST", `${ep.url}/v1/completions`, body, call.timeout), (json) => {
              const out = readChecked(part, json, read)
              return Array.isArray(out) ? Effect.succeed(out) : Effect.fail(out)
            }),
          options.serverExited,
          first
        ).pipe(Effect.mapError((e) => new RuntimeError({ ...e, description: `${e.description}${forPrompts(part)}` })))
        return call.batch.run(call.runtime, retried)
      })

    /** One part, with its aborted samples regenerated one by one (each `n: 1`, its own seed). */
    const runPart = async (call: Call, part: Completions.Part): Promise<Array<Completions.Placed>> => {
      const seedOf = (label: string) =>
        call.sampling.seed === undefined ? undefined : Rng.deriveSeed(call.sampling.seed, part.k, label)
      const out = await request(call, part, seedOf("http-request"))
      for (let round = 0;; round++) {
        const aborted: Array<number> = []
        for (let c = 0; c < out.length; c++) if (out[c]!.finishReason === "abort") aborted.push(c)
        if (aborted.length === 0) return out
        if (round >= abortRetries) {
          const first = out[aborted[0]!]!
          throw new RuntimeError({
            endpoint: balancer.endpoints.map((e) => `${e.url}/v1/completions`).join(", "),
            reason: "Unavailable",
            description:
              `${aborted.length} completion(s) (first: prompt "${first.promptId}" sample ${first.sampleIndex}) ` +
              `still finished with "abort" after ${abortRetries} regeneration(s); expected "stop" or "length" ` +
              `(is the server being paused or restarted? raise abortRetries to wait longer)`
          })
        }
        await Promise.all(aborted.map(async (c) => {
          const old = out[c]!
          const one: Completions.Part = {
            k: part.k,
            prompts: [part.prompts.find((p) => p.at === old.at)!],
            n: 1,
            sampleIndex: old.sampleIndex
          }
          const [fresh] = await request(call, one, seedOf(`http-regenerate-${old.sampleIndex}-${round}`))
          out[c] = { ...fresh!, abortedAttempts: (old.abortedAttempts ?? 0) + 1 }
        }))
      }
    }

    /** Every part of a call on the promise-based hot path, wrapped once in Effect: interrupting it cancels the batch. */
    const runParts = (
      parts: ReadonlyArray<Completions.Part>,
      sampling: SamplingParams,
      timeout: Duration.Duration
    ): Effect.Effect<Array<Array<Completions.Placed>>, RuntimeError> =>
      Effect.flatMap(
        Effect.runtime<never>(),
        (runtime) =>
          Effect.clockWith((clock) =>
            Effect.async<Array<Array<Completions.Placed>>, RuntimeError>((resume) => {
              const batch = new Batch.Batch(permits)
              const call: Call = { batch, runtime, now: () => clock.unsafeCurrentTimeMillis(), sampling, timeout }
              Batch.pool(parts, maxConcurrency, (part) => runPart(call, part)).then(
                (results) => resume(Effect.succeed(results)),
                (e: unknown) => {
                  batch.cancel()
                  resume(e instanceof RuntimeError ? Effect.fail(e) : Effect.die(e))
                }
              )
              return Effect.sync(() => batch.cancel())
            })
          )
      )

    const generate = (request: GenerateRequest): Effect.Effect<ReadonlyArray<Completion>, RuntimeError> =>
      Effect.suspend(() => {
        const endpoint = `${balancer.endpoints[0]!.url}/v1/completions`
        const { sampling, n } = request
        if (!Number.isInteger(n) || n < 1) return Effect.fail(refused(endpoint, `n must be an integer ≥ 1, got ${n}`))
        if (!Number.isInteger(sampling.maxTokens) || sampling.maxTokens < 1) {
          return Effect.fail(refused(endpoint, `sampling.maxTokens must be an integer ≥ 1, got ${sampling.maxTokens}`))
        }
        if (!options.allowTruncatedSampling && (sampling.topP !== 1 || sampling.topK > 0)) {
          return Effect.fail(refused(
            endpoint,
            `training rollouts need topP = 1 and topK = 0 (got topP ${sampling.topP}, topK ${sampling.topK}); ` +
              `set allowTruncatedSampling for evaluation-only use`
          ))
        }
        if (!options.allowRawLogprobs && semantics !== "processed") {
          return Effect.fail(refused(
            endpoint,
            `training needs processed (post-temperature) logprobs, but ${why}; set allowRawLogprobs for evaluation-only use`
          ))
        }
        if (options.contextLength !== undefined) {
          const over = request.prompts.find((p) =>
            p.tokenIds !== undefined && p.tokenIds.length + sampling.maxTokens > options.contextLength!
          )
          if (over !== undefined) {
            return Effect.fail(refused(
              endpoint,
              `prompt "${over.promptId}" has ${over.tokenIds!.length} tokens; with maxTokens ${sampling.maxTokens} ` +
                `it needs ${over.tokenIds!.length + sampling.maxTokens}, expected at most the context length ` +
                `${options.contextLength} (shorten the prompt or lower maxTokens)`
            ))
          }
        }
        if (request.prompts.length === 0) return Effect.succeed([])
        const parts = Completions.chunkPrompts(request.prompts, n, perRequest, groupMode)
        const timeout = Duration.sum(policy.timeout, Duration.millis(perToken * sampling.maxTokens))
        return runParts(parts, sampling, timeout).pipe(
          Effect.flatMap((results) => {
            const all = placeInOrder(results, request.prompts.length, n)
            return warnIfTruncated(all, sampling.maxTokens, warnTruncatedAbove, endpoint).pipe(Effect.as(all))
          }),
          Effect.provideService(FetchHttpClient.RequestInit, noRedirects)
        )
      })

    const health: Effect.Effect<RuntimeHealth, RuntimeError> = Effect.gen(function*() {
      const replies = yield* Effect.forEach(
        balancer.endpoints,
        (ep) =>
          Effect.either(
            transport("GET", `${ep.url}/health`, undefined, Duration.seconds(10)).pipe(
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
      groupMode,
      endpoints: balancer.endpoints.map((e) => e.url),
      served: () => balancer.endpoints.map((e) => e.served),
      setPolicyVersion: (v) =>
        Effect.suspend(() => {
          if (!Number.isInteger(v) || v < 0) {
            return Effect.dieMessage(`HttpInference.setPolicyVersion: expected an integer ≥ 0, got ${v}`)
          }
          version = v
          floor = v
          return Effect.void
        })
    }
  })

const noRedirects: RequestInit = { redirect: "manual" }

/** The prompts of a request, for its errors (so a refused prompt can be found). */
const forPrompts = (part: Completions.Part): string => {
  const ids = part.prompts.map((p) => JSON.stringify(p.input.promptId))
  const list = ids.length <= 4 ? ids.join(", ") : `${ids.slice(0, 4).join(", ")} and ${ids.length - 4} more`
  return ` (request for prompt${ids.length === 1 ? "" : "s"} ${list})`
}

/** Completions ordered by prompt, then sample index, without sorting (each has a known slot). */
const placeInOrder = (
  results: ReadonlyArray<ReadonlyArray<Completions.Placed>>,
  prompts: number,
  n: number
): Array<Completion> => {
  const all: Array<Completion> = new Array(prompts * n)
  for (const out of results) {
    for (const c of out) {
      const { at, ...completion } = c
      all[at * n + c.sampleIndex] = completion
    }
  }
  return all
}

/** The truncation warning: share of completions that stopped at `maxTokens` (spec issue: silent truncation). */
const warnIfTruncated = (
  all: ReadonlyArray<Completion>,
  maxTokens: number,
  above: number,
  endpoint: string
): Effect.Effect<void> => {
  let truncated = 0
  for (const c of all) if (c.finishReason === "length") truncated++
  const fraction = truncated / all.length
  if (fraction <= above) return Effect.void
  return Effect.logWarning(
    truncated === all.length
      ? `every one of ${all.length} completions stopped at maxTokens = ${maxTokens} (${endpoint}): rewards ` +
        `and advantages see only cut-off answers; raise sampling.maxTokens`
      : `${
        (100 * fraction).toFixed(1)
      }% of ${all.length} completions stopped at maxTokens = ${maxTokens} (${endpoint}), ` +
        `above the warning threshold ${above}; consider raising sampling.maxTokens`
  )
}

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
