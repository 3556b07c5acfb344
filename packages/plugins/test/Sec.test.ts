import { describe, expect, it } from "@effect/vitest"
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError, ConfigError } from "@zpd/core/Errors"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Schema from "effect/Schema"
import * as Sec from "../src/Sec.ts"
import { groupOf } from "./support/outcomes.ts"

// ---------------------------------------------------------------------------
// helpers

const problem = (
  id: string,
  level: number,
  family = "countdown",
  metadata: Record<string, string | number> = {}
): Problem.Problem => ({ id, prompt: `prompt ${id}`, answer: "0", level, family, metadata })

/** `sizes[k]` problems at level `levels[k]`, ids `L<level>-<i>`. */
const byLevel = (levels: ReadonlyArray<number>, sizes: ReadonlyArray<number>): Problem.Dataset =>
  Problem.make(
    "test",
    levels.flatMap((level, k) => Array.from({ length: sizes[k]! }, (_, i) => problem(`L${level}-${i}`, level)))
  )

const context = (dataset: Problem.Dataset, seed = 7, batchSize = 4) => ({
  dataset,
  seed,
  steps: 100,
  batchSize,
  groupSize: 8
})

const select = (c: Curriculum.Curriculum, seed: number, step: number, batchSize: number) =>
  c.select({ step, batchSize, rng: Rng.make(seed, step, "select") })

const Snapshot = Schema.Struct({
  arms: Schema.Array(Schema.String),
  q: Columns.Float64Column,
  queues: Schema.Array(Columns.Queue)
})
/** The SEC part's state in a lone SEC curriculum's joined snapshot. */
const decodeSnapshot = (snapshot: unknown) =>
  Schema.decodeUnknownSync(Snapshot)((snapshot as { sec: { state: unknown } }).sec.state)

/** Restores `c` with its current queues but the given Q values. */
const setQ = (c: Curriculum.Curriculum, q: ReadonlyArray<number>) => {
  const snap = c.snapshot() as { sec: { state: { q: string } } }
  const bytes = new Uint8Array(Float64Array.from(q).buffer)
  return c.restore({ sec: { state: { ...snap.sec.state, q: Encoding.encodeBase64(bytes) } } })
}

const sorted = (xs: ArrayLike<number>) => Array.from(xs).sort((a, b) => a - b)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

// mean |Â| of a G=8 group with k=4 correct under verl's unbiased std + 1e-6
const halfCorrectMeanAbs = 0.5 / (Math.sqrt((8 * 0.25) / 7) + 1e-6)

// ---------------------------------------------------------------------------

describe("Sec.updateQ", () => {
  it("applies Q ← αr + (1−α)Q to sampled arms and decays or keeps the rest", () => {
    const alpha = 0.5
    const q = new Float64Array(3)
    Sec.updateQ(q, [0.8, undefined, 0.4], alpha, "decay")
    const first = [alpha * 0.8 + (1 - alpha) * 0, (1 - alpha) * 0, alpha * 0.4 + (1 - alpha) * 0]
    expect(Array.from(q)).toEqual(first)
    expect(Array.from(q)).toEqual([0.4, 0, 0.2])

    const decayed = Float64Array.from(q)
    Sec.updateQ(decayed, [undefined, 0.6, undefined], alpha, "decay")
    const expectDecay = [(1 - alpha) * first[0]!, alpha * 0.6 + (1 - alpha) * first[1]!, (1 - alpha) * first[2]!]
    expect(Array.from(decayed)).toEqual(expectDecay)
    expect(Array.from(decayed)).toEqual([0.2, 0.3, 0.1])

    const kept = Float64Array.from(q)
    Sec.updateQ(kept, [undefined, 0.6, undefined], alpha, "keep")
    expect(Array.from(kept)).toEqual([first[0], alpha * 0.6 + (1 - alpha) * first[1]!, first[2]])
    expect(Array.from(kept)).toEqual([0.4, 0.3, 0.2])
  })

  it("with α = 1 replaces Q by the reward and zeroes unsampled arms under decay", () => {
    const q = Float64Array.from([0.7, 0.9])
    Sec.updateQ(q, [0.25, undefined], 1, "decay")
    expect(Array.from(q)).toEqual([0.25, 0])
  })
})

