/**
 * Shared HTTP plumbing of the HTTP runtimes: one JSON request with a
 * per-attempt timeout, failure classification, client-side load balancing
 * over several endpoints, and retries with exponential backoff.
 *
 * Built on `@effect/platform`'s `HttpClient` only, so it runs wherever the
 * application provides one (`FetchHttpClient.layer` on Node 20 and Deno).
 * Interrupting a request aborts the underlying fetch.
 *
 * @internal
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { RuntimeError } from "@zpd/core/Errors"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

/**
 * Limits, retries and headers shared by the HTTP clients' options; each
 * client's `Options` states its own defaults.
 *
 * @internal
 */
export interface TransportOptions {
  /** Per-attempt limit before the request's tokens are counted. */
  readonly timeout?: Duration.DurationInput
  /** Added to `timeout` per token of the request, so long requests get long limits. */
  readonly timeoutPerToken?: Duration.DurationInput
  /** Retries after the first attempt, on retryable failures. */
  readonly retries?: number
  /** Of those, retries after a timeout. */
  readonly timeoutRetries?: number
  /** First retry delay, doubling per retry (±20% jitter). */
  readonly backoff?: Duration.DurationInput
  /** Longest retry delay (also caps `Retry-After`). */
  readonly maxBackoff?: Duration.DurationInput
  /** Extra headers, e.g. `{ authorization: "Bearer …" }` for `vllm serve --api-key`. */
  readonly headers?: Readonly<Record<string, string>>
}

/** @internal */
export interface RetryPolicy {
  /** Per-attempt limit: connect, send, and read the whole reply. */
  readonly timeout: Duration.Duration
  /** Further attempts after the first, on retryable failures only. */
  readonly retries: number
  /** Of those, at most this many after a timeout (a server that never answers is reported after `1 + timeoutRetries` timeouts). */
  readonly timeoutRetries: number
  /** First backoff; doubles per attempt up to `maxBackoff` (a server's `Retry-After` wins, capped the same). */
  readonly backoff: Duration.Duration
  readonly maxBackoff: Duration.Duration
  /** How long an endpoint that failed is avoided by the balancer. */
  readonly cooldown: Duration.Duration
}

/** @internal */
export const retryPolicy = (options: {
  readonly timeout?: Duration.DurationInput | undefined
  readonly retries?: number | undefined
  readonly timeoutRetries?: number | undefined
  readonly backoff?: Duration.DurationInput | undefined
  readonly maxBackoff?: Duration.DurationInput | undefined
  readonly cooldown?: Duration.DurationInput | undefined
}, defaults: { readonly timeout: Duration.DurationInput; readonly retries: number }): RetryPolicy => ({
  timeout: Duration.decode(options.timeout ?? defaults.timeout),
  retries: Math.max(0, Math.floor(options.retries ?? defaults.retries)),
  timeoutRetries: Math.max(0, Math.floor(options.timeoutRetries ?? 1)),
  backoff: Duration.decode(options.backoff ?? "200 millis"),
  maxBackoff: Duration.decode(options.maxBackoff ?? "10 seconds"),
  cooldown: Duration.decode(options.cooldown ?? "5 seconds")
})

/**
 * Why one attempt failed. `retryable` failures are retried (on another
 * endpoint when there is one); the others end the request at once.
 *
 * @internal
 */
export interface Failure {
  readonly retryable: boolean
  readonly reason: RuntimeError["reason"]
  readonly description: string
  readonly retryAfterMs?: number
  /** The HTTP status, when the server answered. */
  readonly status?: number
}

const causeText = (u: unknown): string => {
  if (u instanceof Error) {
    const inner = (u as { cause?: unknown }).cause
    return inner === undefined ? u.message : `${u.message} (${causeText(inner)})`
  }
  return String(u)
}

const fromClientError = (e: HttpClientError.HttpClientError): Failure => {
  if (e._tag === "RequestError") {
    return e.reason === "Transport"
      ? { retryable: true, reason: "Unavailable", description: `connection failed: ${causeText(e.cause)}` }
      : {
        retryable: false,
        reason: "Internal",
        description: `could not build the request (${e.reason}): ${causeText(e.cause)}`
      }
  }
  return { retryable: true, reason: "Unavailable", description: `reply failed (${e.reason}): ${causeText(e.cause)}` }
}

