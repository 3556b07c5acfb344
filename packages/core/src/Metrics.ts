/**
 * Per-step metrics. Names follow the peers so results compare across tools:
 * `frac_reward_zero_std` (TRL), `effective_ratio` (PCL), `reward_mean`,
 * `adv_abs_mean`, `kl_mean`, `sampled_difficulty_mean`, `competence`,
 * `rollouts_generated`, `rollouts_discarded`, `gen_rounds`.
 *
 * Every value in `metrics.jsonl` is a deterministic function of the seed, so
 * two runs with the same seed write byte-identical files. Wall-clock timings
 * (`select_ms`, `step_ms`, …) are not: they go to `timings.jsonl` and the
 * progress line instead.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * One step's metrics. `step` is 1-based.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepRecord {
  readonly step: number
  readonly [name: string]: number
}

/**
 * The Schema of a `metrics.jsonl` line (non-finite values are written as
 * `null` and read back as NaN).
 *
 * @since 0.1.0
 * @category schemas
 */
export const StepRecord: Schema.Schema<StepRecord, { readonly step: number; readonly [name: string]: number | null }> =
  Schema.Struct(
    { step: Schema.Int },
    Schema.Record({
      key: Schema.String,
      value: Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
        strict: true,
        decode: (v) => v ?? Number.NaN,
        encode: (v) => (Number.isFinite(v) ? v : null)
      })
    })
  ) as never

/**
 * The order in which standard metrics are written; other keys follow sorted.
 *
 * @since 0.1.0
 * @category constants
 */
export const standardNames: ReadonlyArray<string> = [
  "step",
  "reward_mean",
  "frac_reward_zero_std",
  "effective_ratio",
  "adv_abs_mean",
  "kl_mean",
  "sampled_difficulty_mean",
  "competence",
  "rollouts_generated",
  "rollouts_discarded",
  "gen_rounds",
  "loss",
  "clipfrac",
  "grad_norm",
  "policy_version"
]

const rank = new Map(standardNames.map((n, i) => [n, i]))

/**
 * Metric names in canonical order.
 *
 * @since 0.1.0
 * @category encoding
 */
export const orderKeys = (keys: Iterable<string>): Array<string> =>
  Array.from(keys).sort((a, b) => {
    const ra = rank.get(a)
    const rb = rank.get(b)
    if (ra !== undefined && rb !== undefined) return ra - rb
    if (ra !== undefined) return -1
    if (rb !== undefined) return 1
    return a < b ? -1 : a > b ? 1 : 0
  })

/**
 * A mutable per-step accumulator stages write into.
 *
 * @since 0.1.0
 * @category models
 */
export class Sink {
  readonly values = new Map<string, number>()
  readonly timings = new Map<string, number>()
  set(name: string, value: number): void {
    this.values.set(name, value)
  }
  add(name: string, value: number): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value)
  }
  time(name: string, ms: number): void {
    this.timings.set(name, (this.timings.get(name) ?? 0) + ms)
  }
  record(step: number): StepRecord {
    const out: Record<string, number> = { step }
    for (const key of orderKeys(this.values.keys())) if (key !== "step") out[key] = this.values.get(key)!
    return out as StepRecord
  }
}

/**
 * One JSONL line. Non-finite values are written as `null` (JSON has no NaN).
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJsonLine = (record: Readonly<Record<string, number>>): string =>
  JSON.stringify(record, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v)) + "\n"

/**
 * Mean of `name` over `records` (ignoring records without it).
 *
 * @since 0.1.0
 * @category summaries
 */
export const meanOf = (records: ReadonlyArray<Readonly<Record<string, number>>>, name: string): number => {
  let s = 0
  let n = 0
  for (const r of records) {
    const v = r[name]
    if (typeof v === "number" && Number.isFinite(v)) {
      s += v
      n++
    }
  }
  return n === 0 ? Number.NaN : s / n
}

/**
 * Last value of `name` in `records`.
 *
 * @since 0.1.0
 * @category summaries
 */
export const lastOf = (records: ReadonlyArray<Readonly<Record<string, number>>>, name: string): number => {
  for (let i = records.length - 1; i >= 0; i--) {
    const v = records[i]![name]
    if (typeof v === "number") return v
  }
  return Number.NaN
}

/**
 * The rollouts spent by the end of `records`: Σ `rollouts_generated` (every
 * rollout made during steps: the training groups, DAPO's and online
 * filtering's refill rounds, SPEED's screening) plus the largest cumulative
 * `estimation_rollouts` (one-off estimates before training: AdaCuRL's, the
 * pre-filter baseline's, SEC's estimated arms), charged once. The report's
 * cost axis (`@zpd/report` `Analysis.cumulativeCost`) charges the same.
 *
 * @since 0.2.0
 * @category summaries
 */
export const rolloutsCharged = (records: ReadonlyArray<Readonly<Record<string, number>>>): number => {
  let generated = 0
  let estimation = 0
  for (const r of records) {
    const g = r["rollouts_generated"]
    if (typeof g === "number" && Number.isFinite(g)) generated += g
    const e = r["estimation_rollouts"]
    if (typeof e === "number" && Number.isFinite(e)) estimation = Math.max(estimation, e)
  }
  return generated + estimation
}

const fmt = (v: number | undefined, digits = 3): string =>
  v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits)

/**
 * The live progress line: step, reward, zero-std fraction, difficulty, KL and
 * selection time.
 *
 * @since 0.1.0
 * @category formatting
 */
export const progressLine = (
  name: string,
  record: StepRecord,
  totalSteps: number,
  timings: ReadonlyMap<string, number>
): string => {
  const parts = [
    `[${name}] step ${record.step}/${totalSteps}`,
    `reward ${fmt(record["reward_mean"])}`,
    `zero_std ${fmt(record["frac_reward_zero_std"])}`,
    `difficulty ${fmt(record["sampled_difficulty_mean"], 2)}`,
    `kl ${fmt(record["kl_mean"], 4)}`
  ]
  for (const key of Object.keys(record)) {
    if (key.startsWith("acc_")) parts.push(`${key} ${fmt(record[key])}`)
  }
  const select = timings.get("select_ms")
  if (select !== undefined) parts.push(`select ${select.toFixed(1)}ms`)
  return parts.join(" | ")
}

/**
 * A fixed-width table, for the end-of-run comparison.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}
