/**
 * GRESO's pre-rollout skipping under SEC's bandit: SEC proposes 4B prompts
 * over difficulty levels; GRESO walks them in order, skipping with
 * probability 1 − max(p^z, 0.01) each prompt whose last z groups in a row
 * were all correct (p = p_easy) or all wrong (p = p_hard), and keeps the
 * first B survivors. p_easy and p_hard adapt once an epoch has passed.
 *
 *   npx tsx examples/greso-sec.ts --steps 100 --seed 1 --out runs/greso-sec
 *   (the same as `zpd run "greso > sec(temperature=0.2)"`)
 */
import { Part } from "@zpd/core"
import { Greso, Sec } from "@zpd/plugins"
import { runExample } from "./lib/run.ts"

const plugin = Greso.prefilter().pipe(
  Part.andThen(Sec.sampler({ arms: ["level"], alpha: 0.5, temperature: 0.2 })),
  Part.named("greso+sec")
)

runExample({ name: "greso+sec", plugin })
