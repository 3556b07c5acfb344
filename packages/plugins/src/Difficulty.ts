/**
 * Difficulty estimation from rollouts: AdaCuRL's coarse-to-fine procedure
 * (Li et al., arXiv 2511.09478 §3.1; spec `algorithms.md` §1.2–1.4) as
 * reusable stages that any pipeline or plugin can call. Every rollout goes
 * through the {@link InferenceRuntime}, with seeds derived from the run's seed,
 * so an estimate is reproducible; every result reports the rollouts it spent.
 *
 * ```
 * coarse (5 samples, bins {0,1}/{2,3}/{4,5}, per-bin quotas spread over sources)
 *   > fine (N samples, difficulty = 1 − c/N, keep 0.05 ≤ d ≤ 0.95)
 *   > stable sort easy → hard > K contiguous buckets
 * ```
 *
 * **Example**
 * ```ts
 * const estimate = yield* Difficulty.estimate(dataset.problems, {
 *   verifier, seed: 1, fine: { samples: 32 },
 *   coarse: { quotas: { fractions: [0.5, 1, 0.5] } }
 * })
 * const bounds = Difficulty.buckets(estimate.order.length, 3)
 * const tagged = Difficulty.tagBuckets(dataset, estimate.order, bounds)   // metadata.bucket = 1..3
 * ```
 *
 * Source tags as in the spec: [Seed] the Chinese seed article, [S] secondary
 * summaries, [R] reconstructions (see `packages/plugins/ADACURL.md`).
 *
 * @see https://arxiv.org/abs/2511.09478
 * @since 0.1.0
 */
import { ConfigError, requireConfig, RuntimeError } from "@zpd/core/Errors"
import * as ProblemModule from "@zpd/core/Problem"
import type { Dataset, Problem } from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import { defaultSampling, InferenceRuntime, type SamplingParams } from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"

/**
 * Options every estimation stage shares.
 *
 * @since 0.1.0
 * @category models
 */
export interface EstimationOptions {
  /** Judges each sampled completion; only the verdict's `correct` is used. Called with step 0. */
  readonly verifier: Verifier
  /** The run's seed; generation seeds and quota draws derive from it. */
  readonly seed: number
  /** Names this estimation's random streams and request ids (e.g. `"round-2"`). Default `"difficulty"`. */
  readonly label?: string
  /** Sampling of estimation rollouts; default the core's {@link defaultSampling}. `seed` is always derived. */
  readonly sampling?: Partial<SamplingParams>
  /** Prompts per `generate` request. Default 256. */
  readonly chunkSize?: number
  /** Prefix of the config field named in errors, e.g. `"adacurl"` → `"adacurl.fine.samples"`. Default `"difficulty"`. */
  readonly field?: string
}

/**
 * An inclusive range `[lo, hi]` of correct counts out of the coarse samples.
 *
 * @since 0.1.0
 * @category models
 */
export type Interval = readonly [number, number]

/**
 * How many items to take from each coarse interval: fractions `ρ_k` of the
 * interval (`n_k = ⌊ρ_k·|G_k|⌋` [S]) or absolute targets `n_k` [R].
 *
 * @since 0.1.0
 * @category models
 */
export type Quotas = { readonly fractions: ReadonlyArray<number> } | { readonly counts: ReadonlyArray<number> }

/**
 * Coarse-stage options (spec §1.2).
 *
 * @since 0.1.0
 * @category models
 */
export interface CoarseOptions {
  /** Samples per item. Default 5 [Seed]. */
  readonly samples: number
  /** Intervals of correct counts, G_1, G_2, …. Default `[[0, 1], [2, 3], [4, 5]]` (hard, medium, easy) [S]. */
  readonly intervals: ReadonlyArray<Interval>
  /**
   * One quota per interval. Default `{ counts: [5000, 3000, 2000] }`: the
   * reported MLLM setting of 5K hard / 3K medium / 2K easy [S] (bin ↔ label [R]).
   */
  readonly quotas: Quotas
  /**
   * `even`: split each interval's quota evenly over the source datasets
   * (`⌊n_k/S⌋`, remainder to the first sources in sorted order), draw each
   * source's share uniformly, then hand unfilled quota round-robin to sources
   * with items left [R; Seed: "uniformly distributed across datasets"].
   * `none`: a uniform draw from the whole interval. Default `even`.
   */
  readonly perSource: "even" | "none"
  /** The problem feature naming an item's source dataset. Default `family`. */
  readonly sourceKey: string
  /** An absolute quota above its interval's size: `error` (default) or `cap` at the size [R]. */
  readonly overflow: "error" | "cap"
}

