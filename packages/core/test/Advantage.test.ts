import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Advantage from "../src/Advantage.ts"

/** G binary rewards with the first k correct. */
const binary = (G: number, k: number): Float64Array => {
  const r = new Float64Array(G)
  for (let i = 0; i < k; i++) r[i] = 1
  return r
}

const grpo = (std: "unbiased" | "population"): Advantage.AdvantageOptions => ({
  estimator: "grpo",
  epsilon: 1e-6,
  std
})

const sum = (xs: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]!
  return s
}

const rewardsArb = FastCheck.array(FastCheck.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), {
  minLength: 2,
  maxLength: 32
})

describe("Advantage spec vectors (G = 8, binary rewards)", () => {
  it("GRPO with unbiased std: mean|Â| = 0.93541 at k=4 and 0.81009 at k=2", () => {
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 4), grpo("unbiased")))).toBeCloseTo(0.93541, 5)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 2), grpo("unbiased")))).toBeCloseTo(0.81009, 5)
  })

  it("defaults are GRPO, unbiased std, ε = 1e-6", () => {
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 4)))).toBeCloseTo(0.93541, 5)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 2)))).toBeCloseTo(0.81009, 5)
  })

  it("GRPO with population std: mean|Â| = 1.0 at k=4 and 0.86603 at k=2", () => {
    // The population vectors are the ε-free values (0.5/0.5 and 0.375/0.43301); with ε = 1e-6
    // the k=2 value is 0.8660234, which differs from 0.86603 in the 5th digit.
    const noEps: Advantage.AdvantageOptions = { estimator: "grpo", epsilon: 0, std: "population" }
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 4), noEps))).toBeCloseTo(1.0, 5)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 2), noEps))).toBeCloseTo(0.86603, 5)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 4), grpo("population")))).toBeCloseTo(1.0, 5)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 2), grpo("population")))).toBeCloseTo(0.86603, 4)
    expect(Advantage.meanAbs(Advantage.groupAdvantages(binary(8, 2), grpo("population")))).toBeCloseTo(
      0.375 / (Math.sqrt(0.1875) + 1e-6),
      12
    )
  })

  it("GRPO advantages of correct and incorrect completions at k=2", () => {
    const a = Advantage.groupAdvantages(binary(8, 2), grpo("unbiased"))
    const s = Math.sqrt((2 * 0.75 ** 2 + 6 * 0.25 ** 2) / 7)
    expect(a[0]).toBeCloseTo(0.75 / (s + 1e-6), 12)
    expect(a[1]).toBeCloseTo(0.75 / (s + 1e-6), 12)
    for (let i = 2; i < 8; i++) expect(a[i]).toBeCloseTo(-0.25 / (s + 1e-6), 12)
  })

  it("k = 0 and k = G give all-zero advantages, never NaN", () => {
    for (const estimator of ["grpo", "rloo", "mean"] as const) {
      for (const std of ["unbiased", "population"] as const) {
        for (const k of [0, 8]) {
          const a = Advantage.groupAdvantages(binary(8, k), { estimator, epsilon: 1e-6, std })
          expect(a).toHaveLength(8)
          for (const x of a) {
            expect(Number.isNaN(x)).toBe(false)
            expect(x).toBe(0)
          }
        }
      }
    }
  })

  it("a group of size 1 gets Â = r (verl: mean 0, std 1)", () => {
    for (const estimator of ["grpo", "rloo", "mean"] as const) {
      const a = Advantage.groupAdvantages([0.7], { estimator, epsilon: 1e-6, std: "unbiased" })
      expect(Array.from(a)).toEqual([0.7])
      const z = Advantage.groupAdvantages([0], { estimator, epsilon: 1e-6, std: "unbiased" })
      expect(Array.from(z)).toEqual([0])
    }
  })

  it("an empty group gives an empty array", () => {
    expect(Advantage.groupAdvantages([])).toHaveLength(0)
    expect(Advantage.mean([])).toBe(0)
    expect(Advantage.meanAbs([])).toBe(0)
  })
})

