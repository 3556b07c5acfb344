/**
 * GRESO (spec §5.7) on the simulated learner: streaks build up, prompts are
 * skipped, and from the second epoch on p_easy and p_hard adapt; it parses
 * as a pre-filter in expressions.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Part, Pipeline, Stages } from "@zpd/core"
import { Simulated } from "@zpd/gpu-runtime"
import { Baselines, Greso, Registry } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { suite } from "./helpers.ts"

const verifier = Tasks.verifier()

describe("GRESO on the simulated learner", () => {
  it("skips prompts with streaks and adapts p_easy / p_hard once an epoch has passed", async () => {
    const dataset = { ...suite.train, problems: suite.train.problems.slice(0, 300) }
    const report = await Effect.runPromise(
      Pipeline.run(
        Pipeline.make("greso", Stages.standard({ verifier, kl: "sparse" })),
        Greso.prefilter({ oversample: 2 }).pipe(Part.andThen(Baselines.random())),
        { dataset, seed: 2, steps: 30, batchSize: 32, groupSize: 8 }
      ).pipe(Effect.provide(Simulated.layer(dataset.problems)), Effect.provide(NodeContext.layer))
    )
    const r = report.records
    expect(r.map((x) => x["batch_size"])).toEqual(r.map(() => 32))
    const skipped = r.reduce((s, x) => s + x["greso_skipped_easy"]! + x["greso_skipped_hard"]!, 0)
    expect(skipped).toBeGreaterThan(0)
    const first = r.findIndex((x) => x["greso_epoch"]! >= 1)
    expect(first).toBeGreaterThan(0)
    // before the second epoch p stays at 0.5; after it, each step moves both by ±0.01
    for (const x of r.slice(0, first)) expect([x["greso_p_easy"], x["greso_p_hard"]]).toEqual([0.5, 0.5])
    const last = r.at(-1)!
    expect(last["greso_p_easy"]).not.toBe(0.5)
    expect(Math.abs(last["greso_p_easy"]! - 0.5)).toBeLessThanOrEqual(0.01 * (r.length - first) + 1e-12)
  })

  it("parses as a pre-filter before any sampler", () => {
    const recipe = Either.getOrThrow(Registry.parse("greso(oversample=3) > sec(temperature=0.2)", { verifier }))
    expect(Part.partsOf(recipe.plugin as any).map((p) => p.kind)).toEqual(["prefilter", "sampler"])
    expect(Registry.names.find((n) => n.name === "greso")?.kind).toBe("prefilter")
    expect(Either.isLeft(Registry.parse("sec > greso", { verifier }))).toBe(true)
    const dump = Either.getOrThrow(Registry.parse("dump(window=100)", { verifier }))
    expect(Part.partsOf(dump.plugin as any).map((p) => p.name)).toEqual(["dump"])
  })
})
