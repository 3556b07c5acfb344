/**
 * PCL's default value model (Gao et al., arXiv 2510.01135; spec
 * `algorithms.md` §4.3 [R]): an online logistic-output linear model over
 * hashed features of the prompt (word uni- and bigrams) and its metadata
 * (level, family and their conjunction), trained by AdaGrad on the squared
 * error. No GPU. Untrained it predicts exactly 0.5 everywhere, PCL's cold
 * start (spec §4.5). It implements the `@zpd/core` `ValueModel` port.
 *
 * @see https://arxiv.org/abs/2510.01135
 * @since 0.1.0
 */
import * as Checkpoint from "@zpd/core/Checkpoint"
import * as Columns from "@zpd/core/Columns"
import { CheckpointError, type ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import type { Problem } from "@zpd/core/Problem"
import { mix32 } from "@zpd/core/Rng"
import { ValueModel, type ValueUpdate } from "@zpd/core/ValueModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { grown } from "./internal/arrays.ts"
import { finiteAtLeast, intInRange, isInt, positive } from "./internal/config.ts"

// ---------------------------------------------------------------------------
// the default: hashed features, sigmoid output, AdaGrad on the squared error
// ---------------------------------------------------------------------------

/**
 * Options of {@link hashed}. All are reconstructions [R]: the paper's value
 * model is a language-model head (spec §4.3), which needs a GPU.
 *
 * @since 0.1.0
 * @category config
 */
export interface HashedOptions {
  /**
   * log2 of the number of hashed weights. Default 14 (16,384 weights, 256 KiB
   * with the optimiser state); raise it for large real-text datasets, where
   * more distinct n-grams collide.
   */
  readonly bits: number
  /** Word n-gram orders taken from the prompt. Default `[1, 2]` (unigrams and bigrams). */
  readonly ngrams: ReadonlyArray<number>
  /**
   * Problem features one-hot encoded, plus their conjunction: `level`,
   * `family`, `id` or any metadata key. Default `["level", "family"]`.
   */
  readonly metadata: ReadonlyArray<string>
  /**
   * Scale of the prompt's n-gram block (its features have norm
   * `promptWeight`; each metadata feature is 1). Default 0.5: at 1 the
   * block's per-prompt features take large AdaGrad steps and V fits rollout
   * noise (less stable explained variance on the simulated learner).
   */
  readonly promptWeight: number
  /** AdaGrad step size η. Default 0.3. */
  readonly learningRate: number
  /**
   * Decay ρ of AdaGrad's squared-gradient sum (`G ← ρG + g²`): 1 is plain
   * AdaGrad, < 1 keeps the step size up so V tracks a moving policy
   * (RMSProp-like). Default 0.99.
   */
  readonly decay: number
  /** L2 penalty on the weights. Default 0. */
  readonly l2: number
  /** AdaGrad's initial squared-gradient sum G₀: damps the first steps of rare features. Default 0.01. */
  readonly initialAccumulator: number
  /** `"adagrad"` (per-weight step sizes, default) or `"sgd"` (one step size η). */
  readonly optimizer: "adagrad" | "sgd"
  /** Optimiser steps per update (spec §4.3: one per RL step). Default 1. */
  readonly steps: number
}

/**
 * @since 0.1.0
 * @category config
 */
export const hashedDefaults: HashedOptions = {
  bits: 14,
  ngrams: [1, 2],
  metadata: ["level", "family"],
  promptWeight: 0.5,
  learningRate: 0.3,
  decay: 0.99,
  l2: 0,
  initialAccumulator: 0.01,
  optimizer: "adagrad",
  steps: 1
}

/**
 * Checks the options of {@link hashed}; the error names the field under
 * `prefix` (e.g. `pcl.valueModel.bits`).
 *
 * @since 0.1.0
 * @category config
 */
export const validateHashed = (o: HashedOptions, prefix = "valueModel"): ConfigError | undefined =>
  intInRange(o.bits, 4, 26, `${prefix}.bits`) ??
    requireConfig(
      o.ngrams.every((k) => isInt(k) && k >= 1 && k <= 5),
      `${prefix}.ngrams`,
      "integers in [1, 5]",
      JSON.stringify(o.ngrams)
    ) ??
    finiteAtLeast(o.promptWeight, 0, `${prefix}.promptWeight`) ??
    positive(o.learningRate, `${prefix}.learningRate`) ??
    requireConfig(o.decay > 0 && o.decay <= 1, `${prefix}.decay`, "a number in (0, 1]", o.decay) ??
    finiteAtLeast(o.l2, 0, `${prefix}.l2`) ??
    finiteAtLeast(o.initialAccumulator, 0, `${prefix}.initialAccumulator`) ??
    requireConfig(
      o.optimizer === "adagrad" || o.optimizer === "sgd",
      `${prefix}.optimizer`,
      `"adagrad" or "sgd"`,
      o.optimizer
    ) ??
    requireConfig(Number.isInteger(o.steps) && o.steps >= 1, `${prefix}.steps`, "an integer ≥ 1", o.steps)

const HashedState = Schema.Struct({
  kind: Schema.Literal("hashed"),
  bits: Schema.Int,
  weights: Columns.Float64Column,
  accumulator: Columns.Float64Column,
  updates: Schema.Int
})

/** FNV-1a over a string, continuing from `h`. */
const fnv = (h: number, s: string): number => {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

const FNV_OFFSET = 0x811c9dc5

const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127

const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c)

const metadataValue = (problem: Problem, key: string): string => {
  switch (key) {
    case "level":
      return String(problem.level)
    case "family":
      return problem.family
    case "id":
      return problem.id
    default: {
      const v = problem.metadata[key]
      return v === undefined ? "" : String(v)
    }
  }
}

type FeatureOptions = Pick<HashedOptions, "bits" | "ngrams" | "metadata" | "promptWeight">

/** Reusable buffers for one featurisation: indices, values, word hashes. */
class Featurizer {
  index = new Int32Array(256)
  value = new Float64Array(256)
  private words = new Uint32Array(256)
  private readonly options: FeatureOptions
  private readonly mask: number
  private readonly keySeeds: Uint32Array
  private readonly gramSeeds: Uint32Array
  constructor(options: FeatureOptions) {
    this.options = options
    this.mask = (1 << options.bits) - 1
    this.keySeeds = Uint32Array.from(options.metadata, (key) => fnv(FNV_OFFSET, `m:${key}=`))
    this.gramSeeds = Uint32Array.from(options.ngrams, (k) => mix32(0x9e3779b9 ^ k))
  }

  private push(n: number, index: number, value: number): number {
    if (n === this.index.length) {
      this.index = grown(this.index, 2 * n)
      this.value = grown(this.value, 2 * n)
    }
    this.index[n] = index
    this.value[n] = value
    return n + 1
  }

  /** Fills `index`/`value` with the problem's features; returns their count. */
  run(problem: Problem): number {
    const { metadata, ngrams, promptWeight } = this.options
    let n = this.push(0, 0, 1) // the bias
    let joint = fnv(FNV_OFFSET, "j:")
    for (let k = 0; k < metadata.length; k++) {
      const v = metadataValue(problem, metadata[k]!)
      n = this.push(n, fnv(this.keySeeds[k]!, v) & this.mask, 1)
      joint = fnv(fnv(joint, v), "\u0001")
    }
    if (metadata.length > 1) n = this.push(n, joint & this.mask, 1)
    if (promptWeight > 0 && ngrams.length > 0) {
      // Word hashes: maximal runs of letters and digits, lower-cased.
      const text = problem.prompt
      let w = 0
      let h = FNV_OFFSET
      let inWord = false
      for (let i = 0; i <= text.length; i++) {
        const c = i < text.length ? text.charCodeAt(i) : 32
        if (isWordChar(c)) {
          h = Math.imul(h ^ lower(c), 0x01000193)
          inWord = true
        } else if (inWord) {
          if (w === this.words.length) {
            const words2 = new Uint32Array(2 * w)
            words2.set(this.words)
            this.words = words2
          }
          this.words[w++] = h >>> 0
          h = FNV_OFFSET
          inWord = false
        }
      }
      let grams = 0
      for (const k of ngrams) grams += Math.max(0, w - k + 1)
      if (grams > 0) {
        const weight = promptWeight / Math.sqrt(grams)
        for (let g = 0; g < ngrams.length; g++) {
          const k = ngrams[g]!
          for (let i = 0; i + k <= w; i++) {
            let x = this.gramSeeds[g]!
            for (let j = 0; j < k; j++) x = mix32((x ^ this.words[i + j]!) >>> 0)
            n = this.push(n, x & this.mask, weight)
          }
        }
      }
    }
    return n
  }
}

/**
 * The hashed feature vector of a problem: parallel arrays of weight indices
 * and values (duplicates allowed; they add up): the bias (index 0), one
 * feature per metadata key, their conjunction, then the prompt's word
 * n-grams, each `promptWeight / √(#n-grams)`. Exposed for tests and for value
 * models that reuse the featurisation.
 *
 * @since 0.1.0
 * @category math
 */
export const features = (
  problem: Problem,
  options: FeatureOptions
): { readonly index: Int32Array; readonly value: Float64Array } => {
  const f = new Featurizer(options)
  const n = f.run(problem)
  return { index: f.index.slice(0, n), value: f.value.slice(0, n) }
}

/**
 * The default value model: `V(x) = σ(w · φ(x))` over hashed features φ
 * (a bias, one-hot metadata and their conjunction, the prompt's word
 * n-grams scaled to unit norm), trained online on the squared error
 * `½ Σ_i (V(x_i) − y_i)²` by AdaGrad with decay. Needs no GPU; with w = 0 it
 * predicts 0.5 everywhere. Deterministic (only `+ − × ÷ √` and
 * `Fmath.sigmoid`), so Node and Deno agree bit for bit. Invalid options
 * throw; use {@link validateHashed} first to get a `ConfigError`.
 *
 * **Example**
 * ```ts
 * const v = HashedValueModel.hashed({ bits: 16 })
 * const p = yield* v.predict(problems)          // Float64Array of 0.5s
 * yield* v.update(problems, observedPassRates)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const hashed = (options: Partial<HashedOptions> = {}): ValueModel.Service => {
  const o: HashedOptions = { ...hashedDefaults, ...options }
  const invalid = validateHashed(o)
  if (invalid !== undefined) throw new Error(invalid.message)
  const size = 1 << o.bits
  const weights = new Float64Array(size)
  const accumulator = new Float64Array(size).fill(o.initialAccumulator)
  /** Updates so far, and the list of gradient coordinates touched (grown as needed). */
  const counters = { updates: 0, touched: new Int32Array(Math.min(size, 1024)) }
  const encode = Schema.encodeSync(HashedState)
  const decode = Checkpoint.stateDecoder(HashedState, `value model "hashed"`)

  const featurizer = new Featurizer(o)
  // Dense gradient scratch and the list of coordinates it touched.
  const grad = new Float64Array(size)
  const marked = new Uint8Array(size)

  /** Featurises `problem` into the featurizer's buffers; returns the logit and the feature count. */
  const logitOf = (problem: Problem): { z: number; n: number } => {
    const n = featurizer.run(problem)
    const index = featurizer.index
    const value = featurizer.value
    let z = 0
    for (let k = 0; k < n; k++) z += weights[index[k]!]! * value[k]!
    return { z, n }
  }

  const predictNow = (problems: ReadonlyArray<Problem>): Float64Array => {
    const out = new Float64Array(problems.length)
    for (let i = 0; i < problems.length; i++) out[i] = Fmath.sigmoid(logitOf(problems[i]!).z)
    return out
  }

  const updateNow = (problems: ReadonlyArray<Problem>, targets: Float64Array): ValueUpdate => {
    const m = problems.length
    if (targets.length !== m) throw new Error(`ValueModel.update: ${m} problems but ${targets.length} targets`)
    if (m === 0) return { loss: Number.NaN }
    let loss = Number.NaN
    for (let s = 0; s < o.steps; s++) {
      let count = 0
      let se = 0
      for (let i = 0; i < m; i++) {
        const { n, z } = logitOf(problems[i]!)
        const v = Fmath.sigmoid(z)
        const r = v - targets[i]!
        se += r * r
        // ∂ ½(v − y)² / ∂z = (v − y) v (1 − v), averaged over the batch.
        const gz = (r * v * (1 - v)) / m
        const index = featurizer.index
        const value = featurizer.value
        for (let k = 0; k < n; k++) {
          const j = index[k]!
          if (marked[j] === 0) {
            marked[j] = 1
            if (count === counters.touched.length) counters.touched = grown(counters.touched, Math.min(size, 2 * count))
            counters.touched[count++] = j
          }
          grad[j] = grad[j]! + gz * value[k]!
        }
      }
      if (s === 0) loss = se / m
      // Coordinates update independently, so their order does not matter.
      if (o.optimizer === "sgd") {
        for (let t = 0; t < count; t++) {
          const j = counters.touched[t]!
          weights[j] = weights[j]! - o.learningRate * (grad[j]! + o.l2 * weights[j]!)
        }
      } else {
        if (o.decay !== 1) {
          // G ← ρG + (1 − ρ)G₀ + g²: untouched sums relax toward G₀ rather than 0.
          for (let j = 0; j < size; j++) {
            accumulator[j] = accumulator[j]! * o.decay + (1 - o.decay) * o.initialAccumulator
          }
        }
        for (let t = 0; t < count; t++) {
          const j = counters.touched[t]!
          const g = grad[j]! + o.l2 * weights[j]!
          accumulator[j] = accumulator[j]! + g * g
          if (accumulator[j]! > 0) weights[j] = weights[j]! - (o.learningRate * g) / Math.sqrt(accumulator[j]!)
        }
      }
      for (let t = 0; t < count; t++) {
        grad[counters.touched[t]!] = 0
        marked[counters.touched[t]!] = 0
      }
      counters.updates++
    }
    return { loss }
  }

  return {
    name: "hashed",
    predict: (problems) => Effect.sync(() => predictNow(problems)),
    update: (problems, targets) => Effect.sync(() => updateNow(problems, targets)),
    snapshot: () => encode({ kind: "hashed", bits: o.bits, weights, accumulator, updates: counters.updates }),
    restore: (state) =>
      Effect.flatMap(
        decode(state),
        (s) =>
          s.bits !== o.bits || s.weights.length !== size || s.accumulator.length !== size
            ? Effect.fail(
              new CheckpointError({
                path: "value model \"hashed\"",
                reason: `the checkpoint has ${s.bits} bits (${s.weights.length} weights); this model has ${o.bits}`
              })
            )
            : Effect.sync(() => {
              weights.set(s.weights)
              accumulator.set(s.accumulator)
              counters.updates = s.updates
            })
      ),
    stateBytes: () =>
      weights.byteLength + accumulator.byteLength + grad.byteLength + counters.touched.byteLength + marked.byteLength
  }
}

