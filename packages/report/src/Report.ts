/**
 * `zpd report RUN_DIR...`: a self-contained `report.html` (charts inlined as
 * SVG, inline CSS, no scripts, nothing fetched at view time) and `report.md`
 * (the table, for terminals and READMEs) from any run directories: the
 * benchmark's, the examples', real-model runs (missing metrics are left out).
 * Each chart is also written to `charts/<id>.svg`.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Checkpoint from "@zpd/core/Checkpoint"
import type { CheckpointError } from "@zpd/core/Errors"
import * as Effect from "effect/Effect"
import * as Analysis from "./Analysis.ts"
import * as Charts from "./Charts.ts"
import * as RunData from "./RunData.ts"
import type { Summary } from "./Stats.ts"

const fmt = (s: Summary | undefined, digits = 3): string => {
  if (s === undefined || !Number.isFinite(s.mean)) return "-"
  return Number.isFinite(s.ci95) ? `${s.mean.toFixed(digits)} ± ${s.ci95.toFixed(digits)}` : s.mean.toFixed(digits)
}

const seconds = (s: number | undefined) => (s === undefined || !Number.isFinite(s) ? "-" : `${s.toFixed(1)} s`)

/**
 * The comparison table of one regime: header and rows of cells.
 *
 * @since 0.1.0
 * @category tables
 */
export const table = (regime: Analysis.RegimeResult): { header: Array<string>; rows: Array<Array<string>> } => {
  const unit = regime.xIsRollouts ? "rollouts" : "steps"
  const header = [
    "curriculum",
    "seeds",
    ...regime.budgets.flatMap((b) => Analysis.accuracyMetrics.map((m) => `${m} @${b}`)),
    `${unit} to target`,
    "× random",
    "seeds reaching",
    "wall to target",
    "frac_reward_zero_std",
    `${unit} spent (estimation)`
  ]
  const random = regime.curricula.find((c) => c.curriculum === "random")
  const rows = regime.curricula.map((c) => [
    c.label,
    String(c.seeds),
    ...regime.budgets.flatMap((b) => Analysis.accuracyMetrics.map((m) => fmt(c.atBudget.get(b)?.[m]))),
    c.rolloutsToTarget === undefined
      ? (regime.target === undefined ? "-" : "not reached")
      : Charts.compact(c.rolloutsToTarget),
    c.rolloutsToTarget !== undefined && random?.rolloutsToTarget !== undefined
      ? `${(c.rolloutsToTarget / random.rolloutsToTarget).toFixed(2)}×`
      : "-",
    regime.target === undefined ? "-" : `${c.seedsReachingTarget}/${c.seeds}`,
    seconds(c.wallToTargetS),
    fmt(c.fracZeroStd),
    `${Charts.compact(c.rolloutsTotal.mean)}${
      c.estimationRollouts.mean > 0 ? ` (${Charts.compact(c.estimationRollouts.mean)})` : ""
    }`
  ])
  return { header, rows }
}

/**
 * Per-level accuracy at the last evaluation of the longest runs (seed mean),
 * when the runs log per-level keys; undefined otherwise.
 *
 * @since 0.1.0
 * @category tables
 */
export const levelTable = (
  regime: Analysis.RegimeResult
): { header: Array<string>; rows: Array<Array<string>>; step: number } | undefined => {
  const columns = [...new Set(regime.curricula.flatMap((c) => c.levels.map((l) => `${l.set} L${l.level}`)))].sort()
  if (columns.length === 0) return undefined
  let step = 0
  const rows = regime.curricula.map((c) => {
    const last = Math.max(0, ...c.levels.map((l) => l.step))
    step = Math.max(step, last)
    const at = new Map(c.levels.filter((l) => l.step === last).map((l) => [`${l.set} L${l.level}`, l.acc]))
    return [c.label, ...columns.map((k) => (at.has(k) && Number.isFinite(at.get(k)!) ? at.get(k)!.toFixed(3) : "-"))]
  })
  return { header: ["curriculum", ...columns], rows, step }
}

const targetLine = (regime: Analysis.RegimeResult): string =>
  regime.target === undefined
    ? "No target (no random baseline and no --target): cost-to-target columns are empty."
    : `Target: ${regime.target.metric} ≥ ${regime.target.value.toFixed(3)} (${regime.target.source}); ` +
      `"to target" is where the seed-mean learning curve first reaches it (linear between evaluations).`

const legend = "acc_* cells: mean ± 95% interval over seeds (Student's t). Rollouts charge everything generated: " +
  "training groups, DAPO/filter extras (`rollouts_generated`) and offline difficulty estimation (`estimation_rollouts`). " +
  "Wall time includes setup (estimation) and is measured under the benchmark's parallel load. " +
  "\"ordered (budget-stretched)\" knows the budget in advance (SEC's PriorityDataloader); \"ordered (fixed pace)\" does not."

/**
 * `report.md`: a table per regime with its target and legend.
 *
 * @since 0.1.0
 * @category rendering
 */
