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
 * | `warmStart` | `POST /trainer/warm_start {examples, batchSize?, learningRate?, epochs?, until?}` | `{policyVersion, steps, lossFirst, lossLast, checkAccuracy}` |
 *
 * Every reply carries the policy version, which may not go backwards (a
 * `restore` resets it). An update reply must be for the step sent and its
 * metrics finite (a `null` or infinite `grad_norm` is an error, not a NaN in
 * metrics.jsonl). Paths a reply names, and paths and tags sent, may not hold
 * `..` segments. Failed attempts (connection errors, timeouts, 429, 5xx) are
 * retried with backoff (`Effect.retry` over a jittered exponential
 * `Schedule`): an `update` is safe to retry because the protocol makes a
 * repeated update (same `step`, same body) a replay of the recorded result,
 * not a second optimiser step. An update's limit grows with its tokens
 * (`timeout + timeoutPerToken × tokens`).
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
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Http from "./internal/http.ts"

/**
 * Options of the HTTP trainer client. Transport defaults: `timeout` 3 minutes
 * (a checkpoint of a large model is slow) plus `timeoutPerToken` 0.5 ms per
 * token of an update's samples (a 16M-token batch gets about 2.3 hours),
 * `retries` 3 of which `timeoutRetries` 1, `backoff` 200 ms doubling up to
 * `maxBackoff` 10 s.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Http.TransportOptions {
  /** The trainer's base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string
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
  /** Says why the trainer's process has ended, once it has (set by `Worker.layer`): failures are then reported at once. */
  readonly serverExited?: Effect.Effect<Option.Option<string>>
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
  /**
   * Supervised cross-entropy on `examples` before the first update, then the
   * reference is reset to the result (the zpd worker's extension; see
   * `worker/zpd_worker/warm_start.py`). Not retried: it is not idempotent.
   */
  readonly warmStart: (request: WarmStartRequest) => Effect.Effect<WarmStartReply, RuntimeError>
}

/**
 * A supervised warm start: `examples` in order, `batchSize` at a time
 * (default 64), AdamW at `learningRate` (default 3e-3), `epochs` passes
 * (default 1). With `until`, it then goes on cycling through `examples` until
 * the expected accuracy of sampling at temperature 1 on `until.examples`,
 * checked every `until.every` batches (default 50), reaches
 * `until.accuracy`, or `until.maxSteps` batches are done in all: a warm start
 * to a competence target rather than a fixed length, so every initialisation
 * starts RL with some competence.
 *
 * @since 0.1.0
 * @category models
 */
export interface WarmStartRequest {
  readonly examples: ReadonlyArray<{ readonly prompt: string; readonly answer: string }>
  readonly batchSize?: number
  readonly learningRate?: number
  readonly epochs?: number
  readonly until?: {
    readonly examples: ReadonlyArray<{ readonly prompt: string; readonly answer: string }>
    readonly accuracy: number
    readonly every?: number
    readonly maxSteps: number
  }
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

/**
 * The reply of `POST /trainer/warm_start`: optimiser steps taken and the mean
 * cross-entropy per answer token of the first and the last batch.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WarmStartReply = Schema.Struct({
  policyVersion: Schema.Int,
  steps: Schema.Int,
  lossFirst: Schema.Number,
  lossLast: Schema.Number,
  /** The last expected accuracy on `until.examples` (null or absent without `until`). */
  checkAccuracy: Schema.optional(Schema.NullOr(Schema.Number))
})

/**
 * @since 0.1.0
 * @category models
 */
export type WarmStartReply = typeof WarmStartReply.Type

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

const bad = (description: string): Http.Failure => ({ retryable: false, reason: "BadResponse", description })

/**
 * A checkpoint or weights path the trainer returned: absolute or relative,
 * without `..` segments (a path that climbs out of the trainer's directories
 * is refused) and without NUL bytes.
 */
