/**
 * The real GPU runtime on a CPU: zpd's PyTorch worker (packages/gpu-runtime/worker)
 * spawned by the TS side, driven through the HTTP inference client and the HTTP
 * trainer. Needs a Python with PyTorch and transformers: ZPD_PYTHON, else the
 * repository's .venv (`npm run python:env`; `npm test` builds it first).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Checkpoint, Metrics, Pipeline, Stages } from "@zpd/core"
import type { RuntimeError } from "@zpd/core/Errors"
import { type Completion, InferenceRuntime, TrainerRuntime, type TrainStepResult } from "@zpd/core/Runtime"
import { HttpInference, HttpTrainer, SuffixSumTask, TinyTask, Worker } from "@zpd/gpu-runtime"
import { Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import process from "node:process"
import { describe, expect, it } from "vitest"
import { minEntropy, neuralRun } from "../examples/lib/neural.ts"
import { tempDir } from "./helpers.ts"

const python = process.env.ZPD_PYTHON ?? (existsSync(Worker.venvPython) ? Worker.venvPython : "python3")

/**
 * Runs a command to its end without blocking this test worker's event loop (a long spawnSync
 * starves vitest's RPC: "Timeout calling onTaskUpdate").
 */
const execAsync = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      file,
      args,
      { encoding: "utf8", env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  )

const platform = Layer.merge(NodeContext.layer, FetchHttpClient.layer)
const run = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(Effect.provide(Effect.scoped(effect), platform) as Effect.Effect<A, E>)

const worker = (options: Worker.LayerOptions = {}) => Worker.layer({ python, threads: 1, seed: 1, ...options })
const suite = TinyTask.suite()
const pipeline = Pipeline.make("sec", Stages.standard({ verifier: TinyTask.verifier, kl: "sparse" }))
const sec = () => Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 })
const runOptions = { dataset: suite.train, batchSize: 8, groupSize: 8, sampling: TinyTask.sampling } as const
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

