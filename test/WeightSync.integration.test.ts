/**
 * Weight sync with real zpd workers (CPU, tiny model): a trainer worker and an
 * inference-only worker started from the same weights, driven by the
 * pipeline. With `WeightSync.afterUpdate(1)` the inference worker samples
 * every step from the weights the trainer just published, so the trainer's
 * importance ratio stays at 1; without it the rollouts come from stale
 * weights from step 2 on and the ratio moves away from 1.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Pipeline, Stages } from "@zpd/core"
import type { Verifier } from "@zpd/core/Stages"
import { HttpTrainer, TinyTask, WeightSync, Worker } from "@zpd/gpu-runtime"
import { Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync } from "node:fs"
import process from "node:process"
import { describe, expect, it } from "vitest"
import { fakeSglangServer, fakeVllmEngine, fakeZpdWorker } from "../packages/gpu-runtime/test/syncServers.ts"
import { tempDir } from "./helpers.ts"

const python = process.env.ZPD_PYTHON ?? (existsSync(Worker.venvPython) ? Worker.venvPython : "python3")
const platform = Layer.merge(NodeContext.layer, FetchHttpClient.layer)
const suite = TinyTask.suite()

interface Observed {
  readonly ratioGaps: ReadonlyArray<number>
  readonly trainerDigest: string
  readonly inferenceDigest: string
  readonly inferenceVersion: number
}

/** Three SEC steps on the tiny task: a trainer worker and an inference-only worker, synced (or not) after each update. */
const fleetRun = (sync: boolean): Promise<Observed> =>
  Effect.runPromise(Effect.provide(
    Effect.scoped(Effect.gen(function*() {
      // one token for the fleet; float32 publishing, so the inference worker samples exactly the trainer's policy
      const token = "weightsync-" + Math.random().toString(36).slice(2)
      const publishDir = tempDir("weightsync")
      const trainerWorker = yield* Worker.spawn({
        python,
        threads: 1,
        seed: 1,
        lr: 3e-3,
        token,
        publishDir,
        args: ["--publish-dtype", "float32"]
      })
      const inferenceWorker = yield* Worker.spawn({ python, threads: 1, seed: 1, token, readDirs: [publishDir] })
      const headers = Worker.authHeaders(token)
      const runtime = WeightSync.fleet({
        servers: "zpd",
        inference: { endpoints: [inferenceWorker.url] },
        trainer: { url: trainerWorker.url },
        publishDir,
        headers
      })
      const base = Pipeline.make("sec", Stages.standard({ verifier: TinyTask.verifier, kl: "sparse" }))
      const pipeline = sync ? Pipeline.withHooks(base, WeightSync.afterUpdate(1)) : base
      const report = yield* Pipeline.run(pipeline, Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }), {
        dataset: suite.train,
        batchSize: 8,
        groupSize: 8,
        sampling: TinyTask.sampling,
        seed: 1,
        steps: 3
      }).pipe(Effect.provide(runtime))
      const digest = (url: string) => HttpTrainer.make({ url, headers }).pipe(Effect.flatMap((c) => c.digest))
      const t = yield* digest(trainerWorker.url)
      const i = yield* digest(inferenceWorker.url)
      return {
        ratioGaps: report.records.map((r) => Math.abs(r.ratio_mean! - 1)),
        trainerDigest: t.digest,
        inferenceDigest: i.digest,
        inferenceVersion: i.policyVersion
      }
    })),
    platform
  ))

describe("WeightSync with real zpd workers", () => {
  it("afterUpdate(1) keeps rollouts on-policy (ratio_mean 1 every step); without it they go stale", async () => {
    const synced = await fleetRun(true)
    const stale = await fleetRun(false)
    const show = (gaps: ReadonlyArray<number>) => gaps.map((g) => g.toExponential(1)).join(", ")
    console.log(`|ratio_mean − 1| per step: synced ${show(synced.ratioGaps)}; without sync ${show(stale.ratioGaps)}`)
    expect(Math.max(...synced.ratioGaps)).toBeLessThan(1e-4)
    expect(Math.min(...stale.ratioGaps.slice(1))).toBeGreaterThan(Math.max(1e-3, 10 * Math.max(...synced.ratioGaps)))
    expect(synced.inferenceDigest).toBe(synced.trainerDigest)
    expect(synced.inferenceVersion).toBe(3)
    expect(stale.inferenceDigest).not.toBe(stale.trainerDigest)
    expect(stale.inferenceVersion).toBe(0)
  })
})

/** Rewards the fakes' first sample of each group, so every group has variance. */
const firstSample: Verifier = (_, completion) => {
  const correct = completion.endsWith("-0")
  return { reward: correct ? 1 : 0, correct, formatted: true }
}

const fleetPipeline = Pipeline.withHooks(
  Pipeline.make("sec", Stages.standard({ verifier: firstSample, kl: "sparse" })),
  WeightSync.afterUpdate(1)
)

const runFleet = (runtime: Layer.Layer<any, any, any>, more: { steps?: number; out?: string; resume?: string } = {}) =>
  Effect.runPromise(Effect.provide(
    Pipeline.run(fleetPipeline, Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }), {
      dataset: suite.train,
      batchSize: 2,
      groupSize: 2,
      sampling: { temperature: 1, maxTokens: 4 },
      seed: 1,
      steps: 3,
      ...more
    }).pipe(Effect.provide(runtime)),
    platform
  ) as Effect.Effect<unknown, unknown, never>)

