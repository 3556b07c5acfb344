/**
 * Weight sync implementations of `@zpd/core/WeightSync`: after the trainer
 * publishes new weights, every inference server is brought to them before
 * the next rollouts (spec/runtime.md §1.6, §2, §3.1).
 *
 * | server | sequence, on every engine | needs |
 * |---|---|---|
 * | zpd workers ({@link zpdWorkers}) | `POST /trainer/load_weights {path, policyVersion}`, reply must carry that version | a filesystem shared with the trainer |
 * | vLLM ({@link vllm}) | all engines: `POST /pause` → `POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path"}}` → `POST /reset_prefix_cache` → `POST /resume` | `VLLM_SERVER_DEV_MODE=1`; a vLLM whose `reload_weights` takes `weights_path` (GPU.md §3) |
 * | SGLang ({@link sglang}) | `POST /update_weights_from_disk {model_path, weight_version, flush_cache: true}` → `GET /model_info` must report that `weight_version` | a filesystem shared with the trainer |
 *
 * Routes and payloads were read in vLLM's sources
 * (`vllm/entrypoints/serve/dev/rlhf/api_router.py` @0100a212 for `/pause`
 * and `/resume`, `vllm/entrypoints/serve/cache/api_router.py` @09cb327f for
 * `/reset_prefix_cache`, the dev-mode `/collective_rpc` route, and the
 * `reload_weights(weights_path=…)` worker method used in vLLM's own reload
 * tests and `docs/training/layerwise.md`) and SGLang's
 * (`UpdateWeightFromDiskReqInput` in `python/sglang/srt/managers/io_struct.py`,
 * `/model_info` in `python/sglang/srt/entrypoints/http_server.py`). Without
 * `weights_path`, vLLM's `reload_weights` reloads the checkpoint it was
 * started from: rollouts would silently use stale weights.
 *
 * A vLLM sync that fails in the reload or the cache reset leaves the engines
 * **paused** (the error says which): resuming them would serve stale weights.
 *
 * {@link fleet} builds the whole disaggregated runtime (inference client,
 * trainer client, publisher, sync) and re-syncs after a trainer `restore`,
 * so a resumed run does not sample from whatever the servers held.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { RuntimeError } from "@zpd/core/Errors"
import { InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"
import * as Sync from "@zpd/core/WeightSync"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as HttpInference from "./HttpInference.ts"
import * as HttpTrainer from "./HttpTrainer.ts"
import * as Http from "./internal/http.ts"

/**
 * The core ports and hook, re-exported so one import wires a sync.
 *
 * @since 0.1.0
 * @category re-exports
 */
export { afterUpdate, PublishedWeights, WeightPublisher, WeightSync as Tag } from "@zpd/core/WeightSync"

/**
 * Options shared by every implementation: the admin calls' transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdminOptions {
  /** Base URLs of every inference server (each engine directly, not a router). */
  readonly endpoints: ReadonlyArray<string>
  /** Per-call limit. Default 10 minutes: a reload reads the whole checkpoint. */
  readonly timeout?: Duration.DurationInput
  /** Retries of a failed call (connection errors, timeouts, 5xx). Default 2. Every call is idempotent. */
  readonly retries?: number
  readonly backoff?: Duration.DurationInput
  readonly maxBackoff?: Duration.DurationInput
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Runs after every server holds the new weights, e.g. an `HttpInference`
   * client's `setPolicyVersion` for servers whose replies carry no version (vLLM).
   */
  readonly onSynced?: (policyVersion: number) => Effect.Effect<void>
}

// ---------------------------------------------------------------------------
// admin calls
// ---------------------------------------------------------------------------

interface Admin {
  readonly call: <A, I>(
    url: string,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    schema: Schema.Schema<A, I>,
    what: string
  ) => Effect.Effect<A, RuntimeError>
}

const admin = (options: AdminOptions): Effect.Effect<Admin, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const policy = Http.retryPolicy(options, { timeout: "10 minutes", retries: 2 })
    const headers = options.headers ?? {}
    return {
      call: (url, method, path, body, schema, what) => {
        const decode = Schema.decodeUnknownEither(schema)
        return Http.withRetries(
          new Http.Balancer([url], 0),
          policy,
          path,
          (ep) =>
            Http.requestJson(client, method, `${ep.url}${path}`, body, headers, policy.timeout, { value: null }).pipe(
              Effect.flatMap((json) => {
                const r = decode(json)
                return r._tag === "Right" ? Effect.succeed(r.right) : Effect.fail<Http.Failure>({
                  retryable: false,
                  reason: "BadResponse",
                  description: `expected ${what}: ${ParseResult.TreeFormatter.formatErrorSync(r.left)}`
                })
              })
            )
        )
      }
    }
  })

