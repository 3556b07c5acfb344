import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Columns from "../src/Columns.ts"
import type * as Curriculum from "../src/Curriculum.ts"
import { CheckpointError, ConfigError } from "../src/Errors.ts"
import * as Hook from "../src/Hook.ts"
import * as Part from "../src/Part.ts"
import * as Problem from "../src/Problem.ts"
import * as Rng from "../src/Rng.ts"

const dataset = Problem.make(
  "d",
  Array.from(
    { length: 10 },
    (_, i) => ({ id: `p${i}`, prompt: `${i}`, answer: "0", level: 1 + (i % 2), family: "f", metadata: {} })
  )
)
const context = { dataset, seed: 1, steps: 10, batchSize: 3, groupSize: 2 }

/** A gate letting through the even problems once `open` reaches 1 (opened by observing step 2), else 0..3. */
const evens = Part.gate({
  name: "evens",
  options: { flavour: "even" },
  hooks: [Hook.onEvent("evens-opened", "Opened", () => Effect.void)],
  state: Schema.mutable(Schema.Struct({ open: Schema.Int, since: Schema.Int })),
  build: () => ({
    initial: { open: 0, since: 0 },
    eligible: ({ state }, pool) =>
      Part.restrict(
        pool,
        state.open === 0 ? Int32Array.from([0, 1, 2, 3]) : Int32Array.from([0, 2, 4, 6, 8]),
        state.since,
        {
          half: Int32Array.from({ length: 10 }, (_, i) => 1 + (i % 2))
        }
      ),
    observe: ({ state }, { step }) => {
      if (step !== 2) return []
      state.open = 1
      state.since = step
      return [{ _tag: "Opened", step }]
    },
    metrics: ({ state }) => ({ open: state.open, shared: 1 })
  })
})

/** A sampler serving the pool in order from a cursor, counting what it saw. */
const inOrder = Part.sampler({
  name: "inorder",
  state: Schema.mutable(Schema.Struct({ cursor: Schema.Int, seen: Columns.Int32Column })),
  build: ({ dataset }) => ({
    initial: { cursor: 0, seen: new Int32Array(dataset.problems.length) },
    select: ({ state }, pool, { batchSize }) =>
      Array.from({ length: batchSize }, () => pool.indices[state.cursor++ % pool.indices.length]!),
    observe: ({ state }, { groups }) => {
      for (const g of groups) state.seen[g.index]!++
    },
    metrics: ({ state }) => ({ shared: 2, served: state.cursor })
  })
})

/** A pre-filter asking for twice the batch and keeping the largest indices. */
const largest = Part.prefilter({
  name: "largest",
  state: Schema.Struct({}),
  build: () => ({
    initial: {},
    widen: (count) => 2 * count,
    narrow: (_, proposals, { batchSize }) => [...proposals].sort((a, b) => b - a).slice(0, batchSize)
  })
})

const outcome = (index: number): Curriculum.GroupOutcome => ({
  index,
  problem: dataset.problems[index]!,
  rewards: Float64Array.from([1, 0]),
  passRate: 0.5,
  advantages: Float64Array.from([1, -1])
})

const step = (c: Curriculum.Curriculum, n: number) =>
  Effect.gen(function*() {
    const batch = yield* c.select({ step: n, batchSize: 3, rng: Rng.make(1, n, "select") })
    const events = yield* c.observe({ step: n, groups: batch.map(outcome) })
    return { batch, events, metrics: c.metrics() }
  })

