import { describe, expect, it } from "@effect/vitest"
import { ConfigError } from "@zpd/core/Errors"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Difficulty from "../src/Difficulty.ts"
import { problem, scriptedRuntime, verifier } from "./support/scripted.ts"

// ---------------------------------------------------------------------------
// fixtures: a runtime whose problem i solves exactly round(p_i · n) of n samples

const shared = { verifier, seed: 3 }

// ---------------------------------------------------------------------------

describe("Difficulty.fine", () => {
  it.effect("difficulty = 1 − c/N, keeps 0.05 ≤ d ≤ 0.95 with the bounds included, sorts easy → hard stably", () =>
    Effect.gen(function*() {
      const { layer, requests } = scriptedRuntime()
      // p: 1 → d 0 (dropped); 0.95 → d 0.05 (kept); 0.5; 0.05 → d 0.95 (kept); 0 → d 1 (dropped); 0.5 tie
      const ps = [1, 0.95, 0.5, 0.05, 0, 0.5, 0.8]
      const problems = ps.map((p, i) => problem(`q${i}`, p))
      const result = yield* Difficulty.fine(problems, { ...shared, fine: { samples: 100 }, chunkSize: 3 }).pipe(
        Effect.provide(layer)
      )
      expect(Array.from(result.difficulty)).toEqual(ps.map((p) => Difficulty.difficultyOf(Math.round(p * 100), 100)))
      expect(result.difficulty[1]).toBe(0.05)
      expect(result.difficulty[3]).toBe(0.95)
      // kept: q1 (0.05), q6 (0.2), q2 (0.5), q5 (0.5, after q2: stable), q3 (0.95)
      expect(Array.from(result.order)).toEqual([1, 6, 2, 5, 3])
      expect(result.rollouts).toBe(7 * 100)
      // 3 requests of ≤ 3 prompts, n = N, seeded per chunk
      expect(requests.map((r) => r.prompts.length)).toEqual([3, 3, 1])
      expect(requests.every((r) => r.n === 100)).toBe(true)
      expect(new Set(requests.map((r) => r.sampling.seed)).size).toBe(3)
      expect(requests[0]!.sampling.seed).toBe(Rng.deriveSeed(3, 0, "difficulty-fine"))
    }))

  it.effect("N < 1 and a bad keep range fail with a ConfigError naming the field", () =>
    Effect.gen(function*() {
      const { layer } = scriptedRuntime()
      for (const samples of [0, -3, 2.5]) {
        const e = yield* Difficulty.fine([problem("a", 0.5)], { ...shared, field: "adacurl", fine: { samples } }).pipe(
          Effect.provide(layer),
          Effect.flip
        )
        expect(e).toBeInstanceOf(ConfigError)
        expect((e as ConfigError).field).toBe("adacurl.fine.samples")
        expect(e.message).toContain(String(samples))
      }
      const e = yield* Difficulty.fine([problem("a", 0.5)], { ...shared, fine: { keep: [0.9, 0.1] } }).pipe(
        Effect.provide(layer),
        Effect.flip
      )
      expect((e as ConfigError).field).toBe("difficulty.fine.keep")
    }))
})

