import { describe, expect, it } from "vitest"
import * as Analysis from "../src/Analysis.ts"
import type { Row, Run } from "../src/RunData.ts"
import type { RunMeta } from "../src/RunMeta.ts"

/** A run whose acc_ood rises by `slope` per step (evaluated every 10 steps). */
const run = (
  meta: Partial<RunMeta> & Pick<RunMeta, "curriculum" | "seed" | "steps">,
  slope: number,
  extra: (step: number) => Record<string, number> = () => ({})
): Run => {
  const records: Array<Row> = []
  for (let step = 1; step <= meta.steps; step++) {
    const evalStep = step % 10 === 0 || step === meta.steps
    records.push({
      step,
      rollouts_generated: 100,
      frac_reward_zero_std: 0.5,
      ...(evalStep ? { acc_ood: slope * step, acc_id: 2 * slope * step } : {}),
      ...extra(step)
    } as Row)
  }
  return {
    dir: `${meta.curriculum}/${meta.seed}/${meta.steps}`,
    meta: { label: meta.curriculum, regime: "default", budgetAware: false, ...meta },
    records,
    stepMs: new Map(records.map((r) => [r.step, 10]))
  }
}

describe("Analysis", () => {
  it("charges training, filtering extras and (cumulative) estimation rollouts", () => {
    const r = run({ curriculum: "adacurl", seed: 1, steps: 3, wallMs: 1030 }, 0.01, (step) => ({
      rollouts_generated: step === 2 ? 300 : 100,
      estimation_rollouts: 5000
    }))
    const cost = Analysis.cumulativeCost(r)
    expect(cost.rollouts).toEqual([5100, 5400, 5500])
    expect(cost.wallS.map((s) => Number(s.toFixed(3)))).toEqual([1.01, 1.02, 1.03]) // 1000 ms setup + 10 ms per step
  })

  it("defaults the target to random's final acc_ood and reports rollouts to it as ratios", () => {
    const runs = [1, 2].flatMap((seed) => [
      run({ curriculum: "random", seed, steps: 100 }, 0.002 + seed * 0.0001),
      run({ curriculum: "fast", seed, steps: 100 }, 0.004)
    ])
    const [regime] = Analysis.analyze(runs, { order: ["random", "fast"] })
    const target = (0.0021 + 0.0022) / 2 * 100
    expect(regime!.target!.value).toBeCloseTo(target, 12)
    const [random, fast] = regime!.curricula
    expect(random!.curriculum).toBe("random")
    expect(random!.rolloutsToTarget).toBeCloseTo(10_000, 6)
    // fast reaches 0.215 at step 53.75 → 5375 rollouts (linear between its evaluations at steps 50 and 60)
    expect(fast!.rolloutsToTarget).toBeCloseTo((target / 0.004) * 100, 6)
    expect(fast!.seedsReachingTarget).toBe(2)
    expect(random!.seedsReachingTarget).toBe(1)
    expect(fast!.atBudget.get(100)!["acc_ood"]!.mean).toBeCloseTo(0.4, 12)
    expect(fast!.atBudget.get(100)!["acc_ood"]!.n).toBe(2)
  })

  it("reads smaller budgets from a longer run's prefix only for curricula that ignore the budget", () => {
    const runs = [
      run({ curriculum: "random", seed: 1, steps: 100 }, 0.002),
      run({ curriculum: "ordered", seed: 1, steps: 100, budgetAware: true }, 0.003),
      run({ curriculum: "ordered", seed: 1, steps: 50, budgetAware: true }, 0.005)
    ]
    const [regime] = Analysis.analyze(runs, { budgets: [50, 100] })
    const byName = new Map(regime!.curricula.map((c) => [c.curriculum, c]))
    expect(byName.get("random")!.atBudget.get(50)!["acc_ood"]!.mean).toBeCloseTo(0.1, 12) // prefix at step 50
    expect(byName.get("ordered")!.atBudget.get(50)!["acc_ood"]!.mean).toBeCloseTo(0.25, 12) // its own 50-step run
    expect(byName.get("ordered")!.atBudget.get(100)!["acc_ood"]!.mean).toBeCloseTo(0.3, 12)
    const budgetAwareOnlyLong = Analysis.analyze([runs[1]!], { budgets: [50, 100] })[0]!.curricula[0]!
    expect(budgetAwareOnlyLong.atBudget.has(50)).toBe(false)
  })

  it("tolerates runs without rollouts or accuracy keys (real-model logs): steps on the x-axis", () => {
    const bare: Run = {
      dir: "runs/torch",
      meta: { curriculum: "torch", label: "torch", regime: "runs", seed: 0, steps: 3, budgetAware: true },
      records: [{ step: 1, reward_mean: 0.1 }, { step: 2, reward_mean: 0.2, acc_ood: 0.3 }, { step: 3 }] as Array<Row>,
      stepMs: undefined
    }
    const [regime] = Analysis.analyze([bare])
    expect(regime!.xIsRollouts).toBe(false)
    expect(regime!.target).toBeUndefined()
    const c = regime!.curricula[0]!
    expect(c.curve.map((p) => [p.step, p.rollouts])).toEqual([[2, 2]])
    expect(Number.isNaN(c.curve[0]!.wallS)).toBe(true)
    expect(Number.isNaN(c.atBudget.get(3)!["acc_id"]!.mean)).toBe(true)
  })

  it("collects per-level accuracies by set and level", () => {
    expect(Analysis.parseLevelKey("acc_id_level_2")).toEqual({ set: "id", level: 2 })
    expect(Analysis.parseLevelKey("acc_ood_level_4")).toEqual({ set: "ood", level: 4 })
    expect(Analysis.parseLevelKey("acc_level_3")).toEqual({ set: "id", level: 3 })
    expect(Analysis.parseLevelKey("acc_ood_level")).toBeUndefined()
    const r = run(
      { curriculum: "sec", seed: 1, steps: 20 },
      0.01,
      (step) => step % 10 === 0 ? { acc_id_level_1: 0.9, acc_id_level_2: step / 100 } : {}
    )
    const c = Analysis.analyze([r])[0]!.curricula[0]!
    expect(c.levels).toEqual([
      { set: "id", level: 1, step: 10, acc: 0.9 },
      { set: "id", level: 2, step: 10, acc: 0.1 },
      { set: "id", level: 1, step: 20, acc: 0.9 },
      { set: "id", level: 2, step: 20, acc: 0.2 }
    ])
  })
})
