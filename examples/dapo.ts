/**
 * DAPO dynamic sampling over the random baseline: each step generates rounds
 * of 3·B prompts, drops zero-variance groups and trains on exactly B kept
 * groups. Any curriculum can be put under it; here, random.
 *
 *   npx tsx examples/dapo.ts --steps 100 --out runs/dapo
 */
import { Baselines, Dapo } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

runExample({
  name: "dapo",
  pipeline: Dapo.pipeline({ verifier, genBatchSize: 192, maxRounds: 10, kl: "sparse" }),
  plugin: Baselines.random()
})
