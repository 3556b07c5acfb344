import { describe, expect, it } from "@effect/vitest"
import * as Advantage from "@zpd/core/Advantage"
import type * as Curriculum from "@zpd/core/Curriculum"
import { ConfigError } from "@zpd/core/Errors"
import * as Metrics from "@zpd/core/Metrics"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Runtime from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as AdaCurl from "../src/AdaCurl.ts"
import * as Sec from "../src/Sec.ts"
import { problem, scriptedRuntime, verifier } from "./support/scripted.ts"

// ---------------------------------------------------------------------------
// fixtures

/** Problem i solves with pass fraction ps[i]; ids q0, q1, … */
const datasetOf = (ps: ReadonlyArray<number>) => Problem.make("test", ps.map((p, i) => problem(`q${i}`, p)))

const context = (dataset: Problem.Dataset, extra: Partial<Curriculum.BuildContext> = {}): Curriculum.BuildContext => ({
  dataset,
  seed: 7,
  steps: 100,
  batchSize: 4,
  groupSize: 10,
  ...extra
})

/** The plugin's type asks for a TrainerRuntime (its hooks use one); building never touches it. */
const noTrainer = Layer.succeed(Runtime.TrainerRuntime, {
  update: () => Effect.die("unused"),
  resetReference: Effect.die("unused"),
  publishWeights: Effect.die("unused"),
  checkpoint: () => Effect.die("unused"),
  restore: () => Effect.die("unused")
})

const buildPlugin = <E, R>(
  plugin: Curriculum.Plugin<E, R>,
  dataset: Problem.Dataset,
  runtime = scriptedRuntime(),
  extra = {}
) =>
  plugin.build(context(dataset, extra)).pipe(
    Effect.provide(runtime.layer),
    Effect.provide(noTrainer)
  ) as Effect.Effect<Curriculum.Curriculum, E | ConfigError>

const build = (options: Partial<AdaCurl.Config>, dataset: Problem.Dataset, runtime = scriptedRuntime(), extra = {}) =>
  buildPlugin(AdaCurl.plugin({ verifier, fine: { samples: 10 }, ...options }), dataset, runtime, extra)

/** A group for problem `index` with `correct` of `g` responses correct (rewards = accuracy). */
const outcome = (dataset: Problem.Dataset, index: number, correct: number, g = 10): Curriculum.GroupOutcome => {
  const flags = Uint8Array.from({ length: g }, (_, i) => (i < correct ? 1 : 0))
  const rewards = Float64Array.from(flags)
  return {
    index,
    problem: dataset.problems[index]!,
    rewards,
    correct: flags,
    passRate: correct / g,
    advantages: Advantage.groupAdvantages(rewards)
  }
}

const select = (c: Curriculum.Curriculum, step: number, batchSize = 4) =>
  c.select({ step, batchSize, rng: Rng.make(7, step, "select") })

/** Nine problems with difficulty 0.1 … 0.9 (N = 10): D = q0..q8 in order, B_1 = q0-2, B_2 = q3-5, B_3 = q6-8. */
const nine = datasetOf(Array.from({ length: 9 }, (_, i) => Math.round((0.9 - 0.1 * i) * 10) / 10))

// ---------------------------------------------------------------------------

describe("AdaCurl.updateCompetence", () => {
  it("pins the spec's worked example: K=3, γ=0.5, r̄=0.8 gives cs 0 → 0.30 → 0.51 → merge B_2 → 1/3", () => {
    const cs1 = AdaCurl.updateCompetence(0, 0.8, 0.5)
    expect(cs1).toBeCloseTo(0.3, 12)
    expect(AdaCurl.shouldMerge(cs1, 2, 3)).toBe(false)
    const cs2 = AdaCurl.updateCompetence(cs1, 0.8, 0.5)
    expect(cs2).toBeCloseTo(0.51, 12)
    expect(AdaCurl.shouldMerge(cs2, 2, 3)).toBe(true)
    // after the merge cs = 1/3 and B_3 needs cs ≥ 2/3
    expect(AdaCurl.shouldMerge(0.66, 3, 3)).toBe(false)
    expect(AdaCurl.shouldMerge(2 / 3, 3, 3)).toBe(true)
    expect(AdaCurl.shouldMerge(1, 4, 3)).toBe(false)
  })

  it("uses the step factor max(1 − cs, γ) and clamps to [0, 1]", () => {
    expect(AdaCurl.updateCompetence(0.6, 0.9, 0.5)).toBeCloseTo(0.6 + 0.4 * 0.5, 12) // γ floor: max(0.4, 0.5)
    expect(AdaCurl.updateCompetence(0.2, 0.9, 0.5)).toBeCloseTo(0.2 + 0.4 * 0.8, 12) // 1 − cs: max(0.8, 0.5)
    expect(AdaCurl.updateCompetence(0.2, 0.3, 0.5)).toBeCloseTo(0.2 - 0.2 * 0.8, 12)
    expect(AdaCurl.updateCompetence(0.95, 1, 1)).toBe(1)
    expect(AdaCurl.updateCompetence(0.1, 0, 0.5)).toBe(0)
  })
})