export const markdown = (regimes: ReadonlyArray<Analysis.RegimeResult>, title = "zpd curriculum benchmark"): string => {
  const parts = [`# ${title}`, ""]
  for (const r of regimes) {
    const { header, rows } = table(r)
    parts.push(`## Regime \`${r.regime}\``, "", targetLine(r), "")
    parts.push(`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < 1 ? "---" : "---:")).join("|")}|`)
    for (const row of rows) parts.push(`| ${row.join(" | ")} |`)
    parts.push("")
    const levels = levelTable(r)
    if (levels !== undefined) {
      parts.push(`Accuracy per level at the last evaluation (step ${levels.step}, seed mean):`, "")
      parts.push(
        `| ${levels.header.join(" | ")} |`,
        `|${levels.header.map((_, i) => (i < 1 ? "---" : "---:")).join("|")}|`
      )
      for (const row of levels.rows) parts.push(`| ${row.join(" | ")} |`)
      parts.push("")
    }
  }
  parts.push(legend, "")
  return parts.join("\n")
}

const escape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const css = `
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1240px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{padding:3px 7px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0;border:1px solid #eee;padding:8px}
figcaption{font-size:12px;color:#444;margin-bottom:4px;max-width:680px}p.note{font-size:12px;color:#555;max-width:1000px}
`

/**
 * `report.html` from rendered charts (`svgs[i]` for `charts[i]`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = (
  regimes: ReadonlyArray<Analysis.RegimeResult>,
  charts: ReadonlyArray<{ readonly regime: string; readonly chart: Charts.Chart; readonly svg: string }>,
  info: { readonly title: string; readonly runs: number; readonly command?: string }
): string => {
  const body: Array<string> = [
    `<h1>${escape(info.title)}</h1>`,
    `<p class="note">${info.runs} run directories${
      info.command === undefined ? "" : ` · <code>${escape(info.command)}</code>`
    }</p>`
  ]
  for (const r of regimes) {
    const { header, rows } = table(r)
    body.push(`<h2>Regime <code>${escape(r.regime)}</code></h2>`, `<p class="note">${escape(targetLine(r))}</p>`)
    body.push(
      `<table class="results"><thead><tr>${header.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>`,
      ...rows.map((row) => `<tr>${row.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`),
      "</tbody></table>"
    )
    const levels = levelTable(r)
    if (levels !== undefined) {
      body.push(
        `<p class="note">Accuracy per level at the last evaluation (step ${levels.step}, seed mean):</p>`,
        `<table class="levels"><thead><tr>${
          levels.header.map((h) => `<th>${escape(h)}</th>`).join("")
        }</tr></thead><tbody>`,
        ...levels.rows.map((row) => `<tr>${row.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`),
        "</tbody></table>"
      )
    }
    body.push(`<div class="charts">`)
    for (const c of charts.filter((c) => c.regime === r.regime)) {
      body.push(
        `<figure class="chart" data-chart="${escape(c.chart.id)}"><figcaption>${
          escape(c.chart.title)
        }</figcaption>${c.svg}</figure>`
      )
    }
    body.push(`</div>`)
  }
  body.push(`<p class="note">${escape(legend)}</p>`)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${css}</style></head>
<body>
${body.join("\n")}
</body></html>
`
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BuildOptions extends Analysis.Options {
  readonly title?: string
  /** The command that produced the runs, shown in the report. */
  readonly command?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Built {
  readonly html: string
  readonly markdown: string
  readonly regimes: ReadonlyArray<Analysis.RegimeResult>
  readonly charts: ReadonlyArray<{ readonly regime: string; readonly chart: Charts.Chart; readonly svg: string }>
}

/**
 * Analysis, charts and both documents, in memory.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (runs: ReadonlyArray<RunData.Run>, options: BuildOptions = {}): Effect.Effect<Built> =>
  Effect.gen(function*() {
    const regimes = Analysis.analyze(runs, options)
    const charts: Array<{ regime: string; chart: Charts.Chart; svg: string }> = []
    for (const r of regimes) {
      for (const chart of Charts.forRegime(r)) {
        charts.push({ regime: r.regime, chart, svg: yield* Effect.promise(() => Charts.toSvg(chart)) })
      }
    }
    const title = options.title ?? "zpd curriculum benchmark"
    return {
      regimes,
      charts,
      markdown: markdown(regimes, title),
      html: html(regimes, charts, {
        title,
        runs: runs.length,
        ...(options.command === undefined ? {} : { command: options.command })
      })
    }
  })

/**
 * `zpd report RUN_DIR... --out DIR`: finds every run directory under `paths`,
 * and writes `DIR/report.html`, `DIR/report.md` and `DIR/charts/*.svg`
 * (each atomically). Returns the path of `report.html` and the built report.
 *
 * @since 0.1.0
 * @category running
 */
export const write = (
  paths: ReadonlyArray<string>,
  outDir: string,
  options: BuildOptions = {}
): Effect.Effect<
  { readonly htmlPath: string; readonly built: Built },
  RunData.RunDirError | CheckpointError,
  FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const dirs = yield* RunData.discover(paths)
    const runs = yield* Effect.forEach(dirs, RunData.load)
    const built = yield* render(runs, options)
    for (const c of built.charts) yield* Checkpoint.writeAtomic(`${outDir}/charts/${c.chart.id}.svg`, c.svg)
    yield* Checkpoint.writeAtomic(`${outDir}/report.md`, built.markdown)
    yield* Checkpoint.writeAtomic(`${outDir}/report.html`, built.html)
    return { htmlPath: `${outDir}/report.html`, built }
  })