describe("WeightSync.fleet: the GPU.md wiring end to end against recorded-protocol fakes", () => {
  it("vLLM: after each update every engine reloads the published path; rollouts of step k come from policy-v(k-1)", async () => {
    const trainer = await fakeZpdWorker()
    const engines = [
      await fakeVllmEngine({ model: "/shared/weights/base" }),
      await fakeVllmEngine({ model: "/shared/weights/base" })
    ]
    try {
      await runFleet(WeightSync.fleet({
        servers: "vllm",
        inference: { endpoints: engines.map((e) => e.url), logprobSemantics: "processed" },
        trainer: { url: trainer.url },
        publishDir: "/shared/weights"
      }))
      const updates = trainer.requests.filter((r) => r.path === "/trainer/update").map((r) => r.body)
      expect(updates.map((u: any) => [...new Set(u.samples.map((s: any) => s.policyVersion))])).toEqual([[0], [1], [2]])
      for (const engine of engines) {
        expect(engine.violations).toEqual([])
        expect(engine.state).toEqual({ paused: false, weights: "/shared/weights/policy-v3", cacheMatchesWeights: true })
      }
      const served = engines.flatMap((e) => e.servedWith)
      expect(new Set(served)).toEqual(
        new Set(["/shared/weights/base", "/shared/weights/policy-v1", "/shared/weights/policy-v2"])
      )
    } finally {
      await Promise.all([trainer, ...engines].map((s) => s.close()))
    }
  })

  it("SGLang: completions carry metadata.weight_version, so samples carry the synced version", async () => {
    const trainer = await fakeZpdWorker()
    const server = await fakeSglangServer({ model: "/shared/weights/base" })
    try {
      await runFleet(WeightSync.fleet({
        servers: "sglang",
        inference: { endpoints: [server.url], logprobSemantics: "processed" },
        trainer: { url: trainer.url },
        publishDir: "/shared/weights"
      }))
      const updates = trainer.requests.filter((r) => r.path === "/trainer/update").map((r) => r.body)
      // before the first sync SGLang's label is "default" (not a number): the client's fallback 0
      expect(updates.map((u: any) => [...new Set(u.samples.map((s: any) => s.policyVersion))])).toEqual([[0], [1], [2]])
      expect(server.state).toEqual({ weights: "/shared/weights/policy-v3", weightVersion: "3" })
      expect(server.violations).toEqual([])
    } finally {
      await Promise.all([trainer.close(), server.close()])
    }
  })

  it("a resumed run syncs the restored weights before its first rollouts", async () => {
    const out = tempDir("fleet-resume")
    const vllmFleet = (trainerUrl: string, engineUrl: string) =>
      WeightSync.fleet({
        servers: "vllm",
        inference: { endpoints: [engineUrl], logprobSemantics: "processed" },
        trainer: { url: trainerUrl, checkpointDir: "/shared/ckpt" },
        publishDir: "/shared/weights"
      })
    const first = await fakeZpdWorker()
    const engine = await fakeVllmEngine({ model: "/shared/weights/base" })
    // a fresh trainer and a fresh engine (back on the base weights), as after a crash
    let second: Awaited<ReturnType<typeof fakeZpdWorker>> | undefined
    let restarted: Awaited<ReturnType<typeof fakeVllmEngine>> | undefined
    try {
      await runFleet(vllmFleet(first.url, engine.url), { steps: 2, out })
      second = await fakeZpdWorker({ restored: first.checkpoints })
      restarted = await fakeVllmEngine({ model: "/shared/weights/base" })
      await runFleet(vllmFleet(second.url, restarted.url), { steps: 3, resume: out })
      const updates = second.requests.filter((r) => r.path === "/trainer/update").map((r) => r.body)
      expect(updates.map((u: any) => [u.step, [...new Set(u.samples.map((s: any) => s.policyVersion))]])).toEqual([[3, [
        2
      ]]])
      expect(restarted.servedWith.every((w) => w === "/shared/weights/policy-v2")).toBe(true)
      expect(restarted.violations).toEqual([])
    } finally {
      await Promise.all([first, engine, second, restarted].flatMap((s) => (s === undefined ? [] : [s.close()])))
    }
  })

  it("headers go where they belong: the vLLM key to the engines, the worker token to the trainer (update and publish)", async () => {
    const trainer = await fakeZpdWorker({ token: "worker-secret" })
    const engine = await fakeVllmEngine({ model: "/shared/weights/base", apiKey: "vllm-key" })
    try {
      await runFleet(
        WeightSync.fleet({
          servers: "vllm",
          inference: {
            endpoints: [engine.url],
            logprobSemantics: "processed",
            headers: { authorization: "Bearer vllm-key" }
          },
          trainer: { url: trainer.url, headers: { authorization: "Bearer worker-secret" } },
          publishDir: "/shared/weights"
        }),
        { steps: 2 }
      )
      expect(trainer.requests.map((r) => r.path)).toEqual([
        "/trainer/update",
        "/trainer/publish_weights",
        "/trainer/update",
        "/trainer/publish_weights"
      ])
      expect(engine.state.weights).toBe("/shared/weights/policy-v2")
    } finally {
      await Promise.all([trainer.close(), engine.close()])
    }
  })
})
