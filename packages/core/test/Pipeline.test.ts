import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { exactMatch, verify } from "@zpd/tasks/Task"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Checkpoint from "../src/Checkpoint.ts"
import * as Curriculum from "../src/Curriculum.ts"
import { ConfigError, RuntimeError } from "../src/Errors.ts"
import * as Hook from "../src/Hook.ts"
import * as Pipeline from "../src/Pipeline.ts"
import * as Problem from "../src/Problem.ts"
import * as Runtime from "../src/Runtime.ts"
import * as Stage from "../src/Stage.ts"
import * as Stages from "../src/Stages.ts"

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/** Four problems; answers alternate "1" and "2", levels 1..4. */
const dataset = Problem.make(
  "tiny",
  Array.from({ length: 4 }, (_, i): Problem.Problem => ({
    id: `p${i}`,
    prompt: `problem ${i}`,
    answer: i % 2 === 0 ? "1" : "2",
    level: i + 1,
    family: "test",
    metadata: {}
  }))
)

const verifier: Stages.Verifier = (problem, completion) => verify(exactMatch, problem, completion)

interface InferenceOptions {
  readonly logprobSemantics?: "processed" | "raw"
  /** Completions to drop from every response. */
  readonly drop?: number
  /** Swap the first and last completion of every response. */
  readonly swap?: boolean
}

/** Sample i of every prompt answers "1" when i is even and "0" otherwise. */
const inferenceLayer = (options: InferenceOptions = {}) => {
  const requests: Array<Runtime.GenerateRequest> = []
  const layer = Layer.succeed(Runtime.InferenceRuntime, {
    capabilities: { logprobSemantics: options.logprobSemantics ?? "processed", maxConcurrency: 1 },
    health: Effect.succeed({ ready: true, policyVersion: 0 }),
    generate: (request) =>
      Effect.sync(() => {
        requests.push(request)
        const out: Array<Runtime.Completion> = []
        for (const prompt of request.prompts) {
          for (let i = 0; i < request.n; i++) {
            out.push({
              promptId: prompt.promptId,
              sampleIndex: i,
              text: i % 2 === 0 ? "<answer>1</answer>" : "<answer>0</answer>",
              promptTokenIds: [7, 8],
              tokenIds: [1, 2, 3],
              logprobs: [-0.5, -0.25, -0.125],
              finishReason: "stop",
              policyVersion: 0
            })
          }
        }
        if (options.swap) [out[0], out[out.length - 1]] = [out[out.length - 1]!, out[0]!]
        return out.slice(0, out.length - (options.drop ?? 0))
      })
  })
  return { layer, requests }
}

/** Counts updates; the count is its whole state. */
const trainerLayer = () => {
  const state = { calls: 0, restored: [] as Array<number> }
  const samples: Array<ReadonlyArray<Runtime.TrainSample>> = []
  const layer = Layer.sync(Runtime.TrainerRuntime, () => ({
    update: (request) =>
      Effect.sync(() => {
        state.calls++
        samples.push(request.samples)
        return {
          step: request.step,
          policyVersion: state.calls,
          metrics: { loss: request.samples.length, kl_mean: 0, clipfrac: 0, grad_norm: state.calls * 10 }
        }
      }),
    resetReference: Effect.void,
    publishWeights: Effect.sync(() => state.calls),
    checkpoint: () => Effect.sync(() => ({ _tag: "Inline" as const, state: { calls: state.calls } })),
    restore: (checkpoint) =>
      Effect.sync(() => {
        if (checkpoint._tag === "Inline") state.calls = (checkpoint.state as { calls: number }).calls
        state.restored.push(state.calls)
        return state.calls
      })
  }))
  return { layer, state, samples }
}

const CursorState = Schema.mutable(Schema.Struct({ cursor: Schema.Int }))

interface CursorOptions {
  readonly name?: string
  /** Replaces the selection (e.g. to return an out-of-range index). */
  readonly select?: (batchSize: number) => ReadonlyArray<number>
  readonly hooks?: ReadonlyArray<Hook.Hook>
}

