/**
 * The report's charts as Vega-Lite specs, rendered to SVG strings in-process
 * (Vega's headless `View` with `renderer: "none"` and `toSVG()`: no canvas,
 * no browser, no network), so the HTML report inlines them and opens offline.
 *
 * @since 0.1.0
 */
import * as vega from "vega"
import * as vegaLite from "vega-lite"
import type { CurriculumResult, RegimeResult } from "./Analysis.ts"

/**
 * A chart ready to inline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chart {
  /** Stable id, also the file name under `charts/`. */
  readonly id: string
  readonly title: string
  readonly spec: vegaLite.TopLevelSpec
}

type Datum = Record<string, string | number | boolean | null>

const width = 430
const height = 280

const colour = (regime: RegimeResult) => ({
  field: "curriculum",
  type: "nominal" as const,
  title: "curriculum",
  scale: { domain: regime.curricula.map((c) => c.label), scheme: "tableau10" },
  legend: { labelLimit: 240, symbolOpacity: 1 }
})

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null)

const xTitle = (regime: RegimeResult) =>
  regime.xIsRollouts ? "rollouts spent (training + filtering extras + estimation)" : "step"

/**
 * Accuracy against rollouts, one line per curriculum with its 95 % band over seeds.
 *
 * @since 0.1.0
 * @category charts
 */
export const learningCurve = (regime: RegimeResult, metric: string): Chart | undefined => {
  const values: Array<Datum> = []
  for (const c of regime.curricula) {
    for (const p of c.curve) {
      const s = p.metrics[metric]
      if (s === undefined || !Number.isFinite(s.mean)) continue
      const half = Number.isFinite(s.ci95) ? s.ci95 : 0
      values.push({
        curriculum: c.label,
        rollouts: p.rollouts,
        step: p.step,
        mean: s.mean,
        lo: s.mean - half,
        hi: s.mean + half
      })
    }
  }
  if (values.length === 0) return undefined
  const x = { field: "rollouts", type: "quantitative" as const, title: xTitle(regime), axis: { format: "~s" } }
  const layers: Array<Record<string, unknown>> = [
    {
      mark: { type: "area", opacity: 0.15 },
      encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" }, color: colour(regime) }
    },
    {
      mark: { type: "line", point: { size: 14 }, strokeWidth: 1.6 },
      encoding: {
        x,
        y: { field: "mean", type: "quantitative", title: `${metric} (seed mean, 95% band)`, scale: { zero: false } },
        color: colour(regime),
        tooltip: [{ field: "curriculum" }, { field: "step" }, { field: "rollouts" }, { field: "mean", format: ".3f" }]
      }
    }
  ]
  if (regime.target !== undefined && regime.target.metric === metric) {
    layers.push({
      data: { values: [{ target: regime.target.value }] },
      mark: { type: "rule", strokeDash: [4, 4], color: "#555" },
      encoding: { y: { field: "target", type: "quantitative" } }
    })
  }
  return {
    id: `${regime.regime}-curve-${metric}`,
    title: `${metric} against rollouts — regime ${regime.regime}`,
    spec: { width, height, data: { values }, layer: layers } as unknown as vegaLite.TopLevelSpec
  }
}

const ratioText = (c: CurriculumResult, random: CurriculumResult | undefined): string => {
  if (c.rolloutsToTarget === undefined) return "not reached"
  if (random?.rolloutsToTarget === undefined) return compact(c.rolloutsToTarget)
  return `${compact(c.rolloutsToTarget)} (${(c.rolloutsToTarget / random.rolloutsToTarget).toFixed(2)}× random)`
}

/**
 * A number in k/M form (`153.6k`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const compact = (x: number): string =>
  !Number.isFinite(x)
    ? "-"
    : Math.abs(x) >= 1e6
    ? `${(x / 1e6).toFixed(2)}M`
    : Math.abs(x) >= 1e3
    ? `${(x / 1e3).toFixed(1)}k`
    : x.toFixed(0)

/**
 * Rollouts to reach the target per curriculum; curricula that never reach it
 * show a pale bar at what they spent.
 *
 * @since 0.1.0
 * @category charts
 */
