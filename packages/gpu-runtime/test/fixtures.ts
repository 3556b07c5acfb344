/**
 * Runtime-protocol fixtures shared by the HTTP trainer tests and the fault
 * benchmark (`bench/faults/runtime.ts`); no test framework imported, so the
 * benchmark can load it.
 */
import type { TrainStepRequest } from "@zpd/core/Runtime"

/** A one-sample policy update for step 3 (policy version 2, one trained token). */
export const trainStepRequest: TrainStepRequest = {
  step: 3,
  samples: [{
    promptId: "p",
    group: 0,
    tokenIds: [1, 5, 6],
    lossMask: [false, false, true],
    samplingLogprobs: [0, 0, -0.7],
    advantages: [0, 0, 1],
    klWeight: [0, 0, 1],
    temperature: 1,
    policyVersion: 2
  }],
  loss: { klCoef: 0.04, clip: 0.2, aggregation: "token-mean" }
}
