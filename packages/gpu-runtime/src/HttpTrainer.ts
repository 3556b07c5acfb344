/**
 * A {@link TrainerRuntime} over HTTP: zpd's trainer protocol
 * (`packages/gpu-runtime/PROTOCOL.md`), served by the PyTorch worker and
 * implementable by any trainer.
 *
 * | operation | route | reply |
 * |---|---|---|
 * | `update` | `POST /trainer/update {step, samples, loss}` | `{step, policyVersion, metrics, groupKl}` |
 * | `resetReference` | `POST /trainer/reset_reference` | `{policyVersion, referenceVersion}` |
 * | `publishWeights` | `POST /trainer/publish_weights {dir?}` | `{policyVersion, path}` |
 * | (sync) | `POST /trainer/load_weights {path, policyVersion}` on each `syncTo` server | `{policyVersion}` |
 * | `checkpoint` | `POST /trainer/checkpoint {tag, dir?}` | `{policyVersion, path}` |
 * | `restore` | `POST /trainer/restore {path}` | `{policyVersion}` |
 * | `health` | `GET /health` | `{ready, policyVersion, …}` |
 *
 * Every reply carries the policy version. Failed attempts (connection errors,
 * timeouts, 429, 5xx) are retried with backoff: an `update` is safe to retry
 * because the protocol makes a repeated update (same `step`, same body) a
 * replay of the recorded result, not a second optimiser step.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { RuntimeError } from "@zpd/core/Errors"
import * as Hook from "@zpd/core/Hook"
import {
  type RuntimeHealth,
  type TrainerCheckpoint,
  TrainerRuntime,
  type TrainStepRequest,
  type TrainStepResult
} from "@zpd/core/Runtime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Http from "./internal/http.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The trainer's base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string
  /** Per-attempt limit. Default 10 minutes (an update on a large batch is long). */
  readonly timeout?: Duration.DurationInput
  /** Retries after the first attempt. Default 3. */
  readonly retries?: number
  readonly backoff?: Duration.DurationInput
  readonly maxBackoff?: Duration.DurationInput
  readonly headers?: Readonly<Record<string, string>>
  /** Where the trainer writes checkpoints (`dir` of `/trainer/checkpoint`); default: the trainer's own. */
  readonly checkpointDir?: string
  /** Where the trainer writes published weights (`dir` of `/trainer/publish_weights`). */
  readonly publishDir?: string
  /**
   * Inference servers speaking this protocol's `/trainer/load_weights` (zpd
   * workers serving inference only) that `publishWeights` brings to the new
   * weights. Needs `publishDir` on a filesystem they share.
   */
  readonly syncTo?: ReadonlyArray<string>
}

/**
 * The trainer client: {@link TrainerRuntime} plus health and a parameter digest.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client extends TrainerRuntime.Service {
  readonly url: string
  readonly health: Effect.Effect<RuntimeHealth, RuntimeError>
  /** SHA-256 of the policy parameters (for exact-resume checks). */
  readonly digest: Effect.Effect<{ readonly policyVersion: number; readonly digest: string }, RuntimeError>
}

// ---------------------------------------------------------------------------
// replies
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category schemas
 */