/**
 * @since 0.1.0
 * @category constants
 */
export const coarseDefaults: CoarseOptions = {
  samples: 5,
  intervals: [[0, 1], [2, 3], [4, 5]],
  quotas: { counts: [5000, 3000, 2000] },
  perSource: "even",
  sourceKey: "family",
  overflow: "error"
}

/**
 * Fine-stage options (spec §1.3).
 *
 * @since 0.1.0
 * @category models
 */
export interface FineOptions {
  /** N, samples per item. Default 100 [S]. */
  readonly samples: number
  /** Keep items with `keep[0] ≤ difficulty ≤ keep[1]`, bounds included. Default `[0.05, 0.95]` [Seed; inclusion R]. */
  readonly keep: readonly [number, number]
}

/**
 * @since 0.1.0
 * @category constants
 */
export const fineDefaults: FineOptions = { samples: 100, keep: [0.05, 0.95] }

const prefix = (options: { readonly field?: string }) => options.field ?? "difficulty"

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x)

const first = (...errors: ReadonlyArray<ConfigError | undefined>): ConfigError | undefined =>
  errors.find((e) => e !== undefined)

/**
 * An estimation stage over `problems`: its options (`options[key]` over
 * `defaults`) and the shared ones are validated before `body` runs.
 */
const stage = <K extends "coarse" | "fine", C, A>(
  key: K,
  defaults: C,
  validate: (config: C, field: string) => ConfigError | undefined,
  body: (
    problems: ReadonlyArray<Problem>,
    options: EstimationOptions,
    config: C,
    field: string
  ) => Effect.Effect<A, ConfigError | RuntimeError, InferenceRuntime>
) =>
(
  problems: ReadonlyArray<Problem>,
  options: EstimationOptions & { readonly [k in K]?: Partial<C> }
): Effect.Effect<A, ConfigError | RuntimeError, InferenceRuntime> => {
  const config = { ...defaults, ...(options as { readonly [k in K]?: Partial<C> })[key] }
  const invalid = validateShared(options) ?? validate(config, prefix(options))
  return invalid === undefined ? body(problems, options, config, prefix(options)) : Effect.fail(invalid)
}

const validateShared = (options: EstimationOptions): ConfigError | undefined => {
  const f = prefix(options)
  return first(
    requireConfig(
      typeof options.verifier === "function",
      `${f}.verifier`,
      "a verifier function",
      typeof options.verifier
    ),
    requireConfig(isInt(options.seed), `${f}.seed`, "an integer", options.seed),
    options.chunkSize === undefined
      ? undefined
      : requireConfig(
        isInt(options.chunkSize) && options.chunkSize >= 1,
        `${f}.chunkSize`,
        "an integer ≥ 1",
        options.chunkSize
      )
  )
}

/**
 * Checks coarse options, naming the field (`<field>.coarse.samples`,
 * `<field>.coarse.intervals[k]`, `<field>.coarse.quotas.fractions[k]`, …).
 * Quotas above an interval's size can only be checked once the interval is
 * known (see {@link selectByQuota}).
 *
 * @since 0.1.0
 * @category config
 */