describe("Difficulty.buckets", () => {
  it("K contiguous slices ⌊(k−1)|D|/K⌋..⌊k|D|/K⌋ partition D in order, sizes within 1", () => {
    for (const size of [3, 7, 10, 100, 101]) {
      for (const k of [1, 2, 3, 4]) {
        if (k > size) continue
        const bounds = Difficulty.buckets(size, k)
        expect(bounds.length).toBe(k + 1)
        expect(bounds[0]).toBe(0)
        expect(bounds[k]).toBe(size)
        const sizes = Array.from({ length: k }, (_, j) => bounds[j + 1]! - bounds[j]!)
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
        expect(Math.min(...sizes)).toBeGreaterThan(0)
        sizes.forEach((_, j) => expect(bounds[j + 1]).toBe(Math.floor(((j + 1) * size) / k)))
      }
    }
    expect(Array.from(Difficulty.buckets(10, 3))).toEqual([0, 3, 6, 10])
  })

  it.effect("estimate + buckets + tagBuckets: every kept item is in exactly one bucket, buckets ordered by difficulty", () =>
    Effect.gen(function*() {
      const { layer } = scriptedRuntime()
      const rng = new Rng.Rng(9)
      const problems = Array.from({ length: 60 }, (_, i) => problem(`q${i}`, Math.round(rng.next() * 20) / 20))
      const estimate = yield* Difficulty.estimate(problems, { ...shared, fine: { samples: 20 } }).pipe(
        Effect.provide(layer)
      )
      const bounds = Difficulty.buckets(estimate.order.length, 4)
      const tagged = Difficulty.tagBuckets(Problem.make("t", problems), estimate.order, bounds)
      const kept = new Set(estimate.order)
      const byBucket: Array<Array<number>> = [[], [], [], [], []]
      tagged.problems.forEach((p, i) => {
        const b = p.metadata["bucket"] as number
        expect(b === 0).toBe(!kept.has(i))
        byBucket[b]!.push(estimate.difficulty[i]!)
      })
      expect(byBucket.slice(1).reduce((n, b) => n + b.length, 0)).toBe(estimate.order.length)
      for (let k = 1; k < 4; k++) expect(Math.max(...byBucket[k]!)).toBeLessThanOrEqual(Math.min(...byBucket[k + 1]!))
      for (let j = 1; j < estimate.order.length; j++) {
        expect(estimate.difficulty[estimate.order[j]!]!).toBeGreaterThanOrEqual(
          estimate.difficulty[estimate.order[j - 1]!]!
        )
      }
    }))
})

