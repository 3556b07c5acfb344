import { describe, expect, it } from "@effect/vitest"
import * as Advantage from "@zpd/core/Advantage"
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as ValueModel from "@zpd/core/ValueModel"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Hashed from "../src/HashedValueModel.ts"
import * as Pcl from "../src/Pcl.ts"

// ---------------------------------------------------------------------------
// helpers

const problem = (i: number): Problem.Problem => ({
  id: `p${i}`,
  prompt: `Compute item ${i} of level ${1 + (i % 3)}`,
  answer: "0",
  level: 1 + (i % 3),
  family: i % 2 === 0 ? "countdown" : "arc1d",
  metadata: { index: i }
})

const dataset = (n: number) => Problem.make("test", Array.from({ length: n }, (_, i) => problem(i)))

const outcome = (ds: Problem.Dataset, index: number, correct: number, g = 8, format = 0): Curriculum.GroupOutcome => {
  const rewards = Float64Array.from({ length: g }, (_, k) => (k < correct ? 1 : format))
  return {
    index,
    problem: ds.problems[index]!,
    rewards,
    passRate: correct / g,
    advantages: Advantage.groupAdvantages(rewards)
  }
}

/** A value model whose predictions are `f(problem)`, recording every update. */
const valueHead = (f: (p: Problem.Problem) => number) => {
  const updates: Array<{ ids: Array<string>; targets: Array<number> }> = []
  const service: ValueModel.ValueModel.Service = {
    name: "test-head",
    predict: (ps) => Effect.succeed(Float64Array.from(ps, f)),
    update: (ps, targets) =>
      Effect.sync(() => {
        updates.push({ ids: ps.map((p) => p.id), targets: Array.from(targets) })
        return { loss: 0 }
      }),
    snapshot: () => ({ updates: updates.length }),
    restore: () => Effect.void
  }
  return { service, updates }
}

const hashValue = (p: Problem.Problem) => (Rng.mix32(Number(p.metadata["index"]) + 17) % 1000) / 999

const select = (c: Curriculum.Curriculum, step: number, batchSize: number, seed = 1) =>
  Effect.runSync(c.select({ step, batchSize, rng: Rng.make(seed, step, "select") }))

const build = (options: Partial<Pcl.Config>, n = 40, batchSize = 4) =>
  Effect.map(
    Pcl.plugin(options).build({ dataset: dataset(n), seed: 1, steps: 10, batchSize, groupSize: 8 }),
    (c) => Object.assign(c, { lastPool: () => (Part.inspect(c).get("pcl")!.derived as Pcl.Derived).pool })
  )

type Handle = Effect.Effect.Success<ReturnType<typeof build>> & {
  readonly stateBytes: () => number
  readonly timings: () => Readonly<Record<string, number>>
}

/** PCL over `ds` with value model `valueModel` (built for batch size 1: tests select any size up to the dataset). */
const make = (
  ds: Problem.Dataset,
  seed: number,
  config: Pcl.Config,
  valueModel: ValueModel.ValueModel.Service
): Handle =>
  Effect.runSync(
    Effect.map(
      Pcl.plugin({ ...config, valueModel }).build({ dataset: ds, seed, steps: 10, batchSize: 1, groupSize: 8 }),
      (c) => Object.assign(c, { lastPool: () => (Part.inspect(c).get("pcl")!.derived as Pcl.Derived).pool })
    )
  ) as Handle

// ---------------------------------------------------------------------------

