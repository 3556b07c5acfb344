/**
 * AdaCuRL on the simulated learner, end to end through the pipeline:
 * the trainer sees `resetReference` exactly at merges and round starts (via
 * the plugin's hooks), the KL weight is 0 exactly for zero-variance groups,
 * the reward switches from format + accuracy to accuracy after T_f, and a run
 * interrupted after any step and resumed matches the uninterrupted run
 * byte for byte (metrics, competence, buffer, buckets, θ and θ_ref).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Metrics, Pipeline, Problem, Runtime } from "@zpd/core"
import { Part } from "@zpd/core"
import { Simulated } from "@zpd/gpu-runtime"
import { AdaCurl, Cdas, Sec } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { standardSuite } from "../examples/lib/tasks.ts"
import { tempDir } from "./helpers.ts"

const suite = standardSuite({ perLevel: 40 })
const train = suite.train
const STEPS = 30
const verifier = Tasks.verifier()

type Sampler = "uniform" | "sec" | "cdas"

const optionsFor = (_sampler: Sampler = "uniform"): AdaCurl.Options => ({
  verifier,
  fine: { samples: 16 },
  coarse: { quotas: { fractions: [0.8, 1, 0.8] } },
  window: 64,
  rounds: 2,
  roundSteps: 15,
  maxStepsPerStage: 8,
  formatUntil: 5
})

/** AdaCuRL alone, or its gate with SEC's bandit over the buckets, or with CDAS. */
const pluginFor = (sampler: Sampler, options: AdaCurl.Options) =>
  sampler === "uniform"
    ? AdaCurl.plugin(options)
    : AdaCurl.gate(options).pipe(
      Part.andThen(sampler === "sec" ? Sec.sampler({ arms: ["bucket"], temperature: 0.2 }) : Cdas.sampler()),
      Part.named(`adacurl+${sampler}`)
    )

const runOptions = { dataset: train, seed: 11, steps: STEPS, batchSize: 16, groupSize: 8, loss: { klCoef: 0.04 } }

/** The simulator with a trainer that records the step of every `resetReference` and every update request. */
const recording = (problems: ReadonlyArray<Problem.Problem>) => {
  const log = {
    resets: [] as Array<number>,
    updates: [] as Array<Runtime.TrainStepRequest>,
    sim: undefined as Simulated.Simulator | undefined
  }
  const layer = Layer.effectContext(
    Effect.sync(() => {
      const sim = Simulated.make(problems)
      log.sim = sim
      let step = 0
      const trainer: Runtime.TrainerRuntime.Service = {
        ...sim.trainer,
        update: (request) => {
          step = request.step
          log.updates.push(request)
          return sim.trainer.update(request)
        },
        resetReference: Effect.suspend(() => {
          log.resets.push(step)
          return sim.trainer.resetReference
        })
      }
      return Context.make(Runtime.InferenceRuntime, sim.inference).pipe(
        Context.add(Runtime.TrainerRuntime, trainer),
        Context.add(Runtime.Evaluator, sim.evaluator)
      )
    })
  )
  return { layer, log }
}

interface Observed {
  readonly step: number
  readonly record: Metrics.StepRecord
  readonly events: ReadonlyArray<{ readonly _tag: string }>
  readonly theta: ReadonlyArray<number>
  readonly thetaRef: ReadonlyArray<number>
}

const observe = (options: AdaCurl.Options) => {
  const { layer, log } = recording(suite.all)
  const seen: Array<Observed> = []
  return Effect.runPromise(
    Pipeline.stream(AdaCurl.pipeline(options), AdaCurl.plugin(options), runOptions).pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => {
          const { theta, thetaRef } = log.sim!.parameters()
          seen.push({ step: e.step, record: e.record, events: e.events, theta, thetaRef })
        })
      ),
      Effect.provide(layer)
    )
  ).then(() => ({ seen, log }))
}

