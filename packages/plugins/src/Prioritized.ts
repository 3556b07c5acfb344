/**
 * Prioritized sampling (Kimi Team, "Kimi k1.5: Scaling Reinforcement Learning
 * with LLMs", arXiv 2501.12599, §2.3.4 "Sampling Strategies"; as the CDAS
 * paper describes the baseline; spec `algorithms.md` §5.4): track each
 * problem's latest pass rate `s(x)` and draw problems with probability
 * `∝ 1 − s(x)`, so failed problems come back more often.
 *
 * | option | default | source |
 * |---|---|---|
 * | weight `1 − s(x)` of the latest pass rate | — | [P] CDAS's baseline description |
 * | `initialPassRate`: `s` of a problem never rolled out | 0 (weight 1) | [R] the paper does not say |
 * | `replacement`: draws within one batch | `false` (distinct problems) | [R] the paper does not say |
 *
 * When every problem still undrawn in a batch has weight 0 (all solved), the
 * remaining slots are filled uniformly from the undrawn pool, and a batch
 * larger than the pool starts over [R]. The variants weighted by `p(1 − p)`
 * or `√(p(1 − p))` are not Kimi's rule (spec §5.4) and are not this part; see
 * `examples/prioritized.ts` for one written by hand.
 *
 * Cost: a 16-ary sum tree over the pool (O(log n) per draw and per observed group,
 * about one cache line per level),
 * rebuilt when a gate changes the pool or after a restore.
 *
 * @see https://arxiv.org/abs/2501.12599
 * @since 0.2.0
 */
import * as Columns from "@zpd/core/Columns"
import type { ConfigError } from "@zpd/core/Errors"
import { requireConfig } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import type * as Rng from "@zpd/core/Rng"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, validated } from "./internal/config.ts"
import * as SumTree from "./internal/sumTree.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** `s` of a problem never rolled out, in [0, 1]. Default 0, i.e. weight 1 [R]. */
  readonly initialPassRate: number
  /** Draw a batch with replacement (`true`) or distinct problems (`false`, default) [R]. */
  readonly replacement: boolean
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = { initialPassRate: 0, replacement: false }

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    requireConfig(
      Number.isFinite(config.initialPassRate) && config.initialPassRate >= 0 && config.initialPassRate <= 1,
      "prioritized.initialPassRate",
      "a number in [0, 1]",
      config.initialPassRate
    ),
    requireConfig(
      typeof config.replacement === "boolean",
      "prioritized.replacement",
      "true or false",
      config.replacement
    )
  )

/**
 * Kimi's weight of a problem with latest pass rate `s`: `1 − s`.
 *
 * @since 0.2.0
 * @category math
 */
export const weightOf = (passRate: number): number => 1 - passRate

/**
 * The checkpointed state: each problem's latest pass rate.
 *
 * @since 0.2.0
 * @category schemas
 */
export const State = Schema.mutable(Schema.Struct({ passRate: Columns.Float64Column }))

/**
 * @since 0.2.0
 * @category models
 */
export type State = Schema.Schema.Type<typeof State>

/**
 * Derived data: the sum tree of the pool's weights, the pool it was built for
 * (`since`, −1 = not built) and each problem's position in it (−1 = outside;
 * empty for the whole dataset, where the position is the index).
 *
 * @since 0.2.0
 * @category models
 */
export interface Derived {
  tree: SumTree.Tree
  since: number
  position: Int32Array
}

const unbuilt = (): Derived => ({ tree: SumTree.build(new Float64Array(0)), since: -1, position: new Int32Array(0) })

const ensureTree = (live: Part.Live<State, Derived>, pool: Part.Pool): Derived => {
  const d = live.derived
  if (d.since === pool.since && SumTree.size(d.tree) === Math.max(1, pool.indices.length)) return d
  const { passRate } = live.state
  const weights = new Float64Array(pool.indices.length)
  for (let j = 0; j < weights.length; j++) weights[j] = weightOf(passRate[pool.indices[j]!]!)
  d.tree = SumTree.build(weights)
  d.since = pool.since
  if (pool.full) d.position = new Int32Array(0)
  else {
    d.position = new Int32Array(passRate.length).fill(-1)
    for (let j = 0; j < pool.indices.length; j++) d.position[pool.indices[j]!] = j
  }
  return d
}

const positionOf = (d: Derived, index: number): number => d.position.length === 0 ? index : d.position[index]!

/** Draws from the whole tree before a batch's drawn leaves are taken out of it. */
const rejectionTries = 16

