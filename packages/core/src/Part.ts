/**
 * The curriculum algebra (DESIGN §8): a curriculum is a chain of parts of
 * three kinds, joined into one {@link Curriculum.Plugin}.
 *
 * ```
 *            eligible pool             k·B proposals         B problems
 * dataset ──▶ gate ▶ gate … ──▶ sampler ────────────▶ pre-filter … ────▶ batch
 *            (AdaCuRL buckets)      (uniform, SEC,       (PCL's value
 *                                    CDAS, ordered)       model, k·B → B)
 * ```
 *
 * - A **gate** decides which problems are eligible this step: it narrows the
 *   {@link Pool} it receives and may label problems (AdaCuRL labels `bucket`).
 * - A **pre-filter** narrows the sampler's proposals by a cheap score before
 *   any rollout: it asks the sampler for `widen(B)` problems and keeps `B`.
 * - A **sampler** picks from the eligible pool. A chain ends with exactly one.
 *
 * Post-filters (DAPO's dynamic sampling) and loss shapers (sparse KL, reward
 * schedules) act on rollouts, so they stay stages and hooks.
 *
 * Every part has a Schema-typed state (checkpointed), `select`/`observe`
 * functions over it that may update its typed-array columns in place,
 * metrics, and optionally events and hooks. A part may keep **derived** data
 * (an index, caches) rebuilt from its state on restore. {@link andThen} joins
 * parts; written in declaration order `gate > pre-filter > sampler`, any other
 * order does not compile. The joined plugin gets, with nothing to forget:
 * - one state `{ [part]: { state, external? } }`, snapshot and restore (each
 *   part's `check` runs on restore and names the part on failure);
 * - the parts' metrics, each name kept as is unless two parts emit it, in
 *   which case both become `<part>_<name>` (the same for timings);
 * - every part's events (sampler first, then pre-filters, then gates: the
 *   order `observe` runs in, so a sampler attributes outcomes to the pool
 *   they were drawn from before a gate moves it) and every part's hooks;
 * - an {@link Curriculum.Plugin.identity}: canonical JSON of the parts' kinds,
 *   names and resolved options.
 *
 * **Example** (AdaCuRL's gate with SEC's bandit over its buckets)
 * ```ts
 * const hybrid = AdaCurl.gate({ verifier }).pipe(
 *   Part.andThen(Sec.sampler({ arms: ["bucket"], temperature: 0.2 })),
 *   Part.named("adacurl+sec")
 * )
 * ```
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import { stateDecoder } from "./Checkpoint.ts"
import {
  type BuildContext,
  canonicalJson,
  type Curriculum,
  type Observation,
  type Plugin,
  type SelectRequest,
  typedArrayBytes
} from "./Curriculum.ts"
import { CheckpointError, ConfigError, type RuntimeError } from "./Errors.ts"
import type { CurriculumEvent, Hook } from "./Hook.ts"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * @since 0.2.0
 * @category models
 */
export type Kind = "gate" | "prefilter" | "sampler"

/**
 * The problems eligible this step.
 *
 * @since 0.2.0
 * @category models
 */
export interface Pool {
  /** Dense dataset indices, in the gate's order (do not mutate). */
  readonly indices: Int32Array
  /** True when the pool is the whole dataset (no gate narrowed it). */
  readonly full: boolean
  /** The step at which the pool last changed (0 = at build); samplers rebuild per-pool state when it moves. */
  readonly since: number
  /** Integer labels given by gates, by dense index (0 = none), e.g. `bucket`. */
  readonly labels: Readonly<Record<string, Int32Array>>
}

/**
 * A part's live state: the checkpointed `state` and the `derived` data
 * rebuilt from it on restore.
 *
 * @since 0.2.0
 * @category models
 */
export interface Live<S, D> {
  state: S
  derived: D
}

/**
 * A plain value or an effect producing it.
 *
 * @since 0.2.0
 * @category models
 */
