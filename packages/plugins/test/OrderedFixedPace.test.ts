import { describe, expect, it } from "@effect/vitest"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as OrderedFixedPace from "../src/OrderedFixedPace.ts"

const dataset = (levels: ReadonlyArray<number>): Problem.Dataset =>
  Problem.make(
    "test",
    levels.map((level, i) => ({ id: `p${i}`, prompt: `p${i}`, answer: "0", level, family: "countdown", metadata: {} }))
  )

const context = (ds: Problem.Dataset, seed: number, batchSize: number, steps: number) => ({
  dataset: ds,
  seed,
  steps,
  batchSize,
  groupSize: 8
})

const batches = (plugin: ReturnType<typeof OrderedFixedPace.plugin>, ds: Problem.Dataset, steps: number, b: number) =>
  Effect.gen(function*() {
    const c = yield* plugin.build(context(ds, 7, b, steps))
    const out: Array<ReadonlyArray<number>> = []
    for (let step = 1; step <= steps; step++) {
      out.push(yield* c.select({ step, batchSize: b, rng: Rng.make(7, step, "select") }))
    }
    return { c, out }
  })

// levels: items 0-3 are level 2, 4-7 level 1, 8-9 level 3
const ds = dataset([2, 2, 2, 2, 1, 1, 1, 1, 3, 3])
const levelOf = (i: number) => ds.problems[i]!.level

describe("OrderedFixedPace", () => {
  it.effect("serves each level once, easy to hard, whatever the budget", () =>
    Effect.gen(function*() {
      const short = yield* batches(OrderedFixedPace.plugin(), ds, 5, 2)
      const long = yield* batches(OrderedFixedPace.plugin(), ds, 50, 2)
      expect(long.out.slice(0, 5)).toEqual(short.out) // unlike Baselines.ordered, the budget does not stretch it
      const first = short.out.flat()
      expect(first.map(levelOf)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
      expect([...first].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    }))

  it.effect("after the ordered pass, trains on every level uniformly (epochs without replacement)", () =>
    Effect.gen(function*() {
      const { c, out } = yield* batches(OrderedFixedPace.plugin(), ds, 25, 2)
      expect(c.metrics()["ordered_pass_done"]).toBe(1)
      const after = out.slice(5).flat()
      expect(after).toHaveLength(40)
      for (let epoch = 0; epoch < 4; epoch++) {
        expect([...after.slice(epoch * 10, epoch * 10 + 10)].sort((a, b) => a - b)).toEqual([
          0,
          1,
          2,
          3,
          4,
          5,
          6,
          7,
          8,
          9
        ])
      }
      expect(after.slice(0, 10).map(levelOf)).not.toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    }))

  it.effect("passesPerLevel repeats each level before moving on; a batch straddling the end is filled", () =>
    Effect.gen(function*() {
      const { out } = yield* batches(OrderedFixedPace.plugin({ passesPerLevel: 2 }), ds, 7, 3)
      const flat = out.flat()
      expect(flat.slice(0, 20).map(levelOf)).toEqual([...Array(8).fill(1), ...Array(8).fill(2), 3, 3, 3, 3])
      expect(out.every((b) => b.length === 3)).toBe(true)
    }))

  it.effect("snapshot → JSON → restore continues identically, after the pass too", () =>
    Effect.gen(function*() {
      const { c, out } = yield* batches(OrderedFixedPace.plugin(), ds, 12, 3)
      const saved = JSON.parse(JSON.stringify(c.snapshot()))
      const resumed = yield* OrderedFixedPace.plugin().build(context(ds, 7, 3, 12))
      yield* resumed.restore(saved)
      const next = (cur: typeof c) =>
        Effect.gen(function*() {
          const xs = []
          for (let step = 13; step <= 20; step++) {
            xs.push(yield* cur.select({ step, batchSize: 3, rng: Rng.make(7, step, "select") }))
          }
          return xs
        })
      expect(yield* next(resumed)).toEqual(yield* next(c))
      expect(out).toHaveLength(12)
    }))

  it.effect("rejects passesPerLevel < 1 naming the field", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(OrderedFixedPace.plugin({ passesPerLevel: 0 }).build(context(ds, 1, 2, 5)))
      expect(e.message).toContain("orderedFixed.passesPerLevel")
    }))
})
