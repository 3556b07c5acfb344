/**
 * CDAS — Competence-Difficulty Alignment Sampling (Kong et al., "Rethinking
 * the Sampling Criteria in Reinforcement Learning for LLM Reasoning: A
 * Competence-Difficulty Alignment Perspective", arXiv 2505.17652, AAAI 2026;
 * spec `algorithms.md` §3).
 *
 * Every problem x has a stable difficulty D(x) (init 0) and a rating count
 * t(x); the model has a competence C (init 0). After a step that rolled out
 * the batch B with pass rates s(x):
 *
 * ```
 * expected       P̂(x) = σ(C − D(x))                          [P eq. 6]
 * instantaneous  d(x) = σ(C − D(x)) − s(x)                    [P eq. 7]  (> 0: harder than expected)
 * stable, x ∈ B  t ← t + 1;  n = t + priorCount
 *                D ← ((n − 1)/n)·D + d/n                       [P eq. 8, Alg. 1]  (lazy: only sampled x)
 * competence     C = −(1/|X|) Σ_x D(x)                         [P eq. 5]  (kept incrementally)
 * ```
 *
 * All `d` of a step use the pre-step C and D (synchronous update). Selection
 * is symmetric [P "Symmetric Sampling"; C `get_problems_near_model_explore`]:
 * `h = ⌊B/2⌋` problems from the easier side `D ≤ C` (closest first, i.e. D
 * descending) and `h` from the harder side `D > C` (D ascending), a short side
 * filled from the other; ties go by dataset order (a stable sort).
 *
 * Inside a composition CDAS is a sampler ({@link sampler}); under a gate its
 * competence is the mean over the problems it has rated ({@link competence}).
 *
 * Implementation: the problems sit in an {@link OrderedIndex} keyed by D, so
 * selection walks outward from C (O(B + log N)) and a step re-keys only the
 * |B| rated problems (O(B log N)); nothing sorts the pool. Competence is a
 * compensated running sum of D (Neumaier), equal to the full mean to
 * rounding. The first epoch is a uniformly random warm-up that rates every
 * problem once [P]. State per problem: D (8 bytes), t (4 bytes), the index
 * (≤ 24 bytes, ~16 typical) and, during warm-up only, the epoch's order (4
 * bytes).
 *
 * Every option, its default and its source tag is documented in
 * `packages/plugins/CDAS.md`.
 *
 * @see https://arxiv.org/abs/2505.17652
 * @since 0.1.0
 */
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import * as Part from "@zpd/core/Part"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, intAtLeast, oneOf, validated } from "./internal/config.ts"
import { OrderedIndex } from "./OrderedIndex.ts"

// ---------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------

/**
 * CDAS's options. Tags: [P] the AAAI paper, [C] the released code
 * (`DeyangKong/CDAS`), [R] reconstruction (spec §3). See `CDAS.md`.
 *
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /**
   * Pseudo-observations of D = 0 in the running mean. `1` (default) is the
   * released code, whose history starts as `[0.0]` so the k-th rating gives
   * `D = (0 + d_1 + … + d_k)/(k + 1)` [C `update_ratings`]; `0` is the paper's
   * Alg. 1, where the first rating sets `D = d` [P]. Spec §3.3.
   */
  readonly priorCount: 0 | 1
  /**
   * Where the extra slot of an odd batch goes: `"harder"` (default [R]) or
   * `"easier"`, or `"none"` to return `2⌊B/2⌋` problems as the code does [C].
   * A side that runs short gives its slots to the other either way. Spec §3.8.
   */
  readonly oddSlot: "harder" | "easier" | "none"
  /**
   * The warm-up epoch's last partial batch (`|X| mod B` problems), spec §3.8:
   * `"fill"` (default [R]) serves them and fills the batch up to B by
   * symmetric selection among the other (already rated) problems, so every
   * problem is rated and every batch is full; `"short"` [R] serves them
   * alone in a smaller batch; `"drop"` drops them as the code's `drop_last`
   * loader does [C] (they keep D = 0 until selected).
   */
  readonly warmupRemainder: "fill" | "short" | "drop"
  /**
   * The first `unratedSteps` steps are rolled out but not rated. `0`
   * (default) rates every step [P]; the code's `warmup_steps = 1` skips the
   * first batch [C]. Spec §3.5.
   */
  readonly unratedSteps: number
  /** Block size of the ordered index (pairs per block); a tuning knob, default 512. */
  readonly indexBlockSize: number
}

