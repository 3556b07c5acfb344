/**
 * SPEED's screening (spec §5.8) as a post-filter stage: trains on exactly B
 * groups of G rollouts whose screening pass rate was strictly between 0 and
 * 1, charges every screening and continuation rollout, refuses a screening
 * as large as the group, and parses as the `speed` post-filter.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Pipeline } from "@zpd/core"
import { Simulated } from "@zpd/gpu-runtime"
import { Registry, Speed } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { recordingSampler, suite } from "./helpers.ts"

const verifier = Tasks.verifier()

const recording = (seen: Array<{ passRate: number; size: number }>) =>
  recordingSampler((g) => seen.push({ passRate: g.passRate, size: g.rewards.length }))

const runSpeed = (options: Partial<Speed.Config>, seen: Array<{ passRate: number; size: number }>) =>
  Effect.runPromise(
    Pipeline.run(Speed.pipeline({ verifier, genBatchSize: 24, ...options }), recording(seen), {
      dataset: suite.train,
      seed: 5,
      steps: 10,
      batchSize: 16,
      groupSize: 8
    }).pipe(Effect.provide(Simulated.layer(suite.train.problems)), Effect.provide(NodeContext.layer), Effect.either)
  )

describe("SPEED screening", () => {
  it("qualifies 0 < pass < 1 only", () => {
    expect([0, 0.25, 0.5, 0.75, 1].map(Speed.qualifies)).toEqual([false, true, true, true, false])
  })

  it("trains on B whole groups that qualified, and charges screening and continuation rollouts", async () => {
    const seen: Array<{ passRate: number; size: number }> = []
    const report = Either.getOrThrow(await runSpeed({ screen: 3, maxRounds: 0 }, seen))
    expect(report.records).toHaveLength(10)
    for (const r of report.records) {
      expect(r["batch_size"]).toBe(16)
      // every round screens 24 prompts × 3; the 16 trained prompts get 8 − 3 more each
      expect(r["rollouts_generated"]).toBe(r["gen_rounds"]! * 24 * 3 + 16 * 5)
      expect(r["rollouts_discarded"]).toBe(r["rollouts_generated"]! - 16 * 8)
      expect(r["effective_ratio"]).toBe(1)
    }
    expect(seen).toHaveLength(10 * 16)
    for (const g of seen) {
      expect(g.size).toBe(8)
      expect(g.passRate > 0 && g.passRate < 1).toBe(true) // the screening already had a right and a wrong answer
    }
    expect(report.records.some((r) => r["gen_rounds"]! > 1)).toBe(true)
  })

  it("refuses a screening as large as the group, naming speed.screen", async () => {
    const result = await runSpeed({ screen: 8 }, [])
    expect(Either.isLeft(result) && (result.left as { field?: string }).field).toBe("speed.screen")
  })

  it("parses as the post-filter of an expression", () => {
    const recipe = Either.getOrThrow(Registry.parse("cdas > speed(screen=2, maxRounds=0)", { verifier }))
    expect(recipe.name).toBe("cdas")
    expect(Registry.names.find((n) => n.name === "speed")?.kind).toBe("postfilter")
    const bad = Registry.parse("cdas > speed(screen=0)", { verifier })
    expect(Either.isLeft(bad) && bad.left.field).toBe("speed.screen")
  })
})