export const rolloutsToTarget = (regime: RegimeResult): Chart | undefined => {
  if (regime.target === undefined) return undefined
  const random = regime.curricula.find((c) => c.curriculum === "random")
  const values: Array<Datum> = regime.curricula.map((c) => ({
    curriculum: c.label,
    rollouts: finite(c.rolloutsToTarget ?? c.rolloutsTotal.mean),
    reached: c.rolloutsToTarget !== undefined,
    text: ratioText(c, random)
  }))
  const y = { field: "curriculum", type: "nominal" as const, sort: null, title: null }
  // room on the right for the labels
  const top = 1.3 * Math.max(0, ...values.map((v) => (typeof v["rollouts"] === "number" ? v["rollouts"] : 0)))
  return {
    id: `${regime.regime}-to-target`,
    title: `${regime.xIsRollouts ? "rollouts" : "steps"} to reach ${regime.target.metric} ≥ ${
      regime.target.value.toFixed(3)
    } (${regime.target.source}) — regime ${regime.regime}`,
    spec: {
      width,
      height: Math.max(120, 26 * values.length),
      data: { values },
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            y,
            x: {
              field: "rollouts",
              type: "quantitative",
              title: xTitle(regime),
              axis: { format: "~s" },
              scale: { domain: [0, top], nice: false }
            },
            color: colour(regime),
            opacity: { condition: { test: "datum.reached", value: 1 }, value: 0.25 }
          }
        },
        {
          mark: { type: "text", align: "left", dx: 4, fontSize: 11 },
          encoding: { y, x: { field: "rollouts", type: "quantitative" }, text: { field: "text" } }
        }
      ]
    } as unknown as vegaLite.TopLevelSpec
  }
}

/**
 * `frac_reward_zero_std` over training (seed mean, rolling mean over 10 steps).
 *
 * @since 0.1.0
 * @category charts
 */
export const zeroVariance = (regime: RegimeResult): Chart | undefined => {
  const values: Array<Datum> = []
  for (const c of regime.curricula) {
    const window: Array<number> = []
    for (const p of c.zeroStd) {
      if (!Number.isFinite(p.value)) continue
      window.push(p.value)
      if (window.length > 10) window.shift()
      values.push({ curriculum: c.label, step: p.step, value: window.reduce((a, b) => a + b, 0) / window.length })
    }
  }
  if (values.length === 0) return undefined
  return {
    id: `${regime.regime}-zero-std`,
    title: `fraction of zero-variance groups (frac_reward_zero_std) — regime ${regime.regime}`,
    spec: {
      width,
      height: 240,
      data: { values },
      mark: { type: "line", strokeWidth: 1.5 },
      encoding: {
        x: { field: "step", type: "quantitative", title: "step" },
        y: { field: "value", type: "quantitative", title: "frac_reward_zero_std (10-step mean)" },
        color: colour(regime)
      }
    } as unknown as vegaLite.TopLevelSpec
  }
}

/**
 * Per-level accuracy over training for one curriculum (seed mean).
 *
 * @since 0.1.0
 * @category charts
 */
export const levelHeatmap = (regime: RegimeResult, c: CurriculumResult): Chart | undefined => {
  if (c.levels.length === 0) return undefined
  const values: Array<Datum> = c.levels.map((l) => ({
    level: `${l.set} L${l.level}`,
    step: l.step,
    acc: finite(l.acc)
  }))
  const rows = [...new Set(c.levels.map((l) => `${l.set} L${l.level}`))].sort()
  return {
    id: `${regime.regime}-levels-${c.curriculum.replace(/[^a-z0-9-]+/gi, "_")}`,
    title: `${c.label}: accuracy per level — regime ${regime.regime}`,
    spec: {
      width: 300,
      height: 22 * rows.length,
      data: { values },
      mark: { type: "rect" },
      encoding: {
        x: { field: "step", type: "ordinal", title: "step", axis: { labelOverlap: true } },
        y: { field: "level", type: "nominal", sort: rows, title: null },
        color: { field: "acc", type: "quantitative", scale: { domain: [0, 1], scheme: "viridis" }, title: "accuracy" }
      }
    } as unknown as vegaLite.TopLevelSpec
  }
}

/**
 * Every chart of a regime, in report order.
 *
 * @since 0.1.0
 * @category charts
 */
export const forRegime = (regime: RegimeResult): Array<Chart> =>
  [
    learningCurve(regime, "acc_ood"),
    learningCurve(regime, "acc_id"),
    rolloutsToTarget(regime),
    zeroVariance(regime),
    ...regime.curricula.map((c) => levelHeatmap(regime, c))
  ].filter((c): c is Chart => c !== undefined)

/**
 * Renders a chart to an SVG string.
 *
 * @since 0.1.0
 * @category rendering
 */
export const toSvg = async (chart: Chart): Promise<string> => {
  const compiled = vegaLite.compile({
    ...chart.spec,
    config: { font: "Helvetica, Arial, sans-serif", background: "white" }
  } as vegaLite.TopLevelSpec).spec
  const view = new vega.View(vega.parse(compiled), { renderer: "none" })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
