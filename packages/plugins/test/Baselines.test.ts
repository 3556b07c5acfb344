import { describe, expect, it } from "@effect/vitest"
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError } from "@zpd/core/Errors"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Baselines from "../src/Baselines.ts"

// ---------------------------------------------------------------------------
// helpers

const problem = (id: string, level: number): Problem.Problem => ({
  id,
  prompt: `prompt ${id}`,
  answer: "0",
  level,
  family: "countdown",
  metadata: {}
})

const dataset = (levels: ReadonlyArray<number>): Problem.Dataset =>
  Problem.make("test", levels.map((level, i) => problem(`p${i}`, level)))

const flat = (n: number) => dataset(Array.from({ length: n }, () => 1))

const context = (ds: Problem.Dataset, seed: number, batchSize: number, steps = 100) => ({
  dataset: ds,
  seed,
  steps,
  batchSize,
  groupSize: 8
})

const select = (c: Curriculum.Curriculum, seed: number, step: number, batchSize: number) =>
  c.select({ step, batchSize, rng: Rng.make(seed, step, "select") })

const batches = (c: Curriculum.Curriculum, seed: number, from: number, to: number, batchSize: number) =>
  Effect.gen(function*() {
    const out: Array<ReadonlyArray<number>> = []
    for (let step = from; step < to; step++) out.push(yield* select(c, seed, step, batchSize))
    return out
  })

const sorted = (xs: ArrayLike<number>) => Array.from(xs).sort((a, b) => a - b)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

const OrderedSnapshot = Schema.Struct({ order: Columns.Int32Column, cursor: Schema.Int })

// ---------------------------------------------------------------------------

describe("Baselines.ensureAvailable", () => {
  const queue = (items: ReadonlyArray<number>, cursor: number): Columns.Queue => ({
    items: Int32Array.from(items),
    cursor
  })

  it("returns the queue untouched when enough items are left", () => {
    let calls = 0
    const q = queue([5, 6, 7, 8], 1)
    const out = Columns.ensureAvailable(q, 3, () => {
      calls++
      return Int32Array.from([9])
    })
    expect(calls).toBe(0)
    expect(out.items).toBe(q.items)
    expect(out.cursor).toBe(1)
  })

  it("prepends the unread remainder to the refill and resets the cursor", () => {
    const q = queue([5, 6, 7, 8], 3)
    const out = Columns.ensureAvailable(q, 2, () => Int32Array.from([0, 1, 2]))
    expect(Array.from(out.items)).toEqual([8, 0, 1, 2])
    expect(out.cursor).toBe(0)
    // the input queue is not mutated
    expect(Array.from(q.items)).toEqual([5, 6, 7, 8])
    expect(q.cursor).toBe(3)
  })

  it("refills repeatedly until `count` items are available", () => {
    let calls = 0
    const out = Columns.ensureAvailable(queue([4], 0), 6, () => Int32Array.from([calls++, 10 + calls]))
    expect(calls).toBe(3)
    expect(Array.from(out.items)).toEqual([4, 0, 11, 1, 12, 2, 13])
  })

  it("stops on an empty refill instead of looping forever", () => {
    let calls = 0
    const out = Columns.ensureAvailable(queue([1, 2], 1), 5, () => {
      calls++
      return new Int32Array(0)
    })
    expect(calls).toBe(1)
    expect(Array.from(out.items.subarray(out.cursor))).toEqual([2])
  })
})