/** The message inside a vLLM/OpenAI-style error body (`{error: {message}}` or `{message}`), else the raw text. */
const serverMessage = (text: string): string => {
  try {
    const json = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown }
    if (typeof json.error === "object" && json.error !== null && typeof json.error.message === "string") {
      return json.error.message
    }
    if (typeof json.error === "string") return json.error
    if (typeof json.message === "string") return json.message
    if (json.detail !== undefined) return JSON.stringify(json.detail)
  } catch {
    // not JSON: fall through
  }
  const trimmed = text.trim()
  return trimmed.length === 0 ? "(empty body)" : trimmed.slice(0, 300)
}

const parseRetryAfter = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  return undefined
}

const fromStatus = (
  status: number,
  text: string,
  retryAfter: string | undefined,
  location: string | undefined
): Failure => {
  const message = serverMessage(text)
  const retryAfterMs = parseRetryAfter(retryAfter)
  const extra = retryAfterMs === undefined ? {} : { retryAfterMs }
  if (status === 429) {
    return {
      retryable: true,
      reason: "Unavailable",
      description: `HTTP 429 Too Many Requests: ${message}`,
      status,
      ...extra
    }
  }
  if (status >= 300 && status < 400) {
    return {
      retryable: false,
      reason: "Refused",
      description:
        `HTTP ${status} redirect to ${location === undefined ? "(no Location header)" : JSON.stringify(location)}; ` +
        `expected a reply from the endpoint itself (zpd does not follow redirects: set the endpoint to the server's own address)`,
      status
    }
  }
  if (status >= 500) {
    return {
      retryable: true,
      reason: status === 500 ? "Internal" : "Unavailable",
      description: `HTTP ${status}: ${message}`,
      status,
      ...extra
    }
  }
  return { retryable: false, reason: "Refused", description: `HTTP ${status}: ${message}`, status }
}

/** @internal */
export const bodyCutOff = (cause: unknown): Failure => ({
  retryable: true,
  reason: "Unavailable",
  description: `the connection closed while reading the reply body (${causeText(cause)})`
})

const malformedJson = (cause: unknown, text: string): Failure => ({
  retryable: false,
  reason: "BadResponse",
  description: `expected a JSON reply, got malformed JSON (${causeText(cause)}); the body starts ${
    JSON.stringify(text.slice(0, 120))
  }`
})

const timedOut = (timeout: Duration.Duration): Failure => ({
  retryable: true,
  reason: "Timeout",
  description: `no complete reply within ${Duration.format(timeout)}`
})

/**
 * Fails with `onTimeout()` when `effect` has not finished within `ms`, and
 * interrupts it (which aborts the fetch). Cheaper than `Effect.timeoutFail`
 * (one fiber and one timer instead of a race of two fibers and a sleep),
 * which matters at thousands of requests per step.
 *
 * @internal
 */
export const withDeadline =
  <E2>(ms: number, onTimeout: () => E2) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R> =>
    Effect.flatMap(Effect.fork(effect), (fiber) =>
      Effect.async<A, E | E2>((resume) => {
        const timer = setTimeout(() => {
          fiber.removeObserver(observe)
          fiber.unsafeInterruptAsFork(fiber.id())
          resume(Effect.fail(onTimeout()))
        }, ms)
        const observe = (exit: Exit.Exit<A, E>) => {
          clearTimeout(timer)
          resume(exit)
        }
        fiber.addObserver(observe)
        return Effect.sync(() => {
          clearTimeout(timer)
          fiber.removeObserver(observe)
          fiber.unsafeInterruptAsFork(fiber.id())
        })
      }))

/**
 * Sends one request and reads one JSON reply within `timeout`: the status is
 * classified (429 and 5xx transient; 3xx, other 4xx and a 200 whose body is
 * not JSON are not), the body parsed.
 *
 * @internal
 */
export type Transport = (
  method: "GET" | "POST",
  url: string,
  body: string | undefined,
  timeout: Duration.Duration
) => Effect.Effect<unknown, Failure>

/**
 * The {@link Transport} over the application's `HttpClient`, with the given
 * headers on every request (and `emptyBody.value` for an empty 2xx body, when set). Per-request tracing spans are off: at thousands
 * of requests per step they cost more CPU than the request itself.
 *
 * @internal
 */
