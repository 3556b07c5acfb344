/**
 * AdaCuRL's gate with AdaRFT's sampler: AdaCuRL estimates difficulty,
 * buckets it and unlocks buckets with its competence; inside the unlocked
 * pool AdaRFT serves the B problems nearest its target difficulty (here
 * the problem's level rescaled onto 0–100, as the suite has no offline score),
 * moving the target with the batch's accuracy (`signal: "accuracy"`: AdaCuRL's reward adds a format term).
 *
 *   npx tsx examples/hybrid-adacurl-adarft.ts --steps 100 --seed 1 --out runs/adacurl-adarft
 *   (the same as `zpd run "adacurl.gate > adarft(signal=accuracy)"`)
 */
import { Part } from "@zpd/core"
import { AdaCurl, AdaRft } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const plugin = AdaCurl.gate(adacurl).pipe(
  Part.andThen(AdaRft.sampler({ signal: "accuracy" })),
  Part.named("adacurl+adarft")
)

runExample({
  name: "adacurl+adarft",
  pipeline: AdaCurl.pipeline(adacurl, "adacurl+adarft"),
  plugin,
  loss: AdaCurl.loss
})
