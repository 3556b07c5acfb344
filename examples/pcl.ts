/**
 * PCL on the simulated learner: each step scores a pool of k·m prompts with
 * the value model (the default hashed-feature regressor, no GPU), trains on
 * the m closest to τ = 0.5 and regresses V on their pass rates.
 *
 *   npx tsx examples/pcl.ts --steps 100 --seed 1 --out runs/pcl
 *   npx tsx examples/pcl.ts --steps 200 --resume runs/pcl
 */
import { Pipeline, Stages } from "@zpd/core"
import { Pcl } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

runExample({
  name: "pcl",
  pipeline: Pipeline.make("pcl", Stages.standard({ verifier, kl: "sparse" })),
  plugin: Pcl.plugin({ k: 4, tau: 0.5 })
})