export const transport = (
  client: HttpClient.HttpClient,
  headers: Readonly<Record<string, string>>,
  emptyBody?: { readonly value: unknown }
): Transport => {
  const plain = HttpClient.withTracerDisabledWhen(client, () => true)
  const options = { headers: { accept: "application/json", ...headers } }
  return (method, url, body, timeout) => {
    const request = method === "GET"
      ? HttpClientRequest.get(url, options)
      : HttpClientRequest.post(url, { ...options, body: HttpBody.raw(body, { contentType: "application/json" }) })
    return Effect.flatMap(Effect.mapError(plain.execute(request), fromClientError), (response) =>
      Effect.flatMap(
        Effect.mapError(response.text, (e) => bodyCutOff(e.cause ?? e)),
        (text): Effect.Effect<unknown, Failure> => {
          if (response.status < 200 || response.status >= 300) {
            return Effect.fail(
              fromStatus(response.status, text, response.headers["retry-after"], response.headers["location"])
            )
          }
          if (emptyBody !== undefined && text.trim().length === 0) return Effect.succeed(emptyBody.value)
          try {
            return Effect.succeed(JSON.parse(text))
          } catch (e) {
            return Effect.fail(malformedJson(e, text))
          }
        }
      )).pipe(
        withDeadline(Duration.toMillis(timeout), () => timedOut(timeout))
      )
  }
}

/**
 * The `fetch` a {@link fetchTransport} calls: the runtime's global `fetch`
 * (Node 18+, Deno, Bun) or one the application provides.
 *
 * @internal
 */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>

/**
 * What one promise-based attempt settles with: the parsed JSON, or why it
 * failed. Never rejects.
 *
 * @internal
 */
export type Settled = { readonly ok: true; readonly json: unknown } | { readonly ok: false; readonly failure: Failure }

/**
 * One attempt over `fetch` as a promise: send, read the whole body, classify
 * the status and parse JSON, exactly as {@link transport} classifies (same
 * {@link Failure}s and descriptions). Redirects are not followed
 * (`redirect: "manual"`: a 3xx is classified, never retried). No deadline:
 * the caller aborts `signal`.
 *
 * @internal
 */
export type FetchAttempt = (
  method: "GET" | "POST",
  url: string,
  body: string | undefined,
  signal: AbortSignal
) => Promise<Settled>

/** @internal */
export const fetchAttempt = (
  fetchFunction: FetchFunction,
  headers: Readonly<Record<string, string>>,
  emptyBody?: { readonly value: unknown }
): FetchAttempt => {
  const getHeaders = { accept: "application/json", ...headers }
  const postHeaders = { accept: "application/json", "content-type": "application/json", ...headers }
  return async (method, url, body, signal) => {
    let response: Response
    try {
      response = await fetchFunction(url, {
        method,
        headers: method === "GET" ? getHeaders : postHeaders,
        body: body ?? null,
        redirect: "manual",
        signal
      })
    } catch (e) {
      return { ok: false, failure: connectionFailed(e) }
    }
    let text: string
    try {
      text = await response.text()
    } catch (e) {
      return { ok: false, failure: bodyCutOff(e) }
    }
    return settle(response.status, text, (name) => response.headers.get(name) ?? undefined, emptyBody)
  }
}

/**
 * A whole reply as a {@link Settled}: the status classified, the body parsed
 * (as {@link transport} does).
 *
 * @internal
 */
export const settle = (
  status: number,
  text: string,
  header: (name: string) => string | undefined,
  emptyBody?: { readonly value: unknown }
): Settled => {
  if (status < 200 || status >= 300) {
    return { ok: false, failure: fromStatus(status, text, header("retry-after"), header("location")) }
  }
  if (emptyBody !== undefined && text.trim().length === 0) return { ok: true, json: emptyBody.value }
  try {
    return { ok: true, json: JSON.parse(text) }
  } catch (e) {
    return { ok: false, failure: malformedJson(e, text) }
  }
}

/**
 * The failure of a request that could not be sent or got no reply.
 *
 * @internal
 */
export const connectionFailed = (cause: unknown): Failure => ({
  retryable: true,
  reason: "Unavailable",
  description: `connection failed: ${causeText(cause)}`
})

/**
 * Runs `attempt` within `timeout`: a timer and an `AbortController` per
 * call; at the deadline, or when `cancel` is called, the fetch is aborted
 * and the promise settles with the timeout failure (resp. is left pending:
 * a cancelled caller no longer listens).
 *
 * @internal
 */
export const withFetchDeadline = (
  attempt: FetchAttempt,
  method: "GET" | "POST",
  url: string,
  body: string | undefined,
  timeout: Duration.Duration,
  onSettled: (outcome: Settled) => void
): () => void => {
  const controller = new AbortController()
  let settled = false
  const timer = setTimeout(() => {
    settled = true
    controller.abort()
    onSettled({ ok: false, failure: timedOut(timeout) })
  }, Duration.toMillis(timeout))
  attempt(method, url, body, controller.signal).then((outcome) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    onSettled(outcome)
  })
  return () => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    controller.abort()
  }
}

