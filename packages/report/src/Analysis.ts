/**
 * From run directories to the numbers a user decides with, per regime and
 * curriculum, over seeds:
 *
 * - **Honest cost.** The x-axis is rollouts, not steps: at step t a run has
 *   spent `Σ_{s≤t} rollouts_generated_s` (training rollouts, DAPO's extra
 *   generation rounds, screening and filtering rollouts) plus the latest
 *   cumulative `estimation_rollouts` (AdaCuRL's and other offline difficulty
 *   estimates, charged from step 1). Runs without `rollouts_generated`
 *   (some real-model logs) fall back to steps.
 * - **Accuracy at each budget** (`acc_ood`, `acc_id`): mean and 95 % interval
 *   over seeds. A budget-aware curriculum (one that reads the budget, like the
 *   budget-stretched ordered baseline or AdaCuRL's round length) is read only
 *   from runs started with that budget; the others also from the prefix of a
 *   longer run (identical by construction, checked in the tests).
 * - **Cost to a target**: rollouts and wall time at which the seed-mean
 *   learning curve first reaches the target (linear between evaluations),
 *   plus how many single seeds reach it. The target defaults to random's final
 *   `acc_ood` at the largest budget.
 * - `frac_reward_zero_std` (mean over steps and seeds) and, when the metrics
 *   have them, per-level accuracies (`acc_<set>_level_<ℓ>` or `acc_level_<ℓ>`).
 *
 * @since 0.1.0
 */