describe("AdaCurl curriculum", () => {
  it.effect("reproduces the worked example through observe, merging B_2 then B_3 and resetting cs to (k−1)/K", () =>
    Effect.gen(function*() {
      const c = yield* build({ buckets: 3, gamma: 0.5, window: 10 }, nine)
      expect(c.metrics()).toMatchObject({
        competence: 0,
        bucket: 1,
        dc_size: 3,
        d_size: 9,
        buffer_fill: 0,
        ref_resets: 0
      })
      expect(c.metrics()["estimation_rollouts"]).toBe(9 * 10)
      const step = (n: number, index: number, correct: number) =>
        c.observe({ step: n, groups: [outcome(nine, index, correct)] })
      expect(yield* step(1, 0, 8)).toEqual([])
      expect(c.metrics()["competence"]).toBeCloseTo(0.3, 12)
      const merged = yield* step(2, 1, 8)
      expect(merged).toEqual([{ _tag: "BucketMerged", bucket: 2, round: 1, step: 2, forced: false }])
      expect(c.metrics()).toMatchObject({ competence: 1 / 3, bucket: 2, dc_size: 6, buffer_fill: 0, ref_resets: 1 })
      // B_1 samples no longer feed the buffer: only the newest bucket counts
      expect(yield* step(3, 2, 10)).toEqual([])
      expect(c.metrics()).toMatchObject({ competence: 1 / 3, buffer_fill: 0 })
      expect(yield* step(4, 3, 8)).toEqual([])
      expect(c.metrics()["competence"]).toBeCloseTo(1 / 3 + 0.3 * (2 / 3), 12)
      const third = yield* step(5, 4, 8)
      expect(third).toMatchObject([{ _tag: "BucketMerged", bucket: 3 }])
      expect(c.metrics()).toMatchObject({ competence: 2 / 3, bucket: 3, dc_size: 9, ref_resets: 2 })
      // after the last merge: cs keeps moving, no more merges or resets
      for (let s = 6; s < 10; s++) expect(yield* step(s, 6, 10)).toEqual([])
      expect(c.metrics()).toMatchObject({ bucket: 3, ref_resets: 2 })
    }))

  it.effect("the buffer holds accuracy (not format-shaped rewards), one entry per response, in windows of M", () =>
    Effect.gen(function*() {
      const c = yield* build({ window: 25 }, nine)
      // rewards include a format bonus of 1, accuracy is 3/10
      const g = outcome(nine, 0, 3)
      const shaped = { ...g, rewards: g.rewards.map((r) => r + 1) }
      yield* c.observe({ step: 1, groups: [shaped, shaped] })
      expect(c.metrics()["buffer_fill"]).toBe(20 / 25)
      yield* c.observe({ step: 2, groups: [shaped] })
      // window of 25: 25 entries with mean 7.5/25 = 0.3 → cs stays 0 (clamped); 5 left
      expect(c.metrics()["buffer_fill"]).toBe(5 / 25)
      expect(c.metrics()["competence"]).toBe(0)
      // without `correct`, round(passRate·G) ones are used
      const { correct: _, ...noFlags } = outcome(nine, 1, 10)
      yield* c.observe({ step: 3, groups: [noFlags] })
      expect(c.metrics()["buffer_fill"]).toBe(15 / 25)
    }))

  it.effect("at most one merge per window: a full buffer after a merge is cleared", () =>
    Effect.gen(function*() {
      const c = yield* build({ window: 10 }, nine)
      const events = yield* c.observe({ step: 1, groups: [0, 1, 2].map((i) => outcome(nine, i, 10)) })
      expect(events).toHaveLength(1)
      expect(c.metrics()).toMatchObject({ bucket: 2, buffer_fill: 0, competence: 1 / 3 })
    }))

  it.effect("maxStepsPerStage forces a merge when competence stalls", () =>
    Effect.gen(function*() {
      const c = yield* build({ window: 10, maxStepsPerStage: 3 }, nine)
      for (const s of [1, 2]) expect(yield* c.observe({ step: s, groups: [outcome(nine, 0, 2)] })).toEqual([])
      expect(yield* c.observe({ step: 3, groups: [outcome(nine, 0, 2)] })).toEqual([
        { _tag: "BucketMerged", bucket: 2, round: 1, step: 3, forced: true }
      ])
      expect(c.metrics()).toMatchObject({ bucket: 2, competence: 1 / 3 })
      for (const s of [4, 5]) yield* c.observe({ step: s, groups: [outcome(nine, 3, 2)] })
      expect(yield* c.observe({ step: 6, groups: [outcome(nine, 3, 2)] })).toMatchObject([{ bucket: 3, forced: true }])
      for (const s of [7, 8, 9]) expect(yield* c.observe({ step: s, groups: [outcome(nine, 6, 2)] })).toEqual([])
    }))

  it.effect("batches come from D_c only, uniformly without replacement, and the queue is rebuilt when D_c grows", () =>
    Effect.gen(function*() {
      const c = yield* build({ window: 10 }, nine)
      const first = [...(yield* select(c, 1, 3)), ...(yield* select(c, 2, 3))]
      expect(first.slice(0, 3).sort()).toEqual([0, 1, 2])
      expect(first.slice(3).sort()).toEqual([0, 1, 2])
      yield* c.observe({ step: 2, groups: [outcome(nine, 0, 10)] })
      expect(c.metrics()["bucket"]).toBe(2)
      const after = yield* select(c, 3, 6)
      expect([...after].sort()).toEqual([0, 1, 2, 3, 4, 5])
    }))

  it.effect("the SEC selector draws only unlocked buckets and learns Q per bucket", () =>
    Effect.gen(function*() {
      const c = yield* buildPlugin(
        AdaCurl.gate({ verifier, fine: { samples: 10 }, window: 10 }).pipe(
          Part.andThen(Sec.sampler({ arms: ["bucket"], temperature: 0.2 }))
        ),
        nine
      )
      expect(c.name).toBe("adacurl+sec")
      const early = yield* select(c, 1, 30)
      expect(early.every((i) => i <= 2)).toBe(true)
      yield* c.observe({ step: 1, groups: [outcome(nine, 0, 10), outcome(nine, 1, 10)] })
      expect(c.metrics()["bucket"]).toBe(2)
      const later = yield* select(c, 2, 60)
      expect(later.every((i) => i <= 5)).toBe(true)
      expect(later.some((i) => i >= 3)).toBe(true)
      yield* c.observe({ step: 2, groups: [outcome(nine, 3, 5), outcome(nine, 0, 10)] })
      const m = c.metrics()
      expect(m["sec_q_2"]).toBeGreaterThan(0)
      expect(m["sec_q_1"]).toBe(0) // all-correct group: |Â| = 0, and Q_1 started at 0
      expect(m["sec_p_3"]).toBeUndefined() // bucket 3 is not an arm until it unlocks
    }))

  it.effect("checkpoint: a curriculum built for resuming skips estimation and continues exactly after restore", () =>
    Effect.gen(function*() {
      const runtime = scriptedRuntime()
      const a = yield* build({ window: 10 }, nine, runtime)
      expect(runtime.requests.length).toBe(1)
      yield* select(a, 1)
      yield* a.observe({ step: 1, groups: [outcome(nine, 0, 7), outcome(nine, 1, 9)] })
      yield* select(a, 2)
      const snapshot = JSON.parse(JSON.stringify(a.snapshot()))
      const b = yield* build({ window: 10 }, nine, runtime, { resuming: true })
      expect(runtime.requests.length).toBe(1) // no estimation
      const notRestored = yield* Effect.exit(select(b, 3))
      expect(Exit.isFailure(notRestored)).toBe(true)
      yield* b.restore(snapshot)
      expect(b.metrics()).toEqual(a.metrics())
      for (let s = 3; s < 8; s++) {
        expect(yield* select(b, s)).toEqual(yield* select(a, s))
        const groups = [outcome(nine, s % 6, 9)]
        expect(yield* b.observe({ step: s, groups })).toEqual(yield* a.observe({ step: s, groups }))
        expect(b.metrics()).toEqual(a.metrics())
      }
      expect(JSON.stringify(b.snapshot())).toBe(JSON.stringify(a.snapshot()))
      // a checkpoint for another K does not restore
      const other = yield* build({ window: 10, buckets: 2 }, nine, runtime, { resuming: true })
      expect((yield* Effect.flip(other.restore(snapshot)))._tag).toBe("CheckpointError")
    }))

  it("resets the reference through hooks on BucketMerged and RoundStarted, or not at all", () => {
    const hooks = AdaCurl.plugin({ verifier }).hooks.map((h) => h.name)
    expect(hooks).toEqual(["adacurl-reset-reference-BucketMerged", "adacurl-reset-reference-RoundStarted"])
    expect(AdaCurl.plugin({ verifier, resetReference: false }).hooks).toEqual([])
  })
})

