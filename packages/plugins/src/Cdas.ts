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
import * as Checkpoint from "@zpd/core/Checkpoint"
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError, type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import { OrderedIndex } from "@zpd/core/OrderedIndex"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

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
export const validate = (config: Config): ConfigError | undefined =>
  requireConfig(config.priorCount === 0 || config.priorCount === 1, "cdas.priorCount", "0 (paper) or 1 (code)", config.priorCount) ??
    requireConfig(
      config.oddSlot === "harder" || config.oddSlot === "easier" || config.oddSlot === "none",
      "cdas.oddSlot",
      `"harder", "easier" or "none"`,
      config.oddSlot
    ) ??
    requireConfig(
      config.warmupRemainder === "fill" || config.warmupRemainder === "short" || config.warmupRemainder === "drop",
      "cdas.warmupRemainder",
      `"fill", "short" or "drop"`,
      config.warmupRemainder
    ) ??
    requireConfig(
      Number.isInteger(config.unratedSteps) && config.unratedSteps >= 0,
      "cdas.unratedSteps",
      "an integer ≥ 0",
      config.unratedSteps
    ) ??
    requireConfig(
      Number.isInteger(config.indexBlockSize) && config.indexBlockSize >= 4,
      "cdas.indexBlockSize",
      "an integer ≥ 4",
      config.indexBlockSize
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
 * Returns the easier part, then the harder part, each closest first.
 *
 * @since 0.1.0
 * @category math
 */
export const symmetricReference = (
  difficulty: ArrayLike<number>,
  competence: number,
  easier: number,
  harder: number,
  skip: (i: number) => boolean = () => false
): Array<number> => {
  const lower: Array<number> = []
  const higher: Array<number> = []
  for (let i = 0; i < difficulty.length; i++) {
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

/**
 * The CDAS curriculum with its extra accessors (for tests, hybrids and the
 * overhead benchmark).
 *
 * @since 0.1.0
 * @category models
 */
export interface CdasCurriculum extends Curriculum.Curriculum {
  /** The current competence C. */
  readonly competence: () => number
  /** The live state (do not mutate). */
  readonly state: () => State
  readonly stateBytes: () => number
  /**
   * Symmetric selection of `count` problems around C, leaving out `skip`
   * (the warm-up's fill-up and hybrids use it).
   */
  readonly alignedSelection: (count: number, skip?: (i: number) => boolean) => Array<number>
  /**
   * Like {@link alignedSelection} but among `candidates` only (a hybrid's
   * pre-filtered pool): by brute force over the candidates, O(k log k).
   */
  readonly alignCandidates: (candidates: ReadonlyArray<number>, count: number) => Array<number>
}

const neumaier = (state: State, x: number): void => {
  const t = state.sum + x
  if (Math.abs(state.sum) >= Math.abs(x)) state.compensation += (state.sum - t) + x
  else state.compensation += (x - t) + state.sum
  state.sum = t
}

/**
 * Builds the CDAS curriculum over `n` problems (the plugin's `build`, without
 * the Effect wrapper).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (n: number, seed: number, config: Config = defaults): CdasCurriculum => {
  let state = initialState(n, seed)
  let index = OrderedIndex.fromSorted(state.difficulty, identity(n), config.indexBlockSize)
  let warned = false
  let last: Record<string, number> = {}

  const competence = () => (n === 0 ? 0 : -(state.sum + state.compensation) / n)

  const alignedSelection = (count: number, skip?: (i: number) => boolean): Array<number> => {
    const c = competence()
    const { easier, harder } = sideTargets(count, config.oddSlot)
    let lower = index.nearestAtOrBelow(c, easier, skip)
    const higher = index.nearestAbove(c, harder + (easier - lower.length), skip)
    if (higher.length < harder) lower = index.nearestAtOrBelow(c, easier + (harder - higher.length), skip)
    return lower.concat(higher)
  }

  const alignCandidates = (candidates: ReadonlyArray<number>, count: number): Array<number> => {
    const c = competence()
    const { easier, harder } = sideTargets(count, config.oddSlot)
    const d = state.difficulty
    const lower = candidates.filter((i) => d[i]! <= c).sort((a, b) => d[b]! - d[a]! || a - b)
    const higher = candidates.filter((i) => d[i]! > c).sort((a, b) => d[a]! - d[b]! || a - b)
    const fromLower = Math.min(lower.length, easier + Math.max(0, harder - higher.length))
    const fromHigher = Math.min(higher.length, harder + Math.max(0, easier - lower.length))
    return [...lower.slice(0, fromLower), ...higher.slice(0, fromHigher)]
  }

  const endWarmup = () => {
    state.warmingUp = false
    state.warmupOrder = new Int32Array(0)
    state.warmupCursor = 0
  }

  const selectNow = (batchSize: number): Array<number> => {
    if (!state.warmingUp) return alignedSelection(batchSize)
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
        return alignedSelection(batchSize)
      case "fill": {
        const inRest = new Set(rest)
        return rest.concat(alignedSelection(batchSize - rest.length, (i) => inRest.has(i)))
      }
    }
  }

  const select = (request: Curriculum.SelectRequest): Effect.Effect<ReadonlyArray<number>> =>
    Effect.suspend(() => {
      const batch = selectNow(Math.min(request.batchSize, n))
      if (request.batchSize > n && !warned) {
        warned = true
        return Effect.as(
          Effect.logWarning(
            `cdas: batchSize ${request.batchSize} is larger than the dataset (${n} problems); ` +
              `selecting the whole dataset every step`
          ).pipe(Effect.annotateLogs({ curriculum: "cdas", field: "batchSize" })),
          batch
        )
      }
      return Effect.succeed(batch)
    })

  const observeNow = (observation: Curriculum.Observation): void => {
    const groups = observation.groups
    const m = groups.length
    const before = competence()
    last = { competence: before, cdas_warmup: state.warmingUp ? 1 : 0 }
    if (observation.step <= config.unratedSteps || m === 0) {
      last = { ...last, cdas_delta_competence: 0, cdas_rated_fraction: n === 0 ? 0 : state.rated / n }
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
        index.remove(D[i]!, i)
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
      index.insert(D[i]!, i)
      neumaier(state, D[i]! - previous)
      deltaAbs += Math.abs(D[i]! - previous)
    }
    const after = competence()
    last = {
      competence: after,
      cdas_warmup: last["cdas_warmup"]!,
      cdas_delta_competence: Math.abs(after - before),
      cdas_delta_difficulty_mean: deltaAbs / old.size,
      cdas_alignment_mean: alignment / m,
      cdas_expected_mean: expectedSum / m,
      cdas_rated_fraction: state.rated / n
    }
  }

  const encode = Schema.encodeSync(State)
  const decode = Checkpoint.stateDecoder(State, `curriculum "cdas"`)

  return {
    name: "cdas",
    select,
    observe: (observation) =>
      Effect.sync(() => {
        observeNow(observation)
        return []
      }),
    metrics: () => (Object.keys(last).length === 0 ? { competence: competence() } : last),
    snapshot: () => encode(state),
    restore: (encoded) =>
      Effect.flatMap(decode(encoded), (s) => {
          const bad = s.difficulty.length !== n || s.count.length !== n
            ? `columns hold ${s.difficulty.length} and ${s.count.length} problems; the dataset has ${n}`
            : s.warmingUp && s.warmupOrder.length !== n
            ? `the warm-up order holds ${s.warmupOrder.length} problems; the dataset has ${n}`
            : undefined
          if (bad !== undefined) return Effect.fail(new CheckpointError({ path: `curriculum "cdas"`, reason: bad }))
          return Effect.sync(() => {
            state = s
            index = OrderedIndex.build(s.difficulty, config.indexBlockSize)
            last = {}
          })
        }),
    stateBytes: () =>
      state.difficulty.byteLength + state.count.byteLength + state.warmupOrder.byteLength + index.byteSize(),
    competence,
    state: () => state,
    alignedSelection,
    alignCandidates
  }
}

const identity = (n: number): Int32Array => {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  return out
}

// ---------------------------------------------------------------------------
// plugin
// ---------------------------------------------------------------------------

/**
 * The CDAS curriculum as a plugin. Options not given take {@link defaults};
 * bad options fail the build with a `ConfigError` naming the field. A batch
 * size larger than the dataset selects the whole dataset every step and logs
 * one warning naming `batchSize`.
 *
 * **Example**
 * ```ts
 * Pipeline.run(Pipeline.make("cdas", Stages.standard({ verifier })), Cdas.plugin({ priorCount: 0 }), options)
 * ```
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}): Curriculum.Plugin => {
  const config: Config = { ...defaults, ...options }
  return {
    name: "cdas",
    identity: Curriculum.canonicalJson({ curriculum: "cdas", options: config }),
    hooks: [],
    build: ({ dataset, seed }) =>
      Effect.suspend(() => {
        const invalid = validate(config)
        if (invalid !== undefined) return Effect.fail(invalid)
        return Effect.succeed(make(dataset.problems.length, seed, config))
      })
  }
}
