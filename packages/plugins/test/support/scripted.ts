/**
 * Test fixtures shared by the estimation tests: problems that carry their pass
 * fraction in `metadata.p`, and an inference runtime that solves exactly
 * round(p · n) of n samples.
 */
import type * as Problem from "@zpd/core/Problem"
import * as Runtime from "@zpd/core/Runtime"
import type * as Stages from "@zpd/core/Stages"
import { exactMatch, verify } from "@zpd/tasks/Task"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** A problem whose answer is "42" and whose scripted pass fraction is `p`. */
export const problem = (id: string, p: number, family = "a"): Problem.Problem => ({
  id,
  prompt: `prompt ${id}`,
  answer: "42",
  level: 1,
  family,
  metadata: { p }
})

export const verifier: Stages.Verifier = (problem, completion) => verify(exactMatch, problem, completion)

/**
 * An inference runtime in which a problem solves exactly round(p · n) of n
 * samples, p = `passOf(problem)` (default: its `metadata.p`). `requests`
 * records every request; `rollouts()` counts the samples generated.
 */
export const scriptedRuntime = (passOf: (p: Problem.Problem) => number = (p) => p.metadata["p"] as number) => {
  const requests: Array<Runtime.GenerateRequest> = []
  const layer = Layer.succeed(Runtime.InferenceRuntime, {
    capabilities: { logprobSemantics: "processed", maxConcurrency: 1 },
    health: Effect.succeed({ ready: true, policyVersion: 0 }),
    generate: (request) =>
      Effect.sync(() => {
        requests.push(request)
        return request.prompts.flatMap((prompt) => {
          const solved = Math.round(passOf(prompt.problem!) * request.n)
          return Array.from({ length: request.n }, (_, s): Runtime.Completion => ({
            promptId: prompt.promptId,
            sampleIndex: s,
            text: s < solved ? "<answer>42</answer>" : "<answer></answer>",
            promptTokenIds: [1],
            tokenIds: [1],
            logprobs: [0],
            finishReason: "stop",
            policyVersion: 0
          }))
        })
      })
  })
  const rollouts = () => requests.reduce((sum, r) => sum + r.prompts.length * r.n, 0)
  return { layer, requests, rollouts }
}
