/**
 * The request bodies of the wire contract (SERVE_API.md), decoded by hand:
 * a hot route checks 256 × 8 numbers per call, and every refusal names the
 * route, the field path (`groups[3].rewards[5]`) and what was expected.
 *
 * @since 0.3.0
 */
import { ApiError, badRequest } from "./ApiError.ts"

/**
 * `POST /v1/select`.
 *
 * @since 0.3.0
 * @category models
 */
export interface SelectBody {
  readonly cursor: number
  readonly batchSize: number | undefined
}

/**
 * One group of `POST /v1/observe`, as sent (indices are the trainer's
 * positions).
 *
 * @since 0.3.0
 * @category models
 */
export interface GroupBody {
  readonly index: number
  readonly rewards: ReadonlyArray<number>
  readonly correct: ReadonlyArray<number> | undefined
  readonly advantages: ReadonlyArray<number> | undefined
  readonly extra: Readonly<Record<string, ReadonlyArray<number>>> | undefined
}

/**
 * `POST /v1/observe`.
 *
 * @since 0.3.0
 * @category models
 */
export interface ObserveBody {
  readonly cursor: number
  readonly groups: ReadonlyArray<GroupBody>
}

/**
 * `POST /v1/attach`.
 *
 * @since 0.3.0
 * @category models
 */
