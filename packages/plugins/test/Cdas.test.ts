import { describe, expect, it } from "@effect/vitest"
import * as Advantage from "@zpd/core/Advantage"
import * as Columns from "@zpd/core/Columns"
import type * as Curriculum from "@zpd/core/Curriculum"
import { CheckpointError, ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as Cdas from "../src/Cdas.ts"

// ---------------------------------------------------------------------------
// helpers

const problem = (i: number): Problem.Problem => ({
  id: `p${i}`,
  prompt: `prompt ${i}`,
  answer: "0",
  level: 1 + (i % 3),
  family: "countdown",
  metadata: {}
})

const dataset = (n: number) => Problem.make("test", Array.from({ length: n }, (_, i) => problem(i)))

const sigma = (z: number) => 1 / (1 + Math.exp(-z))

/** A built CDAS curriculum with read access to its part's live state. */
interface Handle extends Curriculum.Curriculum {
  readonly competence: () => number
  readonly state: () => Cdas.State
  readonly stateBytes: () => number
  readonly alignedSelection: (count: number, skip?: (i: number) => boolean) => Array<number>
}

const make = (n: number, seed: number, config: Cdas.Config = Cdas.defaults): Handle => {
  const c = Effect.runSync(
    Cdas.plugin(config).build({ dataset: dataset(n), seed, steps: 1, batchSize: 1, groupSize: 1 })
  ) as Curriculum.Curriculum & { readonly stateBytes: () => number }
  const live = () => Part.inspect(c).get("cdas")! as Part.Live<Cdas.State, Cdas.Derived>
  const competence = () => Cdas.competence(live().state, live().derived.gated)
  return Object.assign(c, {
    competence,
    state: () => live().state,
    alignedSelection: (count: number, skip?: (i: number) => boolean) =>
      Cdas.alignedSelection(live().derived.index, competence(), count, config.oddSlot, skip)
  })
}

/** The joined checkpoint of a lone CDAS sampler holding `state`. */
const snapshotOf = (state: Cdas.State) => ({ cdas: { state: Schema.encodeSync(Cdas.State)(state) } })

/** An outcome with `correct` of `g` completions solved. */
const outcome = (index: number, passRate: number, g = 8): Curriculum.GroupOutcome => {
  const correct = Math.round(passRate * g)
  const rewards = Float64Array.from({ length: g }, (_, k) => (k < correct ? 1 : 0))
  return {
    index,
    problem: problem(index),
    rewards,
    passRate,
    advantages: Advantage.groupAdvantages(rewards)
  }
}

const observe = (c: Curriculum.Curriculum, step: number, groups: ReadonlyArray<Curriculum.GroupOutcome>) =>
  Effect.runSync(c.observe({ step, groups }))

const select = (c: Curriculum.Curriculum, step: number, batchSize: number, seed = 1) =>
  Effect.runSync(c.select({ step, batchSize, rng: Rng.make(seed, step, "select") }))

/** A CDAS curriculum restored into a post-warm-up state with these difficulties (C = −mean D). */
const withDifficulties = (difficulty: ReadonlyArray<number>, config: Partial<Cdas.Config> = {}) => {
  const n = difficulty.length
  const c = make(n, 1, { ...Cdas.defaults, ...config })
  const state: Cdas.State = {
    difficulty: Float64Array.from(difficulty),
    count: new Int32Array(n).fill(1),
    sum: difficulty.reduce((a, b) => a + b, 0),
    compensation: 0,
    rated: n,
    warmupOrder: new Int32Array(0),
    warmupCursor: 0,
    warmingUp: false
  }
  Effect.runSync(c.restore(snapshotOf(state)))
  return c
}

/** Runs the warm-up epoch with the given pass-rate function. Returns the steps taken. */
const warmUp = (c: Handle, batchSize: number, passRate: (i: number) => number) => {
  let step = 0
  while (c.state().warmingUp) {
    step++
    const batch = select(c, step, batchSize)
    observe(c, step, batch.map((i) => outcome(i, passRate(i))))
  }
  return step
}

const fullMean = (xs: Float64Array) => {
  // Exact to rounding: sum sorted by magnitude with Neumaier compensation.
  let s = 0
  let comp = 0
  for (const x of Array.from(xs).sort((a, b) => Math.abs(a) - Math.abs(b))) {
    const t = s + x
    comp += Math.abs(s) >= Math.abs(x) ? (s - t) + x : (x - t) + s
    s = t
  }
  return (s + comp) / xs.length
}

// ---------------------------------------------------------------------------

describe("Cdas math", () => {
  it("expected performance is σ(C − D) and instantaneous difficulty is expected − actual", () => {
    expect(Cdas.expected(0, 0)).toBe(0.5)
    expect(Cdas.expected(0.3, -0.2)).toBeCloseTo(sigma(0.5), 15)
    expect(Cdas.instantaneous(0.3, -0.2, 0.25)).toBeCloseTo(sigma(0.5) - 0.25, 15)
    // harder than expected ⇒ d > 0; easier ⇒ d < 0
    expect(Cdas.instantaneous(0, 0, 0)).toBe(0.5)
    expect(Cdas.instantaneous(0, 0, 1)).toBe(-0.5)
  })

  it("running mean, priorCount 0 (paper): D_k = mean(d_1..d_k)", () => {
    const ds = [0.3, -0.1, 0.5, 0.2]
    let D = 0
    const got = ds.map((d, k) => (D = Cdas.runningMean(D, d, k + 1, 0)))
    const want = [0.3, 0.1, 0.7 / 3, 0.9 / 4]
    got.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 15))
  })

  it("running mean, priorCount 1 (code): D_k = (0 + d_1 + … + d_k)/(k + 1)", () => {
    const ds = [0.3, -0.1, 0.5, 0.2]
    let D = 0
    const got = ds.map((d, k) => (D = Cdas.runningMean(D, d, k + 1, 1)))
    const want = [0.15, 0.2 / 3, 0.7 / 4, 0.9 / 5]
    got.forEach((x, k) => expect(x).toBeCloseTo(want[k]!, 15))
    // The code's literal formula, sampled_step = len(history) + 1 with history = [0.0, …].
    let prev = 0
    ds.forEach((d, k) => {
      const step = k + 2
      prev = ((step - 1) / step) * prev + (1 / step) * d
      expect(got[k]).toBe(prev)
    })
  })

  it("side targets: h = ⌊B/2⌋ each, the odd slot per oddSlot", () => {
    expect(Cdas.sideTargets(8, "harder")).toEqual({ easier: 4, harder: 4 })
    expect(Cdas.sideTargets(7, "harder")).toEqual({ easier: 3, harder: 4 })
    expect(Cdas.sideTargets(7, "easier")).toEqual({ easier: 4, harder: 3 })
    expect(Cdas.sideTargets(7, "none")).toEqual({ easier: 3, harder: 3 })
    expect(Cdas.sideTargets(1, "harder")).toEqual({ easier: 0, harder: 1 })
  })
})

