/**
 * The baselines the published curricula are measured against, as samplers of
 * the curriculum algebra (`@zpd/core/Part`), written on the same public API
 * as every other plugin.
 *
 * - {@link uniform}: draws without replacement from a shuffled queue of the
 *   eligible pool, refilled as `remaining ++ fresh shuffle` ("perpetual"
 *   mode, SEC's `RandomDataloader`), rebuilt when a gate changes the pool; or
 *   independent distinct draws. AdaCuRL and PCL sample with it.
 * - {@link ordered}: easy-to-hard by level with a random tie-break, stretched
 *   over the step budget (spec §5.2, SEC `PriorityDataloader`).
 * - {@link random}: uniform over the whole dataset as a complete curriculum
 *   (a lone sampler is one; so is {@link ordered}).
 *
 * @see https://arxiv.org/abs/2505.14970 (SEC, whose baselines these are)
 * @since 0.1.0
 */
import * as Columns from "@zpd/core/Columns"
import type { ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Rng from "@zpd/core/Rng"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { declared, oneOf, validated } from "./internal/config.ts"

// ---------------------------------------------------------------------------
// uniform
// ---------------------------------------------------------------------------

/**
 * @since 0.2.0
 * @category config
 */
export interface UniformConfig {
  /**
   * `"epoch"` (default): a shuffled queue of the pool, read in order and
   * refilled with a fresh shuffle when it runs dry; `"independent"`: every
   * draw picks distinct problems uniformly afresh (Floyd's algorithm).
   */
  readonly draw: "epoch" | "independent"
  /** Skip a problem already drawn in the same call (default false: a batch larger than the pool repeats problems). */
  readonly distinct: boolean
  /**
   * Labels of the random streams: `init` shuffles a new pool (at the step it
   * appeared), `refill` the refills and independent draws (at the current
   * step). The built-ins keep their own labels, so each reproduces its
   * recorded runs. Default `uniform-init` / `uniform-refill`.
   */
  readonly streams: { readonly init: string; readonly refill: string }
}

/**
 * @since 0.2.0
 * @category config
 */
export const uniformDefaults: UniformConfig = {
  draw: "epoch",
  distinct: false,
  streams: { init: "uniform-init", refill: "uniform-refill" }
}

/**
 * @since 0.2.0
 * @category config
 */
export const validateUniform = (config: UniformConfig): Either.Either<UniformConfig, ConfigError> =>
  validated(config, oneOf(config.draw, ["epoch", "independent"], "uniform.draw"))

const UniformState = Schema.mutable(Schema.Struct({ queue: Columns.Queue, since: Schema.Int }))

/** Floyd's algorithm: `size` distinct positions of `[0, n)`, uniformly. */
const floyd = (rng: Rng.Rng, n: number, size: number): Array<number> => {
  const chosen = new Set<number>()
  const out: Array<number> = []
  for (let j = n - size; j < n; j++) {
    const r = rng.int(j + 1)
    const pick = chosen.has(r) ? j : r
    chosen.add(pick)
    out.push(pick)
  }
  return out
}

/**
 * Uniform sampling from the eligible pool (see {@link UniformConfig}).
 *
 * @since 0.2.0
 * @category parts
 */
export const uniform = (options: Partial<UniformConfig> = {}) => {
  const config: UniformConfig = { ...uniformDefaults, ...options }
  const shuffled = (seed: number, step: number, label: string, pool: Part.Pool) =>
    Rng.make(seed, step, label).shuffle(Int32Array.from(pool.indices))
  return Part.sampler({
    ...declared("uniform", UniformState, validateUniform(config)),
    build: ({ dataset, seed }, pool) => ({
      initial: {
        queue: { items: shuffled(seed, pool.since, config.streams.init, pool), cursor: 0 },
        since: pool.since
      },
      check: ({ queue }) => {
        const n = dataset.problems.length
        const outside = queue.items.find((i) => i < 0 || i >= n)
        return outside === undefined ? undefined : `the queue holds problem ${outside}; the dataset has ${n}`
      },
      select: ({ state }, pool, { batchSize, step }) => {
        if (config.draw === "independent") {
          const size = Math.min(batchSize, pool.indices.length)
          return floyd(Rng.make(seed, step, config.streams.refill), pool.indices.length, size).map((j) =>
            pool.indices[j]!
          )
        }
        if (state.since !== pool.since) {
          state.queue = { items: shuffled(seed, pool.since, config.streams.init, pool), cursor: 0 }
          state.since = pool.since
        }
        const refill = Rng.make(seed, step, config.streams.refill)
        const count = config.distinct ? Math.min(batchSize, pool.indices.length) : batchSize
        return Columns.take(state.queue, count, () => refill.shuffle(Int32Array.from(pool.indices)), config.distinct)
      }
    })
  })
}

/**
 * The random baseline: {@link uniform} over the whole dataset, sampling
 * without replacement within an epoch; when fewer than B items remain, the
 * remainder is followed by a fresh shuffle. When B exceeds the dataset, a
 * batch repeats problems.
 *
 * @since 0.1.0
 * @category plugins
 */
export const random = () =>
  uniform({ streams: { init: "random-init", refill: "random-refill" } }).pipe(Part.named("random"))

// ---------------------------------------------------------------------------
// ordered
// ---------------------------------------------------------------------------

const OrderedState = Schema.mutable(Schema.Struct({ order: Columns.Int32Column, cursor: Schema.Int }))

/**
 * Easy-to-hard: sort by `(level, random tie-break)` and serve consecutive
 * batches. When `steps · B > |X|`, each level is replicated by
 * `growth = steps / (|X| / B)` (level ℓ gets `⌈|X_ℓ| · growth⌉` items, repeats
 * drawn from a shuffled copy) so the ordered pass spans exactly the budget;
 * levels are not revisited. Past the end the order starts over. Under a gate
 * the order is that of the pool at build, and problems outside the current
 * pool are passed over. Alone it is the ordered baseline.
 *
 * @since 0.1.0
 * @category parts
 */
export const ordered = () =>
  Part.sampler({
    name: "ordered",
    state: OrderedState,
    build: ({ batchSize, dataset, seed, steps }, pool) => {
      const rng = Rng.make(seed, -1, "ordered")
      const growth = Math.max(1, (steps * batchSize) / pool.indices.length)
      const byLevel = new Map<number, Array<number>>()
      for (const i of pool.indices) {
        const level = dataset.problems[i]!.level
        const list = byLevel.get(level) ?? []
        list.push(i)
        byLevel.set(level, list)
      }
      const order: Array<number> = []
      for (const level of Array.from(byLevel.keys()).sort((a, b) => a - b)) {
        const items = Int32Array.from(byLevel.get(level)!)
        const target = Math.ceil(items.length * growth)
        const level_: Array<number> = []
        while (level_.length < target) {
          const shuffled = rng.shuffle(Int32Array.from(items))
          for (const i of shuffled) if (level_.length < target) level_.push(i)
        }
        order.push(...level_)
      }
      return {
        initial: { order: Int32Array.from(order), cursor: 0 },
        select: ({ state }, pool, { batchSize: b }) => {
          const member = pool.full ? undefined : Part.members(pool, dataset.problems.length)
          const batch: Array<number> = []
          const length = state.order.length
          for (let seen = 0; batch.length < b && seen < length * (member ? 1 : b); seen++) {
            const i = state.order[state.cursor]!
            state.cursor = (state.cursor + 1) % length
            if (member === undefined || member[i] === 1) batch.push(i)
          }
          return batch
        }
      }
    }
  })