describe("Difficulty.coarse", () => {
  // 5 samples: p ∈ {0, 0.2, …, 1} gives exactly c = 5p correct
  const pool = (perSource: Record<string, ReadonlyArray<number>>) =>
    Object.entries(perSource).flatMap(([family, counts]) =>
      counts.map((c, i) => problem(`${family}-${i}`, c / 5, family))
    )

  it.effect("5 samples per item, bins {0,1}/{2,3}/{4,5}, fractional quotas n_k = ⌊ρ_k |G_k|⌋", () =>
    Effect.gen(function*() {
      const { layer, requests } = scriptedRuntime()
      const problems = pool({ a: [0, 1, 2, 3, 4, 5, 0, 1, 5, 5] })
      const result = yield* Difficulty.coarse(problems, {
        ...shared,
        coarse: { quotas: { fractions: [0.5, 1, 0.34] } }
      }).pipe(Effect.provide(layer))
      expect(requests.every((r) => r.n === 5)).toBe(true)
      expect(result.rollouts).toBe(50)
      expect(Array.from(result.counts)).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 5, 5])
      expect(Array.from(result.bins)).toEqual([0, 0, 1, 1, 2, 2, 0, 0, 2, 2])
      const selectedBins = Array.from(result.selected, (i) => result.bins[i]!)
      // |G1| = 4 → 2, |G2| = 2 → 2, |G3| = 4 → ⌊1.36⌋ = 1
      expect(selectedBins.filter((b) => b === 0)).toHaveLength(2)
      expect(selectedBins.filter((b) => b === 1)).toHaveLength(2)
      expect(selectedBins.filter((b) => b === 2)).toHaveLength(1)
      expect(Array.from(result.selected)).toEqual(Array.from(result.selected).sort((a, b) => a - b))
    }))

  it("selectByQuota spreads a quota evenly over sources and hands unfilled shares round-robin", () => {
    // bin 0 holds 1 item of a, 5 of b, 5 of c; a quota of 9 over 3 sources: 3/3/3, a has 1 → 2 left → b, c
    const sources = ["a", ...Array(5).fill("b"), ...Array(5).fill("c")]
    const bins = new Int32Array(11)
    const selected = Difficulty.selectByQuota(
      bins,
      sources,
      { intervals: [[0, 5]], quotas: { counts: [9] }, perSource: "even", overflow: "error" },
      new Rng.Rng(1)
    )
    if (selected instanceof ConfigError) throw selected
    const count = (s: string) => Array.from(selected).filter((i) => sources[i] === s).length
    expect([count("a"), count("b"), count("c")]).toEqual([1, 4, 4])
    // 7 over 3 sources with plenty each: 3/2/2 (remainder to the first source in sorted order)
    const many = [...Array(5).fill("b"), ...Array(5).fill("a"), ...Array(5).fill("c")]
    const seven = Difficulty.selectByQuota(
      new Int32Array(15),
      many,
      { intervals: [[0, 5]], quotas: { counts: [7] }, perSource: "even", overflow: "error" },
      new Rng.Rng(2)
    )
    if (seven instanceof ConfigError) throw seven
    const c2 = (s: string) => Array.from(seven).filter((i) => many[i] === s).length
    expect([c2("a"), c2("b"), c2("c")]).toEqual([3, 2, 2])
  })

  it("absolute quotas above a bin's size fail naming the quota, or are capped with overflow: cap", () => {
    const bins = Int32Array.from([0, 0, 1])
    const options = { intervals: [[0, 1], [2, 3]] as const, quotas: { counts: [2, 2] }, perSource: "none" as const }
    const e = Difficulty.selectByQuota(
      bins,
      ["a", "a", "a"],
      { ...options, overflow: "error" },
      new Rng.Rng(1),
      "adacurl"
    )
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as ConfigError).field).toBe("adacurl.coarse.quotas.counts[1]")
    expect((e as ConfigError).message).toMatch(/at most 1.*interval 2.*got 2/)
    const capped = Difficulty.selectByQuota(bins, ["a", "a", "a"], { ...options, overflow: "cap" }, new Rng.Rng(1))
    expect(Array.from(capped as Int32Array)).toEqual([0, 1, 2])
  })

  it("validation names the field: fractions over 100%, bad intervals, quota count mismatch", () => {
    const base = Difficulty.coarseDefaults
    const field = (options: Partial<Difficulty.CoarseOptions>) =>
      Difficulty.validateCoarse({ ...base, ...options }, "adacurl")?.field
    expect(field({ quotas: { fractions: [0.5, 1.2, 0.1] } })).toBe("adacurl.coarse.quotas.fractions[1]")
    expect(field({ quotas: { fractions: [-0.1, 1, 1] } })).toBe("adacurl.coarse.quotas.fractions[0]")
    expect(field({ quotas: { counts: [1, 2] } })).toBe("adacurl.coarse.quotas.counts")
    expect(field({ quotas: { counts: [1, 2, 2.5] } })).toBe("adacurl.coarse.quotas.counts[2]")
    expect(field({ intervals: [[0, 1], [1, 3]] })).toBe("adacurl.coarse.intervals[1]")
    expect(field({ intervals: [[0, 6]] })).toBe("adacurl.coarse.intervals[0]")
    expect(field({ samples: 0 })).toBe("adacurl.coarse.samples")
    expect(field({})).toBeUndefined()
    const over = Difficulty.validateCoarse({ ...base, quotas: { fractions: [1, 1.5, 1] } })!
    expect(over.message).toMatch(/at most 100%.*1\.5/)
  })

  it.effect("estimate with a coarse stage runs the fine stage only on the selection and reports both stages' rollouts", () =>
    Effect.gen(function*() {
      const { layer, requests } = scriptedRuntime()
      const problems = pool({ a: [0, 1, 2, 3, 4, 5], b: [2, 3, 2, 3, 4, 1] })
      const estimate = yield* Difficulty.estimate(problems, {
        ...shared,
        coarse: { quotas: { fractions: [0, 1, 0] } },
        fine: { samples: 10, keep: [0, 1] }
      }).pipe(Effect.provide(layer))
      const medium = problems.flatMap((
        p,
        i
      ) => ((p.metadata["p"] as number) * 5 >= 2 && (p.metadata["p"] as number) * 5 <= 3 ? [i] : []))
      expect(new Set(estimate.order)).toEqual(new Set(medium))
      expect(estimate.rollouts).toBe(12 * 5 + medium.length * 10)
      expect(requests.map((r) => r.n)).toEqual([5, 10])
      problems.forEach((_, i) => expect(Number.isNaN(estimate.difficulty[i]!)).toBe(!medium.includes(i)))
    }))
})