/**
 * The default value model as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHashed = (options: Partial<HashedOptions> = {}): Layer.Layer<ValueModel> =>
  Layer.sync(ValueModel, () => hashed(options))

/**
 * Explained variance `1 − Var(y − ŷ) / Var(y)` of predictions `ŷ` for
 * observations `y` (population variances): 1 is perfect, 0 is no better than
 * predicting the mean (with the right offset), negative is worse. NaN when
 * `y` has no variance or fewer than two points. PCL reports it per step
 * (`value_explained_variance`), as the paper's diagnostic does.
 *
 * @since 0.1.0
 * @category math
 */
export const explainedVariance = (predicted: ArrayLike<number>, observed: ArrayLike<number>): number => {
  const n = observed.length
  if (n < 2 || predicted.length !== n) return Number.NaN
  let my = 0
  let mr = 0
  for (let i = 0; i < n; i++) {
    my += observed[i]!
    mr += observed[i]! - predicted[i]!
  }
  my /= n
  mr /= n
  let vy = 0
  let vr = 0
  for (let i = 0; i < n; i++) {
    const dy = observed[i]! - my
    const dr = observed[i]! - predicted[i]! - mr
    vy += dy * dy
    vr += dr * dr
  }
  return vy === 0 ? Number.NaN : 1 - vr / vy
}