const urlsOf = (options: AdminOptions, who: string): Effect.Effect<ReadonlyArray<string>, RuntimeError> =>
  options.endpoints.length === 0
    ? Effect.fail(
      new RuntimeError({ endpoint: who, reason: "Refused", description: "expected at least one endpoint URL" })
    )
    : Effect.succeed(options.endpoints.map(Http.normalizeUrl))

/** The `name` and `targets` of a sync over `endpoints`: `label (N)`, or `label (N units)` when `unit` is given. */
const fleetOf = (label: string, endpoints: ReadonlyArray<string>, unit?: string) => ({
  name: unit === undefined
    ? `${label} (${endpoints.length})`
    : `${label} (${endpoints.length} ${unit}${endpoints.length === 1 ? "" : "s"})`,
  targets: endpoints.map(Http.normalizeUrl)
})

/** Runs `f` on every server at once and waits for all of them; fails with the first failure, in `urls` order. */
const onAll = <A>(
  urls: ReadonlyArray<string>,
  f: (url: string) => Effect.Effect<A, RuntimeError>
): Effect.Effect<Array<A>, RuntimeError> =>
  Effect.flatMap(
    Effect.forEach(urls, (url) => Effect.either(f(url)), { concurrency: "unbounded" }),
    (results) => Effect.all(results)
  )

const annotate = (e: RuntimeError, extra: string): RuntimeError =>
  new RuntimeError({ endpoint: e.endpoint, reason: e.reason, description: `${e.description}; ${extra}` })

const withHint = (hint: string) => (e: RuntimeError): RuntimeError =>
  /HTTP 404/.test(e.description) ? annotate(e, hint) : e

const mismatch = (endpoint: string, description: string) =>
  new RuntimeError({ endpoint, reason: "BadResponse", description })

/** Any JSON reply, or none (an empty 2xx body decodes as `null`). */
const AnyReply = Schema.Unknown

const finish = (options: AdminOptions, version: number) =>
  options.onSynced === undefined ? Effect.void : options.onSynced(version)

// ---------------------------------------------------------------------------
// zpd workers
// ---------------------------------------------------------------------------

const VersionReply = Schema.Struct({ policyVersion: Schema.Int })

/**
 * Inference-only zpd workers: each loads the published weights with
 * `POST /trainer/load_weights {path, policyVersion}` (PROTOCOL.md) and must
 * answer with that policy version. Their completions then carry it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const zpdWorkers = (
  options: AdminOptions
): Effect.Effect<Sync.WeightSync.Service, never, HttpClient.HttpClient> =>
  Effect.map(admin(options), (api) => ({
    ...fleetOf("zpd workers", options.endpoints),
    sync: (weights) =>
      Effect.gen(function*() {
        const urls = yield* urlsOf(options, "WeightSync.zpdWorkers")
        yield* onAll(urls, (url) =>
          api.call(url, "POST", "/trainer/load_weights", weights, VersionReply, "{policyVersion}").pipe(
            Effect.filterOrFail(
              (r) => r.policyVersion === weights.policyVersion,
              (r) =>
                mismatch(
                  `${url}/trainer/load_weights`,
                  `loaded policy version ${r.policyVersion}, expected ${weights.policyVersion} (from ${weights.path})`
                )
            )
          ))
        yield* finish(options, weights.policyVersion)
      })
  }))

// ---------------------------------------------------------------------------
// vLLM
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface VllmOptions extends AdminOptions {
  /**
   * What `/pause` does with requests in flight: `"wait"` (default) lets them
   * finish on the old weights; `"abort"` ends them (they come back with
   * `finish_reason: "abort"`). `"keep"` is not offered: frozen requests would
   * continue on the new weights with KV computed by the old ones.
   */
  readonly pauseMode?: "wait" | "abort"
}

const RpcReply = Schema.NullOr(Schema.Struct({ results: Schema.optional(Schema.Array(Schema.Unknown)) }))

const devModeHint =
  "start vLLM with VLLM_SERVER_DEV_MODE=1: /pause, /resume, /collective_rpc and /reset_prefix_cache " +
  "exist only in dev mode"

