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
 * As a part of the curriculum algebra, {@link sampler} draws from the eligible
 * pool: an arm key is read from the labels gates give (`bucket` under
 * AdaCuRL's gate) before the problem's metadata, and when a gate changes the
 * pool the arms are recomputed over it (an arm keeps its Q by name; a new one
 * starts at 0; every arm's queue is reshuffled from the new pool).
 *
 * @see https://arxiv.org/abs/2505.14970
 * @since 0.1.0
 */
import * as Advantage from "@zpd/core/Advantage"
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError, requireConfig } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, keyList, keysGiven, oneOf, positive, validated } from "./internal/config.ts"

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
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    requireConfig(config.alpha > 0 && config.alpha <= 1, "sec.alpha", "a number in (0, 1]", config.alpha),
    positive(config.temperature, "sec.temperature"),
    keysGiven(config.arms, "sec.arms"),
    oneOf(config.unsampledArms, ["decay", "keep"], "sec.unsampledArms")
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
 * index to an arm in `[0, arms)`, or −1 for a problem outside every arm.
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
    if (c < 0) continue
    sum[c] = sum[c]! + Advantage.meanAbs(g.advantages) * g.advantages.length
    count[c] = count[c]! + g.advantages.length
  }
  return Array.from(sum, (s, c) => (count[c]! > 0 ? s / count[c]! : undefined))
}

/**
 * Arms of a pool: the sorted arm names and, per dense index, its arm (−1
 * outside the pool). A key is read from the pool's labels first, then from
 * the problem (level, family, id, metadata). Fails naming the key, the first
 * problem that lacks it and the option `field`.
 *
 * @since 0.1.0
 * @category math
 */
export const armsOf = (
  dataset: Problem.Dataset,
  keys: ReadonlyArray<string>,
  pool: Part.Pool = Part.everything(dataset.problems.length),
  field = "sec.arms"
): Either.Either<{ readonly names: ReadonlyArray<string>; readonly labels: ReadonlyArray<string> }, ConfigError> => {
  const problems = dataset.problems
  const given = keys.map((key) => pool.labels[key])
  const value = (i: number, k: number): string | number | undefined => {
    const label = given[k]?.[i]
    return label !== undefined && label > 0 ? label : Problem.feature(problems[i]!, keys[k]!)
  }
  const indices = pool.indices
  const labels = new Array<string>(indices.length)
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!
    let label = ""
    for (let k = 0; k < keys.length; k++) {
      const v = value(i, k)
      if (v === undefined) {
        return Either.left(
          new ConfigError({
            field,
            expected: `metadata key "${
              keys[k]
            }" on every problem (level, family, id, a metadata field, or a gate's label)`,
            actual: `problem "${problems[i]!.id}" has no "${keys[k]}"`
          })
        )
      }
      label = k === 0 ? String(v) : `${label}-${v}`
    }
    labels[j] = label
  }
  return Either.right({ names: sortedNames(labels), labels })
}

const sortedNames = (labels: Iterable<string>) =>
  Array.from(new Set(labels)).sort((a, b) => a.localeCompare(b, "en", { numeric: true }))

const State = Schema.mutable(Schema.Struct({
  arms: Schema.mutable(Schema.Array(Schema.String)),
  q: Columns.Float64Column,
  queues: Schema.mutable(Schema.Array(Columns.Queue)),
  /** The pool's `since` the arms were computed for. */
  since: Schema.Int
}))

type State = Schema.Schema.Type<typeof State>

/** Arm membership over the current pool (derived). */
interface Arms {
  since: number
  armOf: Int32Array
  members: Array<Int32Array>
}

/** Every arm's members (in pool order) and each problem's arm, for `names` over `pool`. */
const membership = (names: ReadonlyArray<string>, labels: ReadonlyArray<string>, pool: Part.Pool, n: number): Arms => {
  const index = new Map(names.map((name, c) => [name, c]))
  const armOf = new Int32Array(n).fill(-1)
  const counts = new Int32Array(names.length)
  const indices = pool.indices
  for (let j = 0; j < indices.length; j++) {
    const c = index.get(labels[j]!)!
    armOf[indices[j]!] = c
    counts[c]!++
  }
  const members = names.map((_, c) => new Int32Array(counts[c]!))
  const fill = new Int32Array(names.length)
  for (let j = 0; j < indices.length; j++) {
    const c = armOf[indices[j]!]!
    members[c]![fill[c]!++] = indices[j]!
  }
  return { since: pool.since, armOf, members }
}