export const validateCoarse = (options: CoarseOptions, field = "difficulty"): ConfigError | undefined => {
  const f = `${field}.coarse`
  const samples = requireConfig(
    isInt(options.samples) && options.samples >= 1,
    `${f}.samples`,
    "an integer ≥ 1",
    options.samples
  )
  if (samples) return samples
  const intervals = options.intervals
  if (!Array.isArray(intervals) || intervals.length === 0) {
    return new ConfigError({
      field: `${f}.intervals`,
      expected: "at least one [lo, hi] interval",
      actual: JSON.stringify(intervals)
    })
  }
  for (let k = 0; k < intervals.length; k++) {
    const iv = intervals[k]!
    const ok = Array.isArray(iv) && iv.length === 2 && isInt(iv[0]) && isInt(iv[1]) && 0 <= iv[0] &&
      iv[0] <= iv[1] && iv[1] <= options.samples
    if (!ok) {
      return new ConfigError({
        field: `${f}.intervals[${k}]`,
        expected: `[lo, hi] with integers 0 ≤ lo ≤ hi ≤ ${options.samples} (the coarse samples)`,
        actual: JSON.stringify(iv)
      })
    }
    for (let j = 0; j < k; j++) {
      const other = intervals[j]!
      if (iv[0] <= other[1] && other[0] <= iv[1]) {
        return new ConfigError({
          field: `${f}.intervals[${k}]`,
          expected: `an interval disjoint from intervals[${j}] = ${JSON.stringify(other)}`,
          actual: JSON.stringify(iv)
        })
      }
    }
  }
  const quotas = options.quotas as Partial<{ fractions: ReadonlyArray<number>; counts: ReadonlyArray<number> }>
  const hasFractions = quotas !== null && typeof quotas === "object" && "fractions" in quotas
  const hasCounts = quotas !== null && typeof quotas === "object" && "counts" in quotas
  if (hasFractions === hasCounts) {
    return new ConfigError({
      field: `${f}.quotas`,
      expected: "either { fractions: [ρ_1, …] } or { counts: [n_1, …] }",
      actual: JSON.stringify(quotas)
    })
  }
  const values = hasFractions ? quotas.fractions : quotas.counts
  const kind = hasFractions ? "fractions" : "counts"
  if (!Array.isArray(values) || values.length !== intervals.length) {
    return new ConfigError({
      field: `${f}.quotas.${kind}`,
      expected: `one quota per interval (${intervals.length})`,
      actual: JSON.stringify(values)
    })
  }
  for (let k = 0; k < values.length; k++) {
    const v = values[k]
    const bad = hasFractions
      ? requireConfig(
        typeof v === "number" && v >= 0 && v <= 1,
        `${f}.quotas.fractions[${k}]`,
        "a fraction in [0, 1] (at most 100% of the interval)",
        v
      )
      : requireConfig(isInt(v) && v >= 0, `${f}.quotas.counts[${k}]`, "an integer ≥ 0", v)
    if (bad) return bad
  }
  return first(
    requireConfig(
      options.perSource === "even" || options.perSource === "none",
      `${f}.perSource`,
      `"even" or "none"`,
      options.perSource
    ),
    requireConfig(
      typeof options.sourceKey === "string" && options.sourceKey.length > 0,
      `${f}.sourceKey`,
      "a feature name",
      options.sourceKey
    ),
    requireConfig(
      options.overflow === "error" || options.overflow === "cap",
      `${f}.overflow`,
      `"error" or "cap"`,
      options.overflow
    )
  )
}

/**
 * Checks fine options (`<field>.fine.samples`, `<field>.fine.keep`).
 *
 * @since 0.1.0
 * @category config
 */
export const validateFine = (options: FineOptions, field = "difficulty"): ConfigError | undefined => {
  const keep = options.keep
  return first(
    requireConfig(
      isInt(options.samples) && options.samples >= 1,
      `${field}.fine.samples`,
      "an integer ≥ 1 (N, samples per item)",
      options.samples
    ),
    requireConfig(
      Array.isArray(keep) && keep.length === 2 && typeof keep[0] === "number" && typeof keep[1] === "number" &&
        0 <= keep[0] && keep[0] <= keep[1] && keep[1] <= 1,
      `${field}.fine.keep`,
      "[lo, hi] with 0 ≤ lo ≤ hi ≤ 1",
      JSON.stringify(keep)
    )
  )
}

/**
 * Correct counts and the rollouts spent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  /** `correct[i]` = number of the `samples` completions of `problems[i]` judged correct. */
  readonly correct: Int32Array
  readonly rollouts: number
}

/**
 * Samples `samples` completions per problem through the
 * {@link InferenceRuntime} (in requests of `chunkSize` prompts, seed
 * `Rng.deriveSeed(seed, chunk, "<label>-<stage>")`) and counts the correct
 * ones with the verifier.
 *
 * @since 0.1.0
 * @category stages
 */