/**
 * vLLM engines (`vllm serve`, dev mode). Every phase runs on all engines
 * before the next starts, so no engine serves new weights while another still
 * serves old ones:
 *
 * 1. `POST /pause?mode=wait&wait_for_inflight_requests=true` (or
 *    `mode=abort`): stop scheduling; the older `wait_for_inflight_requests`
 *    flag is sent too so servers from before `mode` existed also wait.
 * 2. `POST /collective_rpc {"method": "reload_weights", "kwargs":
 *    {"weights_path": path}, "timeout": s}`: every worker reloads the
 *    published checkpoint in place.
 * 3. `POST /reset_prefix_cache`: drop KV blocks computed with the old
 *    weights, which shared prompt prefixes would otherwise reuse.
 * 4. `POST /resume`, then `onSynced(version)` (vLLM's replies carry no
 *    version: pass the inference client's `setPolicyVersion`).
 *
 * A failure in 2 or 3 leaves the engines paused and says so; a failure in 1
 * resumes the engines (nothing was reloaded).
 *
 * @since 0.1.0
 * @category constructors
 */
export const vllm = (options: VllmOptions): Effect.Effect<Sync.WeightSync.Service, never, HttpClient.HttpClient> =>
  Effect.map(admin(options), (api) => {
    const timeoutSeconds = Duration.toSeconds(Duration.decode(options.timeout ?? "10 minutes"))
    const pauseQuery = (options.pauseMode ?? "wait") === "wait"
      ? "?mode=wait&wait_for_inflight_requests=true"
      : "?mode=abort"
    const post = (url: string, path: string, body: unknown, schema: Schema.Schema<any, any>, what: string) =>
      api.call(url, "POST", path, body, schema, what).pipe(Effect.mapError(withHint(devModeHint)))
    return {
      ...fleetOf("vLLM", options.endpoints, "engine"),
      sync: (weights) =>
        Effect.gen(function*() {
          const urls = yield* urlsOf(options, "WeightSync.vllm")
          const resumeAll = onAll(urls, (url) => post(url, "/resume", {}, AnyReply, "a resume reply"))
          // nothing was reloaded yet: engines this call paused go back to serving what they served
          yield* onAll(urls, (url) => post(url, `/pause${pauseQuery}`, {}, AnyReply, "a pause reply")).pipe(
            Effect.tapError(() => Effect.ignore(resumeAll))
          )
          const leftPaused = (e: RuntimeError) =>
            annotate(
              e,
              `the engines ${urls.join(", ")} were left paused so they serve no stale weights ` +
                `(POST /resume by hand to serve the old weights)`
            )
          yield* onAll(urls, (url) =>
            post(
              url,
              "/collective_rpc",
              { method: "reload_weights", kwargs: { weights_path: weights.path }, timeout: timeoutSeconds },
              RpcReply,
              `a collective_rpc reply {"results": [...]}`
            )).pipe(Effect.mapError(leftPaused))
          yield* onAll(urls, (url) => post(url, "/reset_prefix_cache", {}, AnyReply, "a reset_prefix_cache reply"))
            .pipe(Effect.mapError(leftPaused))
          yield* resumeAll
          yield* finish(options, weights.policyVersion)
        })
    }
  })

// ---------------------------------------------------------------------------
// SGLang
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface SglangOptions extends AdminOptions {
  /** `load_format` of the update (SGLang's default when omitted: the server's). */
  readonly loadFormat?: string
  /** Abort requests in flight instead of letting them finish first. Default false. */
  readonly abortAllRequests?: boolean
}

const UpdateReply = Schema.Struct({ success: Schema.Boolean, message: Schema.optional(Schema.String) })
const ModelInfoReply = Schema.Struct({ weight_version: Schema.NullOr(Schema.String) })

