import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Curriculum from "@zpd/core/Curriculum"
import type { RuntimeError } from "@zpd/core/Errors"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Problem from "@zpd/core/Problem"
import { InferenceRuntime, type SamplingParams, TrainerRuntime } from "@zpd/core/Runtime"
import * as Stages from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import * as HttpInference from "../src/HttpInference.ts"
import {
  completionsRequests,
  fakeCompletions,
  fakeVllm,
  fixture,
  json,
  runHttp,
  serve,
  type TestServer,
  trackServers
} from "./servers.ts"

const track = trackServers()
const run = runHttp
const runEither = <A, E>(effect: Effect.Effect<A, E, any>) => run(Effect.either(effect))

const fast = {
  timeout: "2 seconds",
  retries: 2,
  backoff: "10 millis",
  maxBackoff: "50 millis",
  cooldown: "50 millis",
  timeoutPerToken: 0,
  groupMode: "n"
} as const
const sampling = (over: Partial<SamplingParams> = {}): SamplingParams => ({
  temperature: 1,
  topP: 1,
  topK: 0,
  maxTokens: 8,
  seed: 1,
  ...over
})
const prompts = (count: number, withIds = true) =>
  Array.from({ length: count }, (_, i) => ({
    promptId: `p${i}`,
    text: `prompt ${i}`,
    ...(withIds ? { tokenIds: [1, 10 + i, 20 + i] } : {})
  }))

const failure = (e: Either.Either<unknown, RuntimeError>): RuntimeError => {
  if (Either.isRight(e)) throw new Error("expected a failure")
  return e.left
}

