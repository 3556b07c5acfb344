import { describe, expect, it } from "@effect/vitest"
import * as Fmath from "../src/Fmath.ts"
import * as Rng from "../src/Rng.ts"

const f64 = new Float64Array(1)
const i64 = new BigInt64Array(f64.buffer)

/** Position of a double on the number line of doubles (monotone, −0 = +0). */
const ordinal = (x: number): bigint => {
  f64[0] = x
  const v = i64[0]!
  return v < 0n ? -(v & 0x7fffffffffffffffn) : v
}

/** Distance in units in the last place. */
const ulps = (a: number, b: number): number => {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity
  const d = ordinal(a) - ordinal(b)
  return Number(d < 0n ? -d : d)
}

/** Deterministic inputs, so a failure reproduces. */
const inputs = (label: string, n: number, draw: (rng: Rng.Rng) => number): Array<number> => {
  const rng = Rng.make(2024, 0, label)
  return Array.from({ length: n }, () => draw(rng))
}

const uniform = (lo: number, hi: number) => (rng: Rng.Rng) => lo + (hi - lo) * rng.next()
const logUniform = (lo: number, hi: number) => (rng: Rng.Rng) => Math.exp(lo + (hi - lo) * rng.next())

const maxUlps = (f: (x: number) => number, g: (x: number) => number, xs: ReadonlyArray<number>) => {
  let worst = 0
  let at = Number.NaN
  for (const x of xs) {
    const d = ulps(f(x), g(x))
    if (d > worst) {
      worst = d
      at = x
    }
  }
  return { worst, at }
}

const N = 50_000

describe("Fmath against Math.*", () => {
  it("exp is within 1 ulp of Math.exp over its whole finite range", () => {
    for (
      const [label, draw] of [
        ["exp-wide", uniform(-745, 709.7)],
        ["exp-small", uniform(-2, 2)],
        ["exp-tiny", uniform(-1e-8, 1e-8)],
        ["exp-subnormal-results", uniform(-745, -708)]
      ] as const
    ) {
      expect(maxUlps(Fmath.exp, Math.exp, inputs(label, N, draw)).worst).toBeLessThanOrEqual(1)
    }
  })

  it("log is within 1 ulp of Math.log, including near 1 and on subnormals", () => {
    for (
      const [label, draw] of [
        ["log-wide", logUniform(-700, 700)],
        ["log-near-1", uniform(0.9, 1.1)],
        ["log-subnormal", uniform(Number.MIN_VALUE, 2.2250738585072014e-308)],
        ["log-tiny-subnormal", (rng: Rng.Rng) => Number.MIN_VALUE * (1 + rng.int(1 << 20))]
      ] as const
    ) {
      expect(maxUlps(Fmath.log, Math.log, inputs(label, N, draw)).worst).toBeLessThanOrEqual(1)
    }
  })

  it("log1p is within 1 ulp of Math.log1p", () => {
    for (
      const [label, draw] of [
        ["log1p-unit", uniform(-0.999, 1)],
        ["log1p-small", uniform(-1e-6, 1e-6)],
        ["log1p-large", logUniform(0, 700)]
      ] as const
    ) {
      expect(maxUlps(Fmath.log1p, Math.log1p, inputs(label, N, draw)).worst).toBeLessThanOrEqual(1)
    }
  })

  it("expm1 is within a few ulp of Math.expm1, with no cancellation for 1e-3 ≤ |x| < 1", () => {
    for (
      const [label, draw, bound] of [
        ["expm1-tiny", uniform(-1e-3, 1e-3), 1],
        ["expm1-mid", uniform(-1, 1), 3],
        ["expm1-just-above-1e-3", uniform(1e-3, 1e-2), 3],
        ["expm1-wide", uniform(-50, 50), 3]
      ] as const
    ) {
      const { worst } = maxUlps(Fmath.expm1, Math.expm1, inputs(label, N, draw))
      expect(worst).toBeLessThanOrEqual(bound)
    }
    // Relative error, as the brief states it, over the formerly cancelling range.
    for (const x of inputs("expm1-rel", N, uniform(-1, 1))) {
      const want = Math.expm1(x)
      expect(Math.abs(Fmath.expm1(x) - want)).toBeLessThanOrEqual(1e-15 * Math.abs(want))
    }
  })

  it("sigmoid and logSigmoid agree with their naive forms where those are stable", () => {
    for (const z of inputs("sigmoid", N, uniform(-30, 30))) {
      const naive = 1 / (1 + Math.exp(-z))
      expect(Math.abs(Fmath.sigmoid(z) - naive)).toBeLessThanOrEqual(1e-15 * naive)
      const logNaive = -Math.log1p(Math.exp(-z))
      expect(Math.abs(Fmath.logSigmoid(z) - logNaive)).toBeLessThanOrEqual(1e-14 * Math.abs(logNaive) + 1e-300)
    }
  })

  it("sigmoid is symmetric: σ(−z) = 1 − σ(z)", () => {
    for (const z of inputs("sigmoid-sym", 5000, uniform(0, 20))) {
      expect(Math.abs(Fmath.sigmoid(-z) - (1 - Fmath.sigmoid(z)))).toBeLessThan(2e-16)
    }
  })
})