/**
 * The defaults: the released code's running mean (priorCount 1), the
 * paper's warm-up that rates every problem, and [R] rules for odd batches and
 * the warm-up remainder.
 *
 * @since 0.1.0
 * @category config
 */
export const defaults: Config = {
  priorCount: 1,
  oddSlot: "harder",
  warmupRemainder: "fill",
  unratedSteps: 0,
  indexBlockSize: 512
}

/**
 * The paper's reading (Alg. 1): priorCount 0; otherwise the defaults.
 *
 * @since 0.1.0
 * @category config
 */
export const paper: Config = { ...defaults, priorCount: 0 }

/**
 * The released code's behaviour: priorCount 1, odd batches one short, the
 * warm-up loader drops its last partial batch, the first batch is not rated.
 *
 * @since 0.1.0
 * @category config
 */
export const released: Config = {
  ...defaults,
  priorCount: 1,
  oddSlot: "none",
  warmupRemainder: "drop",
  unratedSteps: 1
}

/**
 * Checks every option; the error names the field, e.g. `cdas.priorCount`.
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    requireConfig(
      config.priorCount === 0 || config.priorCount === 1,
      "cdas.priorCount",
      "0 (paper) or 1 (code)",
      config.priorCount
    ),
    oneOf(config.oddSlot, ["harder", "easier", "none"], "cdas.oddSlot"),
    oneOf(config.warmupRemainder, ["fill", "short", "drop"], "cdas.warmupRemainder"),
    intAtLeast(config.unratedSteps, 0, "cdas.unratedSteps"),
    intAtLeast(config.indexBlockSize, 4, "cdas.indexBlockSize")
  )

// ---------------------------------------------------------------------------
// math
// ---------------------------------------------------------------------------

/**
 * Expected performance `P̂ = σ(C − D)` [P eq. 6].
 *
 * @since 0.1.0
 * @category math
 */
export const expected = (competence: number, difficulty: number): number => Fmath.sigmoid(competence - difficulty)

/**
 * Instantaneous difficulty `d = σ(C − D) − s`: expected minus actual
 * performance [P eq. 7].
 *
 * @since 0.1.0
 * @category math
 */
export const instantaneous = (competence: number, difficulty: number, passRate: number): number =>
  expected(competence, difficulty) - passRate

/**
 * One running-mean update of the stable difficulty: the problem's `t`-th
 * rating (t ≥ 1, counted after the increment) with `priorCount`
 * pseudo-observations of 0: `n = t + priorCount`,
 * `D ← ((n − 1)/n)·D + d/n` [P eq. 8; C `update_ratings`].
 *
 * @since 0.1.0
 * @category math
 */
export const runningMean = (previous: number, d: number, t: number, priorCount: number): number => {
  const n = t + priorCount
  return ((n - 1) / n) * previous + (1 / n) * d
}

/**
 * Symmetric selection by brute force (sorts everything): the reference that
 * the ordered index must reproduce. `D ≤ C` sorted by D descending, `D > C`
 * ascending, ties by index; `easier` from the first side and `harder` from the
 * second, a short side filled from the other [C `get_problems_near_model_explore`].
 * Returns the easier part, then the harder part, each closest first. With
 * `candidates`, only those indices are considered.
 *
 * @since 0.1.0
 * @category math
 */
export const symmetricReference = (
  difficulty: ArrayLike<number>,
  competence: number,
  easier: number,
  harder: number,
  skip: (i: number) => boolean = () => false,
  candidates?: ArrayLike<number>
): Array<number> => {
  const lower: Array<number> = []
  const higher: Array<number> = []
  const count = candidates?.length ?? difficulty.length
  for (let j = 0; j < count; j++) {
    const i = candidates === undefined ? j : candidates[j]!
    if (skip(i)) continue
    if (difficulty[i]! <= competence) lower.push(i)
    else higher.push(i)
  }
  lower.sort((a, b) => difficulty[b]! - difficulty[a]! || a - b)
  higher.sort((a, b) => difficulty[a]! - difficulty[b]! || a - b)
  const fromLower = Math.min(lower.length, easier + Math.max(0, harder - higher.length))
  const fromHigher = Math.min(higher.length, harder + Math.max(0, easier - lower.length))
  return [...lower.slice(0, fromLower), ...higher.slice(0, fromHigher)]
}

