/**
 * Bearer-token authentication. Every route, health included, needs
 * `Authorization: Bearer <token>`; the comparison takes the same time
 * whatever prefix of the token matches, so response timing reveals nothing.
 *
 * @since 0.3.0
 */
import { ApiError } from "./ApiError.ts"

const encoder = new TextEncoder()

/**
 * Compares two strings in time that depends on their lengths only, not on
 * where they differ.
 *
 * @since 0.3.0
 * @category math
 */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  const n = Math.max(x.length, y.length)
  let diff = x.length ^ y.length
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

/**
 * A fresh random token: 32 bytes from the platform's cryptographic random
 * source, hex-encoded.
 *
 * @since 0.3.0
 * @category constructors
 */
export const generateToken = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * Checks an `Authorization` header against `token`; `undefined` when it
 * matches, else the 401 `unauthorized` error naming the route.
 *
 * @since 0.3.0
 * @category checks
 */
export const check = (route: string, header: string | undefined, token: string): ApiError | undefined => {
  if (header === undefined || header.length === 0) {
    return new ApiError({
      status: 401,
      code: "unauthorized",
      message: `${route}: missing "Authorization: Bearer <token>" header (the token zpd serve printed)`
    })
  }
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  if (match === null || !constantTimeEqual(match[1]!, token)) {
    return new ApiError({
      status: 401,
      code: "unauthorized",
      message: `${route}: the Authorization header does not carry the server's token (expected "Bearer <token>")`
    })
  }
  return undefined
}