describe("Sec.boltzmann", () => {
  const softmax = (q: ReadonlyArray<number>, tau: number) => {
    const e = q.map((x) => Math.exp(x / tau))
    const z = e.reduce((a, b) => a + b, 0)
    return e.map((x) => x / z)
  }

  it("equals exp(q/τ)/Σexp(q/τ)", () => {
    const p = Sec.boltzmann([0, 0.5, 1], 1)
    const expected = softmax([0, 0.5, 1], 1)
    expect(p.length).toBe(3)
    p.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 12))
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
  })

  it("a lower temperature sharpens the distribution", () => {
    const warm = Sec.boltzmann([0, 0.5, 1], 1)
    const cold = Sec.boltzmann([0, 0.5, 1], 0.2)
    const expected = softmax([0, 0.5, 1], 0.2)
    cold.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 12))
    expect(cold[2]!).toBeGreaterThan(warm[2]!)
    expect(cold[0]!).toBeLessThan(warm[0]!)
  })

  it("is finite for large Q (max subtraction) and sums to 1", () => {
    const p = Sec.boltzmann([1000, 1001], 1)
    expect(Array.from(p).every(Number.isFinite)).toBe(true)
    // same as softmax([0, 1])
    const expected = softmax([0, 1], 1)
    expect(p[0]!).toBeCloseTo(expected[0]!, 12)
    expect(p[1]!).toBeCloseTo(expected[1]!, 12)
    expect(p[0]! + p[1]!).toBeCloseTo(1, 12)
  })

  it("equal Q gives the uniform distribution over arms", () => {
    const p = Sec.boltzmann([0.3, 0.3, 0.3, 0.3], 0.4)
    p.forEach((x) => expect(x).toBeCloseTo(0.25, 12))
  })
})

describe("Sec.armsOf", () => {
  it("sorts arm names numerically and maps every problem to its arm", () => {
    const ds = byLevel([10, 2, 1], [1, 2, 1])
    const arms = Either.getOrThrow(Sec.armsOf(ds, ["level"]))
    expect(arms.names).toEqual(["1", "2", "10"])
    expect(arms.labels).toEqual(["10", "2", "2", "1"])
  })

  it("joins several keys with '-' (SEC-2D)", () => {
    const ds = Problem.make("2d", [
      problem("a", 2, "zebra"),
      problem("b", 10, "countdown"),
      problem("c", 2, "countdown"),
      problem("d", 1, "countdown"),
      problem("e", 2, "countdown")
    ])
    const arms = Either.getOrThrow(Sec.armsOf(ds, ["level", "family"]))
    expect(arms.names).toEqual(["1-countdown", "2-countdown", "2-zebra", "10-countdown"])
    expect(arms.labels).toEqual(["2-zebra", "10-countdown", "2-countdown", "1-countdown", "2-countdown"])
  })

  it("names the key and the first problem lacking it", () => {
    const ds = Problem.make("m", [
      problem("p0", 1, "countdown", { topic: "algebra" }),
      problem("p1", 1, "countdown", {}),
      problem("p2", 1, "countdown", {})
    ])
    const err = Sec.armsOf(ds, ["topic"])
    expect(Either.isLeft(err) && err.left).toBeInstanceOf(ConfigError)
    const e = Either.flip(err).pipe(Either.getOrThrow)
    expect(e.field).toBe("sec.arms")
    expect(e.message).toContain("topic")
    expect(e.message).toContain("p1")
    expect(e.message).not.toContain("p2")
  })
})

