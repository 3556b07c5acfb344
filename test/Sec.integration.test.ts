/**
 * SEC against random on simulator v2 (regime `default`), 3 seeds × 60 steps:
 * SEC keeps fewer zero-variance groups, and its sampled difficulty rises as
 * easy levels are mastered (SEC paper §4). The 5-seed, 100/300-step
 * comparison of every curriculum is `npm run bench:simulator` (SIMULATOR.md §8).
 */
import { type Curriculum, Metrics } from "@zpd/core"
import { Baselines, Sec } from "@zpd/plugins"
import { describe, expect, it } from "vitest"
import { mean, runRecords as runRecordsFor } from "./helpers.ts"

const SEEDS = [1, 2, 3]
const STEPS = 60

const runRecords = (plugin: Curriculum.Plugin, seed: number) => runRecordsFor(plugin, seed, STEPS)

describe("SEC vs random over 3 seeds (simulator v2, regime default)", () => {
  it("SEC has a lower frac_reward_zero_std than random, and its sampled difficulty rises", async () => {
    const sec: Array<Array<Metrics.StepRecord>> = []
    const random: Array<Array<Metrics.StepRecord>> = []
    for (const seed of SEEDS) {
      sec.push([...await runRecords(Sec.plugin({ alpha: 0.5, temperature: 0.2 }), seed)])
      random.push([...await runRecords(Baselines.random(), seed)])
    }
    const zeroStd = (runs: typeof sec) => runs.map((r) => Metrics.meanOf(r, "frac_reward_zero_std"))
    const secZero = zeroStd(sec)
    const randomZero = zeroStd(random)
    const early = sec.map((r) => Metrics.meanOf(r.slice(0, 15), "sampled_difficulty_mean"))
    const late = sec.map((r) => Metrics.meanOf(r.slice(-15), "sampled_difficulty_mean"))
    console.log(
      `frac_reward_zero_std sec ${mean(secZero).toFixed(4)} [${secZero.map((x) => x.toFixed(3))}] ` +
        `random ${mean(randomZero).toFixed(4)} [${randomZero.map((x) => x.toFixed(3))}]; ` +
        `sec difficulty first 15 ${mean(early).toFixed(3)} → last 15 ${mean(late).toFixed(3)}`
    )
    expect(mean(secZero)).toBeLessThan(mean(randomZero))
    expect(mean(late)).toBeGreaterThan(mean(early))
    SEEDS.forEach((_, i) => {
      expect(secZero[i]).toBeLessThan(randomZero[i]!)
      expect(late[i]).toBeGreaterThan(early[i]!)
    })
  })
})
