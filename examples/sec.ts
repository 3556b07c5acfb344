/**
 * SEC on the simulated learner: the standard GRPO step, arms by difficulty
 * level, Boltzmann bandit over mean |advantage|.
 *
 *   npx tsx examples/sec.ts --steps 100 --seed 1 --out runs/sec
 *   npx tsx examples/sec.ts --steps 200 --resume runs/sec
 */
import { Pipeline, Stages } from "@zpd/core"
import { Sec } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

runExample({
  name: "sec",
  pipeline: Pipeline.make("sec", Stages.standard({ verifier, kl: "sparse" })),
  plugin: Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 })
})
