import { describe, expect, it } from "vitest"
import { firstCrossing, summarize, tQuantile975 } from "../src/Stats.ts"

describe("Stats", () => {
  it("summarizes with the sample sd and Student's t interval", () => {
    const s = summarize([1, 2, 3])
    expect(s.mean).toBe(2)
    expect(s.sd).toBe(1)
    expect(s.ci95).toBeCloseTo(4.303 / Math.sqrt(3), 10)
    expect(summarize([5, Number.NaN]).n).toBe(1)
    expect(Number.isNaN(summarize([5]).ci95)).toBe(true)
    expect(Number.isNaN(summarize([]).mean)).toBe(true)
    expect(tQuantile975(4)).toBe(2.776)
    expect(tQuantile975(100)).toBe(1.96)
  })

  it("finds the first crossing, interpolating between the points around it", () => {
    const pts = [{ x: 0, y: 0.1 }, { x: 10, y: 0.3 }, { x: 20, y: 0.5 }, { x: 30, y: 0.2 }]
    expect(firstCrossing(pts, 0.4)).toBeCloseTo(15, 10)
    expect(firstCrossing(pts, 0.05)).toBe(0)
    expect(firstCrossing(pts, 0.6)).toBeUndefined()
  })
})
