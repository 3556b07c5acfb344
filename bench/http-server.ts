/**
 * The fake OpenAI-compatible server of `npm run bench:http`, run as its own
 * process on 127.0.0.1 so that its CPU is not the client's.
 *
 * `POST /v1/completions` answers after a fixed delay with a prebuilt body in
 * vLLM's reply shape (the recorded fixtures' fields: `token_ids`,
 * `prompt_token_ids`, `logprobs.{tokens, token_logprobs, top_logprobs,
 * text_offset}`, `finish_reason`), with `prompts × n` choices of `max_tokens`
 * tokens each; bodies are built once per (prompts, n, max_tokens) and reused.
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
const cache = new Map<string, Buffer>()
let digests: Array<string> = []
let recording = false

const replyBody = (prompts: number, n: number, tokens: number): Buffer => {
  const key = `${prompts}/${n}/${tokens}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const choices = []
  for (let i = 0; i < prompts; i++) {
    for (let j = 0; j < n; j++) {
      const ids = Array.from({ length: tokens }, (_, t) => 1000 + ((i * 7919 + j * 104729 + t * 31) % 30000))
      const lps = ids.map((_, t) => -((t * 37 + j) % 100) / 37 - 0.01)
      choices.push({
        index: i * n + j,
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
        prompt_token_ids: Array.from({ length: 32 }, (_, t) => 1 + t)
      })
    }
  }
  const body = Buffer.from(JSON.stringify({
    id: "cmpl-bench",
    object: "text_completion",
    created: 0,
    model: "bench",
    choices,
    usage: { prompt_tokens: 32 * prompts, completion_tokens: tokens * prompts * n, total_tokens: 0 }
  }))
  cache.set(key, body)
  return body
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
    const body = JSON.parse(raw.toString("utf8")) as { prompt: Array<unknown>; n?: number; max_tokens: number }
    const prompts = Array.isArray(body.prompt) && Array.isArray(body.prompt[0]) ? body.prompt.length : 1
    const data = replyBody(prompts, body.n ?? 1, body.max_tokens)
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json", "content-length": data.length })
      res.end(data)
    }, delayMs)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
})
