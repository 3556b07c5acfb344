/**
 * The random baseline on the simulated learner.
 *
 *   npx tsx examples/random.ts --steps 100 --seed 1 --out runs/random
 */
import { Pipeline, Stages } from "@zpd/core"
import { Baselines } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

runExample({
  name: "random",
  pipeline: Pipeline.make("random", Stages.standard({ verifier, kl: "sparse" })),
  plugin: Baselines.random()
})
