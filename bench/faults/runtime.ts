/**
 * Runtime fault cases of `npm run bench:faults`: servers on 127.0.0.1 that
 * misbehave in one way each, driven through `HttpInference` and
 * `HttpTrainer`. A case is `clean` when the client fails with a
 * `RuntimeError` naming the endpoint and what was expected (or, for a case
 * that must succeed, when it succeeds and its check holds), `unclear` when
 * the message misses that, `silent` when it succeeds although it should
 * fail, `hang` when it runs past its timeout.
 *
 * The case shape is the harness's (`bench/faults/Case.ts`: `group`, `name`,
 * `run(context) → {outcome, detail}`), restated here structurally so this
 * file compiles on its own. Each case also runs as a vitest test
 * (packages/gpu-runtime/test/HttpFaults.test.ts).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type { RuntimeError } from "@zpd/core/Errors"
import type { SamplingParams } from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as HttpInference from "../../packages/gpu-runtime/src/HttpInference.ts"
import * as HttpTrainer from "../../packages/gpu-runtime/src/HttpTrainer.ts"
import { trainStepRequest } from "../../packages/gpu-runtime/test/fixtures.ts"

import type { Context, FaultCase, Outcome, Result } from "./Case.ts"

export type { Context, FaultCase, Outcome, Result }

// ---------------------------------------------------------------------------
// a scriptable server

interface Seen {
  readonly path: string
  readonly body: any
}

type Reply = (req: IncomingMessage, body: any, res: ServerResponse, n: number) => void

interface Server {
  readonly url: string
  readonly seen: Array<Seen>
  readonly completions: () => number
  readonly close: () => Promise<void>
}

const send = (res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}) => {
  const data = typeof payload === "string" ? payload : JSON.stringify(payload)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers })
  res.end(data)
}

/**
 * `reply` answers `/v1/completions` and the trainer routes (`n`: earlier requests to the same path); `/health`
 * answers `health`; `/get_server_info` answers as SGLang does when `sglang` is set, else 404.
 */
const start = (reply: Reply, health: unknown = {}, sglang = false): Promise<Server> =>
  new Promise((resolve) => {
    const seen: Array<Seen> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        const path = req.url ?? ""
        const body = text.length > 0 ? JSON.parse(text) : undefined
        const n = seen.filter((s) => s.path === path).length
        seen.push({ path, body })
        if (path === "/health") return send(res, 200, health)
        if (path === "/get_server_info") {
          return sglang
            ? send(res, 200, { version: "0.5.6", model_path: "Qwen/Qwen3-0.6B" })
            : send(res, 404, { detail: "Not Found" })
        }
        reply(req, body, res, n)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        completions: () => seen.filter((s) => s.path === "/v1/completions").length,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

/** vLLM's reply shape: choice i·n + j of prompt i gets `length` tokens. */
const completions = (body: any, over: (choice: any, c: number) => any = (c) => c, extra: object = {}) => {
  const prompts: Array<Array<number>> = body.prompt
  const n: number = body.n
  const choices = []
  for (let i = 0; i < prompts.length; i++) {
    for (let j = 0; j < n; j++) {
      const ids = [100 + i, 200 + j, 300 + ((body.seed ?? 0) % 97)]
      const c = i * n + j
      choices.push(over({
        index: c,
        text: `c${i}-${j}`,
        logprobs: { tokens: ids.map((t) => `token_id:${t}`), token_logprobs: ids.map(() => -0.5) },
        finish_reason: "stop",
        token_ids: ids,
        prompt_token_ids: prompts[i]
      }, c))
    }
  }
  return { id: "cmpl", object: "text_completion", choices, ...extra }
}

// ---------------------------------------------------------------------------
// classification

const sampling: SamplingParams = { temperature: 1, topP: 1, topK: 0, maxTokens: 3, seed: 1 }
const prompts = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ promptId: `p${i}`, text: "", tokenIds: [1, 10 + i, 20 + i] }))
const fast = {
  timeout: "1 second",
  timeoutPerToken: 0,
  retries: 2,
  backoff: "5 millis",
  maxBackoff: "20 millis",
  cooldown: "20 millis",
  logprobSemantics: "processed",
  groupMode: "n"
} as const

