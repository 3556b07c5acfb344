/**
 * PCL + prioritized sampling (Kimi k1.5): the prioritized sampler proposes
 * 2B problems with probability ∝ 1 − (latest pass rate); PCL's value model
 * keeps the B whose predicted pass rate is closest to τ = 0.5, so problems
 * that failed outright are favoured by the sampler but dropped when the value
 * model calls them hopeless.
 *
 *   npx tsx examples/hybrid-pcl-prioritized.ts --steps 100 --seed 1 --out runs/pcl-prioritized
 *   (the same as `zpd run "pcl.prefilter(k=2) > prioritized"`)
 */
import { Part } from "@zpd/core"
import { Pcl, Prioritized } from "@zpd/plugins"
import { runExample } from "./lib/run.ts"

const plugin = Pcl.prefilter({ k: 2, tau: 0.5 }).pipe(
  Part.andThen(Prioritized.sampler()),
  Part.named("pcl+prioritized")
)

runExample({ name: "pcl+prioritized", plugin })