describe("Sec.plugin — validation", () => {
  const ds = byLevel([1, 2], [3, 3])
  const buildError = (options: Partial<Sec.Config>, dataset = ds) =>
    Sec.plugin(options).build(context(dataset)).pipe(Effect.flip)

  it.effect("temperature must be > 0", () =>
    Effect.gen(function*() {
      for (const temperature of [0, -1]) {
        const e = yield* buildError({ temperature })
        expect(e).toBeInstanceOf(ConfigError)
        expect(e.field).toBe("sec.temperature")
        expect(e.message).toContain("> 0")
        expect(e.message).toContain(String(temperature))
      }
    }))

  it.effect("alpha must be in (0, 1]; α = 1 is allowed", () =>
    Effect.gen(function*() {
      for (const alpha of [0, 1.5, -0.1]) {
        const e = yield* buildError({ alpha })
        expect(e).toBeInstanceOf(ConfigError)
        expect(e.field).toBe("sec.alpha")
        expect(e.message).toContain("(0, 1]")
      }
      const c = yield* Sec.plugin({ alpha: 1 }).build(context(ds))
      expect(c.name).toBe("sec")
    }))

  it.effect("an unknown arm key fails naming the key and the first problem lacking it", () =>
    Effect.gen(function*() {
      const e = yield* buildError({ arms: ["nope"] })
      expect(e).toBeInstanceOf(ConfigError)
      expect(e.field).toBe("sec.arms")
      expect(e.message).toContain("nope")
      expect(e.message).toContain(ds.problems[0]!.id)
    }))

  it.effect("an empty arm key list is rejected", () =>
    Effect.gen(function*() {
      const e = yield* buildError({ arms: [] })
      expect(e.field).toBe("sec.arms")
    }))
})

describe("Sec.plugin — bandit", () => {
  it.effect("an arm's reward is the mean |Â| over its responses; absent arms decay", () =>
    Effect.gen(function*() {
      const ds = byLevel([1, 2, 3], [2, 2, 2])
      const c = yield* Sec.plugin({ alpha: 0.5 }).build(context(ds))
      // give arm "3" some value first so its decay is visible
      yield* c.observe({ step: 0, groups: [groupOf(ds, 4, [1, 1, 1, 1, 0, 0, 0, 0])] })
      const q3 = c.metrics()["sec_q_3"]!
      expect(q3).toBeCloseTo(0.5 * halfCorrectMeanAbs, 12)
      expect(c.metrics()["sec_q_1"]).toBe(0)

      yield* c.observe({
        step: 1,
        groups: [groupOf(ds, 0, [1, 0, 1, 0, 1, 0, 1, 0]), groupOf(ds, 2, [1, 1, 1, 1, 1, 1, 1, 1])]
      })
      const m = c.metrics()
      expect(halfCorrectMeanAbs).toBeCloseTo(0.93541, 5)
      expect(m["sec_q_1"]).toBeCloseTo(0.5 * halfCorrectMeanAbs, 12)
      expect(m["sec_q_2"]).toBe(0)
      expect(m["sec_q_3"]).toBeCloseTo(0.5 * q3, 12)
      // metrics expose the Boltzmann probabilities of the current Q
      const p = Sec.boltzmann([m["sec_q_1"]!, m["sec_q_2"]!, m["sec_q_3"]!], 1)
      expect(m["sec_p_1"]).toBeCloseTo(p[0]!, 12)
      expect(m["sec_p_2"]).toBeCloseTo(p[1]!, 12)
      expect(m["sec_p_3"]).toBeCloseTo(p[2]!, 12)
    }))

  it.effect("the reward weights responses, not groups, within an arm", () =>
    Effect.gen(function*() {
      const ds = byLevel([1, 2], [2, 2])
      const c = yield* Sec.plugin({ alpha: 1 }).build(context(ds))
      // arm "1": 8 responses with mean |Â| ≈ 0.935 and 4 responses with |Â| = 0
      yield* c.observe({
        step: 0,
        groups: [groupOf(ds, 0, [1, 1, 1, 1, 0, 0, 0, 0]), groupOf(ds, 1, [0, 0, 0, 0])]
      })
      expect(c.metrics()["sec_q_1"]).toBeCloseTo((8 * halfCorrectMeanAbs) / 12, 12)
      expect(c.metrics()["sec_q_2"]).toBe(0)
    }))

  it.effect("keep leaves absent arms unchanged", () =>
    Effect.gen(function*() {
      const ds = byLevel([1, 2], [2, 2])
      const c = yield* Sec.plugin({ alpha: 0.5, unsampledArms: "keep" }).build(context(ds))
      yield* c.observe({ step: 0, groups: [groupOf(ds, 2, [1, 1, 1, 1, 0, 0, 0, 0])] })
      const q2 = c.metrics()["sec_q_2"]!
      yield* c.observe({ step: 1, groups: [groupOf(ds, 0, [0, 0, 0, 0, 0, 0, 0, 0])] })
      expect(c.metrics()["sec_q_2"]).toBe(q2)
      expect(c.metrics()["sec_q_1"]).toBe(0)
    }))

  it.effect("arms are drawn with the Boltzmann probabilities of Q/τ", () =>
    Effect.gen(function*() {
      const ds = byLevel([1, 2, 3], [40, 40, 40])
      const seed = 11
      const tau = 0.5
      const q = [0, 0.5, 1.5]
      const c = yield* Sec.plugin({ temperature: tau }).build(context(ds, seed))
      yield* setQ(c, q)
      const p = Sec.boltzmann(q, tau)
      expect(c.metrics()["sec_p_3"]).toBeCloseTo(p[2]!, 12)
      const counts = [0, 0, 0]
      const B = 64
      const steps = 200
      for (let step = 0; step < steps; step++) {
        for (const i of yield* select(c, seed, step, B)) counts[ds.problems[i]!.level - 1]!++
      }
      const n = B * steps
      counts.forEach((k, a) => {
        const se = Math.sqrt((p[a]! * (1 - p[a]!)) / n)
        expect(Math.abs(k / n - p[a]!)).toBeLessThan(4 * se)
      })
    }))

  it.effect("starts uniform over arms, not over items", () =>
    Effect.gen(function*() {
      // arm "1" has 4 items, arm "2" has 200: uniform over items would give arm "1" ≈ 2%
      const ds = byLevel([1, 2], [4, 200])
      const seed = 3
      const c = yield* Sec.plugin().build(context(ds, seed))
      let small = 0
      const B = 32
      const steps = 100
      for (let step = 0; step < steps; step++) {
        for (const i of yield* select(c, seed, step, B)) if (ds.problems[i]!.level === 1) small++
      }
      const n = B * steps
      expect(Math.abs(small / n - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / n))
    }))
})