describe("GRPO through the PyTorch worker (CPU)", () => {
  it("the neural task: the warm start teaches level 1, then GRPO lifts its held-out accuracy further", async () => {
    // The first 40 steps of bench/neural.ts's random run on seed 1; the bench runs 400 steps over several seeds.
    // (Level 2 alone does not move in 40 steps: it needs level 1's skill first, which is the point of the task.)
    const STEPS = 40
    const { initial, report, warmStart } = await run(neuralRun({ curriculum: "random", seed: 1, steps: STEPS, python }))
    const r = report.records
    const [before, after] = [initial!["acc_id_L1"]!, Metrics.lastOf(r, "acc_id_L1")]
    console.log(
      `neural task: warm start ${warmStart!.steps} steps (expected L1 ${warmStart!.checkAccuracy.toFixed(3)}), loss ${
        warmStart!.lossFirst.toFixed(3)
      } → ${warmStart!.lossLast.toFixed(3)}; ` +
        `held-out L1 ${before.toFixed(3)} → ${after.toFixed(3)}, L2 ${initial!["acc_id_L2"]!.toFixed(3)} → ` +
        `${Metrics.lastOf(r, "acc_id_L2").toFixed(3)} after ${STEPS} GRPO steps; answer entropy min ${
          minEntropy(r).toFixed(3)
        }`
    )
    // at least one pass over the warm-start examples, then on to the level-1 competence target
    const until = SuffixSumTask.settings.warmStart.until
    expect(warmStart!.steps).toBeGreaterThanOrEqual(
      SuffixSumTask.settings.warmStart.examples / SuffixSumTask.settings.warmStart.batchSize
    )
    expect(warmStart!.steps).toBeLessThanOrEqual(until.maxSteps)
    expect(warmStart!.checkAccuracy >= until.accuracy || warmStart!.steps === until.maxSteps).toBe(true)
    expect(warmStart!.lossLast).toBeLessThan(warmStart!.lossFirst - 2) // from ≈ ln 99 towards ln 4
    expect(before).toBeGreaterThan(SuffixSumTask.chance + 0.2) // supervised learning happened
    expect(after - before).toBeGreaterThan(0.1) // and RL improved a held-out level
    expect(r.every((x) => Number.isFinite(x["entropy"]))).toBe(true)
    expect(minEntropy(r)).toBeGreaterThan(SuffixSumTask.settings.entropyFloor)
    expect(r.map((x) => x.policy_version)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1))
  })

  it("the HTTP client against the worker's /v1/completions: ids, logprobs, n, order, determinism", async () => {
    await run(
      Effect.gen(function*() {
        const inference = yield* InferenceRuntime
        const handle = yield* Worker.WorkerHandle
        expect(inference.capabilities.logprobSemantics).toBe("processed") // probed from the worker's /health
        const texts = ["abc", "ba", "dddd"]
        const sampling = { temperature: 1, topP: 1, topK: 0, maxTokens: 6, seed: 5 }
        const request = {
          requestId: "r",
          prompts: texts.map((text, i) => ({ promptId: `p${i}`, text })),
          n: 4,
          sampling
        }
        const out = yield* inference.generate(request)
        expect(out.map((c) => `${c.promptId}/${c.sampleIndex}`)).toEqual(
          Array.from({ length: 12 }, (_, k) => `p${Math.floor(k / 4)}/${k % 4}`)
        )
        out.forEach((c) => {
          const text = texts[Number(c.promptId.slice(1))]!
          // the built-in tokenizer: BOS = 1, then char code − 28 for printable ASCII
          expect(c.promptTokenIds).toEqual([1, ...Array.from(text, (ch) => ch.charCodeAt(0) - 28)])
          expect(c.logprobs).toHaveLength(c.tokenIds.length)
          expect(c.logprobs.every((lp) => Number.isFinite(lp) && lp <= 0)).toBe(true)
          if (c.finishReason === "stop") expect(c.tokenIds.at(-1)).toBe(2) // EOS
          else expect([c.finishReason, c.tokenIds.length]).toEqual(["length", 6])
          expect(c.policyVersion).toBe(0)
        })
        expect(yield* inference.generate(request)).toEqual(out) // same seed, same completions
        const byIds = yield* inference.generate({
          ...request,
          prompts: out.filter((c) => c.sampleIndex === 0).map((c) => ({
            promptId: c.promptId,
            text: "",
            tokenIds: c.promptTokenIds
          }))
        })
        expect(byIds.map((c) => c.tokenIds)).toEqual(out.map((c) => c.tokenIds)) // token-id prompts = the server's tokenisation
        const other = yield* inference.generate({ ...request, sampling: { ...sampling, seed: 6 } })
        expect(other.map((c) => c.tokenIds)).not.toEqual(out.map((c) => c.tokenIds))
        const truncated = yield* Effect.either(inference.generate({ ...request, sampling: { ...sampling, topP: 0.9 } }))
        expect(Either.isLeft(truncated) && truncated.left.reason).toBe("Refused")
        expect((yield* inference.health).ready).toBe(true)
        expect(handle.process.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      }).pipe(Effect.provide(worker()))
    )
  })

  it("KL: a zero-variance group's KL is exactly 0 under sparse KL and positive under dense; 0 after resetReference", async () => {
    await run(
      Effect.gen(function*() {
        const inference = yield* InferenceRuntime
        const trainer = yield* TrainerRuntime
        const problems = suite.train.problems.filter((_, i) => i % 50 === 0).slice(0, 3)
        const G = 4
        const rollout = (seed: number) =>
          inference.generate({
            requestId: `kl-${seed}`,
            prompts: problems.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
            n: G,
            sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 2, seed }
          })
        const groups = (cs: ReadonlyArray<Completion>) =>
          problems.map((problem, g) => ({ index: g, problem, completions: cs.slice(g * G, (g + 1) * G) }))
        // group 0 has reward variance; groups 1 and 2 are all-0 and all-1 (zero variance)
        const rewards = [Float64Array.of(1, 0, 1, 0), Float64Array.of(0, 0, 0, 0), Float64Array.of(1, 1, 1, 1)]
        const advantages = rewards.map((r) => {
          const m = mean(Array.from(r))
          const sd = Math.sqrt(mean(Array.from(r, (x) => (x - m) ** 2)))
          return Float64Array.from(r, (x) => (sd > 0 ? (x - m) / sd : 0))
        })
        const step = (
          n: number,
          kl: "sparse" | "dense",
          cs: ReadonlyArray<Completion>
        ): Effect.Effect<TrainStepResult, RuntimeError> =>
          trainer.update({
            step: n,
            samples: Stages.trainSamples(
              groups(cs),
              advantages,
              Float64Array.from(rewards, (r) => (kl === "dense" || r.some((x) => x !== r[0]) ? 1 : 0)),
              1
            ),
            loss: { klCoef: 0.1, clip: 0.2, aggregation: "token-mean", learningRate: 0.03 }
          })
        yield* step(1, "dense", yield* rollout(1)) // move the policy away from the reference
        yield* step(2, "dense", yield* rollout(2))
        const cs = yield* rollout(3)
        const sparse = yield* step(3, "sparse", cs)
        const dense = yield* step(4, "dense", cs)
        console.log(`groupKl sparse ${JSON.stringify(sparse.groupKl)}, dense ${JSON.stringify(dense.groupKl)}`)
        expect(sparse.groupKl![0]).toBeGreaterThan(0)
        expect(sparse.groupKl![1]).toBe(0)
        expect(sparse.groupKl![2]).toBe(0)
        expect(dense.groupKl![1]).toBeGreaterThan(0)
        expect(dense.groupKl![2]).toBeGreaterThan(0)
        expect(dense.metrics.kl_mean).toBeGreaterThan(1e-4)
        yield* trainer.resetReference
        const after = yield* step(5, "dense", yield* rollout(5))
        expect(Math.abs(after.metrics.kl_mean!)).toBeLessThan(1e-6)
        for (const g of after.groupKl!) expect(Math.abs(g)).toBeLessThan(1e-6)
        expect(after.policyVersion).toBe(5)
      }).pipe(Effect.provide(worker()))
    )
  })

  it("checkpoint, restore into a fresh worker, continue = the uninterrupted run (metrics and parameters)", async () => {
    const a = tempDir("torch-a")
    const b = tempDir("torch-b")
    const go = (options: Partial<Pipeline.RunOptions>, dir: string, seed: number) =>
      run(
        Effect.gen(function*() {
          yield* Pipeline.run(pipeline, sec(), { ...runOptions, seed: 3, steps: 6, checkpointEvery: 3, ...options })
          const handle = yield* Worker.WorkerHandle
          return yield* handle.trainer.digest
        }).pipe(Effect.provide(worker({ seed, checkpointDir: `${dir}/worker` })))
      )
    const straight = await go({ out: a }, a, 11)
    await go({ out: b, steps: 3 }, b, 11)
    const cp = await run(Checkpoint.read(b))
    expect(cp.step).toBe(3)
    expect(cp.trainer?._tag).toBe("Path")
    expect(existsSync((cp.trainer as { path: string }).path)).toBe(true)
    // a different initialisation seed: the restore must replace everything
    const resumed = await go({ resume: b }, b, 99)
    const metrics = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8")
    expect(metrics(b)).toBe(metrics(a))
    expect(resumed).toEqual(straight)
    expect(metrics(a).trim().split("\n")).toHaveLength(6)
  })

  it("a fleet: a trainer worker publishes weights, an inference-only worker loads them", async () => {
    const dir = tempDir("fleet")
    await run(Effect.gen(function*() {
      // one token for the fleet (the trainer client also calls the inference worker's load_weights);
      // float32 publishing so the inference worker samples exactly what the trainer would
      const token = "fleet-token-" + Math.random().toString(36).slice(2)
      const trainerWorker = yield* Worker.spawn({
        python,
        threads: 1,
        seed: 1,
        token,
        publishDir: dir,
        args: ["--publish-dtype", "float32"]
      })
      const inferenceWorker = yield* Worker.spawn({ python, threads: 1, seed: 2, token, readDirs: [dir] })
      const headers = Worker.authHeaders(token)
      const trainer = yield* HttpTrainer.make({
        url: trainerWorker.url,
        publishDir: dir,
        syncTo: [inferenceWorker.url],
        headers
      })
      const fleet = yield* HttpInference.make({ endpoints: [inferenceWorker.url], headers })
      const colocated = yield* HttpInference.make({ endpoints: [trainerWorker.url], headers })
      const request = {
        requestId: "f",
        prompts: [{ promptId: "a", text: "abc" }, { promptId: "b", text: "cab" }],
        n: 4,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 4, seed: 9 }
      }
      const before = yield* fleet.generate(request)
      expect((yield* colocated.generate(request)).map((c) => c.tokenIds)).not.toEqual(before.map((c) => c.tokenIds))
      const cs = yield* colocated.generate(request)
      const groups = [0, 1].map((g) => ({
        index: g,
        problem: suite.train.problems[g]!,
        completions: cs.slice(g * 4, g * 4 + 4)
      }))
      const adv = [Float64Array.of(1, -1, 1, -1), Float64Array.of(-1, 1, -1, 1)]
      yield* trainer.update({
        step: 1,
        samples: Stages.trainSamples(groups, adv, Float64Array.of(0, 0), 1),
        loss: { klCoef: 0, clip: 0.2, aggregation: "token-mean" }
      })
      expect(yield* trainer.publishWeights).toBe(1)
      const after = yield* fleet.generate(request)
      const reference = yield* colocated.generate(request)
      expect(after.map((c) => c.tokenIds)).toEqual(reference.map((c) => c.tokenIds))
      expect(after.every((c) => c.policyVersion === 1)).toBe(true)
    }))
  })
})