/**
 * How many of `batchSize` slots each side gets before fill-up: `h = ⌊B/2⌋`
 * each, the odd slot per {@link Config.oddSlot}.
 *
 * @since 0.1.0
 * @category math
 */
export const sideTargets = (batchSize: number, oddSlot: Config["oddSlot"]): { easier: number; harder: number } => {
  const h = Math.floor(batchSize / 2)
  const odd = batchSize - 2 * h
  return {
    easier: h + (oddSlot === "easier" ? odd : 0),
    harder: h + (oddSlot === "harder" ? odd : 0)
  }
}

// ---------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------

/**
 * The checkpointed state. The ordered index is derived from `difficulty` and
 * rebuilt on restore (one O(N) radix sort).
 *
 * @since 0.1.0
 * @category models
 */
export const State = Schema.mutable(Schema.Struct({
  /** D(x), the stable difficulty. */
  difficulty: Columns.Float64Column,
  /** t(x), the number of ratings. */
  count: Columns.Int32Column,
  /** Σ_x D(x) with its Neumaier compensation term: C = −(sum + compensation)/|X|. */
  sum: Schema.Number,
  compensation: Schema.Number,
  /** Problems rated at least once. */
  rated: Schema.Int,
  /** The warm-up epoch's order; emptied when the warm-up ends. */
  warmupOrder: Columns.Int32Column,
  warmupCursor: Schema.Int,
  warmingUp: Schema.Boolean
}))

/**
 * @since 0.1.0
 * @category models
 */
export type State = Schema.Schema.Type<typeof State>

/**
 * The initial state for `n` problems: D = 0, t = 0, C = 0, and a shuffled
 * warm-up epoch.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initialState = (n: number, seed: number): State => ({
  difficulty: new Float64Array(n),
  count: new Int32Array(n),
  sum: 0,
  compensation: 0,
  rated: 0,
  warmupOrder: Rng.make(seed, 0, "cdas-warmup").permutation(n),
  warmupCursor: 0,
  warmingUp: n > 0
})

const neumaier = (state: State, x: number): void => {
  const t = state.sum + x
  if (Math.abs(state.sum) >= Math.abs(x)) state.compensation += (state.sum - t) + x
  else state.compensation += (x - t) + state.sum
  state.sum = t
}

/**
 * Derived data: the ordered index over D (rebuilt on restore, updated in
 * place), the last step's metrics, and the warm-up ranks used under a gate.
 *
 * @since 0.2.0
 * @category models
 */
export interface Derived {
  readonly index: OrderedIndex
  last: Record<string, number>
  /** True when the pool is narrowed by a gate (competence over rated problems). */
  gated: boolean
  warned: boolean
  /** Position of each problem in the warm-up order (built on first use under a gate). */
  rank: Int32Array | undefined
}

/**
 * The competence C: `−(1/|X|) Σ_x D(x)` [P eq. 5] over the whole dataset;
 * under a gate, the mean over the problems CDAS has rated,
 * `−(Σ D)/|rated|` (unrated problems hold D = 0 and no information; a gate
 * hides most of them), 0 before any rating.
 *
 * @since 0.1.0
 * @category math
 */
export const competence = (state: State, gated: boolean): number => {
  const n = gated ? state.rated : state.difficulty.length
  return n === 0 ? 0 : -(state.sum + state.compensation) / n
}

/**
 * Symmetric selection of `count` problems around C with the ordered index,
 * leaving out `skip`: O(count + log N).
 *
 * @since 0.1.0
 * @category math
 */
export const alignedSelection = (
  index: OrderedIndex,
  c: number,
  count: number,
  oddSlot: Config["oddSlot"],
  skip?: (i: number) => boolean
): Array<number> => {
  const { easier, harder } = sideTargets(count, oddSlot)
  let lower = index.nearestAtOrBelow(c, easier, skip)
  const higher = index.nearestAbove(c, harder + (easier - lower.length), skip)
  if (higher.length < harder) lower = index.nearestAtOrBelow(c, easier + (harder - higher.length), skip)
  return lower.concat(higher)
}

