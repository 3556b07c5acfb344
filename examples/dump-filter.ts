/**
 * DUMP's UCB bandit over data sources (the task families) with online
 * difficulty filtering: DUMP draws each proposed prompt's family by
 * softmax(UCB / 0.1) of the family's windowed mean |advantage| and an
 * exploration bonus, then a uniform problem of it; the band filter keeps the
 * groups whose pass rate lies in [0.2, 0.8], refilling round by round, and
 * DUMP learns from the kept groups' advantages. Every rollout is counted in
 * `rollouts_generated`.
 *
 *   npx tsx examples/dump-filter.ts --steps 100 --seed 1 --out runs/dump-filter
 *   (the same as `zpd run "dump > online-filter(maxRounds=0)"`)
 */
import { Part } from "@zpd/core"
import { Dump, OnlineFilter } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const plugin = Dump.sampler({ arms: ["family"] }).pipe(Part.named("dump+filter"))

runExample({
  name: "dump+filter",
  plugin,
  pipeline: OnlineFilter.pipeline({ verifier, pLow: 0.2, pHigh: 0.8, maxRounds: 0 }, "dump+filter")
})
