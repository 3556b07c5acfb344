/**
 * Online difficulty filtering (spec §5.6) as a post-filter stage: trains on
 * exactly B groups whose pass rates lie in the band, counts every rollout of
 * every round, fails naming the budget when the band stays empty, and parses
 * as the `online-filter` post-filter of an expression.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { type Curriculum, Pipeline, Problem } from "@zpd/core"
import { Simulated } from "@zpd/gpu-runtime"
import { Baselines, Dapo, OnlineFilter, Registry } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { recordingSampler, suite } from "./helpers.ts"

const verifier = Tasks.verifier()

const recording = (seen: Array<number>) => recordingSampler((g) => seen.push(g.passRate))

const runFilter = (
  dataset: Problem.Dataset,
  options: Partial<OnlineFilter.Config>,
  plugin: Curriculum.Plugin = Baselines.random()
) =>
  Effect.runPromise(
    Pipeline.run(
      OnlineFilter.pipeline({ verifier, genBatchSize: 48, ...options }),
      plugin,
      { dataset, seed: 5, steps: 12, batchSize: 16, groupSize: 8 }
    ).pipe(Effect.provide(Simulated.layer(dataset.problems)), Effect.provide(NodeContext.layer), Effect.either)
  )

describe("online difficulty filtering", () => {
  it("keeps a pass rate on the band's edges and drops one just outside (inclusive band)", () => {
    const band = { pLow: 0.25, pHigh: 0.75 }
    expect([0, 0.125, 0.25, 0.5, 0.75, 0.875, 1].map((p) => OnlineFilter.keeps(p, band))).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
      false
    ])
  })

  it("refuses a band upside down, naming the field", () => {
    const e = Either.getLeft(OnlineFilter.validate({ ...OnlineFilter.defaults, pLow: 0.6, pHigh: 0.4 }))
    expect(e._tag === "Some" && e.value.field).toBe("onlineFilter.pHigh")
    const r = Registry.parse("sec > online-filter(pLow=0.9, pHigh=0.1)", { verifier })
    expect(Either.isLeft(r) && r.left.field).toBe("onlineFilter.pHigh")
  })

  it("trains on exactly B groups, all in the band, and counts every rollout of every round", async () => {
    const seen: Array<number> = []
    const report = Either.getOrThrow(await runFilter(suite.train, { pLow: 0.25, pHigh: 0.75 }, recording(seen)))
    expect(report.records).toHaveLength(12)
    for (const r of report.records) {
      expect(r["batch_size"]).toBe(16)
      expect(r["rollouts_generated"]).toBe(r["gen_rounds"]! * 48 * 8)
      expect(r["rollouts_discarded"]).toBe(r["rollouts_generated"]! - 16 * 8)
      expect(r["effective_ratio"]).toBe(1)
    }
    expect(seen).toHaveLength(12 * 16)
    for (const p of seen) expect(OnlineFilter.keeps(p, { pLow: 0.25, pHigh: 0.75 })).toBe(true)
    expect(seen.some((p) => p === 0.25 || p === 0.75)).toBe(true)
    expect(report.records.some((r) => r["rollouts_discarded"]! > 16 * 8)).toBe(true)
  })

  it("with the open band (1/G, 1 − 1/G) it trains on what DAPO trains on", async () => {
    const band = Either.getOrThrow(await runFilter(suite.train, { pLow: 1 / 8, pHigh: 7 / 8 }))
    const dapo = await Effect.runPromise(
      Pipeline.run(Dapo.pipeline({ verifier, genBatchSize: 48 }), Baselines.random(), {
        dataset: suite.train,
        seed: 5,
        steps: 12,
        batchSize: 16,
        groupSize: 8
      }).pipe(Effect.provide(Simulated.layer(suite.train.problems)), Effect.provide(NodeContext.layer))
    )
    expect(band.records).toEqual(dapo.records)
  })

  it("fails naming the round budget when no group falls in the band", async () => {
    const impossible = Problem.make(
      "impossible",
      suite.train.problems.slice(0, 50).map((p) => ({ ...p, id: `hard/${p.id}`, level: 14 }))
    )
    const result = await runFilter(impossible, { maxRounds: 3 })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.message).toMatch(
        /3 generation rounds kept 0 of 16 prompts with a pass rate in \[0.2, 0.8\].*maxRounds/
      )
    }
  })

  it("parses as the post-filter of an expression and runs over the sampler", () => {
    const recipe = Either.getOrThrow(
      Registry.parse("prioritized > online-filter(pLow=0.25, maxRounds=0)", { verifier })
    )
    expect(recipe.name).toBe("prioritized")
    expect(recipe.pipeline.name).toBe("prioritized")
    expect(Registry.names.find((n) => n.name === "online-filter")?.kind).toBe("postfilter")
  })
})
