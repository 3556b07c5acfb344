/**
 * Online difficulty filtering (Bae et al.) under SEC's bandit: SEC proposes
 * 3B prompts per round over difficulty levels; only groups whose pass rate
 * lies in [0.2, 0.8] are trained on, refilled round by round until B are
 * kept. SEC learns from the kept groups' advantages. Every rollout of every
 * round is counted in `rollouts_generated`.
 *
 *   npx tsx examples/filter-sec.ts --steps 100 --seed 1 --out runs/filter-sec
 *   (the same as `zpd run "sec(temperature=0.2) > online-filter"`)
 */
import { Part } from "@zpd/core"
import { OnlineFilter, Sec } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const plugin = Sec.sampler({ arms: ["level"], alpha: 0.5, temperature: 0.2 }).pipe(Part.named("sec+filter"))

runExample({
  name: "sec+filter",
  plugin,
  pipeline: OnlineFilter.pipeline({ verifier, pLow: 0.2, pHigh: 0.8, maxRounds: 0 }, "sec+filter")
})