describe("spawning the worker", () => {
  it("reports the worker's stderr when it fails to start", async () => {
    const e = await run(Effect.either(Worker.spawn({ python, model: "nonsense" })))
    expect(Either.isLeft(e)).toBe(true)
    const error = (e as Either.Left<RuntimeError, unknown>).left
    expect(error.reason).toBe("Unavailable")
    expect(error.message).toContain("exited with code 1 before it was ready")
    expect(error.message).toContain("expected 'tiny' or 'hf:PATH'")
    const missing = await run(Effect.either(Worker.spawn({ python: "/nonexistent/python3" })))
    expect(Either.isLeft(missing) && missing.left.message).toContain("/nonexistent/python3")
  })

  it("gives up after startupTimeout with the worker's stderr, and stops it", async () => {
    const dir = tempDir("stuck-worker")
    mkdirSync(join(dir, "zpd_worker"))
    writeFileSync(join(dir, "zpd_worker", "__init__.py"), "")
    writeFileSync(
      join(dir, "zpd_worker", "__main__.py"),
      "import os, sys, time\nopen(sys.argv[-1], 'w').write(str(os.getpid()))\n" +
        "sys.stderr.write('loading a very large model...\\n')\nsys.stderr.flush()\ntime.sleep(60)\n"
    )
    const pidFile = join(dir, "pid")
    // the stand-in sleeps 60 s and then exits 0: a reason other than Timeout means the timeout never fired
    const e = await run(
      Effect.either(Worker.spawn({ python, workerDir: dir, startupTimeout: "1 second", args: [pidFile] }))
    )
    expect(Either.isLeft(e)).toBe(true)
    const error = (e as Either.Left<RuntimeError, unknown>).left
    expect(error.reason).toBe("Timeout")
    expect(error.message).toContain("did not report ZPD_WORKER_LISTENING")
    expect(error.message).toContain("loading a very large model...")
    expect(() => process.kill(Number(readFileSync(pidFile, "utf8")), 0)).toThrow() // stopped
  })

  it("stops the worker when the scope closes, and a crash mid-run names the worker and its stderr", async () => {
    const pid = await run(Effect.map(Worker.spawn({ python }), (w) => w.pid))
    expect(() => process.kill(pid, 0)).toThrow() // gone
    await run(
      Effect.gen(function*() {
        const handle = yield* Worker.WorkerHandle
        const inference = yield* InferenceRuntime
        process.kill(handle.process.pid, "SIGKILL")
        yield* Effect.sleep("200 millis")
        const e = yield* Effect.either(inference.generate({
          requestId: "x",
          prompts: [{ promptId: "a", text: "ab" }],
          n: 1,
          sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 2, seed: 1 }
        }))
        expect(Either.isLeft(e)).toBe(true)
        const error = (e as Either.Left<RuntimeError, unknown>).left
        expect(error.reason).toBe("Unavailable")
        expect(error.endpoint).toBe(`${handle.process.url}/v1/completions`)
        expect(error.message).toContain("was killed by a signal")
        expect(error.message).toContain("[zpd-worker] model")
      }).pipe(Effect.provide(worker({ inference: { retries: 1, backoff: "10 millis" } })))
    )
  })
})