describe("Baselines.random", () => {
  it.effect("an epoch's full batches are disjoint and cover N − (N mod B) problems", () =>
    Effect.gen(function*() {
      const n = 23
      const b = 5
      const seed = 3
      const c = yield* Baselines.random().build(context(flat(n), seed, b))
      const epoch = yield* batches(c, seed, 0, Math.floor(n / b), b)
      const all = epoch.flat()
      epoch.forEach((batch) => expect(batch.length).toBe(b))
      expect(new Set(all).size).toBe(all.length)
      expect(all.length).toBe(n - (n % b))
      all.forEach((i) => expect(i >= 0 && i < n).toBe(true))

      // across the boundary: the unserved remainder comes first, then a fresh shuffle
      const leftover = range(0, n).filter((i) => !all.includes(i))
      expect(leftover.length).toBe(n % b)
      const next = yield* batches(c, seed, Math.floor(n / b), Math.floor(n / b) + 6, b)
      const stream = next.flat()
      expect(sorted(stream.slice(0, leftover.length))).toEqual(leftover)
      // the next N items after the remainder are one full permutation
      expect(sorted(stream.slice(leftover.length, leftover.length + n))).toEqual(range(0, n))
    }))

  it.effect("B > N still returns B indices, repeating only after each full pass", () =>
    Effect.gen(function*() {
      const n = 4
      const b = 10
      const seed = 8
      const c = yield* Baselines.random().build(context(flat(n), seed, b))
      const stream = (yield* batches(c, seed, 0, 4, b)).flat()
      expect(stream.length).toBe(40)
      for (let k = 0; k + n <= stream.length; k += n) expect(sorted(stream.slice(k, k + n))).toEqual(range(0, n))
    }))

  it.effect("B ≫ N: the passes refilled within one step are fresh shuffles, not one shuffle repeated", () =>
    Effect.gen(function*() {
      const n = 8
      const b = 64
      const seed = 5
      const c = yield* Baselines.random().build(context(flat(n), seed, b))
      const stream = (yield* batches(c, seed, 0, 1, b)).flat()
      const passes = new Set(Array.from({ length: b / n }, (_, k) => stream.slice(k * n, (k + 1) * n).join(",")))
      expect(passes.size).toBeGreaterThan(4)
    }))

  it.effect("is deterministic per seed and differs across seeds", () =>
    Effect.gen(function*() {
      const ds = flat(30)
      const run = (seed: number) =>
        Effect.flatMap(Baselines.random().build(context(ds, seed, 4)), (c) => batches(c, seed, 0, 20, 4))
      const a = yield* run(1)
      expect(yield* run(1)).toEqual(a)
      expect(yield* run(2)).not.toEqual(a)
    }))

  it.effect("snapshot → JSON → restore continues identically", () =>
    Effect.gen(function*() {
      const ds = flat(17)
      const seed = 12
      const original = yield* Baselines.random().build(context(ds, seed, 4))
      yield* batches(original, seed, 0, 6, 4)
      const saved = JSON.parse(JSON.stringify(original.snapshot()))
      const resumed = yield* Baselines.random().build(context(ds, seed, 4))
      yield* resumed.restore(saved)
      const a = yield* batches(original, seed, 6, 20, 4)
      const b = yield* batches(resumed, seed, 6, 20, 4)
      expect(b).toEqual(a)
      // a fresh curriculum at the same steps would not match
      const fresh = yield* Baselines.random().build(context(ds, seed, 4))
      expect(yield* batches(fresh, seed, 6, 20, 4)).not.toEqual(a)
    }))

  it.effect("restoring garbage fails with CheckpointError", () =>
    Effect.gen(function*() {
      const c = yield* Baselines.random().build(context(flat(5), 1, 2))
      const e = yield* Effect.flip(c.restore({ queue: { items: 3, cursor: "x" } }))
      expect(e).toBeInstanceOf(CheckpointError)
      expect(e.path).toContain("random")
    }))
})