describe("Fmath special values", () => {
  it("exp", () => {
    expect(Fmath.exp(0)).toBe(1)
    expect(Fmath.exp(-0)).toBe(1)
    // fdlibm's exp(1) is the famous 1-ulp miss (2.7182818284590455).
    expect(ulps(Fmath.exp(1), Math.E)).toBeLessThanOrEqual(1)
    expect(Fmath.exp(Math.LN2)).toBe(2)
    expect(Fmath.exp(Infinity)).toBe(Infinity)
    expect(Fmath.exp(-Infinity)).toBe(0)
    expect(Fmath.exp(Number.NaN)).toBeNaN()
    expect(Fmath.exp(710)).toBe(Infinity) // overflow
    expect(Fmath.exp(709.78)).toBe(Math.exp(709.78))
    expect(Fmath.exp(-746)).toBe(0) // underflow
    expect(Fmath.exp(-745)).toBe(Number.MIN_VALUE)
    expect(Fmath.exp(-744)).toBe(Math.exp(-744))
  })

  it("log", () => {
    expect(Fmath.log(1)).toBe(0)
    expect(Object.is(Fmath.log(1), 0)).toBe(true)
    expect(Fmath.log(2)).toBe(Math.LN2)
    expect(Fmath.log(10)).toBe(Math.LN10)
    expect(Fmath.log(Math.E)).toBe(1)
    expect(Fmath.log(0)).toBe(-Infinity)
    expect(Fmath.log(-0)).toBe(-Infinity)
    expect(Fmath.log(Infinity)).toBe(Infinity)
    expect(Fmath.log(-1)).toBeNaN()
    expect(Fmath.log(-Number.MIN_VALUE)).toBeNaN()
    expect(Fmath.log(-Infinity)).toBeNaN()
    expect(Fmath.log(Number.NaN)).toBeNaN()
    expect(Fmath.log(Number.MIN_VALUE)).toBe(Math.log(Number.MIN_VALUE))
    expect(Fmath.log(Number.MIN_VALUE)).toBeCloseTo(-744.4400719213812, 10)
    expect(Fmath.log(Number.MAX_VALUE)).toBe(Math.log(Number.MAX_VALUE))
  })

  it("log1p", () => {
    expect(Object.is(Fmath.log1p(0), 0)).toBe(true)
    expect(Object.is(Fmath.log1p(-0), -0)).toBe(true)
    expect(Fmath.log1p(1e-20)).toBe(1e-20)
    expect(Fmath.log1p(Number.MIN_VALUE)).toBe(Number.MIN_VALUE)
    expect(Fmath.log1p(1)).toBe(Math.LN2)
    expect(Fmath.log1p(-1)).toBe(-Infinity)
    expect(Fmath.log1p(Infinity)).toBe(Infinity)
    expect(Fmath.log1p(Number.MAX_VALUE)).toBe(Math.log(Number.MAX_VALUE))
    expect(Fmath.log1p(-2)).toBeNaN()
    expect(Fmath.log1p(-Infinity)).toBeNaN()
    expect(Fmath.log1p(Number.NaN)).toBeNaN()
  })

  it("expm1", () => {
    expect(Object.is(Fmath.expm1(0), 0)).toBe(true)
    expect(Object.is(Fmath.expm1(-0), -0)).toBe(true)
    expect(Fmath.expm1(1e-20)).toBe(1e-20)
    expect(Fmath.expm1(-1e-300)).toBe(-1e-300)
    expect(Fmath.expm1(Infinity)).toBe(Infinity)
    expect(Fmath.expm1(-Infinity)).toBe(-1)
    expect(Fmath.expm1(-800)).toBe(-1)
    expect(Fmath.expm1(710)).toBe(Infinity)
    expect(Fmath.expm1(Number.NaN)).toBeNaN()
    expect(Fmath.expm1(Math.LN2)).toBeCloseTo(1, 15)
  })

  it("sigmoid and logSigmoid", () => {
    expect(Fmath.sigmoid(0)).toBe(0.5)
    expect(Fmath.sigmoid(800)).toBe(1)
    expect(Fmath.sigmoid(-800)).toBe(0)
    expect(Fmath.sigmoid(Infinity)).toBe(1)
    expect(Fmath.sigmoid(-Infinity)).toBe(0)
    expect(Fmath.sigmoid(Number.NaN)).toBeNaN()
    expect(Fmath.sigmoid(-700)).toBeGreaterThan(0)
    expect(Fmath.logSigmoid(0)).toBe(-Math.LN2)
    expect(Fmath.logSigmoid(-800)).toBe(-800)
    expect(Fmath.logSigmoid(800)).toBe(-0)
    expect(Fmath.logSigmoid(-Infinity)).toBe(-Infinity)
    expect(Fmath.logSigmoid(40)).toBeCloseTo(-Math.exp(-40), 30)
  })
})
