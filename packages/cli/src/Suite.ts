/**
 * The task suites `zpd run` and the examples train on when no `--data` is
 * given. Each named regime (`@zpd/gpu-runtime` `Regimes`: default, easy, hard,
 * large, v1) pairs a suite with a simulated learner; v2 regimes sample
 * countdown and arithmetic problems (levels 1–3) from the run seed and hold
 * out level 4 and the arc1d family; regime `v1` is the original fixed suite.
 */
import { Regimes } from "@zpd/gpu-runtime"

/** A training set, its test and OOD sets, its named eval sets, and every problem the learner must know. */
export type TaskSuite = Regimes.Suite

/** The suite of `regime` for run seed `seed`. */
export const suiteFor = (regime: Regimes.Name, seed: number): TaskSuite => Regimes.suite(regime, seed)

/** The original suite (regime `v1`), optionally with another number of training problems per family and level. */
export const standardSuite = (options: { readonly perLevel?: number } = {}): TaskSuite =>
  Regimes.suite("v1", 1, options.perLevel === undefined ? {} : { perLevel: options.perLevel })