/**
 * The {@link Transport} over `fetch` directly: one {@link fetchAttempt} per
 * attempt wrapped once in `Effect.async`, with one timer for the deadline;
 * interrupting the effect or reaching the deadline aborts the fetch. Without
 * the per-request fibers, scopes and response wrappers of `HttpClient`,
 * which at thousands of requests per step cost more CPU than the request
 * itself.
 *
 * @internal
 */
export const fetchTransport = (attempt: FetchAttempt): Transport => (method, url, body, timeout) =>
  Effect.async<unknown, Failure>((resume) => {
    const cancel = withFetchDeadline(attempt, method, url, body, timeout, (outcome) => {
      resume(outcome.ok ? Effect.succeed(outcome.json) : Effect.fail(outcome.failure))
    })
    return Effect.sync(cancel)
  })

/**
 * One JSON request (a one-off {@link transport}): sends `body` (POST, as JSON)
 * or nothing (GET), reads the whole reply, checks the status and parses JSON,
 * all within `timeout`. With `emptyBody` set, a 2xx reply with an empty body
 * succeeds with `emptyBody.value` (vLLM's admin routes answer `200` with no body).
 *
 * @internal
 */
export const requestJson = (
  client: HttpClient.HttpClient,
  method: "GET" | "POST",
  url: string,
  body: unknown,
  headers: Readonly<Record<string, string>>,
  timeout: Duration.Duration,
  emptyBody?: { readonly value: unknown }
): Effect.Effect<unknown, Failure> =>
  transport(client, headers, emptyBody)(method, url, method === "GET" ? undefined : JSON.stringify(body), timeout)

/**
 * One upstream server as the balancer sees it.
 *
 * @internal
 */
export interface Endpoint {
  readonly url: string
  inFlight: number
  downUntil: number
  failures: number
  served: number
}

/**
 * Client-side load balancing: least outstanding requests among endpoints
 * that are not cooling down after a failure, ties broken round-robin. When
 * every endpoint is cooling down, the one that recovers first is used.
 *
 * @internal
 */
export class Balancer {
  readonly endpoints: ReadonlyArray<Endpoint>
  readonly cooldownMs: number
  private turn = 0
  constructor(urls: ReadonlyArray<string>, cooldownMs: number) {
    this.cooldownMs = cooldownMs
    this.endpoints = urls.map((u) => ({ url: normalizeUrl(u), inFlight: 0, downUntil: 0, failures: 0, served: 0 }))
  }
  /** `avoid`: the endpoint this request just failed on, skipped while another is available. */
  pick(now: number, avoid?: Endpoint): Endpoint {
    const n = this.endpoints.length
    let best: Endpoint | undefined
    for (let k = 0; k < n; k++) {
      const ep = this.endpoints[(this.turn + k) % n]!
      if (ep.downUntil > now || (ep === avoid && n > 1)) continue
      if (best === undefined || ep.inFlight < best.inFlight) best = ep
    }
    if (best === undefined) {
      for (const ep of this.endpoints) {
        if (ep !== avoid && ep.downUntil <= now && (best === undefined || ep.inFlight < best.inFlight)) best = ep
      }
    }
    if (best === undefined) {
      for (const ep of this.endpoints) if (best === undefined || ep.downUntil < best.downUntil) best = ep
    }
    this.turn = (this.turn + 1) % n
    return best!
  }
  succeeded(ep: Endpoint): void {
    ep.served++
    ep.failures = 0
    ep.downUntil = 0
  }
  failed(ep: Endpoint, now: number): void {
    ep.failures++
    ep.downUntil = now + this.cooldownMs
  }
}

/**
 * `http://host:port/` and `http://host:port/v1` both become `http://host:port`:
 * the runtimes append their own paths.
 *
 * @internal
 */
export const normalizeUrl = (url: string): string => url.replace(/\/+$/, "").replace(/\/v1$/, "")

/**
 * One failed attempt, as the retry schedule sees it: the failure, the
 * endpoint it happened on, and how many timeouts the request has seen.
 *
 * @internal
 */
export interface AttemptFailure {
  readonly failure: Failure
  readonly endpoint: Endpoint
  readonly timeouts: number
}

