/**
 * Complete curriculum checkpoints: the step, the run's {@link Identity}, the
 * curriculum's whole state (per-problem columns, arms, buffers, competence),
 * the trainer's state and a digest of the metrics written so far,
 * Schema-encoded into one JSON file with a SHA-256 checksum, written
 * atomically (temp file, then rename). Random streams are derived from (seed, step), so nothing else is
 * needed for a resumed run to reproduce the uninterrupted one exactly.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CheckpointError } from "./Errors.ts"
import { TrainerCheckpoint } from "./Runtime.ts"

/**
 * What makes two runs the same run: a checkpoint resumes only into a run whose
 * identity matches field by field. The dataset is known by the SHA-256 of its
 * problems' content (path-independent: the same data under another path
 * resumes, changed data under the same path does not); `name` is kept for
 * messages only.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Identity = Schema.Struct({
  seed: Schema.Int,
  /** `plugin.identity` (canonical JSON of the composition and its options) or the plugin's name. */
  curriculum: Schema.String,
  pipeline: Schema.String,
  dataset: Schema.Struct({ name: Schema.String, size: Schema.Int, hash: Schema.String }),
  batchSize: Schema.Int,
  groupSize: Schema.Int,
  /** Canonical JSON of the sampling parameters, the loss and the evaluation schedule. */
  settings: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type Identity = Schema.Schema.Type<typeof Identity>

/**
 * The checkpoint format written by this version.
 *
 * @since 0.1.0
 * @category constants
 */
export const format = "zpd-checkpoint/2" as const

/**
 * A checkpoint's content. On disk it also carries `checksum`, the SHA-256 of
 * the rest of the file, verified on read.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Checkpoint = Schema.Struct({
  format: Schema.Literal(format),
  /** The last completed step. */
  step: Schema.Int.pipe(Schema.nonNegative()),
  identity: Identity,
  /** {@link chainDigest} over the `metrics.jsonl` lines of steps 1..step. */
  metrics: Schema.String,
  curriculum: Schema.Unknown,
  trainer: Schema.NullOr(TrainerCheckpoint)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Checkpoint = Schema.Schema.Type<typeof Checkpoint>

const File = Schema.extend(Checkpoint, Schema.Struct({ checksum: Schema.String }))

/**
 * Hex SHA-256 of a UTF-8 string, through Web Crypto (Node ≥ 20, Deno, Bun).
 *
 * @since 0.1.0
 * @category hashing
 */
export const sha256 = (text: string): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).pipe(
    Effect.map((buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join(""))
  )

/**
 * The running digest of a `metrics.jsonl`: `d_k = sha256(d_{k-1} + line_k)`,
 * `d_0 = ""`. A checkpoint stores `d_step`, so a resume can tell the run's
 * own metrics from another run's lines left in the same directory.
 *
 * @since 0.1.0
 * @category hashing
 */
export const chainDigest = (previous: string, line: string): Effect.Effect<string> => sha256(previous + line)

/**
 * The checkpoint file inside a run directory.
 *
 * @since 0.1.0
 * @category constants
 */
export const fileIn = (dir: string): string => `${dir}/checkpoint/state.json`

/**
 * Writes `contents` to `path` atomically: a sibling temp file, then rename.
 * Readers never see a half-written file. With `sync`, the temp file is
 * fsynced before the rename, so the new content also survives a machine
 * crash (the curriculum server's checkpoint).
 *
 * @since 0.1.0
 * @category io
 */
export const writeAtomic = (
  path: string,
  contents: string,
  options: { readonly sync?: boolean } = {}
): Effect.Effect<void, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")))
    const tmp = `${path}.tmp`
    yield* Effect.gen(function*() {
      if (dir.length > 0) yield* fs.makeDirectory(dir, { recursive: true })
      if (options.sync === true) {
        yield* Effect.scoped(Effect.flatMap(fs.open(tmp, { flag: "w" }), (file) =>
          Effect.zipRight(file.writeAll(new TextEncoder().encode(contents)), file.sync)))
      } else yield* fs.writeFileString(tmp, contents)
      yield* fs.rename(tmp, path)
    }).pipe(Effect.mapError((e) =>
      new CheckpointError({ path, reason: `write failed: ${e.message}` })
    ))
  })

const body = (checkpoint: Checkpoint): string => JSON.stringify(Schema.encodeSync(Checkpoint)(checkpoint))

/**
 * Writes the checkpoint of a run directory atomically, with its checksum.
 *
 * @since 0.1.0
 * @category io
 */
export const write = (
  dir: string,
  checkpoint: Checkpoint
): Effect.Effect<void, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const text = body(checkpoint)
    const checksum = yield* sha256(text)
    yield* writeAtomic(fileIn(dir), `${text.slice(0, -1)},"checksum":"${checksum}"}`)
  })

/**
 * Reads and validates the checkpoint of a run directory: the format, the
 * schema, and the checksum (a flipped byte anywhere is refused).
 *
 * @since 0.1.0
 * @category io
 */
export const read = (dir: string): Effect.Effect<Checkpoint, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = fileIn(dir)
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(() =>
        new CheckpointError({ path, reason: "no checkpoint here (expected a run directory written with --out)" })
      )
    )
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new CheckpointError({ path, reason: `not JSON (truncated or corrupted?): ${String(e)}` })
    })
    const written = typeof json === "object" && json !== null ? (json as { format?: unknown }).format : undefined
    if (written !== format && typeof written === "string" && written.startsWith("zpd-checkpoint/")) {
      return yield* new CheckpointError({
        path,
        reason: `format "${written}" has no run identity; expected "${format}" (start a fresh run with --overwrite)`
      })
    }
    const file = yield* Schema.decodeUnknown(File)(json).pipe(
      Effect.mapError((e) =>
        new CheckpointError({ path, reason: `invalid checkpoint: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })
      )
    )
    const { checksum, ...checkpoint } = file
    const actual = yield* sha256(body(checkpoint))
    if (actual !== checksum) {
      return yield* new CheckpointError({
        path,
        reason:
          `checksum mismatch: expected ${checksum}, the content hashes to ${actual} (the file was modified or corrupted)`
      })
    }
    return checkpoint
  })

/**
 * A decoder for one component's state inside a checkpoint (a curriculum, a
 * value model): Schema-decodes the encoded value and fails with a
 * {@link CheckpointError} naming `component` when it does not fit.
 *
 * @since 0.1.0
 * @category io
 */
export const stateDecoder = <S, I>(schema: Schema.Schema<S, I>, component: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (encoded: unknown): Effect.Effect<S, CheckpointError> =>
    Either.match(decode(encoded), {
      onLeft: (e) =>
        Effect.fail(
          new CheckpointError({
            path: component,
            reason: `state does not decode: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
          })
        ),
      onRight: Effect.succeed
    })
}
