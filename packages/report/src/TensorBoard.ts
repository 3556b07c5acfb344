/**
 * TensorBoard event files beside `metrics.jsonl`, so that people who live in
 * TensorBoard (or W&B via `wandb sync --sync-tensorboard`) see zpd runs where
 * they look. Scalars only: every finite metric of a step becomes a
 * `Summary.Value{tag, simple_value}` of one `Event{wall_time, step}`, framed as
 * a TFRecord (see {@link TfRecord}). The protobuf messages are encoded by hand
 * from tensorflow/core/util/event.proto and framework/summary.proto:
 *
 * ```
 * Event      { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *              SessionLog session_log = 7; }
 * Summary    { repeated Value value = 1; }
 * Value      { string tag = 1; float simple_value = 2; }
 * SessionLog { SessionStatus status = 1; }   // START = 1
 * ```
 *
 * Event files are not deterministic (they carry wall time), unlike
 * `metrics.jsonl`. Each file begins its steps with a `SessionLog START` event,
 * as TensorFlow's writer does after a restart: a resumed run writes a new
 * file, and TensorBoard's reader (`purge_orphaned_data`, on by default) drops
 * the old file's steps from the resume step on.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { ConfigError } from "@zpd/core/Errors"
import * as Hook from "@zpd/core/Hook"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { frame } from "./TfRecord.ts"

const utf8 = new TextEncoder()

const varint = (value: number): Array<number> => {
  const out: Array<number> = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array | ReadonlyArray<number>>): Uint8Array => {
  const total = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A length-delimited field (wire type 2). */
const bytesField = (field: number, bytes: Uint8Array): Uint8Array =>
  concat([varint((field << 3) | 2), varint(bytes.length), bytes])

const doubleField = (field: number, value: number): Uint8Array => {
  const out = new Uint8Array(9)
  out[0] = (field << 3) | 1
  new DataView(out.buffer).setFloat64(1, value, true)
  return out
}

const floatField = (field: number, value: number): Uint8Array => {
  const out = new Uint8Array(5)
  out[0] = (field << 3) | 5
  new DataView(out.buffer).setFloat32(1, value, true)
  return out
}

const varintField = (field: number, value: number): Uint8Array => concat([varint(field << 3), varint(value)])

/**
 * The version record every event file starts with.
 *
 * @since 0.1.0
 * @category encoding
 */
export const fileVersionEvent = (wallTime: number): Uint8Array =>
  concat([doubleField(1, wallTime), varintField(2, 0), bytesField(3, utf8.encode("brain.Event:2"))])

/**
 * `Event{session_log: {status: START}}` at `step`: readers discard earlier
 * events at or after `step`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sessionStartEvent = (wallTime: number, step: number): Uint8Array =>
  concat([doubleField(1, wallTime), varintField(2, step), bytesField(7, varintField(1, 1))])

/**
 * One `Event` holding a scalar summary per finite entry of `scalars`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const scalarEvent = (
  wallTime: number,
  step: number,
  scalars: Readonly<Record<string, number>>
): Uint8Array => {
  const values = Object.entries(scalars)
    .filter(([, v]) => typeof v === "number" && Number.isFinite(v))
    .map(([tag, v]) => bytesField(1, concat([bytesField(1, utf8.encode(tag)), floatField(2, v)])))
  return concat([doubleField(1, wallTime), varintField(2, step), bytesField(5, concat(values))])
}

/**
 * The name TensorBoard looks for (`*tfevents*`), ordered by creation time and
 * then by `index`, so a resumed run's file sorts after the original's.
 *
 * @since 0.1.0
 * @category files
 */
export const fileName = (wallTimeSeconds: number, index: number): string =>
  `events.out.tfevents.${Math.floor(wallTimeSeconds)}.zpd.${String(index).padStart(4, "0")}`

/**
 * A scalar event file in `dir`, created on first use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  readonly path: Effect.Effect<string, ConfigError>
  readonly scalars: (step: number, scalars: Readonly<Record<string, number>>) => Effect.Effect<void, ConfigError>
}

const ioError = (dir: string) => (e: { readonly message: string }) =>
  new ConfigError({
    field: "out",
    expected: `a writable run directory for TensorBoard events (${dir})`,
    actual: e.message
  })

/**
 * Opens a new event file in `dir` (a new file each time: event files are
 * append-only). Wall times come from Effect's `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writer = (dir: string): Effect.Effect<Writer, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    let path: string | undefined
    let started = false
    const open = Effect.gen(function*() {
      if (path !== undefined) return path
      const now = (yield* Clock.currentTimeMillis) / 1000
      yield* fs.makeDirectory(dir, { recursive: true })
      const existing = (yield* fs.readDirectory(dir)).filter((f) => f.includes("tfevents")).length
      const file = `${dir}/${fileName(now, existing)}`
      yield* fs.writeFile(file, frame(fileVersionEvent(now)))
      path = file
      return file
    }).pipe(Effect.mapError(ioError(dir)))
    return {
      path: open,
      scalars: (step, scalars) =>
        Effect.gen(function*() {
          const file = yield* open
          const now = (yield* Clock.currentTimeMillis) / 1000
          const event = frame(scalarEvent(now, step, scalars))
          const bytes = started ? event : new Uint8Array([...frame(sessionStartEvent(now, step)), ...event])
          started = true
          yield* fs.writeFile(file, bytes, { flag: "a" }).pipe(
            Effect.mapError(ioError(dir))
          )
        })
    }
  })

/**
 * A pipeline hook that writes every step's metrics (without `step`) to an
 * event file in `dir`. Add it with `Pipeline.withHooks`.
 *
 * @since 0.1.0
 * @category hooks
 */
export const hook = (dir: string): Effect.Effect<Hook.Hook<ConfigError>, never, FileSystem.FileSystem> =>
  Effect.map(writer(dir), (w) =>
    Hook.make("tensorboard", (end) => {
      const { step: _, ...scalars } = end.record
      return w.scalars(end.step, scalars)
    }))

/**
 * Writes an event file for an existing run directory from its
 * `metrics.jsonl` (for runs made before event files, or elsewhere).
 *
 * @since 0.1.0
 * @category files
 */
export const fromRecords = (
  dir: string,
  records: ReadonlyArray<Readonly<Record<string, number>>>
): Effect.Effect<string, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const w = yield* writer(dir)
    for (const { step, ...scalars } of records) yield* w.scalars(step ?? 0, scalars)
    return yield* w.path
  })
