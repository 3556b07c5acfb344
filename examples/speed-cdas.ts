/**
 * SPEED's screening in front of CDAS: each round CDAS proposes 2B prompts;
 * each gets 4 screening rollouts; the prompts with 0 < pass < 1 over those 4
 * get the rest of their group (G − 4 more) until B qualify, and CDAS rates
 * the B trained groups. Screening rollouts count in `rollouts_generated`,
 * those of prompts dropped in `rollouts_discarded`.
 *
 *   npx tsx examples/speed-cdas.ts --steps 100 --seed 1 --out runs/speed-cdas
 *   (the same as `zpd run "cdas > speed(maxRounds=0)"`)
 */
import { Part } from "@zpd/core"
import { Cdas, Speed } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const plugin = Cdas.sampler({ priorCount: 1 }).pipe(Part.named("cdas+speed"))

runExample({
  name: "cdas+speed",
  plugin,
  pipeline: Speed.pipeline({ verifier, screen: 4, maxRounds: 0, kl: "sparse" }, "cdas+speed")
})