describe("HttpInference against recorded vLLM replies", () => {
  it("reads token ids, logprobs, n and finish reasons from a token-id request", async () => {
    const f = fixture("vllm-token-ids-n2")
    // serve the choices in reverse order: the client orders by `index`
    const server = await track(
      serve((_req, _body, res) => json(res, f.status, { ...f.response, choices: [...f.response.choices].reverse() }))
    )
    const client = await run(
      HttpInference.make({ endpoints: [server.url], model: f.response.model, logprobSemantics: "processed", ...fast })
    )
    const out = await run(client.generate({
      requestId: "r",
      prompts: [
        { promptId: "a", text: "", tokenIds: f.request.prompt[0] },
        { promptId: "b", text: "", tokenIds: f.request.prompt[1] }
      ],
      n: 2,
      sampling: sampling({ temperature: 0.7, maxTokens: 8, seed: 1234 })
    }))
    expect(out.map((c) => [c.promptId, c.sampleIndex])).toEqual([["a", 0], ["a", 1], ["b", 0], ["b", 1]])
    const choices = f.response.choices
    out.forEach((c, k) => {
      expect(c.tokenIds).toEqual(choices[k].token_ids)
      expect(c.logprobs).toEqual(choices[k].logprobs.token_logprobs)
      expect(c.promptTokenIds).toEqual(choices[k].prompt_token_ids)
      expect(c.text).toBe(choices[k].text)
      expect(c.finishReason).toBe(choices[k].finish_reason)
      expect(c.policyVersion).toBe(0)
    })
    expect(out[3]!.logprobs[3]).toBe(-9999) // vLLM's clamp is a valid (very small) logprob
    // what was sent: token ids, n, logprobs 0, token ids back, explicit untruncated sampling
    const sent = completionsRequests(server)[0]!.body
    expect(completionsRequests(server)[0]!.path).toBe("/v1/completions")
    expect(sent).toMatchObject({
      model: f.response.model,
      prompt: f.request.prompt,
      n: 2,
      max_tokens: 8,
      temperature: 0.7,
      top_p: 1,
      top_k: -1,
      min_p: 0,
      logprobs: 0,
      return_token_ids: true,
      return_tokens_as_token_ids: true,
      stream: false
    })
    expect(Number.isInteger(sent.seed)).toBe(true)
  })

  it("sends text prompts and stop strings, and keeps the server's prompt_token_ids", async () => {
    const f = fixture("vllm-text-prompt-stop")
    const server = await track(serve((_req, _body, res) => json(res, f.status, f.response)))
    const client = await run(
      HttpInference.make({ endpoints: [`${server.url}/v1`], logprobSemantics: "processed", ...fast })
    )
    const out = await run(client.generate({
      requestId: "r",
      prompts: [{ promptId: "q", text: f.request.prompt[0] }],
      n: 3,
      sampling: sampling({ stop: ["</answer>"], maxTokens: 16 })
    }))
    expect(completionsRequests(server)[0]!.body.prompt).toEqual(f.request.prompt)
    expect(completionsRequests(server)[0]!.body.stop).toEqual(["</answer>"])
    expect(out).toHaveLength(3)
    expect(out.map((c) => c.sampleIndex)).toEqual([0, 1, 2])
    for (const [k, c] of out.entries()) {
      expect(c.promptTokenIds).toEqual(f.response.choices[k].prompt_token_ids)
      expect(c.tokenIds).toEqual(f.response.choices[k].token_ids)
      expect(c.finishReason).toBe("stop")
    }
    expect(out[0]!.text).toBe("<answer>4")
  })

  it("recovers ids from token_id:<id> logprob tokens on servers without return_token_ids", async () => {
    const f = fixture("vllm-legacy-no-token-ids")
    const server = await track(serve((_req, _body, res) => json(res, f.status, f.response)))
    const client = await run(HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast }))
    const out = await run(client.generate({
      requestId: "r",
      prompts: [{ promptId: "a", text: "", tokenIds: f.request.prompt[0] }],
      n: 2,
      sampling: sampling()
    }))
    expect(out[0]!.tokenIds).toEqual(f.response.choices[0].logprobs.tokens.map((t: string) => Number(t.slice(9))))
    expect(out[1]!.finishReason).toBe("length")
    expect(out[0]!.promptTokenIds).toEqual(f.request.prompt[0])
  })

  it("turns vLLM error bodies into a Refused error naming the endpoint, without retrying", async () => {
    for (const name of ["vllm-error-context-length", "vllm-error-unknown-model"]) {
      const f = fixture(name)
      const server = await track(serve((_req, _body, res) => json(res, f.status, f.response)))
      const client = await run(HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast }))
      const e = failure(
        await runEither(client.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling: sampling() }))
      )
      expect(e.reason).toBe("Refused")
      expect(e.endpoint).toBe(`${server.url}/v1/completions`)
      expect(e.message).toContain(f.response.error?.message ?? f.response.message)
      expect(e.message).toContain(`HTTP ${f.status}`)
      expect(completionsRequests(server)).toHaveLength(1)
    }
  })

  it("rejects replies whose shape is wrong, with what was expected", async () => {
    const cases: Array<[unknown, string]> = [
      [{ nope: 1 }, "expected a completions reply"],
      [{ choices: [] }, "expected 2 choices"],
      [
        {
          choices: [{
            index: 0,
            text: "",
            finish_reason: "stop",
            token_ids: [1, 2],
            logprobs: { tokens: ["a", "b"], token_logprobs: [-1] }
          }, { index: 1, text: "", finish_reason: "stop", token_ids: [], logprobs: { tokens: [], token_logprobs: [] } }]
        },
        "1 logprobs for 2 completion tokens"
      ],
      [
        {
          choices: [0, 1].map((index) => ({
            index,
            text: "",
            finish_reason: "tool_calls",
            token_ids: [],
            prompt_token_ids: [1],
            logprobs: { tokens: [], token_logprobs: [] }
          }))
        },
        "finish_reason"
      ],
      [
        {
          choices: [0, 1].map((index) => ({
            index,
            text: "",
            finish_reason: "stop",
            token_ids: [5],
            logprobs: { tokens: ["x"], token_logprobs: [null] }
          }))
        },
        "expected a finite number"
      ]
    ]
    for (const [reply, needle] of cases) {
      const server = await track(serve((_req, _body, res) => json(res, 200, reply)))
      const client = await run(HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast }))
      const e = failure(
        await runEither(client.generate({ requestId: "r", prompts: prompts(1), n: 2, sampling: sampling() }))
      )
      expect(e.reason).toBe("BadResponse")
      expect(e.message).toContain(needle)
      expect(e.endpoint).toBe(`${server.url}/v1/completions`)
      expect(completionsRequests(server)).toHaveLength(1)
    }
  })
})