describe("Sec.plugin — per-arm queues", () => {
  it.effect("a single arm is served without replacement: |arm| draws form a permutation", () =>
    Effect.gen(function*() {
      const ds = byLevel([1], [10])
      const seed = 5
      const c = yield* Sec.plugin().build(context(ds, seed, 10))
      const first = yield* select(c, seed, 0, 10)
      expect(sorted(first)).toEqual(range(0, 10))
      // two half batches also cover the arm exactly once
      const d = yield* Sec.plugin().build(context(ds, seed, 5))
      const a = yield* select(d, seed, 0, 5)
      const b = yield* select(d, seed, 1, 5)
      expect(sorted([...a, ...b])).toEqual(range(0, 10))
      // and the next epoch again
      const e1 = yield* select(d, seed, 2, 5)
      const e2 = yield* select(d, seed, 3, 5)
      expect(sorted([...e1, ...e2])).toEqual(range(0, 10))
    }))

  it.effect("an arm smaller than B still fills the batch, repeating only after exhaustion", () =>
    Effect.gen(function*() {
      const ds = byLevel([1], [3])
      const seed = 9
      const c = yield* Sec.plugin().build(context(ds, seed, 7))
      const stream: Array<number> = []
      for (let step = 0; step < 6; step++) {
        const batch = yield* select(c, seed, step, 7)
        expect(batch.length).toBe(7)
        stream.push(...batch)
      }
      for (let k = 0; k + 3 <= stream.length; k += 3) expect(sorted(stream.slice(k, k + 3))).toEqual([0, 1, 2])
    }))

  it.effect("per arm, the drawn items chunk into permutations of the arm (imbalanced arms, small B)", () =>
    Effect.gen(function*() {
      const sizes = [3, 7, 12]
      const ds = byLevel([1, 2, 3], sizes)
      const seed = 21
      const B = 5
      const c = yield* Sec.plugin().build(context(ds, seed, B))
      const streams: Array<Array<number>> = [[], [], []]
      for (let step = 0; step < 60; step++) {
        for (const i of yield* select(c, seed, step, B)) streams[ds.problems[i]!.level - 1]!.push(i)
      }
      let offset = 0
      streams.forEach((s, a) => {
        const members = range(offset, offset + sizes[a]!)
        offset += sizes[a]!
        expect(s.length).toBeGreaterThan(2 * sizes[a]!)
        for (let k = 0; k + sizes[a]! <= s.length; k += sizes[a]!) {
          expect(sorted(s.slice(k, k + sizes[a]!))).toEqual(members)
        }
      })
    }))

  it.effect("an arm smaller than B does not make every queue grow each step", () =>
    Effect.gen(function*() {
      // regression: the small arm used to trigger the all-arm refill at every
      // select, appending a fresh copy of the 100-item arm per step
      const sizes = [3, 100]
      const ds = byLevel([1, 2], sizes)
      const seed = 1
      const B = 8
      const c = yield* Sec.plugin().build(context(ds, seed, B))
      const stream: Array<number> = []
      for (let step = 0; step < 60; step++) {
        for (const i of yield* select(c, seed, step, B)) if (i >= 3) stream.push(i)
      }
      const snap = decodeSnapshot(c.snapshot())
      snap.queues.forEach((q, a) => expect(q.items.length).toBeLessThanOrEqual(sizes[a]! + B))
      // the big arm is still served as consecutive permutations
      for (let k = 0; k + 100 <= stream.length; k += 100) {
        expect(sorted(stream.slice(k, k + 100))).toEqual(range(3, 103))
      }
      expect(stream.length).toBeGreaterThan(200)
    }))

  it.effect("perpetual refill: an arm with < B left becomes remaining ++ fresh shuffle; other arms are untouched", () =>
    Effect.gen(function*() {
      const ds = byLevel([1, 2], [6, 20])
      const seed = 4
      const B = 4
      const c = yield* Sec.plugin().build(context(ds, seed, B))
      // make arm "1" near-certain so it runs low: p(arm "2") = e^-20
      yield* setQ(c, [20, 0])
      const before0 = decodeSnapshot(c.snapshot())
      yield* select(c, seed, 0, B)
      const after0 = decodeSnapshot(c.snapshot())
      // step 0: every arm had ≥ B left → no refill, only the cursor moved
      before0.queues.forEach((q, a) => {
        expect(q.items.length - q.cursor).toBeGreaterThanOrEqual(B)
        expect(Array.from(after0.queues[a]!.items)).toEqual(Array.from(q.items))
      })
      expect(after0.queues[0]!.cursor).toBe(4)

      const remaining = after0.queues.map((q) => Array.from(q.items.subarray(q.cursor)))
      expect(remaining[0]!.length).toBeLessThan(B)
      expect(remaining[1]!.length).toBeGreaterThanOrEqual(B)
      yield* select(c, seed, 1, B)
      const after1 = decodeSnapshot(c.snapshot())
      // arm "1" (6 items, 2 left) was refilled: its remainder, then a fresh permutation of the arm
      const refilled = Array.from(after1.queues[0]!.items)
      expect(refilled.length).toBe(remaining[0]!.length + 6)
      expect(refilled.slice(0, remaining[0]!.length)).toEqual(remaining[0])
      expect(sorted(refilled.slice(remaining[0]!.length))).toEqual(range(0, 6))
      // arm "2" still had ≥ B left: its queue is unchanged, so no queue grows without bound
      expect(Array.from(after1.queues[1]!.items)).toEqual(Array.from(after0.queues[1]!.items))
      expect(after1.queues[1]!.cursor).toBe(after0.queues[1]!.cursor)
      // the batch consumed the old remainder of arm "1" first
      expect(after1.queues[0]!.cursor).toBe(4)
    }))
})