describe("Part composition", () => {
  it.effect("a gate narrows the pool, a pre-filter narrows the sampler's proposals, events and hooks come out", () =>
    Effect.gen(function*() {
      const plugin = evens.pipe(Part.andThen(largest), Part.andThen(inOrder))
      expect(plugin.name).toBe("evens+largest+inorder")
      expect(plugin.hooks.map((h) => h.name)).toEqual(["evens-opened"])
      const c = yield* plugin.build(context)
      const first = yield* step(c, 1)
      expect(first.batch).toEqual([3, 2, 1]) // proposals 0,1,2,3,0,1 → the 3 largest
      expect(first.events).toEqual([])
      const second = yield* step(c, 2)
      expect(second.events).toEqual([{ _tag: "Opened", step: 2 }])
      const third = yield* step(c, 3)
      expect(third.batch.every((i) => i % 2 === 0)).toBe(true)
      // a name two parts emit is namespaced in both; the others are kept as they are
      expect(third.metrics).toEqual({ open: 1, evens_shared: 1, inorder_shared: 2, served: 18 })
    }))

  it.effect("snapshot → JSON → restore continues identically; a bad state names the part", () =>
    Effect.gen(function*() {
      const plugin = evens.pipe(Part.andThen(inOrder), Part.named("x"))
      const a = yield* plugin.build(context)
      for (let n = 1; n <= 3; n++) yield* step(a, n)
      const saved = JSON.parse(JSON.stringify(a.snapshot()))
      expect(Object.keys(saved)).toEqual(["evens", "inorder"])
      const b = yield* plugin.build(context)
      yield* b.restore(saved)
      for (let n = 4; n <= 6; n++) expect(yield* step(b, n)).toEqual(yield* step(a, n))
      const bad = yield* Effect.flip(b.restore({ evens: { state: { open: "x" } } }))
      expect(bad).toBeInstanceOf(CheckpointError)
      expect(bad.path).toContain(`curriculum "x"`)
    }))

  it("the identity is canonical JSON of the parts, their kinds and options", () => {
    const plugin = evens.pipe(Part.andThen(inOrder))
    expect(JSON.parse(plugin.identity)).toEqual({
      curriculum: "evens+inorder",
      parts: [
        { kind: "gate", name: "evens", options: { flavour: "even" } },
        { kind: "sampler", name: "inorder", options: {} }
      ]
    })
    expect(evens.pipe(Part.andThen(inOrder)).identity).toBe(plugin.identity)
    expect(evens.pipe(Part.andThen(largest), Part.andThen(inOrder)).identity).not.toBe(plugin.identity)
  })

  it.effect("an invalid option fails the build with its ConfigError before any part builds", () =>
    Effect.gen(function*() {
      let built = 0
      const counting = Part.gate({
        name: "counting",
        state: Schema.Struct({}),
        build: () => {
          built++
          return { initial: {}, eligible: (_, pool) => pool }
        }
      })
      const invalid = Part.sampler({
        name: "invalid",
        options: Either.left(new ConfigError({ field: "invalid.x", expected: "something", actual: "nothing" })),
        state: Schema.Struct({}),
        build: () => ({ initial: {}, select: () => [] })
      })
      const e = yield* Effect.flip(counting.pipe(Part.andThen(invalid)).build(context))
      expect(e.field).toBe("invalid.x")
      expect(built).toBe(0)
    }))

  it.effect("an empty eligible pool dies naming the curriculum", () =>
    Effect.gen(function*() {
      const none = Part.gate({
        name: "none",
        state: Schema.Struct({}),
        build: () => ({ initial: {}, eligible: (_, pool) => Part.restrict(pool, new Int32Array(0), 0, {}) })
      })
      const c = yield* none.pipe(Part.andThen(inOrder), Part.named("empty")).build(context)
      const exit = yield* Effect.exit(c.select({ step: 1, batchSize: 2, rng: Rng.make(1, 1, "s") }))
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(`curriculum "empty"`)
    }))
})

describe("Part pools", () => {
  it("restrict keeps the gate's order, intersects with the pool it received and merges labels", () => {
    const all = Part.everything(6)
    const first = Part.restrict(all, Int32Array.from([5, 3, 1, 0]), 2, { a: new Int32Array(6).fill(1) })
    expect(Array.from(first.indices)).toEqual([5, 3, 1, 0])
    expect(first.full).toBe(false)
    const second = Part.restrict(first, Int32Array.from([0, 1, 2, 3]), 1, { b: new Int32Array(6).fill(2) })
    expect(Array.from(second.indices)).toEqual([0, 1, 3])
    expect(second.since).toBe(2)
    expect(Object.keys(second.labels)).toEqual(["a", "b"])
    expect(Array.from(Part.members(second, 6))).toEqual([1, 1, 0, 1, 0, 0])
  })
})
