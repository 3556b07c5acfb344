import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Report from "../src/Report.ts"
import * as RunData from "../src/RunData.ts"

const run = <A, E>(effect: Effect.Effect<A, E, NodeContext.NodeContext>) =>
  Effect.runPromise(Effect.provide(effect, NodeContext.layer))
const fail = <A, E>(effect: Effect.Effect<A, E, NodeContext.NodeContext>) =>
  Effect.runPromise(Effect.flip(Effect.provide(effect, NodeContext.layer)))

const writeRun = (dir: string, rows: ReadonlyArray<Record<string, number>>, meta?: Record<string, unknown>) => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "metrics.jsonl"), rows.map((r) => JSON.stringify(r) + "\n").join(""))
  if (meta !== undefined) writeFileSync(join(dir, "run.json"), JSON.stringify(meta))
}

const rows = (steps: number, slope: number, extra: Record<string, number> = {}) =>
  Array.from({ length: steps }, (_, i) => ({
    step: i + 1,
    rollouts_generated: 512,
    frac_reward_zero_std: 0.2,
    ...((i + 1) % 10 === 0 ? { acc_ood: slope * (i + 1), acc_id: 0.5, acc_id_level_1: 0.8, acc_ood_level_4: 0.1 } : {}),
    ...extra
  }))

describe("RunData", () => {
  it("names the file and line of a malformed record, and tolerates a partial last line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zpd-rd-"))
    writeFileSync(join(dir, "metrics.jsonl"), `{"step":1}\n{"step":2,"x":1}\n{"step":3,"x"`)
    const loaded = await run(RunData.load(dir))
    expect(loaded.records.map((r) => r.step)).toEqual([1, 2])
    expect(loaded.meta).toMatchObject({ curriculum: dir.split("/").pop(), regime: "runs", steps: 2, budgetAware: true })
    writeFileSync(join(dir, "metrics.jsonl"), `{"step":1}\nnot json\n{"step":3}\n`)
    expect((await fail(RunData.load(dir))).message).toBe(`${dir}/metrics.jsonl:2: expected a JSON object per line`)
    writeFileSync(join(dir, "metrics.jsonl"), `{"step":1}\n{"loss":3}\n`)
    expect((await fail(RunData.load(dir))).message).toContain(
      `metrics.jsonl:2: expected an object with an integer "step"`
    )
    writeFileSync(join(dir, "metrics.jsonl"), `{"step":1}\n`)
    writeFileSync(join(dir, "run.json"), `{"curriculum":"x"}`)
    expect((await fail(RunData.load(dir))).message).toContain("run.json: expected curriculum, label, regime")
  })

  it("discovers run directories recursively and says when there are none", async () => {
    const base = mkdtempSync(join(tmpdir(), "zpd-disc-"))
    writeRun(join(base, "a"), rows(2, 0))
    writeRun(join(base, "deep", "b"), rows(2, 0))
    mkdirSync(join(base, "empty"))
    expect(await run(RunData.discover([base]))).toEqual([join(base, "a"), join(base, "deep", "b")])
    expect((await fail(RunData.discover([join(base, "empty")]))).message).toContain(
      "at least one directory with a metrics.jsonl"
    )
    expect((await fail(RunData.discover([join(base, "nope")]))).message).toContain("expected an existing run directory")
  })
})

describe("Report.write", () => {
  it("writes a self-contained report.html with every chart as inline SVG, report.md with the table, and charts/*.svg", async () => {
    const base = mkdtempSync(join(tmpdir(), "zpd-report-"))
    for (const seed of [1, 2, 3]) {
      for (const [name, slope] of [["random", 0.002], ["sec", 0.003]] as const) {
        writeRun(join(base, "runs", name, String(seed)), rows(40, slope + seed * 1e-4), {
          curriculum: name,
          label: name === "sec" ? "SEC" : name,
          regime: "default",
          seed,
          steps: 40,
          budgetAware: false
        })
      }
    }
    // a real-model run without run.json, rollouts or per-level keys
    writeRun(join(base, "torch"), [{ step: 1, reward_mean: 0.1 }, { step: 2, acc_ood: 0.2 }])
    const { built, htmlPath } = await run(Report.write([join(base, "runs"), join(base, "torch")], join(base, "out"), {
      order: ["random", "sec"]
    }))
    const html = readFileSync(htmlPath, "utf8")
    const figures = html.match(/<figure class="chart"/g) ?? []
    // default: 2 curves, to-target, zero-std, 2 heatmaps; runs: 1 curve (acc_ood), zero-std has no data
    expect(built.charts.map((c) => c.chart.id)).toEqual([
      "default-curve-acc_ood",
      "default-curve-acc_id",
      "default-to-target",
      "default-zero-std",
      "default-levels-random",
      "default-levels-sec",
      "runs-curve-acc_ood"
    ])
    expect(figures).toHaveLength(built.charts.length)
    expect(html.match(/<svg /g)).toHaveLength(built.charts.length)
    expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|url\((?!#)|@import/)
    expect(html.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]+"/g, "")).not.toMatch(/https?:\/\//)
    expect(readdirSync(join(base, "out", "charts")).sort()).toEqual(built.charts.map((c) => `${c.chart.id}.svg`).sort())
    const md = readFileSync(join(base, "out", "report.md"), "utf8")
    expect(md).toContain("## Regime `default`")
    expect(md).toContain("| curriculum | seeds | acc_ood @40 | acc_id @40 |")
    // random's mean final acc_ood = (0.0021+0.0022+0.0023)/3·40 = 0.088; SEC's mean slope 0.0032 reaches it
    // at step 27.5 (14,080 rollouts) against random's 40 (20,480): 0.69×
    expect(md).toContain("Target: acc_ood ≥ 0.088 (random's final acc_ood at 40 steps)")
    const sec = md.split("\n").find((l) => l.startsWith("| SEC |"))!
    expect(sec).toContain("| 0.128 ± 0.010 |")
    expect(sec).toContain("| 14.1k | 0.69× | 3/3 |")
    expect(md).toContain("## Regime `runs`")
    expect(md).toContain("Accuracy per level at the last evaluation (step 40, seed mean):")
    expect(md).toContain("| curriculum | id L1 | ood L4 |")
    expect(md).toContain("| SEC | 0.800 | 0.100 |")
  })
})
