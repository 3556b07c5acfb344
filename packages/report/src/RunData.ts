/**
 * Reading run directories for reports: any directory with a `metrics.jsonl`
 * (zpd's simulated runs, the PyTorch worker's real-model runs, older runs),
 * tolerating missing metrics, with `timings.jsonl` and `run.json` used when
 * present. Also the completeness test the benchmark's resume relies on.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Jsonl from "@zpd/core/Jsonl"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { RunMeta } from "./RunMeta.ts"

/**
 * A run directory that cannot be read: `path` (and `line`, 1-based) say where.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunDirError extends Schema.TaggedError<RunDirError>("@zpd/report/RunDirError")("RunDirError", {
  path: Schema.String,
  line: Schema.optional(Schema.Number),
  expected: Schema.String
}) {
  override get message(): string {
    return `${this.line === undefined ? this.path : `${this.path}:${this.line}`}: expected ${this.expected}`
  }
}

/**
 * One step's values; any metric may be missing.
 *
 * @since 0.1.0
 * @category models
 */
export type Row = Readonly<Record<string, number>> & { readonly step: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface Run {
  readonly dir: string
  /** From `run.json`, or inferred: curriculum = the directory's name, regime "runs", budget = last step. */
  readonly meta: RunMeta
  readonly records: ReadonlyArray<Row>
  /** `step_ms` by step from `timings.jsonl`, when present. */
  readonly stepMs: ReadonlyMap<number, number> | undefined
}

const parseLines = (path: string, text: string): Effect.Effect<Array<Row>, RunDirError> =>
  Effect.suspend(() => {
    const rows: Array<Row> = []
    for (const record of Jsonl.records(text)) {
      if (record.error !== undefined) {
        // A run still being written may end in a partial line: tolerate only the last one.
        if (record.last) break
        return Effect.fail(new RunDirError({ path, line: record.line, expected: "a JSON object per line" }))
      }
      const value = record.value
      const step = Jsonl.isObject(value) ? value["step"] : undefined
      if (!Jsonl.isObject(value) || typeof step !== "number" || !Number.isInteger(step)) {
        return Effect.fail(
          new RunDirError({ path, line: record.line, expected: `an object with an integer "step"` })
        )
      }
      const row: Record<string, number> = {}
      for (const [k, v] of Object.entries(value)) row[k] = typeof v === "number" ? v : Number.NaN
      rows.push(row as Row)
    }
    return Effect.succeed(rows)
  })

const baseName = (dir: string) => dir.replace(/\/+$/, "").split("/").pop() ?? dir

/**
 * Loads one run directory.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (dir: string): Effect.Effect<Run, RunDirError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const metricsPath = `${dir}/metrics.jsonl`
    const text = yield* fs.readFileString(metricsPath).pipe(
      Effect.mapError(() =>
        new RunDirError({ path: metricsPath, expected: "a readable metrics.jsonl (a run directory)" })
      )
    )
    const records = yield* parseLines(metricsPath, text)
    const timingsText = yield* fs.readFileString(`${dir}/timings.jsonl`).pipe(Effect.option)
    let stepMs: Map<number, number> | undefined
    if (timingsText._tag === "Some") {
      const timings = yield* parseLines(`${dir}/timings.jsonl`, timingsText.value)
      stepMs = new Map(timings.filter((t) => Number.isFinite(t["step_ms"])).map((t) => [t.step, t["step_ms"]!]))
    }
    const metaText = yield* fs.readFileString(`${dir}/run.json`).pipe(Effect.option)
    let meta: RunMeta
    if (metaText._tag === "Some") {
      meta = yield* Effect.try(() => JSON.parse(metaText.value) as unknown).pipe(
        Effect.flatMap(Schema.decodeUnknown(RunMeta)),
        Effect.mapError(() =>
          new RunDirError({ path: `${dir}/run.json`, expected: "curriculum, label, regime, seed, steps, budgetAware" })
        )
      )
    } else {
      const checkpoint = yield* fs.readFileString(`${dir}/checkpoint/state.json`).pipe(
        Effect.map((t) => JSON.parse(t) as { seed?: unknown }),
        Effect.orElseSucceed(() => ({ seed: undefined }))
      )
      const name = baseName(dir)
      meta = {
        curriculum: name,
        label: name,
        regime: "runs",
        seed: typeof checkpoint.seed === "number" ? checkpoint.seed : 0,
        steps: records.at(-1)?.step ?? 0,
        budgetAware: true
      }
    }
    return { dir, meta, records, stepMs }
  })

/**
 * Every run directory at or under `paths` (a directory holding
 * `metrics.jsonl`, searched recursively), sorted.
 *
 * @since 0.1.0
 * @category loading
 */
export const discover = (
  paths: ReadonlyArray<string>
): Effect.Effect<Array<string>, RunDirError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const found: Array<string> = []
    const visit = (dir: string): Effect.Effect<void, never> =>
      Effect.gen(function*() {
        if (yield* fs.exists(`${dir}/metrics.jsonl`).pipe(Effect.orElseSucceed(() => false))) {
          found.push(dir)
          return
        }
        const entries = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
        for (const e of entries.sort()) {
          const info = yield* fs.stat(`${dir}/${e}`).pipe(Effect.option)
          if (info._tag === "Some" && info.value.type === "Directory" && e !== "checkpoint") yield* visit(`${dir}/${e}`)
        }
      })
    for (const p of paths) {
      const clean = p.replace(/\/+$/, "")
      if (!(yield* fs.exists(clean).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* Effect.fail(new RunDirError({ path: clean, expected: "an existing run directory" }))
      }
      yield* visit(clean)
    }
    if (found.length === 0) {
      return yield* Effect.fail(
        new RunDirError({ path: paths.join(", "), expected: "at least one directory with a metrics.jsonl" })
      )
    }
    return found
  })

/**
 * What a benchmark does with a run directory: skip it (`complete`: `run.json`
 * present and `metrics.jsonl` has every step 1..steps), `resume` it from its
 * checkpoint, or start it `fresh`.
 *
 * @since 0.1.0
 * @category loading
 */
export const status = (
  dir: string,
  steps: number
): Effect.Effect<"complete" | "resume" | "fresh", never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const has = (p: string) => fs.exists(`${dir}/${p}`).pipe(Effect.orElseSucceed(() => false))
    if (yield* has("run.json")) {
      const text = yield* fs.readFileString(`${dir}/metrics.jsonl`).pipe(Effect.orElseSucceed(() => ""))
      const rows = yield* parseLines(dir, text).pipe(Effect.orElseSucceed(() => [] as Array<Row>))
      if (rows.length === steps && rows.every((r, i) => r.step === i + 1)) return "complete"
    }
    return (yield* has("checkpoint/state.json")) ? "resume" : "fresh"
  })