/** Walks the dataset in order; emits `Ping` on even steps. */
const cursorPlugin = (options: CursorOptions = {}) =>
  Curriculum.plugin(
    options.name ?? "cursor",
    (context) =>
      Effect.sync(() =>
        Curriculum.make({
          name: options.name ?? "cursor",
          state: CursorState,
          initial: { cursor: 0 },
          select: (state, request) => {
            if (options.select !== undefined) return options.select(request.batchSize)
            const n = context.dataset.problems.length
            const batch = Array.from({ length: request.batchSize }, (_, i) => (state.cursor + i) % n)
            state.cursor += request.batchSize
            return batch
          },
          observe: (_, observation) => (observation.step % 2 === 0 ? [{ _tag: "Ping", step: observation.step }] : []),
          metrics: (state) => ({ cursor: state.cursor })
        })
      ),
    options.hooks ?? []
  )

const pipeline = Pipeline.make("test", Stages.standard({ verifier }))

const baseOptions = { dataset, seed: 5, steps: 4, batchSize: 2, groupSize: 2 } as const

const layers = (inference = inferenceLayer(), trainer = trainerLayer()) =>
  Layer.mergeAll(inference.layer, trainer.layer, NodeContext.layer)

const tempDir = () => mkdtempSync(join(tmpdir(), "zpd-pipeline-"))

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8")

// ---------------------------------------------------------------------------
// Stream
// ---------------------------------------------------------------------------

