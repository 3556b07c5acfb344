/**
 * DUMP — distribution-level curriculum (Wang et al., "DUMP: Automated
 * Distribution-Level Curriculum Learning for RL-based LLM Post-training",
 * arXiv 2504.09710; code `ZhentingWang/DUMP` @ 235e85d,
 * `verl/utils/curriculum_learning.py` and `verl/trainer/ppo/ray_trainer.py`;
 * spec `algorithms.md` §5.9): a UCB bandit over data sources whose value is
 * the learnability `E|A|` of each source's recent responses.
 *
 * ```
 * per source j: W_j = |A| of its last 300 responses,  n_j = responses seen
 * μ_j   = mean(W_j)   (0 before any)
 * UCB_j = μ_j + c · sqrt(2 · ln(N + 1) / (n_j + 1)),   N = max(1, Σ_j n_j)
 * w     = softmax(UCB / τ)   (max subtracted)
 * each batch slot: j ~ w, then a uniform problem of source j (with replacement)
 * ```
 *
 * | option | default | source |
 * |---|---|---|
 * | `arms`: metadata keys naming a source | `["family"]` | [R] the code's `data_source`; zpd's task families |
 * | `window`: responses per source in W_j | 300 | [C] `window_size` |
 * | `temperature` τ | 0.1 | [C] |
 * | `exploration` c | 1.0 | [C] `exploration_weight` |
 *
 * A response's advantage is the code's masked token mean of `A`, which for
 * GRPO's outcome advantage is the response's scalar advantage: the one zpd
 * observes. The weights start uniform and are recomputed after every step
 * from that step's groups [C]. Not followed: the released code also feeds
 * each validation run's mean reward into the same estimators as if it were
 * an advantage; that mixes evaluation into training data selection, so it is
 * left out [C quirk, spec §5.9]. The code's Beta posterior and weight-trend
 * statistics are logged there but never used for sampling, so they are not
 * kept.
 *
 * Under a gate, a source with no eligible problem is skipped and the others
 * renormalised, as the code skips empty sources; sources are named once at
 * build from the problems' features (not from gate labels) [R].
 *
 * @see https://arxiv.org/abs/2504.09710
 * @since 0.2.0
 */
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import type { ConfigError } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import * as Part from "@zpd/core/Part"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, intAtLeast, keyList, keysGiven, positive, validated } from "./internal/config.ts"
import * as Sec from "./Sec.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** Metadata keys whose joined values name a source. Default `["family"]` [R]. */
  readonly arms: ReadonlyArray<string>
  /** |A| of the last `window` responses per source. Default 300 [C]. */
  readonly window: number
  /** Softmax temperature τ. Default 0.1 [C]. */
  readonly temperature: number
  /** Weight c of the exploration bonus. Default 1.0 [C]. */
  readonly exploration: number
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = { arms: ["family"], window: 300, temperature: 0.1, exploration: 1 }

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    intAtLeast(config.window, 1, "dump.window"),
    positive(config.temperature, "dump.temperature"),
    positive(config.exploration, "dump.exploration"),
    keysGiven(config.arms, "dump.arms")
  )

/**
 * @since 0.2.0
 * @category schemas
 */
export const State = Schema.mutable(Schema.Struct({
  arms: Schema.mutable(Schema.Array(Schema.String)),
  /** `window` slots per arm: |A| of its most recent responses, a ring from `head`. */
  recent: Columns.Float64Column,
  /** Responses in each arm's window (≤ window). */
  filled: Columns.Int32Column,
  /** Each arm's next ring slot. */
  head: Columns.Int32Column,
  /** n_j: responses seen per arm. */
  seen: Columns.Float64Column
}))

/**
 * @since 0.2.0
 * @category models
 */
export type State = Schema.Schema.Type<typeof State>

/**
 * μ_j: the mean of arm `c`'s window (0 when empty), summed oldest first.
 *
 * @since 0.2.0
 * @category math
 */
export const windowMean = (state: State, c: number, window: number): number => {
  const filled = state.filled[c]!
  if (filled === 0) return 0
  const start = (state.head[c]! - filled + window) % window
  let sum = 0
  for (let k = 0; k < filled; k++) sum += state.recent[c * window + ((start + k) % window)]!
  return sum / filled
}

/**
 * UCB_j of every arm: `μ_j + c · sqrt(2 ln(N + 1) / (n_j + 1))`, `N = max(1, Σ n_j)`.
 *
 * @since 0.2.0
 * @category math
 */
