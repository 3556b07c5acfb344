/**
 * The server's durable state in its `--state DIR`: `checkpoint.json` (the
 * whole session, written temp + fsync + rename) and `journal.jsonl` (one JSON
 * line per accepted select, observe and attach since that checkpoint,
 * written — and by default fsynced — before the reply leaves). Recovery reads the checkpoint and
 * replays the journal; a torn last line (the process died mid-write, so no
 * reply was sent for it) is cut off, a bad line before it is an error naming
 * the file and line. A checkpoint compacts: once it is renamed into place
 * the journal is truncated.
 *
 * @since 0.3.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { sha256, writeAtomic } from "@zpd/core/Checkpoint"
import { CheckpointError } from "@zpd/core/Errors"
import * as Jsonl from "@zpd/core/Jsonl"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * The checkpoint file of a state directory.
 *
 * @since 0.3.0
 * @category constants
 */
export const checkpointFile = (dir: string): string => `${dir}/checkpoint.json`

/**
 * The journal file of a state directory.
 *
 * @since 0.3.0
 * @category constants
 */
export const journalFile = (dir: string): string => `${dir}/journal.jsonl`

/**
 * One journal line and its 1-based line number.
 *
 * @since 0.3.0
 * @category models
 */
export interface Line {
  readonly line: number
  readonly entry: Record<string, unknown>
}

/**
 * When a journal line counts as written: `fsync` (default) waits for the
 * disk, so an acknowledged step survives power loss; `write` hands the line
 * to the operating system only, which survives the server process dying
 * (kill -9) but not the machine — enough when the trainer keeps the server's
 * state in its own checkpoint (`GET /v1/state`) and restores it after a
 * machine failure [R].
 *
 * @since 0.3.0
 * @category models
 */
export type Sync = "fsync" | "write"

/**
 * An open journal: appends are durable (per {@link Sync}) when their effect completes.
 *
 * @since 0.3.0
 * @category models
 */
export interface Journal {
  readonly path: string
  /** Appends one entry as a JSON line and fsyncs. */
  readonly append: (entry: unknown) => Effect.Effect<void, CheckpointError>
  /** Empties the journal (after a checkpoint took its content) and fsyncs. */
  readonly truncate: Effect.Effect<void, CheckpointError>
}

const encoder = new TextEncoder()

const failed = (path: string, what: string) => (e: { readonly message: string }) =>
  new CheckpointError({ path, reason: `${what} failed: ${e.message}` })

/**
 * Reads the journal's entries, cutting off a torn last line (bytes after the
 * final newline). A missing journal has no entries.
 *
 * @since 0.3.0
 * @category io
 */
export const readLines = (dir: string): Effect.Effect<Array<Line>, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = journalFile(dir)
    if (!(yield* fs.exists(path).pipe(Effect.mapError(failed(path, "stat"))))) return []
    const bytes = yield* fs.readFile(path).pipe(Effect.mapError(failed(path, "read")))
    const end = bytes.lastIndexOf(0x0a) + 1
    if (end < bytes.length) {
      yield* fs.truncate(path, end).pipe(Effect.mapError(failed(path, "cutting the torn last line")))
    }
    const text = new TextDecoder().decode(bytes.subarray(0, end))
    const out: Array<Line> = []
    for (const { line, value, error } of Jsonl.records(text)) {
      if (error !== undefined) {
        return yield* new CheckpointError({ path, reason: `line ${line}: not JSON (${error})` })
      }
      if (!Jsonl.isObject(value)) {
        return yield* new CheckpointError({ path, reason: `line ${line}: expected a JSON object` })
      }
      out.push({ line, entry: value as Record<string, unknown> })
    }
    return out
  })

/**
 * Opens the journal for appending (created if missing) for the life of the
 * scope.
 *
 * @since 0.3.0
 * @category io
 */
export const open = (
  dir: string,
  sync: Sync = "fsync"
): Effect.Effect<Journal, CheckpointError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = journalFile(dir)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(failed(dir, "creating the state directory")))
    const file = yield* fs.open(path, { flag: "a" }).pipe(Effect.mapError(failed(path, "open")))
    return {
      path,
      append: (entry) =>
        Effect.zipRight(
          file.writeAll(encoder.encode(JSON.stringify(entry) + "\n")),
          sync === "fsync" ? file.sync : Effect.void
        ).pipe(
          Effect.mapError(failed(path, "append"))
        ),
      truncate: Effect.zipRight(file.truncate(0), file.sync).pipe(Effect.mapError(failed(path, "truncate")))
    }
  })

/**
 * Writes the checkpoint (a JSON object): a first line `{"checksum":
 * "<sha256 of the rest>"}`, then the object's JSON.
 *
 * @since 0.3.0
 * @category io
 */
export const writeCheckpoint = (
  dir: string,
  checkpoint: Readonly<Record<string, unknown>>
): Effect.Effect<string, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const text = JSON.stringify(checkpoint)
    const checksum = yield* sha256(text)
    const path = checkpointFile(dir)
    yield* writeAtomic(path, `${JSON.stringify({ checksum })}\n${text}`, { sync: true })
    return path
  })

/**
 * Reads the checkpoint, or `undefined` when the directory has none; a file
 * that is not JSON or whose checksum does not match is an error naming it.
 *
 * @since 0.3.0
 * @category io
 */
export const readCheckpoint = (
  dir: string
): Effect.Effect<Record<string, unknown> | undefined, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = checkpointFile(dir)
    if (!(yield* fs.exists(path).pipe(Effect.mapError(failed(path, "stat"))))) return undefined
    const text = yield* fs.readFileString(path).pipe(Effect.mapError(failed(path, "read")))
    const newline = text.indexOf("\n")
    let checksum: unknown
    try {
      checksum = (JSON.parse(text.slice(0, Math.max(0, newline))) as { checksum?: unknown }).checksum
    } catch {
      checksum = undefined
    }
    if (newline < 0 || typeof checksum !== "string") {
      return yield* new CheckpointError({
        path,
        reason: `line 1: expected {"checksum": "<sha256>"} (a zpd serve checkpoint)`
      })
    }
    const body = text.slice(newline + 1)
    const actual = yield* sha256(body)
    if (actual !== checksum) {
      return yield* new CheckpointError({
        path,
        reason: `checksum mismatch: recorded ${checksum}, the content hashes to ${actual} (modified or corrupted)`
      })
    }
    return JSON.parse(body) as Record<string, unknown>
  })
