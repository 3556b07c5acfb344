import type { RuntimeError } from "@zpd/core/Errors"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as HttpTrainer from "../src/HttpTrainer.ts"
import { trainStepRequest } from "./fixtures.ts"
import { json, runHttp, serve, trackServers } from "./servers.ts"

const track = trackServers()
const run = runHttp
const failure = async <A>(effect: Effect.Effect<A, RuntimeError, any>): Promise<RuntimeError> => {
  const e = await run(Effect.either(effect))
  if (Either.isRight(e)) throw new Error("expected a failure")
  return e.left
}
const fast = { timeout: "2 seconds", retries: 2, backoff: "10 millis", maxBackoff: "50 millis" } as const

const request = trainStepRequest

/** A trainer that speaks the protocol, with a version counter. */
const fakeTrainer = (fail: (path: string, n: number) => number | undefined = () => undefined) => {
  let version = 2
  return serve((req, body, res, n) => {
    const status = fail(req.url ?? "", n)
    if (status !== undefined) {
      return json(res, status, { error: { message: `injected ${status}` }, policyVersion: version })
    }
    switch (req.url) {
      case "/trainer/update":
        version++
        return json(res, 200, {
          step: body.step,
          policyVersion: version,
          metrics: { loss: 0.5, kl_mean: 0.01, clipfrac: 0, grad_norm: 1.5, entropy: 2.5 },
          groupKl: [0.01]
        })
      case "/trainer/reset_reference":
        return json(res, 200, { policyVersion: version, referenceVersion: version })
      case "/trainer/publish_weights":
        return json(res, 200, {
          policyVersion: version,
          path: body.dir === undefined ? null : `${body.dir}/policy-v${version}`
        })
      case "/trainer/checkpoint":
        return json(res, 200, { policyVersion: version, path: `${body.dir ?? "/ckpt"}/${body.tag}.pt` })
      case "/trainer/restore":
        version = 2
        return json(res, 200, { policyVersion: version, referenceVersion: version })
      case "/trainer/load_weights":
        version = body.policyVersion
        return json(res, 200, { policyVersion: version })
      case "/health":
        return json(res, 200, { ready: true, policyVersion: version })
      case "/trainer/digest":
        return json(res, 200, { policyVersion: version, digest: "abc" })
      default:
        return json(res, 404, { error: { message: "no route" } })
    }
  })
}

describe("HttpTrainer", () => {
  it("speaks the protocol: update, reset, checkpoint, restore, health; a version on every reply", async () => {
    const server = await track(fakeTrainer())
    const t = await run(HttpTrainer.make({ url: `${server.url}/`, checkpointDir: "/runs/x/worker", ...fast }))
    const r = await run(t.update(request))
    expect(r.policyVersion).toBe(3)
    expect(r.step).toBe(3)
    expect(r.metrics.loss).toBe(0.5)
    expect(r.metrics.grad_norm).toBe(1.5)
    expect(r.metrics.entropy).toBe(2.5)
    expect(r.groupKl).toEqual([0.01])
    expect(server.requests[0]).toEqual({ method: "POST", path: "/trainer/update", body: request })
    await run(t.resetReference)
    const cp = await run(t.checkpoint("step-3"))
    expect(cp).toEqual({ _tag: "Path", path: "/runs/x/worker/step-3.pt" })
    expect(server.requests.at(-1)!.body).toEqual({ tag: "step-3", dir: "/runs/x/worker" })
    expect(await run(t.restore(cp))).toBe(2)
    expect(server.requests.at(-1)!.body).toEqual({ path: "/runs/x/worker/step-3.pt" })
    expect(await run(t.health)).toMatchObject({ ready: true, policyVersion: 2 })
    expect(await run(t.digest)).toEqual({ policyVersion: 2, digest: "abc" })
    expect(await run(t.publishWeights)).toBe(2)
  })

  it("retries an update after 503 (the protocol makes a repeat a replay)", async () => {
    const server = await track(fakeTrainer((path, n) => (path === "/trainer/update" && n < 2 ? 503 : undefined)))
    const t = await run(HttpTrainer.make({ url: server.url, ...fast }))
    expect((await run(t.update(request))).policyVersion).toBe(3)
    expect(server.requests.map((r) => r.path)).toEqual(["/trainer/update", "/trainer/update", "/trainer/update"])
    expect(server.requests[2]!.body).toEqual(server.requests[0]!.body)
  })

  it("fails with Refused on 400, naming the endpoint and the trainer's message", async () => {
    const server = await track(fakeTrainer((path) => (path === "/trainer/update" ? 400 : undefined)))
    const t = await run(HttpTrainer.make({ url: server.url, ...fast }))
    const e = await failure(t.update(request))
    expect(e.reason).toBe("Refused")
    expect(e.endpoint).toBe(`${server.url}/trainer/update`)
    expect(e.message).toContain("injected 400")
    expect(server.requests).toHaveLength(1)
  })

  it("fails with BadResponse on a reply without a policy version", async () => {
    const server = await track(serve((_req, _body, res) => json(res, 200, { metrics: { loss: 1 } })))
    const t = await run(HttpTrainer.make({ url: server.url, ...fast }))
    const e = await failure(t.update(request))
    expect(e.reason).toBe("BadResponse")
    expect(e.message).toContain("policyVersion")
    expect(e.endpoint).toBe(`${server.url}/trainer/update`)
  })

  it("a stalled trainer ends in Timeout", async () => {
    const server = await track(serve(() => {/* stalls */}))
    const t = await run(HttpTrainer.make({ url: server.url, ...fast, timeout: "100 millis", retries: 1 }))
    const e = await failure(t.resetReference)
    expect(e.reason).toBe("Timeout")
    expect(e.endpoint).toBe(`${server.url}/trainer/reset_reference`)
  })

  it("refuses to restore an inline (simulator) checkpoint", async () => {
    const server = await track(fakeTrainer())
    const t = await run(HttpTrainer.make({ url: server.url, ...fast }))
    const e = await failure(t.restore({ _tag: "Inline", state: {} }))
    expect(e.reason).toBe("Refused")
    expect(server.requests).toHaveLength(0)
  })

  it("publishWeights writes to publishDir and brings every syncTo server to the new version", async () => {
    const trainer = await track(fakeTrainer())
    const a = await track(fakeTrainer())
    const b = await track(fakeTrainer())
    const t = await run(
      HttpTrainer.make({ url: trainer.url, publishDir: "/shared/w", syncTo: [a.url, b.url], ...fast })
    )
    await run(t.update(request))
    expect(await run(t.publishWeights)).toBe(3)
    for (const s of [a, b]) {
      expect(s.requests).toEqual([{
        method: "POST",
        path: "/trainer/load_weights",
        body: { path: "/shared/w/policy-v3", policyVersion: 3 }
      }])
    }
    const noDir = await run(HttpTrainer.make({ url: trainer.url, syncTo: [a.url], ...fast }))
    const e = await failure(noDir.publishWeights)
    expect(e.message).toContain("publishDir")
  })
})
