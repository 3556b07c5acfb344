/**
 * Property tests run from a fixed seed so CI is reproducible; set ZPD_FC_SEED
 * (and optionally ZPD_FC_RUNS) to explore other seeds locally.
 */
import * as FastCheck from "effect/FastCheck"

const seed = Number(process.env["ZPD_FC_SEED"] ?? 20261121)
const numRuns = Number(process.env["ZPD_FC_RUNS"] ?? 100)
FastCheck.configureGlobal({ seed, numRuns })