describe("Cdas updates through the curriculum", () => {
  for (const priorCount of [0, 1] as const) {
    it(`rates the sampled problems with the pre-step C and D (priorCount ${priorCount})`, () => {
      const c = make(4, 1, { ...Cdas.defaults, priorCount })
      // Warm-up with B = 4 is one step: all four problems.
      const batch = select(c, 1, 4)
      expect([...batch].sort()).toEqual([0, 1, 2, 3])
      const s1 = [1, 0, 0.5, 0.25]
      observe(c, 1, [0, 1, 2, 3].map((i) => outcome(i, s1[i]!)))
      const n1 = 1 + priorCount
      const D1 = s1.map((s) => (0.5 - s) / n1) // d = σ(0 − 0) − s, first rating
      expect(Array.from(c.state().difficulty)).toEqual(D1.map((d) => d + 0))
      const C1 = -D1.reduce((a, b) => a + b, 0) / 4
      expect(c.competence()).toBeCloseTo(C1, 15)
      expect(c.state().warmingUp).toBe(false)
      // Step 2 rates problems 0 and 2 only: both with C1 and their step-1 D.
      observe(c, 2, [outcome(0, 0), outcome(2, 1)])
      const n2 = 2 + priorCount
      const D2 = [...D1]
      D2[0] = ((n2 - 1) / n2) * D1[0]! + (sigma(C1 - D1[0]!) - 0) / n2
      D2[2] = ((n2 - 1) / n2) * D1[2]! + (sigma(C1 - D1[2]!) - 1) / n2
      Array.from(c.state().difficulty).forEach((d, i) => expect(d).toBeCloseTo(D2[i]!, 14))
      expect(Array.from(c.state().count)).toEqual([2, 1, 2, 1])
      const C2 = -D2.reduce((a, b) => a + b, 0) / 4
      expect(c.competence()).toBeCloseTo(C2, 14)
      const m = c.metrics()
      expect(m["competence"]).toBeCloseTo(C2, 14)
      expect(m["cdas_delta_competence"]).toBeCloseTo(Math.abs(C2 - C1), 14)
      expect(m["cdas_delta_difficulty_mean"]).toBeCloseTo(
        (Math.abs(D2[0]! - D1[0]!) + Math.abs(D2[2]! - D1[2]!)) / 2,
        14
      )
      expect(m["cdas_alignment_mean"]).toBeCloseTo((Math.abs(C1 - D1[0]!) + Math.abs(C1 - D1[2]!)) / 2, 14)
    })
  }

  it("the incremental competence equals −mean(D) over the whole set after many steps", () => {
    const n = 3000
    const c = make(n, 5, Cdas.defaults)
    const rng = new Rng.Rng(99)
    const latent = Float64Array.from({ length: n }, () => rng.next())
    warmUp(c, 128, (i) => Math.round(latent[i]! * 8) / 8)
    for (let step = 100; step < 1100; step++) {
      const batch = select(c, step, 128)
      observe(c, step, batch.map((i) => outcome(i, Math.round(Math.min(1, latent[i]! * (1 + step / 500)) * 8) / 8)))
    }
    const full = -fullMean(c.state().difficulty)
    expect(Math.abs(c.competence() - full)).toBeLessThan(1e-15)
    expect(c.state().count.reduce((a, b) => a + b, 0)).toBe(24 * 128 + 1000 * 128)
  })

  it("a problem twice in one observation is rated twice, both times with the pre-step D", () => {
    const c = withDifficulties([0.1, -0.1], { priorCount: 0 })
    const C = c.competence()
    observe(c, 5, [outcome(0, 1), outcome(0, 0)])
    const d1 = sigma(C - 0.1) - 1
    const d2 = sigma(C - 0.1) - 0
    const D = ((1 / 2) * 0.1 + d1 / 2) * (2 / 3) + d2 / 3
    expect(c.state().difficulty[0]).toBeCloseTo(D, 15)
    expect(c.state().count[0]).toBe(3)
    expect(c.competence()).toBeCloseTo(-(D - 0.1) / 2, 15)
    expect(c.alignedSelection(2)).toHaveLength(2)
  })

  it("unratedSteps skips rating the first steps (the code's warmup_steps = 1)", () => {
    const c = make(8, 1, Cdas.released)
    const b1 = select(c, 1, 4)
    observe(c, 1, b1.map((i) => outcome(i, 1)))
    expect(Array.from(c.state().count)).toEqual(new Array(8).fill(0))
    const b2 = select(c, 2, 4)
    observe(c, 2, b2.map((i) => outcome(i, 1)))
    expect(c.state().count.reduce((a, b) => a + b, 0)).toBe(4)
  })
})