describe("the worker's access rules", () => {
  it("refuses a request without its per-spawn token, and serves one with it", async () => {
    await run(Effect.gen(function*() {
      const a = yield* Worker.spawn({ python, threads: 1 })
      const b = yield* Worker.spawn({ python, threads: 1 })
      expect(a.token).not.toBe(b.token)
      const get = (url: string, headers: Record<string, string>) =>
        Effect.promise(() =>
          fetch(`${url}/health`, { headers }).then(async (r) => ({ status: r.status, body: await r.text() }))
        )
      expect((yield* get(a.url, {})).status).toBe(401)
      expect((yield* get(a.url, b.headers)).status).toBe(401) // another worker's token
      const refused = yield* get(a.url, { authorization: "Bearer guess" })
      expect(refused.status).toBe(401)
      expect(refused.body).toContain("Authorization: Bearer")
      expect((yield* get(a.url, { ...a.headers })).status).toBe(200)
      const unauthenticated = yield* HttpTrainer.make({ url: a.url, retries: 0 })
      const e = yield* Effect.either(unauthenticated.resetReference)
      expect(Either.isLeft(e) && e.left.reason).toBe("Refused")
      expect(Either.isLeft(e) && e.left.message).toContain("HTTP 401")
    }))
  })
})

describe("the Hugging Face path (tiny random Qwen3 around the real Qwen3 tokenizer)", () => {
  it("trains 2 SEC steps end to end through zpd and the worker (2 prompts × 4)", async () => {
    const dir = tempDir("hf")
    const made = await execAsync(python, ["-m", "zpd_worker.tiny_hf", join(dir, "model")], {
      ...process.env,
      PYTHONPATH: Worker.defaultWorkerDir
    })
    expect(made.status, made.stderr).toBe(0)
    const { records, completions } = await run(
      Effect.gen(function*() {
        const report = yield* Pipeline.run(pipeline, sec(), {
          ...runOptions,
          batchSize: 2,
          groupSize: 4,
          sampling: { ...TinyTask.sampling, maxTokens: 4 },
          seed: 1,
          steps: 2
        })
        const inference = yield* InferenceRuntime
        const completions = yield* inference.generate({
          requestId: "qwen",
          prompts: [{ promptId: "q", text: "What is 2+3?" }],
          n: 2,
          sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 3, seed: 1 }
        })
        return { records: report.records, completions }
      }).pipe(Effect.provide(worker({ model: `hf:${join(dir, "model")}` })))
    )
    expect(records.map((r) => r.policy_version)).toEqual([1, 2])
    expect(records[0]!.ratio_mean).toBeCloseTo(1, 3) // the sampler's logprobs are the trainer's
    expect(records.every((r) => Number.isFinite(r.kl_mean) && Number.isFinite(r.loss))).toBe(true)
    expect(Metrics.meanOf(records, "reward_mean")).toBeGreaterThanOrEqual(0)
    // the real Qwen3 tokenizer encoded the prompt (Qwen2Tokenizer BPE ids), and ids span its vocabulary
    expect(completions[0]!.promptTokenIds).toEqual([3838, 374, 220, 17, 10, 18, 30])
    expect(completions.every((c) => c.policyVersion === 2 && c.tokenIds.every((t) => t >= 0 && t < 151669))).toBe(true)
  }, 300_000) // a liveness bound for a slow shared CPU, not a speed target
})

describe("examples/torch-worker.ts", () => {
  it("runs, writes its run directory, and resumes; it reports held-out accuracy per level", async () => {
    const out = tempDir("torch-example")
    const tsx = join(process.cwd(), "node_modules", ".bin", "tsx")
    const env = { ...process.env, ZPD_PYTHON: python }
    const first = await execAsync(tsx, ["examples/torch-worker.ts", "--steps", "3", "--out", out, "--quiet"], env)
    expect(first.status, first.stderr).toBe(0)
    expect(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(3)
    const second = await execAsync(tsx, ["examples/torch-worker.ts", "--steps", "5", "--resume", out], env)
    expect(second.status, second.stderr).toBe(0)
    expect(second.stdout).toContain("sec (torch worker)")
    expect(second.stdout).toMatch(/held-out accuracy per level[^\n]*\n.*L1\s+L2\s+L3\s+L4\s+L5\s+L6/)
    expect(second.stdout).toMatch(/step 5(\s+\d\.\d{3}){6}/)
    expect(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")).toHaveLength(5)
  })
})
