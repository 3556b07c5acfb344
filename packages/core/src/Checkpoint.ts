/**
 * Complete curriculum checkpoints: the step, the seed, the curriculum's whole
 * state (per-problem columns, arms, buffers, competence) and the trainer's
 * state, Schema-encoded into one JSON file written atomically (temp file, then
 * rename). Random streams are derived from (seed, step), so nothing else is
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
 * @since 0.1.0
 * @category schemas
 */
export const Checkpoint = Schema.Struct({
  format: Schema.Literal("zpd-checkpoint/1"),
  /** The last completed step. */
  step: Schema.Int,
  seed: Schema.Int,
  run: Schema.Struct({
    curriculum: Schema.String,
    dataset: Schema.String,
    datasetSize: Schema.Int,
    batchSize: Schema.Int,
    groupSize: Schema.Int
  }),
  curriculum: Schema.Unknown,
  trainer: Schema.NullOr(TrainerCheckpoint)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Checkpoint = Schema.Schema.Type<typeof Checkpoint>

/**
 * The checkpoint file inside a run directory.
 *
 * @since 0.1.0
 * @category constants
 */
export const fileIn = (dir: string): string => `${dir}/checkpoint/state.json`

/**
 * Writes `contents` to `path` atomically: a sibling temp file, then rename.
 * Readers never see a half-written file.
 *
 * @since 0.1.0
 * @category io
 */
export const writeAtomic = (path: string, contents: string): Effect.Effect<void, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")))
    const tmp = `${path}.tmp`
    yield* Effect.gen(function*() {
      if (dir.length > 0) yield* fs.makeDirectory(dir, { recursive: true })
      yield* fs.writeFileString(tmp, contents)
      yield* fs.rename(tmp, path)
    }).pipe(Effect.mapError((e) => new CheckpointError({ path, reason: `write failed: ${e.message}` })))
  })

/**
 * @since 0.1.0
 * @category io
 */
export const write = (dir: string, checkpoint: Checkpoint): Effect.Effect<void, CheckpointError, FileSystem.FileSystem> =>
  writeAtomic(fileIn(dir), JSON.stringify(Schema.encodeSync(Checkpoint)(checkpoint)))

/**
 * Reads and validates the checkpoint of a run directory.
 *
 * @since 0.1.0
 * @category io
 */
export const read = (dir: string): Effect.Effect<Checkpoint, CheckpointError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = fileIn(dir)
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError(() => new CheckpointError({ path, reason: "no checkpoint here (expected a run directory written with --out)" }))
    )
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new CheckpointError({ path, reason: `not JSON: ${String(e)}` })
    })
    return yield* Schema.decodeUnknown(Checkpoint)(json).pipe(
      Effect.mapError((e) =>
        new CheckpointError({ path, reason: `invalid checkpoint: ${ParseResult.TreeFormatter.formatErrorSync(e)}` })
      )
    )
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