describe("HttpInference capabilities", () => {
  it("probes /health: vLLM's empty 200 means raw logprobs, and training rollouts are refused", async () => {
    const server = await track(fakeVllm())
    const client = await run(HttpInference.make({ endpoints: [server.url], ...fast }))
    expect(client.capabilities.logprobSemantics).toBe("raw")
    const e = failure(
      await runEither(client.generate({ requestId: "r", prompts: prompts(1), n: 2, sampling: sampling() }))
    )
    expect(e.reason).toBe("Refused")
    expect(e.message).toContain("--logprobs-mode processed_logprobs")
    expect(server.requests.filter((r) => r.path === "/v1/completions")).toHaveLength(0)
    // the user's assertion (vllm serve --logprobs-mode processed_logprobs) lifts the refusal
    const asserted = await run(HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast }))
    expect(await run(asserted.generate({ requestId: "r", prompts: prompts(1), n: 2, sampling: sampling() })))
      .toHaveLength(2)
    // evaluation-only clients may opt in to raw logprobs
    const evalOnly = await run(HttpInference.make({ endpoints: [server.url], allowRawLogprobs: true, ...fast }))
    expect(await run(evalOnly.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling: sampling() })))
      .toHaveLength(1)
  })

  it("accepts a server that reports processed logprobs on /health, and refuses truncated sampling", async () => {
    const server = await track(serve((req, body, res) =>
      req.url === "/health"
        ? json(res, 200, { logprobsMode: "processed_logprobs", policyVersion: 3 })
        : json(res, 200, fakeCompletions(body))
    ))
    const client = await run(HttpInference.make({ endpoints: [server.url], ...fast }))
    expect(client.capabilities.logprobSemantics).toBe("processed")
    for (const over of [{ topP: 0.95 }, { topK: 20 }]) {
      const e = failure(
        await runEither(client.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling: sampling(over) }))
      )
      expect(e.reason).toBe("Refused")
      expect(e.message).toContain("topP = 1 and topK = 0")
    }
    expect(server.requests.filter((r) => r.path === "/v1/completions")).toHaveLength(0)
    const h = await run(client.health)
    expect(h).toMatchObject({ ready: true, policyVersion: 3 })
  })

  it("fails to build, naming the endpoint, when /health cannot be reached for the probe", async () => {
    const server = await fakeVllm()
    const url = server.url
    await server.close()
    const e = failure(await runEither(HttpInference.make({ endpoints: [url], ...fast })))
    expect(e.reason).toBe("Unavailable")
    expect(e.endpoint).toBe(`${url}/health`)
  })
})

