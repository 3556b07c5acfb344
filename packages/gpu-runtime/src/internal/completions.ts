/**
 * The `/v1/completions` protocol as zpd speaks it: how a call's prompts are cut
 * into requests, the body of one request, and the checked reading of one
 * reply (vLLM's `CompletionResponseChoice`, spec/runtime.md §1.2).
 *
 * The reply is read field by field from the parsed JSON, touching only the
 * fields zpd uses and keeping the parsed arrays (no copies): at fleet scale a
 * Schema decode of every logprob array costs more than the request itself.
 * Every check names the choice, the field and what was expected.
 *
 * @internal
 */
import type { Completion, PromptInput, SamplingParams } from "@zpd/core/Runtime"
import type { Failure } from "./http.ts"

/**
 * One request of a call.
 *
 * @internal
 */
export interface Part {
  /** Index of the part in the call (its seed derives from it). */
  readonly k: number
  /** The prompts of this part, with their positions in the call. */
  readonly prompts: ReadonlyArray<{ readonly at: number; readonly input: PromptInput }>
  readonly n: number
  /** With `n: 1` (fanout, regeneration): the sample index this part produces. */
  readonly sampleIndex: number
}

/**
 * Cuts a call into requests: `perRequest` prompts each with the whole group
 * (`"n"`), or one `n: 1` request per sample (`"fanout"`). A request carries
 * either token-id prompts or text prompts, never both.
 *
 * @internal
 */
export const chunkPrompts = (
  prompts: ReadonlyArray<PromptInput>,
  n: number,
  perRequest: number,
  mode: "n" | "fanout"
): Array<Part> => {
  const parts: Array<Part> = []
  if (mode === "fanout") {
    for (let at = 0; at < prompts.length; at++) {
      const one = [{ at, input: prompts[at]! }]
      for (let j = 0; j < n; j++) parts.push({ k: parts.length, prompts: one, n: 1, sampleIndex: j })
    }
    return parts
  }
  let current: Array<{ at: number; input: PromptInput }> = []
  const flush = () => {
    if (current.length > 0) parts.push({ k: parts.length, prompts: current, n, sampleIndex: 0 })
    current = []
  }
  prompts.forEach((input, at) => {
    const kind = input.tokenIds !== undefined
    if (current.length > 0 && (current.length >= perRequest || (current[0]!.input.tokenIds !== undefined) !== kind)) {
      flush()
    }
    current.push({ at, input })
  })
  flush()
  return parts
}

/**
 * The JSON body of one request: exactly what GRPO needs, sampling sent
 * explicitly (spec/runtime.md §1.1), then `extraBody` on top.
 *
 * @internal
 */
export const requestBody = (
  part: Part,
  sampling: SamplingParams,
  seed: number | undefined,
  model: string | undefined,
  extraBody: Readonly<Record<string, unknown>>
): Record<string, unknown> => {
  const byIds = part.prompts[0]!.input.tokenIds !== undefined
  const body: Record<string, unknown> = {
    ...(model === undefined ? {} : { model }),
    prompt: byIds ? part.prompts.map((p) => p.input.tokenIds!) : part.prompts.map((p) => p.input.text),
    n: part.n,
    max_tokens: sampling.maxTokens,
    temperature: sampling.temperature,
    top_p: sampling.topP,
    top_k: sampling.topK > 0 ? sampling.topK : -1,
    min_p: 0,
    presence_penalty: 0,
    frequency_penalty: 0,
    repetition_penalty: 1,
    logprobs: 0,
    return_token_ids: true,
    return_tokens_as_token_ids: true,
    stream: false
  }
  if (seed !== undefined) body.seed = seed
  if (sampling.stop !== undefined && sampling.stop.length > 0) body.stop = [...sampling.stop]
  for (const key in extraBody) body[key] = extraBody[key]
  return body
}

/**
 * A completion with its prompt's position in the call.
 *
 * @internal
 */
export interface Placed extends Completion {
  readonly at: number
}

/**
 * What {@link readReply} checks beyond the shape.
 *
 * @internal
 */
export interface ReadOptions {
  /** Stamped when the reply carries no `policy_version`. */
  readonly fallbackVersion: number
  /** Compare the returned `prompt_token_ids` with the ids sent. */
  readonly checkPromptTokenIds: boolean
}

const bad = (description: string): Failure => ({ retryable: false, reason: "BadResponse", description })

const show = (u: unknown): string => {
  if (u === undefined) return "nothing"
  const text = JSON.stringify(u)
  return text === undefined ? String(u) : text.length > 80 ? `${text.slice(0, 80)}…` : text
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The first entry of `ids` that is not a non-negative integer, as a message; `undefined` when all are. */
const badTokenId = (ids: ReadonlyArray<unknown>, field: string): string | undefined => {
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      return `${field}[${t}] is ${show(id)}; expected a token id (an integer ≥ 0)`
    }
  }
  return undefined
}

/** SGLang labels replies with `metadata.weight_version` (a string; `WeightSync.sglang` sets it to the policy version). */
const labelledVersion = (metadata: unknown): number | undefined => {
  const label = isObject(metadata) ? metadata.weight_version : undefined
  return typeof label === "string" && /^\d+$/.test(label) ? Number(label) : undefined
}

const TOKEN_ID = "token_id:"