const run = <A>(effect: Effect.Effect<A, RuntimeError, any>, timeoutMs: number) =>
  Effect.runPromise(
    effect.pipe(
      Effect.either,
      Effect.timeout(timeoutMs),
      Effect.option,
      Effect.provide(FetchHttpClient.layer)
    ) as Effect.Effect<Option.Option<import("effect/Either").Either<A, RuntimeError>>>
  )

/** A case that must fail with a `RuntimeError` whose message holds every pattern (the endpoint is always one). */
const failing = (
  group: string,
  name: string,
  body: (
    timeoutMs: number
  ) => Promise<
    { readonly server?: Server; readonly effect: Effect.Effect<unknown, RuntimeError, any>; readonly endpoint: string }
  >,
  patterns: ReadonlyArray<string | RegExp>,
  after: (server: Server | undefined) => string | undefined = () => undefined
): FaultCase => ({
  group,
  name,
  run: async ({ timeoutMs }) => {
    const limit = Math.min(timeoutMs, 20_000)
    const { server, effect, endpoint } = await body(limit)
    try {
      const result = await run(effect, limit)
      if (Option.isNone(result)) return { outcome: "hang", detail: `no result within ${limit} ms` }
      const either = result.value
      if (either._tag === "Right") return { outcome: "silent", detail: "succeeded" }
      const message = either.left.message
      const missing = [endpoint, ...patterns].filter((p) =>
        typeof p === "string" ? !message.includes(p) : !p.test(message)
      )
      if (missing.length > 0) {
        return { outcome: "unclear", detail: `missing ${missing.map(String).join(", ")} in: ${message}` }
      }
      const problem = after(server)
      return problem === undefined
        ? { outcome: "clean", detail: message.slice(0, 200) }
        : { outcome: "unclear", detail: problem }
    } finally {
      await server?.close()
    }
  }
})

/** A case that must succeed and pass `check`. */
const succeeding = <A>(
  group: string,
  name: string,
  body: () => Promise<{ readonly server: Server; readonly effect: Effect.Effect<A, RuntimeError, any> }>,
  check: (a: A, server: Server) => string | undefined
): FaultCase => ({
  group,
  name,
  run: async ({ timeoutMs }) => {
    const limit = Math.min(timeoutMs, 20_000)
    const { server, effect } = await body()
    try {
      const result = await run(effect, limit)
      if (Option.isNone(result)) return { outcome: "hang", detail: `no result within ${limit} ms` }
      if (result.value._tag === "Left") {
        return { outcome: "unclear", detail: `refused a valid case: ${result.value.left.message}` }
      }
      const problem = check(result.value.right, server)
      return problem === undefined
        ? { outcome: "clean", detail: "ran as expected" }
        : { outcome: "unclear", detail: problem }
    } finally {
      await server.close()
    }
  }
})

const inference =
  (reply: Reply, over: Partial<HttpInference.Options> = {}, count = 1, n = 2, health: unknown = {}) => async () => {
    const server = await start(reply, health)
    return {
      server,
      endpoint: `${server.url}/v1/completions`,
      effect: Effect.flatMap(
        HttpInference.make({ endpoints: [server.url], ...fast, ...over }),
        (c) => c.generate({ requestId: "r", prompts: prompts(count), n, sampling })
      )
    }
  }

/** One choice changed by `edit` in an otherwise valid reply. */
const badChoice = (edit: (choice: any) => void): Reply => (_req, body, res) =>
  send(
    res,
    200,
    completions(body, (c, k) => {
      if (k === 0) edit(c)
      return c
    })
  )

const onlyOnce = (problem: string) => (server: Server | undefined) =>
  server !== undefined && server.completions() !== 1
    ? `${problem}: sent ${server.completions()} requests, expected 1`
    : undefined

