/**
 * Curricula and plugins.
 *
 * A {@link Curriculum} is the stateful part of a data-selection algorithm: it
 * chooses the next batch and learns from the step's outcomes. A {@link Plugin}
 * bundles how to build one (possibly spending rollouts first, as AdaCuRL's
 * difficulty estimation does) with the hooks it adds to the pipeline (AdaCuRL
 * resets the reference policy when a bucket merges). The built-in curricula
 * (random, ordered, SEC, CDAS, PCL, AdaCuRL) are written against exactly this
 * interface, so a user's curriculum is a peer of theirs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { stateDecoder } from "./Checkpoint.ts"
import type { CheckpointError, ConfigError, RuntimeError } from "./Errors.ts"
import type { CurriculumEvent as HookEvent, Hook } from "./Hook.ts"
import type { Dataset, Problem } from "./Problem.ts"
import type { Rng } from "./Rng.ts"

/**
 * What {@link Curriculum.select} is asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface SelectRequest {
  readonly step: number
  readonly batchSize: number
  /** The step's seeded generator for selection. */
  readonly rng: Rng
}

/**
 * One problem's outcome in a step, as the curriculum sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupOutcome {
  /** Dense index of the problem in the training dataset. */
  readonly index: number
  readonly problem: Problem
  readonly rewards: Float64Array
  /** Fraction of the group's completions judged correct. */
  readonly passRate: number
  readonly advantages: Float64Array
  /**
   * `correct[i]` is 1 when the verifier judged completion `i` correct, 0
   * otherwise: the accuracy reward, kept apart from `rewards`, which may
   * include shaping such as a format reward (AdaCuRL's competence buffer
   * needs accuracy only). Absent when the producer did not record it.
   */
  readonly correct?: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Observation {
  readonly step: number
  readonly groups: ReadonlyArray<GroupOutcome>
}

/**
 * Something the curriculum wants the pipeline (and its hooks) to know; defined
 * beside the hooks that consume it.
 *
 * @since 0.1.0
 * @category models
 */
export type CurriculumEvent = HookEvent

/**
 * A data-selection algorithm's live state.
 *
 * `snapshot` returns a JSON-safe value (encode it with your state's Schema)
 * and `restore` takes it back; together they make checkpoints complete.
 *
 * @since 0.1.0
 * @category models
 */
export interface Curriculum {
  readonly name: string
  readonly select: (request: SelectRequest) => Effect.Effect<ReadonlyArray<number>>
  /**
   * Learns from a step's outcomes. May fail with a {@link RuntimeError} when it
   * uses a runtime captured at build time (AdaCuRL's second round re-estimates
   * difficulty with the updated policy here, after the step's update).
   */
  readonly observe: (observation: Observation) => Effect.Effect<ReadonlyArray<CurriculumEvent>, RuntimeError>
  /** Curriculum-specific per-step metrics, e.g. `competence`. Keys are snake_case. */
  readonly metrics: () => Readonly<Record<string, number>>
  readonly snapshot: () => unknown
  readonly restore: (state: unknown) => Effect.Effect<void, CheckpointError>
  /**
   * Wall-clock timings (ms) of the curriculum's own work in the current step,
   * e.g. PCL's `value_model_ms`. Optional; `Stages.updateCurriculum` copies
   * them into the step's timings (`timings.jsonl`), never into the
   * deterministic metrics.
   */
  readonly timings?: () => Readonly<Record<string, number>>
  /**
   * Bytes of state the curriculum holds (typed-array columns and derived
   * indices), for the overhead benchmark. Optional; {@link make} computes it
   * from the state's typed arrays.
   */
  readonly stateBytes?: () => number
}

/**
 * What a plugin gets to build its curriculum.
 *
 * @since 0.1.0
 * @category models
 */