describe("AdaCuRL through the pipeline (simulated learner)", () => {
  it("the trainer sees resetReference exactly at merges and round starts, after the step's update", async () => {
    const { seen, log } = await observe(optionsFor("uniform"))
    const resetting = seen.flatMap((s) =>
      s.events.filter((e) => e._tag === "BucketMerged" || e._tag === "RoundStarted").map(() => s.step)
    )
    const tags = seen.flatMap((s) => s.events.map((e) => e._tag))
    // The run exercises merges (natural and forced) and a second round.
    expect(tags.filter((t) => t === "BucketMerged").length).toBeGreaterThanOrEqual(3)
    expect(tags).toContain("RoundStarted")
    expect(log.resets).toEqual(resetting)
    expect(Metrics.lastOf(seen.map((s) => s.record), "ref_resets")).toBe(resetting.length)
    // θ_ref changes exactly at those steps, and then equals θ (copied after the update)
    seen.forEach((s, i) => {
      if (resetting.includes(s.step)) expect(s.thetaRef).toEqual(s.theta)
      else expect(s.thetaRef).toEqual(i === 0 ? Simulated.make(suite.all).parameters().thetaRef : seen[i - 1]!.thetaRef)
    })
    // the bucket metric moves exactly where merges are reported
    seen.forEach((s, i) => {
      const merged = s.events.some((e) => e._tag === "BucketMerged")
      const previous = i === 0 ? 1 : seen[i - 1]!.record["bucket"]!
      const restarted = s.events.some((e) => e._tag === "RoundStarted")
      if (!restarted) expect(s.record["bucket"]! > previous).toBe(merged)
    })
  })

  it("sparse KL: the weight is 0 exactly for zero-variance groups (1 otherwise); dense is 1 everywhere", async () => {
    for (const kl of ["sparse", "dense"] as const) {
      const { log } = await observe({ ...optionsFor("uniform"), kl })
      let zero = 0
      let mixed = 0
      const wrong: Array<string> = []
      for (const request of log.updates) {
        const groups = new Map<number, Array<Runtime.TrainSample>>()
        for (const s of request.samples) groups.set(s.group, [...(groups.get(s.group) ?? []), s])
        for (const samples of groups.values()) {
          // GRPO: every advantage of a group is 0 iff its rewards have zero variance
          const zeroVariance = samples.every((s) => s.advantages.every((a) => a === 0))
          if (zeroVariance) zero++
          else mixed++
          const expected = kl === "dense" || !zeroVariance ? 1 : 0
          for (const s of samples) {
            s.klWeight.forEach((w, t) => {
              if (w !== (s.lossMask[t] ? expected : 0)) {
                wrong.push(`step ${request.step} group ${s.group} token ${t}: ${w}`)
              }
            })
          }
        }
      }
      expect(wrong).toEqual([])
      expect(zero).toBeGreaterThan(0)
      expect(mixed).toBeGreaterThan(0)
    }
  })

  it("format + accuracy reward on steps 1..T_f (the format part = the well-formed fraction), accuracy only after", async () => {
    const { seen } = await observe(optionsFor("uniform"))
    for (const { record } of seen) {
      const shift = record["reward_mean"]! - record["pass_rate_mean"]!
      // Simulator v2 emits malformed completions (metric format_error_rate), which get no format reward.
      expect(shift).toBeCloseTo(record.step <= 5 ? 1 - record["format_error_rate"]! : 0, 12)
    }
    expect(seen.some(({ record }) => record.step <= 5 && record["format_error_rate"]! > 0)).toBe(true)
  })
})

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8")

const runTo = (sampler: Sampler, options: AdaCurl.Options, extra: Partial<Pipeline.RunOptions>) =>
  Effect.runPromise(
    Pipeline.run(AdaCurl.pipeline(options), pluginFor(sampler, options), { ...runOptions, ...extra }).pipe(
      Effect.provide(Simulated.layer(suite.all)),
      Effect.provide(NodeContext.layer)
    )
  )

describe("AdaCuRL resume", () => {
  for (const selector of ["uniform", "sec", "cdas"] as const) {
    it(`(${selector} sampler) interrupted after step k and resumed, the run matches the uninterrupted one`, async () => {
      const options = optionsFor(selector)
      const full = tempDir(`adacurl-full-${selector}`)
      const report = await runTo(selector, options, { out: full, checkpointEvery: 1 })
      const records = report.records
      const changes = records.filter((r, i) => i > 0 && r["bucket"] !== records[i - 1]!["bucket"]).map((r) => r.step)
      expect(changes.length).toBeGreaterThanOrEqual(2)
      expect(Metrics.lastOf(records, "round")).toBe(2)
      // interrupt at every merge (natural and forced), right after one, with a partly filled buffer, at the
      // round's end (15: round 2 was estimated in that step), and late
      const buffered = records.filter((r) => r["buffer_fill"]! > 0).map((r) => r.step)
      expect(buffered.length).toBeGreaterThanOrEqual(3)
      const ks = Array.from(new Set([1, ...changes, changes[0]! + 1, ...buffered.slice(0, 3), 15, 16, STEPS - 1]))
        .sort((a, b) => a - b)
      for (const k of ks) {
        const part = tempDir(`adacurl-part-${selector}-${k}`)
        await runTo(selector, options, { out: part, until: (r) => r.step >= k })
        expect(JSON.parse(read(part, "checkpoint/state.json")).step).toBe(k)
        const resumed = await runTo(selector, options, { resume: part })
        expect(resumed.resumedFrom).toBe(k)
        expect(read(part, "metrics.jsonl")).toBe(read(full, "metrics.jsonl"))
        // curriculum (cs, R_b, buckets, queues, round, exclusions) and trainer (θ, θ_ref) state
        expect(read(part, "checkpoint/state.json")).toBe(read(full, "checkpoint/state.json"))
      }
    })
  }
})
