import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as OrderedIndex from "../src/OrderedIndex.ts"

/** Brute-force reference: all (key, id) pairs sorted by key, then id. */
const sortedPairs = (keys: Map<number, number>): Array<[number, number]> =>
  Array.from(keys, ([id, key]) => [key, id] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1])

const contents = (index: OrderedIndex.OrderedIndex): Array<[number, number]> => {
  const out: Array<[number, number]> = []
  index.forEach((k, id) => out.push([k, id]))
  return out
}

const refAbove = (keys: Map<number, number>, pivot: number, count: number, skip: Set<number>) =>
  sortedPairs(keys).filter(([k, id]) => k > pivot && !skip.has(id)).slice(0, count).map(([, id]) => id)

/** Key descending, ties by id ascending: Python's `sorted(xs, key=lambda x: -x[1])`. */
const refAtOrBelow = (keys: Map<number, number>, pivot: number, count: number, skip: Set<number>) =>
  sortedPairs(keys)
    .filter(([k, id]) => k <= pivot && !skip.has(id))
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, count)
    .map(([, id]) => id)

describe("argsort", () => {
  it("sorts by key, ties by position, across signs, zeros and infinities", () => {
    const keys = Float64Array.from([0.5, -0, 0, -1e-300, 1e300, -Infinity, Infinity, 0.5, -2, 3, 0])
    const order = Array.from(OrderedIndex.argsort(keys))
    const expected = Array.from(keys.keys()).sort((a, b) => (keys[a]! - keys[b]!) || a - b)
    // −Infinity − −Infinity is NaN in the comparator, so compare through the sorted keys and stability.
    expect(order.map((i) => keys[i]! + 0)).toEqual(expected.map((i) => keys[i]! + 0))
    expect(order).toEqual([5, 8, 3, 1, 2, 10, 0, 7, 9, 4, 6])
  })

  it("equals a stable comparison sort on random keys with many ties", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.oneof(FastCheck.integer({ min: -3, max: 3 }), FastCheck.double({ noNaN: true })), {
          maxLength: 300
        }),
        (xs) => {
          const keys = Float64Array.from(xs)
          const ref = Array.from(keys.keys()).sort((
            a,
            b
          ) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b))
          expect(Array.from(OrderedIndex.argsort(keys))).toEqual(ref)
        }
      )
    )
  })

  it("rejects NaN", () => {
    expect(() => OrderedIndex.argsort(Float64Array.from([1, Number.NaN]))).toThrow(/NaN/)
  })
})

describe("OrderedIndex", () => {
  it("build keys ids 0..N−1 by key, ties by id, in blocks at least half full", () => {
    const keys = Float64Array.from({ length: 1000 }, (_, i) => (i * 7919) % 13)
    const index = OrderedIndex.OrderedIndex.build(keys, 16)
    const ref = new Map(Array.from(keys, (k, i) => [i, k] as [number, number]))
    expect(contents(index)).toEqual(sortedPairs(ref))
    expect(index.size).toBe(1000)
    expect(index.check()).toBeUndefined()
    // At most two bytes of capacity for each used byte: 12 bytes a pair.
    expect(index.byteSize()).toBeLessThanOrEqual(2 * 12 * 1000)
  })

  it("build leaves every block at least half full, whatever N (regression: N = 13, b = 16 gave 7 + 6)", () => {
    for (const blockSize of [4, 5, 8, 16, 512]) {
      for (let n = 0; n <= 3 * blockSize + 1; n++) {
        const index = OrderedIndex.OrderedIndex.build(
          Float64Array.from({ length: n }, (_, i) => (i * 7) % 5),
          blockSize
        )
        expect(index.check()).toBeUndefined()
        expect(index.size).toBe(n)
      }
    }
  })

  it("fromSorted refuses unsorted or duplicate pairs", () => {
    expect(() => OrderedIndex.OrderedIndex.fromSorted([1, 0], [0, 1])).toThrow(/ascending/)
    expect(() => OrderedIndex.OrderedIndex.fromSorted([1, 1], [2, 2])).toThrow(/ascending/)
    expect(() => OrderedIndex.OrderedIndex.fromSorted([1], [0, 1])).toThrow(/ids/)
  })

  it("insert / remove / nearest queries match a brute-force sort under random operations", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 0, max: 2 ** 31 - 1 }),
        FastCheck.integer({ min: 1, max: 400 }),
        FastCheck.constantFrom(4, 5, 8, 16),
        (seed, n, blockSize) => {
          let s = seed
          const rand = () => {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0
            return s / 4294967296
          }
          // Keys on a coarse grid, so ties are common.
          const key = () => Math.round(rand() * 20 - 10) / 4 + 0
          const keys = new Map<number, number>()
          const initial = Float64Array.from({ length: n }, () => key())
          initial.forEach((k, i) => keys.set(i, k))
          const index = OrderedIndex.OrderedIndex.build(initial, blockSize)
          for (let op = 0; op < 200; op++) {
            const id = Math.floor(rand() * (n + 5))
            const old = keys.get(id)
            if (old !== undefined && rand() < 0.3) {
              expect(index.remove(old, id)).toBe(true)
              expect(index.remove(old, id)).toBe(false)
              keys.delete(id)
            } else {
              if (old !== undefined) expect(index.remove(old, id)).toBe(true)
              const k = key()
              index.insert(k, id)
              keys.set(id, k)
            }
            const problem = index.check()
            if (problem !== undefined) throw new Error(problem)
            if (op % 20 === 0) {
              expect(contents(index)).toEqual(sortedPairs(keys))
              const pivot = key() + (rand() < 0.5 ? 0 : 0.1)
              const count = Math.floor(rand() * 12)
              const skip = new Set(Array.from({ length: 3 }, () => Math.floor(rand() * n)))
              expect(index.nearestAbove(pivot, count, (i) => skip.has(i))).toEqual(refAbove(keys, pivot, count, skip))
              expect(index.nearestAtOrBelow(pivot, count, (i) => skip.has(i))).toEqual(
                refAtOrBelow(keys, pivot, count, skip)
              )
            }
          }
          expect(index.size).toBe(keys.size)
          expect(contents(index)).toEqual(sortedPairs(keys))
        }
      ),
      { numRuns: 60 }
    )
  })

  it("treats −0 and 0 as one key and rejects NaN", () => {
    const index = OrderedIndex.OrderedIndex.empty(4)
    index.insert(-0, 1)
    index.insert(0, 0)
    expect(contents(index).map(([, id]) => id)).toEqual([0, 1])
    expect(index.has(0, 1)).toBe(true)
    expect(index.remove(0, 1)).toBe(true)
    expect(index.nearestAtOrBelow(0, 5)).toEqual([0])
    expect(index.nearestAbove(-0, 5)).toEqual([])
    expect(() => index.insert(Number.NaN, 3)).toThrow(/NaN/)
  })

  it("a long run of equal keys is served from its lowest ids on the lower side", () => {
    const index = OrderedIndex.OrderedIndex.build(new Float64Array(100), 8)
    expect(index.nearestAtOrBelow(0, 5)).toEqual([0, 1, 2, 3, 4])
    expect(index.nearestAbove(-1, 3)).toEqual([0, 1, 2])
    expect(index.nearestAbove(0, 3)).toEqual([])
  })
})