describe("Sec.plugin — arms from metadata", () => {
  it.effect("SEC-2D arms are named level-family in metrics", () =>
    Effect.gen(function*() {
      const ds = Problem.make("2d", [
        problem("a", 2, "countdown"),
        problem("b", 2, "zebra"),
        problem("c", 10, "countdown"),
        problem("d", 1, "zebra")
      ])
      const c = yield* Sec.plugin({ arms: ["level", "family"] }).build(context(ds))
      yield* c.observe({ step: 0, groups: [groupOf(ds, 0, [1, 1, 1, 1, 0, 0, 0, 0])] })
      const m = c.metrics()
      expect(Object.keys(m).filter((k) => k.startsWith("sec_q_"))).toEqual([
        "sec_q_1-zebra",
        "sec_q_2-countdown",
        "sec_q_2-zebra",
        "sec_q_10-countdown"
      ])
      expect(m["sec_q_2-countdown"]).toBeCloseTo(0.5 * halfCorrectMeanAbs, 12)
      expect(m["sec_q_2-zebra"]).toBe(0)
    }))

  it.effect("the default arm key is level", () =>
    Effect.gen(function*() {
      const ds = Problem.make("d", [problem("a", 2, "x"), problem("b", 2, "y"), problem("c", 10, "x")])
      const c = yield* Sec.plugin().build(context(ds))
      expect(Object.keys(c.metrics()).filter((k) => k.startsWith("sec_q_"))).toEqual(["sec_q_2", "sec_q_10"])
    }))

  it.effect("a metadata key defines arms", () =>
    Effect.gen(function*() {
      const ds = Problem.make("m", [
        problem("a", 1, "x", { topic: "geometry" }),
        problem("b", 1, "x", { topic: "algebra" }),
        problem("c", 1, "x", { topic: "geometry" })
      ])
      const seed = 2
      const c = yield* Sec.plugin({ arms: ["topic"] }).build(context(ds, seed))
      expect(Object.keys(c.metrics()).filter((k) => k.startsWith("sec_q_"))).toEqual([
        "sec_q_algebra",
        "sec_q_geometry"
      ])
      // heavily favour "algebra": every draw is problem "b"
      yield* setQ(c, [50, 0])
      const batch = yield* select(c, seed, 0, 6)
      expect(batch).toEqual([1, 1, 1, 1, 1, 1])
    }))
})

