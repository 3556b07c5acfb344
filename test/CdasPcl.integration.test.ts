/**
 * CDAS and PCL on simulator v2 (issue 4 acceptance criteria): over 3 seeds
 * each keeps fewer zero-variance groups than random (5 seeds, longer budgets:
 * `npm run bench:simulator`); after 20 steps the
 * default value model explains more than 30% of the variance of the true pass
 * rates; a resumed run matches the uninterrupted one (value model included);
 * the examples honour the CLI contract, and PCL writes the same bytes under
 * Node and Deno.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { type Curriculum, Metrics, Pipeline, Stages } from "@zpd/core"
import { Regimes, Simulated } from "@zpd/gpu-runtime"
import { Baselines, Cdas, HashedValueModel, Pcl } from "@zpd/plugins"
import * as Effect from "effect/Effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runOne, verifier } from "../examples/lib/run.ts"
import { args, execFileAsync, mean, run, runRecords as runRecordsFor, spawnAsync, suite, tempDir } from "./helpers.ts"

const SEEDS = [1, 2, 3]
const STEPS = 40

const runRecords = (plugin: Curriculum.Plugin, seed: number) => runRecordsFor(plugin, seed, STEPS)
const fmt = (xs: ReadonlyArray<number>) => `${mean(xs).toFixed(4)} [${xs.map((x) => x.toFixed(4)).join(", ")}]`

describe("CDAS and PCL vs random over 3 seeds (simulator v2, regime default, 40 steps × 64 prompts × 8)", () => {
  it("each has a lower frac_reward_zero_std than random, seed by seed and on average", async () => {
    const zero: Record<string, Array<number>> = { random: [], cdas: [], pcl: [] }
    const acc: Record<string, Array<number>> = { random: [], cdas: [], pcl: [] }
    for (const seed of SEEDS) {
      for (const plugin of [Baselines.random(), Cdas.plugin(), Pcl.plugin()]) {
        const records = await runRecords(plugin, seed)
        zero[plugin.name]!.push(Metrics.meanOf(records, "frac_reward_zero_std"))
        acc[plugin.name]!.push(Metrics.lastOf(records, "acc_id"))
      }
    }
    console.log(
      `frac_reward_zero_std mean [per seed]: random ${fmt(zero["random"]!)}; cdas ${fmt(zero["cdas"]!)}; pcl ${
        fmt(zero["pcl"]!)
      }\n` +
        `acc_id at step ${STEPS}: random ${fmt(acc["random"]!)}; cdas ${fmt(acc["cdas"]!)}; pcl ${fmt(acc["pcl"]!)}`
    )
    for (const name of ["cdas", "pcl"]) {
      expect(mean(zero[name]!)).toBeLessThan(mean(zero["random"]!))
      SEEDS.forEach((_, i) => expect(zero[name]![i]).toBeLessThan(zero["random"]![i]!))
    }
  })
})

describe("PCL's default value model", () => {
  it("after 20 steps explains more than 30% of the variance of the true pass rates (3 seeds)", async () => {
    const explained: Array<number> = []
    const perStep: Array<number> = []
    for (const seed of SEEDS) {
      const valueModel = HashedValueModel.hashed()
      const suite = Regimes.suite("default", seed)
      const program = Effect.gen(function*() {
        const report = yield* Pipeline.run(
          Pipeline.make("pcl", Stages.standard({ verifier, kl: "sparse" })),
          Pcl.plugin({ valueModel }),
          { dataset: suite.train, seed, steps: 20, batchSize: 64, groupSize: 8 }
        )
        const sim = yield* Simulated.SimulatedLearner
        const truth = Float64Array.from(suite.train.problems, (p) => sim.passRate(p))
        const predicted = yield* valueModel.predict(suite.train.problems)
        perStep.push(Metrics.meanOf(report.records, "value_explained_variance"))
        return HashedValueModel.explainedVariance(predicted, truth)
      })
      explained.push(
        await Effect.runPromise(
          program.pipe(Effect.provide(Regimes.layer("default", suite.all, seed)), Effect.provide(NodeContext.layer))
        )
      )
    }
    console.log(
      `value model after 20 steps, explained variance of the true pass rates over the ` +
        `training problems: ${fmt(explained)}; mean per-step value_explained_variance on the selected batch ` +
        `(observed pass rates, n = 8): ${fmt(perStep)}`
    )
    for (const ev of explained) expect(ev).toBeGreaterThan(0.3)
  })
})

const read = (dir: string, file = "metrics.jsonl") => readFileSync(join(dir, file), "utf8")

describe("resume", () => {
  for (const [name, plugin] of [["cdas", () => Cdas.plugin()], ["pcl", () => Pcl.plugin()]] as const) {
    it(`${name}: a 40-step run resumed from its step-20 checkpoint matches the uninterrupted run exactly`, async () => {
      const full = tempDir(`${name}-full`)
      const part = tempDir(`${name}-part`)
      await run({ name, plugin: plugin() }, { steps: 40, seed: 6, out: full })
      await run({ name, plugin: plugin() }, { steps: 20, seed: 6, out: part })
      await run({ name, plugin: plugin() }, { steps: 40, resume: part })
      expect(read(part).split("\n").filter(Boolean)).toHaveLength(40)
      expect(read(part)).toBe(read(full))
      // The final checkpoints agree too: CDAS's D, t, competence and warm-up; PCL's loader and value-model weights.
      expect(read(part, "checkpoint/state.json")).toBe(read(full, "checkpoint/state.json"))
      const state = JSON.parse(read(full, "checkpoint/state.json")).curriculum
      if (name === "pcl") expect(state.pcl.external.kind).toBe("hashed")
      else expect(state.cdas.state.warmingUp).toBe(false) // the warm-up (29 steps) ended between the checkpoints
    })
  }
})

const tsx = join(process.cwd(), "node_modules", ".bin", "tsx")

describe("examples", () => {
  for (const file of ["cdas.ts", "pcl.ts", "hybrid-pcl-cdas.ts"]) {
    it(`${file} writes metrics, timings, a checkpoint and a summary table`, async () => {
      const out = tempDir(file.replace(".ts", ""))
      const result = await spawnAsync(tsx, [`examples/${file}`, "--steps", "6", "--seed", "2", "--out", out])
      expect(result.status, result.stderr).toBe(0)
      const lines = read(out).trim().split("\n").map((l) => JSON.parse(l))
      expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6])
      expect(lines[5]).toHaveProperty("frac_reward_zero_std")
      if (file !== "pcl.ts") expect(lines[5]).toHaveProperty("competence")
      if (file !== "cdas.ts") {
        expect(lines[5]).toHaveProperty("value_explained_variance")
        const timings = read(out, "timings.jsonl").trim().split("\n").map((l) => JSON.parse(l))
        expect(timings[5].value_model_ms).toBeGreaterThanOrEqual(0)
        expect(lines[5]).not.toHaveProperty("value_model_ms")
      }
      expect(existsSync(join(out, "checkpoint", "state.json"))).toBe(true)
      expect(result.stdout).toMatch(/frac_reward_zero_std/)
    })
  }
})

describe("Node and Deno", () => {
  const deno = join(process.cwd(), "node_modules", ".bin", "deno")
  it.runIf(existsSync(deno))("PCL and CDAS (past its warm-up) write the same metrics.jsonl under both", async () => {
    for (
      const [file, plugin, steps] of [["pcl.ts", Pcl.plugin({ k: 4, tau: 0.5 }), 12], [
        "cdas.ts",
        Cdas.plugin({ priorCount: 1 }),
        32
      ]] as const
    ) {
      const node = tempDir("node")
      const den = tempDir("deno")
      // Node in-process (the example's own runner), Deno through the example's CLI.
      await run({ name: plugin.name, plugin }, { steps, seed: 11, out: node })
      await execFileAsync(deno, [
        "run",
        "-A",
        `examples/${file}`,
        "--steps",
        String(steps),
        "--seed",
        "11",
        "--quiet",
        "--out",
        den
      ])
      expect(read(node).split("\n").filter(Boolean)).toHaveLength(steps)
      expect(read(den)).toBe(read(node))
    }
  })
})