/**
 * SGLang servers: `POST /update_weights_from_disk {model_path, weight_version:
 * String(policyVersion), flush_cache: true, abort_all_requests}` (SGLang holds
 * new requests while it loads, and flushes the radix cache), then reads the
 * server's `weight_version` back (`GET /model_info`; servers from before that
 * route: `GET /get_model_info`, then `GET /get_weight_version`) and fails
 * unless it is the new version. Completions replies carry the same label in
 * `metadata.weight_version`, which `HttpInference` stamps on completions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sglang = (options: SglangOptions): Effect.Effect<Sync.WeightSync.Service, never, HttpClient.HttpClient> =>
  Effect.map(admin(options), (api) => {
    const served = (url: string): Effect.Effect<string | null, RuntimeError> =>
      api.call(url, "GET", "/model_info", undefined, ModelInfoReply, "{weight_version}").pipe(
        Effect.catchIf(
          (e) => /HTTP 404/.test(e.description),
          () => api.call(url, "GET", "/get_model_info", undefined, ModelInfoReply, "{weight_version}")
        ),
        Effect.catchIf(
          (e) => /HTTP 404/.test(e.description),
          () => api.call(url, "GET", "/get_weight_version", undefined, ModelInfoReply, "{weight_version}")
        ),
        Effect.map((r) => r.weight_version)
      )
    return {
      ...fleetOf("SGLang", options.endpoints, "server"),
      sync: (weights) =>
        Effect.gen(function*() {
          const urls = yield* urlsOf(options, "WeightSync.sglang")
          const label = String(weights.policyVersion)
          const body = {
            model_path: weights.path,
            weight_version: label,
            flush_cache: true,
            abort_all_requests: options.abortAllRequests ?? false,
            ...(options.loadFormat === undefined ? {} : { load_format: options.loadFormat })
          }
          yield* onAll(urls, (url) =>
            Effect.gen(function*() {
              const reply = yield* api.call(
                url,
                "POST",
                "/update_weights_from_disk",
                body,
                UpdateReply,
                "{success, message}"
              )
              if (!reply.success) {
                return yield* new RuntimeError({
                  endpoint: `${url}/update_weights_from_disk`,
                  reason: "Refused",
                  description: `the server did not load ${weights.path}: ${reply.message ?? "(no message)"}`
                })
              }
              const version = yield* served(url)
              if (version !== label) {
                return yield* mismatch(
                  `${url}/model_info`,
                  `the server reports weight_version ${JSON.stringify(version)} after loading ${weights.path}; ` +
                    `expected "${label}" (a server that ignores weight_version in /update_weights_from_disk is too old)`
                )
              }
            }))
          yield* finish(options, weights.policyVersion)
        })
    }
  })

// ---------------------------------------------------------------------------
// the trainer side, and layers
// ---------------------------------------------------------------------------

const PublishReply = Schema.Struct({ policyVersion: Schema.Int, path: Schema.NullOr(Schema.String) })

/**
 * @since 0.1.0
 * @category models
 */
export interface PublisherOptions extends Omit<AdminOptions, "endpoints" | "onSynced"> {
  /** The trainer's base URL (a zpd worker, or any server of PROTOCOL.md). */
  readonly url: string
  /** Where the trainer writes the weights (`dir` of `/trainer/publish_weights`); default: its `--publish-dir`. */
  readonly publishDir?: string
}

