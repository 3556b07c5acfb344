/**
 * The AdaCuRL examples honour the CLI contract: metrics, a checkpoint, a
 * summary table, `estimation_rollouts` in every record, an exact resume, and
 * the same bytes under Node and Deno.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { execFileAsync, spawnAsync, tempDir } from "./helpers.ts"

const bin = (name: string) => join(process.cwd(), "node_modules", ".bin", name)
const runExample = (file: string, ...argv: Array<string>) => spawnAsync(bin("tsx"), [`examples/${file}`, ...argv])
const read = (dir: string, file = "metrics.jsonl") => readFileSync(join(dir, file), "utf8")
const lines = (dir: string) => read(dir).trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>)

describe("AdaCuRL examples", () => {
  for (
    const [file, extra] of [
      ["adacurl.ts", ["competence", "bucket", "buffer_fill", "ref_resets", "round"]],
      ["hybrid-adacurl-sec.ts", ["competence", "bucket", "sec_q_1", "sec_p_1"]],
      ["sec-estimated-arms.ts", ["sec_q_1", "sec_q_2", "sec_q_3"]]
    ] as const
  ) {
    it(`${file} writes metrics with estimation_rollouts, a checkpoint and a summary table`, async () => {
      const out = tempDir(file.replace(".ts", ""))
      const result = await runExample(file, "--steps", "6", "--seed", "2", "--out", out)
      expect(result.status, result.stderr).toBe(0)
      const records = lines(out)
      expect(records.map((r) => r["step"])).toEqual([1, 2, 3, 4, 5, 6])
      // 1,800 training problems × N = 32 fine samples
      for (const r of records) expect(r["estimation_rollouts"]).toBe(1800 * 32)
      for (const key of extra) expect(records[5]).toHaveProperty(key)
      expect(existsSync(join(out, "checkpoint", "state.json"))).toBe(true)
      expect(result.stdout).toMatch(/frac_reward_zero_std/)
    })
  }

  // k = 10: the examples evaluate every 10 steps and at the last one, so a shorter first leg would add an
  // evaluation the uninterrupted run does not have.
  it("adacurl.ts resumed from its step-10 checkpoint ends exactly like the uninterrupted 20-step run", async () => {
    const full = tempDir("adacurl-cli-full")
    const part = tempDir("adacurl-cli-part")
    expect((await runExample("adacurl.ts", "--steps", "20", "--seed", "5", "--out", full, "--quiet")).status).toBe(0)
    expect((await runExample("adacurl.ts", "--steps", "10", "--seed", "5", "--out", part, "--quiet")).status).toBe(0)
    expect((await runExample("adacurl.ts", "--steps", "20", "--resume", part, "--quiet")).status).toBe(0)
    expect(read(part)).toBe(read(full))
    expect(read(part, "checkpoint/state.json")).toBe(read(full, "checkpoint/state.json"))
  })

  it.runIf(existsSync(bin("deno")))(
    "hybrid-adacurl-sec.ts writes the same metrics.jsonl under Node and Deno",
    async () => {
      const node = tempDir("hybrid-node")
      const deno = tempDir("hybrid-deno")
      const argv = ["--steps", "12", "--seed", "11", "--quiet"]
      await execFileAsync(bin("tsx"), ["examples/hybrid-adacurl-sec.ts", ...argv, "--out", node])
      await execFileAsync(bin("deno"), ["run", "-A", "examples/hybrid-adacurl-sec.ts", ...argv, "--out", deno])
      expect(read(node).split("\n").filter(Boolean)).toHaveLength(12)
      expect(read(deno)).toBe(read(node))
    }
  )
})