describe("Sec.plugin — checkpoints and determinism", () => {
  const ds = byLevel([1, 2, 3], [5, 9, 14])
  const rewardsFor = (i: number, step: number) =>
    Array.from({ length: 8 }, (_, j) => ((i * 7 + step * 3 + j * (i % 3 + 1)) % 5 < 2 ? 1 : 0))

  const drive = (c: Curriculum.Curriculum, seed: number, from: number, to: number) =>
    Effect.gen(function*() {
      const out: Array<ReadonlyArray<number>> = []
      for (let step = from; step < to; step++) {
        const batch = yield* select(c, seed, step, 6)
        out.push(batch)
        yield* c.observe({ step, groups: batch.map((i) => groupOf(ds, i, rewardsFor(i, step))) })
      }
      return out
    })

  it.effect("snapshot → JSON → restore continues identically", () =>
    Effect.gen(function*() {
      const seed = 13
      const plugin = Sec.plugin({ alpha: 0.3, temperature: 0.4 })
      const original = yield* plugin.build(context(ds, seed, 6))
      yield* drive(original, seed, 0, 5)
      const saved = JSON.parse(JSON.stringify(original.snapshot()))
      const resumed = yield* plugin.build(context(ds, seed, 6))
      // a fresh curriculum differs from the trained one before restoring
      expect(resumed.metrics()).not.toEqual(original.metrics())
      yield* resumed.restore(saved)
      expect(resumed.metrics()).toEqual(original.metrics())
      const a = yield* drive(original, seed, 5, 15)
      const b = yield* drive(resumed, seed, 5, 15)
      expect(b).toEqual(a)
      expect(resumed.metrics()).toEqual(original.metrics())
    }))

  it.effect("restoring garbage fails with CheckpointError", () =>
    Effect.gen(function*() {
      const c = yield* Sec.plugin().build(context(ds))
      for (const garbage of [{ nope: 1 }, "x", null, { arms: [], q: "!!", queues: [] }]) {
        const e = yield* Effect.flip(c.restore(garbage))
        expect(e).toBeInstanceOf(CheckpointError)
        expect(e.path).toContain("sec")
      }
    }))

  it.effect("same seed → same selections; a different seed differs", () =>
    Effect.gen(function*() {
      const a = yield* drive(yield* Sec.plugin().build(context(ds, 1, 6)), 1, 0, 10)
      const b = yield* drive(yield* Sec.plugin().build(context(ds, 1, 6)), 1, 0, 10)
      const c = yield* drive(yield* Sec.plugin().build(context(ds, 2, 6)), 2, 0, 10)
      expect(b).toEqual(a)
      expect(c).not.toEqual(a)
    }))
})
