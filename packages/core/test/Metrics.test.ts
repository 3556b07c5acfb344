import { describe, expect, it } from "vitest"
import * as Metrics from "../src/Metrics.ts"

describe("Metrics.rolloutsCharged", () => {
  it("sums the step rollouts and charges the cumulative estimation once (its largest value)", () => {
    const records = [
      { step: 1, rollouts_generated: 512, estimation_rollouts: 8000 },
      { step: 2, rollouts_generated: 1536, estimation_rollouts: 8000 },
      { step: 3, rollouts_generated: 768 }
    ]
    expect(Metrics.rolloutsCharged(records)).toBe(512 + 1536 + 768 + 8000)
  })
  it("ignores missing or non-finite values", () => {
    expect(Metrics.rolloutsCharged([{ step: 1 }, { step: 2, rollouts_generated: Number.NaN }])).toBe(0)
  })
})