/**
 * The {@link Sync.WeightPublisher} of a trainer speaking PROTOCOL.md:
 * `POST /trainer/publish_weights {dir}` → `{policyVersion, path}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const trainerPublisher = (
  options: PublisherOptions
): Effect.Effect<Sync.WeightPublisher.Service, never, HttpClient.HttpClient> =>
  Effect.map(admin({ ...options, endpoints: [options.url] }), (api) => {
    const url = Http.normalizeUrl(options.url)
    return {
      publish: api.call(
        url,
        "POST",
        "/trainer/publish_weights",
        options.publishDir === undefined ? {} : { dir: options.publishDir },
        PublishReply,
        "{policyVersion, path}"
      ).pipe(
        Effect.flatMap((r) =>
          r.path === null
            ? Effect.fail(
              new RuntimeError({
                endpoint: `${url}/trainer/publish_weights`,
                reason: "BadResponse",
                description:
                  "the trainer wrote no weights (no path in the reply): set publishDir or start it with --publish-dir"
              })
            )
            : Effect.succeed({ policyVersion: r.policyVersion, path: r.path })
        )
      )
    }
  })

/**
 * A sync as the `@zpd/core/WeightSync` layer.
 *
 * **Example**
 * ```ts
 * const sync = Layer.mergeAll(
 *   WeightSync.layer(WeightSync.vllm({ endpoints: ["http://gpu0:8000"], onSynced: inference.setPolicyVersion })),
 *   WeightSync.publisherLayer({ url: "http://gpu1:8001", publishDir: "/shared/weights" })
 * )
 * const pipeline = Pipeline.withHooks(Pipeline.make("sec", step), WeightSync.afterUpdate(1))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  make: Effect.Effect<Sync.WeightSync.Service, E, R>
): Layer.Layer<Sync.WeightSync, E, R> => Layer.effect(Sync.WeightSync, make)

/**
 * {@link trainerPublisher} as the `@zpd/core/WeightPublisher` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const publisherLayer = (
  options: PublisherOptions
): Layer.Layer<Sync.WeightPublisher, never, HttpClient.HttpClient> =>
  Layer.effect(Sync.WeightPublisher, trainerPublisher(options))

/**
 * Options of {@link fleet}.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetOptions {
  /** What serves rollouts: vLLM engines, SGLang servers, or inference-only zpd workers. */
  readonly servers: "vllm" | "sglang" | "zpd"
  /** The inference client; its `endpoints` are also the sync's targets. */
  readonly inference: HttpInference.Options
  /** The trainer (PROTOCOL.md), e.g. a zpd worker under torchrun. */
  readonly trainer: Omit<HttpTrainer.Options, "publishDir" | "syncTo">
  /** Where the trainer publishes, on a filesystem every server reads at the same path. */
  readonly publishDir: string
  /** The sync's transport and server-specific options. */
  readonly sync?:
    & Omit<AdminOptions, "endpoints" | "onSynced">
    & Omit<VllmOptions, "endpoints">
    & Omit<SglangOptions, "endpoints">
  /**
   * Headers for every call: inference, trainer, publish and sync, e.g.
   * `Worker.authHeaders(token)` for a fleet of zpd workers sharing one token.
   * Per-part headers (`inference.headers`, `trainer.headers`, `sync.headers`)
   * are added on top; publishing uses the trainer's.
   */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * The whole disaggregated runtime in one layer: `InferenceRuntime` over the
 * servers, `TrainerRuntime` over the trainer, and the publisher and sync
 * that {@link afterUpdate} uses. Completions carry the synced version
 * (vLLM: stamped after each sync; SGLang: `metadata.weight_version`; zpd
 * workers: `policy_version`).
 *
 * **Example**
 * ```ts
 * const runtime = WeightSync.fleet({
 *   servers: "vllm",
 *   inference: { endpoints: ["http://gpu0:8000", "http://gpu1:8000"], model: "policy", logprobSemantics: "processed" },
 *   trainer: { url: "http://gpu2:8001" },
 *   publishDir: "/shared/weights"
 * })
 * const pipeline = Pipeline.withHooks(Pipeline.make("sec", step), WeightSync.afterUpdate(1))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const fleet = (
  options: FleetOptions
): Layer.Layer<
  InferenceRuntime | TrainerRuntime | Sync.WeightPublisher | Sync.WeightSync,
  RuntimeError,
  HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const withHeaders = <O extends { readonly headers?: Readonly<Record<string, string>> | undefined }>(o: O): O =>
      options.headers === undefined ? o : { ...o, headers: { ...options.headers, ...o.headers } }
    const inference = yield* HttpInference.make(withHeaders(options.inference))
    const syncOptions = withHeaders({ ...options.sync, endpoints: options.inference.endpoints })
    const sync = yield* (options.servers === "vllm"
      ? vllm({ ...syncOptions, onSynced: inference.setPolicyVersion })
      : options.servers === "sglang"
      ? sglang(syncOptions)
      : zpdWorkers(syncOptions))
    // the publisher talks to the trainer: the trainer's headers, not the servers'
    const publisher = yield* trainerPublisher(withHeaders({
      ...options.sync,
      url: options.trainer.url,
      publishDir: options.publishDir,
      headers: options.trainer.headers ?? {}
    }))
    const trainer = yield* HttpTrainer.make(withHeaders(options.trainer))
    return Layer.mergeAll(
      Layer.succeed(InferenceRuntime, inference),
      Layer.succeed(TrainerRuntime, syncOnRestore(trainer, publisher, sync)),
      Layer.succeed(Sync.WeightPublisher, publisher),
      Layer.succeed(Sync.WeightSync, sync)
    )
  }))

/**
 * A trainer whose `restore` (a resumed run) also publishes the restored
 * weights and syncs the inference servers, so the first resumed step samples
 * from the restored policy rather than from whatever the servers held.
 *
 * @since 0.1.0
 * @category combinators
 */
export const syncOnRestore = (
  trainer: TrainerRuntime.Service,
  publisher: Sync.WeightPublisher.Service,
  sync: Sync.WeightSync.Service
): TrainerRuntime.Service => ({
  ...trainer,
  restore: (checkpoint) => Effect.tap(trainer.restore(checkpoint), () => Effect.flatMap(publisher.publish, sync.sync))
})