describe.each([{ transport: "fetch" }, { transport: "node" }] as const)(
  "HttpInference faults over $transport: each ends in a retry or a clear error naming the endpoint",
  ({ transport }) => {
    const client = (url: string, over: Partial<HttpInference.Options> = {}) =>
      run(HttpInference.make({ endpoints: [url], logprobSemantics: "processed", transport, ...fast, ...over }))
    const gen = (c: HttpInference.Client) =>
      c.generate({ requestId: "r", prompts: prompts(2), n: 2, sampling: sampling() })
    /** One generate against `server` that must fail naming its completions endpoint; the error. */
    const failsAt = async (server: { readonly url: string }) => {
      const e = failure(await runEither(gen(await client(server.url))))
      expect(e.endpoint).toBe(`${server.url}/v1/completions`)
      return e
    }

    it("a stalled server times out per attempt, then fails with Timeout", async () => {
      const server = await track(serve(() => {/* never answers */}))
      const e = failure(await runEither(gen(await client(server.url, { timeout: "150 millis", retries: 1 }))))
      expect(e.reason).toBe("Timeout")
      expect(e.endpoint).toBe(`${server.url}/v1/completions`)
      expect(e.message).toContain("no complete reply within")
      expect(e.message).toContain("gave up after 2 attempts")
      expect(completionsRequests(server)).toHaveLength(2)
      await new Promise((r) => setTimeout(r, 50))
      expect(server.aborted()).toBe(server.requests.length) // timed-out requests (and probes) are aborted, not left hanging
    })

    it("500 and 429 are retried (Retry-After honoured) and then succeed", async () => {
      for (const [status, headers] of [[500, {}], [503, {}], [429, { "retry-after": "0" }]] as const) {
        const server = await track(
          serve((req, body, res, n) =>
            req.url !== "/v1/completions"
              ? json(res, 404, {})
              : n === 0
              ? json(res, status, { error: { message: "busy" } }, headers)
              : json(res, 200, fakeCompletions(body))
          )
        )
        const out = await run(gen(await client(server.url)))
        expect(out).toHaveLength(4)
        expect(completionsRequests(server)).toHaveLength(2)
      }
    })

    it("a persistent 500 ends in an Internal error naming the endpoint and the attempts", async () => {
      const server = await track(
        serve((_req, _body, res) => json(res, 500, { error: { message: "CUDA error: device-side assert" } }))
      )
      const e = await failsAt(server)
      expect(e.reason).toBe("Internal")
      expect(e.message).toContain("HTTP 500: CUDA error: device-side assert")
      expect(e.message).toContain("gave up after 3 attempts")
      expect(completionsRequests(server)).toHaveLength(3)
    })

    it("a connection closed mid-body is retried; if it persists the error says so", async () => {
      const cutter = (res: any, body: any) => {
        const data = JSON.stringify(fakeCompletions(body))
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(data) })
        res.write(data.slice(0, 40))
        setTimeout(() => res.socket?.destroy(), 10)
      }
      const flaky = await track(
        serve((req, body, res, n) =>
          req.url !== "/v1/completions"
            ? json(res, 404, {})
            : n === 0
            ? cutter(res, body)
            : json(res, 200, fakeCompletions(body))
        )
      )
      expect(await run(gen(await client(flaky.url)))).toHaveLength(4)
      expect(completionsRequests(flaky)).toHaveLength(2)
      const broken = await track(
        serve((req, body, res) => req.url !== "/v1/completions" ? json(res, 404, {}) : cutter(res, body))
      )
      const e = await failsAt(broken)
      expect(e.reason).toBe("Unavailable")
      expect(completionsRequests(broken)).toHaveLength(3)
    })

    it("malformed JSON in a complete 200 reply is not retried: BadResponse with the start of the body", async () => {
      const server = await track(serve((_req, _body, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{\"choices\": [{\"index\": 0, \"text\": ")
      }))
      const e = await failsAt(server)
      expect(e.reason).toBe("BadResponse")
      expect(e.message).toContain("malformed JSON")
      expect(e.message).toContain("{\\\"choices\\\"")
      expect(completionsRequests(server)).toHaveLength(1)
    })

    it("a refused connection is retried on the next endpoint (failover)", async () => {
      const down = await fakeVllm()
      const downUrl = down.url
      await down.close()
      const up = await track(fakeVllm())
      const c = await client(downUrl, { endpoints: [downUrl, up.url], promptsPerRequest: 1 } as never)
      const out = await run(c.generate({ requestId: "r", prompts: prompts(6), n: 2, sampling: sampling() }))
      expect(out).toHaveLength(12)
      expect(up.requests.filter((r) => r.path === "/v1/completions")).toHaveLength(6)
    })

    it("interrupting generate aborts the requests in flight", async () => {
      const server = await track(serve(() => {/* stalls */}))
      const c = await client(server.url, { timeout: "30 seconds" })
      await run(Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          c.generate({ requestId: "r", prompts: prompts(3), n: 1, sampling: sampling() })
        )
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(fiber)
      }))
      await new Promise((r) => setTimeout(r, 100))
      expect(completionsRequests(server).length).toBeGreaterThan(0)
      expect(server.aborted()).toBe(server.requests.length)
      expect(server.inFlight()).toBe(0)
    })

    it("a failed generate leaves the curriculum's state unchanged", async () => {
      const dataset = Problem.make(
        "t",
        Array.from({ length: 6 }, (_, i) => ({
          id: `q${i}`,
          prompt: `question ${i}`,
          answer: "x",
          level: 1 + (i % 2),
          family: "f",
          metadata: {}
        }))
      )
      let live: Curriculum.Curriculum | undefined
      const counting = Curriculum.plugin("counting", () =>
        Effect.sync(() => {
          live = Curriculum.make({
            name: "counting",
            state: Schema.mutable(Schema.Struct({ observed: Schema.Number, rewards: Schema.Number })),
            initial: { observed: 0, rewards: 0 },
            select: (_s, { batchSize }) => Array.from({ length: batchSize }, (_, i) => i),
            observe: (s, o) => {
              s.observed += o.groups.length
              for (const g of o.groups) for (const r of g.rewards) s.rewards += r
            }
          })
          return live
        }))
      const trainer = Layer.succeed(TrainerRuntime, {
        update: (r) => Effect.succeed({ step: r.step, policyVersion: 1, metrics: { loss: 0 } }),
        resetReference: Effect.void,
        publishWeights: Effect.succeed(1),
        checkpoint: () => Effect.succeed({ _tag: "Inline" as const, state: null }),
        restore: () => Effect.succeed(1)
      })
      const pipeline = Pipeline.make(
        "p",
        Stages.standard({ verifier: () => ({ reward: 1, correct: true, formatted: true }) })
      )
      const oneStep = (url: string) =>
        run(
          Effect.either(Stream.runCollect(Pipeline.stream(pipeline, counting, {
            dataset,
            seed: 1,
            steps: 1,
            batchSize: 2,
            groupSize: 2
          }))).pipe(
            Effect.provide(Layer.merge(
              trainer,
              Layer.effect(
                InferenceRuntime,
                HttpInference.make({ endpoints: [url], logprobSemantics: "processed", ...fast, timeout: "300 millis" })
              )
            ))
          )
        )
      const faults: Array<(res: any) => void> = [
        (res) => json(res, 500, { error: { message: "boom" } }),
        (res) => json(res, 429, { error: { message: "slow down" } }),
        (res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end("not json")
        },
        (res) => json(res, 200, { choices: [] }),
        () => {/* stalls: every attempt times out */},
        (res) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
          res.write("{\"choices\": [")
          setTimeout(() => res.socket?.destroy(), 10)
        }
      ]
      for (const fault of faults) {
        const server = await track(serve((_req, _body, res) => fault(res)))
        const result = await oneStep(server.url)
        expect(Either.isLeft(result)).toBe(true)
        expect((result as any).left._tag).toBe("RuntimeError")
        expect(live!.snapshot()).toEqual({ observed: 0, rewards: 0 })
      }
      // the same step against a healthy server does change the state: the check above is meaningful
      const ok = await track(fakeVllm())
      expect(Either.isRight(await oneStep(ok.url))).toBe(true)
      expect(live!.snapshot()).toEqual({ observed: 2, rewards: 4 })
    })
  }
)

