import { describe, expect, it } from "@effect/vitest"
import type * as Curriculum from "@zpd/core/Curriculum"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Dump from "../src/Dump.ts"

/** Problems 0..n−1; `families[i]` names problem i's source. */
const dataset = (families: ReadonlyArray<string>) =>
  Problem.make(
    "test",
    families.map((family, i) => ({ id: `p${i}`, prompt: `prompt ${i}`, answer: "0", level: 1, family, metadata: {} }))
  )

const outcome = (ds: Problem.Dataset, index: number, advantages: ReadonlyArray<number>): Curriculum.GroupOutcome => ({
  index,
  problem: ds.problems[index]!,
  rewards: new Float64Array(advantages.length),
  passRate: 0,
  advantages: Float64Array.from(advantages)
})

const empty = (arms: number, window: number): Dump.State => ({
  arms: Array.from({ length: arms }, (_, c) => `a${c}`),
  recent: new Float64Array(arms * window),
  filled: new Int32Array(arms),
  head: new Int32Array(arms),
  seen: new Float64Array(arms)
})

describe("Dump: the code's windowed learnability and UCB (curriculum_learning.py)", () => {
  const ds = dataset(["a", "b"])
  it("keeps |A| of the last `window` responses per source and counts every response", () => {
    const s = empty(2, 3)
    Dump.record(s, [outcome(ds, 0, [1, -1, 0.5, -0.5])], Int32Array.from([0, 1]), 3)
    expect(Dump.windowMean(s, 0, 3)).toBeCloseTo(2 / 3, 15) // |−1|, 0.5, |−0.5|
    expect(Array.from(s.seen)).toEqual([4, 0])
    expect(Dump.windowMean(s, 1, 3)).toBe(0)
  })
  it("UCB_j = μ_j + sqrt(2 ln(N + 1) / (n_j + 1)), N = max(1, Σ n): hand-computed", () => {
    const s = empty(2, 3)
    Dump.record(s, [outcome(ds, 0, [1, -1, 0.5, -0.5])], Int32Array.from([0, 1]), 3)
    const u = Dump.ucb(s, { ...Dump.defaults, window: 3 })
    expect(u[0]).toBeCloseTo(1.4690226755390623, 14) // 2/3 + sqrt(2 ln 5 / 5)
    expect(u[1]).toBeCloseTo(1.7941225779941015, 14) // 0 + sqrt(2 ln 5 / 1)
  })
  it("before any data every source has UCB sqrt(2 ln 2): uniform weights", () => {
    const u = Dump.ucb(empty(3, 5), Dump.defaults)
    for (const x of u) expect(x).toBeCloseTo(1.1774100225154747, 15)
  })
})

describe("Dump.sampler", () => {
  const families = [...Array.from({ length: 10 }, () => "a"), ...Array.from({ length: 10 }, () => "b")]
  const ds = dataset(families)
  const context = { dataset: ds, seed: 1, steps: 10, batchSize: 8, groupSize: 4 }

  it.effect("weights are softmax(UCB / 0.1): 0.0373 / 0.9627 after the hand-computed state, and the draws follow", () =>
    Effect.gen(function*() {
      const c = yield* Dump.plugin({ window: 3 }).build(context)
      expect(c.metrics()["dump_w_a"]).toBeCloseTo(0.5, 15)
      yield* c.observe({ step: 1, groups: [outcome(ds, 0, [1, -1, 0.5, -0.5])] })
      expect(c.metrics()["dump_w_a"]).toBeCloseTo(0.03729100539311549, 13)
      expect(c.metrics()["dump_w_b"]).toBeCloseTo(0.9627089946068846, 13)
      expect(c.metrics()["dump_mu_a"]).toBeCloseTo(2 / 3, 15)
      const batch = yield* c.select({ step: 2, batchSize: 400, rng: Rng.make(1, 2, "select") })
      const fromA = batch.filter((i) => families[i] === "a").length
      expect(fromA).toBeGreaterThan(3) // expected 14.9 of 400
      expect(fromA).toBeLessThan(35)
    }))

  it.effect("draws with replacement from the eligible members only (a gate that hides source b)", () =>
    Effect.gen(function*() {
      const onlyA = Part.gate({
        name: "only-a",
        state: Schema.Struct({}),
        build: () => ({
          initial: {},
          eligible: (_, pool) => Part.restrict(pool, Int32Array.from([0, 1, 2]), 0, {})
        })
      })
      const c = yield* onlyA.pipe(Part.andThen(Dump.sampler())).build(context)
      const batch = yield* c.select({ step: 1, batchSize: 12, rng: Rng.make(1, 1, "select") })
      expect(batch).toHaveLength(12)
      for (const i of batch) expect([0, 1, 2]).toContain(i)
    }))

  it.effect("a source key missing on a problem fails the build naming dump.arms", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Dump.plugin({ arms: ["subject"] }).build(context))
      expect(e.field).toBe("dump.arms")
    }))

  it("validation names the field", () => {
    const e = Either.getLeft(Dump.validate({ ...Dump.defaults, window: 0 }))
    expect(e._tag === "Some" && e.value.field).toBe("dump.window")
  })
})
