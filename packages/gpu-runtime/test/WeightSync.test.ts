import type { RuntimeError } from "@zpd/core/Errors"
import type { StepEnd } from "@zpd/core/Hook"
import type { StepRecord } from "@zpd/core/Metrics"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { describe, expect, it } from "vitest"
import * as HttpInference from "../src/HttpInference.ts"
import * as WeightSync from "../src/WeightSync.ts"
import { runHttp, type TestServer, trackServers } from "./servers.ts"
import { fakeSglangServer, fakeVllmEngine, fakeZpdWorker, type Journal } from "./syncServers.ts"

const tracked = trackServers()
const track = <S extends TestServer>(server: Promise<S>): Promise<S> => tracked(server) as Promise<S>
const fast = { timeout: "5 seconds", retries: 1, backoff: "5 millis", maxBackoff: "20 millis" } as const
const weights = { policyVersion: 7, path: "/shared/weights/policy-v7" }
const sampling = { temperature: 1, topP: 1, topK: 0, maxTokens: 8, seed: 3 }

const failure = async (effect: Effect.Effect<unknown, RuntimeError, any>): Promise<RuntimeError> => {
  const e = await runHttp(Effect.either(effect))
  if (Either.isRight(e)) throw new Error("expected the sync to fail")
  return e.left
}

const post = (url: string, path: string, body: unknown = {}) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })

describe("the fakes catch wrong sequences (so the sync tests can fail)", () => {
  it("vLLM: reload without pause, resume without a prefix-cache reset, reload without weights_path", async () => {
    const engine = await track(fakeVllmEngine({ model: "/models/base" }))
    await post(engine.url, "/collective_rpc", { method: "reload_weights", kwargs: { weights_path: weights.path } })
    expect(engine.violations).toEqual(["reload_weights while the engine was serving (not paused)"])
    await post(engine.url, "/pause")
    await post(engine.url, "/collective_rpc", { method: "reload_weights" })
    expect(engine.state.weights).toBe("/models/base") // no weights_path: vLLM reloads the original checkpoint
    await post(engine.url, "/resume")
    expect(engine.violations.at(-1)).toMatch(/prefix cache computed from older weights/)
  })

  it("SGLang: a server that ignores weight_version keeps its old label", async () => {
    const server = await track(fakeSglangServer({ model: "/models/base", ignoresWeightVersion: true }))
    await post(server.url, "/update_weights_from_disk", { model_path: weights.path, weight_version: "7" })
    expect(server.state).toEqual({ weights: weights.path, weightVersion: "default" })
    await post(server.url, "/update_weights_from_disk", { model_path: weights.path, flush_cache: false })
    expect(server.violations).toEqual(["update_weights_from_disk with flush_cache false: stale radix cache"])
  })
})