export type Result<A, E = never> = A | Effect.Effect<A, E>

/**
 * What every part's build returns, whatever its kind.
 *
 * @since 0.2.0
 * @category models
 */
export interface Common<S, D> {
  readonly initial: S
  /** A restored state that does not fit this run: the reason (the part is named for you). */
  readonly check?: (state: S) => string | undefined
  readonly observe?: (
    live: Live<S, D>,
    observation: Observation,
    pool: Pool
  ) => Result<ReadonlyArray<CurriculumEvent> | void, RuntimeError>
  readonly metrics?: (live: Live<S, D>) => Readonly<Record<string, number>>
  /** Wall-clock timings of the part's own work this step (timings.jsonl, never metrics). */
  readonly timings?: (live: Live<S, D>) => Readonly<Record<string, number>>
  /** Bytes held (default: the typed arrays of the state). */
  readonly stateBytes?: (live: Live<S, D>) => number
  /** State held by a service rather than the part (PCL's value model), checkpointed beside the part's. */
  readonly external?: {
    readonly snapshot: () => unknown
    readonly restore: (encoded: unknown) => Effect.Effect<void, CheckpointError>
  }
}

/**
 * @since 0.2.0
 * @category models
 */
export interface GateSpec<S, D> extends Common<S, D> {
  /** The pool this gate lets through, given the pool it receives. */
  readonly eligible: (live: Live<S, D>, pool: Pool) => Pool
}

/**
 * @since 0.2.0
 * @category models
 */