/**
 * Symmetric selection among `candidates` only (a gate's pool), by brute
 * force over them: O(k log k).
 *
 * @since 0.1.0
 * @category math
 */
export const alignCandidates = (
  difficulty: Float64Array,
  c: number,
  candidates: ArrayLike<number>,
  count: number,
  oddSlot: Config["oddSlot"]
): Array<number> => {
  const { easier, harder } = sideTargets(count, oddSlot)
  return symmetricReference(difficulty, c, easier, harder, undefined, candidates)
}

/** The standalone warm-up epoch (every problem once, shuffled), then alignment. */
const selectWarm = (state: State, index: OrderedIndex, batchSize: number, config: Config): Array<number> => {
  const c = competence(state, false)
  if (!state.warmingUp) return alignedSelection(index, c, batchSize, config.oddSlot)
  const endWarmup = () => {
    state.warmingUp = false
    state.warmupOrder = new Int32Array(0)
    state.warmupCursor = 0
  }
  const order = state.warmupOrder
  const from = state.warmupCursor
  const left = order.length - from
  if (left > batchSize) {
    state.warmupCursor = from + batchSize
    return Array.from(order.subarray(from, from + batchSize))
  }
  if (left === batchSize) {
    const batch = Array.from(order.subarray(from))
    endWarmup()
    return batch
  }
  // The last partial batch of the warm-up epoch.
  const rest = Array.from(order.subarray(from))
  endWarmup()
  switch (config.warmupRemainder) {
    case "short":
      return rest
    case "drop":
      return alignedSelection(index, c, batchSize, config.oddSlot)
    case "fill": {
      const inRest = new Set(rest)
      return rest.concat(alignedSelection(index, c, batchSize - rest.length, config.oddSlot, (i) => inRest.has(i)))
    }
  }
}

/**
 * Under a gate: the pool's unrated problems first, in the warm-up epoch's
 * order (the warm-up, one pool at a time), the rest of the batch by
 * alignment among the rated ones.
 */
const selectGated = (live: Part.Live<State, Derived>, pool: Part.Pool, batchSize: number, config: Config) => {
  const { derived, state } = live
  if (derived.rank === undefined) {
    derived.rank = new Int32Array(state.difficulty.length)
    state.warmupOrder.forEach((i, r) => (derived.rank![i] = r))
  }
  const rank = derived.rank
  const unrated: Array<number> = []
  const rated: Array<number> = []
  for (const i of pool.indices) (state.count[i] === 0 ? unrated : rated).push(i)
  unrated.sort((a, b) => rank[a]! - rank[b]!)
  derived.last = { ...derived.last, cdas_warmup: unrated.length > 0 ? 1 : 0 }
  const first = unrated.slice(0, batchSize)
  if (first.length === batchSize) return first
  return first.concat(
    alignCandidates(state.difficulty, competence(state, true), rated, batchSize - first.length, config.oddSlot)
  )
}