export interface BuildContext {
  readonly dataset: Dataset
  readonly seed: number
  /** The run's step budget, when known (the ordered baseline spans it). */
  readonly steps: number
  readonly batchSize: number
  readonly groupSize: number
  /**
   * True when the pipeline restores a checkpoint into the built curriculum
   * right after `build`. A plugin may then skip expensive initial work whose
   * result the checkpoint holds (AdaCuRL skips its difficulty estimation).
   */
  readonly resuming?: boolean
}

/**
 * A named curriculum recipe: how to build it, and the hooks it adds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plugin<E = never, R = never> {
  readonly name: string
  /**
   * Canonical JSON of the plugin's full composition and resolved options
   * ({@link canonicalJson}): two plugins with the same identity build the
   * same curriculum, so a checkpoint can refuse to resume under another one.
   */
  readonly identity: string
  readonly build: (context: BuildContext) => Effect.Effect<Curriculum, E | ConfigError, R>
  readonly hooks: ReadonlyArray<Hook<E, R>>
}

/**
 * Builds a plugin. See the README for a complete custom curriculum.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plugin = <E = never, R = never, HE = never, HR = never>(
  name: string,
  build: (context: BuildContext) => Effect.Effect<Curriculum, E, R>,
  hooks: ReadonlyArray<Hook<HE, HR>> = [],
  options: unknown = {}
): Plugin<
  Exclude<E, ConfigError> | HE,
  R | HR
> => ({ name, identity: canonicalJson({ curriculum: name, options }), build, hooks } as Plugin<
  Exclude<E, ConfigError> | HE,
  R | HR
>)

/**
 * Canonical JSON of a value, for plugin identities: object keys sorted,
 * `undefined` fields left out, typed arrays as arrays, functions as
 * `"<function name>"` and other class instances (services) as
 * `"<ClassName>"`, so equal configurations give equal strings.
 *
 * @since 0.1.0
 * @category accessors
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(canonical(value))

const canonical = (value: unknown): unknown => {
  if (typeof value === "function") return `<function ${value.name || "anonymous"}>`
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  if (typeof value !== "object" || value === null) return value
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>)
  if (Array.isArray(value)) return value.map(canonical)
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return `<${proto?.constructor?.name ?? "object"}>`
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = canonical(v)
  }
  return out
}

/**
 * Bytes held in the typed arrays reachable from `value` (through plain
 * objects and arrays), each buffer view counted once.
 *
 * @since 0.1.0
 * @category accessors
 */
export const typedArrayBytes = (value: unknown): number => {
  const seen = new Set<unknown>()
  const walk = (v: unknown): number => {
    if (typeof v !== "object" || v === null || seen.has(v)) return 0
    seen.add(v)
    if (ArrayBuffer.isView(v)) return v.byteLength
    let n = 0
    for (const x of Array.isArray(v) ? v : Object.values(v)) n += walk(x)
    return n
  }
  return walk(value)
}

/**
 * Builds a {@link Curriculum} from plain functions over a state value whose
 * Schema makes it checkpointable. `select` and `observe` may mutate the state
 * in place (columns are typed arrays); `restore` replaces it with the decoded
 * checkpoint.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S, I>(options: {
  readonly name: string
  readonly state: Schema.Schema<S, I>
  readonly initial: S
  readonly select: (state: S, request: SelectRequest) => ReadonlyArray<number>
  readonly observe?: (state: S, observation: Observation) => ReadonlyArray<CurriculumEvent> | void
  readonly metrics?: (state: S) => Readonly<Record<string, number>>
}): Curriculum => {
  let state = options.initial
  const encode = Schema.encodeSync(options.state)
  const decode = stateDecoder(options.state, `curriculum "${options.name}"`)
  return {
    name: options.name,
    select: (request) => Effect.sync(() => options.select(state, request)),
    observe: (observation) => Effect.sync(() => options.observe?.(state, observation) ?? []),
    metrics: () => options.metrics?.(state) ?? {},
    stateBytes: () => typedArrayBytes(state),
    snapshot: () => encode(state),
    restore: (encoded) =>
      Effect.flatMap(decode(encoded), (s) =>
        Effect.sync(() => {
          state = s
        }))
  }
}