describe("WeightSync.vllm", () => {
  it("pauses every engine, reloads weights_path, resets the prefix cache, resumes; phases in lockstep", async () => {
    const journal: Journal = []
    const a = await track(fakeVllmEngine({ model: "/models/base", journal, name: "a" }))
    const b = await track(fakeVllmEngine({ model: "/models/base", journal, name: "b" }))
    const synced: Array<number> = []
    await runHttp(Effect.gen(function*() {
      const sync = yield* WeightSync.vllm({
        ...fast,
        endpoints: [a.url, `${b.url}/v1`],
        onSynced: (v) => Effect.sync(() => synced.push(v))
      })
      yield* sync.sync(weights)
    }))
    for (const engine of [a, b]) {
      expect(engine.violations).toEqual([])
      expect(engine.state).toEqual({ paused: false, weights: weights.path, cacheMatchesWeights: true })
      expect(engine.requests.map((r) => r.path)).toEqual([
        "/pause?mode=wait&wait_for_inflight_requests=true",
        "/collective_rpc",
        "/reset_prefix_cache",
        "/resume"
      ])
      expect(engine.requests[1]!.body).toEqual({
        method: "reload_weights",
        kwargs: { weights_path: weights.path },
        timeout: 5
      })
    }
    const phase = (line: string) =>
      ["/pause", "/collective_rpc", "/reset_prefix_cache", "/resume"].indexOf(line.split(" ")[1]!)
    expect(journal.map(phase)).toEqual([0, 0, 1, 1, 2, 2, 3, 3])
    expect(synced).toEqual([7])
  })

  it("completions after the sync come from the new weights and carry the version set by onSynced", async () => {
    const engine = await track(fakeVllmEngine({ model: "/models/base" }))
    const completions = await runHttp(Effect.gen(function*() {
      const inference = yield* HttpInference.make({ endpoints: [engine.url], logprobSemantics: "processed" })
      const sync = yield* WeightSync.vllm({ ...fast, endpoints: [engine.url], onSynced: inference.setPolicyVersion })
      yield* sync.sync(weights)
      return yield* inference.generate({ requestId: "r", prompts: [{ promptId: "p", text: "hi" }], n: 2, sampling })
    }))
    expect(completions.map((c) => c.policyVersion)).toEqual([7, 7])
    expect(engine.servedWith).toEqual([weights.path])
    expect(engine.violations).toEqual([])
  })

  it("pauseMode abort sends mode=abort", async () => {
    const engine = await track(fakeVllmEngine({ model: "/models/base" }))
    await runHttp(Effect.flatMap(
      WeightSync.vllm({ ...fast, endpoints: [engine.url], pauseMode: "abort" }),
      (s) => s.sync(weights)
    ))
    expect(engine.requests[0]!.path).toBe("/pause?mode=abort")
    expect(engine.violations).toEqual([])
  })

  it("without VLLM_SERVER_DEV_MODE the error says so", async () => {
    const engine = await track(fakeVllmEngine({ model: "/models/base", devMode: false }))
    const e = await failure(
      Effect.flatMap(WeightSync.vllm({ ...fast, endpoints: [engine.url] }), (s) => s.sync(weights))
    )
    expect(e.endpoint).toBe(`${engine.url}/pause?mode=wait&wait_for_inflight_requests=true`)
    expect(e.message).toMatch(/HTTP 404.*VLLM_SERVER_DEV_MODE=1/)
  })

  it("a failed pause (one engine without dev mode) resumes the engines it paused: nothing was reloaded", async () => {
    const ok = await track(fakeVllmEngine({ model: "/models/base" }))
    const off = await track(fakeVllmEngine({ model: "/models/base", devMode: false }))
    const e = await failure(
      Effect.flatMap(WeightSync.vllm({ ...fast, endpoints: [ok.url, off.url] }), (s) => s.sync(weights))
    )
    expect(e.endpoint).toContain(off.url)
    expect(ok.state).toEqual({ paused: false, weights: "/models/base", cacheMatchesWeights: true })
    expect(ok.requests.map((r) => r.path)).toEqual(["/pause?mode=wait&wait_for_inflight_requests=true", "/resume"])
  })

  it("a vLLM whose reload_weights takes no path: the sync fails and leaves the engines paused", async () => {
    const engine = await track(fakeVllmEngine({ model: "/models/base", reloadTakesNoPath: true }))
    const e = await failure(
      Effect.flatMap(WeightSync.vllm({ ...fast, endpoints: [engine.url] }), (s) => s.sync(weights))
    )
    expect(e.endpoint).toBe(`${engine.url}/collective_rpc`)
    expect(e.message).toMatch(/HTTP 500.*left paused/)
    expect(engine.state.paused).toBe(true)
    expect(engine.state.weights).toBe("/models/base")
    expect(engine.requests.map((r) => r.path)).not.toContain("/resume")
  })

  it("no endpoints is refused", async () => {
    const e = await failure(Effect.flatMap(WeightSync.vllm({ endpoints: [] }), (s) => s.sync(weights)))
    expect(e.reason).toBe("Refused")
  })
})