describe("Pipeline.stream", () => {
  it.effect("emits one StepEvent per step, numbered 1..N, with the reward and advantage metrics", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      const events = yield* collect(Pipeline.stream(pipeline, cursorPlugin(), baseOptions)).pipe(
        Effect.provide(layers(inferenceLayer(), trainer))
      )
      expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4])
      for (const event of events) {
        expect(event.record.step).toBe(event.step)
        // Every batch holds one answer-"1" problem (rewards [1, 0]) and one answer-"2" problem ([0, 0]).
        expect(event.record["reward_mean"]).toBe(0.25)
        expect(event.record["pass_rate_mean"]).toBe(0.25)
        expect(event.record["frac_reward_zero_std"]).toBe(0.5)
        // G = 2, rewards [1, 0]: |Â| = 0.5 / (std + ε) with std = √0.5; the other group is 0.
        expect(event.record["adv_abs_mean"]).toBeCloseTo(0.5 / (Math.SQRT1_2 + 1e-6) / 2, 12)
        expect(event.record["effective_ratio"]).toBe(0.5)
        expect(event.record["kl_weight_mean"]).toBe(0.5)
        expect(event.record["batch_size"]).toBe(2)
        expect(event.record["rollouts_generated"]).toBe(4)
        expect(event.record["policy_version"]).toBe(event.step)
        expect(event.record["grad_norm"]).toBe(event.step * 10)
        expect(event.record["cursor"]).toBe(event.step * 2)
        expect(event.timings.has("select_ms")).toBe(true)
        expect(event.timings.has("rollout_ms")).toBe(true)
        expect(event.timings.has("step_ms")).toBe(true)
        // Timings stay out of the (deterministic) record.
        expect(Object.keys(event.record).some((k) => k.endsWith("_ms"))).toBe(false)
      }
      // Levels of problems 0,1 then 2,3 (cursor order) are 1,2 and 3,4.
      expect(events.map((e) => e.record["sampled_difficulty_mean"])).toEqual([1.5, 3.5, 1.5, 3.5])
      expect(trainer.state.calls).toBe(4)
    }))

  it.effect("trainer samples carry prompt ++ completion tokens, a completion-only loss mask and broadcast advantages", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      yield* collect(Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, steps: 1 })).pipe(
        Effect.provide(layers(inferenceLayer(), trainer))
      )
      const samples = trainer.samples[0]!
      expect(samples).toHaveLength(4)
      expect(samples.map((s) => s.promptId)).toEqual(["p0", "p0", "p1", "p1"])
      expect(samples.map((s) => s.group)).toEqual([0, 0, 1, 1])
      const a = 0.5 / (Math.SQRT1_2 + 1e-6)
      const [s0, s1, s2] = samples
      expect(s0!.tokenIds).toEqual([7, 8, 1, 2, 3])
      expect(s0!.lossMask).toEqual([false, false, true, true, true])
      expect(s0!.samplingLogprobs).toEqual([0, 0, -0.5, -0.25, -0.125])
      s0!.advantages.slice(2).forEach((x) => expect(x).toBeCloseTo(a, 12))
      expect(s0!.advantages.slice(0, 2)).toEqual([0, 0])
      s1!.advantages.slice(2).forEach((x) => expect(x).toBeCloseTo(-a, 12))
      expect(s2!.advantages).toEqual([0, 0, 0, 0, 0])
      // Sparse KL: the zero-variance group gets weight 0 on every token.
      expect(s0!.klWeight).toEqual([0, 0, 1, 1, 1])
      expect(s2!.klWeight).toEqual([0, 0, 0, 0, 0])
      expect(s0!.temperature).toBe(1)
    }))

  it.effect("requests are seeded per step and use the step's sampling settings", () =>
    Effect.gen(function*() {
      const inference = inferenceLayer()
      yield* collect(
        Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, steps: 2, sampling: { temperature: 0.7 } })
      ).pipe(Effect.provide(layers(inference)))
      expect(inference.requests.map((r) => r.requestId)).toEqual(["step-1-round-0", "step-2-round-0"])
      expect(inference.requests.map((r) => r.n)).toEqual([2, 2])
      expect(inference.requests[0]!.sampling.temperature).toBe(0.7)
      expect(inference.requests[0]!.sampling.seed).not.toBe(inference.requests[1]!.sampling.seed)
      expect(inference.requests[0]!.prompts.map((p) => p.promptId)).toEqual(["p0", "p1"])
    }))

  it.effect("hooks run once per step, in order (plugin's first), after the stages, and see curriculum events", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const pings: Array<{ readonly step: number; readonly event: unknown }> = []
      const marker = Stage.make("marker", (ctx: { readonly step: number }) =>
        Effect.sync(() => {
          log.push(`stages:${ctx.step}`)
          return {}
        }))
      const hook = (name: string) =>
        Hook.make(name, (end) =>
          Effect.sync(() => {
            log.push(`${name}:${end.step}`)
            expect(end.record.step).toBe(end.step)
            expect(end.record["reward_mean"]).toBe(0.25)
          }))
      const ping = Hook.onEvent("ping", "Ping", (event, end) =>
        Effect.sync(() => {
          log.push(`ping:${end.step}`)
          pings.push({ step: end.step, event })
        }))
      const withMarker = Pipeline.make(
        "hooks",
        Stages.standard({ verifier }).pipe(Stage.andThen(marker)),
        [hook("a"), hook("b")]
      )
      const withMore = Pipeline.withHooks(withMarker, ping)
      const events = yield* collect(
        Pipeline.stream(withMore, cursorPlugin({ hooks: [hook("plugin")] }), baseOptions)
      ).pipe(Effect.provide(layers()))
      expect(log).toEqual([
        "stages:1",
        "plugin:1",
        "a:1",
        "b:1",
        "stages:2",
        "plugin:2",
        "a:2",
        "b:2",
        "ping:2",
        "stages:3",
        "plugin:3",
        "a:3",
        "b:3",
        "stages:4",
        "plugin:4",
        "a:4",
        "b:4",
        "ping:4"
      ])
      expect(pings).toEqual([
        { step: 2, event: { _tag: "Ping", step: 2 } },
        { step: 4, event: { _tag: "Ping", step: 4 } }
      ])
      expect(events.map((e) => e.events)).toEqual([[], [{ _tag: "Ping", step: 2 }], [], [{ _tag: "Ping", step: 4 }]])
    }))

  it.effect("until stops after the first step whose record satisfies it", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      const events = yield* collect(
        Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, steps: 10, until: (r) => r["cursor"]! >= 4 })
      ).pipe(Effect.provide(layers(inferenceLayer(), trainer)))
      expect(events.map((e) => e.step)).toEqual([1, 2])
      expect(trainer.state.calls).toBe(2)
    }))

  it.effect("steps = 0 emits nothing and runs no stage", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      const events = yield* collect(Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, steps: 0 })).pipe(
        Effect.provide(layers(inferenceLayer(), trainer))
      )
      expect(events).toEqual([])
      expect(trainer.state.calls).toBe(0)
    }))

  it.effect("an evaluator scores held-out sets every `every` steps only (a line never depends on the budget)", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      const evaluator = Layer.succeed(Runtime.Evaluator, {
        accuracy: (problems) => Effect.sync(() => (calls.push(problems.length), problems.length / 10))
      })
      const events = yield* collect(
        Pipeline.stream(pipeline, cursorPlugin(), {
          ...baseOptions,
          steps: 5,
          eval: { sets: { held: dataset.problems.slice(0, 3) }, every: 2 }
        })
      ).pipe(Effect.provide(Layer.merge(layers(), evaluator)))
      expect(events.map((e) => e.record["acc_held"])).toEqual([undefined, 0.3, undefined, 0.3, undefined])
      expect(calls).toEqual([3, 3])
    }))
})