describe("Cdas symmetric selection", () => {
  // C = −mean(D) = 0 for these difficulties.
  const D = [-0.3, 0.2, -0.1, 0.0, 0.4, 0.1, -0.2, 0.3, -0.4, 0.0]

  it("takes ⌊B/2⌋ closest easier (D ≤ C, D descending) and ⌊B/2⌋ closest harder (D > C, ascending)", () => {
    const c = withDifficulties(D)
    expect(c.competence()).toBeCloseTo(0, 15)
    // easier side by closeness: 3 (0.0), 9 (0.0, tie → dataset order), 2 (−0.1), 6 (−0.2), 0, 8
    // harder side: 5 (0.1), 1 (0.2), 7 (0.3), 4 (0.4)
    expect(select(c, 1, 4)).toEqual([3, 9, 5, 1])
    expect(select(c, 1, 6)).toEqual([3, 9, 2, 5, 1, 7])
  })

  it("odd B: the extra slot goes to the harder side by default, to the easier side or nowhere on request", () => {
    expect(select(withDifficulties(D), 1, 5)).toEqual([3, 9, 5, 1, 7])
    expect(select(withDifficulties(D, { oddSlot: "easier" }), 1, 5)).toEqual([3, 9, 2, 5, 1])
    expect(select(withDifficulties(D, { oddSlot: "none" }), 1, 5)).toEqual([3, 9, 5, 1])
  })

  it("a short harder side is filled from the easier side, and vice versa", () => {
    // Only 4 problems are harder: B = 10 takes all 4 and 6 easier ones.
    expect(select(withDifficulties(D), 1, 10)).toEqual([3, 9, 2, 6, 0, 8, 5, 1, 7, 4])
    expect(select(withDifficulties(D), 1, 9)).toEqual([3, 9, 2, 6, 0, 5, 1, 7, 4])
    // C = −mean(D) = 0.0375: only problems 6 (−0.5) and 0 (−1) are easier.
    const skewed = [-1, 0.1, 0.2, 0.3, 0.4, 0.15, -0.5, 0.05]
    const c = withDifficulties(skewed)
    expect(c.competence()).toBeCloseTo(0.0375, 15)
    expect(select(c, 1, 6)).toEqual([6, 0, 7, 1, 5, 2])
    expect(select(c, 1, 7)).toEqual([6, 0, 7, 1, 5, 2, 3])
    expect(select(c, 1, 8)).toEqual([6, 0, 7, 1, 5, 2, 3, 4])
  })

  it("property: selection equals the brute-force sort on random states, B and oddSlot", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.integer({ min: -6, max: 6 }), { minLength: 1, maxLength: 80 }),
        FastCheck.integer({ min: 0, max: 90 }),
        FastCheck.constantFrom("harder" as const, "easier" as const, "none" as const),
        FastCheck.constantFrom(4, 8, 512),
        (grid, batchSize, oddSlot, indexBlockSize) => {
          const d = grid.map((x) => x / 8 + 0)
          const c = withDifficulties(d, { oddSlot, indexBlockSize })
          const { easier, harder } = Cdas.sideTargets(Math.min(batchSize, d.length), oddSlot)
          const want = Cdas.symmetricReference(d, c.competence(), easier, harder)
          expect(c.alignedSelection(Math.min(batchSize, d.length))).toEqual(want)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("property: after random steps the index-based selection still equals the brute-force sort", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 2 ** 31 - 1 }),
        FastCheck.integer({ min: 5, max: 120 }),
        FastCheck.integer({ min: 1, max: 40 }),
        FastCheck.constantFrom(0 as const, 1 as const),
        (seed, n, batchSize, priorCount) => {
          const c = make(n, seed, { ...Cdas.defaults, priorCount, indexBlockSize: 4 })
          const rng = new Rng.Rng(seed)
          for (let step = 1; step <= 30; step++) {
            const warm = c.state().warmingUp
            const batch = select(c, step, batchSize)
            if (!warm) {
              const { easier, harder } = Cdas.sideTargets(Math.min(batchSize, n), "harder")
              expect(batch).toEqual(Cdas.symmetricReference(c.state().difficulty, c.competence(), easier, harder))
            }
            expect(new Set(batch).size).toBe(batch.length)
            // Pass rates on the G = 8 grid, so ties in D are common.
            observe(c, step, batch.map((i) => outcome(i, rng.int(9) / 8)))
          }
        }
      ),
      { numRuns: 60 }
    )
  })
})

