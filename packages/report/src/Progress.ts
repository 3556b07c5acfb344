/**
 * The benchmark's live display: one line per running job and an overall line
 * with runs done, steps done and an ETA from this session's step rate.
 * Pure: the runner owns the clock and the terminal.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface Running {
  readonly label: string
  readonly steps: number
  /** The step the job started after (non-zero when resumed). */
  readonly from: number
  step: number
  readonly startedMs: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly startedMs: number
  readonly totalJobs: number
  /** Steps still to run when the bench started (skipped jobs excluded). */
  readonly totalSteps: number
  skipped: number
  finished: number
  failed: number
  /** Steps of finished jobs run this session. */
  finishedSteps: number
  readonly running: Map<string, Running>
}

/**
 * @since 0.1.0
 * @category formatting
 */
export const duration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "?"
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}

const bar = (fraction: number, width = 20): string => {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return "█".repeat(full) + "░".repeat(width - full)
}

/**
 * Steps run so far this session (finished jobs and the running ones' progress).
 *
 * @since 0.1.0
 * @category formatting
 */
export const stepsDone = (state: State): number =>
  state.finishedSteps + [...state.running.values()].reduce((n, r) => n + Math.max(0, r.step - r.from), 0)

/**
 * Seconds left at this session's step rate (NaN before the first step).
 *
 * @since 0.1.0
 * @category formatting
 */
export const etaMs = (state: State, nowMs: number): number => {
  const done = stepsDone(state)
  if (done <= 0) return Number.NaN
  return ((state.totalSteps - done) * (nowMs - state.startedMs)) / done
}

/**
 * The display: running jobs first, then the overall line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (state: State, nowMs: number): Array<string> => {
  const labelWidth = Math.max(0, ...[...state.running.values()].map((r) => r.label.length))
  const lines = [...state.running.values()].map((r) => {
    const rate = (r.step - r.from) / Math.max(1e-3, (nowMs - r.startedMs) / 1000)
    return `  ${r.label.padEnd(labelWidth)}  ${bar(r.step / r.steps)} ${
      String(r.step).padStart(String(r.steps).length)
    }/${r.steps}  ${rate.toFixed(1)} steps/s`
  })
  const done = stepsDone(state)
  const pct = state.totalSteps === 0 ? 100 : (100 * done) / state.totalSteps
  const parts = [
    `bench: ${state.finished + state.skipped}/${state.totalJobs} runs done`,
    state.skipped > 0 ? `(${state.skipped} already complete)` : "",
    state.failed > 0 ? `${state.failed} failed` : "",
    `${done}/${state.totalSteps} steps (${pct.toFixed(0)}%)`,
    `elapsed ${duration(nowMs - state.startedMs)}`,
    `ETA ${duration(etaMs(state, nowMs))}`
  ]
  lines.push(parts.filter((p) => p.length > 0).join("  "))
  return lines
}
