/**
 * Hybrid: PCL's value model pre-filters a pool of 8B prompts to the 2B with V closest to τ = 0.5;
 * CDAS picks B of them symmetrically around the competence (after its warm-up epoch).
 *   npx tsx examples/hybrid-pcl-cdas.ts --steps 100 --seed 1 --out runs/hybrid
 */
import { Curriculum, ValueModel } from "@zpd/core"
import { Cdas, Pcl } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import { runExample } from "./lib/run.ts"

const hybrid = Curriculum.plugin("pcl+cdas", ({ dataset, seed }) => {
  const pcl = Pcl.make(dataset, seed, Pcl.defaults, ValueModel.hashed())
  const cdas = Cdas.make(dataset.problems.length, seed)
  return Effect.succeed<Curriculum.Curriculum>({
    name: "pcl+cdas",
    select: (request) =>
      cdas.state().warmingUp ? cdas.select(request) : Effect.map(
        pcl.select({ ...request, batchSize: 2 * request.batchSize }),
        (candidates) => cdas.alignCandidates(candidates, request.batchSize)
      ),
    observe: (observation) => Effect.zipRight(pcl.observe(observation), cdas.observe(observation)),
    metrics: () => ({ ...pcl.metrics(), ...cdas.metrics() }),
    timings: pcl.timings,
    snapshot: () => ({ pcl: pcl.snapshot(), cdas: cdas.snapshot() }),
    restore: (s) => {
      const { cdas: c, pcl: p } = s as { readonly pcl: unknown; readonly cdas: unknown }
      return Effect.zipRight(pcl.restore(p), cdas.restore(c))
    }
  })
})

runExample({ name: "pcl+cdas", plugin: hybrid })