describe("Pcl.closest", () => {
  it("property: returns exactly the m smallest |v − τ| (against a brute-force sort)", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 200 }),
        FastCheck.integer({ min: 0, max: 220 }),
        FastCheck.integer({ min: 0, max: 20 }),
        FastCheck.integer({ min: 0, max: 2 ** 31 - 1 }),
        (grid, m, tauGrid, seed) => {
          const values = grid.map((x) => x / 20)
          const tau = tauGrid / 20
          const chosen = Pcl.closest(values, tau, m, new Rng.Rng(seed))
          const gaps = values.map((v) => Math.abs(v - tau))
          const want = [...gaps].sort((a, b) => a - b).slice(0, Math.min(m, values.length))
          expect(chosen.map((p) => gaps[p]!)).toEqual(want)
          expect(new Set(chosen).size).toBe(chosen.length)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("breaks ties at random, uniformly", () => {
    const values = new Array(10).fill(0.5)
    const hits = new Array(10).fill(0)
    for (let s = 0; s < 2000; s++) for (const p of Pcl.closest(values, 0.5, 3, new Rng.Rng(s))) hits[p]++
    // Each position is chosen with probability 3/10: 600 ± ~5σ (σ ≈ 20.5).
    for (const h of hits) expect(Math.abs(h - 600)).toBeLessThan(105)
    // Strict preferences are never overridden by the tie-break.
    expect(Pcl.closest([0.1, 0.5, 0.9, 0.45], 0.5, 2, new Rng.Rng(1))).toEqual([1, 3])
  })
})

