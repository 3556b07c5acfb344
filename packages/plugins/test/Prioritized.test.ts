import { describe, expect, it } from "@effect/vitest"
import type * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError, ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as SumTree from "../src/internal/sumTree.ts"
import * as Prioritized from "../src/Prioritized.ts"
import * as Registry from "../src/Registry.ts"
import { groupOf, plainDataset } from "./support/outcomes.ts"

const context = (ds: Problem.Dataset, seed = 1) => ({ dataset: ds, seed, steps: 100, batchSize: 4, groupSize: 4 })

/** A group of `correct` right answers out of 4. */
/** Problem `index` solved by `correct` of 4 samples. */
const group = (ds: Problem.Dataset, index: number, correct: number) =>
  groupOf(ds, index, Array.from({ length: 4 }, (_, j) => (j < correct ? 1 : 0)))

const select = (c: Curriculum.Curriculum, step: number, batchSize: number, seed = 1) =>
  c.select({ step, batchSize, rng: Rng.make(seed, step, "select") })

const counts = (n: number, batches: ReadonlyArray<ReadonlyArray<number>>) => {
  const out = new Array<number>(n).fill(0)
  for (const b of batches) for (const i of b) out[i]!++
  return out
}

/** A gate letting through the even problems only. */
const evens = Part.gate({
  name: "evens",
  state: Schema.Struct({}),
  build: () => ({
    initial: {},
    eligible: (_, pool) =>
      Part.restrict(pool, Int32Array.from(Array.from(pool.indices).filter((i) => i % 2 === 0)), 0, {})
  })
})

describe("SumTree", () => {
  it("finds leaves by cumulative weight (hand-computed, 4 leaves)", () => {
    // weights [0.5, 0, 1.5, 2]: node 2 = 0.5, node 3 = 3.5, root 4
    const tree = SumTree.build(Float64Array.from([0.5, 0, 1.5, 2]))
    expect(SumTree.total(tree)).toBe(4)
    expect([0, 0.49, 0.5, 1.99, 2, 3.99].map((u) => SumTree.find(tree, u))).toEqual([0, 0, 2, 2, 3, 3])
  })

  it("keeps the leaves in index order, also past one node of 16 (40 leaves, 3 levels)", () => {
    const weights = Float64Array.from({ length: 40 }, (_, j) => (j % 3 === 0 ? 0 : j))
    const tree = SumTree.build(weights)
    expect(tree.levels.map((l) => l.length)).toEqual([40, 3, 1])
    let before = 0
    for (let j = 0; j < 40; j++) {
      if (weights[j] === 0) continue
      expect(SumTree.find(tree, before), `start of leaf ${j}`).toBe(j)
      expect(SumTree.find(tree, before + weights[j]! - 0.5), `inside leaf ${j}`).toBe(j)
      before += weights[j]!
    }
    expect(SumTree.total(tree)).toBe(before)
  })

  it("setMany gives the tree that as many set calls give (a repeated leaf keeps its last weight)", () => {
    const weights = Float64Array.from({ length: 300 }, (_, j) => ((j * 37) % 11) / 7)
    const one = SumTree.build(weights)
    const many = SumTree.build(weights)
    const js = [5, 299, 17, 5, 256, 0, 18]
    const ws = [0.3, 1.1, 0, 2.5, 0.7, 0.01, 4]
    js.forEach((j, k) => SumTree.set(one, j, ws[k]!))
    SumTree.setMany(many, js, ws)
    expect(many.levels.map((l) => Array.from(l))).toEqual(one.levels.map((l) => Array.from(l)))
    expect(SumTree.weight(many, 5)).toBe(2.5)
  })

  it("never lands on a zero-weight leaf at a boundary, and a set back restores every sum exactly", () => {
    const tree = SumTree.build(Float64Array.from([0.1, 0.2, 0, 0.3, 0.7]))
    const before = tree.levels.map((l) => Array.from(l))
    expect(SumTree.find(tree, SumTree.total(tree))).not.toBe(2)
    SumTree.set(tree, 4, 0)
    SumTree.set(tree, 0, 0)
    expect(SumTree.total(tree)).toBeCloseTo(0.5, 12)
    SumTree.set(tree, 0, 0.1)
    SumTree.set(tree, 4, 0.7)
    expect(tree.levels.map((l) => Array.from(l))).toEqual(before)
  })
})