/** Rates the step's problems (synchronous update from the pre-step C and D) and records the metrics. */
const rate = (live: Part.Live<State, Derived>, observation: Curriculum.Observation, config: Config): void => {
  const { derived, state } = live
  const n = state.difficulty.length
  const groups = observation.groups
  const m = groups.length
  const before = competence(state, derived.gated)
  const warm = derived.gated ? derived.last["cdas_warmup"] ?? 0 : state.warmingUp ? 1 : 0
  derived.last = { competence: before, cdas_warmup: warm }
  const ratedFraction = () => (n === 0 ? 0 : state.rated / n)
  if (observation.step <= config.unratedSteps || m === 0) {
    derived.last = { ...derived.last, cdas_delta_competence: 0, cdas_rated_fraction: ratedFraction() }
    return
  }
  const D = state.difficulty
  const t = state.count
  // 1. Instantaneous difficulties from the pre-step C and D (synchronous update).
  const d = new Float64Array(m)
  let alignment = 0
  let expectedSum = 0
  for (let g = 0; g < m; g++) {
    const i = groups[g]!.index
    const p = expected(before, D[i]!)
    d[g] = p - groups[g]!.passRate
    alignment += Math.abs(before - D[i]!)
    expectedSum += p
  }
  // 2. Take each touched problem out of the index once, apply its ratings in order, put it back.
  const old = new Map<number, number>()
  for (let g = 0; g < m; g++) {
    const i = groups[g]!.index
    if (!old.has(i)) {
      old.set(i, D[i]!)
      derived.index.remove(D[i]!, i)
    }
  }
  for (let g = 0; g < m; g++) {
    const i = groups[g]!.index
    if (t[i] === 0) state.rated++
    t[i] = t[i]! + 1
    D[i] = runningMean(D[i]!, d[g]!, t[i]!, config.priorCount)
  }
  let deltaAbs = 0
  for (const [i, previous] of old) {
    derived.index.insert(D[i]!, i)
    neumaier(state, D[i]! - previous)
    deltaAbs += Math.abs(D[i]! - previous)
  }
  const after = competence(state, derived.gated)
  derived.last = {
    competence: after,
    cdas_warmup: warm,
    cdas_delta_competence: Math.abs(after - before),
    cdas_delta_difficulty_mean: deltaAbs / old.size,
    cdas_alignment_mean: alignment / m,
    cdas_expected_mean: expectedSum / m,
    cdas_rated_fraction: ratedFraction()
  }
}

/**
 * CDAS as a sampler part. Alone (the whole dataset eligible) it is the
 * paper's algorithm; under a gate it serves the pool's unrated problems
 * first and aligns the rest around the competence over rated problems
 * ({@link competence}). A batch larger than the dataset selects the whole
 * dataset every step and logs one warning naming `batchSize`.
 *
 * @since 0.2.0
 * @category parts
 */
export const sampler = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options }
  return Part.sampler({
    ...declared("cdas", State, validate(config)),
    derive: (state): Derived => ({
      index: OrderedIndex.build(state.difficulty, config.indexBlockSize),
      last: {},
      gated: false,
      warned: false,
      rank: undefined
    }),
    build: ({ dataset, seed }): Part.SamplerSpec<State, Derived> => {
      const n = dataset.problems.length
      return {
        initial: initialState(n, seed),
        check: (s) =>
          s.difficulty.length !== n || s.count.length !== n
            ? `columns hold ${s.difficulty.length} and ${s.count.length} problems; the dataset has ${n}`
            : s.warmingUp && s.warmupOrder.length !== n
            ? `the warm-up order holds ${s.warmupOrder.length} problems; the dataset has ${n}`
            : undefined,
        select: (live, pool, request) => {
          live.derived.gated = !pool.full
          const batchSize = Math.min(request.batchSize, pool.indices.length)
          const batch = pool.full
            ? selectWarm(live.state, live.derived.index, batchSize, config)
            : selectGated(live, pool, batchSize, config)
          if (request.batchSize <= n || live.derived.warned) return batch
          live.derived.warned = true
          return Effect.as(
            Effect.logWarning(
              `cdas: batchSize ${request.batchSize} is larger than the dataset (${n} problems); ` +
                `selecting the whole dataset every step`
            ).pipe(Effect.annotateLogs({ curriculum: "cdas", field: "batchSize" })),
            batch
          )
        },
        observe: (live, observation, pool) => {
          live.derived.gated = !pool.full
          rate(live, observation, config)
        },
        metrics: ({ derived, state }) =>
          Object.keys(derived.last).length === 0 ? { competence: competence(state, derived.gated) } : derived.last,
        stateBytes: ({ derived, state }) =>
          state.difficulty.byteLength + state.count.byteLength + state.warmupOrder.byteLength + derived.index.byteSize()
      }
    }
  })
}

/**
 * The CDAS curriculum: {@link sampler} alone. Options not given take
 * {@link defaults}; bad options fail the build with a `ConfigError` naming
 * the field.
 *
 * **Example**
 * ```ts
 * Pipeline.run(Pipeline.make("cdas", Stages.standard({ verifier })), Cdas.plugin({ priorCount: 0 }), options)
 * ```
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) => sampler(options)