/** Completion token ids: `token_ids`, else the `token_id:<id>` logprob tokens (`return_tokens_as_token_ids`). */
const tokenIdsOf = (choice: Record<string, unknown>, c: number, tokens: unknown): ReadonlyArray<number> | Failure => {
  const ids = choice.token_ids
  if (Array.isArray(ids)) {
    const wrong = badTokenId(ids, "token_ids")
    return wrong === undefined ? ids as Array<number> : bad(`choice ${c}: ${wrong}`)
  }
  if (ids !== undefined && ids !== null) {
    return bad(`choice ${c}: token_ids is ${show(ids)}; expected an array of token ids`)
  }
  if (!Array.isArray(tokens)) {
    return bad(`choice ${c}: expected token_ids; send return_token_ids: true to a server that supports it`)
  }
  const out: Array<number> = new Array(tokens.length)
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]
    const id = typeof token === "string" && token.startsWith(TOKEN_ID)
      ? Number(token.slice(TOKEN_ID.length))
      : Number.NaN
    if (!Number.isInteger(id) || id < 0 || !/^\d+$/.test((token as string).slice(TOKEN_ID.length))) {
      return bad(
        `choice ${c}: expected token_ids (return_token_ids) or logprob tokens rendered as ` +
          `"token_id:<id>" (return_tokens_as_token_ids), got token ${show(token)}`
      )
    }
    out[t] = id
  }
  return out
}

const sameIds = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  const n = Math.min(a.length, b.length)
  for (let t = 0; t < n; t++) if (a[t] !== b[t]) return t
  return a.length === b.length ? -1 : n
}

/**
 * Reads one part's reply into completions (in choice order), checking the
 * count and order of choices, token ids, logprobs (finite, ≤ 0; vLLM's clamp
 * at −9999 is kept), prompt ids and finish reasons. Fails with a
 * non-retryable `BadResponse` naming the choice and field.
 *
 * @internal
 */
export const readReply = (part: Part, json: unknown, options: ReadOptions): Array<Placed> | Failure => {
  if (!isObject(json) || !Array.isArray(json.choices)) {
    return bad(`expected a completions reply ({choices: [...]}), got ${show(json)}`)
  }
  const version = json.policy_version ?? labelledVersion(json.metadata)
  if (version !== undefined && (typeof version !== "number" || !Number.isInteger(version) || version < 0)) {
    return bad(`policy_version is ${show(version)}; expected an integer ≥ 0`)
  }
  const choices = json.choices as Array<unknown>
  const expected = part.prompts.length * part.n
  if (choices.length !== expected) {
    return bad(`expected ${expected} choices (${part.prompts.length} prompts × n=${part.n}), got ${choices.length}`)
  }
  const byIndex: Array<Record<string, unknown> | undefined> = new Array(expected)
  for (const choice of choices) {
    if (!isObject(choice)) return bad(`expected each choice to be an object, got ${show(choice)}`)
    const index = choice.index
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= expected || byIndex[index]) {
      return bad(`expected choice indexes 0..${expected - 1}, each once, got index ${show(index)}`)
    }
    byIndex[index] = choice
  }
  const out: Array<Placed> = new Array(expected)
  for (let c = 0; c < expected; c++) {
    const choice = byIndex[c]!
    const prompt = part.prompts[part.n === 1 ? c : Math.floor(c / part.n)]!
    const text = choice.text
    if (typeof text !== "string") return bad(`choice ${c}: text is ${show(text)}; expected a string`)
    const reason = choice.finish_reason
    if (reason !== "stop" && reason !== "length" && reason !== "abort") {
      return bad(`choice ${c}: expected finish_reason "stop", "length" or "abort", got ${show(reason)}`)
    }
    const logprobs = choice.logprobs
    if (logprobs !== undefined && logprobs !== null && !isObject(logprobs)) {
      return bad(`choice ${c}: logprobs is ${show(logprobs)}; expected {tokens, token_logprobs}`)
    }
    const ids = tokenIdsOf(choice, c, logprobs?.tokens)
    if (!Array.isArray(ids)) return ids as Failure
    const lps = logprobs?.token_logprobs
    if (!Array.isArray(lps)) {
      return bad(`choice ${c}: expected logprobs.token_logprobs (the request sent logprobs: 0), got ${show(lps)}`)
    }
    if (lps.length !== ids.length) return bad(`choice ${c}: ${lps.length} logprobs for ${ids.length} completion tokens`)
    for (let t = 0; t < lps.length; t++) {
      const lp = lps[t]
      if (typeof lp !== "number" || !Number.isFinite(lp) || lp > 1e-6) {
        return bad(`choice ${c}: token ${t} has logprob ${String(lp)}; expected a finite number ≤ 0`)
      }
      if (lp > 0) lps[t] = 0
    }
    const sent = prompt.input.tokenIds
    const returned = choice.prompt_token_ids
    let promptTokenIds: ReadonlyArray<number>
    if (Array.isArray(returned)) {
      const wrong = badTokenId(returned, "prompt_token_ids")
      if (wrong !== undefined) return bad(`choice ${c}: ${wrong}`)
      if (options.checkPromptTokenIds && sent !== undefined) {
        const at = sameIds(sent, returned)
        if (at >= 0) {
          return bad(
            `choice ${c}: prompt_token_ids differ from the ${sent.length} ids sent for prompt "${prompt.input.promptId}" ` +
              `at position ${at} (got ${returned.length} ids; expected the server to echo the prompt)`
          )
        }
      }
      promptTokenIds = returned
    } else if (returned !== undefined && returned !== null) {
      return bad(`choice ${c}: prompt_token_ids is ${show(returned)}; expected an array of token ids`)
    } else if (sent !== undefined) {
      promptTokenIds = sent
    } else {
      return bad(`choice ${c}: expected prompt_token_ids for a text prompt (the request sent return_token_ids: true)`)
    }
    out[c] = {
      at: prompt.at,
      promptId: prompt.input.promptId,
      sampleIndex: part.n === 1 ? part.sampleIndex : c % part.n,
      text,
      promptTokenIds,
      tokenIds: ids,
      logprobs: lps as Array<number>,
      finishReason: reason,
      policyVersion: version ?? options.fallbackVersion
    }
  }
  return out
}