// ---------------------------------------------------------------------------
// Validation and runtime failures
// ---------------------------------------------------------------------------

describe("Pipeline validation", () => {
  const invalid: ReadonlyArray<readonly [string, Partial<Pipeline.StreamOptions>]> = [
    ["batchSize", { batchSize: 0 }],
    ["groupSize", { groupSize: 1.5 }],
    ["steps", { steps: -1 }],
    ["seed", { seed: 0.5 }],
    ["dataset", { dataset: Problem.make("empty", []) }],
    ["eval.every", { eval: { sets: {}, every: 0 } }]
  ]
  for (const [field, patch] of invalid) {
    it.effect(`invalid ${field} fails with a ConfigError naming it, before anything runs`, () =>
      Effect.gen(function*() {
        const trainer = trainerLayer()
        const error = yield* Effect.flip(
          collect(Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, ...patch }))
        ).pipe(Effect.provide(layers(inferenceLayer(), trainer)))
        expect(error).toBeInstanceOf(ConfigError)
        expect((error as ConfigError).field).toBe(field)
        expect(error.message).toContain(field)
        expect(trainer.state.calls).toBe(0)
        const viaRun = yield* Effect.flip(Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, ...patch })).pipe(
          Effect.provide(layers())
        )
        expect((viaRun as ConfigError).field).toBe(field)
      }))
  }

  it.effect("a curriculum selecting an out-of-range index dies with a message naming the curriculum", () =>
    Effect.gen(function*() {
      for (const bad of [[0, 4], [-1], [1.5]]) {
        const plugin = cursorPlugin({ name: "broken-cur", select: () => bad })
        const exit = yield* Effect.exit(collect(Pipeline.stream(pipeline, plugin, baseOptions))).pipe(
          Effect.provide(layers())
        )
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(Cause.isDie(exit.cause)).toBe(true)
          const defect = Option.getOrThrow(Cause.dieOption(exit.cause))
          const message = (defect as Error).message
          expect(message).toContain("broken-cur")
          expect(message).toContain(`selected index ${bad.at(-1)}`)
          expect(message).toContain("[0, 4)")
        }
      }
    }))

  it.effect("a runtime with raw logprobs is refused with RuntimeError reason Refused", () =>
    Effect.gen(function*() {
      const inference = inferenceLayer({ logprobSemantics: "raw" })
      const error = yield* Effect.flip(collect(Pipeline.stream(pipeline, cursorPlugin(), baseOptions))).pipe(
        Effect.provide(layers(inference))
      )
      expect(error).toBeInstanceOf(RuntimeError)
      expect((error as RuntimeError).reason).toBe("Refused")
      expect(error.message).toContain("processed")
      expect(inference.requests).toHaveLength(0)
    }))

  it.effect("top-p or top-k sampling is refused for training rollouts", () =>
    Effect.gen(function*() {
      for (const sampling of [{ topP: 0.9 }, { topK: 50 }]) {
        const error = yield* Effect.flip(
          collect(Pipeline.stream(pipeline, cursorPlugin(), { ...baseOptions, sampling }))
        ).pipe(Effect.provide(layers()))
        expect((error as RuntimeError).reason).toBe("Refused")
        expect(error.message).toContain("topP")
      }
    }))

  it.effect("a runtime returning the wrong number of completions fails with BadResponse", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      const error = yield* Effect.flip(collect(Pipeline.stream(pipeline, cursorPlugin(), baseOptions))).pipe(
        Effect.provide(layers(inferenceLayer({ drop: 1 }), trainer))
      )
      expect(error).toBeInstanceOf(RuntimeError)
      expect((error as RuntimeError).reason).toBe("BadResponse")
      expect(error.message).toContain("expected 4 completions")
      expect(error.message).toContain("got 3")
      expect(trainer.state.calls).toBe(0)
    }))

  it.effect("completions out of prompt order fail with BadResponse naming both prompts", () =>
    Effect.gen(function*() {
      const trainer = trainerLayer()
      const error = yield* Effect.flip(collect(Pipeline.stream(pipeline, cursorPlugin(), baseOptions))).pipe(
        Effect.provide(layers(inferenceLayer({ swap: true }), trainer))
      )
      expect(error).toBeInstanceOf(RuntimeError)
      expect((error as RuntimeError).reason).toBe("BadResponse")
      expect(error.message).toMatch(/completion 0 is for prompt "p\d"; expected "p\d"/)
      expect(trainer.state.calls).toBe(0)
    }))
})

