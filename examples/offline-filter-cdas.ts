/**
 * The pre-filter baseline (PCL §5.10) under CDAS: every training problem's
 * pass rate is estimated once with the initial policy (8 rollouts each,
 * reported as `estimation_rollouts`); only those in [0.2, 0.8] stay
 * eligible, for good; CDAS aligns its draws with its competence inside that
 * fixed set.
 *
 *   npx tsx examples/offline-filter-cdas.ts --steps 100 --seed 1 --out runs/offline-filter-cdas
 *   (the same as `zpd run "offline-filter.gate > cdas"`)
 */
import { Part } from "@zpd/core"
import { Cdas, OfflineFilter } from "@zpd/plugins"
import { runExample, verifier } from "./lib/run.ts"

const plugin = OfflineFilter.gate({ verifier, pLow: 0.2, pHigh: 0.8, samples: 8 }).pipe(
  Part.andThen(Cdas.sampler()),
  Part.named("offline-filter+cdas")
)

runExample({ name: "offline-filter+cdas", plugin })
