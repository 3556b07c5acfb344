/**
 * PCL + CDAS: CDAS proposes 2B problems aligned around its competence
 * (after its warm-up epoch); PCL's value model keeps the B with V closest to
 * τ = 0.5.
 *
 *   npx tsx examples/hybrid-pcl-cdas.ts --steps 100 --seed 1 --out runs/pcl-cdas
 */
import { Part } from "@zpd/core"
import { Cdas, Pcl } from "@zpd/plugins"
import { runExample } from "./lib/run.ts"

const plugin = Pcl.prefilter({ k: 2, tau: 0.5 }).pipe(Part.andThen(Cdas.sampler()), Part.named("pcl+cdas"))

runExample({ name: "pcl+cdas", plugin })