describe("HttpInference scale-out", () => {
  it("spreads requests over endpoints and keeps results in prompt order", async () => {
    const a = await track(fakeVllm(20))
    const b = await track(fakeVllm(20))
    const client = await run(
      HttpInference.make({ endpoints: [a.url, b.url], logprobSemantics: "processed", promptsPerRequest: 2, ...fast })
    )
    const out = await run(client.generate({ requestId: "r", prompts: prompts(8), n: 3, sampling: sampling() }))
    expect(out.map((c) => `${c.promptId}/${c.sampleIndex}`)).toEqual(
      Array.from({ length: 24 }, (_, k) => `p${Math.floor(k / 3)}/${k % 3}`)
    )
    const served = client.served()
    expect(served[0]! + served[1]!).toBe(4)
    expect(served[0]).toBeGreaterThan(0)
    expect(served[1]).toBeGreaterThan(0)
    // request k carries the k-th derived seed, whichever endpoint served it: same seeds on a rerun
    const seeds = (s: TestServer) => s.requests.filter((r) => r.path === "/v1/completions").map((r) => r.body.seed)
    const first = new Set([...seeds(a), ...seeds(b)])
    expect(first.size).toBe(4)
    await run(client.generate({ requestId: "r", prompts: prompts(8), n: 3, sampling: sampling() }))
    expect(new Set([...seeds(a), ...seeds(b)])).toEqual(first)
  })

  it("sends completions through fetch (the application's Fetch service), its HttpClient, or node:http (auto under Node)", async () => {
    const server = await track(fakeVllm())
    let fetched = 0
    let viaClient = 0
    const countingFetch: typeof globalThis.fetch = (input, init) => {
      fetched++
      return globalThis.fetch(input, init)
    }
    const countingClient = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (c) => HttpClient.tapRequest(c, () => Effect.sync(() => viaClient++)))
    ).pipe(Layer.provide(FetchHttpClient.layer))
    const call = (transport: "fetch" | "httpClient" | "auto") =>
      Effect.runPromise(
        Effect.flatMap(
          HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", transport, ...fast }),
          (c) => c.generate({ requestId: "r", prompts: prompts(20), n: 2, sampling: sampling() })
        ).pipe(Effect.provide(countingClient), Effect.provideService(FetchHttpClient.Fetch, countingFetch))
      )
    const direct = await call("fetch")
    const sent = completionsRequests(server).length
    expect(sent).toBe(3) // 20 prompts, 8 per request
    expect(viaClient).toBe(1) // the /health probe only
    expect(fetched).toBe(1 + sent)
    viaClient = 0
    const client = await call("httpClient")
    expect(viaClient).toBe(1 + 3)
    expect(completionsRequests(server)).toHaveLength(6)
    expect(client).toEqual(direct)
    // "auto" (the default) under Node with an http: endpoint sends completions over node:http, not fetch.
    fetched = 0
    viaClient = 0
    const auto = await call("auto")
    expect(completionsRequests(server)).toHaveLength(9)
    expect(fetched).toBe(1) // the /health probe (through the HttpClient) only
    expect(auto).toEqual(direct)
  })

  it("refuses transport node for an https endpoint, naming it", async () => {
    const error = await Effect.runPromise(
      Effect.flip(
        HttpInference.make({ endpoints: ["https://gpu1:8000"], logprobSemantics: "processed", transport: "node" })
      ).pipe(Effect.provide(FetchHttpClient.layer))
    )
    expect(error.endpoint).toBe("HttpInference")
    expect(error.description).toMatch(/transport: "node" sends plain http: only, got endpoint https:\/\/gpu1:8000/)
  })

  it("bounds the requests in flight", async () => {
    const server = await track(fakeVllm(50))
    const client = await run(HttpInference.make({
      endpoints: [server.url],
      logprobSemantics: "processed",
      promptsPerRequest: 1,
      maxConcurrency: 2,
      ...fast
    }))
    expect(client.capabilities.maxConcurrency).toBe(2)
    await run(client.generate({ requestId: "r", prompts: prompts(8), n: 1, sampling: sampling() }))
    expect(server.maxInFlight()).toBe(2)
  })

  it("fanout mode sends one n=1 request per sample, each with its own seed", async () => {
    const server = await track(fakeVllm())
    const client = await run(
      HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast, groupMode: "fanout" })
    )
    const out = await run(client.generate({ requestId: "r", prompts: prompts(2, false), n: 3, sampling: sampling() }))
    expect(out.map((c) => `${c.promptId}/${c.sampleIndex}`)).toEqual(["p0/0", "p0/1", "p0/2", "p1/0", "p1/1", "p1/2"])
    const bodies = completionsRequests(server).map((r) => r.body)
    expect(bodies).toHaveLength(6)
    expect(bodies.every((b) => b.n === 1)).toBe(true)
    expect(new Set(bodies.map((b) => b.seed)).size).toBe(6)
    expect(out[0]!.promptTokenIds).toEqual([1, ...Array.from("prompt 0", (c) => c.charCodeAt(0))])
  })

  it("stamps the version set after a weight sync on servers that report none", async () => {
    const server = await track(fakeVllm())
    const client = await run(HttpInference.make({ endpoints: [server.url], logprobSemantics: "processed", ...fast }))
    await run(client.setPolicyVersion(7))
    const out = await run(client.generate({ requestId: "r", prompts: prompts(1), n: 1, sampling: sampling() }))
    expect(out[0]!.policyVersion).toBe(7)
    expect(await run(client.health)).toMatchObject({ ready: true, policyVersion: 7 })
  })
})

