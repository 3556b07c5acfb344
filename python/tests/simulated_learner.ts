/**
 * The simulated learner as a subprocess for the Python adapter tests: the
 * trainer side of a run, with zpd's simulator v2 (regime `default`) as the
 * policy. The Python test asks it to roll out the batch a trainer adapter got
 * from the curriculum server and to update the policy; the rewards it returns
 * are the outcomes the adapter posts back.
 *
 *   tsx python/tests/simulated_learner.ts write-data FILE --seed S --per-level K
 *     writes the regime's training problems (K per family and level) as JSONL
 *   tsx python/tests/simulated_learner.ts write-difficulties FILE --data DATA --seed S
 *     writes AdaCuRL's precomputed difficulties (1 − the initial policy's pass rate) for DATA
 *   tsx python/tests/simulated_learner.ts serve --data FILE --seed S --group-size G
 *     reads JSON lines `{"step": t, "indices": [i...]}` (positions in FILE) on stdin and
 *     answers each with `{"step": t, "groups": [{"index", "rewards", "correct"}...]}`
 *     after one GRPO update on those groups; `{"checkpoint": tag}` answers the learner's
 *     checkpoint, `{"restore": checkpoint}` restores it; errors answer `{"error": "..."}`.
 *
 * Same seed, same requests ⇒ same replies (the simulator and its sampling
 * seeds are deterministic).
 */
import * as Advantage from "@zpd/core/Advantage"
import * as Pipeline from "@zpd/core/Pipeline"
import * as Problem from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import { defaultSampling, type TrainerCheckpoint } from "@zpd/core/Runtime"
import * as Stages from "@zpd/core/Stages"
import * as Regimes from "@zpd/gpu-runtime/Regimes"
import * as Tasks from "@zpd/tasks/Tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync, renameSync, writeFileSync } from "node:fs"
import process from "node:process"
import { createInterface } from "node:readline"

const flag = (args: ReadonlyArray<string>, name: string): string => {
  const i = args.indexOf(`--${name}`)
  const value = i < 0 ? undefined : args[i + 1]
  if (value === undefined) throw new Error(`simulated_learner: missing --${name}`)
  return value
}

const intFlag = (args: ReadonlyArray<string>, name: string): number => {
  const value = Number(flag(args, name))
  if (!Number.isSafeInteger(value)) throw new Error(`simulated_learner: --${name} must be an integer`)
  return value
}

const writeData = (args: ReadonlyArray<string>): void => {
  const file = args[0]
  if (file === undefined) throw new Error("simulated_learner write-data: missing FILE")
  const suite = Regimes.suite("default", intFlag(args, "seed"), { perLevel: intFlag(args, "per-level") })
  writeFileSync(`${file}.tmp`, Problem.toJsonl(suite.train.problems))
  renameSync(`${file}.tmp`, file)
}

const serve = async (args: ReadonlyArray<string>): Promise<void> => {
  const file = flag(args, "data")
  const seed = intFlag(args, "seed")
  const groupSize = intFlag(args, "group-size")
  const dataset = Either.getOrThrow(Problem.parseJsonl(file, readFileSync(file, "utf8")))
  const problems = dataset.problems
  const learner = Regimes.learner("default", problems, seed)
  const verifier = Tasks.verifier()

  const step = (t: number, indices: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      for (const i of indices) {
        if (!Number.isInteger(i) || i < 0 || i >= problems.length) {
          return yield* Effect.fail(new Error(`index ${i} is outside the dataset (0..${problems.length - 1})`))
        }
      }
      const batch = indices.map((i) => problems[i]!)
      const completions = yield* learner.inference.generate({
        requestId: `adapter-step-${t}`,
        prompts: batch.map((problem) => ({ promptId: problem.id, text: problem.prompt, problem })),
        n: groupSize,
        sampling: { ...defaultSampling, seed: Rng.deriveSeed(seed, t, "rollout-0") }
      })
      const groups = indices.map((index, g) => ({
        index,
        problem: batch[g]!,
        completions: completions.slice(g * groupSize, (g + 1) * groupSize)
      }))
      const scored = Stages.score(groups, verifier, t)
      const advantages = scored.map((g) => Advantage.groupAdvantages(g.rewards))
      const weights = Float64Array.from(scored, (g) => Advantage.klWeight(g.rewards, "sparse"))
      yield* learner.trainer.update({
        step: t,
        samples: Stages.trainSamples(groups, advantages, weights, defaultSampling.temperature),
        loss: Pipeline.defaultLoss
      })
      return scored.map((g) => ({
        index: g.index,
        rewards: Array.from(g.rewards),
        correct: Array.from(g.correct ?? [])
      }))
    })

  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === "") continue
    let reply: unknown
    try {
      const request = JSON.parse(line) as {
        step?: number
        indices?: ReadonlyArray<number>
        checkpoint?: string
        restore?: TrainerCheckpoint
      }
      if (request.checkpoint !== undefined) {
        reply = { checkpoint: await Effect.runPromise(learner.trainer.checkpoint(request.checkpoint)) }
      } else if (request.restore !== undefined) {
        reply = { restored: await Effect.runPromise(learner.trainer.restore(request.restore)) }
      } else {
        const t = request.step ?? -1
        reply = { step: t, groups: await Effect.runPromise(step(t, request.indices ?? [])) }
      }
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) }
    }
    process.stdout.write(JSON.stringify(reply) + "\n")
  }
}

/** AdaCuRL's precomputed difficulties: 1 − the initial policy's exact pass rate, one `{id, difficulty}` line each. */
const writeDifficulties = (args: ReadonlyArray<string>): void => {
  const file = args[0]
  if (file === undefined) throw new Error("simulated_learner write-difficulties: missing FILE")
  const data = flag(args, "data")
  const problems = Either.getOrThrow(Problem.parseJsonl(data, readFileSync(data, "utf8"))).problems
  const learner = Regimes.learner("default", problems, intFlag(args, "seed"))
  const lines = problems.map((p) => JSON.stringify({ id: p.id, difficulty: 1 - learner.passRate(p) }) + "\n")
  writeFileSync(`${file}.tmp`, lines.join(""))
  renameSync(`${file}.tmp`, file)
}

const [command, ...rest] = process.argv.slice(2)
if (command === "write-data") writeData(rest)
else if (command === "write-difficulties") writeDifficulties(rest)
else if (command === "serve") await serve(rest)
else {
  process.stderr.write("usage: simulated_learner.ts write-data FILE --seed S --per-level K | serve --data FILE ...\n")
  process.exit(2)
}