describe("Re-AdaCuRL", () => {
  it.effect("re-estimates with the updated policy, excludes round-1 items and items below 0.2, re-buckets, resets round state", () =>
    Effect.gen(function*() {
      // 12 problems. Round 1 pass rates: q0-q8 in range, q9-q11 unsolvable (d = 1, dropped).
      const ps = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0, 0, 0]
      const dataset = datasetOf(ps)
      let learned = false
      // After round 1 the policy got better: everything gains 0.5 (capped at 1).
      const runtime = scriptedRuntime((p) => {
        const base = p.metadata["p"] as number
        return learned ? Math.min(1, base + 0.5) : base
      })
      const c = yield* build({ window: 1000, rounds: 2, roundSteps: 3 }, dataset, runtime)
      const trained = new Set<number>()
      for (let s = 1; s <= 2; s++) {
        const batch = yield* select(c, s, 2)
        batch.forEach((i) => trained.add(i))
        expect(yield* c.observe({ step: s, groups: batch.map((i) => outcome(dataset, i, 5)) })).toEqual([])
      }
      expect(Array.from(trained).every((i) => i <= 2)).toBe(true) // round 1 trained only B_1 = q0..q2
      learned = true
      const batch = yield* select(c, 3, 2)
      batch.forEach((i) => trained.add(i))
      const events = yield* c.observe({ step: 3, groups: batch.map((i) => outcome(dataset, i, 5)) })
      // pool = 12 − trained; round-2 difficulty = 1 − min(1, p + 0.5): keep 0.2 ≤ d ≤ 0.95
      const pool = ps.map((_, i) => i).filter((i) => !trained.has(i))
      const kept = pool.filter((i) => {
        const d = 1 - Math.min(1, ps[i]! + 0.5)
        return d >= 0.2 - 1e-12 && d <= 0.95
      })
      expect(kept).toEqual(expect.arrayContaining([9, 10, 11])) // too hard in round 1, now d = 0.5
      expect(kept.some((i) => ps[i]! >= 0.4)).toBe(false) // now easy (d < 0.2): dropped
      expect(events).toEqual([{ _tag: "RoundStarted", round: 2, step: 3, size: kept.length }])
      const m = c.metrics()
      expect(m).toMatchObject({
        round: 2,
        competence: 0,
        bucket: 1,
        buffer_fill: 0,
        d_size: kept.length,
        ref_resets: 1
      })
      expect(m["estimation_rollouts"]).toBe(12 * 10 + pool.length * 10)
      // round 2 draws from B'_1 only, and never from round-1 items or dropped items
      const drawn = new Set(yield* select(c, 4, 30))
      for (const i of drawn) {
        expect(kept).toContain(i)
        expect(trained.has(i)).toBe(false)
      }
      // the last round does not end
      for (let s = 4; s < 12; s++) {
        const events = yield* c.observe({ step: s, groups: [outcome(dataset, kept[0]!, 5)] })
        expect(events.filter((e) => e._tag === "RoundStarted")).toEqual([])
      }
    }))

  it.effect("exclude: training-set leaves out all of round 1's D, merged or not", () =>
    Effect.gen(function*() {
      const ps = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0, 0, 0]
      const dataset = datasetOf(ps)
      let learned = false
      const runtime = scriptedRuntime((p) => (learned ? 0.5 : (p.metadata["p"] as number)))
      const c = yield* build(
        { window: 1000, rounds: 2, roundSteps: 1, reestimate: { keep: [0.2, 0.95], exclude: "training-set" } },
        dataset,
        runtime
      )
      learned = true
      const events = yield* c.observe({ step: 1, groups: [outcome(dataset, 0, 5)] })
      expect(events).toEqual([{ _tag: "RoundStarted", round: 2, step: 1, size: 3 }]) // only q9..q11
      expect(new Set(yield* select(c, 2, 20))).toEqual(new Set([9]))
    }))

  it.effect("stepsAfterLastMerge ends a round early once every bucket is merged; an empty D' skips the round", () =>
    Effect.gen(function*() {
      const runtime = scriptedRuntime((p) => (p.id === "q8" ? 1 : (p.metadata["p"] as number)))
      const c = yield* build(
        { window: 10, rounds: 2, roundSteps: 50, stepsAfterLastMerge: 1, maxStepsPerStage: 1 },
        nine,
        runtime
      )
      expect(yield* c.observe({ step: 1, groups: [outcome(nine, 0, 5)] })).toMatchObject([{ bucket: 2 }])
      expect(yield* c.observe({ step: 2, groups: [outcome(nine, 0, 5)] })).toMatchObject([{ bucket: 3 }])
      // One step after the last merge the round ends (not at roundSteps = 50). Only q0 was trained, so the
      // pool is q1..q8; q8 is now always solved (d = 0 < 0.2, dropped), q1..q7 have d = 0.2..0.8 (kept).
      const events = yield* c.observe({ step: 3, groups: [outcome(nine, 0, 5)] })
      expect(events).toMatchObject([{ _tag: "RoundStarted", round: 2 }])
      expect(c.metrics()["d_size"]).toBe(7)

      let solvedAll = false
      const none = scriptedRuntime((p) => (solvedAll ? 1 : (p.metadata["p"] as number)))
      const d = yield* build({ window: 1000, rounds: 2, roundSteps: 1 }, nine, none)
      solvedAll = true
      const skipped = yield* d.observe({ step: 1, groups: [outcome(nine, 0, 5)] })
      expect(skipped).toMatchObject([{ _tag: "RoundSkipped", round: 2 }])
      expect(d.metrics()).toMatchObject({ round: 1, d_size: 9 })
      expect(yield* d.observe({ step: 2, groups: [outcome(nine, 0, 5)] })).toEqual([])
    }))
})

