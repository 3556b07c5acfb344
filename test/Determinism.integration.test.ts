/**
 * Determinism and resume: the same seed writes byte-identical metrics.jsonl;
 * a run resumed from its step-20 checkpoint ends exactly like the
 * uninterrupted 40-step run; Node and Deno write the same bytes.
 */
import { Sec } from "@zpd/plugins"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { execFileAsync, run, tempDir } from "./helpers.ts"

const sec = () => ({ name: "sec", plugin: Sec.plugin({ alpha: 0.5, temperature: 0.2 }) })
const read = (dir: string, file = "metrics.jsonl") => readFileSync(join(dir, file), "utf8")

describe("determinism", () => {
  it("the same seed gives byte-identical metrics.jsonl; another seed does not", async () => {
    const a = tempDir("det-a")
    const b = tempDir("det-b")
    const c = tempDir("det-c")
    await run(sec(), { steps: 30, seed: 7, out: a })
    await run(sec(), { steps: 30, seed: 7, out: b })
    await run(sec(), { steps: 30, seed: 8, out: c })
    expect(read(a).split("\n").filter(Boolean)).toHaveLength(30)
    expect(read(a)).toBe(read(b))
    expect(read(a)).not.toBe(read(c))
  })

  it("a 40-step run resumed from its step-20 checkpoint matches the uninterrupted run exactly", async () => {
    const full = tempDir("full")
    const part = tempDir("part")
    await run(sec(), { steps: 40, seed: 3, out: full })
    await run(sec(), { steps: 20, seed: 3, out: part })
    const at20 = JSON.parse(read(part, "checkpoint/state.json"))
    expect(at20.step).toBe(20)
    await run(sec(), { steps: 40, resume: part })
    expect(read(part)).toBe(read(full))
    // The final checkpoints agree too: curriculum queues, Q values and trainer parameters.
    expect(read(part, "checkpoint/state.json")).toBe(read(full, "checkpoint/state.json"))
    expect(readdirSync(join(part, "checkpoint")).filter((f) => f.endsWith(".tmp"))).toEqual([])
  })

  it("resume discards metrics written after the checkpoint (a crash between checkpoints)", async () => {
    const full = tempDir("full2")
    const crashed = tempDir("crash")
    await run(sec(), { steps: 25, seed: 4, out: full })
    // A crash after step 22 leaves a step-20 checkpoint and metrics past it, the last line torn.
    await run(sec(), { steps: 20, seed: 4, out: crashed })
    const { appendFileSync } = await import("node:fs")
    appendFileSync(join(crashed, "metrics.jsonl"), "{\"step\":21,\"reward_mean\":999}\n{\"step\":22,")
    await run(sec(), { steps: 25, resume: crashed })
    expect(read(crashed)).toBe(read(full))
  })
})

describe("Node and Deno", () => {
  const bin = (name: string) => join(process.cwd(), "node_modules", ".bin", name)
  it.runIf(existsSync(bin("deno")))("write the same metrics.jsonl for the same seed", async () => {
    const node = tempDir("node")
    const deno = tempDir("deno")
    const argv = ["--steps", "15", "--seed", "11", "--quiet"]
    await execFileAsync(bin("tsx"), ["examples/sec.ts", ...argv, "--out", node])
    await execFileAsync(bin("deno"), ["run", "-A", "examples/sec.ts", ...argv, "--out", deno])
    expect(read(node).split("\n").filter(Boolean)).toHaveLength(15)
    expect(read(deno)).toBe(read(node))
  })
})
