/**
 * The HTTP routes of the wire contract (SERVE_API.md) over a {@link Server},
 * independent of any HTTP implementation: a transport (the CLI's `node:http`
 * listener, or any `fetch`-style handler under Deno or Bun) hands over the
 * method, path, `Authorization` header and body text, and sends back the
 * status and JSON body. Every route, health included, checks the token first;
 * every failure is `{"error": {"code", "message"}}`.
 *
 * @since 0.3.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { ApiError, internal, toBody } from "./ApiError.ts"
import * as Auth from "./Auth.ts"
import type { Server } from "./Server.ts"
import * as Wire from "./Wire.ts"

/**
 * An HTTP request as the routes need it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Request {
  readonly method: string
  /** The request target; a query string is ignored. */
  readonly path: string
  readonly authorization: string | undefined
  /**
   * The body, as text or as its UTF-8 bytes: a transport that holds the bytes
   * passes them, so a retried observe is recognised without decoding it.
   */
  readonly body: string | Uint8Array
}

/**
 * An HTTP response: a status and a JSON body.
 *
 * @since 0.3.0
 * @category models
 */
export interface Response {
  readonly status: number
  readonly body: string
}

type Handler = (server: Server, route: string, body: string | Uint8Array) => Effect.Effect<string, ApiError>

const object = (route: string, body: string | Uint8Array) => {
  const parsed = Wire.parseObject(route, body)
  return parsed instanceof ApiError ? Effect.fail(parsed) : Effect.succeed(parsed)
}

const decoded = <A>(value: A | ApiError): Effect.Effect<A, ApiError> =>
  value instanceof ApiError ? Effect.fail(value) : Effect.succeed(value)

/**
 * The route table: `"METHOD /path"` → handler.
 *
 * @since 0.3.0
 * @category routes
 */
export const routes: Readonly<Record<string, Handler>> = {
  "GET /v1/health": (server) => Effect.sync(() => JSON.stringify(server.health())),
  "POST /v1/attach": (server, route, text) =>
    Effect.flatMap(
      object(route, text),
      (o) => Effect.flatMap(decoded(Wire.attach(route, o)), (b) => server.attach(route, b))
    ),
  "POST /v1/select": (server, route, text) =>
    Effect.flatMap(
      object(route, text),
      (o) => Effect.flatMap(decoded(Wire.select(route, o)), (b) => server.select(route, b))
    ),
  "POST /v1/observe": (server, route, text) => server.observe(route, text),
  "GET /v1/metrics": (server) => Effect.sync(() => JSON.stringify(server.metrics())),
  "GET /v1/state": (server) => server.state(),
  "POST /v1/restore": (server, route, text) => Effect.flatMap(object(route, text), (o) => server.restore(route, o)),
  "POST /v1/checkpoint": (server, route) => server.checkpoint(route)
}

const notFound = (method: string, path: string): ApiError => {
  const known = Object.keys(routes).filter((r) => r.endsWith(` ${path}`))
  return new ApiError({
    status: 404,
    code: "not_found",
    message: known.length > 0
      ? `${method} ${path}: this route takes ${known.map((r) => r.split(" ")[0]).join(" or ")}`
      : `${method} ${path}: no such route; routes: ${Object.keys(routes).join(", ")}`
  })
}

const split = (request: Request) => {
  const query = request.path.indexOf("?")
  const path = query < 0 ? request.path : request.path.slice(0, query)
  return { path, route: `${request.method} ${path}` }
}

const errorResponse = (error: ApiError): Response => ({ status: error.status, body: JSON.stringify(toBody(error)) })

/**
 * Answers, synchronously, what needs no waiting: a refused token, health, and
 * retries of a cursor already selected or observed (the calls every rank of
 * a trainer repeats). `undefined` means: use {@link handleEffect}.
 *
 * @since 0.3.0
 * @category routes
 */
export const handleSync = (server: Server, token: string, request: Request): Response | undefined => {
  const { route } = split(request)
  const refused = Auth.check(route, request.authorization, token)
  if (refused !== undefined) return errorResponse(refused)
  switch (route) {
    case "GET /v1/health":
      return { status: 200, body: JSON.stringify(server.health()) }
    case "POST /v1/observe": {
      const reply = server.observeRetry(request.body)
      return reply === undefined ? undefined : { status: 200, body: reply }
    }
    case "POST /v1/select": {
      const object = Wire.parseObject(route, request.body)
      if (object instanceof ApiError) return errorResponse(object)
      const body = Wire.select(route, object)
      if (body instanceof ApiError) return errorResponse(body)
      const reply = server.session.selectedReply(route, body)
      return reply === undefined
        ? undefined
        : reply instanceof ApiError
        ? errorResponse(reply)
        : { status: 200, body: reply }
    }
    default:
      return undefined
  }
}

/**
 * Answers one request through its route's effect (no synchronous shortcut).
 *
 * @since 0.3.0
 * @category routes
 */
export const handleEffect = (server: Server, token: string, request: Request): Effect.Effect<Response> => {
  const { path, route } = split(request)
  const refused = Auth.check(route, request.authorization, token)
  const handler = routes[route]
  const run: Effect.Effect<string, ApiError> = refused !== undefined
    ? Effect.fail(refused)
    : handler === undefined
    ? Effect.fail(notFound(request.method, path))
    : handler(server, route, request.body)
  return run.pipe(
    Effect.map((body): Response => ({ status: 200, body })),
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      return Effect.succeed(
        errorResponse(failure._tag === "Some" ? failure.value : internal(route, Cause.pretty(cause).split("\n")[0]!))
      )
    })
  )
}

/**
 * Answers one request as a promise, running effects with `run` (the
 * transport's runtime): synchronously when {@link handleSync} can; a request
 * that arrives while a change is being made first waits for that change —
 * the ranks of a trainer send one cursor's select or observe together, and
 * all but the first are then retries answered from committed state — and
 * only then, if it still needs the lock, takes {@link handleEffect}'s path.
 *
 * @since 0.3.0
 * @category routes
 */
export const handlePromise = (
  server: Server,
  token: string,
  request: Request,
  run: (effect: Effect.Effect<Response>) => Promise<Response>
): Promise<Response> => {
  const fast = handleSync(server, token, request)
  if (fast !== undefined) return Promise.resolve(fast)
  const busy = server.settled()
  if (busy === undefined) return run(handleEffect(server, token, request))
  return busy.then(() => handleSync(server, token, request) ?? run(handleEffect(server, token, request)))
}

/**
 * Answers one request: token, route, body, and the error envelope for any
 * failure (an unexpected defect becomes 500 `internal`); retries and health
 * take the synchronous path ({@link handleSync}).
 *
 * @since 0.3.0
 * @category routes
 */
export const handle = (server: Server, token: string, request: Request): Effect.Effect<Response> =>
  Effect.suspend(() => {
    const fast = handleSync(server, token, request)
    return fast === undefined ? handleEffect(server, token, request) : Effect.succeed(fast)
  })