// ---------------------------------------------------------------------------
// Run directory, checkpoints, resume
// ---------------------------------------------------------------------------

const withDirs = <A, E, R>(n: number, f: (dirs: ReadonlyArray<string>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Array.from({ length: n }, tempDir)),
    f,
    (dirs) => Effect.sync(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
  )

describe("Pipeline.run", () => {
  it.effect("writes metrics.jsonl (one line per step), timings.jsonl and a checkpoint", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const progress: Array<string> = []
        const report = yield* Pipeline.run(pipeline, cursorPlugin(), {
          ...baseOptions,
          out: dir!,
          onProgress: (line) => progress.push(line)
        }).pipe(Effect.provide(layers()))
        expect(report.pipeline).toBe("test")
        expect(report.curriculum).toBe("cursor")
        expect(report.resumedFrom).toBeUndefined()
        expect(report.out).toBe(dir)
        expect(report.records.map((r) => r.step)).toEqual([1, 2, 3, 4])
        const lines = read(dir!, "metrics.jsonl").split("\n").filter(Boolean)
        expect(lines).toHaveLength(4)
        expect(lines.map((l) => JSON.parse(l))).toEqual(report.records)
        expect(read(dir!, "metrics.jsonl").endsWith("\n")).toBe(true)
        const timings = read(dir!, "timings.jsonl").split("\n").filter(Boolean).map((l) => JSON.parse(l))
        expect(timings.map((t) => t.step)).toEqual([1, 2, 3, 4])
        expect(typeof timings[0].step_ms).toBe("number")
        const checkpoint = yield* Checkpoint.read(dir!)
        expect(checkpoint.step).toBe(4)
        expect(checkpoint.identity).toMatchObject({
          seed: 5,
          curriculum: cursorPlugin().identity,
          pipeline: "test",
          dataset: { name: "tiny", size: 4 },
          batchSize: 2,
          groupSize: 2
        })
        expect(checkpoint.identity.dataset.hash).toMatch(/^[0-9a-f]{64}$/)
        expect(checkpoint.curriculum).toEqual({ cursor: 8 })
        expect(checkpoint.trainer).toEqual({ _tag: "Inline", state: { calls: 4 } })
        expect(readdirSync(join(dir!, "checkpoint"))).toEqual(["state.json"])
        expect(progress).toHaveLength(4)
        expect(progress[0]).toContain("[cursor] step 1/4")
        expect(progress[0]).toContain("reward 0.250")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("without out, writes nothing and returns the records", () =>
    Effect.gen(function*() {
      const report = yield* Pipeline.run(pipeline, cursorPlugin(), baseOptions).pipe(Effect.provide(layers()))
      expect(report.out).toBeUndefined()
      expect(report.records).toHaveLength(4)
    }))

  it.effect("checkpoints every N steps and at the last step", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const seen: Array<number> = []
        yield* Pipeline.run(pipeline, cursorPlugin(), {
          ...baseOptions,
          steps: 5,
          checkpointEvery: 2,
          out: dir!,
          onProgress: () => {
            if (existsSync(Checkpoint.fileIn(dir!))) {
              seen.push(JSON.parse(readFileSync(Checkpoint.fileIn(dir!), "utf8")).step)
            } else seen.push(0)
          }
        }).pipe(Effect.provide(layers()))
        expect(seen).toEqual([0, 2, 2, 4, 5])
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("until stops early and checkpoints the stopping step", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const report = yield* Pipeline.run(pipeline, cursorPlugin(), {
          ...baseOptions,
          steps: 10,
          out: dir!,
          until: (r) => r.step === 3
        }).pipe(Effect.provide(layers()))
        expect(report.records.map((r) => r.step)).toEqual([1, 2, 3])
        expect(read(dir!, "metrics.jsonl").split("\n").filter(Boolean)).toHaveLength(3)
        expect((yield* Checkpoint.read(dir!)).step).toBe(3)
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resuming continues at step N+1 and ends byte-identical to an uninterrupted run", () =>
    withDirs(2, ([full, part]) =>
      Effect.gen(function*() {
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 6, out: full! }).pipe(
          Effect.provide(layers())
        )
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 3, out: part! }).pipe(
          Effect.provide(layers())
        )
        expect(read(part!, "metrics.jsonl").split("\n").filter(Boolean)).toHaveLength(3)
        const trainer = trainerLayer()
        const inference = inferenceLayer()
        const report = yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 6, resume: part! }).pipe(
          Effect.provide(layers(inference, trainer))
        )
        expect(report.resumedFrom).toBe(3)
        expect(report.out).toBe(part)
        expect(report.records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6])
        expect(inference.requests.map((r) => r.requestId)).toEqual([
          "step-4-round-0",
          "step-5-round-0",
          "step-6-round-0"
        ])
        expect(trainer.state.restored).toEqual([3])
        expect(trainer.state.calls).toBe(6)
        expect(read(part!, "metrics.jsonl")).toBe(read(full!, "metrics.jsonl"))
        expect(read(part!, "checkpoint/state.json")).toBe(read(full!, "checkpoint/state.json"))
        expect(read(part!, "timings.jsonl").split("\n").filter(Boolean).map((l) => JSON.parse(l).step)).toEqual([
          1,
          2,
          3,
          4,
          5,
          6
        ])
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resume discards metrics written after the checkpoint", () =>
    withDirs(2, ([full, part]) =>
      Effect.gen(function*() {
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 5, out: full! }).pipe(
          Effect.provide(layers())
        )
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 3, out: part! }).pipe(
          Effect.provide(layers())
        )
        // A crash after step 4 leaves step-4 metrics past the step-3 checkpoint, the last line torn.
        appendFileSync(join(part!, "metrics.jsonl"), "{\"step\":4,\"reward_mean\":999}\n{\"step\":5,")
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 5, resume: part! }).pipe(
          Effect.provide(layers())
        )
        expect(read(part!, "metrics.jsonl")).toBe(read(full!, "metrics.jsonl"))
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resume writes to out when given, leaving the resumed directory alone", () =>
    withDirs(3, ([full, part, fork]) =>
      Effect.gen(function*() {
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 4, out: full! }).pipe(
          Effect.provide(layers())
        )
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 2, out: part! }).pipe(
          Effect.provide(layers())
        )
        const before = read(part!, "metrics.jsonl")
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 4, resume: part!, out: fork! }).pipe(
          Effect.provide(layers())
        )
        expect(read(part!, "metrics.jsonl")).toBe(before)
        expect(read(fork!, "metrics.jsonl")).toBe(read(full!, "metrics.jsonl"))
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resuming with a different seed or batch size fails with a ConfigError naming the field", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        yield* Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, steps: 2, out: dir! }).pipe(
          Effect.provide(layers())
        )
        const before = read(dir!, "metrics.jsonl")
        for (
          const [field, patch] of [
            ["seed", { seed: 6 }],
            ["batchSize", { batchSize: 1 }],
            ["groupSize", { groupSize: 4 }],
            ["curriculum", {}]
          ] as const
        ) {
          const plugin = field === "curriculum" ? cursorPlugin({ name: "other" }) : cursorPlugin()
          const trainer = trainerLayer()
          const error = yield* Effect.flip(
            Pipeline.run(pipeline, plugin, { ...baseOptions, ...patch, steps: 4, resume: dir! })
          ).pipe(Effect.provide(layers(inferenceLayer(), trainer)))
          expect(error).toBeInstanceOf(ConfigError)
          expect((error as ConfigError).field).toBe(field)
          expect(error.message).toContain(field)
          expect(trainer.state.calls).toBe(0)
        }
        // A refused resume leaves the run directory as it was.
        expect(read(dir!, "metrics.jsonl")).toBe(before)
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resuming from a directory without a checkpoint fails with a CheckpointError", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Pipeline.run(pipeline, cursorPlugin(), { ...baseOptions, resume: join(dir!, "nope") })
        ).pipe(Effect.provide(layers()))
        expect(error._tag).toBe("CheckpointError")
        expect(error.message).toContain("nope")
      })).pipe(Effect.provide(NodeContext.layer)))
})

