/**
 * What the simulated learners (v1 and v2) share: token ids, the tag that
 * exposes a learner behind its layer, and small helpers.
 */
import * as Context from "effect/Context"
import { RuntimeError } from "@zpd/core/Errors"
import type { Problem } from "@zpd/core/Problem"
import type { Evaluator, InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"

/** Decision token: solved. */
export const SOLVE_TOKEN = 1
/** Decision token: failed. */
export const FAIL_TOKEN = 2
/** Reasoning token with logit +v. */
export const REASON_UP_TOKEN = 3
/** Reasoning token with logit −v. */
export const REASON_DOWN_TOKEN = 4
/** Format token (v2): the completion is well-formed. */
export const FORMAT_OK_TOKEN = 5
/** Format token (v2): the completion is malformed (the verifier finds no answer). */
export const FORMAT_BAD_TOKEN = 6

/** What every simulated learner offers: the three ports plus introspection for tests and benchmarks. */
export interface Learner {
  readonly model: "v1" | "v2"
  readonly inference: InferenceRuntime.Service
  readonly trainer: TrainerRuntime.Service
  readonly evaluator: Evaluator.Service
  /** Family names in skill order. */
  readonly families: ReadonlyArray<string>
  /** The exact probability that a completion for `problem` is judged correct, at temperature 1. */
  readonly passRate: (problem: Problem) => number
  readonly policyVersion: () => number
}

export class SimulatedLearner extends Context.Tag("@zpd/gpu-runtime/SimulatedLearner")<SimulatedLearner, Learner>() {}

export const charCodes = (text: string): Array<number> => {
  const out = new Array<number>(text.length)
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i)
  return out
}

export const refused = (endpoint: string, description: string) =>
  new RuntimeError({ endpoint, reason: "Refused", description })

export const isFiniteArray = (u: unknown, length: number): u is ReadonlyArray<number> =>
  Array.isArray(u) && u.length === length && u.every((x) => typeof x === "number" && Number.isFinite(x))
