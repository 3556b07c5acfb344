import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { existsSync, rmSync, statSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { runBench } from "../bench/lib/bench.ts"
import { checkReport, chromiumPath } from "../bench/lib/browser.ts"

/**
 * End to end: a small benchmark in worker processes, its report opened from
 * the file in headless Chromium, every chart checked for drawn marks, and a
 * screenshot saved in the run directory (.zpd-runs/browser-report/report.png).
 */
const out = ".zpd-runs/browser-report"

const bench = () =>
  Effect.runPromise(
    runBench({
      out,
      jobs: 2,
      seeds: [1, 2],
      budgets: [20],
      regimes: ["default"],
      curricula: ["random", "sec", "ordered"],
      display: false
    }).pipe(Effect.provide(NodeContext.layer))
  )

describe("report.html in a browser", () => {
  it("draws every chart offline (non-empty SVG marks), and a rerun of the bench redoes nothing", async () => {
    expect(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (apt-get install chromium, or set ZPD_CHROMIUM)`)
      .toBe(true)
    rmSync(out, { recursive: true, force: true })
    const { report, result } = await bench()
    expect(result.failed).toEqual([])
    expect(result.ran).toHaveLength(6)
    const page = await checkReport(report.htmlPath, `${out}/report.png`)
    expect(page.requests).toEqual([])
    expect(page.tables).toBe(3)
    // 2 learning curves, rollouts to target, zero-variance fraction, 3 per-level heatmaps
    expect(page.charts.map((c) => c.id)).toEqual(report.built.charts.map((c) => c.chart.id))
    expect(page.charts).toHaveLength(7)
    for (const chart of page.charts) {
      expect(chart.marks, chart.id).toBeGreaterThan(0)
      expect(chart.width * chart.height, chart.id).toBeGreaterThan(0)
    }
    expect(statSync(page.screenshot).size).toBeGreaterThan(10_000)

    const again = await bench()
    expect(again.result.ran).toEqual([])
    expect(again.result.skipped).toHaveLength(6)
  })
})
