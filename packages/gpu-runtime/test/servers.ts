/**
 * Small HTTP servers on 127.0.0.1 (ephemeral ports) for the HTTP runtime
 * tests: a scriptable handler, request recording, and a fake vLLM that
 * answers `/v1/completions` in vLLM's reply shape.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach } from "vitest"

export interface Recorded {
  readonly method: string
  readonly path: string
  readonly body: any
}

export type Handler = (req: IncomingMessage, body: any, res: ServerResponse, n: number) => void | Promise<void>

export interface TestServer {
  readonly url: string
  readonly requests: Array<Recorded>
  /** Requests whose connection closed before a reply was sent (aborted by the client). */
  readonly aborted: () => number
  readonly inFlight: () => number
  readonly maxInFlight: () => number
  readonly close: () => Promise<void>
}

/**
 * Serves `handler` on an ephemeral port. `n` counts the requests to the same
 * path before this one. `GET /get_server_info` (SGLang's info route, probed
 * by HttpInference) answers 404 unless `sglang` is set.
 */
export const serve = (handler: Handler, options: { readonly sglang?: boolean } = {}): Promise<TestServer> =>
  new Promise((resolve) => {
    const requests: Array<Recorded> = []
    let aborted = 0
    let inFlight = 0
    let maxInFlight = 0
    const server: Server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        let body: any = undefined
        try {
          body = text.length > 0 ? JSON.parse(text) : undefined
        } catch {
          body = text
        }
        const path = req.url ?? ""
        const n = requests.filter((r) => r.path === path).length
        requests.push({ method: req.method ?? "", path, body })
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        res.on("close", () => {
          inFlight--
          if (!res.writableFinished) aborted++
        })
        if (path === "/get_server_info" && !options.sglang) return json(res, 404, { detail: "Not Found" })
        void handler(req, body, res, n)
      })
    })
    server.keepAliveTimeout = 1000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        aborted: () => aborted,
        inFlight: () => inFlight,
        maxInFlight: () => maxInFlight,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

export const json = (res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) => {
  const data = JSON.stringify(payload)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers })
  res.end(data)
}

export interface Fixture {
  readonly description: string
  readonly request: any
  readonly status: number
  readonly response: any
}

export const fixture = (name: string): Fixture =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8"))

/**
 * A fake vLLM `/v1/completions`: text prompts are "tokenised" as char codes
 * plus BOS 1; choice i·n + j of prompt i gets tokens [100 + i, 200 + j, 300 + (seed mod 97)]
 * with text `c<i>-<j>`, logprobs −0.5 each, finish reason `length`.
 */
export const fakeCompletions = (body: any): unknown => {
  const prompts: Array<Array<number>> = Array.isArray(body.prompt) && typeof body.prompt[0] !== "number"
    ? body.prompt.map((p: any) => typeof p === "string" ? [1, ...Array.from(p as string, (c) => c.charCodeAt(0))] : p)
    : [
      typeof body.prompt === "string" ? [1, ...Array.from(body.prompt as string, (c) => c.charCodeAt(0))] : body.prompt
    ]
  const n = body.n ?? 1
  const seed = body.seed ?? 0
  const choices = []
  for (let i = 0; i < prompts.length; i++) {
    for (let j = 0; j < n; j++) {
      const ids = [100 + i, 200 + j, 300 + (seed % 97)]
      choices.push({
        index: i * n + j,
        text: `c${i}-${j}`,
        logprobs: {
          text_offset: [0, 1, 2],
          token_logprobs: ids.map(() => -0.5),
          tokens: ids.map((t) => `token_id:${t}`),
          top_logprobs: ids.map((t) => ({ [`token_id:${t}`]: -0.5 }))
        },
        finish_reason: "length",
        stop_reason: null,
        token_ids: ids,
        prompt_logprobs: null,
        prompt_token_ids: prompts[i]
      })
    }
  }
  return { id: "cmpl-fake", object: "text_completion", created: 0, model: body.model ?? "fake", choices, usage: {} }
}

/** A fake vLLM server; `GET /health` answers 200 with an empty body, as vLLM does; unknown routes 404. */
export const fakeVllm = (delayMs = 0): Promise<TestServer> =>
  serve((req, body, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-length": "0" })
      res.end()
      return
    }
    if (req.url !== "/v1/completions") return json(res, 404, { detail: "Not Found" })
    setTimeout(() => json(res, 200, fakeCompletions(body)), delayMs)
  })

/**
 * Registers cleanup for the calling test file and returns `track`, which
 * remembers a started server so it is closed after each test.
 */
export const trackServers = () => {
  const servers: Array<TestServer> = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  return async (started: Promise<TestServer>): Promise<TestServer> => {
    const server = await started
    servers.push(server)
    return server
  }
}

/** Runs an HTTP-client effect with the fetch client (Node 20 and Deno). */
/** The `/v1/completions` requests a server received (info-route probes left out). */
export const completionsRequests = (server: TestServer): Array<Recorded> =>
  server.requests.filter((r) => r.path === "/v1/completions")

export const runHttp = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, FetchHttpClient.layer) as Effect.Effect<A, E>)
