import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Rng from "../src/Rng.ts"

const draws = (rng: Rng.Rng, n: number): Array<number> => Array.from({ length: n }, () => rng.next())

describe("Rng streams", () => {
  it("the same (seed, step, label) gives the same sequence", () => {
    expect(draws(Rng.make(7, 3, "select"), 100)).toEqual(draws(Rng.make(7, 3, "select"), 100))
    expect(Rng.deriveSeed(7, 3, "select")).toBe(Rng.deriveSeed(7, 3, "select"))
  })

  it("a different label, step or seed gives a different sequence", () => {
    const base = draws(Rng.make(7, 3, "select"), 20)
    expect(draws(Rng.make(7, 3, "rollout-0"), 20)).not.toEqual(base)
    expect(draws(Rng.make(7, 4, "select"), 20)).not.toEqual(base)
    expect(draws(Rng.make(8, 3, "select"), 20)).not.toEqual(base)
    expect(draws(Rng.make(7, 3, "selecT"), 20)).not.toEqual(base)
  })

  it("derived seeds are distinct 32-bit unsigned integers across many (seed, step, label)", () => {
    const seen = new Set<number>()
    let count = 0
    for (let seed = 0; seed < 10; seed++) {
      for (let step = 0; step < 200; step++) {
        for (const label of ["select", "rollout-0", "rollout-1", "eval"]) {
          const s = Rng.deriveSeed(seed, step, label)
          expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true)
          seen.add(s)
          count++
        }
      }
    }
    expect(seen.size).toBe(count)
  })

  it("negative and large seeds are accepted and distinct", () => {
    const a = Rng.deriveSeed(-1, 0, "x")
    // −1 and 2^32 − 1 share their low 32 bits; seeds are folded with their high bits, so they differ.
    expect(Rng.deriveSeed(2 ** 32 - 1, 0, "x")).not.toBe(a)
    expect(Rng.deriveSeed(2 ** 32, 0, "x")).not.toBe(Rng.deriveSeed(0, 0, "x"))
    expect(Rng.deriveSeed(-2, 0, "x")).not.toBe(a)
  })

  it("hashString is FNV-1a and mix32 is a bijection fixing 0", () => {
    expect(Rng.hashString("")).toBe(0x811c9dc5)
    expect(Rng.hashString("a")).toBe(0xe40c292c)
    expect(Rng.hashString("foobar")).toBe(0xbf9cf968)
    expect(Rng.mix32(0)).toBe(0)
    const outs = new Set<number>()
    for (let i = 0; i < 100_000; i++) outs.add(Rng.mix32(i))
    expect(outs.size).toBe(100_000)
  })
})

describe("Rng draws", () => {
  it("next() is uniform in [0, 1)", () => {
    const xs = draws(Rng.make(1, 1, "u"), 20_000)
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true)
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01)
  })

  it("int(n) is an integer in [0, n) and hits every value", () => {
    const rng = Rng.make(2, 0, "int")
    for (const n of [1, 2, 3, 7, 10, 1000]) {
      const hits = new Set<number>()
      for (let i = 0; i < 20 * n + 100; i++) {
        const k = rng.int(n)
        expect(Number.isInteger(k)).toBe(true)
        expect(k).toBeGreaterThanOrEqual(0)
        expect(k).toBeLessThan(n)
        hits.add(k)
      }
      if (n <= 10) expect(hits.size).toBe(n)
    }
  })

  it("permutation(n) is a permutation of 0..n−1, and is seeded", () => {
    for (const n of [0, 1, 2, 5, 100, 1000]) {
      const p = Rng.make(3, n, "perm").permutation(n)
      expect(p).toBeInstanceOf(Int32Array)
      expect(p).toHaveLength(n)
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i))
    }
    const a = Rng.make(3, 0, "perm").permutation(50)
    expect(Array.from(Rng.make(3, 0, "perm").permutation(50))).toEqual(Array.from(a))
    expect(Array.from(Rng.make(4, 0, "perm").permutation(50))).not.toEqual(Array.from(a))
    expect(Array.from(a)).not.toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it("shuffle works in place and keeps the multiset", () => {
    const xs = [5, 5, 1, 2, 3, 9, 9, 9]
    const out = Rng.make(9, 9, "shuffle").shuffle(xs)
    expect(out).toBe(xs)
    expect([...out].sort()).toEqual([1, 2, 3, 5, 5, 9, 9, 9])
  })

  it("every position of a permutation is roughly uniform", () => {
    const n = 5
    const trials = 20_000
    const counts = Array.from({ length: n }, () => new Array<number>(n).fill(0))
    for (let t = 0; t < trials; t++) {
      const p = Rng.make(11, t, "uniformity").permutation(n)
      for (let i = 0; i < n; i++) counts[i]![p[i]!]!++
    }
    for (const row of counts) for (const c of row) expect(Math.abs(c / trials - 1 / n)).toBeLessThan(0.015)
  })

  it("normal() has mean ≈ 0 and variance ≈ 1 over 20k draws, and is reproducible", () => {
    const rng = Rng.make(5, 0, "normal")
    const xs = Array.from({ length: 20_000 }, () => rng.normal())
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)
    expect(Math.abs(mean)).toBeLessThan(0.03)
    expect(Math.abs(variance - 1)).toBeLessThan(0.05)
    // Roughly 68% within one standard deviation.
    const within = xs.filter((x) => Math.abs(x) < 1).length / xs.length
    expect(Math.abs(within - 0.6827)).toBeLessThan(0.02)
    const again = Rng.make(5, 0, "normal")
    expect(Array.from({ length: 10 }, () => again.normal())).toEqual(xs.slice(0, 10))
  })

  it.effect("withStepRandom seeds Effect's Random service reproducibly", () =>
    Effect.gen(function*() {
      const sample = Effect.all([Random.next, Random.next, Random.nextIntBetween(0, 1000)])
      const a = yield* sample.pipe(Rng.withStepRandom(1, 2, "custom"))
      const b = yield* sample.pipe(Rng.withStepRandom(1, 2, "custom"))
      const c = yield* sample.pipe(Rng.withStepRandom(1, 3, "custom"))
      expect(a).toEqual(b)
      expect(a).not.toEqual(c)
    }))
})