export const countCorrect = (
  problems: ReadonlyArray<Problem>,
  samples: number,
  options: EstimationOptions,
  stage = "count"
): Effect.Effect<Counts, RuntimeError, InferenceRuntime> =>
  Effect.gen(function*() {
    const runtime = yield* InferenceRuntime
    const label = options.label ?? "difficulty"
    const chunk = options.chunkSize ?? 256
    const sampling = { ...defaultSampling, ...options.sampling }
    const correct = new Int32Array(problems.length)
    for (let start = 0, c = 0; start < problems.length; start += chunk, c++) {
      const part = problems.slice(start, start + chunk)
      const completions = yield* runtime.generate({
        requestId: `${label}-${stage}-${c}`,
        prompts: part.map((problem) => ({ promptId: problem.id, text: problem.prompt, problem })),
        n: samples,
        sampling: { ...sampling, seed: Rng.deriveSeed(options.seed, c, `${label}-${stage}`) }
      })
      if (completions.length !== part.length * samples) {
        return yield* new RuntimeError({
          endpoint: "InferenceRuntime.generate",
          reason: "BadResponse",
          description: `difficulty estimation expected ${part.length * samples} completions ` +
            `(${part.length} prompts × n=${samples}), got ${completions.length}`
        })
      }
      for (let j = 0; j < part.length; j++) {
        const problem = part[j]!
        let c = 0
        for (let s = 0; s < samples; s++) {
          const completion = completions[j * samples + s]!
          if (completion.promptId !== problem.id) {
            return yield* new RuntimeError({
              endpoint: "InferenceRuntime.generate",
              reason: "BadResponse",
              description: `completion for "${completion.promptId}" out of order; expected "${problem.id}"`
            })
          }
          if (options.verifier(problem, completion.text, 0).correct) c++
        }
        correct[start + j] = c
      }
    }
    return { correct, rollouts: problems.length * samples }
  })

/**
 * The index of the interval containing `count`, or −1.
 *
 * @since 0.1.0
 * @category math
 */
export const binOf = (count: number, intervals: ReadonlyArray<Interval>): number => {
  for (let k = 0; k < intervals.length; k++) if (intervals[k]![0] <= count && count <= intervals[k]![1]) return k
  return -1
}

/**
 * The coarse selection (spec §1.2 steps 3–4), pure: given each item's interval
 * (`bins[i]`, −1 = none) and source, draws each interval's quota — evenly
 * over sources when `perSource` is `even` — and returns the selected item
 * indices, ascending. Fails naming `<field>.coarse.quotas.counts[k]` when an
 * absolute quota exceeds its interval's size under `overflow: "error"`.
 *
 * @since 0.1.0
 * @category math
 */