import type { Row, Run } from "./RunData.ts"
import { firstCrossing, summarize, type Summary } from "./Stats.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface CurvePoint {
  readonly step: number
  /** Seed-mean cumulative rollouts (or the step when runs do not log rollouts). */
  readonly rollouts: number
  /** Seed-mean cumulative wall time in seconds (NaN without timings). */
  readonly wallS: number
  readonly metrics: Readonly<Record<string, Summary>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LevelCell {
  readonly set: string
  readonly level: number
  readonly step: number
  readonly acc: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CurriculumResult {
  readonly curriculum: string
  readonly label: string
  readonly seeds: number
  readonly budgetAware: boolean
  /** budget → metric → summary over seeds. */
  readonly atBudget: ReadonlyMap<number, Readonly<Record<string, Summary>>>
  /** Evaluation points of the longest runs (seed means). */
  readonly curve: ReadonlyArray<CurvePoint>
  /** Per-step seed-mean `frac_reward_zero_std` of the longest runs. */
  readonly zeroStd: ReadonlyArray<{ readonly step: number; readonly rollouts: number; readonly value: number }>
  readonly fracZeroStd: Summary
  readonly rolloutsTotal: Summary
  readonly estimationRollouts: Summary
  readonly rolloutsToTarget: number | undefined
  readonly wallToTargetS: number | undefined
  readonly seedsReachingTarget: number
  readonly levels: ReadonlyArray<LevelCell>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RegimeResult {
  readonly regime: string
  readonly budgets: ReadonlyArray<number>
  readonly target: { readonly metric: string; readonly value: number; readonly source: string } | undefined
  /** True when every run logs `rollouts_generated` (else the x-axis is steps). */
  readonly xIsRollouts: boolean
  readonly curricula: ReadonlyArray<CurriculumResult>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Budgets to report (default: every distinct run budget per regime). */
  readonly budgets?: ReadonlyArray<number>
  /** Absolute target for `targetMetric` (default: random's final mean at the largest budget). */
  readonly target?: number
  /** Default `acc_ood`. */
  readonly targetMetric?: string
  /** Curriculum order for tables and charts (others follow in name order). */
  readonly order?: ReadonlyArray<string>
}

/**
 * The accuracy metrics reported at each budget.
 *
 * @since 0.1.0
 * @category constants
 */
export const accuracyMetrics = ["acc_ood", "acc_id"] as const

const levelKey = /^acc_(?:(.+)_)?level_(\d+)$/

/**
 * `{set, level}` for a per-level accuracy key (`acc_id_level_2`, `acc_level_3`), else undefined.
 *
 * @since 0.1.0
 * @category metrics
 */
export const parseLevelKey = (key: string): { readonly set: string; readonly level: number } | undefined => {
  const m = levelKey.exec(key)
  return m === null ? undefined : { set: m[1] ?? "id", level: Number(m[2]) }
}

/**
 * A run's cumulative cost by step: rollouts (training + extras + estimation)
 * and wall seconds (setup, i.e. `wallMs − Σ step_ms`, is charged at step 1).
 *
 * @since 0.1.0
 * @category accounting
 */
export const cumulativeCost = (
  run: Run
): { readonly rollouts: Array<number>; readonly wallS: Array<number>; readonly hasRollouts: boolean } => {
  const hasRollouts = run.records.some((r) => Number.isFinite(r["rollouts_generated"]))
  let generated = 0
  let estimation = 0
  const rollouts = run.records.map((r) => {
    const g = r["rollouts_generated"]
    if (g !== undefined && Number.isFinite(g)) generated += g
    const e = r["estimation_rollouts"]
    if (e !== undefined && Number.isFinite(e)) estimation = Math.max(estimation, e)
    return hasRollouts ? generated + estimation : r.step
  })
  let wall = Number.NaN
  if (run.stepMs !== undefined && run.stepMs.size > 0) {
    const from = run.meta.resumedFrom ?? 0
    let segment = 0
    for (const [step, ms] of run.stepMs) if (step > from) segment += ms
    const setup = run.meta.wallMs === undefined ? 0 : Math.max(0, run.meta.wallMs - segment)
    wall = setup
  }
  const wallS = run.records.map((r) => {
    const ms = run.stepMs?.get(r.step)
    if (ms !== undefined) wall += ms
    else wall = Number.NaN
    return wall / 1000
  })
  return { rollouts, wallS, hasRollouts }
}

const valueAt = (run: Run, budget: number, key: string): number => {
  for (let i = run.records.length - 1; i >= 0; i--) {
    const r = run.records[i]!
    if (r.step <= budget && r[key] !== undefined && Number.isFinite(r[key])) return r[key]!
  }
  return Number.NaN
}

/** The run of this seed that answers for `budget`, if any. */
const runForBudget = (runs: ReadonlyArray<Run>, budget: number): Run | undefined =>
  runs.find((r) => r.meta.steps === budget && (r.records.at(-1)?.step ?? 0) >= budget) ??
    runs
      .filter((r) => !r.meta.budgetAware && r.meta.steps > budget && (r.records.at(-1)?.step ?? 0) >= budget)
      .sort((a, b) => a.meta.steps - b.meta.steps)[0]

const longest = (runs: ReadonlyArray<Run>): Run =>
  [...runs].sort((a, b) => (b.records.at(-1)?.step ?? 0) - (a.records.at(-1)?.step ?? 0))[0]!

const groupBy = <A>(xs: ReadonlyArray<A>, key: (a: A) => string): Map<string, Array<A>> => {
  const out = new Map<string, Array<A>>()
  for (const x of xs) {
    const k = key(x)
    const list = out.get(k) ?? []
    list.push(x)
    out.set(k, list)
  }
  return out
}

const mean = (xs: ReadonlyArray<number>) => summarize(xs).mean

const analyzeCurriculum = (
  runs: ReadonlyArray<Run>,
  budgets: ReadonlyArray<number>,
  target: { readonly metric: string; readonly value: number } | undefined
): CurriculumResult => {
  const bySeed = [...groupBy(runs, (r) => String(r.meta.seed)).values()]
  const atBudget = new Map<number, Record<string, Summary>>()
  for (const budget of budgets) {
    const chosen = bySeed.map((rs) => runForBudget(rs, budget)).filter((r): r is Run => r !== undefined)
    if (chosen.length === 0) continue
    atBudget.set(
      budget,
      Object.fromEntries(accuracyMetrics.map((m) => [m, summarize(chosen.map((r) => valueAt(r, budget, m)))]))
    )
  }
  const curveRuns = bySeed.map(longest)
  const costs = curveRuns.map(cumulativeCost)
  const length = Math.min(...curveRuns.map((r) => r.records.length))
  const metricKeys = new Set<string>()
  for (const r of curveRuns) {
    for (const row of r.records) for (const k of Object.keys(row)) if (k.startsWith("acc_")) metricKeys.add(k)
  }
  const curve: Array<CurvePoint> = []
  const zeroStd: Array<{ step: number; rollouts: number; value: number }> = []
  const levels: Array<LevelCell> = []
  for (let i = 0; i < length; i++) {
    const rows = curveRuns.map((r) => r.records[i]!) as ReadonlyArray<Row>
    const step = rows[0]!.step
    const rollouts = mean(costs.map((c) => c.rollouts[i]!))
    zeroStd.push({ step, rollouts, value: mean(rows.map((r) => r["frac_reward_zero_std"] ?? Number.NaN)) })
    const present = [...metricKeys].filter((k) => rows.some((r) => Number.isFinite(r[k])))
    if (present.length === 0) continue
    const metrics = Object.fromEntries(present.map((k) => [k, summarize(rows.map((r) => r[k] ?? Number.NaN))]))
    curve.push({ step, rollouts, wallS: mean(costs.map((c) => c.wallS[i]!)), metrics })
    for (const k of present) {
      const lv = parseLevelKey(k)
      if (lv !== undefined) levels.push({ ...lv, step, acc: metrics[k]!.mean })
    }
  }
  let rolloutsToTarget: number | undefined
  let wallToTargetS: number | undefined
  let seedsReachingTarget = 0
  if (target !== undefined) {
    const pts = (x: (p: CurvePoint) => number) =>
      curve.filter((p) => p.metrics[target.metric] !== undefined).map((p) => ({
        x: x(p),
        y: p.metrics[target.metric]!.mean
      }))
    rolloutsToTarget = firstCrossing(pts((p) => p.rollouts), target.value)
    wallToTargetS = firstCrossing(pts((p) => p.wallS), target.value)
    if (wallToTargetS !== undefined && !Number.isFinite(wallToTargetS)) wallToTargetS = undefined
    seedsReachingTarget = curveRuns.filter((r) =>
      r.records.some((row) => (row[target.metric] ?? Number.NaN) >= target.value)
    ).length
  }
  const first = runs[0]!.meta
  return {
    curriculum: first.curriculum,
    label: first.label,
    seeds: bySeed.length,
    budgetAware: first.budgetAware,
    atBudget,
    curve,
    zeroStd,
    fracZeroStd: summarize(curveRuns.map((r) => mean(r.records.map((x) => x["frac_reward_zero_std"] ?? Number.NaN)))),
    rolloutsTotal: summarize(costs.map((c) => c.rollouts.at(-1) ?? Number.NaN)),
    estimationRollouts: summarize(
      curveRuns.map((r) => Math.max(0, ...r.records.map((x) => x["estimation_rollouts"] ?? 0).filter(Number.isFinite)))
    ),
    rolloutsToTarget,
    wallToTargetS,
    seedsReachingTarget,
    levels
  }
}

/**
 * Everything the report shows, per regime.
 *
 * @since 0.1.0
 * @category analysis
 */
export const analyze = (runs: ReadonlyArray<Run>, options: Options = {}): Array<RegimeResult> => {
  const metric = options.targetMetric ?? "acc_ood"
  const rank = (name: string) => {
    const i = options.order?.indexOf(name) ?? -1
    return i < 0 ? Number.MAX_SAFE_INTEGER : i
  }
  return [...groupBy(runs, (r) => r.meta.regime)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(
    ([regime, regimeRuns]) => {
      const budgets = [...(options.budgets ?? new Set(regimeRuns.map((r) => r.meta.steps)))].sort((a, b) => a - b)
      const byCurriculum = [...groupBy(regimeRuns, (r) => r.meta.curriculum)].sort(([a], [b]) =>
        rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)
      )
      let target: RegimeResult["target"]
      if (options.target !== undefined) target = { metric, value: options.target, source: "--target" }
      else {
        const random = byCurriculum.find(([name]) => name === "random")?.[1]
        const top = budgets.at(-1)
        if (random !== undefined && top !== undefined) {
          const finals = [...groupBy(random, (r) => String(r.meta.seed)).values()]
            .map((rs) => runForBudget(rs, top))
            .filter((r): r is Run => r !== undefined)
            .map((r) => valueAt(r, top, metric))
          const value = summarize(finals).mean
          if (Number.isFinite(value)) target = { metric, value, source: `random's final ${metric} at ${top} steps` }
        }
      }
      return {
        regime,
        budgets,
        target,
        xIsRollouts: regimeRuns.every((r) => cumulativeCost(r).hasRollouts),
        curricula: byCurriculum.map(([, rs]) => analyzeCurriculum(rs, budgets, target))
      }
    }
  )
}
