/**
 * `npm run bench:simulator`: the simulated learner's cost per `TrainerRuntime.update` at the
 * size the tests and examples use most (256 prompts × 8 rollouts), against its 10 ms target.
 * A speed target lives here, not in a test: a test must not fail because the machine is busy.
 *
 *   npm run bench:simulator            # 5 warm-up updates, then 50 timed ones
 */
import { Stages } from "@zpd/core"
import { Rng } from "@zpd/core/Rng"
import type { Problem } from "@zpd/core/Problem"
import { Simulated } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import process from "node:process"

const TARGET_MS = 10
const B = 256
const N = 8
const problems: Array<Problem> = ["countdown", "arith"].flatMap((family) =>
  [1, 2, 3].flatMap((level) =>
    Array.from({ length: 200 }, (_, i) => ({
      id: `${family}-L${level}-${i}`,
      prompt: `Solve ${family} puzzle ${i} at level ${level}.`,
      answer: "42",
      level,
      family,
      metadata: {}
    }))
  )
)
const sim = Simulated.make(problems)
const rng = new Rng(5)
const batch = Array.from({ length: B }, () => problems[rng.int(problems.length)]!)
const completions = Effect.runSync(sim.inference.generate({
  requestId: "bench",
  prompts: batch.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
  n: N,
  sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 1024, seed: 1 }
}))
const groups = batch.map((problem, g) => ({ index: g, problem, completions: completions.slice(g * N, (g + 1) * N) }))
const advantages = groups.map((g) => {
  const r = g.completions.map((c) => (c.tokenIds[0] === Simulated.SOLVE_TOKEN ? 1 : 0))
  const mean = r.reduce((a: number, x) => a + x, 0) / N
  const std = Math.sqrt(r.reduce((a: number, x) => a + (x - mean) ** 2, 0) / N)
  return Float64Array.from(r, (x) => (std > 0 ? (x - mean) / std : 0))
})
const samples = Stages.trainSamples(groups, advantages, Float64Array.from(advantages, (a) => (a.some((x) => x !== 0) ? 1 : 0)), 1)
const update = (step: number) =>
  Effect.runSync(sim.trainer.update({ step, samples, loss: { klCoef: 0.04, clip: 0.2, aggregation: "token-mean" } }))

for (let i = 0; i < 5; i++) update(i)
const reps = 50
const times: Array<number> = []
for (let i = 0; i < reps; i++) {
  const t0 = performance.now()
  update(100 + i)
  times.push(performance.now() - t0)
}
times.sort((a, b) => a - b)
const mean = times.reduce((a, b) => a + b, 0) / reps
const median = times[Math.floor(reps / 2)]!
process.stdout.write(
  `simulated learner: one update of ${B} prompts × ${N} rollouts: mean ${mean.toFixed(2)} ms, median ${median.toFixed(2)} ms, ` +
    `min ${times[0]!.toFixed(2)} ms over ${reps} (target < ${TARGET_MS} ms: ${median < TARGET_MS ? "met" : "NOT met"}; ` +
    `ratio median/target ${(median / TARGET_MS).toFixed(2)})\n`
)