describe("Pcl curriculum", () => {
  it("selects exactly the m smallest |V − τ| of its k·m pool, against brute force, for several τ and k", () => {
    for (const [tau, k] of [[0.5, 4], [0.2, 2], [1, 3.5], [0, 1]] as const) {
      const ds = dataset(300)
      const c = make(ds, 3, { ...Pcl.defaults, tau, k }, valueHead(hashValue).service)
      for (let step = 1; step <= 12; step++) {
        const batch = select(c, step, 16)
        const pool = c.lastPool()
        expect(pool.indices).toHaveLength(Math.ceil(k * 16))
        expect(new Set(pool.indices).size).toBe(pool.indices.length)
        const gap = (i: number) => Math.abs(hashValue(ds.problems[i]!) - tau)
        const want = Array.from(pool.indices, gap).sort((a, b) => a - b).slice(0, 16)
        expect(batch.map(gap)).toEqual(want)
        for (const i of batch) expect(pool.indices).toContain(i)
      }
    }
  })

  it("the epoch loader offers every prompt once per epoch, then reshuffles", () => {
    const ds = dataset(64)
    const c = make(ds, 5, { ...Pcl.defaults, k: 4 }, valueHead(() => 0.5).service)
    const seen: Array<number> = []
    for (let step = 1; step <= 4; step++) {
      select(c, step, 4)
      seen.push(...c.lastPool().indices)
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i))
    select(c, 5, 4)
    const next = Array.from(c.lastPool().indices)
    expect(next).not.toEqual(seen.slice(0, 16))
  })

  it("a pool that spans an epoch boundary holds no prompt twice", () => {
    const ds = dataset(50)
    const c = make(ds, 2, { ...Pcl.defaults, k: 3 }, valueHead(() => 0.5).service)
    for (let step = 1; step <= 20; step++) {
      select(c, step, 7)
      expect(new Set(c.lastPool().indices).size).toBe(21)
    }
    // k·m above the dataset: the pool is the whole dataset.
    select(c, 21, 20)
    expect([...c.lastPool().indices].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it("pool: independent draws k·m distinct prompts uniformly every step", () => {
    const ds = dataset(100)
    const c = make(ds, 2, { ...Pcl.defaults, pool: "independent" }, valueHead(() => 0.5).service)
    const counts = new Array(100).fill(0)
    for (let step = 1; step <= 500; step++) {
      select(c, step, 5)
      expect(new Set(c.lastPool().indices).size).toBe(20)
      for (const i of c.lastPool().indices) counts[i]++
    }
    // 500 · 20/100 = 100 each, σ ≈ 9.
    for (const x of counts) expect(Math.abs(x - 100)).toBeLessThan(50)
  })

  it("cold start: the default model predicts 0.5 everywhere, so the batch is a random subset of the pool", () => {
    const ds = dataset(200)
    const a = make(ds, 1, Pcl.defaults, Hashed.hashed())
    const b = make(ds, 1, Pcl.defaults, Hashed.hashed())
    const batchA = select(a, 1, 10, 1)
    const batchB = select(b, 1, 10, 2)
    expect(Array.from(a.lastPool().values)).toEqual(new Array(40).fill(0.5))
    // Same pool (the loader's seed), different tie-breaks (the step rng).
    expect(Array.from(a.lastPool().indices)).toEqual(Array.from(b.lastPool().indices))
    expect(batchA).not.toEqual(batchB)
  })

  it("updates V after each step on the same rollouts: targets are pass rates (default) or mean rewards", () => {
    const ds = dataset(40)
    const s = valueHead(() => 0.3)
    const c = make(ds, 1, Pcl.defaults, s.service)
    const batch = select(c, 1, 4)
    Effect.runSync(c.observe({ step: 1, groups: batch.map((i, j) => outcome(ds, i, 2 * j, 8, 0.1)) }))
    expect(s.updates).toEqual([{ ids: batch.map((i) => `p${i}`), targets: [0, 0.25, 0.5, 0.75] }])

    const r = valueHead(() => 0.3)
    const c2 = make(ds, 1, { ...Pcl.defaults, target: "meanReward" }, r.service)
    const batch2 = select(c2, 1, 4)
    Effect.runSync(c2.observe({ step: 1, groups: batch2.map((i, j) => outcome(ds, i, 2 * j, 8, 0.1)) }))
    r.updates[0]!.targets.forEach((t, j) => expect(t).toBeCloseTo((2 * j + (8 - 2 * j) * 0.1) / 8, 15))
  })

  it("reports value_explained_variance of the pre-update predictions, value_loss, gaps and timings", () => {
    const ds = dataset(40)
    const c = make(ds, 1, { ...Pcl.defaults, k: 1 }, valueHead(hashValue).service)
    const batch = select(c, 1, 8)
    const passRates = batch.map((_, j) => j / 8)
    Effect.runSync(c.observe({ step: 1, groups: batch.map((i, j) => outcome(ds, i, j)) }))
    const predicted = batch.map((i) => hashValue(ds.problems[i]!))
    const m = c.metrics()
    expect(m["value_explained_variance"]).toBe(Hashed.explainedVariance(predicted, passRates))
    expect(m["pcl_pool_size"]).toBe(8)
    expect(m["value_pred_mean"]).toBeCloseTo(predicted.reduce((a, b) => a + b, 0) / 8, 15)
    expect(m["pcl_gap_mean"]).toBeCloseTo(predicted.reduce((a, b) => a + Math.abs(b - 0.5), 0) / 8, 15)
    const t = c.timings()
    expect(Object.keys(t).sort()).toEqual(["value_model_ms", "value_predict_ms", "value_update_ms"])
    expect(t["value_model_ms"]).toBeCloseTo(t["value_predict_ms"]! + t["value_update_ms"]!, 12)
  })

  it("observing groups it did not select predicts them before updating", () => {
    const ds = dataset(40)
    const c = make(ds, 1, Pcl.defaults, valueHead(hashValue).service)
    select(c, 1, 4)
    Effect.runSync(c.observe({ step: 1, groups: [outcome(ds, 0, 1), outcome(ds, 1, 7), outcome(ds, 2, 4)] }))
    const predicted = [0, 1, 2].map((i) => hashValue(ds.problems[i]!))
    expect(c.metrics()["value_explained_variance"]).toBe(Hashed.explainedVariance(predicted, [1 / 8, 7 / 8, 4 / 8]))
  })

  it("snapshot → restore (with the value model's state) continues identically", () => {
    const ds = dataset(120)
    const truth = (i: number) => [0.9, 0.5, 0.1][i % 3]!
    const run = (c: Handle, from: number, to: number) => {
      const out: Array<unknown> = []
      for (let step = from; step <= to; step++) {
        const batch = select(c, step, 8)
        const rng = Rng.make(9, step, "outcomes")
        Effect.runSync(c.observe({
          step,
          groups: batch.map((i) =>
            outcome(ds, i, Array.from({ length: 8 }, () => rng.next() < truth(i)).filter(Boolean).length)
          )
        }))
        out.push(batch, c.metrics())
      }
      return out
    }
    const a = make(ds, 4, Pcl.defaults, Hashed.hashed())
    run(a, 1, 10)
    const snap = JSON.parse(JSON.stringify(a.snapshot()))
    const b = make(ds, 4, Pcl.defaults, Hashed.hashed())
    Effect.runSync(b.restore(snap))
    expect(run(b, 11, 20)).toEqual(run(a, 11, 20))
    expect(b.snapshot()).toEqual(a.snapshot())
    const bad = Effect.runSync(Effect.either(make(dataset(10), 4, Pcl.defaults, Hashed.hashed()).restore(snap)))
    expect(bad._tag === "Left" && bad.left.message).toMatch(/dataset has 10/)
  })

  it("batchSize above the dataset at select time selects all of it and says so once", () => {
    const messages: Array<string> = []
    const logger = Logger.make(({ message }) =>
      messages.push(Array.isArray(message) ? message.join(" ") : String(message))
    )
    const ds = dataset(6)
    const c = make(ds, 1, Pcl.defaults, valueHead(() => 0.5).service)
    const program = Effect.gen(function*() {
      for (let step = 1; step <= 3; step++) {
        const batch = yield* c.select({ step, batchSize: 9, rng: Rng.make(1, step, "select") })
        expect([...batch].sort()).toEqual([0, 1, 2, 3, 4, 5])
      }
    })
    Effect.runSync(program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    expect(messages).toEqual(["pcl: batchSize 9 is larger than the dataset (6 problems); selecting all of them"])
  })
})

describe("Pcl plugin", () => {
  it("rejects bad options, naming the field", () => {
    const cases: Array<[Partial<Pcl.Config>, string, number?]> = [
      [{ k: 0.5 }, "pcl.k"],
      [{ k: 0 }, "pcl.k"],
      [{ k: Number.NaN }, "pcl.k"],
      [{ tau: -0.1 }, "pcl.tau"],
      [{ tau: 1.5 }, "pcl.tau"],
      [{ tau: Number.NaN }, "pcl.tau"],
      [{ target: "reward" as "passRate" }, "pcl.target"],
      [{ pool: "buffer" as "epoch" }, "pcl.pool"],
      [{ hashed: { bits: 40 } }, "pcl.hashed.bits"],
      [{}, "batchSize", 41]
    ]
    for (const [options, field, batchSize] of cases) {
      const result = Effect.runSync(Effect.either(build(options, 40, batchSize ?? 4)))
      expect(result._tag, field).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left).toBeInstanceOf(ConfigError)
        expect((result.left as ConfigError).field).toBe(field)
        expect(result.left.message).toContain(field)
      }
    }
    expect(Effect.runSync(Effect.either(build({}, 40, 40)))._tag).toBe("Right")
    expect(Effect.runSync(Effect.either(build({ tau: 0 })))._tag).toBe("Right")
    expect(Effect.runSync(Effect.either(build({ tau: 1, k: 1 })))._tag).toBe("Right")
  })

  it("m > pool: the message says why", () => {
    const result = Effect.runSync(Effect.either(build({}, 40, 41)))
    expect(result._tag === "Left" && result.left.message).toMatch(/batchSize.*at most the dataset size \(40\).*pool/)
  })

  it("takes the value model from the context when no option is given: a runtime head replaces the default", () => {
    const head = valueHead(() => 0.25)
    const c = Effect.runSync(build({}).pipe(Effect.provideService(ValueModel.ValueModel, head.service)))
    select(c, 1, 4)
    expect(Array.from(c.lastPool().values)).toEqual(new Array(16).fill(0.25))
    // An explicit option wins over the context; without either, the default hashed model (0.5 untrained).
    const mine = valueHead(() => 0.75)
    const d = Effect.runSync(
      build({ valueModel: mine.service }).pipe(Effect.provideService(ValueModel.ValueModel, head.service))
    )
    select(d, 1, 4)
    expect(Array.from(d.lastPool().values)).toEqual(new Array(16).fill(0.75))
    const e = Effect.runSync(build({}))
    select(e, 1, 4)
    expect(Array.from(e.lastPool().values)).toEqual(new Array(16).fill(0.5))
  })

  it("holds 4 bytes per problem plus the value model's fixed-size state", () => {
    const c = Effect.runSync(build({}, 10000, 64)) as Handle
    // the epoch order (4 bytes per problem), then weights, AdaGrad sums, gradient, marks and a touched list
    expect(c.stateBytes()).toBe(4 * 10000 + 2 ** 14 * (8 + 8 + 8 + 1) + 1024 * 4)
    expect(c.stateBytes() / 10000).toBeLessThanOrEqual(64)
  })
})
