/**
 * Pipeline hooks: effects that run after every step, in order, before the
 * step's metrics and checkpoint are written. A hook sees the step's record and
 * the curriculum's events, and may use any service (AdaCuRL's hook calls
 * `TrainerRuntime.resetReference` when a bucket merges).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { StepRecord } from "./Metrics.ts"

/**
 * Something a curriculum wants the pipeline (and its hooks) to know, e.g.
 * `{ _tag: "BucketMerged", bucket: 2 }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CurriculumEvent {
  readonly _tag: string
  readonly [key: string]: unknown
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StepEnd {
  readonly step: number
  readonly record: StepRecord
  readonly events: ReadonlyArray<CurriculumEvent>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Hook<E = never, R = never> {
  readonly name: string
  readonly onStepEnd: (end: StepEnd) => Effect.Effect<void, E, R>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(
  name: string,
  onStepEnd: (end: StepEnd) => Effect.Effect<void, E, R>
): Hook<E, R> => ({ name, onStepEnd })

/**
 * A hook that runs `f` once for every curriculum event tagged `tag`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onEvent = <E = never, R = never>(
  name: string,
  tag: string,
  f: (event: CurriculumEvent, end: StepEnd) => Effect.Effect<void, E, R>
): Hook<E, R> => ({
  name,
  onStepEnd: (end) => {
    const matching = end.events.filter((e) => e._tag === tag)
    return Effect.forEach(matching, (e) => f(e, end), { discard: true })
  }
})
