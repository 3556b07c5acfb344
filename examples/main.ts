/**
 * `npm start`: SEC against the random and ordered baselines on the embedded
 * simulated learner, same seed and budget, then a comparison table.
 *
 *   npx tsx examples/main.ts --steps 100 --seed 1 --out runs
 *
 * Each curriculum writes its own run directory under --out (default `runs/`).
 */
import { Baselines, Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import process from "node:process"
import { main, parseArgs, runOne, summaryTable } from "./lib/run.ts"
import { standardSuite } from "./lib/tasks.ts"

const args = parseArgs(100)
const base = args.out ?? "runs"
const suite = standardSuite()
const contenders = [
  { name: "sec", plugin: Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }) },
  { name: "random", plugin: Baselines.random() },
  { name: "ordered", plugin: Baselines.ordered() }
]

main(Effect.gen(function*() {
  process.stdout.write(
    `zpd: ${suite.train.problems.length} training problems (countdown, arithmetic, arc1d; levels 1-3), ` +
      `${suite.ood.problems.length} held-out level-4 problems, simulated learner\n`
  )
  const results = []
  for (const c of contenders) {
    results.push(yield* runOne(c, { ...args, out: `${base}/${c.name}`, resume: undefined }, suite))
  }
  process.stdout.write(`\n${summaryTable(results)}\n\nmetrics: ${results.map((r) => `${base}/${r.name}/metrics.jsonl`).join(", ")}\n`)
}))
