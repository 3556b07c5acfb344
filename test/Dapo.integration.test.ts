/**
 * DAPO dynamic sampling fits the stage shape: it replaces select > rollout >
 * reward, trains on exactly B groups with non-zero reward variance, reports
 * what it discarded, and fails clearly when its round budget runs out.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Pipeline, Problem } from "@zpd/core"
import { Simulated } from "@zpd/gpu-runtime"
import { Baselines, Dapo } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { suite } from "./helpers.ts"

const verifier = Tasks.verifier()

const runDapo = (dataset: Problem.Dataset, maxRounds: number) =>
  Effect.runPromise(
    Pipeline.run(
      Dapo.pipeline({ verifier, genBatchSize: 48, maxRounds }),
      Baselines.random(),
      { dataset, seed: 5, steps: 12, batchSize: 16, groupSize: 8 }
    ).pipe(Effect.provide(Simulated.layer(dataset.problems)), Effect.provide(NodeContext.layer), Effect.either)
  )

describe("DAPO dynamic sampling", () => {
  it("trains on exactly B groups, all with non-zero reward variance, and accounts for discards", async () => {
    const result = await runDapo(suite.train, 10)
    const report = Either.getOrThrow(result)
    expect(report.records).toHaveLength(12)
    for (const r of report.records) {
      expect(r["batch_size"]).toBe(16)
      expect(r["effective_ratio"]).toBe(1)
      expect(r["kl_weight_mean"]).toBe(1)
      expect(r["rollouts_generated"]).toBe(r["gen_rounds"]! * 48 * 8)
      expect(r["rollouts_discarded"]).toBe(r["rollouts_generated"]! - 16 * 8)
    }
    expect(report.records.some((r) => r["rollouts_discarded"]! > 0)).toBe(true)
  })

  it("fails naming the round budget when no group has reward variance", async () => {
    const impossible = Problem.make(
      "impossible",
      suite.train.problems.slice(0, 50).map((p) => ({ ...p, id: `hard/${p.id}`, level: 14 }))
    )
    const result = await runDapo(impossible, 3)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.message).toMatch(/3 generation rounds kept 0 of 16 prompts.*maxRounds/)
    }
  })
})