/**
 * SEC's bandit as a sampler part.
 *
 * @since 0.2.0
 * @category parts
 */
export const sampler = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options, arms: keyList(options.arms ?? defaults.arms) }
  return Part.sampler({
    ...declared("sec", State, validate(config)),
    derive: (): Arms => ({ since: -1, armOf: new Int32Array(0), members: [] }),
    build: ({ dataset, seed }, initialPool) => {
      const n = dataset.problems.length
      const shuffleArm = (rng: Rng.Rng, arms: Arms, c: number) => rng.shuffle(Int32Array.from(arms.members[c]!))
      /** Brings the arms, their queues and the derived membership up to `pool`. */
      const follow = (live: Part.Live<State, Arms>, pool: Part.Pool) => {
        if (live.state.since === pool.since && live.derived.since === pool.since) return
        const arms = Either.getOrThrowWith(armsOf(dataset, config.arms, pool), (e) => new Error(e.message))
        const state = live.state
        if (state.since !== pool.since) {
          const names = sortedNames([...state.arms, ...arms.names])
          const q = new Float64Array(names.length)
          state.arms.forEach((name, c) => (q[names.indexOf(name)] = state.q[c]!))
          live.derived = membership(names, arms.labels, pool, n)
          const init = Rng.make(seed, pool.since, "sec-init")
          state.queues = names.map((_, c) => ({ items: shuffleArm(init, live.derived, c), cursor: 0 }))
          state.arms = names
          state.q = q
          state.since = pool.since
        } else live.derived = membership(state.arms, arms.labels, pool, n)
      }
      return Either.map(armsOf(dataset, config.arms, initialPool), (arms): Part.SamplerSpec<State, Arms> => {
        const derived = membership(arms.names, arms.labels, initialPool, n)
        const init = Rng.make(seed, initialPool.since, "sec-init")
        return {
          initial: {
            arms: [...arms.names],
            q: new Float64Array(arms.names.length),
            queues: arms.names.map((_, c) => ({ items: shuffleArm(init, derived, c), cursor: 0 })),
            since: initialPool.since
          },
          select: (live, pool, { batchSize, rng, step }) => {
            follow(live, pool)
            const { derived, state } = live
            const refill = Rng.make(seed, step, "sec-refill")
            const queues = state.queues
            queues.forEach((q, c) => {
              if (q.items.length - q.cursor < batchSize) {
                queues[c] = Columns.ensureAvailable(
                  q,
                  Math.min(batchSize, derived.members[c]!.length),
                  () => shuffleArm(refill, derived, c)
                )
              }
            })
            const p = probabilities(state.q, derived)
            const batch: Array<number> = []
            for (let k = 0; k < batchSize; k++) {
              const c = drawArm(p, rng)
              let q = queues[c]!
              if (q.cursor >= q.items.length) {
                q = queues[c] = Columns.ensureAvailable(q, 1, () => shuffleArm(refill, derived, c))
              }
              batch.push(q.items[q.cursor]!)
              q.cursor++
            }
            return batch
          },
          observe: (live, { groups }, pool) => {
            follow(live, pool)
            const reward = armRewards(groups, (index) => live.derived.armOf[index]!, live.state.q.length)
            updateQ(live.state.q, reward, config.alpha, config.unsampledArms)
          },
          metrics: ({ derived, state }) => {
            const p = probabilities(state.q, derived)
            const out: Record<string, number> = {}
            state.arms.forEach((name, c) => {
              out[`sec_q_${name}`] = state.q[c]!
              out[`sec_p_${name}`] = p[c]!
            })
            return out
          }
        }
      })
    }
  })

  /** Boltzmann over the arms with members in the pool (an empty arm gets 0). */
  function probabilities(q: Float64Array, arms: Arms): Float64Array {
    const empty = arms.members.some((m) => m.length === 0)
    if (!empty) return boltzmann(q, config.temperature)
    return boltzmann(Float64Array.from(q, (x, c) => (arms.members[c]!.length > 0 ? x : -Infinity)), config.temperature)
  }
}

/**
 * The SEC curriculum: {@link sampler} alone, over arms from metadata.
 *
 * **Example**
 * ```ts
 * Pipeline.run(pipeline, Sec.plugin({ alpha: 0.5, temperature: 0.2, arms: ["level", "family"] }), options)
 * ```
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) => sampler(options)