describe("WeightSync.sglang", () => {
  it("update_weights_from_disk with the version label, read back from /model_info; completions carry it", async () => {
    const a = await track(fakeSglangServer({ model: "/models/base" }))
    const b = await track(fakeSglangServer({ model: "/models/base" }))
    const completions = await runHttp(Effect.gen(function*() {
      const sync = yield* WeightSync.sglang({ ...fast, endpoints: [a.url, b.url] })
      yield* sync.sync(weights)
      const inference = yield* HttpInference.make({ endpoints: [a.url], logprobSemantics: "processed" })
      return yield* inference.generate({ requestId: "r", prompts: [{ promptId: "p", text: "hi" }], n: 2, sampling })
    }))
    for (const server of [a, b]) {
      expect(server.requests[0]).toMatchObject({
        path: "/update_weights_from_disk",
        body: { model_path: weights.path, weight_version: "7", flush_cache: true, abort_all_requests: false }
      })
      expect(server.requests[1]!.path).toBe("/model_info")
      expect(server.state).toEqual({ weights: weights.path, weightVersion: "7" })
      expect(server.violations).toEqual([])
    }
    expect(completions.map((c) => c.policyVersion)).toEqual([7, 7])
  })

  it("a stale weight_version after the update fails the sync", async () => {
    const server = await track(fakeSglangServer({ model: "/models/base", ignoresWeightVersion: true }))
    const e = await failure(
      Effect.flatMap(WeightSync.sglang({ ...fast, endpoints: [server.url] }), (s) => s.sync(weights))
    )
    expect(e.reason).toBe("BadResponse")
    expect(e.message).toMatch(/weight_version "default".*expected "7"/)
  })

  it("older servers: falls back to /get_model_info, then /get_weight_version", async () => {
    for (const route of ["get_model_info", "get_weight_version"] as const) {
      const server = await track(fakeSglangServer({ model: "/models/base", versionRoute: route }))
      await runHttp(Effect.flatMap(WeightSync.sglang({ ...fast, endpoints: [server.url] }), (s) => s.sync(weights)))
      expect(server.requests.map((r) => r.path).at(-1)).toBe(`/${route}`)
    }
  })

  it("a checkpoint the server cannot load: the error carries SGLang's message", async () => {
    const server = await track(fakeSglangServer({ model: "/models/base", unloadable: [weights.path] }))
    const e = await failure(
      Effect.flatMap(WeightSync.sglang({ ...fast, endpoints: [server.url] }), (s) => s.sync(weights))
    )
    expect(e.endpoint).toBe(`${server.url}/update_weights_from_disk`)
    expect(e.message).toMatch(/HTTP 400: Failed to get weights iterator/)
  })
})

describe("WeightSync.zpdWorkers and the afterUpdate hook", () => {
  it("load_weights on every worker; a reply with another version fails", async () => {
    const a = await track(fakeZpdWorker())
    const b = await track(fakeZpdWorker())
    await runHttp(Effect.flatMap(WeightSync.zpdWorkers({ ...fast, endpoints: [a.url, b.url] }), (s) => s.sync(weights)))
    expect([a.state, b.state]).toEqual([{ weights: weights.path, policyVersion: 7 }, {
      weights: weights.path,
      policyVersion: 7
    }])
    expect(a.requests[0]).toMatchObject({ path: "/trainer/load_weights", body: weights })

    const stale = await track(fakeZpdWorker({ staleReply: true, policyVersion: 3 }))
    const e = await failure(
      Effect.flatMap(WeightSync.zpdWorkers({ ...fast, endpoints: [stale.url] }), (s) => s.sync(weights))
    )
    expect(e.message).toMatch(/loaded policy version 3, expected 7/)
  })

  const end = (step: number): StepEnd => ({ step, record: { step } as unknown as StepRecord, events: [] })

  it("afterUpdate(2): on even steps the trainer publishes and every vLLM engine loads that path", async () => {
    const trainer = await track(fakeZpdWorker({ policyVersion: 4 }))
    const engine = await track(fakeVllmEngine({ model: "/models/base" }))
    const hook = WeightSync.afterUpdate(2)
    const runtime = Layer.mergeAll(
      WeightSync.publisherLayer({ ...fast, url: trainer.url, publishDir: "/shared/w" }),
      WeightSync.layer(WeightSync.vllm({ ...fast, endpoints: [engine.url] }))
    )
    await runHttp(Effect.provide(Effect.forEach([1, 2, 3], (s) => hook.onStepEnd(end(s))), runtime))
    expect(trainer.requests.map((r) => r.body)).toEqual([{ dir: "/shared/w" }])
    expect(engine.state.weights).toBe("/shared/w/policy-v4")
    expect(engine.violations).toEqual([])
  })

  it("a trainer that wrote no weights (no publish dir) is a clear error, and nothing is synced", async () => {
    const trainer = await track(fakeZpdWorker())
    const engine = await track(fakeVllmEngine({ model: "/models/base" }))
    const runtime = Layer.mergeAll(
      WeightSync.publisherLayer({ ...fast, url: trainer.url }),
      WeightSync.layer(WeightSync.vllm({ ...fast, endpoints: [engine.url] }))
    )
    const e = await failure(Effect.provide(WeightSync.afterUpdate(1).onStepEnd(end(1)), runtime))
    expect(e.message).toMatch(/wrote no weights.*publishDir/)
    expect(engine.requests).toEqual([])
  })
})
