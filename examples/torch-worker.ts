/**
 * Real learning: the standard GRPO step under SEC (the paper's defaults,
 * α = 0.5, τ = 1, level arms), with the simulated learner swapped for zpd's
 * PyTorch worker. The worker's tiny transformer gets a supervised warm start
 * (to a level-1 competence target) on the suffix-sum task (packages/gpu-runtime/src/
 * SuffixSumTask.ts: the sum of the digits after the bar, mod 4; levels 1–3
 * trained, 4–6 held out), then learns by GRPO on a CPU. The run reports
 * held-out accuracy per level before and after RL (chance is 0.25 at every
 * level) and the answer-token entropy, not reward alone.
 *
 *   npx tsx examples/torch-worker.ts --steps 100 --seed 1 --out runs/torch
 *   npx tsx examples/torch-worker.ts --steps 150 --resume runs/torch
 *   npx deno run -A examples/torch-worker.ts --steps 20
 *
 * Needs a Python with PyTorch: the repository's .venv (`npm run python:env`
 * builds it offline; `npm test` does too), or ZPD_PYTHON. Point
 * ZPD_WORKER_MODEL at `hf:/path/to/model` to train a Hugging Face model instead
 * (see packages/gpu-runtime/GPU.md). `npm run bench:neural` compares curricula
 * on this task over several seeds.
 */
import { Command } from "@zpd/cli"
import { Checkpoint, Metrics } from "@zpd/core"
import { SuffixSumTask } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import process from "node:process"
import { accName, minEntropy, neuralRun } from "./lib/neural.ts"
import { summaryTable } from "./lib/run.ts"

const model = process.env.ZPD_WORKER_MODEL ?? "tiny"
const levels = [...SuffixSumTask.trainLevels, ...SuffixSumTask.oodLevels]

const command = Command.example(
  "torch-worker",
  100,
  "SEC on zpd's PyTorch worker, suffix-sum task (the flags of `zpd run`).",
  (args) =>
    Effect.gen(function*() {
      if (args.data !== undefined) {
        return yield* Effect.fail(new Error("--data: this example trains the worker on its own suffix-sum task"))
      }
      let seed = args.seed
      if (seed === undefined && args.resume !== undefined) seed = (yield* Checkpoint.read(args.resume)).identity.seed
      const every = Math.max(1, Math.floor(args.steps / 10))
      const { initial, report, warmStart } = yield* neuralRun({
        curriculum: "sec",
        seed: seed ?? 1,
        steps: args.steps,
        model,
        evalEvery: 10,
        overwrite: args.overwrite,
        ...(args.checkpointEvery === undefined ? {} : { checkpointEvery: args.checkpointEvery }),
        ...(args.out === undefined ? {} : { out: args.out }),
        ...(args.resume === undefined ? {} : { resume: args.resume }),
        onProgress: (line, event) => {
          if (!args.quiet && (event.step % every === 0 || event.step === args.steps)) process.stderr.write(line + "\n")
        }
      })
      const r = report.records
      if (!args.quiet) {
        process.stdout.write(`\n${summaryTable([{ name: "sec (torch worker)", report }])}\n`)
        if (warmStart !== undefined) {
          process.stdout.write(
            `\nwarm start: ${warmStart.steps} batches, to an expected level-1 accuracy of ` +
              `${warmStart.checkAccuracy.toFixed(3)} (target ${SuffixSumTask.settings.warmStart.until.accuracy})\n`
          )
        }
        const rows = [
          ...(initial === undefined
            ? []
            : [["after warm start", ...levels.map((l) => initial[accName(l)]!.toFixed(3))]]),
          [
            `step ${r.at(-1)?.step ?? 0}`,
            ...levels.map((l) => (report.final?.[accName(l)] ?? Metrics.lastOf(r, accName(l))).toFixed(3))
          ]
        ]
        process.stdout.write(
          `\nheld-out accuracy per level (chance ${SuffixSumTask.chance}; levels 4–6 never trained):\n` +
            Metrics.table(["", ...levels.map((l) => `L${l}`)], rows) + "\n"
        )
        process.stdout.write(
          `answer-token entropy: min ${minEntropy(r).toFixed(3)}, last ${
            Metrics.lastOf(r, "entropy").toFixed(3)
          } nats ` +
            `(floor ${SuffixSumTask.settings.entropyFloor}); frac_reward_zero_std last 10 steps ` +
            `${Metrics.meanOf(r.slice(-10), "frac_reward_zero_std").toFixed(3)}\n`
        )
        if (report.out !== undefined) process.stdout.write(`metrics: ${report.out}/metrics.jsonl\n`)
      }
    })
)

Command.main(command, "torch-worker")
