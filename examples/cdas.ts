/**
 * CDAS on the simulated learner: the standard GRPO step; a first random epoch
 * rates every problem, then each batch is half the closest easier and half
 * the closest harder problems around the model's competence.
 *
 *   npx tsx examples/cdas.ts --steps 100 --seed 1 --out runs/cdas
 *   npx tsx examples/cdas.ts --steps 200 --resume runs/cdas
 */
import { Pipeline, Stages } from "@zpd/core"
import { Cdas } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

runExample({
  name: "cdas",
  pipeline: Pipeline.make("cdas", Stages.standard({ verifier, kl: "sparse" })),
  plugin: Cdas.plugin({ priorCount: 1 })
})
