/**
 * AdaCuRL + CDAS: AdaCuRL's buckets and competence-driven expansion decide
 * which problems are eligible; inside the unlocked buckets CDAS serves the
 * unrated ones first, then aligns the batch around its competence (the mean
 * over the problems it has rated).
 *
 *   npx tsx examples/hybrid-adacurl-cdas.ts --steps 100 --seed 1 --out runs/adacurl-cdas
 */
import { Part } from "@zpd/core"
import { AdaCurl, Cdas } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const plugin = AdaCurl.gate(adacurl).pipe(Part.andThen(Cdas.sampler()), Part.named("adacurl+cdas"))

runExample({ name: "adacurl+cdas", pipeline: AdaCurl.pipeline(adacurl, "adacurl+cdas"), plugin, loss: AdaCurl.loss })
