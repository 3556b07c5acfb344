/**
 * AdaCuRL on the simulated learner: fine-stage difficulty estimation through
 * the runtime, K = 3 buckets merged as competence grows, format + accuracy
 * reward until T_f, sparse KL with β = 0.04, and a reference reset (a pipeline
 * hook) at every merge.
 *
 *   npx tsx examples/adacurl.ts --steps 100 --seed 1 --out runs/adacurl
 *   npx tsx examples/adacurl.ts --steps 200 --resume runs/adacurl
 *
 * The spec's defaults are kept except the ones sized for a few-second run on
 * 1,800 problems: N = 32 fine samples (spec: 100) and M = 256 (spec: 512).
 */
import { AdaCurl } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const options = { verifier, fine: { samples: 32 }, window: 256 }

runExample({
  name: "adacurl",
  pipeline: AdaCurl.pipeline(options),
  plugin: AdaCurl.plugin(options),
  loss: AdaCurl.loss
})
