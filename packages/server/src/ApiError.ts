/**
 * The errors the curriculum server answers with. Every one carries the HTTP
 * status, a snake_case `code` a client can branch on, and a message naming
 * the route and field and what was expected (SERVE_API.md, "Every error").
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"

/**
 * The HTTP statuses the wire contract uses.
 *
 * @since 0.3.0
 * @category models
 */
export type Status = 400 | 401 | 404 | 409 | 500

/**
 * A refused or failed request: `status`, `code` and a message that names
 * the route, the field and what was expected.
 *
 * @since 0.3.0
 * @category errors
 */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: Status
  readonly code: string
  readonly message: string
}> {}

/**
 * 400 `bad_request`: a body that does not fit the route.
 *
 * @since 0.3.0
 * @category constructors
 */
export const badRequest = (route: string, field: string, expected: string, actual?: unknown): ApiError =>
  new ApiError({
    status: 400,
    code: "bad_request",
    message: `${route}: field "${field}": expected ${expected}${actual === undefined ? "" : `, got ${preview(actual)}`}`
  })

/**
 * 409: a request that conflicts with the server's state (cursor order,
 * dataset mismatch); `code` says which.
 *
 * @since 0.3.0
 * @category constructors
 */
export const conflict = (code: string, route: string, message: string): ApiError =>
  new ApiError({ status: 409, code, message: `${route}: ${message}` })

/**
 * 500 `internal`: the server failed (a curriculum error, a disk error).
 *
 * @since 0.3.0
 * @category constructors
 */
export const internal = (route: string, message: string): ApiError =>
  new ApiError({ status: 500, code: "internal", message: `${route}: ${message}` })

/** A short JSON rendering of a bad value, for messages. */
export const preview = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}

/**
 * The wire form of an error: `{"error": {"code", "message"}}`.
 *
 * @since 0.3.0
 * @category encoding
 */
export const toBody = (error: ApiError): { readonly error: { readonly code: string; readonly message: string } } => ({
  error: { code: error.code, message: error.message }
})