describe("Prioritized.draw without replacement", () => {
  it("the second draw follows the weights of the undrawn (rejection path and zeroing path agree)", () => {
    // weights 6 : 3 : 1. P(first = 0) = 0.6; given first = 0, P(second = 1) = 3/4.
    const firsts = [0, 0, 0]
    let afterZero = 0
    let secondIsOne = 0
    for (let s = 0; s < 4000; s++) {
      const tree = SumTree.build(Float64Array.from([6, 3, 1]))
      const [a, b] = Prioritized.draw(tree, 2, false, Rng.make(1, s, "draw"))
      firsts[a!]!++
      if (a === 0) {
        afterZero++
        if (b === 1) secondIsOne++
      }
      expect(a).not.toBe(b)
      expect(tree.levels.map((l) => Array.from(l))).toEqual([[6, 3, 1], [10]]) // restored exactly
    }
    expect(firsts[0]! / 4000).toBeCloseTo(0.6, 1)
    expect(secondIsOne / afterZero).toBeCloseTo(0.75, 1)
  })

  it("a weight concentrated on one problem still gives distinct draws (repeats exhaust the 16 tries)", () => {
    const tree = SumTree.build(Float64Array.from([1e9, 1, 1, 1, 0]))
    const batch = Prioritized.draw(tree, 5, false, Rng.make(1, 1, "draw"))
    expect([...batch].sort()).toEqual([0, 1, 2, 3, 4])
    expect(SumTree.total(tree)).toBe(1e9 + 3)
  })
})

describe("Prioritized.validate", () => {
  it("names the field of a pass rate outside [0, 1]", () => {
    const e = Either.getLeft(Prioritized.validate({ ...Prioritized.defaults, initialPassRate: 1.5 }))
    expect(e._tag).toBe("Some")
    const err = (e as { value: ConfigError }).value
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.field).toBe("prioritized.initialPassRate")
  })

  it.effect("fails the build with that error", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Prioritized.sampler({ initialPassRate: -0.1 }).build(context(plainDataset(4))))
      expect(e).toBeInstanceOf(ConfigError)
    }))
})