describe("AdaCurl reward schedule", () => {
  const p = problem("x", 1)
  const right = "<answer>42</answer>"
  const wrong = "<answer>7</answer>"
  const unformatted = "42"

  it("format + accuracy on steps 1..T_f, accuracy only after", () => {
    const v = AdaCurl.reward({ verifier, formatUntil: 64 })
    expect(v(p, right, 1).reward).toBe(2)
    expect(v(p, wrong, 64).reward).toBe(1)
    expect(v(p, unformatted, 64).reward).toBe(0)
    expect(v(p, right, 65).reward).toBe(1)
    expect(v(p, wrong, 65).reward).toBe(0)
    expect(v(p, wrong, 65).correct).toBe(false)
    expect(AdaCurl.reward({ verifier, formatUntil: 0 })(p, wrong, 1).reward).toBe(0)
    expect(AdaCurl.reward({ verifier, formatWeight: 0.5 })(p, wrong, 1).reward).toBe(0.5)
  })

  it.effect("the reward stage scores with the schedule and records per-response correctness", () =>
    Effect.gen(function*() {
      const stage = AdaCurl.rewardStage({ verifier, formatUntil: 2 })
      const completion = (text: string, i: number): Runtime.Completion => ({
        promptId: "x",
        sampleIndex: i,
        text,
        promptTokenIds: [],
        tokenIds: [1],
        logprobs: [0],
        finishReason: "stop",
        policyVersion: 0
      })
      const groups = [{ index: 0, problem: p, completions: [right, wrong, unformatted].map(completion) }]
      const at = (step: number) => stage.run({ step, groups, metrics: new Metrics.Sink() })
      const early = yield* at(2)
      expect(Array.from(early.scored[0]!.rewards)).toEqual([2, 1, 0])
      expect(Array.from(early.scored[0]!.correct!)).toEqual([1, 0, 0])
      const late = yield* at(3)
      expect(Array.from(late.scored[0]!.rewards)).toEqual([1, 0, 0])
    }))

  it.effect("T_f < 0 fails the stage and the plugin with a ConfigError naming adacurl.formatUntil", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(
        AdaCurl.rewardStage({ verifier, formatUntil: -1 }).run({ step: 1, groups: [], metrics: new Metrics.Sink() })
      )
      expect(e.field).toBe("adacurl.formatUntil")
      const f = yield* Effect.flip(build({ formatUntil: -1 }, nine))
      expect((f as ConfigError).field).toBe("adacurl.formatUntil")
    }))
})

