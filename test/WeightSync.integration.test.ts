/**
 * Weight sync with real zpd workers (CPU, tiny model): a trainer worker and an
 * inference-only worker started from the same weights, driven by the
 * pipeline. With `WeightSync.afterUpdate(1)` the inference worker samples
 * every step from the weights the trainer just published, so the trainer's
 * importance ratio stays at 1; without it the rollouts come from stale
 * weights from step 2 on and the ratio moves away from 1.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Pipeline, Stages } from "@zpd/core"
import { InferenceRuntime, TrainerRuntime, type TrainStepResult } from "@zpd/core/Runtime"
import { HttpInference, HttpTrainer, TinyTask, Worker, WeightSync } from "@zpd/gpu-runtime"
import { Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import process from "node:process"
import { describe, expect, it } from "vitest"
import { tempDir } from "./helpers.ts"

const python = process.env.ZPD_PYTHON ?? "/usr/bin/python3"
const platform = Layer.merge(NodeContext.layer, FetchHttpClient.layer)
const suite = TinyTask.suite()

interface Observed {
  readonly updates: Array<TrainStepResult & { readonly sampledBy: ReadonlyArray<number> }>
  readonly trainerDigest: string
  readonly inferenceDigest: string
  readonly inferenceVersion: number
}

const fleetRun = (sync: boolean): Promise<Observed> =>
  Effect.runPromise(Effect.provide(
    Effect.scoped(Effect.gen(function*() {
      const dir = tempDir("weightsync")
      const trainerWorker = yield* Worker.spawn({ python, threads: 1, seed: 1, lr: 3e-3 })
      const inferenceWorker = yield* Worker.spawn({ python, threads: 1, seed: 1 })
      const trainer = yield* HttpTrainer.make({ url: trainerWorker.url })
      const inference = yield* HttpInference.make({ endpoints: [inferenceWorker.url] })
      const updates: Observed["updates"] = []
      const recording: TrainerRuntime.Service = {
        ...trainer,
        update: (request) =>
          Effect.tap(trainer.update(request), (r) =>
            Effect.sync(() => updates.push({ ...r, sampledBy: [...new Set(request.samples.map((s) => s.policyVersion))] })))
      }
      const base = Pipeline.make("sec", Stages.standard({ verifier: TinyTask.verifier, kl: "sparse" }))
      const pipeline = sync ? Pipeline.withHooks(base, WeightSync.afterUpdate(1)) : base
      const runtime = Layer.mergeAll(
        Layer.succeed(InferenceRuntime, inference),
        Layer.succeed(TrainerRuntime, recording),
        WeightSync.publisherLayer({ url: trainerWorker.url, publishDir: dir }),
        WeightSync.layer(WeightSync.zpdWorkers({ endpoints: [inferenceWorker.url] }))
      )
      yield* Pipeline.run(pipeline, Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }), {
        dataset: suite.train,
        batchSize: 8,
        groupSize: 8,
        sampling: TinyTask.sampling,
        seed: 1,
        steps: 3
      }).pipe(Effect.provide(runtime))
      const digest = (url: string) => HttpTrainer.make({ url }).pipe(Effect.flatMap((c) => c.digest))
      const t = yield* digest(trainerWorker.url)
      const i = yield* digest(inferenceWorker.url)
      return { updates, trainerDigest: t.digest, inferenceDigest: i.digest, inferenceVersion: i.policyVersion }
    })),
    platform
  ))

describe("WeightSync with real zpd workers", () => {
  it("afterUpdate(1) keeps rollouts on-policy (ratio_mean 1 every step); without it they go stale", async () => {
    const synced = await fleetRun(true)
    const stale = await fleetRun(false)
    const gap = (o: Observed) => o.updates.map((u) => Math.abs(u.metrics.ratio_mean! - 1))
    console.log(
      `ratio_mean − 1 per step: synced ${gap(synced).map((g) => g.toExponential(1)).join(", ")}; ` +
        `without sync ${gap(stale).map((g) => g.toExponential(1)).join(", ")}`
    )
    expect(synced.updates.map((u) => u.sampledBy)).toEqual([[0], [1], [2]])
    expect(stale.updates.map((u) => u.sampledBy)).toEqual([[0], [0], [0]])
    expect(Math.max(...gap(synced))).toBeLessThan(1e-4)
    expect(Math.min(...gap(stale).slice(1))).toBeGreaterThan(Math.max(1e-3, 10 * Math.max(...gap(synced))))
    expect(synced.inferenceDigest).toBe(synced.trainerDigest)
    expect(synced.inferenceVersion).toBe(3)
    expect(stale.inferenceDigest).not.toBe(stale.trainerDigest)
  })
})