describe("Prioritized.sampler", () => {
  it("weights 1 − s (spec §5.4)", () => {
    expect([0, 0.25, 1].map(Prioritized.weightOf)).toEqual([1, 0.75, 0])
  })

  it.effect("unseen problems weigh 1: a batch the size of the pool is a permutation", () =>
    Effect.gen(function*() {
      const c = yield* Prioritized.plugin().build(context(plainDataset(6)))
      const batch = yield* select(c, 0, 6)
      expect([...batch].sort()).toEqual([0, 1, 2, 3, 4, 5])
    }))

  it.effect("a solved problem (s = 1) is not drawn while unsolved ones remain", () =>
    Effect.gen(function*() {
      const ds = plainDataset(6)
      const c = yield* Prioritized.plugin().build(context(ds))
      yield* c.observe({ step: 0, groups: [group(ds, 0, 4), group(ds, 3, 4)] })
      for (let step = 1; step < 30; step++) {
        const batch = yield* select(c, step, 4)
        expect([...batch].sort()).toEqual([1, 2, 4, 5])
      }
      // the latest pass rate counts, not the first: 0 fails again, so it returns
      yield* c.observe({ step: 30, groups: [group(ds, 0, 0)] })
      const batches = []
      for (let step = 31; step < 60; step++) batches.push(yield* select(c, step, 4))
      expect(counts(6, batches)[0]).toBeGreaterThan(0)
      expect(counts(6, batches)[3]).toBe(0)
    }))

  it.effect("draw frequencies follow 1 − s with replacement (s = 0, 0.5, 0.75, 1 → 4 : 2 : 1 : 0)", () =>
    Effect.gen(function*() {
      const ds = plainDataset(4)
      const c = yield* Prioritized.plugin({ replacement: true }).build(context(ds))
      yield* c.observe({ step: 0, groups: [group(ds, 0, 0), group(ds, 1, 2), group(ds, 2, 3), group(ds, 3, 4)] })
      const batches = []
      for (let step = 1; step <= 2000; step++) batches.push(yield* select(c, step, 7))
      const n = counts(4, batches)
      const total = 7 * 2000
      expect(n[3]).toBe(0)
      expect(n[0]! / total).toBeCloseTo(4 / 7, 1)
      expect(n[1]! / total).toBeCloseTo(2 / 7, 1)
      expect(n[2]! / total).toBeCloseTo(1 / 7, 1)
      expect(c.metrics()["prioritized_weight_mean"]).toBeCloseTo((1 + 0.5 + 0.25 + 0) / 4, 12)
    }))

  it.effect("when every problem is solved, a distinct batch is filled uniformly; a batch over the pool repeats each problem", () =>
    Effect.gen(function*() {
      const ds = plainDataset(5)
      const c = yield* Prioritized.plugin({ initialPassRate: 1 }).build(context(ds))
      const batch = yield* select(c, 0, 5)
      expect([...batch].sort()).toEqual([0, 1, 2, 3, 4])
      const c2 = yield* Prioritized.plugin().build(context(ds))
      yield* c2.observe({ step: 0, groups: [group(ds, 1, 4)] })
      expect(counts(5, [yield* select(c2, 1, 10)])).toEqual([2, 2, 2, 2, 2])
    }))

  it.effect("under a gate, draws only from the pool and tracks every observed problem", () =>
    Effect.gen(function*() {
      const ds = plainDataset(8)
      const c = yield* evens.pipe(Part.andThen(Prioritized.sampler())).build(context(ds))
      yield* c.observe({ step: 0, groups: [group(ds, 2, 4), group(ds, 3, 0)] })
      for (let step = 1; step < 10; step++) {
        const batch = yield* select(c, step, 3)
        expect([...batch].sort()).toEqual([0, 4, 6])
      }
      const live = Part.inspect(c).get("prioritized")! as Part.Live<Prioritized.State, Prioritized.Derived>
      expect(live.state.passRate[3]).toBe(0)
      expect(live.state.passRate[2]).toBe(1)
    }))

  it.effect("snapshot → JSON → restore continues identically", () =>
    Effect.gen(function*() {
      const ds = plainDataset(50)
      const drive = (c: Curriculum.Curriculum, from: number, to: number) =>
        Effect.gen(function*() {
          const out: Array<ReadonlyArray<number>> = []
          for (let step = from; step < to; step++) {
            const batch = yield* select(c, step, 8)
            out.push(batch)
            yield* c.observe({ step, groups: batch.map((i) => group(ds, i, (i * 7 + step) % 5)) })
          }
          return out
        })
      const original = yield* Prioritized.plugin().build(context(ds))
      yield* drive(original, 0, 10)
      const saved = JSON.parse(JSON.stringify(original.snapshot()))
      const resumed = yield* Prioritized.plugin().build(context(ds))
      yield* resumed.restore(saved)
      expect(yield* drive(resumed, 10, 20)).toEqual(yield* drive(original, 10, 20))
    }))

  it.effect("refuses a checkpoint of another dataset size, naming the part", () =>
    Effect.gen(function*() {
      const small = yield* Prioritized.plugin().build(context(plainDataset(3)))
      const big = yield* Prioritized.plugin().build(context(plainDataset(4)))
      const e = yield* Effect.flip(big.restore(small.snapshot()))
      expect(e).toBeInstanceOf(CheckpointError)
      expect(String((e as CheckpointError).path)).toContain("prioritized")
    }))

  it("parses in expressions, after a pre-filter", () => {
    const recipe = Either.getOrThrow(Registry.parse("pcl.prefilter(k=2) > prioritized(replacement=true)", {
      verifier: () => ({ reward: 1, correct: true, formatted: true })
    }))
    expect(recipe.name).toBe("pcl+prioritized")
    expect(Part.partsOf(recipe.plugin as unknown as Parameters<typeof Part.partsOf>[0]).map((p) => p.kind)).toEqual([
      "prefilter",
      "sampler"
    ])
  })
})
