/**
 * The examples honour the CLI contract (DESIGN §7): they write
 * `<out>/metrics.jsonl` and `<out>/checkpoint/state.json`, print a summary
 * table, and reject bad input with a message naming the flag, file or field.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { execFileAsync, spawnAsync, tempDir } from "./helpers.ts"

const tsx = join(process.cwd(), "node_modules", ".bin", "tsx")
const runExample = (file: string, ...argv: Array<string>) => spawnAsync(tsx, [`examples/${file}`, ...argv])

describe("examples", () => {
  for (const file of ["sec.ts", "random.ts", "custom-curriculum.ts"]) {
    it(`${file} writes metrics, a checkpoint and a summary table`, async () => {
      const out = tempDir(file.replace(".ts", ""))
      const result = await runExample(file, "--steps", "6", "--seed", "2", "--out", out)
      expect(result.status, result.stderr).toBe(0)
      const lines = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n")
      expect(lines.map((l) => JSON.parse(l).step)).toEqual([1, 2, 3, 4, 5, 6])
      expect(JSON.parse(lines[5]!)).toHaveProperty("frac_reward_zero_std")
      expect(existsSync(join(out, "checkpoint", "state.json"))).toBe(true)
      expect(result.stdout).toMatch(/frac_reward_zero_std/)
      expect(result.stderr).toMatch(/step 6\/6/)
    })
  }

  it("rejects a bad flag value, naming the flag", async () => {
    const result = await runExample("sec.ts", "--steps", "ten")
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/--steps.*integer.*ten/)
  })

  it("rejects a JSONL line without a prompt, naming file and line", async () => {
    const dir = tempDir("jsonl")
    const file = join(dir, "train.jsonl")
    writeFileSync(file, "{\"prompt\":\"1+1\",\"answer\":\"2\",\"level\":1}\n\n{\"answer\":\"3\",\"level\":2}\n")
    const result = await runExample("sec.ts", "--data", file, "--steps", "2")
    expect(result.status).toBe(1)
    expect(result.stderr).toContain(`${file}:3`)
    expect(result.stderr).toMatch(/"prompt".*non-empty string/)
  })

  it("trains on a JSONL dataset given with --data", async () => {
    const dir = tempDir("jsonl-ok")
    const file = join(dir, "train.jsonl")
    const rows = Array.from(
      { length: 60 },
      (_, i) =>
        JSON.stringify({ prompt: `What is ${i}+${i}?`, answer: String(2 * i), level: 1 + (i % 3), family: "sums" })
    )
    writeFileSync(file, rows.join("\n") + "\n")
    const out = join(dir, "run")
    const result = await runExample("sec.ts", "--data", file, "--steps", "3", "--batch-size", "8", "--out", out)
    expect(result.status, result.stderr).toBe(0)
    const last = JSON.parse(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").at(-1)!)
    expect(last.step).toBe(3)
    expect(last.rollouts_generated).toBe(8 * 8)
  })
})