describe("Cdas warm-up", () => {
  it("rates every problem once in the first epoch, in full batches (fill)", () => {
    const n = 103
    const c = make(n, 3, Cdas.defaults)
    const seen: Array<number> = []
    let step = 0
    while (c.state().warmingUp) {
      step++
      const batch = select(c, step, 10)
      expect(batch).toHaveLength(10)
      expect(new Set(batch).size).toBe(10)
      seen.push(...batch)
      observe(c, step, batch.map((i) => outcome(i, (i % 9) / 8)))
    }
    expect(step).toBe(11)
    // The first 103 served are a permutation of the dataset; the last batch adds 7 rated ones.
    expect(new Set(seen.slice(0, 103)).size).toBe(103)
    expect(Array.from(c.state().count).every((t) => t >= 1)).toBe(true)
    expect(c.metrics()["cdas_rated_fraction"]).toBe(1)
    expect(c.state().warmupOrder).toHaveLength(0)
  })

  it("short: the last warm-up batch holds the remainder only; drop: the remainder is never served", () => {
    const short = make(23, 3, { ...Cdas.defaults, warmupRemainder: "short" })
    const sizes: Array<number> = []
    for (let step = 1; short.state().warmingUp; step++) {
      const batch = select(short, step, 10)
      sizes.push(batch.length)
      observe(short, step, batch.map((i) => outcome(i, 0.5)))
    }
    expect(sizes).toEqual([10, 10, 3])
    expect(Array.from(short.state().count).every((t) => t === 1)).toBe(true)

    const drop = make(23, 3, { ...Cdas.defaults, warmupRemainder: "drop" })
    for (let step = 1; step <= 3; step++) {
      const batch = select(drop, step, 10)
      expect(batch).toHaveLength(10)
      observe(drop, step, batch.map((i) => outcome(i, 0.5)))
    }
    expect(drop.state().warmingUp).toBe(false)
  })

  it("is a seeded permutation: same seed, same order; another seed, another", () => {
    const a = make(50, 1, Cdas.defaults)
    const b = make(50, 1, Cdas.defaults)
    const d = make(50, 2, Cdas.defaults)
    expect(select(a, 1, 20)).toEqual(select(b, 1, 20))
    expect(select(a, 2, 20)).not.toEqual(select(d, 2, 20))
  })
})