export const selectByQuota = (
  bins: Int32Array,
  sources: ReadonlyArray<string>,
  options: Pick<CoarseOptions, "intervals" | "quotas" | "perSource" | "overflow">,
  rng: Rng.Rng,
  field = "difficulty"
): Int32Array | ConfigError => {
  const names = Array.from(new Set(sources)).sort()
  const sourceIndex = new Map(names.map((n, i) => [n, i]))
  const selected: Array<number> = []
  for (let k = 0; k < options.intervals.length; k++) {
    const members: Array<number> = []
    for (let i = 0; i < bins.length; i++) if (bins[i] === k) members.push(i)
    let n: number
    if ("fractions" in options.quotas) {
      n = Math.floor(options.quotas.fractions[k]! * members.length)
    } else {
      n = options.quotas.counts[k]!
      if (n > members.length) {
        if (options.overflow === "error") {
          const [lo, hi] = options.intervals[k]!
          return new ConfigError({
            field: `${field}.coarse.quotas.counts[${k}]`,
            expected: `at most ${members.length}, the size of interval ${k + 1} ` +
              `(items with ${lo}–${hi} correct); use fractions or overflow: "cap"`,
            actual: String(n)
          })
        }
        n = members.length
      }
    }
    if (options.perSource === "none") {
      const shuffled = rng.shuffle(Int32Array.from(members))
      for (let j = 0; j < n; j++) selected.push(shuffled[j]!)
      continue
    }
    const bySource: Array<Array<number>> = names.map(() => [])
    for (const i of members) bySource[sourceIndex.get(sources[i]!)!]!.push(i)
    const S = names.length
    const take = bySource.map((items, s) => Math.min(items.length, Math.floor(n / S) + (s < n % S ? 1 : 0)))
    let left = n - take.reduce((a, b) => a + b, 0)
    while (left > 0) {
      let progressed = false
      for (let s = 0; s < S && left > 0; s++) {
        if (take[s]! < bySource[s]!.length) {
          take[s]!++
          left--
          progressed = true
        }
      }
      if (!progressed) break
    }
    bySource.forEach((items, s) => {
      const shuffled = rng.shuffle(Int32Array.from(items))
      for (let j = 0; j < take[s]!; j++) selected.push(shuffled[j]!)
    })
  }
  return Int32Array.from(selected).sort()
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CoarseResult {
  /** `counts[i]`: correct answers of `problems[i]` out of `samples`. */
  readonly counts: Int32Array
  /** `bins[i]`: the interval of `problems[i]` (0-based), −1 if in none. */
  readonly bins: Int32Array
  /** Selected indices into `problems`, ascending. */
  readonly selected: Int32Array
  readonly rollouts: number
}

/**
 * The coarse stage (spec §1.2): `samples` (5) answers per item, intervals of
 * correct counts, per-interval quotas spread over source datasets.
 *
 * @since 0.1.0
 * @category stages
 */
export const coarse = stage(
  "coarse",
  coarseDefaults,
  validateCoarse,
  (problems, options, config, f) =>
    Effect.gen(function*() {
      const sources: Array<string> = []
      for (const p of problems) {
        const v = ProblemModule.feature(p, config.sourceKey)
        if (v === undefined) {
          return yield* new ConfigError({
            field: `${f}.coarse.sourceKey`,
            expected: `feature "${config.sourceKey}" on every problem (level, family, id, or a metadata field)`,
            actual: `problem "${p.id}" has no "${config.sourceKey}"`
          })
        }
        sources.push(String(v))
      }
      const { correct, rollouts } = yield* countCorrect(problems, config.samples, options, "coarse")
      const bins = Int32Array.from(correct, (c) => binOf(c, config.intervals))
      const rng = Rng.make(options.seed, 0, `${options.label ?? "difficulty"}-coarse-quota`)
      const selected = selectByQuota(bins, sources, config, rng, f)
      if (selected instanceof ConfigError) return yield* selected
      return { counts: correct, bins, selected, rollouts }
    })
)

/**
 * Difficulty from `c` correct of `n`: `1 − c/n` [S], computed as `(n − c)/n`
 * so that boundary values compare exactly with literals (`(100 − 5)/100` is
 * the double `0.95`).
 *
 * @since 0.1.0
 * @category math
 */
export const difficultyOf = (correct: number, samples: number): number => (samples - correct) / samples

/**
 * Keeps the candidates with `keep[0] ≤ difficulty ≤ keep[1]` and sorts them
 * easy → hard; ties keep the candidates' order (stable) [R].
 *
 * @since 0.1.0
 * @category math
 */
export const keepAndSort = (
  difficulty: ArrayLike<number>,
  candidates: ArrayLike<number>,
  keep: readonly [number, number]
): Int32Array => {
  const kept: Array<[number, number]> = []
  for (let j = 0; j < candidates.length; j++) {
    const i = candidates[j]!
    const d = difficulty[i]!
    if (d >= keep[0] && d <= keep[1]) kept.push([i, j])
  }
  kept.sort((a, b) => difficulty[a[0]]! - difficulty[b[0]]! || a[1] - b[1])
  return Int32Array.from(kept, ([i]) => i)
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FineResult {
  /** `difficulty[i] = 1 − c/N` for `problems[i]`. */
  readonly difficulty: Float64Array
  /** Indices into `problems` with difficulty inside `keep`, easy → hard (stable). */
  readonly order: Int32Array
  readonly rollouts: number
}

/**
 * The fine stage (spec §1.3): `N` answers per item, `difficulty = 1 − c/N`,
 * keep `0.05 ≤ d ≤ 0.95`, stable sort easy → hard.
 *
 * @since 0.1.0
 * @category stages
 */
export const fine = stage("fine", fineDefaults, validateFine, (problems, options, config) =>
  Effect.gen(function*() {
    const { correct, rollouts } = yield* countCorrect(problems, config.samples, options, "fine")
    const difficulty = Float64Array.from(correct, (c) => difficultyOf(c, config.samples))
    const all = Int32Array.from({ length: problems.length }, (_, i) => i)
    return { difficulty, order: keepAndSort(difficulty, all, config.keep), rollouts }
  }))

/**
 * Bucket boundaries: `bounds[k] = ⌊k·size/K⌋` for `k = 0..K`, so bucket
 * `B_k = order[bounds[k−1], bounds[k])` (spec §1.4 [R]): K contiguous,
 * half-open slices whose sizes differ by at most 1, never empty when
 * `size ≥ K`.
 *
 * @since 0.1.0
 * @category math
 */
export const buckets = (size: number, k: number): Int32Array =>
  Int32Array.from({ length: k + 1 }, (_, j) => Math.floor((j * size) / k))

/**
 * @since 0.1.0
 * @category models
 */
export interface Estimate {
  /** Per input problem: the fine difficulty, NaN where the fine stage did not run (not selected by the coarse stage). */
  readonly difficulty: Float64Array
  /** Per input problem: the coarse correct count, −1 without a coarse stage. */
  readonly coarseCounts: Int32Array
  /** D: indices into the input problems, kept by the filter, sorted easy → hard. */
  readonly order: Int32Array
  /** Rollouts spent by both stages. */
  readonly rollouts: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EstimateOptions extends EstimationOptions {
  /** The coarse stage, or `false` to run only the fine stage (the LLM setting [S]). Default `false`. */
  readonly coarse?: Partial<CoarseOptions> | false
  readonly fine?: Partial<FineOptions>
}

/**
 * Coarse (optional) then fine: the training set D sorted easy → hard.
 *
 * @since 0.1.0
 * @category stages
 */
export const estimate = (
  problems: ReadonlyArray<Problem>,
  options: EstimateOptions
): Effect.Effect<Estimate, ConfigError | RuntimeError, InferenceRuntime> =>
  Effect.gen(function*() {
    const fineConfig: FineOptions = { ...fineDefaults, ...options.fine }
    const invalid = validateShared(options) ?? validateFine(fineConfig, prefix(options))
    if (invalid) return yield* invalid
    const coarseCounts = new Int32Array(problems.length).fill(-1)
    let candidates: Int32Array = Int32Array.from({ length: problems.length }, (_, i) => i)
    let rollouts = 0
    if (options.coarse !== undefined && options.coarse !== false) {
      const c = yield* coarse(problems, { ...options, coarse: options.coarse })
      coarseCounts.set(c.counts)
      candidates = c.selected
      rollouts += c.rollouts
    }
    const chosen = Array.from(candidates, (i) => problems[i]!)
    const f = yield* fine(chosen, { ...options, fine: fineConfig })
    rollouts += f.rollouts
    const difficulty = new Float64Array(problems.length).fill(Number.NaN)
    candidates.forEach((i, j) => (difficulty[i] = f.difficulty[j]!))
    return { difficulty, coarseCounts, order: Int32Array.from(f.order, (j) => candidates[j]!), rollouts }
  })

/**
 * A copy of `dataset` whose problems carry `metadata[key]` = their bucket
 * (1..K, easy → hard) for the items of `order` cut at `bounds`, and 0 for
 * items outside D. Indices are unchanged, so a curriculum built on the tagged
 * copy (e.g. SEC with `arms: ["bucket"]`) selects the same problems.
 *
 * @since 0.1.0
 * @category combinators
 */
export const tagBuckets = (
  dataset: Dataset,
  order: ArrayLike<number>,
  bounds: ArrayLike<number>,
  key = "bucket"
): Dataset => {
  const bucket = new Int32Array(dataset.problems.length)
  for (let k = 1; k < bounds.length; k++) {
    for (let j = bounds[k - 1]!; j < bounds[k]!; j++) bucket[order[j]!] = k
  }
  return ProblemModule.make(
    dataset.name,
    dataset.problems.map((p, i) => ({ ...p, metadata: { ...p.metadata, [key]: bucket[i]! } }))
  )
}
