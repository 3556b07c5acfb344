/**
 * Real learning: the same SEC pipeline as examples/sec.ts (Stages.standard +
 * Sec.plugin), with the simulated learner swapped for zpd's PyTorch worker.
 * The worker's tiny transformer starts from random weights and learns the
 * `last-letter` task by GRPO on a CPU; mean reward rises over the run.
 *
 *   npx tsx examples/torch-worker.ts --steps 60 --seed 1 --out runs/torch
 *   npx tsx examples/torch-worker.ts --steps 90 --resume runs/torch
 *   npx deno run -A examples/torch-worker.ts --steps 20
 *
 * Needs a Python with PyTorch: the repository's .venv (`npm run python:env`
 * builds it offline; `npm test` does too), or ZPD_PYTHON. Point
 * ZPD_WORKER_MODEL at `hf:/path/to/model` to train a Hugging Face model instead
 * (then give it a task it can learn, see packages/gpu-runtime/GPU.md).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Command } from "@zpd/cli"
import { Checkpoint, Metrics, Pipeline, Stages } from "@zpd/core"
import { HttpInference, TinyTask, Worker } from "@zpd/gpu-runtime"
import { Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import process from "node:process"
import { summaryTable } from "./lib/run.ts"

const model = process.env.ZPD_WORKER_MODEL ?? "tiny"

const pipeline = Pipeline.make("sec", Stages.standard({ verifier: TinyTask.verifier, kl: "sparse" }))
const plugin = Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 })

const command = Command.example("torch-worker", 60, "SEC on zpd's PyTorch worker (the flags of `zpd run`).", (args) =>
  Effect.gen(function*() {
    if (args.data !== undefined) {
      return yield* Effect.fail(new Error("--data: this example trains the worker on its own last-letter task"))
    }
    const suite = TinyTask.suite()
    let seed = args.seed
    if (seed === undefined && args.resume !== undefined) seed = (yield* Checkpoint.read(args.resume)).identity.seed
    seed = seed ?? 1
    const out = args.out ?? args.resume
    const runtime = Worker.layer({
      model,
      seed,
      threads: 1,
      lr: 3e-3,
      ...(out === undefined ? {} : { checkpointDir: `${out}/worker` })
    })
    const evaluator = HttpInference.evaluator({ verifier: TinyTask.verifier, sampling: { maxTokens: 2 } })
    const every = Math.max(1, Math.floor(args.steps / 10))
    const report = yield* Pipeline.run(pipeline, plugin, {
      dataset: suite.train,
      seed,
      steps: args.steps,
      batchSize: args.batchSize ?? 8,
      groupSize: args.groupSize ?? 8,
      sampling: TinyTask.sampling,
      loss: { klCoef: 0, clip: 0.2, aggregation: "token-mean" },
      eval: { sets: { id: suite.test.problems, ood: suite.ood.problems }, every: 10 },
      allowRepeats: args.allowRepeats,
      overwrite: args.overwrite,
      ...(args.checkpointEvery === undefined ? {} : { checkpointEvery: args.checkpointEvery }),
      ...(args.out === undefined ? {} : { out: args.out }),
      ...(args.resume === undefined ? {} : { resume: args.resume }),
      onProgress: (line, event) => {
        if (!args.quiet && (event.step % every === 0 || event.step === args.steps)) process.stderr.write(line + "\n")
      }
    }).pipe(Effect.provide(Layer.provideMerge(evaluator, runtime)))
    const r = report.records
    if (!args.quiet) {
      process.stdout.write(`\n${summaryTable([{ name: "sec (torch worker)", report }])}\n`)
      process.stdout.write(
        `reward_mean first 10 steps ${Metrics.meanOf(r.slice(0, 10), "reward_mean").toFixed(3)} → last 10 ` +
          `${Metrics.meanOf(r.slice(-10), "reward_mean").toFixed(3)}\n`
      )
      if (report.out !== undefined) process.stdout.write(`metrics: ${report.out}/metrics.jsonl\n`)
    }
  }).pipe(Effect.provide(FetchHttpClient.layer)))

Command.main(command, "torch-worker")
