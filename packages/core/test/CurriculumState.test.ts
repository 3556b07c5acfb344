import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Columns from "../src/Columns.ts"
import * as Curriculum from "../src/Curriculum.ts"

describe("Curriculum.typedArrayBytes and make().stateBytes", () => {
  it("sums the typed arrays reachable through objects and arrays, each view once", () => {
    const shared = new Float64Array(10)
    const state = { a: new Int32Array(5), nested: [{ b: shared }, { c: shared }], n: 3, s: "x", u: undefined }
    expect(Curriculum.typedArrayBytes(state)).toBe(20 + 80)
    expect(Curriculum.typedArrayBytes(null)).toBe(0)
    expect(Curriculum.typedArrayBytes(new Uint8Array(7).subarray(2))).toBe(5)
  })

  it("a curriculum built with make reports its state's typed arrays, also after restore", () => {
    const State = Schema.Struct({ column: Columns.Float64Column, queue: Columns.Queue })
    const c = Curriculum.make({
      name: "t",
      state: State,
      initial: { column: new Float64Array(100), queue: { items: new Int32Array(100), cursor: 0 } },
      select: () => []
    })
    expect(c.stateBytes?.()).toBe(800 + 400)
    const snap = c.snapshot() as { column: string; queue: unknown }
    Effect.runSync(c.restore({ ...snap, column: Schema.encodeSync(Columns.Float64Column)(new Float64Array(3)) }))
    expect(c.stateBytes?.()).toBe(24 + 400)
  })
})