export interface PrefilterSpec<S, D> extends Common<S, D> {
  /** How many proposals to ask the sampler for, to keep `count`. */
  readonly widen: (count: number) => number
  /** Keeps `request.batchSize` of the proposals. */
  readonly narrow: (
    live: Live<S, D>,
    proposals: ReadonlyArray<number>,
    request: SelectRequest
  ) => Result<ReadonlyArray<number>>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface SamplerSpec<S, D> extends Common<S, D> {
  /** Picks `request.batchSize` problems of `pool`. */
  readonly select: (live: Live<S, D>, pool: Pool, request: SelectRequest) => Result<ReadonlyArray<number>>
}

/**
 * @since 0.2.0
 * @category models
 */
export type Spec<K extends Kind, S, D> = K extends "gate" ? GateSpec<S, D>
  : K extends "prefilter" ? PrefilterSpec<S, D>
  : SamplerSpec<S, D>

/**
 * One part: its kind, a name (its state key and metric namespace), its
 * resolved options (for the identity), its hooks, and how to build its spec
 * for a run given the pool the gates before it let through at build.
 *
 * @since 0.2.0
 * @category models
 */
export interface Part<K extends Kind, E = never, R = never> {
  readonly kind: K
  readonly name: string
  readonly options: unknown
  readonly hooks: ReadonlyArray<Hook<E, R>>
  readonly state: Schema.Schema<any, any>
  readonly derive: (state: any) => unknown
  /** The options' validation error, checked for every part before any part builds. */
  readonly invalid: ConfigError | undefined
  readonly build: (context: BuildContext, pool: Pool) => Effect.Effect<Spec<K, any, any>, E | ConfigError, R>
}

const CompositionTypeId: unique symbol = Symbol.for("@zpd/core/Part/Composition")

/**
 * A chain of parts from a `First` kind to a `Last` kind. Every part is a
 * chain of one. A chain that ends with a sampler is a complete curriculum: a
 * {@link Curriculum.Plugin} that `Pipeline.run` accepts.
 *
 * @since 0.2.0
 * @category models
 */
export type Composition<First extends Kind, Last extends Kind, E = never, R = never> =
  & Chain<First, Last, E, R>
  & (Last extends "sampler" ? Plugin<E, R> : Incomplete)

/**
 * @since 0.2.0
 * @category models
 */
export interface Chain<First extends Kind, Last extends Kind, E, R> extends Pipeable {
  readonly [CompositionTypeId]: {
    readonly first: First
    readonly last: Last
    readonly _E: () => E
    readonly _R: () => R
  }
  readonly parts: ReadonlyArray<Part<Kind, any, any>>
  /** The curriculum's name (default: the part names joined by `+`). */
  readonly name: string
}

/**
 * What a chain without a sampler lacks.
 *
 * @since 0.2.0
 * @category models
 */
export interface Incomplete {
  readonly "zpd: incomplete curriculum": "end the chain with a sampler (uniform, ordered, sec, cdas, …)"
}

// ---------------------------------------------------------------------------
// type-level composition rules
// ---------------------------------------------------------------------------

/**
 * Why `Next` cannot follow `Last`, or `true`.
 *
 * @since 0.2.0
 * @category models
 */
export type Fits<Last extends Kind, Next extends Kind> = Last extends "sampler"
  ? "a sampler ends a curriculum: nothing may follow it (two samplers in sequence, or a gate or pre-filter after the sampler)"
  : Last extends "prefilter" ? Next extends "gate" ? "a gate must come before every pre-filter and the sampler" : true
  : true

/**
 * The readable compile error of a composition that does not fit.
 *
 * @since 0.2.0
 * @category models
 */
export interface CompositionError<Message extends string> {
  readonly "zpd: cannot compose": Message
}

type Guard<Last extends Kind, Next extends Kind> = Fits<Last, Next> extends infer M extends string ? CompositionError<M>
  : unknown

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

const ChainProto = {
  pipe(this: unknown) {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

const chainOf = <F extends Kind, L extends Kind, E, R>(
  parts: ReadonlyArray<Part<Kind, any, any>>,
  name?: string
): Composition<F, L, E, R> => {
  const self = Object.create(ChainProto)
  const last = parts[parts.length - 1]!
  self[CompositionTypeId] = { first: parts[0]!.kind, last: last.kind }
  self.parts = parts
  self.name = name ?? parts.map((p) => p.name).join("+")
  if (last.kind === "sampler") {
    self.hooks = parts.flatMap((p) => p.hooks)
    self.identity = canonicalJson({
      curriculum: self.name,
      parts: parts.map((p) => ({ kind: p.kind, name: p.name, options: p.options }))
    })
    self.build = (context: BuildContext) => buildCurriculum(self.name, parts, context)
  }
  return self
}

const lift = <A, E>(result: Result<A, E>): Effect.Effect<A, E> =>
  Effect.isEffect(result) ? result : Effect.succeed(result)

/**
 * Declares a part of kind `kind`. `build` may return the spec or an effect
 * producing it (estimation at build time, a service lookup).
 *
 * **Example** (a sampler that always serves the first B problems of the pool)
 * ```ts
 * const head = Part.make("sampler", {
 *   name: "head",
 *   state: Schema.Struct({}),
 *   build: () => ({ initial: {}, select: (_, pool, { batchSize }) => Array.from(pool.indices.subarray(0, batchSize)) })
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <K extends Kind, S, D = undefined, E = never, R = never, HE = never, HR = never>(
  kind: K,
  options: Options<K, S, D, E, R, HE, HR>
): Composition<K, K, Exclude<E, ConfigError> | HE, R | HR> => {
  const checked = options.options
  const invalid = Either.isEither(checked) && Either.isLeft(checked) && checked.left instanceof ConfigError
    ? checked.left
    : undefined
  const part: Part<K, any, any> = {
    kind,
    name: options.name,
    options: Either.isEither(checked) ? Either.getOrElse(checked, (e) => ({ invalid: String(e) })) : checked ?? {},
    hooks: options.hooks ?? [],
    state: options.state,
    derive: (options.derive ?? (() => undefined)) as (state: any) => unknown,
    invalid,
    build: (context, pool) =>
      invalid === undefined
        ? lift(options.build(context, pool) as Result<Spec<K, S, D>, E>) as any
        : Effect.fail(invalid)
  }
  return chainOf([part])
}

/**
 * How a part is declared: its name, resolved options, hooks, state Schema,
 * derived data, and its build.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<K extends Kind, S, D, E, R, HE, HR> {
  /** The part's state key and metric namespace. */
  readonly name: string
  /**
   * The resolved options, for the plugin identity (functions show by name),
   * usually as the plugin's `validate(config)`: a `Left` fails the build with
   * its {@link ConfigError}.
   */
  readonly options?: unknown
  readonly hooks?: ReadonlyArray<Hook<HE, HR>>
  /** The checkpointed state's Schema. */
  readonly state: Schema.Schema<S, any>
  /** Derived data rebuilt from the state at build and on restore (default: `undefined`). */
  readonly derive?: (state: S) => D
  readonly build: (context: BuildContext, pool: Pool) => Result<Spec<K, S, D>, E> | Effect.Effect<Spec<K, S, D>, E, R>
}

/**
 * A gate part ({@link make} with kind `"gate"`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const gate = <S, D = undefined, E = never, R = never, HE = never, HR = never>(
  options: Options<"gate", S, D, E, R, HE, HR>
) => make("gate", options)

/**
 * A pre-filter part ({@link make} with kind `"prefilter"`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const prefilter = <S, D = undefined, E = never, R = never, HE = never, HR = never>(
  options: Options<"prefilter", S, D, E, R, HE, HR>
) => make("prefilter", options)

/**
 * A sampler part ({@link make} with kind `"sampler"`); alone it is already a
 * complete curriculum.
 *
 * @since 0.2.0
 * @category constructors
 */
export const sampler = <S, D = undefined, E = never, R = never, HE = never, HR = never>(
  options: Options<"sampler", S, D, E, R, HE, HR>
) => make("sampler", options)

// ---------------------------------------------------------------------------
// combinators
// ---------------------------------------------------------------------------

/**
 * Appends `that` to `self`: `gate > pre-filter > sampler` in declaration
 * order. A composition that does not fit (two samplers, a gate after a
 * pre-filter, anything after the sampler) is a compile error whose message
 * says why ({@link Fits}).
 *
 * @since 0.2.0
 * @category combinators
 */
export const andThen: {
  <F2 extends Kind, L2 extends Kind, E2, R2>(
    that: Composition<F2, L2, E2, R2>
  ): <F extends Kind, L extends Kind, E, R>(
    self: Composition<F, L, E, R> & Guard<L, F2>
  ) => Composition<F, L2, E | E2, R | R2>
  <F extends Kind, L extends Kind, E, R, F2 extends Kind, L2 extends Kind, E2, R2>(
    self: Composition<F, L, E, R>,
    that: Composition<F2, L2, E2, R2> & Guard<L, F2>
  ): Composition<F, L2, E | E2, R | R2>
} = dual(
  2,
  (self: Chain<Kind, Kind, unknown, unknown>, that: Chain<Kind, Kind, unknown, unknown>) =>
    chainOf([...self.parts, ...that.parts])
)

/**
 * Names the curriculum (the checkpoint's and progress line's name).
 *
 * @since 0.2.0
 * @category combinators
 */
export const named: {
  (name: string): <F extends Kind, L extends Kind, E, R>(self: Composition<F, L, E, R>) => Composition<F, L, E, R>
  <F extends Kind, L extends Kind, E, R>(self: Composition<F, L, E, R>, name: string): Composition<F, L, E, R>
} = dual(2, (self: Chain<Kind, Kind, unknown, unknown>, name: string) => chainOf(self.parts, name))

/**
 * The parts of a composition, in declaration order.
 *
 * @since 0.2.0
 * @category accessors
 */
export const partsOf = (self: Chain<Kind, Kind, unknown, unknown>): ReadonlyArray<Part<Kind, any, any>> => self.parts

// ---------------------------------------------------------------------------
// pools
// ---------------------------------------------------------------------------

/**
 * The whole dataset as a pool.
 *
 * @since 0.2.0
 * @category constructors
 */
export const everything = (n: number): Pool => {
  const indices = new Int32Array(n)
  for (let i = 0; i < n; i++) indices[i] = i
  return { indices, full: true, since: 0, labels: {} }
}

/**
 * A gate's own pool `indices` (changed at step `since`, with `labels`) as
 * seen through the pool it received: its members only, in the gate's order,
 * and the received labels kept.
 *
 * @since 0.2.0
 * @category constructors
 */
export const restrict = (
  input: Pool,
  indices: Int32Array,
  since: number,
  labels: Readonly<Record<string, Int32Array>>
): Pool => {
  const all = { ...input.labels, ...labels }
  if (input.full) return { indices, full: false, since, labels: all }
  let max = -1
  for (const i of input.indices) if (i > max) max = i
  const member = new Uint8Array(max + 1)
  for (const i of input.indices) member[i] = 1
  return {
    indices: indices.filter((i) => i <= max && member[i] === 1),
    full: false,
    since: Math.max(since, input.since),
    labels: all
  }
}

/**
 * Membership of a pool as a byte column over `n` problems.
 *
 * @since 0.2.0
 * @category constructors
 */
export const members = (pool: Pool, n: number): Uint8Array => {
  const member = new Uint8Array(n)
  if (pool.full) member.fill(1)
  else for (const i of pool.indices) member[i] = 1
  return member
}

// ---------------------------------------------------------------------------
// joining
// ---------------------------------------------------------------------------

const LiveTypeId: unique symbol = Symbol.for("@zpd/core/Part/Live")

/**
 * The live state of every part of a curriculum built from a composition, by
 * part key (for tests and benchmarks; do not mutate). Empty for other
 * curricula.
 *
 * @since 0.2.0
 * @category accessors
 */
export const inspect = (curriculum: Curriculum): ReadonlyMap<string, Live<any, any>> =>
  (curriculum as { readonly [LiveTypeId]?: () => ReadonlyMap<string, Live<unknown, unknown>> })[LiveTypeId]?.() ??
    new Map()

interface Joined {
  readonly key: string
  readonly kind: Kind
  readonly spec: Spec<Kind, any, any>
  live: Live<any, any>
}

const uniqueKeys = (names: ReadonlyArray<string>): Array<string> => {
  const seen = new Map<string, number>()
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1
    seen.set(n, k)
    return k === 1 ? n : `${n}_${k}`
  })
}

