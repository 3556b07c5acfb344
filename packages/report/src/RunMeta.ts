/**
 * `run.json`: what a benchmark run was (curriculum, regime, seed, budget) and
 * its wall time. Written atomically after the last step, so its presence
 * together with a `metrics.jsonl` that reaches the budget marks a finished
 * run that a resumed benchmark does not redo.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Checkpoint from "@zpd/core/Checkpoint"
import type { CheckpointError } from "@zpd/core/Errors"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunMeta = Schema.Struct({
  curriculum: Schema.String,
  /** Display name (e.g. "ordered (budget-stretched)"). */
  label: Schema.String,
  regime: Schema.String,
  seed: Schema.Int,
  /** The step budget the run was started with. */
  steps: Schema.Int,
  /** The curriculum reads the budget at build time: its prefix is not a shorter-budget run. */
  budgetAware: Schema.Boolean,
  /** Wall time of the (last) process that ran it, setup included. */
  wallMs: Schema.optional(Schema.Number),
  /** The checkpoint step the last segment resumed from (0 = fresh). */
  resumedFrom: Schema.optional(Schema.Int)
})

/**
 * @since 0.1.0
 * @category models
 */
export type RunMeta = Schema.Schema.Type<typeof RunMeta>

/**
 * @since 0.1.0
 * @category files
 */
export const fileIn = (dir: string): string => `${dir}/run.json`

/**
 * Writes `dir/run.json` atomically.
 *
 * @since 0.1.0
 * @category files
 */
export const write = (dir: string, meta: RunMeta): Effect.Effect<void, CheckpointError, FileSystem.FileSystem> =>
  Checkpoint.writeAtomic(fileIn(dir), JSON.stringify(Schema.encodeSync(RunMeta)(meta), null, 2) + "\n")