const unsafePath = (path: string): string | undefined => {
  if (path.length === 0) return "is empty"
  if (path.includes("\0")) return "contains a NUL byte"
  if (path.split(/[\\/]+/).includes("..")) return "contains a \"..\" segment"
  return undefined
}

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
    const policy = Http.retryPolicy(options, { timeout: "3 minutes", retries: 3 })
    const transport = Http.transport(client, options.headers ?? {})
    const balancer = new Http.Balancer([options.url], 0)
    const url = balancer.endpoints[0]!.url

    /** The newest version any reply carried: replies may not go below it (a restore resets it). */
    let floor = -1
    const perToken = Duration.toMillis(Duration.decode(options.timeoutPerToken ?? "0.5 millis"))

    const call = <A extends { readonly policyVersion: number }, I>(
      method: "GET" | "POST",
      path: string,
      body: unknown,
      schema: Schema.Schema<A, I>,
      what: string,
      target: Http.Balancer = balancer,
      check: (a: A) => string | undefined = () => undefined,
      timeout: Duration.Duration = policy.timeout
    ): Effect.Effect<A, RuntimeError> => {
      const text = method === "GET" ? undefined : JSON.stringify(body)
      const read = decode(schema, what)
      return Http.withRetries(target, policy, path, (ep) =>
        Effect.flatMap(transport(method, `${ep.url}${path}`, text, timeout), (json) =>
          Effect.flatMap(read(json), (a) => {
            const wrong = check(a)
            if (wrong !== undefined) {
              return Effect.fail(bad(wrong))
            }
            if (target === balancer && path !== "/trainer/restore") {
              if (a.policyVersion < floor) {
                return Effect.fail(bad(
                  `policyVersion ${a.policyVersion} is older than version ${floor} seen before; expected versions ` +
                    `never to go backwards (was the trainer restarted from older weights?)`
                ))
              }
              floor = a.policyVersion
            }
            return Effect.succeed(a)
          })), options.serverExited)
    }

    const update = (request: TrainStepRequest): Effect.Effect<TrainStepResult, RuntimeError> => {
      let tokens = 0
      for (const sample of request.samples) {
        tokens += sample.tokenIds.length
      }
      return call(
        "POST",
        "/trainer/update",
        request,
        UpdateReply,
        "an update reply {step, policyVersion, metrics}",
        balancer,
        (r) => {
          if (r.step !== undefined && r.step !== null && r.step !== request.step) {
            return `the reply is for step ${r.step}; expected step ${request.step} (the step that was sent)`
          }
          for (const [k, v] of Object.entries(r.metrics)) {
            if (v === null || !Number.isFinite(v)) {
              return `metric ${JSON.stringify(k)} is ${v === null ? "null" : String(v)}; expected a finite number ` +
                `(a non-finite ${k} means the update diverged: lower the learning rate or check the batch)`
            }
          }
          return undefined
        },
        Duration.sum(policy.timeout, Duration.millis(perToken * tokens))
      ).pipe(
        Effect.map((r) => {
          const result: TrainStepResult = {
            step: request.step,
            policyVersion: r.policyVersion,
            metrics: r.metrics as Record<string, number>,
            ...(r.groupKl === undefined || r.groupKl === null ? {} : { groupKl: r.groupKl.map(nanIfNull) })
          }
          return result
        })
      )
    }

    const resetReference = call(
      "POST",
      "/trainer/reset_reference",
      {},
      VersionReply,
      "{policyVersion, referenceVersion}"
    ).pipe(Effect.asVoid)

    const refused = (path: string, description: string) =>
      new RuntimeError({ endpoint: `${url}${path}`, reason: "Refused", description })
    const pathCheck = (r: { readonly path?: string | null | undefined }): string | undefined => {
      if (r.path === undefined || r.path === null) {
        return undefined
      }
      const wrong = unsafePath(r.path)
      return wrong === undefined
        ? undefined
        : `the returned path ${JSON.stringify(r.path)} ${wrong}; expected a path inside the trainer's own directories`
    }

    const syncTargets = (options.syncTo ?? []).map((u) =>
      new Http.Balancer([u], 0)
    )
    const publishWeights = Effect.gen(function*() {
      const published = yield* call(
        "POST",
        "/trainer/publish_weights",
        options.publishDir === undefined ? {} : { dir: options.publishDir },
        VersionReply,
        "{policyVersion, path}",
        balancer,
        pathCheck
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
          (target) =>
            call("POST", "/trainer/load_weights", body, VersionReply, "{policyVersion}", target),
          { concurrency: "unbounded", discard: true }
        )
      }
      return published.policyVersion
    })

    const checkpoint = (tag: string): Effect.Effect<TrainerCheckpoint, RuntimeError> =>
      !/^[A-Za-z0-9._-]+$/.test(tag) || tag === "." || tag === ".."
        ? Effect.fail(
          refused(
            "/trainer/checkpoint",
            `checkpoint tag ${JSON.stringify(tag)}: expected letters, digits, ".", "_" or "-" only`
          )
        )
        : call(
          "POST",
          "/trainer/checkpoint",
          { tag, ...(options.checkpointDir === undefined ? {} : { dir: options.checkpointDir }) },
          VersionReply,
          "{policyVersion, path}",
          balancer,
          pathCheck
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
        : unsafePath(cp.path) !== undefined
        ? Effect.fail(
          refused(
            "/trainer/restore",
            `checkpoint path ${JSON.stringify(cp.path)} ${
              unsafePath(cp.path)
            }; expected a path inside the trainer's checkpoint directory`
          )
        )
        : call("POST", "/trainer/restore", { path: cp.path }, VersionReply, "{policyVersion}").pipe(
          Effect.map((r) => {
            floor = r.policyVersion
            return r.policyVersion
          })
        )

    const health = call("GET", "/health", undefined, HealthReply, "{ready, policyVersion}").pipe(
      Effect.map((r): RuntimeHealth => ({ ready: r.ready ?? true, policyVersion: r.policyVersion, detail: url }))
    )

    const digest = call("GET", "/trainer/digest", undefined, DigestReply, "{policyVersion, digest}")

    const once = { ...policy, retries: 0 }
    const readWarmStart = decode(WarmStartReply, "{policyVersion, steps, lossFirst, lossLast}")
    const warmStart = (request: WarmStartRequest): Effect.Effect<WarmStartReply, RuntimeError> =>
      Http.withRetries(
        balancer,
        once,
        "/trainer/warm_start",
        (ep) =>
          Effect.flatMap(
            transport("POST", `${ep.url}/trainer/warm_start`, JSON.stringify(request), policy.timeout),
            readWarmStart
          ),
        options.serverExited
      )

    return { url, update, resetReference, publishWeights, checkpoint, restore, health, digest, warmStart }
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
