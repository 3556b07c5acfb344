import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stage from "../src/Stage.ts"
import * as Stages from "../src/Stages.ts"

const double = Stage.make("double", (ctx: { readonly x: number }) => Effect.succeed({ y: ctx.x * 2 }))
const addBoth = Stage.make(
  "addBoth",
  (ctx: { readonly x: number; readonly y: number }) => Effect.succeed({ z: ctx.x + ctx.y })
)
const label = Stage.make("label", (ctx: { readonly z: number }) => Effect.succeed({ text: `z=${ctx.z}` }))

describe("Stage runtime", () => {
  it.effect("andThen merges outputs and passes the accumulated context", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const spy = Stage.make("spy", (ctx: { readonly x: number; readonly y: number; readonly z: number }) =>
        Effect.sync(() => {
          seen.push({ ...ctx })
          return { w: ctx.x * 100 + ctx.y * 10 + ctx.z }
        }))
      const composed = double.pipe(Stage.andThen(addBoth), Stage.andThen(label), Stage.andThen(spy))
      const out = yield* composed.run({ x: 3 })
      expect(out).toEqual({ y: 6, z: 9, text: "z=9", w: 369 })
      // The output carries only the added fields, not the input.
      expect("x" in out).toBe(false)
      // The last stage saw the input plus every earlier output.
      expect(seen).toEqual([{ x: 3, y: 6, z: 9, text: "z=9" }])
    }))

  it.effect("data-first andThen behaves like the piped form", () =>
    Effect.gen(function*() {
      const composed = Stage.andThen(double, addBoth)
      expect(yield* composed.run({ x: 5 })).toEqual({ y: 10, z: 15 })
      expect(composed.name).toBe("double > addBoth")
    }))

  it.effect("a later stage's output overrides an earlier field of the same name", () =>
    Effect.gen(function*() {
      const a = Stage.make("a", (_: { readonly x: number }) => Effect.succeed({ v: 1 }))
      const b = Stage.make("b", (ctx: { readonly v: number }) => Effect.succeed({ v: ctx.v + 1 }))
      expect(yield* Stage.andThen(a, b).run({ x: 0 })).toEqual({ v: 2 })
    }))

  it.effect("stages run in order and a failure stops the rest", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const step = (name: string) =>
        Stage.make(name, (_: { readonly x: number }) => Effect.sync(() => (log.push(name), {})))
      const boom = Stage.make("boom", (_: { readonly x: number }) => Effect.fail("boom" as const))
      const composed = step("a").pipe(Stage.andThen(step("b")), Stage.andThen(boom), Stage.andThen(step("c")))
      const result = yield* Effect.either(composed.run({ x: 1 }))
      expect(result._tag).toBe("Left")
      expect(log).toEqual(["a", "b"])
    }))

  it("names lists composed stages in run order", () => {
    const composed = double.pipe(Stage.andThen(addBoth), Stage.andThen(label))
    expect(composed.names).toEqual(["double", "addBoth", "label"])
    expect(composed.name).toBe("double > addBoth > label")
    const nested = Stage.andThen(double, Stage.andThen(addBoth, label))
    expect(nested.names).toEqual(["double", "addBoth", "label"])
    expect(Stage.identity<{ readonly x: number }>().pipe(Stage.andThen(double)).names).toEqual(["identity", "double"])
  })

  it("the standard step lists its seven stages in order", () => {
    const standard = Stages.standard({ verifier: () => ({ reward: 0, correct: false, formatted: false }) })
    expect(standard.names).toEqual([
      "selectBatch",
      "rollout",
      "reward",
      "advantages",
      "klWeights",
      "policyUpdate",
      "updateCurriculum"
    ])
  })

  it.effect("mapEffect keeps the name (and names) and changes behaviour", () =>
    Effect.gen(function*() {
      const composed = double.pipe(Stage.andThen(addBoth))
      const mapped = composed.pipe(
        Stage.mapEffect((effect, input) => Effect.map(effect, (out) => ({ ...out, fromInput: input.x })))
      )
      expect(mapped.name).toBe(composed.name)
      expect(mapped.names).toEqual(["double", "addBoth"])
      expect(yield* mapped.run({ x: 2 })).toEqual({ y: 4, z: 6, fromInput: 2 })
      const spanned = Stage.withSpan(double)
      expect(spanned.name).toBe("double")
      expect(yield* spanned.run({ x: 4 })).toEqual({ y: 8 })
    }))

  it("isStage recognises stages only", () => {
    expect(Stage.isStage(double)).toBe(true)
    expect(Stage.isStage(Stage.andThen(double, addBoth))).toBe(true)
    expect(Stage.isStage({ name: "x", run: () => Effect.void })).toBe(false)
    expect(Stage.isStage(null)).toBe(false)
  })
})

describe("Stage types", () => {
  it("composition tracks Input and Output", () => {
    const composed = double.pipe(Stage.andThen(addBoth), Stage.andThen(label))
    expectTypeOf<Stage.Input<typeof composed>>().toEqualTypeOf<{ readonly x: number }>()
    expectTypeOf<Stage.Output<typeof composed>>().toEqualTypeOf<
      { y: number } & { z: number } & { text: string }
    >()
  })

  it("errors and requirements are unioned", () => {
    class Svc extends Context.Tag("Svc")<Svc, { readonly k: number }>() {}
    const first = Stage.make(
      "first",
      (ctx: { readonly x: number }) => ctx.x > 0 ? Effect.succeed({ y: ctx.x }) : Effect.fail("negative" as const)
    )
    const second = Stage.make(
      "second",
      (ctx: { readonly y: number }) => Effect.map(Svc, (svc) => ({ k: svc.k * ctx.y }))
    )
    const composed = Stage.andThen(first, second)
    expectTypeOf<Stage.Input<typeof composed>>().toEqualTypeOf<{ readonly x: number }>()
    expectTypeOf(composed.run).returns.toEqualTypeOf<
      Effect.Effect<{ y: number } & { k: number }, "negative", Svc>
    >()
  })

  it("the standard step needs StepInput and adds every stage's field", () => {
    const standard = Stages.standard({ verifier: () => ({ reward: 0, correct: false, formatted: false }) })
    expectTypeOf<Stage.Input<typeof standard>>().toEqualTypeOf<Stages.StepInput>()
    type Out = Stage.Output<typeof standard>
    expectTypeOf<Out>().toHaveProperty("batch")
    expectTypeOf<Out>().toHaveProperty("groups")
    expectTypeOf<Out>().toHaveProperty("scored")
    expectTypeOf<Out>().toHaveProperty("advantages")
    expectTypeOf<Out>().toHaveProperty("klWeights")
    expectTypeOf<Out>().toHaveProperty("update")
    expectTypeOf<Out>().toHaveProperty("events")
    expectTypeOf<Out["batch"]>().toEqualTypeOf<ReadonlyArray<number>>()
    expectTypeOf<Out["klWeights"] extends Float64Array ? true : false>().toEqualTypeOf<true>()
    expectTypeOf<Out["klWeights"] extends ReadonlyArray<number> ? true : false>().toEqualTypeOf<false>()
  })

  it("Requires names the missing fields", () => {
    expectTypeOf<Stage.Requires<{ a: 1; b: 2 }, { a: 1 }>>().toEqualTypeOf<unknown>()
    expectTypeOf<Stage.Requires<{ a: 1 }, { a: 1; b: 2; c: 3 }>>().toEqualTypeOf<
      { readonly "missing stage input": "b" | "c" }
    >()
  })
})
