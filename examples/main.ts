/**
 * `npm start`: the published curricula against the random and ordered
 * baselines on the embedded simulated learner, same seed, data and budget,
 * then a comparison table and a self-contained `report.html` over the same runs
 * (`zpd bench --quick` is the multi-seed version).
 *
 *   npx tsx examples/main.ts --steps 100 --seed 1 --out runs
 *
 * Each curriculum writes its own run directory under --out (default `runs/`),
 * replacing an earlier `npm start`'s. The curricula are configured as
 * `zpd run <name>` runs them (packages/cli/src/Curricula.ts): AdaCuRL with its
 * own KL (β = 0.04, sparse); the others without KL, as in their papers. To
 * resume one of them: `npx zpd run sec --resume runs/sec --steps 200`.
 */
import { Command, Curricula, Run, Suite } from "@zpd/cli"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import process from "node:process"
import { reportCommand } from "../bench/lib/bench.ts"

const contenders = ["sec", "adacurl", "adacurl+sec", "cdas", "pcl", "prioritized", "adarft", "random", "ordered"]

const compare = Command.example(
  "npm start",
  100,
  "Compare SEC, AdaCuRL, AdaCuRL+SEC, CDAS and PCL with the prioritized (Kimi k1.5), AdaRFT, random and ordered baselines.",
  (args) =>
    Effect.gen(function*() {
      if (args.resume !== undefined) {
        return yield* Effect.fail(
          new Error("--resume: npm start runs nine curricula; resume one with `npx zpd run <name> --resume DIR/<name>`")
        )
      }
      const base = args.out ?? "runs"
      const regime = args.regime ?? "default"
      const suite = Suite.suiteFor(regime, args.seed ?? 1)
      process.stdout.write(
        `zpd: ${suite.train.problems.length} training problems, ${suite.ood.problems.length} held-out problems, ` +
          `simulated learner (regime ${regime})\n`
      )
      const results = []
      for (const name of contenders) {
        const entry = Either.getOrThrow(Curricula.lookup(name))
        results.push(yield* Run.runOne(entry, { ...args, out: `${base}/${name}`, overwrite: true }, suite))
      }
      process.stdout.write(
        `\n${
          Run.summaryTable(results)
        }\n\nrun directories: ${base}/<curriculum>/ (metrics.jsonl, timings.jsonl, checkpoint/, TensorBoard events)\n`
      )
      // The same runs as a self-contained report (learning curves, rollouts to random's final accuracy, per-level heatmaps).
      const { htmlPath } = yield* reportCommand({
        paths: contenders.map((name) => `${base}/${name}`),
        out: base,
        title: `npm start: ${contenders.length} curricula, seed ${
          args.seed ?? 1
        }, ${args.steps} steps, regime ${regime}`
      })
      process.stdout.write(`report: ${htmlPath}\n`)
    })
)

Command.main(compare, "npm start")
