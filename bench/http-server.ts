/**
 * The fake OpenAI-compatible server of `npm run bench:http`, run as its own
 * process on 127.0.0.1 so that its CPU is not the client's.
 *
 * `POST /v1/completions` answers after a fixed delay with a prebuilt body in
 * vLLM's reply shape (the recorded fixtures' fields: `token_ids`,
 * `prompt_token_ids`, `logprobs.{tokens, token_logprobs, top_logprobs,
 * text_offset}`, `finish_reason`), with `prompts × n` choices of `max_tokens`
 * tokens each (token-id prompts only); every choice is prebuilt once and
 * reused, only `prompt_token_ids` echoes the request's prompt (as vLLM does).
 * `GET /health` answers 200 with an empty body (as vLLM does).
 * `POST /bench/reset` and `GET /bench/digest` let the bench check that two
 * clients sent byte-identical request bodies (a SHA-256 over the sorted
 * per-body digests since the last reset).
 *
 *   tsx bench/http-server.ts DELAY_MS     # prints "listening <url>"
 */
import { createHash } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import process from "node:process"

const delayMs = Number(process.argv[2] ?? "20")
let digests: Array<string> = []
let recording = false

/** Choice `index` of prompt `i`, sample `j`, as JSON up to its `prompt_token_ids` value (cached). */
const heads = new Map<string, string>()
const choiceHead = (index: number, i: number, j: number, tokens: number): string => {
  const key = `${index}/${i}/${j}/${tokens}`
  const hit = heads.get(key)
  if (hit !== undefined) return hit
  const ids = Array.from({ length: tokens }, (_, t) => 1000 + ((i * 7919 + j * 104729 + t * 31) % 30000))
  const lps = ids.map((_, t) => -((t * 37 + j) % 100) / 37 - 0.01)
  const choice = JSON.stringify({
    index,
    text: ids.map((id) => `w${id}`).join(" "),
    logprobs: {
      text_offset: ids.map((_, t) => t * 6),
      token_logprobs: lps,
      tokens: ids.map((id) => `token_id:${id}`),
      top_logprobs: ids.map((id, t) => ({ [`token_id:${id}`]: lps[t] }))
    },
    finish_reason: "length",
    stop_reason: null,
    token_ids: ids,
    prompt_logprobs: null,
    prompt_token_ids: null
  })
  const head = choice.slice(0, choice.length - "null}".length)
  heads.set(key, head)
  return head
}

/** The reply: prebuilt choices, each echoing its prompt's token ids (as vLLM does). */
const replyBody = (prompts: ReadonlyArray<ReadonlyArray<number>>, n: number, tokens: number): Buffer => {
  const parts: Array<string> = []
  for (let i = 0; i < prompts.length; i++) {
    const ids = JSON.stringify(prompts[i])
    for (let j = 0; j < n; j++) parts.push(`${choiceHead(i * n + j, i, j, tokens)}${ids}}`)
  }
  return Buffer.from(
    `{"id":"cmpl-bench","object":"text_completion","created":0,"model":"bench","choices":[${parts.join(",")}],` +
      `"usage":{"prompt_tokens":0,"completion_tokens":${tokens * prompts.length * n},"total_tokens":0}}`
  )
}

const server = createServer((req, res) => {
  const chunks: Array<Buffer> = []
  req.on("data", (c: Buffer) => chunks.push(c))
  req.on("end", () => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-length": "0" })
      return res.end()
    }
    if (req.url === "/bench/reset") {
      digests = []
      recording = true
      res.writeHead(200, { "content-length": "0" })
      return res.end()
    }
    if (req.url === "/bench/digest") {
      const all = createHash("sha256").update(digests.sort().join("\n")).digest("hex")
      const data = JSON.stringify({ bodies: digests.length, digest: all })
      recording = false
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(data) })
      return res.end(data)
    }
    const raw = Buffer.concat(chunks)
    if (recording) digests.push(createHash("sha256").update(raw).digest("hex"))
    const body = JSON.parse(raw.toString("utf8")) as { prompt: Array<Array<number>>; n?: number; max_tokens: number }
    const data = replyBody(body.prompt, body.n ?? 1, body.max_tokens)
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json", "content-length": data.length })
      res.end(data)
    }, delayMs)
  })
})
// keep idle connections open for the whole run (no keep-alive, header or request timeouts): a socket the
// server closes while a client reuses it would fail the raw client and be retried silently by zpd
server.keepAliveTimeout = 0
server.headersTimeout = 0
server.requestTimeout = 0
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
})
