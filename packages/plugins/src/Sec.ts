/**
 * SEC — Self-Evolving Curriculum (Chen et al., arXiv 2505.14970). Problems are
 * grouped into arms by metadata (default: difficulty level). A non-stationary
 * bandit keeps a value `Q[c]` per arm, learnt by TD(0) from the mean absolute
 * advantage of the arm's rollouts, and draws the batch's arms from a
 * Boltzmann distribution over `Q / τ`.
 *
 * Behaviour follows the official code (a verl fork, spec §2.3) where it
 * differs from the paper text:
 * - unsampled arms decay toward 0 (`Q ← (1 − α) Q`); `unsampledArms: "keep"`
 *   gives the paper's reading;
 * - each arm serves a shuffled queue without replacement, refilled as
 *   `remaining ++ fresh shuffle` ("perpetual" mode) before a batch in which it
 *   could run dry (fewer than min(B, |arm|) items left), and again if it empties
 *   while drawing. The code refills every arm whenever any arm runs low; each
 *   arm's stream of draws is the same either way (consecutive shuffles of the
 *   arm), but refilling arm by arm keeps every queue under |arm| + B items
 *   instead of growing without bound when one arm dominates [R];
 * - the softmax subtracts `max Q` (identical probabilities, no overflow).
 *
 * SEC-2D: `arms: ["level", "family"]` makes one arm per (level, family), keyed
 * `"2-countdown"` as in the code's joint bandit.
 *
 * @see https://arxiv.org/abs/2505.14970
 * @since 0.1.0
 */
import * as Advantage from "@zpd/core/Advantage"
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import * as Fmath from "@zpd/core/Fmath"
import { ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ensureAvailable } from "./Baselines.ts"

/**
 * @since 0.1.0
 * @category config
 */
export interface Config {
  /** Metadata keys whose joined values name an arm [C `feature`, `type: joint`]. Default `["level"]`. */
  readonly arms: ReadonlyArray<string>
  /** α, the TD(0) learning rate, in (0, 1]. Default 0.5 [P Table S1; the fork's yaml default is 0.1]. */
  readonly alpha: number
  /** τ, the Boltzmann temperature, > 0. Default 1.0 [P Table S1, C]. */
  readonly temperature: number
  /** What happens to arms absent from a batch: `decay` (code, default) or `keep` (paper text). */
  readonly unsampledArms: "decay" | "keep"
}

/**
 * @since 0.1.0
 * @category config
 */
export const defaults: Config = { arms: ["level"], alpha: 0.5, temperature: 1, unsampledArms: "decay" }

/**
 * Checks α and τ and the arm keys' shape.
 *
 * @since 0.1.0
 * @category config
 */
export const validate = (config: Config): ConfigError | undefined =>
  requireConfig(config.alpha > 0 && config.alpha <= 1, "sec.alpha", "a number in (0, 1]", config.alpha) ??
    requireConfig(
      config.temperature > 0 && Number.isFinite(config.temperature),
      "sec.temperature",
      "a finite number > 0",
      config.temperature
    ) ??
    requireConfig(config.arms.length > 0, "sec.arms", "at least one metadata key", "[]") ??
    requireConfig(
      config.unsampledArms === "decay" || config.unsampledArms === "keep",
      "sec.unsampledArms",
      `"decay" or "keep"`,
      config.unsampledArms
    )

/**
 * Boltzmann probabilities `exp((Q − max Q)/τ) / Σ exp(…)`.
 *
 * @since 0.1.0
 * @category math
 */
export const boltzmann = (q: ArrayLike<number>, temperature: number): Float64Array => {
  let max = -Infinity
  for (let i = 0; i < q.length; i++) max = Math.max(max, q[i]!)
  const p = new Float64Array(q.length)
  let z = 0
  for (let i = 0; i < q.length; i++) {
    p[i] = Fmath.exp((q[i]! - max) / temperature)
    z += p[i]!
  }
  for (let i = 0; i < q.length; i++) p[i] = p[i]! / z
  return p
}

/**
 * One TD(0) update. `reward[c]` is the arm's mean |Â| this step, or
 * `undefined` when the arm was not sampled.
 *
 * @since 0.1.0
 * @category math
 */
export const updateQ = (
  q: Float64Array,
  reward: ReadonlyArray<number | undefined>,
  alpha: number,
  unsampled: Config["unsampledArms"]
): void => {
  for (let c = 0; c < q.length; c++) {
    const r = reward[c]
    if (r !== undefined) q[c] = alpha * r + (1 - alpha) * q[c]!
    else if (unsampled === "decay") q[c] = (1 - alpha) * q[c]!
  }
}

/**
 * Draws one arm from the probabilities `p` with one uniform draw of `rng`
 * (inverse CDF; the last arm absorbs rounding). SEC draws every batch slot's
 * arm this way, i.i.d. with replacement [C `np.random.choice(size=B, p=probs)`].
 *
 * @since 0.1.0
 * @category math
 */
export const drawArm = (p: ArrayLike<number>, rng: Rng.Rng): number => {
  let u = rng.next()
  let c = 0
  while (c < p.length - 1 && u >= p[c]!) u -= p[c++]!
  return c
}

