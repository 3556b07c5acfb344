/**
 * The task suites the examples train on. Each named regime
 * (`@zpd/gpu-runtime` `Regimes`) pairs a suite with a simulated learner;
 * v2 regimes train on countdown and arithmetic levels 1–3 and hold out level 4
 * and the arc1d family, sampled from the run seed. `standardSuite()` is the
 * original suite (regime `v1`: three families, levels 1–3, level 4 held out,
 * fixed data).
 */
import { Regimes } from "@zpd/gpu-runtime"

export type TaskSuite = Regimes.Suite

/** The suite of `regime` for run seed `seed`. */
export const suiteFor = (regime: Regimes.Name, seed: number): TaskSuite => Regimes.suite(regime, seed)

/** The original suite (regime `v1`), optionally with another number of training problems per family and level. */
export const standardSuite = (options: { readonly perLevel?: number } = {}): TaskSuite =>
  Regimes.suite("v1", 1, options.perLevel === undefined ? {} : { perLevel: options.perLevel })
