import { describe, expect, it } from "@effect/vitest"
import { ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import * as Problem from "@zpd/core/Problem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Registry from "../src/Registry.ts"

const verifier = () => ({ reward: 1, correct: true, formatted: true })
const parse = (expr: string) => Registry.parse(expr, { verifier })
const ok = (expr: string) => Either.getOrThrow(parse(expr))
const fail = (expr: string) => {
  const result = parse(expr)
  if (Either.isRight(result)) throw new Error(`"${expr}" parsed`)
  expect(result.left).toBeInstanceOf(ConfigError)
  return result.left
}
const kinds = (expr: string) =>
  Part.partsOf(ok(expr).plugin as unknown as Part.Chain<Part.Kind, Part.Kind, unknown, unknown>).map((p) =>
    `${p.kind}:${p.name}`
  )

describe("Registry.parse", () => {
  it("names a single curriculum by its plugin name, with the same identity as the plugin", () => {
    for (const name of ["random", "ordered", "sec", "cdas", "pcl", "adacurl"]) expect(ok(name).name).toBe(name)
    expect(kinds("adacurl")).toEqual(["gate:adacurl", "sampler:uniform"])
    expect(kinds("pcl")).toEqual(["prefilter:pcl", "sampler:uniform"])
    expect(ok("sec").plugin.identity).toBe(ok("sec(alpha=0.5)").plugin.identity) // 0.5 is the default
    expect(ok("sec").plugin.identity).not.toBe(ok("sec(alpha=0.4)").plugin.identity)
  })

  it("composes gates, pre-filters and a sampler in one expression", () => {
    expect(kinds("adacurl.gate > sec(arms=[bucket], temperature=0.2)")).toEqual(["gate:adacurl", "sampler:sec"])
    expect(ok("adacurl.gate > sec").name).toBe("adacurl+sec")
    expect(kinds("pcl.prefilter(k=2) > cdas")).toEqual(["prefilter:pcl", "sampler:cdas"])
    expect(kinds("adacurl.buckets(fine.samples=32, fine.keep=[0, 1]) > sec(arms=bucket)")).toEqual([
      "gate:buckets",
      "sampler:sec"
    ])
    expect(kinds("adacurl.gate > pcl")).toEqual(["gate:adacurl", "prefilter:pcl", "sampler:uniform"])
    const options = JSON.parse(
      ok("adacurl.buckets(fine.samples=32, fine.keep=[0, 1]) > sec(arms=\"bucket\")").plugin.identity
    )
    expect(options.parts[0].options.fine).toEqual({ keep: [0, 1], samples: 32 })
    expect(options.parts[1].options.arms).toEqual(["bucket"])
  })

  it("a list option given one word is the one-element list: sec(arms=bucket) builds and equals sec(arms=[bucket])", () => {
    expect(ok("adacurl.gate > sec(arms=bucket)").plugin.identity).toBe(
      ok("adacurl.gate > sec(arms=[bucket])").plugin.identity
    )
    expect(ok("dump(arms=family)").plugin.identity).toBe(ok("dump").plugin.identity)
    const dataset = Problem.make(
      "d",
      [1, 2, 3, 4].map((level) => ({
        id: `p${level}`,
        prompt: "1+1",
        answer: "2",
        level,
        family: "sums",
        metadata: {}
      }))
    )
    const curriculum = Effect.runSync(
      ok("sec(arms=level)").plugin.build({
        dataset,
        seed: 1,
        steps: 1,
        batchSize: 2,
        groupSize: 1
      }) as unknown as Effect.Effect<
        { readonly select: (r: unknown) => Effect.Effect<ReadonlyArray<number>> }
      >
    )
    expect(curriculum.select).toBeTypeOf("function")
    const bad = Effect.runSync(
      Effect.flip(
        ok("sec(arms=[])").plugin.build({ dataset, seed: 1, steps: 1, batchSize: 1, groupSize: 1 })
      ) as Effect.Effect<ConfigError>
    )
    expect([bad.field, bad.message]).toEqual(["sec.arms", expect.stringContaining("at least one metadata key")])
  })

  it("gives AdaCuRL its own step and loss, and DAPO its dynamic sampling", () => {
    expect(ok("adacurl.gate > sec").loss).toEqual({ klCoef: 0.04 })
    expect(ok("sec").loss).toEqual({})
    expect(ok("dapo").name).toBe("random")
    expect(ok("sec > dapo(genBatchSize=96)").pipeline.step.name).toContain("dynamicSampling")
    expect(ok("sec").pipeline.step.name).toContain("selectBatch")
  })

  it("rejects an unknown name, naming the token and its column and listing the valid names", () => {
    const e = fail("adacurl.gate > secc")
    expect(e.field).toBe("curriculum expression, column 16")
    expect(e.message).toContain("\"secc\"")
    for (const name of ["adacurl.gate", "pcl.prefilter", "sec", "cdas", "uniform", "dapo"]) {
      expect(e.message).toContain(name)
    }
  })

  it("rejects compositions that do not fit, saying why", () => {
    expect(fail("sec > cdas").message).toMatch(/"cdas".*cannot follow "sec"/)
    expect(fail("sec > adacurl.gate").message).toMatch(/cannot follow/)
    expect(fail("pcl.prefilter > adacurl.gate > sec").message).toMatch(
      /"adacurl.gate" \(gate\) cannot follow "pcl.prefilter"/
    )
    expect(fail("adacurl > sec").message).toMatch(/cannot follow "adacurl"/)
    expect(fail("adacurl.gate").message).toMatch(/a sampler to end the curriculum/)
    expect(fail("dapo > sec").message).toMatch(/cannot follow "dapo"/)
  })

  it("rejects malformed syntax, naming the token", () => {
    expect(fail("sec(alpha 0.5)").message).toMatch(/"="/)
    expect(fail("sec >").field).toBe("curriculum expression (at its end)")
    expect(fail("sec(alpha=)").message).toMatch(/a value/)
    expect(fail("sec ; cdas").field).toBe("curriculum expression, column 5")
    expect(fail("sec(arms=\"level)").message).toMatch(/closing quote/)
  })

  it("bad option values fail when the plugin is built, naming the field", () => {
    const plugin = ok("sec(alpha=2)").plugin
    const dataset = Problem.make("d", [{ id: "a", prompt: "1+1", answer: "2", level: 1, family: "sums", metadata: {} }])
    const error = Effect.runSync(
      Effect.flip(plugin.build({ dataset, seed: 1, steps: 1, batchSize: 1, groupSize: 1 })) as Effect.Effect<
        ConfigError
      >
    )
    expect(error.field).toBe("sec.alpha")
  })
})
