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
  readonly body: string
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

type Handler = (server: Server, route: string, body: string) => Effect.Effect<string, ApiError>

const object = (route: string, text: string) => {
  const parsed = Wire.parseObject(route, text)
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
  "POST /v1/observe": (server, route, text) => {
    const retry = server.observeRetry(text)
    if (retry !== undefined) return Effect.succeed(retry)
    return Effect.flatMap(
      object(route, text),
      (o) =>
        Effect.flatMap(
          decoded(Wire.observe(route, o, server.session.settings.groupSize)),
          (b) => server.observe(route, b, text)
        )
    )
  },
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

/**
 * Answers one request: token, route, body, and the error envelope for any
 * failure (an unexpected defect becomes 500 `internal`).
 *
 * @since 0.3.0
 * @category routes
 */
export const handle = (server: Server, token: string, request: Request): Effect.Effect<Response> => {
  const query = request.path.indexOf("?")
  const path = query < 0 ? request.path : request.path.slice(0, query)
  const route = `${request.method} ${path}`
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
      const error = failure._tag === "Some" ? failure.value : internal(route, Cause.pretty(cause).split("\n")[0]!)
      return Effect.succeed({ status: error.status, body: JSON.stringify(toBody(error)) })
    })
  )
}