/**
 * The backoff between attempts: exponential from `policy.backoff` (factor 2)
 * with ±20% jitter, a server's `Retry-After` taking precedence, capped at
 * `policy.maxBackoff`; at most `policy.retries` retries, of which at most
 * `policy.timeoutRetries` after timeouts; non-retryable failures stop at once.
 *
 * @internal
 */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<unknown, AttemptFailure> =>
  Schedule.exponential(policy.backoff, 2).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.identity<AttemptFailure>()),
    Schedule.modifyDelay(([, last], delay) => {
      const wanted = last.failure.retryAfterMs === undefined ? delay : Duration.millis(last.failure.retryAfterMs)
      return Duration.min(wanted, policy.maxBackoff)
    }),
    Schedule.intersect(Schedule.recurs(policy.retries)),
    Schedule.whileInput((last: AttemptFailure) =>
      last.failure.retryable && (last.failure.reason !== "Timeout" || last.timeouts <= policy.timeoutRetries)
    )
  )

/**
 * Runs `attempt` on balanced endpoints with `Effect.retry` over
 * {@link retrySchedule} until it succeeds, fails with a non-retryable
 * failure, or the retries are spent; then fails with a {@link RuntimeError}
 * naming the last endpoint (`url + path`) and every attempt's failure.
 *
 * `serverExited`, when given, is asked after every retryable failure: once it
 * reports that the server's process has ended, the request fails at once
 * with that explanation instead of retrying a dead server.
 *
 * `first`, when given, is the failure of a first attempt already made
 * elsewhere (a promise-based hot path, its `inFlight` already released): it
 * is handled as if `attempt` had failed so, and the retries follow.
 *
 * @internal
 */
export const withRetries = <A>(
  balancer: Balancer,
  policy: RetryPolicy,
  path: string,
  attempt: (endpoint: Endpoint) => Effect.Effect<A, Failure>,
  serverExited?: Effect.Effect<Option.Option<string>>,
  first?: { readonly endpoint: Endpoint; readonly failure: Failure }
): Effect.Effect<A, RuntimeError> =>
  Effect.suspend(() => {
    const history: Array<string> = []
    let timeouts = 0
    let lastFailed: Endpoint | undefined
    const fail = (endpoint: Endpoint, failure: Failure): Effect.Effect<never, AttemptFailure> => {
      lastFailed = endpoint
      history.push(`${endpoint.url}${path}: ${failure.description}`)
      if (failure.reason === "Timeout") timeouts++
      return Effect.fail({ failure, endpoint, timeouts })
    }
    const failedOn = (endpoint: Endpoint, failure: Failure): Effect.Effect<never, AttemptFailure> =>
      Effect.clockWith((clock) => {
        if (!failure.retryable) return fail(endpoint, failure)
        balancer.failed(endpoint, clock.unsafeCurrentTimeMillis())
        if (serverExited === undefined) return fail(endpoint, failure)
        return Effect.flatMap(serverExited, (exited) =>
          fail(
            endpoint,
            Option.isNone(exited)
              ? failure
              : { ...failure, retryable: false, description: `${failure.description}; ${exited.value}` }
          ))
      })
    const once = Effect.clockWith((clock) => {
      const endpoint = balancer.pick(clock.unsafeCurrentTimeMillis(), lastFailed)
      endpoint.inFlight++
      return Effect.onExit(attempt(endpoint), () =>
        Effect.sync(() => {
          endpoint.inFlight--
        })).pipe(
          Effect.matchEffect({
            onSuccess: (a) => {
              balancer.succeeded(endpoint)
              return Effect.succeed(a)
            },
            onFailure: (failure) => failedOn(endpoint, failure)
          })
        )
    })
    // the schedule is built only after a first failure (which it then sees first): the common path pays nothing
    const retried = (first: AttemptFailure) => {
      let replay: AttemptFailure | undefined = first
      const again = Effect.suspend(() => {
        if (replay === undefined) return once
        const failed = replay
        replay = undefined
        return Effect.fail(failed)
      })
      return Effect.retry(again, retrySchedule(policy))
    }
    return Effect.catchAll(first === undefined ? once : failedOn(first.endpoint, first.failure), retried).pipe(
      Effect.mapError(({ endpoint, failure }) => {
        const attempts = history.length
        const tail = failure.retryable ? ` (gave up after ${attempts} attempt${attempts === 1 ? "" : "s"})` : ""
        const earlier = attempts > 1 ? `; earlier attempts: ${history.slice(0, -1).join("; ")}` : ""
        return new RuntimeError({
          endpoint: `${endpoint.url}${path}`,
          reason: failure.reason,
          description: `${failure.description}${tail}${earlier}`
        })
      })
    )
  })

/**
 * The `HttpClient` every runtime uses: the application's, unchanged (no
 * status filtering: {@link requestJson} classifies statuses itself).
 *
 * @internal
 */
export const client: Effect.Effect<HttpClient.HttpClient, never, HttpClient.HttpClient> = HttpClient.HttpClient
