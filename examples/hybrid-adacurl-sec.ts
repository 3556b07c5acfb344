/**
 * AdaCuRL + SEC: AdaCuRL's difficulty estimation, buckets, competence-driven
 * expansion, sparse KL and reference reset, with SEC's Boltzmann bandit
 * (TD(0) on mean |advantage|) choosing among the unlocked buckets as arms.
 *
 *   npx tsx examples/hybrid-adacurl-sec.ts --steps 100 --seed 1 --out runs/adacurl-sec
 *
 * Sized for a few-second run: N = 32 fine samples (spec: 100), M = 256 (spec: 512).
 */
import { Part } from "@zpd/core"
import { AdaCurl, Sec } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const plugin = AdaCurl.gate(adacurl).pipe(
  Part.andThen(Sec.sampler({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 })),
  Part.named("adacurl+sec")
)

runExample({ name: "adacurl+sec", pipeline: AdaCurl.pipeline(adacurl, "adacurl+sec"), plugin, loss: AdaCurl.loss })