export const ucb = (state: State, config: Config): Float64Array => {
  let total = 0
  for (const n of state.seen) total += n
  const logN = Fmath.log(Math.max(1, total) + 1)
  return Float64Array.from(
    state.seen,
    (n, c) => windowMean(state, c, config.window) + config.exploration * Math.sqrt((2 * logN) / (n + 1))
  )
}

/**
 * Appends every response's |A| of the step's groups to its arm's window and
 * counts it in n_j. `armOf` maps a dense index to an arm (−1: none).
 *
 * @since 0.2.0
 * @category math
 */
export const record = (
  state: State,
  groups: ReadonlyArray<Curriculum.GroupOutcome>,
  armOf: Int32Array,
  window: number
): void => {
  for (const g of groups) {
    const c = armOf[g.index]!
    if (c < 0) continue
    for (const a of g.advantages) {
      const h = state.head[c]!
      state.recent[c * window + h] = Math.abs(a)
      state.head[c] = (h + 1) % window
      state.filled[c] = Math.min(window, state.filled[c]! + 1)
    }
    state.seen[c] = state.seen[c]! + g.advantages.length
  }
}

/** Each source's members in the current pool (derived). */
interface Members {
  since: number
  lists: Array<Int32Array>
}

/**
 * DUMP's sampler (see the module docs). Metrics: `dump_w_<source>` (weight)
 * and `dump_mu_<source>` (μ).
 *
 * @since 0.2.0
 * @category parts
 */
export const sampler = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options, arms: keyList(options.arms ?? defaults.arms) }
  return Part.sampler({
    ...declared("dump", State, validate(config)),
    derive: (): Members => ({ since: -1, lists: [] }),
    build: ({ dataset }) =>
      Either.map(Sec.armsOf(dataset, config.arms, undefined, "dump.arms"), ({ labels, names }) => {
        const index = new Map(names.map((name, c) => [name, c]))
        const armOf = Int32Array.from(labels, (label) => index.get(label)!)
        const membersOf = (live: Part.Live<State, Members>, pool: Part.Pool): Members => {
          if (live.derived.since === pool.since && live.derived.lists.length === names.length) return live.derived
          const lists: Array<Array<number>> = names.map(() => [])
          for (const i of pool.indices) lists[armOf[i]!]!.push(i)
          live.derived = { since: pool.since, lists: lists.map((l) => Int32Array.from(l)) }
          return live.derived
        }
        const weights = (state: State, members?: Members) => {
          const u = ucb(state, config)
          if (members !== undefined) members.lists.forEach((m, c) => m.length === 0 && (u[c] = -Infinity))
          return Sec.boltzmann(u, config.temperature)
        }
        const spec: Part.SamplerSpec<State, Members> = {
          initial: {
            arms: [...names],
            recent: new Float64Array(names.length * config.window),
            filled: new Int32Array(names.length),
            head: new Int32Array(names.length),
            seen: new Float64Array(names.length)
          },
          check: ({ arms }) =>
            arms.join("\u0000") === names.join("\u0000")
              ? undefined
              : `its sources are ${JSON.stringify(arms)}; this dataset's are ${JSON.stringify(names)}`,
          select: (live, pool, { batchSize, rng }) => {
            const members = membersOf(live, pool)
            const p = weights(live.state, members)
            const batch: Array<number> = []
            for (let k = 0; k < batchSize; k++) {
              // rounding can leave the inverse CDF on a trailing empty source: step back to one with members
              let c = Sec.drawArm(p, rng)
              while (members.lists[c]!.length === 0) c = (c + names.length - 1) % names.length
              const list = members.lists[c]!
              batch.push(list[rng.int(list.length)]!)
            }
            return batch
          },
          observe: ({ state }, { groups }) => record(state, groups, armOf, config.window),
          metrics: ({ state }) => {
            const w = weights(state)
            const out: Record<string, number> = {}
            names.forEach((name, c) => {
              out[`dump_w_${name}`] = w[c]!
              out[`dump_mu_${name}`] = windowMean(state, c, config.window)
            })
            return out
          },
          stateBytes: ({ derived, state }) =>
            Columns.byteSize([armOf, state.recent, state.filled, state.head, state.seen, ...derived.lists])
        }
        return spec
      })
  })
}

/**
 * The DUMP curriculum: {@link sampler} over the whole dataset.
 *
 * @since 0.2.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) => sampler(options)
