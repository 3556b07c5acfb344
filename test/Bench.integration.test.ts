import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { contenders, makeRun } from "../bench/lib/contenders.ts"
import { execFileAsync, tempDir } from "./helpers.ts"
import { resolvePython } from "./python.ts"

const runIn = (curriculum: string, steps: number) => {
  const out = join(tempDir(`bench-${curriculum.replace(/\W/g, "_")}-${steps}`), "run")
  return Effect.runPromise(
    makeRun({ curriculum, regime: "default", seed: 3, steps, out }).pipe(Effect.provide(NodeContext.layer))
  ).then(() => out)
}

const runTo = (curriculum: string, steps: number) =>
  runIn(curriculum, steps).then((out) => readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n"))

describe("bench contenders", () => {
  // The analysis reads a shorter budget from the prefix of a longer run for these: it must be the same run.
  for (const c of contenders.filter((c) => !c.budgetAware)) {
    it(`${c.name}: a 10-step run is exactly the first 10 steps of a 20-step run`, async () => {
      const [short, long] = await Promise.all([runTo(c.name, 10), runTo(c.name, 20)])
      expect(short).toHaveLength(10)
      expect(long.slice(0, 10)).toEqual(short)
    })
  }

  it("the budget-stretched ordered baseline is budget-aware: its prefix differs, so it runs once per budget", async () => {
    expect(contenders.find((c) => c.name === "ordered")!.budgetAware).toBe(true)
    // 30 and 60 steps of 64 prompts both exceed one pass over the 1,800 problems, so each stretches differently
    const [short, long] = await Promise.all([runTo("ordered", 30), runTo("ordered", 60)])
    expect(long.slice(0, 30)).not.toEqual(short)
  })

  it("every run records per-level accuracies, TensorBoard events and a run.json; unknown regimes and curricula are named", async () => {
    const dir = await runIn("random", 10)
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n")
    expect(JSON.parse(readFileSync(join(dir, "run.json"), "utf8"))).toMatchObject({
      curriculum: "random",
      seed: 3,
      steps: 10
    })
    const python = resolvePython()
    expect(python, "no Python with tensorboard: set ZPD_PYTHON").toBeDefined()
    const script =
      "import sys\nfrom tensorboard.backend.event_processing.event_accumulator import EventAccumulator as A\n" +
      "a = A(sys.argv[1]); a.Reload(); print(len(a.Scalars('reward_mean')), a.Scalars('acc_id_level_2')[-1].value)"
    const [count, level2] = (await execFileAsync(python!, ["-c", script, dir])).trim().split(" ")
    expect(Number(count)).toBe(10)
    expect(Number(level2)).toBeCloseTo(JSON.parse(lines.at(-1)!)["acc_id_level_2"], 6)
    const last = JSON.parse(lines.at(-1)!)
    expect(Object.keys(last).filter((k) => k.includes("_level_")).sort()).toEqual([
      "acc_id_level_1",
      "acc_id_level_2",
      "acc_id_level_3",
      "acc_ood_level_1",
      "acc_ood_level_2",
      "acc_ood_level_3",
      "acc_ood_level_4"
    ])
    const out = tempDir("bench-bad")
    const fail = (spec: { curriculum: string; regime: string }) =>
      Effect.runPromise(
        Effect.flip(makeRun({ ...spec, seed: 1, steps: 1, out }).pipe(Effect.provide(NodeContext.layer)))
      )
    expect(((await fail({ curriculum: "random", regime: "steep" })) as Error).message).toBe(
      `regime "steep": expected one of default, easy, hard, large, v1`
    )
    expect(((await fail({ curriculum: "nope", regime: "default" })) as Error).message).toContain(
      `curriculum "nope": expected one of random, ordered,`
    )
  })
})
