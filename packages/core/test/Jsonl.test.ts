import { describe, expect, it } from "@effect/vitest"
import * as Jsonl from "../src/Jsonl.ts"

describe("Jsonl.records", () => {
  it("numbers lines from 1, skips blank ones and parses each", () => {
    const out = [...Jsonl.records("{\"a\":1}\n\n  \n[2]\n\"x\"\n")]
    expect(out).toEqual([{ line: 1, value: { a: 1 } }, { line: 4, value: [2] }, { line: 5, value: "x" }])
  })

  it("reports a bad line with its number; last tells a torn final line from a bad middle one", () => {
    const middle = [...Jsonl.records("{\"a\":1}\n{\"a\":\n{\"a\":3}\n")]
    expect(middle[1]).toMatchObject({ line: 2, last: false })
    expect(middle[1]!.error).toMatch(/JSON/)
    const torn = [...Jsonl.records("{\"a\":1}\n{\"a\":\n\n")]
    expect(torn[1]).toMatchObject({ line: 2, last: true })
  })

  it("isObject accepts objects only", () => {
    expect([{}, [], null, 1, "s"].map(Jsonl.isObject)).toEqual([true, false, false, false, false])
  })
})