export interface AttachBody {
  readonly ids: ReadonlyArray<string>
  readonly promptSha256: ReadonlyArray<string> | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A request body as text (UTF-8 decoded when the transport handed over bytes).
 *
 * @since 0.3.0
 * @category decoding
 */
export const text = (body: string | Uint8Array): string => (typeof body === "string" ? body : decoder.decode(body))

/**
 * A request body as its UTF-8 bytes.
 *
 * @since 0.3.0
 * @category decoding
 */
export const bytes = (body: string | Uint8Array): Uint8Array => (typeof body === "string" ? encoder.encode(body) : body)

/**
 * Parses a request body as a JSON object, naming the route when it is not one.
 *
 * @since 0.3.0
 * @category decoding
 */
export const parseObject = (route: string, body: string | Uint8Array): Record<string, unknown> | ApiError => {
  const source = text(body)
  let json: unknown
  try {
    json = JSON.parse(source.length === 0 ? "{}" : source)
  } catch (e) {
    return badRequest(route, "(body)", "a JSON object", String(e))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return badRequest(route, "(body)", "a JSON object", json)
  }
  return json as Record<string, unknown>
}

const unknownField = (route: string, body: Record<string, unknown>, known: ReadonlyArray<string>, prefix = "") => {
  const extra = Object.keys(body).find((k) => !known.includes(k))
  return extra === undefined
    ? undefined
    : badRequest(route, `${prefix}${extra}`, `one of the fields ${known.join(", ")}`, "an unknown field")
}

const isCount = (x: unknown, min: number): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= min

const numbers = (
  route: string,
  field: string,
  value: unknown,
  length: number | undefined,
  check: (x: unknown) => boolean,
  expected: string
): ReadonlyArray<number> | ApiError => {
  if (!Array.isArray(value)) return badRequest(route, field, `an array of ${expected}`, value)
  if (length !== undefined && value.length !== length) {
    return badRequest(route, field, `${length} entries (one per completion of the group)`, `${value.length} entries`)
  }
  if (length === undefined && value.length === 0) {
    return badRequest(route, field, `a non-empty array of ${expected}`, value)
  }
  for (let i = 0; i < value.length; i++) {
    if (!check(value[i])) return badRequest(route, `${field}[${i}]`, expected, value[i])
  }
  return value as ReadonlyArray<number>
}

const finite = (x: unknown) => typeof x === "number" && Number.isFinite(x)
const bit = (x: unknown) => x === 0 || x === 1 || x === true || x === false

/**
 * Decodes `POST /v1/select`.
 *
 * @since 0.3.0
 * @category decoding
 */
export const select = (route: string, body: Record<string, unknown>): SelectBody | ApiError => {
  const bad = unknownField(route, body, ["cursor", "batch_size"])
  if (bad) return bad
  if (!isCount(body["cursor"], 0)) {
    return badRequest(route, "cursor", "an integer ≥ 0 (the 0-based training step)", body["cursor"])
  }
  const b = body["batch_size"]
  if (b !== undefined && b !== null && !isCount(b, 1)) return badRequest(route, "batch_size", "an integer ≥ 1", b)
  return { cursor: body["cursor"], batchSize: b === undefined || b === null ? undefined : (b as number) }
}

/**
 * Decodes `POST /v1/observe`. `groupSize`, when known, is the length every
 * `rewards` must have.
 *
 * @since 0.3.0
 * @category decoding
 */
export const observe = (
  route: string,
  body: Record<string, unknown>,
  groupSize: number | undefined
): ObserveBody | ApiError => {
  const bad = unknownField(route, body, ["cursor", "groups"])
  if (bad) return bad
  if (!isCount(body["cursor"], 0)) {
    return badRequest(route, "cursor", "an integer ≥ 0 (the 0-based training step)", body["cursor"])
  }
  const raw = body["groups"]
  if (!Array.isArray(raw) || raw.length === 0) return badRequest(route, "groups", "a non-empty array of groups", raw)
  const groups: Array<GroupBody> = []
  for (let g = 0; g < raw.length; g++) {
    const field = `groups[${g}]`
    const group = raw[g] as unknown
    if (typeof group !== "object" || group === null || Array.isArray(group)) {
      return badRequest(route, field, "an object {index, rewards, correct?, advantages?, extra?}", group)
    }
    const o = group as Record<string, unknown>
    const unknown = unknownField(route, o, ["index", "rewards", "correct", "advantages", "extra"], `${field}.`)
    if (unknown) return unknown
    if (!isCount(o["index"], 0)) {
      return badRequest(route, `${field}.index`, "an integer ≥ 0 (a selected position)", o["index"])
    }
    const rewards = numbers(route, `${field}.rewards`, o["rewards"], groupSize, finite, "finite numbers")
    if (rewards instanceof ApiError) return rewards
    const n = rewards.length
    const correct = o["correct"] === undefined || o["correct"] === null
      ? undefined
      : numbers(route, `${field}.correct`, o["correct"], n, bit, "0 or 1")
    if (correct instanceof ApiError) return correct
    const advantages = o["advantages"] === undefined || o["advantages"] === null
      ? undefined
      : numbers(route, `${field}.advantages`, o["advantages"], n, finite, "finite numbers")
    if (advantages instanceof ApiError) return advantages
    let extra: Record<string, ReadonlyArray<number>> | undefined
    if (o["extra"] !== undefined && o["extra"] !== null) {
      const e = o["extra"]
      if (typeof e !== "object" || Array.isArray(e)) {
        return badRequest(route, `${field}.extra`, "an object of per-completion number arrays", e)
      }
      extra = {}
      for (const [name, values] of Object.entries(e as Record<string, unknown>)) {
        if (!/^[a-z][a-z0-9_]*$/.test(name)) return badRequest(route, `${field}.extra`, "snake_case names", name)
        const decoded = numbers(route, `${field}.extra.${name}`, values, n, finite, "finite numbers")
        if (decoded instanceof ApiError) return decoded
        extra[name] = decoded
      }
    }
    groups.push({
      index: o["index"],
      rewards,
      correct: correct === undefined ? undefined : correct.map((c) => (c === 1 || (c as unknown) === true ? 1 : 0)),
      advantages,
      extra
    })
  }
  return { cursor: body["cursor"], groups }
}

/**
 * Decodes `POST /v1/attach`.
 *
 * @since 0.3.0
 * @category decoding
 */
export const attach = (route: string, body: Record<string, unknown>): AttachBody | ApiError => {
  const bad = unknownField(route, body, ["ids", "prompt_sha256"])
  if (bad) return bad
  const ids = body["ids"]
  if (!Array.isArray(ids) || ids.length === 0) return badRequest(route, "ids", "a non-empty array of problem ids", ids)
  for (let i = 0; i < ids.length; i++) {
    if (typeof ids[i] !== "string") {
      if (typeof ids[i] === "number" && Number.isSafeInteger(ids[i])) ids[i] = String(ids[i])
      else return badRequest(route, `ids[${i}]`, "a string (or integer) id", ids[i])
    }
  }
  const hashes = body["prompt_sha256"]
  if (hashes === undefined || hashes === null) return { ids: ids as Array<string>, promptSha256: undefined }
  if (!Array.isArray(hashes) || hashes.length !== ids.length) {
    return badRequest(
      route,
      "prompt_sha256",
      `an array of ${ids.length} hex digests (one per id)`,
      Array.isArray(hashes) ? `${hashes.length} entries` : hashes
    )
  }
  for (let i = 0; i < hashes.length; i++) {
    if (typeof hashes[i] !== "string" || !/^[0-9a-fA-F]{64}$/.test(hashes[i] as string)) {
      return badRequest(route, `prompt_sha256[${i}]`, "a 64-digit hex SHA-256", hashes[i])
    }
  }
  return { ids: ids as Array<string>, promptSha256: (hashes as Array<string>).map((h) => h.toLowerCase()) }
}