describe("Cdas plugin", () => {
  const build = (options: Partial<Cdas.Config>, n = 10, batchSize = 4) =>
    Effect.runSync(
      Effect.either(Cdas.plugin(options).build({ dataset: dataset(n), seed: 1, steps: 10, batchSize, groupSize: 8 }))
    )

  it("rejects bad options, naming the field", () => {
    const cases: Array<[Partial<Cdas.Config>, string]> = [
      [{ priorCount: 2 as 0 }, "cdas.priorCount"],
      [{ oddSlot: "both" as "none" }, "cdas.oddSlot"],
      [{ warmupRemainder: "keep" as "fill" }, "cdas.warmupRemainder"],
      [{ unratedSteps: -1 }, "cdas.unratedSteps"],
      [{ unratedSteps: 0.5 }, "cdas.unratedSteps"],
      [{ indexBlockSize: 2 }, "cdas.indexBlockSize"]
    ]
    for (const [options, field] of cases) {
      const result = build(options)
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") {
        expect(result.left).toBeInstanceOf(ConfigError)
        expect((result.left as ConfigError).field).toBe(field)
        expect(result.left.message).toContain(field)
      }
    }
    expect(build({})._tag).toBe("Right")
  })

  it("B larger than the dataset selects the whole set every step and says so once", () => {
    const messages: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      messages.push(`${logLevel.label}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    const c = make(6, 1, Cdas.defaults)
    const program = Effect.gen(function*() {
      for (let step = 1; step <= 4; step++) {
        const batch = yield* c.select({ step, batchSize: 10, rng: Rng.make(1, step, "select") })
        expect([...batch].sort()).toEqual([0, 1, 2, 3, 4, 5])
        yield* c.observe({ step, groups: batch.map((i) => outcome(i, 0.5)) })
      }
    })
    Effect.runSync(program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    expect(messages).toHaveLength(1)
    expect(messages[0]).toMatch(
      /^WARN: cdas: batchSize 10 is larger than the dataset \(6 problems\); selecting the whole dataset/
    )
  })

  it("snapshot → restore into a fresh curriculum continues identically", () => {
    const n = 200
    const a = make(n, 4, Cdas.defaults)
    const rng = new Rng.Rng(4)
    const latent = Float64Array.from({ length: n }, () => rng.next())
    const pass = (i: number, step: number) => Math.round(Math.min(1, latent[i]! + step / 100) * 8) / 8
    for (let step = 1; step <= 15; step++) observe(a, step, select(a, step, 32).map((i) => outcome(i, pass(i, step))))
    const snap = JSON.parse(JSON.stringify(a.snapshot()))
    const b = make(n, 4, Cdas.defaults)
    Effect.runSync(b.restore(snap))
    expect(b.competence()).toBe(a.competence())
    for (let step = 16; step <= 30; step++) {
      const ba = select(a, step, 32)
      expect(select(b, step, 32)).toEqual(ba)
      observe(a, step, ba.map((i) => outcome(i, pass(i, step))))
      observe(b, step, ba.map((i) => outcome(i, pass(i, step))))
      expect(b.metrics()).toEqual(a.metrics())
    }
    expect(b.snapshot()).toEqual(a.snapshot())
  })

  it("restore refuses a state for another dataset size or one that does not decode", () => {
    const a = make(20, 1, Cdas.defaults)
    const b = make(21, 1, Cdas.defaults)
    const wrongSize = Effect.runSync(Effect.either(b.restore(a.snapshot())))
    expect(wrongSize._tag === "Left" && wrongSize.left).toBeInstanceOf(CheckpointError)
    expect(wrongSize._tag === "Left" && wrongSize.left.message).toMatch(/dataset has 21/)
    const garbage = Effect.runSync(Effect.either(b.restore({ cdas: { state: { difficulty: 3 } } })))
    expect(garbage._tag === "Left" && garbage.left.message).toMatch(/does not decode/)
  })

  it("holds at most 64 bytes of state per problem, before and after the warm-up", () => {
    const n = 20000
    const c = make(n, 1, Cdas.defaults)
    expect(c.stateBytes() / n).toBeLessThanOrEqual(64)
    warmUp(c, 1024, (i) => (i % 9) / 8)
    for (let step = 100; step < 130; step++) observe(c, step, select(c, step, 1024).map((i) => outcome(i, (i % 7) / 8)))
    expect(c.stateBytes() / n).toBeLessThanOrEqual(64)
    // D (8) + t (4) + index (≤ 24) once the warm-up order is gone.
    expect(c.stateBytes() / n).toBeLessThanOrEqual(36.5)
    expect(Columns.byteSize([c.state().difficulty, c.state().count])).toBe(12 * n)
  })
})
