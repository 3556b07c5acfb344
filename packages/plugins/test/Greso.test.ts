import { describe, expect, it } from "@effect/vitest"
import * as Part from "@zpd/core/Part"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Baselines from "../src/Baselines.ts"
import * as Greso from "../src/Greso.ts"
import { groupOf, plainDataset } from "./support/outcomes.ts"

/** A generator that returns the given uniforms in order (and fails the test if asked for more). */
const scripted = (uniforms: ReadonlyArray<number>): Rng.Rng => {
  const queue = [...uniforms]
  return {
    next: () => {
      expect(queue.length, "more draws than scripted").toBeGreaterThan(0)
      return queue.shift()!
    }
  } as unknown as Rng.Rng
}

const fresh = (n: number, patch: Partial<Greso.State> = {}): Greso.State => ({
  easy: new Uint8Array(n),
  hard: new Uint8Array(n),
  pEasy: 0.5,
  pHard: 0.5,
  examined: 0,
  epoch: 0,
  skippedEasy: 0,
  skippedHard: 0,
  forced: 0,
  ...patch
})

describe("Greso.skipProbability: 1 − max(p^z, 0.01) (code presampling_selector.py)", () => {
  it("hand-computed values, the 0.01 floor, and 0 without a streak", () => {
    expect(Greso.skipProbability(0.5, 0, 0.01)).toBe(0)
    expect(Greso.skipProbability(0.5, 1, 0.01)).toBe(0.5)
    expect(Greso.skipProbability(0.5, 3, 0.01)).toBe(0.875)
    expect(Greso.skipProbability(0.5, 7, 0.01)).toBe(0.99) // 0.5^7 = 0.0078125 < 0.01
    expect(Greso.skipProbability(0.05, 2, 0.01)).toBe(0.99) // 0.0025 < 0.01
    expect(Greso.skipProbability(0.95, 10, 0.01)).toBeCloseTo(0.4012630607616213, 15)
  })
  it("powInt is exact repeated squaring", () => {
    expect(Greso.powInt(0.5, 10)).toBe(1 / 1024)
    expect(Greso.powInt(3, 5)).toBe(243)
    expect(Greso.powInt(0.7, 0)).toBe(1)
  })
})

describe("Greso streaks and the exploration update (code ray_trainer.py)", () => {
  it("a streak grows while the test passes, resets otherwise, and saturates at 255", () => {
    expect(Greso.extendStreak(0, true)).toBe(1)
    expect(Greso.extendStreak(4, true)).toBe(5)
    expect(Greso.extendStreak(4, false)).toBe(0)
    expect(Greso.extendStreak(255, true)).toBe(255)
  })
  it("p moves 0.01 down when the ratio reaches its target (≥), up otherwise, clamped to [0.05, 0.95]", () => {
    const c = Greso.defaults
    expect(Greso.adapt(0.5, 1 / 12, 0.25 / 3, c)).toBe(0.49) // equal to the easy target: skip more
    expect(Greso.adapt(0.5, 0.08, 0.25 / 3, c)).toBe(0.51)
    expect(Greso.adapt(0.05, 1, 0.1, c)).toBe(0.05)
    expect(Greso.adapt(0.95, 0, 0.1, c)).toBe(0.95)
  })
  it("observe: mean ≥ 0.98 extends the easy streak, ≤ 0.11 the hard one; 0.1-only rewards count as hard", () => {
    const ds = plainDataset(4)
    const s = fresh(4, { easy: Uint8Array.from([2, 0, 0, 3]), hard: Uint8Array.from([0, 1, 0, 0]) })
    Greso.observe(s, [
      groupOf(ds, 0, [1, 1, 1, 1]),
      groupOf(ds, 1, [0.1, 0.1, 0.1, 0.1]),
      groupOf(ds, 2, [1, 0, 0, 0]), // mean 0.25: neither
      groupOf(ds, 3, [1, 1, 1, 0]) // 0.75 breaks the easy streak
    ], Greso.defaults)
    expect(Array.from(s.easy)).toEqual([3, 0, 0, 0])
    expect(Array.from(s.hard)).toEqual([0, 2, 0, 0])
    expect([s.pEasy, s.pHard]).toEqual([0.5, 0.5]) // epoch 0: no adaptation
  })
  it("from epoch 1 on, the step's all-correct and none-correct ratios move p_easy and p_hard", () => {
    const ds = plainDataset(7)
    const s = fresh(7, { epoch: 1 })
    // 7 groups: 1 all correct (1/7 ≥ 0.25/3: p_easy − 0.01), 1 none correct (1/7 < 2·0.25/3: p_hard + 0.01)
    Greso.observe(s, [0, 1, 2, 3, 4, 5, 6].map((i) => groupOf(ds, i, i === 0 ? [1, 1] : i === 1 ? [0, 0] : [1, 0])), {
      ...Greso.defaults
    })
    expect(s.pEasy).toBe(0.49)
    expect(s.pHard).toBe(0.51)
    Greso.observe(s, [groupOf(ds, 1, [0, 0]), groupOf(ds, 2, [1, 0])], Greso.defaults) // hard 1/2 ≥ 1/6: − 0.01
    expect(s.pHard).toBe(0.5)
  })
})

