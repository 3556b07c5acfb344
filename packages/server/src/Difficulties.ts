/**
 * Precomputed difficulties for AdaCuRL when served (Li et al., arXiv
 * 2511.09478, §difficulty estimation). AdaCuRL's gate estimates each
 * problem's difficulty `d = 1 − c/N` by sampling N completions through the
 * {@link InferenceRuntime} and counting the correct ones with its verifier.
 * A trainer that already ran that estimation (or has per-problem pass rates
 * from its own model) hands the server `{id, difficulty}` records instead;
 * {@link runtime} answers the gate's estimation requests from them: of the
 * N completions asked for a problem, `round((1 − d)·N)` carry the problem's
 * answer and the rest none, so the gate's own filter, stable sort and
 * bucketing run unchanged on `d` quantised to 1/N (exact when `d` was
 * measured with the same N). It serves estimation only: it refuses
 * requests it cannot answer, and Re-AdaCuRL's later rounds (which need the
 * updated policy) need a real endpoint (`--inference`).
 *
 * @since 0.3.0
 */
import { RuntimeError } from "@zpd/core/Errors"
import * as Jsonl from "@zpd/core/Jsonl"
import type { Problem } from "@zpd/core/Problem"
import { type Completion, type GenerateRequest, InferenceRuntime } from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Reads `{id, difficulty}` JSON lines (blank lines skipped); `difficulty` in
 * [0, 1]. Returns the table or a message naming the file, line and field.
 *
 * @since 0.3.0
 * @category parsing
 */
export const parse = (file: string, text: string): Map<string, number> | string => {
  const table = new Map<string, number>()
  for (const { line, value, error } of Jsonl.records(text)) {
    const at = `${file}:${line}`
    if (error !== undefined) return `${at}: expected one JSON object per line (${error})`
    const record = value
    if (!Jsonl.isObject(record)) return `${at}: expected a JSON object {id, difficulty}`
    const r = record as { id?: unknown; difficulty?: unknown }
    if (typeof r.id !== "string" && !(typeof r.id === "number" && Number.isSafeInteger(r.id))) {
      return `${at}: field "id": expected a string or integer, got ${JSON.stringify(r.id)}`
    }
    if (typeof r.difficulty !== "number" || !(r.difficulty >= 0 && r.difficulty <= 1)) {
      return `${at}: field "difficulty": expected a number in [0, 1], got ${JSON.stringify(r.difficulty)}`
    }
    const id = String(r.id)
    if (table.has(id)) return `${at}: field "id": ${JSON.stringify(id)} appears twice`
    table.set(id, r.difficulty)
  }
  return table
}

/**
 * The difficulties in the problems' `metadata.difficulty`, when every problem
 * has one in [0, 1]; `undefined` when none has; a message naming the first
 * problem whose value is missing or out of range otherwise.
 *
 * @since 0.3.0
 * @category parsing
 */
export const fromMetadata = (problems: ReadonlyArray<Problem>): Map<string, number> | string | undefined => {
  if (!problems.some((p) => p.metadata["difficulty"] !== undefined)) return undefined
  const table = new Map<string, number>()
  for (const p of problems) {
    const d = p.metadata["difficulty"]
    if (typeof d !== "number" || !(d >= 0 && d <= 1)) {
      return `problem ${JSON.stringify(p.id)}: metadata.difficulty: expected a number in [0, 1] ` +
        `(some problems have one, so all need one), got ${JSON.stringify(d)}`
    }
    table.set(p.id, d)
  }
  return table
}

const completion = (promptId: string, sampleIndex: number, text: string): Completion => ({
  promptId,
  sampleIndex,
  text,
  promptTokenIds: [],
  tokenIds: [],
  logprobs: [],
  finishReason: "stop",
  policyVersion: 0
})

/**
 * The estimation runtime over a difficulty table. `answer(problem)` is a
 * completion `verifier` judges correct (zpd's task verifiers accept
 * `<answer>…</answer>` around the problem's answer); a problem without a
 * difficulty, or whose answer the verifier does not accept, is refused with
 * a {@link RuntimeError} naming its id.
 *
 * @since 0.3.0
 * @category constructors
 */
export const runtime = (
  table: ReadonlyMap<string, number>,
  verifier: Verifier,
  answer: (problem: Problem) => string = (p) => `<answer>${p.answer}</answer>`
): InferenceRuntime.Service => ({
  capabilities: { logprobSemantics: "processed", maxConcurrency: 1 },
  health: Effect.succeed({ ready: true, policyVersion: 0, detail: `${table.size} precomputed difficulties` }),
  generate: (request: GenerateRequest) =>
    Effect.gen(function*() {
      const out: Array<Completion> = []
      for (const prompt of request.prompts) {
        const d = table.get(prompt.promptId)
        if (d === undefined) {
          return yield* new RuntimeError({
            endpoint: "precomputed difficulties",
            reason: "Refused",
            description: `no difficulty for problem id ${JSON.stringify(prompt.promptId)} (give one per problem)`
          })
        }
        const right = prompt.problem === undefined ? "" : answer(prompt.problem)
        if (
          prompt.problem === undefined || !verifier(prompt.problem, right, 0).correct ||
          verifier(prompt.problem, "", 0).correct
        ) {
          return yield* new RuntimeError({
            endpoint: "precomputed difficulties",
            reason: "Refused",
            description:
              `the verifier does not tell ${JSON.stringify(right)} (correct) from "" (wrong) for problem id ` +
              `${JSON.stringify(prompt.promptId)}, so its difficulty cannot be replayed; serve it with --inference URL`
          })
        }
        const correct = Math.round((1 - d) * request.n)
        for (let s = 0; s < request.n; s++) out.push(completion(prompt.promptId, s, s < correct ? right : ""))
      }
      return out
    })
})

/**
 * A layer of {@link runtime}.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (table: ReadonlyMap<string, number>, verifier: Verifier): Layer.Layer<InferenceRuntime> =>
  Layer.succeed(InferenceRuntime, runtime(table, verifier))

/**
 * An inference runtime that refuses every request, explaining how to give
 * the served curriculum what it needs (`--inference URL` or
 * `--difficulties FILE`).
 *
 * @since 0.3.0
 * @category layers
 */
export const missing = (curriculum: string): Layer.Layer<InferenceRuntime> =>
  Layer.succeed(InferenceRuntime, {
    capabilities: { logprobSemantics: "processed", maxConcurrency: 1 },
    health: Effect.succeed({ ready: false, policyVersion: 0, detail: "no inference endpoint" }),
    generate: () =>
      Effect.fail(
        new RuntimeError({
          endpoint: "InferenceRuntime",
          reason: "Refused",
          description: `curriculum "${curriculum}" estimates difficulty with rollouts: start zpd serve with ` +
            `--inference URL (an OpenAI-compatible completions server) or --difficulties FILE.jsonl ({id, difficulty} ` +
            `lines), or give every problem a metadata.difficulty`
        })
      )
  })