describe("Baselines.ordered", () => {
  // levels interleaved in the dataset: 3 problems at level 1, 5 at 2, 2 at 3
  const levels = [2, 1, 3, 2, 2, 1, 3, 2, 1, 2]
  const ds = dataset(levels)
  const levelOf = (i: number) => levels[i]!
  const sizeOf = (level: number) => levels.filter((l) => l === level).length

  it.effect("with steps·B ≤ N serves every problem once, easy to hard", () =>
    Effect.gen(function*() {
      const seed = 5
      const c = yield* Baselines.ordered().build(context(ds, seed, 2, 5))
      const bs = yield* batches(c, seed, 0, 5, 2)
      const stream = bs.flat()
      expect(sorted(stream)).toEqual(range(0, 10))
      for (let k = 1; k < stream.length; k++) {
        expect(levelOf(stream[k]!)).toBeGreaterThanOrEqual(levelOf(stream[k - 1]!))
      }
      // past the end the order starts over
      const again = yield* batches(c, seed, 5, 10, 2)
      expect(again.flat()).toEqual(stream)
    }))

  it.effect("with steps·B > N each level ℓ gets ⌈|X_ℓ|·growth⌉ items and the pass spans the budget", () =>
    Effect.gen(function*() {
      const seed = 9
      const b = 4
      const steps = 7
      // growth = 7·4/10 = 2.8 → ⌈3·2.8⌉ = 9, ⌈5·2.8⌉ = 14, ⌈2·2.8⌉ = 6
      const expected = new Map([[1, 9], [2, 14], [3, 6]])
      const c = yield* Baselines.ordered().build(context(ds, seed, b, steps))
      const order = Array.from(
        Schema.decodeUnknownSync(OrderedSnapshot)((c.snapshot() as { ordered: { state: unknown } }).ordered.state).order
      )
      expect(order.length).toBe(29)
      expect(order.length).toBeGreaterThanOrEqual(steps * b)
      for (const [level, count] of expected) expect(order.filter((i) => levelOf(i) === level).length).toBe(count)
      for (let k = 1; k < order.length; k++) expect(levelOf(order[k]!)).toBeGreaterThanOrEqual(levelOf(order[k - 1]!))
      // within a level, repeats come from shuffled copies: each |X_ℓ| chunk is a permutation of the level
      let offset = 0
      for (const level of [1, 2, 3]) {
        const block = order.slice(offset, offset + expected.get(level)!)
        offset += block.length
        const members = range(0, 10).filter((i) => levelOf(i) === level)
        const size = sizeOf(level)
        for (let k = 0; k < block.length; k += size) {
          const chunk = block.slice(k, k + size)
          expect(new Set(chunk).size).toBe(chunk.length)
          if (chunk.length === size) expect(sorted(chunk)).toEqual(members)
        }
      }
      // the batches are consecutive slices of the order: levels never decrease over the budget
      const stream = (yield* batches(c, seed, 0, steps, b)).flat()
      expect(stream).toEqual(order.slice(0, steps * b))
      // and the last item of the pass wraps into the start of the next
      expect(yield* select(c, seed, steps, b)).toEqual([order[28]!, order[0]!, order[1]!, order[2]!])
    }))

  it.effect("the random tie-break depends on the seed", () =>
    Effect.gen(function*() {
      const run = (seed: number) =>
        Effect.flatMap(Baselines.ordered().build(context(ds, seed, 5, 2)), (c) => batches(c, seed, 0, 2, 5))
      const a = yield* run(1)
      expect(yield* run(1)).toEqual(a)
      const others = yield* Effect.forEach([2, 3, 4, 5], run)
      expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true)
    }))

  it.effect("snapshot → JSON → restore continues identically", () =>
    Effect.gen(function*() {
      const seed = 2
      const original = yield* Baselines.ordered().build(context(ds, seed, 3, 9))
      yield* batches(original, seed, 0, 4, 3)
      const saved = JSON.parse(JSON.stringify(original.snapshot()))
      const resumed = yield* Baselines.ordered().build(context(ds, seed, 3, 9))
      yield* resumed.restore(saved)
      const a = yield* batches(original, seed, 4, 12, 3)
      expect(yield* batches(resumed, seed, 4, 12, 3)).toEqual(a)
      const fresh = yield* Baselines.ordered().build(context(ds, seed, 3, 9))
      expect(yield* batches(fresh, seed, 4, 12, 3)).not.toEqual(a)
      const e = yield* Effect.flip(resumed.restore({ order: "AAAA", cursor: 0.5 }))
      expect(e).toBeInstanceOf(CheckpointError)
    }))
})