// ---------------------------------------------------------------------------
// trainer

const updateReply = (over: object = {}) => ({
  step: 3,
  policyVersion: 3,
  metrics: { loss: 0.5, kl_mean: 0.01, clipfrac: 0, grad_norm: 1.5 },
  groupKl: [0.01],
  ...over
})

const trainer = (
  reply: Reply,
  call: (t: HttpTrainer.Client) => Effect.Effect<unknown, RuntimeError>,
  path: string,
  over: Partial<HttpTrainer.Options> = {}
) =>
async () => {
  const server = await start(reply, { ready: true, policyVersion: 2 })
  return {
    server,
    endpoint: `${server.url}${path}`,
    effect: Effect.flatMap(
      HttpTrainer.make({
        url: server.url,
        timeout: "1 second",
        retries: 2,
        backoff: "5 millis",
        maxBackoff: "20 millis",
        ...over
      }),
      call
    )
  }
}

// ---------------------------------------------------------------------------
// the cases

const G = "runtime"

export const cases: ReadonlyArray<FaultCase> = [
  failing(G, "policy version goes backwards between calls", async () => {
    const server = await start((_req, body, res, n) =>
      send(res, 200, completions(body, (c) => c, { policy_version: n === 0 ? 5 : 4 }))
    )
    const effect = Effect.flatMap(HttpInference.make({ endpoints: [server.url], ...fast }), (c) =>
      Effect.zipRight(
        c.generate({ requestId: "a", prompts: prompts(1), n: 1, sampling }),
        c.generate({ requestId: "b", prompts: prompts(1), n: 1, sampling })
      ))
    return { server, effect, endpoint: `${server.url}/v1/completions` }
  }, ["policy_version 4 is older than version 5", "never to go backwards"]),
  failing(
    G,
    "negative policy version",
    inference((_req, body, res) => send(res, 200, completions(body, (c) => c, { policy_version: -1 }))),
    [
      "policy_version is -1; expected an integer ≥ 0"
    ]
  ),
  failing(
    G,
    "malformed 200 body is not retried",
    inference((_req, _body, res) => send(res, 200, "{\"choices\": [{\"index\": 0,")),
    ["expected a JSON reply, got malformed JSON"],
    onlyOnce("retried a malformed body")
  ),
  failing(
    G,
    "400 context-length error names the prompt, no retry",
    inference((_req, _body, res) =>
      send(res, 400, { object: "error", message: "This model's maximum context length is 32768 tokens.", code: 400 })
    ),
    ["HTTP 400", "maximum context length", "prompt \"p0\""],
    onlyOnce("retried a 400")
  ),
  failing(
    G,
    "404 unknown model, no retry",
    inference((_req, _body, res) => send(res, 404, { error: { message: "The model `x` does not exist." } })),
    ["HTTP 404", "does not exist"],
    onlyOnce("retried a 404")
  ),
  failing(
    G,
    "307 redirect is refused readably",
    inference((_req, _body, res) => send(res, 307, "", { location: "https://elsewhere:8443/v1/completions" })),
    ["HTTP 307 redirect to \"https://elsewhere:8443/v1/completions\"", "does not follow redirects"],
    onlyOnce("followed or retried a redirect")
  ),
  failing(G, "fractional token id", inference(badChoice((c) => (c.token_ids = [100, 2.5, 300]))), [
    "choice 0: token_ids[1] is 2.5; expected a token id (an integer ≥ 0)"
  ]),
  failing(G, "negative token id", inference(badChoice((c) => (c.token_ids = [100, -3, 300]))), ["token_ids[1] is -3"]),
  failing(G, "fractional prompt token id", inference(badChoice((c) => (c.prompt_token_ids = [1, 10.5, 20]))), [
    "prompt_token_ids[1] is 10.5"
  ]),
  failing(
    G,
    "wrong number of choices",
    inference((_req, body, res) => send(res, 200, { choices: completions(body).choices.slice(1) })),
    [
      "expected 2 choices (1 prompts × n=2), got 1"
    ]
  ),
  failing(G, "duplicate choice index", inference(badChoice((c) => (c.index = 1))), [
    "expected choice indexes 0..1, each once"
  ]),
  failing(G, "positive logprob", inference(badChoice((c) => (c.logprobs.token_logprobs[1] = 0.7))), [
    "token 1 has logprob 0.7; expected a finite number ≤ 0"
  ]),
  failing(G, "null logprob", inference(badChoice((c) => (c.logprobs.token_logprobs[0] = null))), [
    "token 0 has logprob null"
  ]),
  failing(G, "logprobs shorter than tokens", inference(badChoice((c) => c.logprobs.token_logprobs.pop())), [
    "2 logprobs for 3 completion tokens"
  ]),
  failing(G, "unknown finish reason", inference(badChoice((c) => (c.finish_reason = "tool_calls"))), [
    "expected finish_reason \"stop\", \"length\" or \"abort\", got \"tool_calls\""
  ]),
  failing(
    G,
    "no token ids at all",
    inference(badChoice((c) => {
      delete c.token_ids
      c.logprobs.tokens = ["a", "b", "c"]
    })),
    ["expected token_ids (return_token_ids) or logprob tokens rendered as \"token_id:<id>\""]
  ),
  failing(
    G,
    "returned prompt ids differ from the ids sent",
    inference(badChoice((c) => (c.prompt_token_ids = [1, 99, 20]))),
    [
      "prompt_token_ids differ from the 3 ids sent for prompt \"p0\" at position 1"
    ]
  ),
  failing(
    G,
    "server never answers: two limits, then Timeout",
    inference(() => {/* stalls */}, { timeout: "150 millis" }),
    ["no complete reply within", "gave up after 2 attempts"]
  ),
  failing(G, "persistent 500", inference((_req, _body, res) => send(res, 500, { error: { message: "CUDA error" } })), [
    "HTTP 500: CUDA error",
    "gave up after 3 attempts"
  ]),
  failing(
    G,
    "body cut off mid-way, every time",
    inference((_req, body, res) => {
      const data = JSON.stringify(completions(body))
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(data) })
      res.write(data.slice(0, 30))
      setTimeout(() => res.socket?.destroy(), 5)
    }),
    ["gave up after 3 attempts"]
  ),
  failing(G, "connection refused", async () => {
    const server = await start(() => {})
    const url = server.url
    await server.close()
    return {
      endpoint: `${url}/v1/completions`,
      effect: Effect.flatMap(
        HttpInference.make({ endpoints: [url], ...fast }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling })
      )
    }
  }, ["connection failed", "gave up after 3 attempts"]),
  failing(G, "dead worker is reported at once", async () => {
    const server = await start(() => {})
    const url = server.url
    await server.close()
    return {
      endpoint: `${url}/v1/completions`,
      effect: Effect.flatMap(
        HttpInference.make({
          endpoints: [url],
          ...fast,
          retries: 50,
          serverExited: Effect.succeed(Option.some("the worker (pid 4242) exited with code 1"))
        }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling })
      )
    }
  }, ["connection failed", "the worker (pid 4242) exited with code 1"]),
  failing(
    G,
    "completions aborted every time",
    inference(badChoice((c) => (c.finish_reason = "abort")), { abortRetries: 2 }),
    ["still finished with \"abort\" after 2 regeneration(s)", "prompt \"p0\" sample 0"]
  ),
  failing(
    G,
    "prompt over the context length",
    async () => {
      const server = await start((_req, body, res) => send(res, 200, completions(body)))
      return {
        server,
        endpoint: `${server.url}/v1/completions`,
        effect: Effect.flatMap(
          HttpInference.make({ endpoints: [server.url], ...fast, contextLength: 4 }),
          (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling })
        )
      }
    },
    ["prompt \"p0\" has 3 tokens; with maxTokens 3 it needs 6, expected at most the context length 4"],
    (server) => server !== undefined && server.completions() > 0 ? "sent the over-long prompt" : undefined
  ),
  failing(G, "server reports raw logprobs although processed was asserted", async () => {
    const server = await start((_req, body, res) => send(res, 200, completions(body)), { logprobsMode: "raw_logprobs" })
    return {
      server,
      endpoint: `${server.url}/health`,
      effect: HttpInference.make({ endpoints: [server.url], ...fast })
    }
  }, ["reports logprobsMode \"raw_logprobs\"", "expected \"processed_logprobs\""]),
  succeeding(G, "429 with Retry-After, then served", async () => {
    const server = await start((_req, body, res, n) =>
      n === 0
        ? send(res, 429, { error: { message: "busy" } }, { "retry-after": "0" })
        : send(res, 200, completions(body))
    )
    return {
      server,
      effect: Effect.flatMap(
        HttpInference.make({ endpoints: [server.url], ...fast }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 2, sampling })
      )
    }
  }, (out, server) => out.length === 2 && server.completions() === 2 ? undefined : `got ${out.length} completions`),
  succeeding(G, "aborted completion is regenerated and counted", async () => {
    const server = await start((_req, body, res, n) =>
      send(res, 200, completions(body, (c, k) => (n === 0 && k === 1 ? { ...c, finish_reason: "abort" } : c)))
    )
    return {
      server,
      effect: Effect.flatMap(
        HttpInference.make({ endpoints: [server.url], ...fast }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 2, sampling })
      )
    }
  }, (out, server) => {
    if (out.some((c) => c.finishReason === "abort")) return "an aborted completion was returned"
    if (out[1]?.abortedAttempts !== 1 || out[0]?.abortedAttempts !== undefined) {
      return "the regeneration was not counted"
    }
    return server.completions() === 2 && server.seen.at(-1)?.body.n === 1
      ? undefined
      : "expected one n=1 regeneration request"
  }),
  succeeding(
    G,
    "every completion truncated: a warning says so",
    async () => {
      const server = await start((_req, body, res) =>
        send(res, 200, completions(body, (c) => ({ ...c, finish_reason: "length" })))
      )
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      return {
        server,
        effect: Effect.flatMap(
          HttpInference.make({ endpoints: [server.url], ...fast }),
          (c) => c.generate({ requestId: "r", prompts: prompts(2), n: 2, sampling })
        ).pipe(
          Effect.map((out) => ({ out, logs })),
          Effect.provide(capture)
        )
      }
    },
    ({ logs }) =>
      logs.some((l) =>
          l.includes("every one of 4 completions stopped at maxTokens = 3") && l.includes("raise sampling.maxTokens")
        )
        ? undefined
        : `no truncation warning in ${JSON.stringify(logs)}`
  ),
  succeeding(G, "SGLang: samples fan out with their own seeds by default", async () => {
    const server = await start((_req, body, res) => send(res, 200, completions(body)), {}, true)
    return {
      server,
      effect: Effect.flatMap(
        HttpInference.make({ endpoints: [server.url], ...fast, groupMode: "auto" }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 3, sampling })
      )
    }
  }, (_out, server) => {
    const bodies = server.seen.filter((s) => s.path === "/v1/completions").map((s) => s.body)
    return bodies.length === 3 && bodies.every((b) => b.n === 1) && new Set(bodies.map((b) => b.seed)).size === 3
      ? undefined
      : `expected 3 n=1 requests with distinct seeds, got ${JSON.stringify(bodies.map((b) => [b.n, b.seed]))}`
  }),
  succeeding(G, "timeout scales with max_tokens", async () => {
    const server = await start((_req, body, res) => setTimeout(() => send(res, 200, completions(body)), 400))
    return {
      server,
      effect: Effect.flatMap(
        HttpInference.make({
          endpoints: [server.url],
          ...fast,
          timeout: "100 millis",
          timeoutPerToken: "1 second",
          retries: 0
        }),
        (c) => c.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling })
      )
    }
  }, (out) => out.length === 1 ? undefined : "no completion"),
  // trainer
  failing(
    G,
    "trainer reply for another step",
    trainer(
      (_req, _body, res) => send(res, 200, updateReply({ step: 2 })),
      (t) => t.update(trainStepRequest),
      "/trainer/update"
    ),
    ["the reply is for step 2; expected step 3"]
  ),
  failing(
    G,
    "trainer grad_norm null",
    trainer(
      (_req, _body, res) => send(res, 200, updateReply({ metrics: { loss: 0.5, grad_norm: null } })),
      (t) => t.update(trainStepRequest),
      "/trainer/update"
    ),
    ["metric \"grad_norm\" is null; expected a finite number"]
  ),
  failing(
    G,
    "trainer loss infinite",
    trainer(
      (_req, _body, res) => send(res, 200, "{\"step\": 3, \"policyVersion\": 3, \"metrics\": {\"loss\": 1e999}}"),
      (t) => t.update(trainStepRequest),
      "/trainer/update"
    ),
    ["metric \"loss\" is Infinity; expected a finite number"]
  ),
  failing(
    G,
    "trainer policy version goes backwards",
    trainer(
      (_req, _body, res, n) => send(res, 200, { policyVersion: n === 0 ? 7 : 6, referenceVersion: 6 }),
      (t) => Effect.zipRight(t.resetReference, t.resetReference),
      "/trainer/reset_reference"
    ),
    ["policyVersion 6 is older than version 7"]
  ),
  failing(
    G,
    "trainer negative policy version",
    trainer(
      (_req, _body, res) => send(res, 200, { policyVersion: -2 }),
      (t) => t.resetReference,
      "/trainer/reset_reference"
    ),
    ["policyVersion", "-2"]
  ),
  failing(
    G,
    "trainer checkpoint path climbs out (../../../etc/passwd)",
    trainer(
      (_req, _body, res) => send(res, 200, { policyVersion: 3, path: "../../../etc/passwd" }),
      (t) => t.checkpoint("step-3"),
      "/trainer/checkpoint"
    ),
    ["\"../../../etc/passwd\" contains a \"..\" segment"]
  ),
  failing(
    G,
    "restore from a path that climbs out is refused before sending",
    trainer(
      (_req, _body, res) => send(res, 200, { policyVersion: 3 }),
      (t) => t.restore({ _tag: "Path", path: "/ckpt/../../etc/passwd" }),
      "/trainer/restore"
    ),
    ["contains a \"..\" segment"],
    (server) => server?.seen.some((s) => s.path === "/trainer/restore") ? "the request was sent" : undefined
  ),
  failing(
    G,
    "checkpoint tag with a slash is refused",
    trainer(
      (_req, _body, res) => send(res, 200, { policyVersion: 3, path: "/x" }),
      (t) => t.checkpoint("../x"),
      "/trainer/checkpoint"
    ),
    ["checkpoint tag \"../x\": expected letters, digits"]
  ),
  failing(
    G,
    "trainer 400 is not retried",
    trainer(
      (_req, _body, res) => send(res, 400, { error: { message: "samples[0].lossMask has 2 entries for 3 tokens" } }),
      (t) => t.update(trainStepRequest),
      "/trainer/update"
    ),
    ["HTTP 400", "lossMask has 2 entries"],
    (server) =>
      server !== undefined && server.seen.filter((s) => s.path === "/trainer/update").length !== 1
        ? "retried a 400"
        : undefined
  ),
  failing(
    G,
    "trainer reply without a policy version",
    trainer(
      (_req, _body, res) => send(res, 200, { metrics: { loss: 1 } }),
      (t) => t.update(trainStepRequest),
      "/trainer/update"
    ),
    ["expected an update reply", "policyVersion"]
  ),
  failing(
    G,
    "trainer never answers",
    trainer(() => {/* stalls */}, (t) => t.resetReference, "/trainer/reset_reference", { timeout: "150 millis" }),
    ["no complete reply within", "gave up after 2 attempts"]
  )
]
