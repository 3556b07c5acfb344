import { describe, expect, it } from "@effect/vitest"
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError } from "@zpd/core/Errors"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as AdaRft from "../src/AdaRft.ts"
import { groupOf } from "./support/outcomes.ts"

const dataset = (scores: ReadonlyArray<number | undefined>, levels?: ReadonlyArray<number>) =>
  Problem.make(
    "test",
    scores.map((d, i) => ({
      id: `p${i}`,
      prompt: `prompt ${i}`,
      answer: "0",
      level: levels?.[i] ?? 1,
      family: "countdown",
      metadata: d === undefined ? {} : { difficulty: d }
    }))
  )

const context = (ds: Problem.Dataset) => ({ dataset: ds, seed: 1, steps: 100, batchSize: 2, groupSize: 4 })
const select = (c: Curriculum.Curriculum, step: number, batchSize: number) =>
  c.select({ step, batchSize, rng: Rng.make(1, step, "select") })

describe("AdaRft.nextTarget (spec §5.5, code defaults β = 0.5, α = 2, η = 50, [0, 100])", () => {
  const c = AdaRft.defaults
  it("moves by η·tanh(α(R − β)) and clips (hand-computed)", () => {
    expect(AdaRft.nextTarget(0, 0.5, c)).toBe(0)
    expect(AdaRft.nextTarget(0, 1, c)).toBeCloseTo(50 * Math.tanh(1), 12) // 38.0797…
    expect(AdaRft.nextTarget(50, 0, c)).toBeCloseTo(11.920292202211755, 12)
    expect(AdaRft.nextTarget(10, 0.3, c)).toBe(0) // 10 − 18.997… clipped at dMin
    expect(AdaRft.nextTarget(90, 1, c)).toBe(100) // clipped at dMax
  })
})

describe("AdaRft.closest", () => {
  const d = Float64Array.from([10, 20, 30, 40, 50])
  const order = Int32Array.from([0, 1, 2, 3, 4])
  it("takes the B nearest to T (|d − T| = 22, 12, 2, 8, 18 at T = 32)", () => {
    expect(AdaRft.closest(d, order, 32, 3)).toEqual([2, 3, 1])
  })
  it("breaks an equal distance toward the lower score", () => {
    expect(AdaRft.closest(d, order, 25, 1)).toEqual([1])
    expect(AdaRft.closest(d, order, 25, 2)).toEqual([1, 2])
  })
  it("skips problems outside the pool and stops at its size", () => {
    expect(AdaRft.closest(d, order, 32, 2, Uint8Array.from([1, 1, 0, 1, 1]))).toEqual([3, 1])
    expect(AdaRft.closest(d, order, 100, 9, Uint8Array.from([1, 0, 0, 0, 1]))).toEqual([4, 0])
  })
})

describe("AdaRft.sampler", () => {
  it.effect("serves the problems nearest T, and T follows the batch's mean reward", () =>
    Effect.gen(function*() {
      const ds = dataset([0, 10, 40, 60, 100])
      const c = yield* AdaRft.plugin().build(context(ds))
      expect(yield* select(c, 0, 2)).toEqual([0, 1])
      // R_avg = 6/8 = 0.75 → T = 0 + 50·tanh(0.5)
      yield* c.observe({ step: 0, groups: [groupOf(ds, 0, [1, 1, 1, 1]), groupOf(ds, 1, [1, 1, 0, 0])] })
      const t = 50 * Math.tanh(0.5)
      expect(c.metrics()["adarft_target"]).toBeCloseTo(t, 12)
      expect(c.metrics()["adarft_reward_mean"]).toBe(0.75)
      expect(yield* select(c, 1, 2)).toEqual([1, 2]) // T = 23.106: |10 − T| = 13.1 < |40 − T| = 16.9 < |60 − T|
    }))

  it.effect("without a score it rescales the level onto [dMin, dMax]; with missingScore: error it names the field", () =>
    Effect.gen(function*() {
      const ds = dataset([undefined, undefined, undefined], [3, 1, 2])
      const c = yield* AdaRft.plugin({ initialTarget: 100 }).build(context(ds))
      expect(yield* select(c, 0, 1)).toEqual([0]) // level 3 → 100
      const e = yield* Effect.flip(AdaRft.plugin({ missingScore: "error" }).build(context(ds)))
      expect(e).toBeInstanceOf(ConfigError)
      expect((e as ConfigError).field).toBe("adarft.scoreKey")
    }))

  it.effect("signal: accuracy averages the correct flags, not a shaped reward", () =>
    Effect.gen(function*() {
      const ds = dataset([0, 10])
      const c = yield* AdaRft.plugin({ signal: "accuracy" }).build(context(ds))
      const shaped = { ...groupOf(ds, 0, [1.2, 1.2, 0.2, 0.2]), correct: Uint8Array.from([1, 1, 0, 0]) }
      yield* c.observe({ step: 0, groups: [shaped] })
      expect(c.metrics()["adarft_reward_mean"]).toBe(0.5)
      expect(c.metrics()["adarft_target"]).toBe(0)
    }))

  it("names a bad option's field", () => {
    const e = Either.getLeft(AdaRft.validate({ ...AdaRft.defaults, dMin: 100, dMax: 0 }))
    expect(e._tag === "Some" && e.value.field).toBe("adarft.dMax")
  })

  it.effect("snapshot → JSON → restore continues identically", () =>
    Effect.gen(function*() {
      const ds = dataset(Array.from({ length: 40 }, (_, i) => (i * 37) % 101))
      const drive = (c: Curriculum.Curriculum, from: number, to: number) =>
        Effect.gen(function*() {
          const out: Array<ReadonlyArray<number>> = []
          for (let step = from; step < to; step++) {
            const batch = yield* select(c, step, 4)
            out.push(batch)
            yield* c.observe({
              step,
              groups: batch.map((i) => groupOf(ds, i, [i % 2, (i + step) % 3 === 0 ? 1 : 0, 1, 0]))
            })
          }
          return out
        })
      const original = yield* AdaRft.plugin().build(context(ds))
      yield* drive(original, 0, 6)
      const resumed = yield* AdaRft.plugin().build(context(ds))
      yield* resumed.restore(JSON.parse(JSON.stringify(original.snapshot())))
      expect(yield* drive(resumed, 6, 12)).toEqual(yield* drive(original, 6, 12))
      expect(resumed.metrics()).toEqual(original.metrics())
    }))
})