/**
 * SEC's bandit reward of each arm for one step (SEC Alg. 1): the mean |Â| over
 * all responses of the step's groups whose problem belongs to the arm, or
 * `undefined` for arms absent from the step. `armOf` maps a dense problem
 * index to an arm in `[0, arms)`; any arm ids work (AdaCuRL+SEC uses
 * difficulty buckets).
 *
 * @since 0.1.0
 * @category math
 */
export const armRewards = (
  groups: ReadonlyArray<Curriculum.GroupOutcome>,
  armOf: (index: number) => number,
  arms: number
): Array<number | undefined> => {
  const sum = new Float64Array(arms)
  const count = new Int32Array(arms)
  for (const g of groups) {
    const c = armOf(g.index)
    sum[c] += Advantage.meanAbs(g.advantages) * g.advantages.length
    count[c] += g.advantages.length
  }
  return Array.from(sum, (s, c) => (count[c]! > 0 ? s / count[c]! : undefined))
}

/**
 * Arms of a dataset: the arm key of every problem and the sorted arm names.
 * Fails naming the key and the first problem that lacks it.
 *
 * @since 0.1.0
 * @category arms
 */
export const armsOf = (
  dataset: Problem.Dataset,
  keys: ReadonlyArray<string>
): { readonly names: ReadonlyArray<string>; readonly armOf: Int32Array } | ConfigError => {
  const labels: Array<string> = []
  for (const p of dataset.problems) {
    const parts: Array<string> = []
    for (const key of keys) {
      const v = Problem.feature(p, key)
      if (v === undefined) {
        return new ConfigError({
          field: "sec.arms",
          expected: `metadata key "${key}" on every problem (level, family, id, or a metadata field)`,
          actual: `problem "${p.id}" has no "${key}"`
        })
      }
      parts.push(String(v))
    }
    labels.push(parts.join("-"))
  }
  const names = Array.from(new Set(labels)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
  const index = new Map(names.map((n, i) => [n, i]))
  return { names, armOf: Int32Array.from(labels, (l) => index.get(l)!) }
}

const State = Schema.Struct({
  arms: Schema.Array(Schema.String),
  q: Columns.Float64Column,
  queues: Schema.Array(Columns.Queue)
})

type State = Schema.Schema.Type<typeof State>

/**
 * The SEC curriculum as a plugin.
 *
 * **Example**
 * ```ts
 * Pipeline.run(pipeline, Sec.plugin({ alpha: 0.5, temperature: 0.2, arms: ["level", "family"] }), options)
 * ```
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}): Curriculum.Plugin => {
  const config: Config = { ...defaults, ...options }
  return Curriculum.plugin("sec", ({ dataset, seed }) =>
    Effect.gen(function*() {
      const invalid = validate(config)
      if (invalid) return yield* invalid
      const arms = armsOf(dataset, config.arms)
      if (arms instanceof ConfigError) return yield* arms
      const members: Array<Int32Array> = arms.names.map(() => new Int32Array(0))
      const counts = new Int32Array(arms.names.length)
      for (const a of arms.armOf) counts[a]!++
      arms.names.forEach((_, c) => (members[c] = new Int32Array(counts[c]!)))
      const fill = new Int32Array(arms.names.length)
      arms.armOf.forEach((a, i) => (members[a]![fill[a]!++] = i))
      const shuffleArm = (rng: Rng.Rng, c: number) => rng.shuffle(Int32Array.from(members[c]!))
      const init = Rng.make(seed, 0, "sec-init")
      const initial: State = {
        arms: arms.names,
        q: new Float64Array(arms.names.length),
        queues: arms.names.map((_, c) => ({ items: shuffleArm(init, c), cursor: 0 }))
      }
      return Curriculum.make({
        name: "sec",
        state: State,
        initial,
        select: (state, { batchSize, rng, step }) => {
          const refill = Rng.make(seed, step, "sec-refill")
          const queues = state.queues as Array<Columns.Queue>
          queues.forEach((q, c) => {
            if (q.items.length - q.cursor < batchSize) {
              queues[c] = ensureAvailable(q, Math.min(batchSize, members[c]!.length), () => shuffleArm(refill, c))
            }
          })
          const p = boltzmann(state.q, config.temperature)
          const batch: Array<number> = []
          for (let k = 0; k < batchSize; k++) {
            const c = drawArm(p, rng)
            let q = queues[c]!
            if (q.cursor >= q.items.length) q = queues[c] = ensureAvailable(q, 1, () => shuffleArm(refill, c))
            batch.push(q.items[q.cursor]!)
            q.cursor++
          }
          return batch
        },
        observe: (state, { groups }) => {
          const reward = armRewards(groups, (index) => arms.armOf[index]!, state.q.length)
          updateQ(state.q, reward, config.alpha, config.unsampledArms)
        },
        metrics: (state) => {
          const p = boltzmann(state.q, config.temperature)
          const out: Record<string, number> = {}
          state.arms.forEach((name, c) => {
            out[`sec_q_${name}`] = state.q[c]!
            out[`sec_p_${name}`] = p[c]!
          })
          return out
        }
      })
    }))
}