/**
 * Draws `count` positions of the tree ∝ weight; distinct unless `replacement`.
 * A distinct draw is drawn ∝ weight among the positions not yet drawn in the
 * batch: first by drawing from the whole tree and rejecting a repeat (at most
 * 16 tries), then, once 16 tries in a row were repeats, by zeroing the drawn
 * leaves until the batch ends (restored exactly). Both give exactly the
 * conditional distribution; the rejection path leaves the tree untouched, so
 * a batch of B from a large pool costs B lookups and no updates. When the
 * undrawn weight is 0 a slot is drawn uniformly among the undrawn positions;
 * when none is left the batch starts over.
 *
 * @since 0.2.0
 * @category math
 */
export const draw = (tree: SumTree.Tree, count: number, replacement: boolean, rng: Rng.Rng): Array<number> => {
  const m = SumTree.size(tree)
  const out: Array<number> = []
  if (replacement) {
    for (let slot = 0; slot < count; slot++) {
      const total = SumTree.total(tree)
      out.push(total > 0 ? SumTree.find(tree, rng.next() * total) : rng.int(m))
    }
    return out
  }
  const taken = new Set<number>()
  const zeroed: Array<number> = []
  const weights: Array<number> = []
  let exclusive = false
  const take = (j: number) => {
    const w = SumTree.weight(tree, j)
    if (w <= 0) return
    zeroed.push(j)
    weights.push(w)
  }
  const endRound = () => {
    SumTree.setMany(tree, zeroed, weights)
    zeroed.length = 0
    weights.length = 0
    taken.clear()
    exclusive = false
  }
  for (let slot = 0; slot < count; slot++) {
    if (taken.size === m) endRound()
    let j = -1
    if (!exclusive && SumTree.total(tree) > 0) {
      const total = SumTree.total(tree)
      for (let t = 0; t < rejectionTries && j < 0; t++) {
        const c = SumTree.find(tree, rng.next() * total)
        if (!taken.has(c)) j = c
      }
      if (j < 0) {
        exclusive = true
        for (const c of taken) take(c)
        SumTree.setMany(tree, zeroed, zeroed.map(() => 0))
      }
    }
    if (j < 0 && SumTree.total(tree) > 0) j = SumTree.find(tree, rng.next() * SumTree.total(tree))
    if (j < 0) {
      j = rng.int(m)
      while (taken.has(j)) j = (j + 1) % m
    }
    taken.add(j)
    out.push(j)
    if (exclusive) {
      take(j)
      if (SumTree.weight(tree, j) > 0) SumTree.set(tree, j, 0)
    }
  }
  endRound()
  return out
}

/**
 * Kimi k1.5's prioritized sampler over the eligible pool (see the module
 * docs). Observing a group sets the problem's pass rate to the group's and
 * updates its weight. Metrics: `prioritized_weight_mean` (mean `1 − s` over
 * the pool).
 *
 * @since 0.2.0
 * @category parts
 */
export const sampler = (options: Partial<Config> = {}) => {
  const config: Config = { ...defaults, ...options }
  return Part.sampler({
    ...declared("prioritized", State, validate(config)),
    derive: unbuilt,
    build: ({ dataset }) => ({
      initial: { passRate: new Float64Array(dataset.problems.length).fill(config.initialPassRate) },
      check: ({ passRate }) =>
        passRate.length === dataset.problems.length
          ? undefined
          : `it tracks ${passRate.length} problems; the dataset has ${dataset.problems.length}`,
      select: (live, pool, { batchSize, rng }) => {
        const d = ensureTree(live, pool)
        const positions = draw(d.tree, batchSize, config.replacement, rng)
        // the whole dataset's pool lists 0 … n − 1: a position is the index (no lookups into its 4 bytes per problem)
        return pool.full ? positions : positions.map((j) => pool.indices[j]!)
      },
      observe: (live, { groups }, pool) => {
        const d = ensureTree(live, pool)
        const positions: Array<number> = []
        const weights: Array<number> = []
        for (const g of groups) {
          live.state.passRate[g.index] = g.passRate
          const j = positionOf(d, g.index)
          if (j < 0) continue
          positions.push(j)
          weights.push(weightOf(g.passRate))
        }
        SumTree.setMany(d.tree, positions, weights)
      },
      metrics: ({ derived }) => ({
        prioritized_weight_mean: derived.since < 0 ? 0 : SumTree.total(derived.tree) / SumTree.size(derived.tree)
      }),
      stateBytes: ({ derived, state }) =>
        Columns.byteSize([state.passRate, derived.position]) + SumTree.bytes(derived.tree)
    })
  })
}

/**
 * The prioritized baseline: {@link sampler} over the whole dataset.
 *
 * @since 0.2.0
 * @category plugins
 */
export const plugin = (options: Partial<Config> = {}) => sampler(options)