// ---------------------------------------------------------------------------
// Resume trust (a resume that cannot splice runs) and run-directory guards
// ---------------------------------------------------------------------------

/** A run that dies after `step` (as a kill would): its metrics are on disk, later ones are not. */
const killedAfter = (step: number) => (_: string, event: Pipeline.StepEvent) => {
  if (event.step === step) throw new Error(`killed after step ${step}`)
}

const runIn = (options: Partial<Pipeline.RunOptions>, plugin = cursorPlugin()) =>
  Pipeline.run(pipeline, plugin, { ...baseOptions, ...options }).pipe(Effect.provide(layers()))

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure")
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) throw new Error(`expected a failure, got ${Cause.pretty(exit.cause)}`)
    return failure.value as { readonly _tag: string; readonly message: string; readonly field?: string }
  })

describe("Pipeline.run resume trust", () => {
  it.effect("the stale-checkpoint sequence fails with a clear error instead of splicing two runs", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        // seed 1 to step 20, then a seed-2 run into the same directory.
        yield* runIn({ seed: 1, steps: 20, out: dir! })
        const refused = yield* failureOf(runIn({ seed: 2, steps: 30, out: dir! }))
        expect(refused.field).toBe("out")
        expect(refused.message).toContain("--overwrite")
        // With --overwrite the old checkpoint goes first; the new run is killed after 5 steps.
        const killed = yield* Effect.exit(
          runIn({ seed: 2, steps: 30, out: dir!, overwrite: true, onProgress: killedAfter(5) })
        )
        expect(Exit.isFailure(killed)).toBe(true)
        expect(read(dir!, "metrics.jsonl").trim().split("\n")).toHaveLength(5)
        const resumed = yield* failureOf(runIn({ seed: 1, steps: 30, resume: dir! }))
        expect(resumed._tag).toBe("CheckpointError")
        expect(resumed.message).toContain("no checkpoint")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a checkpoint left beside another run's metrics is refused (metrics digest)", () =>
    withDirs(2, ([dir, other]) =>
      Effect.gen(function*() {
        yield* runIn({ seed: 1, steps: 20, out: dir! })
        yield* runIn({ seed: 2, steps: 20, batchSize: 1, out: other! })
        // Another run's full metrics under this run's checkpoint: every step is there, the content is not.
        writeFileSync(join(dir!, "metrics.jsonl"), read(other!, "metrics.jsonl"))
        const error = yield* failureOf(runIn({ seed: 1, steps: 30, resume: dir! }))
        expect(error._tag).toBe("CheckpointError")
        expect(error.message).toContain("metrics.jsonl")
        expect(error.message).toContain("another run")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a missing or short metrics.jsonl is an error naming the file", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        yield* runIn({ steps: 4, out: dir! })
        const full = read(dir!, "metrics.jsonl")
        writeFileSync(join(dir!, "metrics.jsonl"), full.split("\n").slice(0, 2).join("\n") + "\n")
        const short = yield* failureOf(runIn({ steps: 6, resume: dir! }))
        expect(short.message).toContain("metrics.jsonl")
        expect(short.message).toContain("line 3 should hold step 3")
        rmSync(join(dir!, "metrics.jsonl"))
        const missing = yield* failureOf(runIn({ steps: 6, resume: dir! }))
        expect(missing.message).toContain("metrics.jsonl")
        expect(missing.message).toContain("missing")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("--steps below the checkpoint's step is an error naming steps; equal runs nothing", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        yield* runIn({ steps: 4, out: dir! })
        const error = yield* failureOf(runIn({ steps: 2, resume: dir! }))
        expect(error.field).toBe("steps")
        expect(error.message).toContain("checkpoint's step 4")
        const before = read(dir!, "metrics.jsonl")
        const report = yield* runIn({ steps: 4, resume: dir! })
        expect(report.records.map((r) => r.step)).toEqual([1, 2, 3, 4])
        expect(read(dir!, "metrics.jsonl")).toBe(before)
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("the same data under another path resumes; changed data under the same name is refused", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        yield* runIn({ steps: 2, out: dir! })
        const renamed = Problem.make("elsewhere/tiny.jsonl", dataset.problems)
        const report = yield* runIn({ steps: 3, resume: dir!, dataset: renamed })
        expect(report.resumedFrom).toBe(2)
        const changed = Problem.make("tiny", dataset.problems.map((p, i) => (i === 0 ? { ...p, answer: "9" } : p)))
        const error = yield* failureOf(runIn({ steps: 4, resume: dir!, dataset: changed }))
        expect(error.field).toBe("dataset")
        expect(error.message).toContain("sha256")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("the curriculum identity (plugin.identity when present) must match", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const withIdentity = (identity: string) => Object.assign(cursorPlugin(), { identity })
        yield* runIn({ steps: 2, out: dir! }, withIdentity("{\"sampler\":\"sec\",\"arms\":[\"level\"]}"))
        const error = yield* failureOf(
          runIn({ steps: 4, resume: dir! }, withIdentity("{\"sampler\":\"sec\",\"arms\":[\"bucket\"]}"))
        )
        expect(error.field).toBe("curriculum")
        expect(error.message).toContain("bucket")
        const plain = yield* failureOf(runIn({ steps: 4, resume: dir! }))
        expect(plain.field).toBe("curriculum")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("resuming at a step that is not an eval step writes exactly the uninterrupted run's lines", () =>
    withDirs(2, ([full, part]) =>
      Effect.gen(function*() {
        const evaluator = Layer.succeed(Runtime.Evaluator, {
          accuracy: (problems) => Effect.succeed(problems.length / 10)
        })
        const evalRun = (options: Partial<Pipeline.RunOptions>) =>
          Pipeline.run(pipeline, cursorPlugin(), {
            ...baseOptions,
            eval: { sets: { held: dataset.problems.slice(0, 3) }, every: 2 },
            ...options
          }).pipe(Effect.provide(Layer.merge(layers(), evaluator)))
        yield* evalRun({ steps: 6, out: full! })
        const first = yield* evalRun({ steps: 3, out: part! })
        // The last step (3) is scored for the report, not in metrics.jsonl.
        expect(first.final).toEqual({ step: 3, acc_held: 0.3 })
        expect(JSON.parse(read(part!, "metrics.jsonl").trim().split("\n")[2]!)).not.toHaveProperty("acc_held")
        yield* evalRun({ steps: 6, resume: part! })
        expect(read(part!, "metrics.jsonl")).toBe(read(full!, "metrics.jsonl"))
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a fresh run into a directory holding a checkpoint is refused unless overwrite; overwrite starts clean", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        yield* runIn({ steps: 4, out: dir! })
        const before = read(dir!, "metrics.jsonl")
        const error = yield* failureOf(runIn({ steps: 2, out: dir! }))
        expect(error.field).toBe("out")
        expect(read(dir!, "metrics.jsonl")).toBe(before)
        // An --overwrite run that fails validation removes nothing.
        expect((yield* failureOf(runIn({ steps: 2, out: dir!, overwrite: true, batchSize: 0 }))).field).toBe(
          "batchSize"
        )
        expect(existsSync(Checkpoint.fileIn(dir!))).toBe(true)
        yield* runIn({ steps: 2, seed: 9, out: dir!, overwrite: true })
        expect(read(dir!, "metrics.jsonl").trim().split("\n")).toHaveLength(2)
        expect((yield* Checkpoint.read(dir!)).identity.seed).toBe(9)
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("out pointing at a file, or empty, is an error naming out", () =>
    withDirs(1, ([dir]) =>
      Effect.gen(function*() {
        const file = join(dir!, "file")
        writeFileSync(file, "x")
        const error = yield* failureOf(runIn({ steps: 1, out: file }))
        expect(error.field).toBe("out")
        expect(error.message).toContain("a directory")
        expect((yield* failureOf(runIn({ steps: 1, out: "" }))).field).toBe("out")
        expect(readFileSync(file, "utf8")).toBe("x")
      })).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a batch larger than the dataset is refused naming batchSize, unless repeats are allowed", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(runIn({ batchSize: 5 }))
      expect(error.field).toBe("batchSize")
      expect(error.message).toContain("at most the dataset's 4 problems")
      const report = yield* runIn({ batchSize: 5, allowRepeats: true, steps: 1 })
      expect(report.records).toHaveLength(1)
    }))

  it.effect("checkpointEvery must be an integer ≥ 0", () =>
    Effect.gen(function*() {
      expect((yield* failureOf(runIn({ checkpointEvery: -1 }))).field).toBe("checkpointEvery")
    }))
})