describe("HttpInference rollout safety in a pipeline step", () => {
  it("records frac_truncated and rollouts_aborted; aborted samples are regenerated, not trained on", async () => {
    const dataset = Problem.make(
      "t",
      Array.from({ length: 4 }, (_, i) => ({
        id: `q${i}`,
        prompt: `question ${i}`,
        answer: "x",
        level: 1,
        family: "f",
        metadata: {}
      }))
    )
    const plugin = Curriculum.plugin("all", () =>
      Effect.sync(() =>
        Curriculum.make({
          name: "all",
          state: Schema.mutable(Schema.Struct({ n: Schema.Number })),
          initial: { n: 0 },
          select: (_s, { batchSize }) => Array.from({ length: batchSize }, (_, i) => i),
          observe: () => {}
        })
      ))
    const trained: Array<number> = []
    const trainer = Layer.succeed(TrainerRuntime, {
      update: (r) =>
        Effect.sync(() => {
          trained.push(r.samples.length)
          return { step: r.step, policyVersion: 1, metrics: { loss: 0 } }
        }),
      resetReference: Effect.void,
      publishWeights: Effect.succeed(1),
      checkpoint: () => Effect.succeed({ _tag: "Inline" as const, state: null }),
      restore: () => Effect.succeed(1)
    })
    // the first reply aborts choice 1; choices 0 of every request stop at max_tokens ("length")
    const server = await track(serve((req, body, res, n) => {
      if (req.url !== "/v1/completions") return json(res, 404, {})
      const reply = fakeCompletions(body) as { choices: Array<any> }
      reply.choices.forEach((c, k) => {
        c.finish_reason = k % 2 === 0 ? "length" : "stop"
        if (n === 0 && k === 1) c.finish_reason = "abort"
      })
      json(res, 200, reply)
    }))
    const pipeline = Pipeline.make(
      "p",
      Stages.standard({ verifier: () => ({ reward: 1, correct: true, formatted: true }) })
    )
    const events = await run(
      Stream.runCollect(Pipeline.stream(pipeline, plugin, {
        dataset,
        seed: 1,
        steps: 1,
        batchSize: 2,
        groupSize: 2
      })).pipe(
        Effect.provide(Layer.merge(
          trainer,
          Layer.effect(
            InferenceRuntime,
            HttpInference.make({
              endpoints: [server.url],
              logprobSemantics: "processed",
              ...fast,
              promptsPerRequest: 2,
              warnTruncatedAbove: 1
            })
          )
        ))
      )
    )
    const record = [...events][0]!.record
    // one request for 2 prompts × n = 2, then one n = 1 regeneration of the aborted sample (which stops at "length")
    const sent = completionsRequests(server)
    expect(sent.map((r) => r.body.n)).toEqual([2, 1])
    expect(record.rollouts_aborted).toBe(1)
    expect(record.frac_truncated).toBe(3 / 4)
    expect(trained).toEqual([4])
  })
})
