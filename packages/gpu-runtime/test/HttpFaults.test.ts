import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { cases } from "../../../bench/faults/runtime.ts"

describe("runtime fault cases (bench/faults/runtime.ts): each ends clean", () => {
  it("there are at least 25 of them", () => {
    expect(cases.length).toBeGreaterThanOrEqual(25)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const dir = mkdtempSync(join(tmpdir(), "zpd-runtime-fault-"))
    try {
      const result = await c.run({ dir, timeoutMs: 30_000 })
      expect(result.detail === "" ? result.outcome : `${result.outcome}: ${result.detail}`).toMatch(/^clean/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