/** Merges per-part records; a name emitted by two parts becomes `<part>_<name>` in both. */
const mergeRecords = (records: ReadonlyArray<readonly [string, Readonly<Record<string, number>>]>) => {
  const count = new Map<string, number>()
  for (const [, r] of records) for (const k of Object.keys(r)) count.set(k, (count.get(k) ?? 0) + 1)
  const out: Record<string, number> = {}
  for (const [key, r] of records) for (const [k, v] of Object.entries(r)) out[count.get(k)! > 1 ? `${key}_${k}` : k] = v
  return out
}

const buildCurriculum = (
  name: string,
  parts: ReadonlyArray<Part<Kind, any, any>>,
  context: BuildContext
): Effect.Effect<Curriculum, any, any> =>
  Effect.gen(function*() {
    const invalid = parts.find((p) => p.invalid !== undefined)?.invalid
    if (invalid !== undefined) return yield* invalid
    const keys = uniqueKeys(parts.map((p) => p.name))
    const start = everything(context.dataset.problems.length)
    const joined: Array<Joined & { readonly part: Part<Kind, any, any> }> = []
    let pool = start
    for (const [j, part] of parts.entries()) {
      const spec = yield* part.build(context, pool)
      const entry = {
        part,
        key: keys[j]!,
        kind: part.kind,
        spec,
        live: { state: spec.initial, derived: part.derive(spec.initial) }
      }
      joined.push(entry)
      if (part.kind === "gate") pool = (spec as GateSpec<unknown, unknown>).eligible(entry.live, pool)
    }
    const gates = joined.filter((p) => p.kind === "gate")
    const prefilters = joined.filter((p) => p.kind === "prefilter")
    const sampler = joined[joined.length - 1]!
    const poolNow = () => gates.reduce((p, g) => (g.spec as GateSpec<unknown, unknown>).eligible(g.live, p), start)
    const schema = Schema.Struct(
      Object.fromEntries(
        joined.map((p) => [p.key, Schema.Struct({ state: p.part.state, external: Schema.optional(Schema.Unknown) })])
      )
    )
    const encode = Schema.encodeSync(schema as Schema.Schema<any, any>)
    const decode = stateDecoder(schema as Schema.Schema<any, any>, `curriculum "${name}"`)
    const curriculum: Curriculum & { readonly [LiveTypeId]: () => ReadonlyMap<string, Live<unknown, unknown>> } = {
      [LiveTypeId]: () => new Map(joined.map((p) => [p.key, p.live])),
      name,
      select: (request) =>
        Effect.gen(function*() {
          const eligible = poolNow()
          if (eligible.indices.length === 0 && request.batchSize > 0) {
            return yield* Effect.dieMessage(
              `curriculum "${name}": its gates let no problem through (built for resuming but never restored?)`
            )
          }
          const targets = [request.batchSize]
          for (const p of prefilters) targets.push((p.spec as PrefilterSpec<any, any>).widen(targets.at(-1)!))
          const proposals = yield* lift(
            (sampler.spec as SamplerSpec<any, any>).select(sampler.live, eligible, {
              ...request,
              batchSize: targets.at(-1)!
            })
          )
          let batch = proposals
          for (let j = prefilters.length - 1; j >= 0; j--) {
            const p = prefilters[j]!
            batch = yield* lift(
              (p.spec as PrefilterSpec<any, any>).narrow(p.live, batch, { ...request, batchSize: targets[j]! })
            )
          }
          return batch
        }),
      observe: (observation) =>
        Effect.gen(function*() {
          const eligible = poolNow()
          const events: Array<CurriculumEvent> = []
          for (let j = joined.length - 1; j >= 0; j--) {
            const p = joined[j]!
            if (p.spec.observe === undefined) continue
            const out = yield* lift(p.spec.observe(p.live, observation, eligible))
            if (out) events.push(...out)
          }
          return events
        }),
      metrics: () => mergeRecords(joined.map((p) => [p.key, p.spec.metrics?.(p.live) ?? {}] as const)),
      timings: () => mergeRecords(joined.map((p) => [p.key, p.spec.timings?.(p.live) ?? {}] as const)),
      stateBytes: () => joined.reduce((n, p) => n + (p.spec.stateBytes?.(p.live) ?? typedArrayBytes(p.live.state)), 0),
      snapshot: () =>
        encode(Object.fromEntries(joined.map((p) => [
          p.key,
          p.spec.external === undefined
            ? { state: p.live.state }
            : { state: p.live.state, external: p.spec.external.snapshot() }
        ]))),
      restore: (encoded) =>
        Effect.gen(function*() {
          const decoded = (yield* decode(encoded)) as Record<string, { state: unknown; external?: unknown }>
          for (const p of joined) {
            const reason = p.spec.check?.(decoded[p.key]!.state)
            if (reason !== undefined) {
              return yield* new CheckpointError({ path: `curriculum "${name}", part "${p.key}"`, reason })
            }
          }
          for (const p of joined) {
            if (p.spec.external !== undefined) yield* p.spec.external.restore(decoded[p.key]!.external)
          }
          for (const p of joined) {
            const state = decoded[p.key]!.state
            p.live = { state, derived: p.part.derive(state) }
          }
        })
    }
    return curriculum
  })
