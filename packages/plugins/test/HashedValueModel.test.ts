import { describe, expect, it } from "@effect/vitest"
import { CheckpointError } from "@zpd/core/Errors"
import type { Problem } from "@zpd/core/Problem"
import { ValueModel as ValueModelTag } from "@zpd/core/ValueModel"
import * as Effect from "effect/Effect"
import * as ValueModel from "../src/HashedValueModel.ts"

const problem = (
  i: number,
  level: number,
  family = "countdown",
  prompt = `Solve task ${i} of level ${level}`
): Problem => ({
  id: `p${i}`,
  prompt,
  answer: "",
  level,
  family,
  metadata: {}
})

const problems = Array.from({ length: 90 }, (_, i) => problem(i, 1 + (i % 3), i % 2 === 0 ? "countdown" : "arc1d"))
/** A target that depends on level and family only: 0.9, 0.5, 0.1 (countdown) and 0.2 lower (arc1d). */
const truth = (p: Problem) => [0.9, 0.5, 0.1][p.level - 1]! - (p.family === "arc1d" ? 0.05 : 0)

describe("ValueModel.hashed", () => {
  it.effect("predicts exactly 0.5 everywhere before any update (PCL's cold start)", () =>
    Effect.gen(function*() {
      const v = ValueModel.hashed()
      const p = yield* v.predict(problems)
      expect(Array.from(p)).toEqual(new Array(problems.length).fill(0.5))
    }))

  it("features: a bias, one-hot metadata and their conjunction, and n-grams of norm promptWeight", () => {
    const f = ValueModel.features(problem(1, 2, "countdown", "Add 3 and 4, then add 5"), {
      ...ValueModel.hashedDefaults,
      bits: 20
    })
    expect(f.index[0]).toBe(0)
    expect(f.value[0]).toBe(1)
    expect(Array.from(f.value.subarray(1, 4))).toEqual([1, 1, 1])
    // words: add 3 and 4 then add 5 → 7 unigrams + 6 bigrams, scaled to norm 0.5
    const grams = f.value.subarray(4)
    expect(grams).toHaveLength(13)
    expect(Math.sqrt(grams.reduce((s, x) => s + x * x, 0))).toBeCloseTo(0.5, 12)
    // "add" occurs twice: the same hashed index twice.
    const idx = Array.from(f.index.subarray(4, 11))
    expect(idx[0]).toBe(idx[5])
    // Deterministic and case-insensitive.
    const again = ValueModel.features(problem(1, 2, "countdown", "ADD 3 and 4, then add 5"), {
      ...ValueModel.hashedDefaults,
      bits: 20
    })
    expect(Array.from(again.index)).toEqual(Array.from(f.index))
    // A different level changes the metadata features only.
    const other = ValueModel.features(problem(1, 3, "countdown", "Add 3 and 4, then add 5"), {
      ...ValueModel.hashedDefaults,
      bits: 20
    })
    expect(other.index[1]).not.toBe(f.index[1])
    expect(other.index[2]).toBe(f.index[2])
    expect(Array.from(other.index.subarray(4))).toEqual(Array.from(f.index.subarray(4)))
  })

  it.effect("learns a level/family-dependent pass rate and generalises to unseen prompts", () =>
    Effect.gen(function*() {
      const v = ValueModel.hashed()
      const targets = Float64Array.from(problems, truth)
      let first = Number.NaN
      let lastLoss = Number.NaN
      for (let step = 0; step < 60; step++) {
        const batch = problems.slice((step * 16) % 90, ((step * 16) % 90) + 16)
        const u = yield* v.update(batch, Float64Array.from(batch, truth))
        if (step === 0) first = u.loss
        lastLoss = u.loss
      }
      expect(lastLoss).toBeLessThan(first / 10)
      const fresh = Array.from(
        { length: 30 },
        (_, i) => problem(1000 + i, 1 + (i % 3), i % 2 === 0 ? "countdown" : "arc1d", `Brand new wording ${i}`)
      )
      const p = yield* v.predict(fresh)
      expect(ValueModel.explainedVariance(p, Float64Array.from(fresh, truth))).toBeGreaterThan(0.9)
      expect(ValueModel.explainedVariance(yield* v.predict(problems), targets)).toBeGreaterThan(0.9)
    }))

  it.effect("an update reports the pre-update MSE and moves predictions toward the targets", () =>
    Effect.gen(function*() {
      const v = ValueModel.hashed()
      const batch = problems.slice(0, 10)
      const targets = Float64Array.from(batch, () => 1)
      const u = yield* v.update(batch, targets)
      expect(u.loss).toBeCloseTo(0.25, 15)
      const p = yield* v.predict(batch)
      for (const x of p) expect(x).toBeGreaterThan(0.5)
      expect(Effect.runSync(Effect.either(Effect.try(() => Effect.runSync(v.update(batch, new Float64Array(3))))))._tag)
        .toBe("Left")
    }))

  it.effect("snapshot → JSON → restore reproduces predictions and later updates bit for bit", () =>
    Effect.gen(function*() {
      const a = ValueModel.hashed()
      for (let s = 0; s < 5; s++) {
        yield* a.update(
          problems.slice(s * 10, s * 10 + 10),
          Float64Array.from(problems.slice(s * 10, s * 10 + 10), truth)
        )
      }
      const b = ValueModel.hashed()
      yield* b.restore(JSON.parse(JSON.stringify(a.snapshot())))
      expect(Array.from(yield* b.predict(problems))).toEqual(Array.from(yield* a.predict(problems)))
      yield* a.update(problems.slice(50, 60), Float64Array.from(problems.slice(50, 60), truth))
      yield* b.update(problems.slice(50, 60), Float64Array.from(problems.slice(50, 60), truth))
      expect(b.snapshot()).toEqual(a.snapshot())
      const wrong = yield* Effect.either(ValueModel.hashed({ bits: 12 }).restore(a.snapshot()))
      expect(wrong._tag === "Left" && wrong.left).toBeInstanceOf(CheckpointError)
      const garbage = yield* Effect.either(b.restore({ kind: "mlp" }))
      expect(garbage._tag === "Left" && garbage.left.message).toMatch(/does not decode/)
    }))

  it("bad options name the field; the constructor throws on them", () => {
    const cases: Array<[Partial<ValueModel.HashedOptions>, string]> = [
      [{ bits: 3 }, "pcl.hashed.bits"],
      [{ bits: 30 }, "pcl.hashed.bits"],
      [{ ngrams: [0] }, "pcl.hashed.ngrams"],
      [{ learningRate: 0 }, "pcl.hashed.learningRate"],
      [{ decay: 0 }, "pcl.hashed.decay"],
      [{ decay: 1.5 }, "pcl.hashed.decay"],
      [{ l2: -1 }, "pcl.hashed.l2"],
      [{ steps: 0 }, "pcl.hashed.steps"],
      [{ promptWeight: -1 }, "pcl.hashed.promptWeight"],
      [{ initialAccumulator: -1 }, "pcl.hashed.initialAccumulator"],
      [{ optimizer: "adam" as "sgd" }, "pcl.hashed.optimizer"]
    ]
    for (const [o, field] of cases) {
      expect(ValueModel.validateHashed({ ...ValueModel.hashedDefaults, ...o }, "pcl.hashed")?.field).toBe(field)
      expect(() => ValueModel.hashed(o)).toThrow(field.replace("pcl.hashed", "valueModel"))
    }
    expect(ValueModel.validateHashed(ValueModel.hashedDefaults)).toBeUndefined()
  })

  it.effect("the sgd optimiser and several steps per update also learn", () =>
    Effect.gen(function*() {
      const v = ValueModel.hashed({ optimizer: "sgd", learningRate: 20, steps: 3 })
      for (let s = 0; s < 30; s++) yield* v.update(problems, Float64Array.from(problems, truth))
      expect(ValueModel.explainedVariance(yield* v.predict(problems), Float64Array.from(problems, truth)))
        .toBeGreaterThan(0.8)
    }))

  it.effect("holds 2 · 2^bits doubles of state plus a dense gradient buffer", () =>
    Effect.gen(function*() {
      const v = ValueModel.hashed({ bits: 10 })
      // weights, AdaGrad sums and the gradient (8 bytes each), a touched mark (1), the touched list (≤ 4)
      expect(v.stateBytes?.()).toBe(1024 * (8 + 8 + 8 + 1) + 1024 * 4)
      yield* v.update(problems, Float64Array.from(problems, truth))
      expect(v.stateBytes?.()).toBeLessThanOrEqual(1024 * 29)
    }))

  it.effect("layerHashed provides the ValueModel service", () =>
    Effect.gen(function*() {
      const v = yield* ValueModelTag
      expect(v.name).toBe("hashed")
      expect(Array.from(yield* v.predict(problems.slice(0, 2)))).toEqual([0.5, 0.5])
    }).pipe(Effect.provide(ValueModel.layerHashed())))
})

describe("ValueModel.explainedVariance", () => {
  it("is 1 for exact (or exactly offset) predictions, 0 for the mean, negative when worse, NaN without variance", () => {
    const y = [0.1, 0.4, 0.5, 0.9]
    expect(ValueModel.explainedVariance(y, y)).toBe(1)
    expect(ValueModel.explainedVariance(y.map((x) => x + 0.2), y)).toBeCloseTo(1, 15)
    expect(ValueModel.explainedVariance([0.475, 0.475, 0.475, 0.475], y)).toBe(0)
    expect(ValueModel.explainedVariance([0.9, 0.5, 0.4, 0.1], y)).toBeLessThan(0)
    // 1 − Var(y − ŷ)/Var(y) by hand
    const yh = [0.2, 0.3, 0.6, 0.7]
    const r = y.map((v, i) => v - yh[i]!)
    const variance = (xs: Array<number>) => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length
      return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length
    }
    expect(ValueModel.explainedVariance(yh, y)).toBeCloseTo(1 - variance(r) / variance(y), 15)
    expect(ValueModel.explainedVariance([0.1, 0.2], [0.5, 0.5])).toBeNaN()
    expect(ValueModel.explainedVariance([0.1], [0.5])).toBeNaN()
  })
})