describe("AdaCurl config errors name the field", () => {
  const cases: ReadonlyArray<[string, Partial<AdaCurl.Config>, RegExp]> = [
    ["adacurl.gamma", { gamma: 0 }, /\(0, 1\].*got 0/],
    ["adacurl.gamma", { gamma: 1.5 }, /got 1\.5/],
    ["adacurl.gamma", { gamma: -0.2 }, /got -0\.2/],
    ["adacurl.formatUntil", { formatUntil: -1 }, /≥ 0/],
    ["adacurl.fine.samples", { fine: { samples: 0 } }, /≥ 1/],
    ["adacurl.buckets", { buckets: 0 }, /≥ 1/],
    ["adacurl.window", { window: 0 }, /≥ 1/],
    ["adacurl.rounds", { rounds: 0 }, /≥ 1/],
    ["adacurl.maxStepsPerStage", { maxStepsPerStage: 0 }, /≥ 1/],
    ["adacurl.coarse.quotas.fractions[1]", { coarse: { quotas: { fractions: [0.5, 1.01, 0.2] } } }, /100%/],
    ["adacurl.reestimate.keep", { reestimate: { keep: [0.5, 0.2], exclude: "trained" } }, /lo ≤ hi/]
  ]
  for (const [field, options, message] of cases) {
    it.effect(`${field}: ${JSON.stringify(options)}`, () =>
      Effect.gen(function*() {
        const runtime = scriptedRuntime()
        const e = yield* Effect.flip(build(options, nine, runtime))
        expect(e).toBeInstanceOf(ConfigError)
        expect((e as ConfigError).field).toBe(field)
        expect(e.message).toMatch(message)
        expect(runtime.requests.length).toBe(0) // nothing ran
      }))
  }

  it.effect("a bad option of a later part fails the build before the gate estimates anything", () =>
    Effect.gen(function*() {
      const runtime = scriptedRuntime()
      const hybrid = AdaCurl.gate({ verifier, fine: { samples: 10 } }).pipe(
        Part.andThen(Sec.sampler({ temperature: 0 }))
      )
      const e = yield* Effect.flip(buildPlugin(hybrid, nine, runtime))
      expect((e as ConfigError).field).toBe("sec.temperature")
      expect(runtime.requests.length).toBe(0)
    }))

  it.effect("γ = 1 is allowed", () => Effect.map(build({ gamma: 1 }, nine), (c) => expect(c.name).toBe("adacurl")))

  it.effect("K > |D| names adacurl.buckets with |D| after the filter", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(build({ buckets: 10 }, nine))
      expect((e as ConfigError).field).toBe("adacurl.buckets")
      expect(e.message).toMatch(/at most \|D\| = 9.*got 10/)
      // the filter drops q0 (d 0.1 → outside [0.2, 0.9]) and q8 … leaving 7 < 8
      const f = yield* Effect.flip(build({ buckets: 8, fine: { samples: 10, keep: [0.2, 0.8] } }, nine))
      expect(f.message).toMatch(/\|D\| = 7/)
    }))

  it.effect("an absolute coarse quota above its bin's size names the quota", () =>
    Effect.gen(function*() {
      // 5 coarse samples: c = round(5p) puts q7 and q8 (c = 1) in the interval {0, 1}
      const e = yield* Effect.flip(build({ coarse: { quotas: { counts: [3, 0, 0] } } }, nine))
      expect((e as ConfigError).field).toBe("adacurl.coarse.quotas.counts[0]")
      expect(e.message).toMatch(/at most 2, the size of interval 1.*got 3/)
    }))
})
