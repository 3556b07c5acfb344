/**
 * The baselines the published curricula are measured against, written on the
 * same public API as every other plugin.
 *
 * - {@link random}: seeded shuffle, consecutive batches without replacement,
 *   SEC's "perpetual" refill (spec §5.1, SEC `RandomDataloader`).
 * - {@link ordered}: easy-to-hard by level with a random tie-break, stretched
 *   over the step budget (spec §5.2, SEC `PriorityDataloader`).
 *
 * @since 0.1.0
 */
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * Pops `count` items from a queue, refilling it with `refill()` appended after
 * the unread remainder whenever fewer than `count` are left ("perpetual"
 * mode). Used by the random baseline and by SEC's per-arm queues.
 *
 * @since 0.1.0
 * @category queues
 */
export const ensureAvailable = (queue: Columns.Queue, count: number, refill: () => Int32Array): Columns.Queue => {
  let { cursor, items } = queue
  while (items.length - cursor < count) {
    const fresh = refill()
    if (fresh.length === 0) break
    const next = new Int32Array(items.length - cursor + fresh.length)
    next.set(items.subarray(cursor), 0)
    next.set(fresh, items.length - cursor)
    items = next
    cursor = 0
  }
  return { items, cursor }
}

const RandomState = Schema.Struct({ queue: Columns.Queue })

/**
 * Uniform random sampling without replacement within an epoch; when fewer
 * than B items remain, the remainder is prepended to a fresh shuffle. When
 * B exceeds the dataset, a batch repeats problems.
 *
 * @since 0.1.0
 * @category plugins
 */
export const random = (): Curriculum.Plugin =>
  Curriculum.plugin("random", ({ dataset, seed }) => {
    const n = dataset.problems.length
    return Effect.succeed(Curriculum.make({
      name: "random",
      state: RandomState,
      initial: { queue: { items: Rng.make(seed, 0, "random-init").permutation(n), cursor: 0 } },
      select: (state, { batchSize, step }) => {
        const refill = Rng.make(seed, step, "random-refill")
        const queue = ensureAvailable(state.queue, batchSize, () => refill.permutation(n))
        const batch = Array.from(queue.items.subarray(queue.cursor, queue.cursor + batchSize))
        state.queue.items = queue.items
        state.queue.cursor = queue.cursor + batchSize
        return batch
      }
    }))
  })

const OrderedState = Schema.mutable(Schema.Struct({ order: Columns.Int32Column, cursor: Schema.Int }))

/**
 * Easy-to-hard: sort by `(level, random tie-break)` and serve consecutive
 * batches. When `steps · B > |X|`, each level is replicated by
 * `growth = steps / (|X| / B)` (level ℓ gets `⌈|X_ℓ| · growth⌉` items, repeats
 * drawn from a shuffled copy) so the ordered pass spans exactly the budget;
 * levels are not revisited. Past the end the order starts over.
 *
 * @since 0.1.0
 * @category plugins
 */
export const ordered = (): Curriculum.Plugin =>
  Curriculum.plugin("ordered", ({ batchSize, dataset, seed, steps }) => {
    const rng = Rng.make(seed, -1, "ordered")
    const n = dataset.problems.length
    const growth = Math.max(1, (steps * batchSize) / n)
    const byLevel = new Map<number, Array<number>>()
    dataset.problems.forEach((p, i) => {
      const list = byLevel.get(p.level) ?? []
      list.push(i)
      byLevel.set(p.level, list)
    })
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
    return Effect.succeed(Curriculum.make({
      name: "ordered",
      state: OrderedState,
      initial: { order: Int32Array.from(order), cursor: 0 },
      select: (state, { batchSize: b }) => {
        const batch: Array<number> = []
        for (let k = 0; k < b; k++) batch.push(state.order[(state.cursor + k) % state.order.length]!)
        state.cursor = (state.cursor + b) % state.order.length
        return batch
      }
    }))
  })
