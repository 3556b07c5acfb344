/**
 * The pre-filter baseline (spec §5.10) as a gate: pass rates estimated once
 * through the runtime at build, the band's problems kept for good, the
 * estimate's rollouts reported, not repeated on resume.
 */
import { Rng } from "@zpd/core"
import type { Curriculum } from "@zpd/core"
import { ConfigError } from "@zpd/core/Errors"
import { Simulated } from "@zpd/gpu-runtime"
import { OfflineFilter, Registry } from "@zpd/plugins"
import { Tasks } from "@zpd/tasks"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { suite } from "./helpers.ts"

const verifier = Tasks.verifier()
const dataset = suite.train
const context = (resuming = false) => ({ dataset, seed: 4, steps: 50, batchSize: 32, groupSize: 8, resuming })

const build = (plugin: Curriculum.Plugin<any, any>, resuming = false) =>
  Effect.runPromise(
    Effect.either(plugin.build(context(resuming))).pipe(Effect.provide(Simulated.layer(suite.all))) as Effect.Effect<
      Either.Either<Curriculum.Curriculum, unknown>
    >
  )

const select = (c: Curriculum.Curriculum, step: number) =>
  Effect.runSync(c.select({ step, batchSize: 32, rng: Rng.make(4, step, "select") }))

describe("the pre-filter baseline (offline filter)", () => {
  it("keeps the problems whose estimated pass rate is in the inclusive band (hand vector)", () => {
    const correct = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(Array.from(OfflineFilter.kept(correct, 8, { pLow: 0.25, pHigh: 0.75 }))).toEqual([2, 3, 4, 5, 6])
    expect(Array.from(OfflineFilter.kept(correct, 8, { pLow: 0, pHigh: 0 }))).toEqual([0])
  })

  it("names the field of a bad band or sample count", () => {
    const e = Either.getLeft(OfflineFilter.validate({ ...OfflineFilter.defaults, samples: 0 }))
    expect(e._tag === "Some" && e.value.field).toBe("offlineFilter.samples")
    // expressions check part options when the plugin builds
    const r = Either.getOrThrow(Registry.parse("offline-filter.gate(pLow=0.9, pHigh=0.5) > cdas", { verifier }))
    expect(r.plugin.name).toBe("offline-filter+cdas")
  })

  it("estimates once, lets through only the band's problems, and reports the rollouts", async () => {
    const c = Either.getOrThrow(await build(OfflineFilter.plugin({ verifier, samples: 8 })))
    const metrics = c.metrics()
    expect(metrics["estimation_rollouts"]).toBe(dataset.problems.length * 8)
    const keptCount = metrics["offline_filter_kept"]!
    expect(keptCount).toBeGreaterThan(0)
    expect(keptCount).toBeLessThan(dataset.problems.length)
    const seen = new Set<number>()
    for (let step = 1; step <= 200; step++) for (const i of select(c, step)) seen.add(i)
    // uniform draws without replacement over the kept set cover it, and nothing else
    expect(seen.size).toBe(keptCount)
    const resumed = Either.getOrThrow(await build(OfflineFilter.plugin({ verifier, samples: 8 }), true))
    expect(resumed.metrics()["estimation_rollouts"]).toBe(0)
    await Effect.runPromise(resumed.restore(JSON.parse(JSON.stringify(c.snapshot()))))
    expect(resumed.metrics()).toEqual(c.metrics())
    for (let step = 201; step <= 210; step++) expect(select(resumed, step)).toEqual(select(c, step))
  })

  it("fails the build naming the field of a bad band, or the band when it keeps no problem", async () => {
    const bad = await build(OfflineFilter.plugin({ verifier, pLow: 0.9, pHigh: 0.5 }))
    expect(Either.isLeft(bad) && (bad.left as ConfigError).field).toBe("offlineFilter.pHigh")
    const none = await build(OfflineFilter.plugin({ verifier, pLow: 0.999, pHigh: 0.9995, samples: 8 }))
    expect(Either.isLeft(none)).toBe(true)
    if (Either.isLeft(none)) {
      expect(none.left).toBeInstanceOf(ConfigError)
      expect((none.left as ConfigError).field).toBe("offlineFilter.pLow/pHigh")
    }
  })
})