describe("Greso.narrow", () => {
  it("skips by the scripted draws, easy test first, keeps the first B survivors, draws only for streaks", () => {
    const s = fresh(5, { easy: Uint8Array.from([0, 1, 0, 0, 0]), hard: Uint8Array.from([0, 0, 1, 0, 0]) })
    // problem 1: skip prob 0.5, u = 0.4 → skipped; problem 2: skip prob 0.5, u = 0.6 → kept
    expect(Greso.narrow(s, [0, 1, 2, 3, 4], 3, scripted([0.4, 0.6]), Greso.defaults)).toEqual([0, 2, 3])
    expect([s.examined, s.skippedEasy, s.skippedHard, s.forced, s.epoch]).toEqual([4, 1, 0, 0, 0])
  })
  it("fills a short batch with skipped proposals in the order examined (greso_forced), and counts epochs", () => {
    const s = fresh(4, { easy: Uint8Array.from([3, 3, 0, 0]), hard: Uint8Array.from([0, 0, 2, 0]), examined: 2 })
    // skip probs: 0.875, 0.875, 0.75
    expect(Greso.narrow(s, [0, 1, 2], 2, scripted([0.1, 0.2, 0.3]), Greso.defaults)).toEqual([0, 1])
    expect([s.skippedEasy, s.skippedHard, s.forced, s.examined, s.epoch]).toEqual([2, 1, 2, 5, 0])
    Greso.narrow(s, [3], 1, scripted([]), Greso.defaults)
    expect([s.epoch, s.examined]).toEqual([1, 6]) // ⌊5 / 4⌋: this batch's first proposal is in epoch 1
  })
})

describe("Greso.validate", () => {
  const field = (c: Partial<Greso.Config>) => {
    const e = Either.getLeft(Greso.validate({ ...Greso.defaults, ...c }))
    return e._tag === "Some" ? e.value.field : undefined
  }
  it("accepts the defaults and names the field of a bad option", () => {
    expect(field({})).toBeUndefined()
    expect(field({ pMax: 0.99 })).toBe("greso.pMax") // 0.99^255 = 0.077 > minKeep: streak bytes would not be exact
    expect(field({ pEasy: 0.01 })).toBe("greso.pEasy")
    expect(field({ oversample: 0.5 })).toBe("greso.oversample")
    expect(field({ easyAbove: 0.1 })).toBe("greso.easyAbove")
    expect(field({ signal: "loss" as never })).toBe("greso.signal")
  })
})

describe("Greso.prefilter as a part", () => {
  it.effect("asks uniform for 4B proposals, returns B, and a snapshot restores the same state", () =>
    Effect.gen(function*() {
      const ds = plainDataset(40)
      const plugin = Greso.prefilter().pipe(Part.andThen(Baselines.uniform()))
      const c = yield* plugin.build({ dataset: ds, seed: 1, steps: 10, batchSize: 4, groupSize: 2 })
      const batch = yield* c.select({ step: 1, batchSize: 4, rng: Rng.make(1, 1, "select") })
      expect(batch).toHaveLength(4)
      yield* c.observe({ step: 1, groups: batch.map((i) => groupOf(ds, i, [1, 1])) })
      const live = Part.inspect(c).get("greso")!.state as Greso.State
      expect(batch.map((i) => live.easy[i])).toEqual([1, 1, 1, 1])
      expect(live.examined).toBe(4)
      const d = yield* plugin.build({ dataset: ds, seed: 1, steps: 10, batchSize: 4, groupSize: 2 })
      yield* d.restore(JSON.parse(JSON.stringify(c.snapshot())))
      expect(d.snapshot()).toEqual(c.snapshot())
      expect(c.metrics()["greso_p_easy"]).toBe(0.5)
    }))
})
