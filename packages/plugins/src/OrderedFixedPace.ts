/**
 * The fixed-pace ordered baseline: easy-to-hard by level at a pace that does
 * not depend on the run's budget, unlike {@link Baselines.ordered}, which
 * stretches one ordered pass over exactly the step budget (SEC's
 * `PriorityDataloader`) and therefore knows the budget in advance — an
 * advantage no adaptive curriculum has. Here each level is served for
 * `passesPerLevel` shuffled passes over its items; once the hardest level is
 * done, training continues on the whole set uniformly at random (the pacing
 * function of Hacohen & Weinshall 2019, "On the power of curriculum learning",
 * reaching 100 % of the data).
 *
 * Same queues and seeds as the other baselines, so a run is resumable and
 * deterministic.
 *
 * @since 0.1.0
 */
import * as Columns from "@zpd/core/Columns"
import * as Curriculum from "@zpd/core/Curriculum"
import { requireConfig } from "@zpd/core/Errors"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** Shuffled passes over each level's items before moving to the next level. Integer ≥ 1. Default 1 [R]. */
  readonly passesPerLevel?: number
}

const State = Schema.mutable(Schema.Struct({ order: Columns.Int32Column, cursor: Schema.Int, after: Columns.Queue }))

/**
 * Easy-to-hard at a fixed pace (see the module docs). Curriculum name
 * `ordered-fixed`; metric `ordered_pass_done` (0 during the ordered pass, 1 after).
 *
 * @since 0.1.0
 * @category plugins
 */
export const plugin = (config: Config = {}): Curriculum.Plugin =>
  Curriculum.plugin("ordered-fixed", ({ dataset, seed }) =>
    Effect.gen(function*() {
      const passes = config.passesPerLevel ?? 1
      const invalid = requireConfig(
        Number.isInteger(passes) && passes >= 1,
        "orderedFixed.passesPerLevel",
        "an integer ≥ 1",
        passes
      )
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const n = dataset.problems.length
      const rng = Rng.make(seed, -1, "ordered-fixed")
      const byLevel = new Map<number, Array<number>>()
      dataset.problems.forEach((p, i) => {
        const list = byLevel.get(p.level) ?? []
        list.push(i)
        byLevel.set(p.level, list)
      })
      const order: Array<number> = []
      for (const level of Array.from(byLevel.keys()).sort((a, b) => a - b)) {
        for (let pass = 0; pass < passes; pass++) order.push(...rng.shuffle(Int32Array.from(byLevel.get(level)!)))
      }
      return Curriculum.make({
        name: "ordered-fixed",
        state: State,
        initial: { order: Int32Array.from(order), cursor: 0, after: { items: new Int32Array(0), cursor: 0 } },
        select: (state, { batchSize, step }) => {
          const batch: Array<number> = []
          while (batch.length < batchSize && state.cursor < state.order.length) batch.push(state.order[state.cursor++]!)
          if (batch.length < batchSize) {
            const refill = Rng.make(seed, step, "ordered-fixed-after")
            const queue = Columns.ensureAvailable(state.after, batchSize - batch.length, () => refill.permutation(n))
            for (let k = batch.length; k < batchSize; k++) batch.push(queue.items[queue.cursor++]!)
            state.after.items = queue.items
            state.after.cursor = queue.cursor
          }
          return batch
        },
        metrics: (state) => ({ ordered_pass_done: state.cursor >= state.order.length ? 1 : 0 })
      })
    }))
