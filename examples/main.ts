/**
 * `npm start`: the published curricula against the random and ordered
 * baselines on the embedded simulated learner, same seed, data and budget,
 * then a comparison table.
 *
 *   npx tsx examples/main.ts --steps 100 --seed 1 --out runs
 *
 * Each curriculum writes its own run directory under --out (default `runs/`).
 * AdaCuRL runs with its own KL (β = 0.04, sparse); the others train without KL,
 * as SEC, CDAS and PCL do in their papers.
 */
import { Part } from "@zpd/core"
import { AdaCurl, Baselines, Cdas, Pcl, Sec } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import process from "node:process"
import { main, parseArgs, runOne, summaryTable, verifier } from "./lib/run.ts"
import { suiteFor } from "./lib/tasks.ts"

const args = parseArgs(100)
const base = args.out ?? "runs"
const suite = suiteFor("default", args.seed ?? 1)
const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const adacurlSec = AdaCurl.gate(adacurl).pipe(
  Part.andThen(Sec.sampler({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 })),
  Part.named("adacurl+sec")
)
const contenders = [
  { name: "sec", plugin: Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }) },
  { name: "adacurl", plugin: AdaCurl.plugin(adacurl), pipeline: AdaCurl.pipeline(adacurl), loss: AdaCurl.loss },
  {
    name: "adacurl+sec",
    plugin: adacurlSec,
    pipeline: AdaCurl.pipeline(adacurl, "adacurl+sec"),
    loss: AdaCurl.loss
  },
  { name: "cdas", plugin: Cdas.plugin({ priorCount: 1 }) },
  { name: "pcl", plugin: Pcl.plugin({ k: 4, tau: 0.5 }) },
  { name: "random", plugin: Baselines.random() },
  { name: "ordered", plugin: Baselines.ordered() }
]

main(Effect.gen(function*() {
  process.stdout.write(
    `zpd: ${suite.train.problems.length} training problems (countdown, arithmetic; levels 1-3), ` +
      `${suite.ood.problems.length} held-out problems (level 4, and the arc1d family), simulated learner v2 (regime default)\n`
  )
  const results = []
  for (const c of contenders) {
    results.push(yield* runOne(c, { ...args, out: `${base}/${c.name}`, resume: undefined }, suite))
  }
  process.stdout.write(`\n${summaryTable(results)}\n\nrun directories: ${base}/<curriculum>/ (metrics.jsonl, timings.jsonl, checkpoint/)\n`)
}))