describe("Advantage estimators", () => {
  it("RLOO equals r_i minus the mean of the other rewards", () => {
    const r = [1, 0, 0.5, 0.25, 1, 0]
    const a = Advantage.groupAdvantages(r, { estimator: "rloo", epsilon: 1e-6, std: "unbiased" })
    r.forEach((ri, i) => {
      const others = r.filter((_, j) => j !== i)
      expect(a[i]).toBeCloseTo(ri - sum(others) / others.length, 12)
    })
  })

  it("RLOO leave-one-out identity holds on random groups", () => {
    FastCheck.assert(
      FastCheck.property(rewardsArb, (r) => {
        const a = Advantage.groupAdvantages(r, { estimator: "rloo", epsilon: 1e-6, std: "unbiased" })
        const total = sum(r)
        r.forEach((ri, i) => {
          const baseline = (total - ri) / (r.length - 1)
          expect(Math.abs(a[i]! - (ri - baseline))).toBeLessThan(1e-9)
        })
      })
    )
  })

  it("mean estimator is r − mean, without std normalisation", () => {
    const r = [3, 1, 2, 6]
    const a = Advantage.groupAdvantages(r, { estimator: "mean", epsilon: 1e-6, std: "unbiased" })
    expect(Array.from(a)).toEqual([0, -2, -1, 3])
  })

  it("advantages sum to ~0 within every group, for every estimator", () => {
    FastCheck.assert(
      FastCheck.property(
        rewardsArb,
        FastCheck.constantFrom("grpo" as const, "rloo" as const, "mean" as const),
        FastCheck.constantFrom("unbiased" as const, "population" as const),
        (r, estimator, std) => {
          const a = Advantage.groupAdvantages(r, { estimator, epsilon: 1e-6, std })
          expect(a).toHaveLength(r.length)
          const scale = Math.max(1, ...r.map(Math.abs)) * r.length
          // Undo GRPO's normalisation so every estimator is held to the same rounding bound.
          const denom = estimator === "grpo" ? Advantage.std(r, std) + 1e-6 : 1
          expect(Math.abs(sum(a) * denom)).toBeLessThan(1e-13 * scale)
        }
      )
    )
  })

  it("GRPO is (r − mean) / (std + ε) with ε added, not max'ed", () => {
    const r = [0.5, 0.5, 0.5, 0.5000001]
    const eps = 0.25
    const a = Advantage.groupAdvantages(r, { estimator: "grpo", epsilon: eps, std: "population" })
    const m = Advantage.mean(r)
    const s = Advantage.std(r, "population")
    for (let i = 0; i < r.length; i++) expect(a[i]).toBe((r[i]! - m) / (s + eps))
  })

  it("mean|Â| = 2p̂(1−p̂) / (std + ε) for binary groups", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.boolean(), { minLength: 2, maxLength: 64 }),
        FastCheck.constantFrom("unbiased" as const, "population" as const),
        (bits, std) => {
          const r = Float64Array.from(bits, (b) => (b ? 1 : 0))
          const p = Advantage.mean(r)
          const expected = (2 * p * (1 - p)) / (Advantage.std(r, std) + 1e-6)
          const got = Advantage.meanAbs(Advantage.groupAdvantages(r, grpo(std)))
          expect(Math.abs(got - expected)).toBeLessThan(1e-12)
        }
      )
    )
  })
})

describe("Advantage statistics", () => {
  it("std uses divisor G−1 (unbiased) or G (population)", () => {
    expect(Advantage.std([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 14)
    expect(Advantage.std([1, 2, 3, 4], "population")).toBeCloseTo(Math.sqrt(5 / 4), 14)
    expect(Advantage.std([5], "unbiased")).toBe(0)
    expect(Advantage.std([], "population")).toBe(0)
  })

  it("isZeroVariance is true exactly when all rewards are equal", () => {
    expect(Advantage.isZeroVariance([1, 1, 1])).toBe(true)
    expect(Advantage.isZeroVariance([0.1, 0.1])).toBe(true)
    expect(Advantage.isZeroVariance([7])).toBe(true)
    expect(Advantage.isZeroVariance([])).toBe(true)
    expect(Advantage.isZeroVariance([1, 1, 0])).toBe(false)
    expect(Advantage.isZeroVariance([0, 1, 1])).toBe(false)
    expect(Advantage.isZeroVariance([0.1, 0.1 + 1e-15])).toBe(false)
  })

  it("klWeight: sparse is exactly 0 for zero-variance groups and 1 otherwise; dense is always 1", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.constantFrom(0, 0.1, 1), { minLength: 1, maxLength: 16 }),
        (r) => {
          const allEqual = r.every((x) => x === r[0])
          const sparse = Advantage.klWeight(r, "sparse")
          expect(sparse).toBe(allEqual ? 0 : 1)
          expect(Object.is(sparse, -0)).toBe(false)
          expect(Advantage.klWeight(r, "dense")).toBe(1)
        }
      )
    )
    expect(Advantage.klWeight(binary(8, 0), "sparse")).toBe(0)
    expect(Advantage.klWeight(binary(8, 8), "sparse")).toBe(0)
    expect(Advantage.klWeight(binary(8, 3), "sparse")).toBe(1)
    expect(Advantage.klWeight(binary(8, 0), "dense")).toBe(1)
  })
})
