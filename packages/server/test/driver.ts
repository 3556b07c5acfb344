/**
 * A simulated trainer for server tests: selects a cursor, generates the
 * groups with a simulated learner (`@zpd/gpu-runtime`), scores them with the
 * task verifier, updates the learner with GRPO samples, and observes. The
 * learner's outcomes depend on what was selected and on every update before,
 * so the curriculum's state really moves, and two runs with the same
 * selections see the same outcomes.
 */
import { Advantage, Problem, Rng, Runtime, Stages } from "@zpd/core"
import { Regimes } from "@zpd/gpu-runtime"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"

/** A request to the server: resolves to the status and parsed JSON body. */
export type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }>

export const verifier = Tasks.verifier()

/** A small training set of the default regime, and its JSONL text. */
export const dataset = (perLevel = 20) => {
  const suite = Regimes.suite("default", 1, { perLevel })
  return { suite, problems: suite.train.problems, jsonl: Problem.toJsonl(suite.train.problems) }
}

/** The trainer: one learner over `all` problems; `step` runs one cursor against the server. */
export const trainer = (
  all: ReadonlyArray<Problem.Problem>,
  problems: ReadonlyArray<Problem.Problem>,
  groupSize = 4
) => {
  const learner = Regimes.learner("default", all, 7)
  const selections: Array<ReadonlyArray<number>> = []
  const events: Array<unknown> = []
  const groupsFor = (cursor: number, indices: ReadonlyArray<number>) =>
    Effect.runPromise(Effect.gen(function*() {
      const batch = indices.map((i) => problems[i]!)
      const completions = yield* learner.inference.generate({
        requestId: `cursor-${cursor}`,
        prompts: batch.map((problem) => ({ promptId: problem.id, text: problem.prompt, problem })),
        n: groupSize,
        sampling: { ...Runtime.defaultSampling, seed: Rng.deriveSeed(7, cursor + 1, "rollout-0") }
      })
      const groups = indices.map((index, g) => ({
        index,
        problem: batch[g]!,
        completions: completions.slice(g * groupSize, (g + 1) * groupSize)
      }))
      const scored = Stages.score(groups, verifier, cursor + 1)
      const advantages = scored.map((g) => Advantage.groupAdvantages(g.rewards))
      const weights = Float64Array.from(scored, (g) => Advantage.klWeight(g.rewards, "sparse"))
      yield* learner.trainer.update({
        step: cursor + 1,
        samples: Stages.trainSamples(groups, advantages, weights, 1),
        loss: { klCoef: 0, clip: 0.2, aggregation: "token-mean" }
      })
      return scored.map((g) => ({ index: g.index, rewards: Array.from(g.rewards), correct: Array.from(g.correct!) }))
    }))
  return {
    learner,
    selections,
    events,
    /** Generates, scores and trains on the groups of a selection (once per cursor: it updates the learner). */
    groupsFor,
    /** Selects and observes `cursor`; returns the selection. */
    step: async (call: Call, cursor: number) => {
      const selected = await call("POST", "/v1/select", { cursor })
      if (selected.status !== 200) throw new Error(`select ${cursor}: ${JSON.stringify(selected.json)}`)
      const indices = selected.json.indices as Array<number>
      const groups = await groupsFor(cursor, indices)
      const observed = await call("POST", "/v1/observe", { cursor, groups })
      if (observed.status !== 200) throw new Error(`observe ${cursor}: ${JSON.stringify(observed.json)}`)
      selections.push(indices)
      events.push(...observed.json.events)
      return indices
    }
  }
}