export const UpdateReply = Schema.Struct({
  step: Schema.optional(Schema.NullOr(Schema.Int)),
  policyVersion: Schema.Int,
  metrics: Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.Number) }),
  groupKl: Schema.optional(Schema.NullOr(Schema.Array(Schema.NullOr(Schema.Number)))),
  replayed: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const VersionReply = Schema.Struct({
  policyVersion: Schema.Int,
  referenceVersion: Schema.optional(Schema.Int),
  path: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const HealthReply = Schema.Struct({
  ready: Schema.optional(Schema.Boolean),
  policyVersion: Schema.Int
})

const DigestReply = Schema.Struct({ policyVersion: Schema.Int, digest: Schema.String })

const decode = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const run = Schema.decodeUnknownEither(schema)
  return (json: unknown): Effect.Effect<A, Http.Failure> => {
    const r = run(json)
    return r._tag === "Right" ? Effect.succeed(r.right) : Effect.fail({
      retryable: false,
      reason: "BadResponse" as const,
      description: `expected ${what}: ${ParseResult.TreeFormatter.formatErrorSync(r.left)}`
    })
  }
}

const nanIfNull = (x: number | null): number => (x === null ? Number.NaN : x)

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Builds the client (no request is made until the first call).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const policy = Http.retryPolicy(options, { timeout: "10 minutes", retries: 3 })
    const balancer = new Http.Balancer([options.url], 0)
    const url = balancer.endpoints[0]!.url
    const headers = options.headers ?? {}

    const call = <A, I>(
      method: "GET" | "POST",
      path: string,
      body: unknown,
      schema: Schema.Schema<A, I>,
      what: string,
      target: Http.Balancer = balancer
    ): Effect.Effect<A, RuntimeError> =>
      Http.withRetries(target, policy, path, (ep) =>
        Http.requestJson(client, method, `${ep.url}${path}`, body, headers, policy.timeout).pipe(
          Effect.flatMap(decode(schema, what))
        ))

    const update = (request: TrainStepRequest): Effect.Effect<TrainStepResult, RuntimeError> =>
      call("POST", "/trainer/update", request, UpdateReply, "an update reply {policyVersion, metrics}").pipe(
        Effect.map((r) => {
          const metrics: Record<string, number> = {}
          for (const [k, v] of Object.entries(r.metrics)) metrics[k] = nanIfNull(v)
          const result: TrainStepResult = {
            step: request.step,
            policyVersion: r.policyVersion,
            metrics,
            ...(r.groupKl === undefined || r.groupKl === null ? {} : { groupKl: r.groupKl.map(nanIfNull) })
          }
          return result
        })
      )

    const resetReference = call(
      "POST",
      "/trainer/reset_reference",
      {},
      VersionReply,
      "{policyVersion, referenceVersion}"
    ).pipe(Effect.asVoid)

    const syncTargets = (options.syncTo ?? []).map((u) => new Http.Balancer([u], 0))
    const publishWeights = Effect.gen(function*() {
      const published = yield* call(
        "POST",
        "/trainer/publish_weights",
        options.publishDir === undefined ? {} : { dir: options.publishDir },
        VersionReply,
        "{policyVersion, path}"
      )
      if (syncTargets.length > 0) {
        if (published.path === undefined || published.path === null) {
          return yield* new RuntimeError({
            endpoint: `${url}/trainer/publish_weights`,
            reason: "BadResponse",
            description: "expected a weights path to sync the inference servers; set publishDir"
          })
        }
        const body = { path: published.path, policyVersion: published.policyVersion }
        yield* Effect.forEach(
          syncTargets,
          (target) => call("POST", "/trainer/load_weights", body, VersionReply, "{policyVersion}", target),
          { concurrency: "unbounded", discard: true }
        )
      }
      return published.policyVersion
    })

    const checkpoint = (tag: string): Effect.Effect<TrainerCheckpoint, RuntimeError> =>
      call(
        "POST",
        "/trainer/checkpoint",
        { tag, ...(options.checkpointDir === undefined ? {} : { dir: options.checkpointDir }) },
        VersionReply,
        "{policyVersion, path}"
      ).pipe(
        Effect.flatMap((r) =>
          typeof r.path === "string"
            ? Effect.succeed({ _tag: "Path" as const, path: r.path })
            : new RuntimeError({
              endpoint: `${url}/trainer/checkpoint`,
              reason: "BadResponse",
              description: "expected the checkpoint's path in the reply"
            })
        )
      )

    const restore = (cp: TrainerCheckpoint): Effect.Effect<number, RuntimeError> =>
      cp._tag !== "Path"
        ? new RuntimeError({
          endpoint: `${url}/trainer/restore`,
          reason: "Refused",
          description: "expected a Path checkpoint written by an HTTP trainer, got an Inline one (from the simulator?)"
        })
        : call("POST", "/trainer/restore", { path: cp.path }, VersionReply, "{policyVersion}").pipe(
          Effect.map((r) => r.policyVersion)
        )

    const health = call("GET", "/health", undefined, HealthReply, "{ready, policyVersion}").pipe(
      Effect.map((r): RuntimeHealth => ({ ready: r.ready ?? true, policyVersion: r.policyVersion, detail: url }))
    )

    const digest = call("GET", "/trainer/digest", undefined, DigestReply, "{policyVersion, digest}")

    return { url, update, resetReference, publishWeights, checkpoint, restore, health, digest }
  })

/**
 * The client as the {@link TrainerRuntime} layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TrainerRuntime, never, HttpClient.HttpClient> =>
  Layer.effect(TrainerRuntime, make(options))

/**
 * A pipeline hook that publishes the weights every `every` steps (after the
 * update), for set-ups whose inference servers are not the trainer itself:
 * with `syncTo`, the HTTP trainer then loads them into those servers.
 *
 * **Example**
 * ```ts
 * const pipeline = Pipeline.withHooks(Pipeline.make("sec", step), HttpTrainer.publishEvery(1))
 * ```
 *
 * @since 0.1.0
 * @category hooks
 */
export const publishEvery = (every = 1): Hook.Hook<RuntimeError, TrainerRuntime> =>
  Hook.make("publishWeights", (end) =>
    end.step % Math.max(1, every) === 0
      ? Effect.flatMap(TrainerRuntime, (t) => Effect.asVoid(t.publishWeights))
      : Effect.void)
