import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import * as Effect from "effect/Effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { describe, expect, it } from "vitest"
import * as Bench from "../src/Bench.ts"
import * as Progress from "../src/Progress.ts"

/**
 * A stand-in worker speaking the protocol: per request line, writes a run
 * directory step by step (checkpoint at the middle), or fails / crashes where
 * the job says so — only on a fresh start, so a resume succeeds.
 */
const fakeWorker = `
const fs = require("node:fs")
const rl = require("node:readline").createInterface({ input: process.stdin })
rl.on("line", (line) => {
  const job = JSON.parse(line)
  fs.appendFileSync(job.dir + "/requests.log", (job.resume ? "resume" : "fresh") + "\\n")
  let from = 0
  if (job.resume) from = JSON.parse(fs.readFileSync(job.dir + "/checkpoint/state.json", "utf8")).step
  else fs.writeFileSync(job.dir + "/metrics.jsonl", "")
  for (let step = from + 1; step <= job.steps; step++) {
    fs.appendFileSync(job.dir + "/metrics.jsonl", JSON.stringify({ step, acc_ood: step / 100 }) + "\\n")
    process.stdout.write("@progress " + step + "\\n")
    if (step === Math.floor(job.steps / 2)) {
      fs.mkdirSync(job.dir + "/checkpoint", { recursive: true })
      fs.writeFileSync(job.dir + "/checkpoint/state.json", JSON.stringify({ step }))
      if (job.crash && !job.resume) { process.stderr.write("simulated crash in " + job.label + "\\n"); process.exit(3) }
      if (job.fail && !job.resume) { process.stdout.write("@failed boom: " + job.label + "\\n"); return }
    }
  }
  fs.writeFileSync(job.dir + "/run.json", "{}")
  process.stdout.write("@done\\n")
})
`

interface FakeJob extends Bench.Job {
  readonly crash?: boolean
  readonly fail?: boolean
}

const run = (
  jobs: ReadonlyArray<FakeJob>,
  concurrency: number,
  display?: (l: ReadonlyArray<string>, f: boolean) => void
) => {
  const dir = mkdtempSync(join(tmpdir(), "zpd-worker-"))
  const script = join(dir, "worker.cjs")
  writeFileSync(script, fakeWorker)
  return Effect.runPromise(
    Bench.run({
      jobs,
      concurrency,
      worker: () => Command.make(process.execPath, script),
      request: (job, resume) => JSON.stringify({ ...job, resume }),
      refresh: "20 millis",
      ...(display === undefined ? {} : { display })
    }).pipe(Effect.provide(NodeContext.layer))
  )
}

describe("Bench.run", () => {
  it("runs every job, replaces a crashed worker, reports failures, then resumes and skips what is complete", async () => {
    const base = mkdtempSync(join(tmpdir(), "zpd-bench-"))
    const jobs: Array<FakeJob> = [
      { label: "a", dir: join(base, "a"), steps: 10 },
      { label: "b", dir: join(base, "b"), steps: 10, crash: true },
      { label: "c", dir: join(base, "c"), steps: 6 },
      { label: "d", dir: join(base, "d"), steps: 8, fail: true }
    ]
    const finals: Array<ReadonlyArray<string>> = []
    const first = await run(jobs, 1, (lines, final) => final && finals.push(lines))
    expect(first.ran.map((j) => j.label).sort()).toEqual(["a", "c"])
    expect(first.failed.map((f) => f.job.label).sort()).toEqual(["b", "d"])
    const crash = first.failed.find((f) => f.job.label === "b")!.reason
    expect(crash).toContain("worker exited (code 3) at step 5/10")
    expect(crash).toContain("simulated crash in b")
    expect(first.failed.find((f) => f.job.label === "d")!.reason).toBe("boom: d")
    expect(finals).toHaveLength(1)
    expect(finals[0]!.at(-1)).toContain("2/4 runs done")
    expect(finals[0]!.at(-1)).toContain("2 failed")

    const second = await run(jobs, 2)
    expect(second.skipped.map((j) => j.label).sort()).toEqual(["a", "c"])
    expect(second.ran.map((j) => j.label).sort()).toEqual(["b", "d"])
    expect(second.failed).toEqual([])
    expect(readFileSync(join(base, "b", "requests.log"), "utf8")).toBe("fresh\nresume\n")
    const steps = readFileSync(join(base, "b", "metrics.jsonl"), "utf8").trim().split("\n").map((l) =>
      JSON.parse(l).step
    )
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])

    const third = await run(jobs, 2)
    expect(third.ran).toEqual([])
    expect(third.skipped).toHaveLength(4)
  })

  it("resumes a truncated run from its checkpoint, and starts one without a checkpoint afresh in an emptied directory", async () => {
    const base = mkdtempSync(join(tmpdir(), "zpd-bench-fresh-"))
    const truncated = { label: "x", dir: join(base, "x"), steps: 4 }
    await run([truncated], 1)
    writeFileSync(join(truncated.dir, "metrics.jsonl"), `{"step":1}\n`) // run.json stays, metrics no longer complete
    expect((await run([truncated], 1)).ran).toHaveLength(1)
    expect(readFileSync(join(truncated.dir, "requests.log"), "utf8")).toBe("fresh\nresume\n")

    const bare = { label: "y", dir: join(base, "y"), steps: 4 }
    await run([bare], 1)
    rmSync(join(bare.dir, "checkpoint"), { recursive: true })
    rmSync(join(bare.dir, "run.json"))
    writeFileSync(join(bare.dir, "stale.tfevents"), "old")
    expect((await run([bare], 1)).ran).toHaveLength(1)
    expect(existsSync(join(bare.dir, "stale.tfevents"))).toBe(false)
    expect(readFileSync(join(bare.dir, "requests.log"), "utf8")).toBe("fresh\n")
  })
})

describe("Progress.render", () => {
  it("shows one line per running job and an overall line with an ETA from the step rate", () => {
    const state: Progress.State = {
      startedMs: 0,
      totalJobs: 4,
      totalSteps: 400,
      skipped: 1,
      finished: 1,
      failed: 0,
      finishedSteps: 100,
      running: new Map([["j", { label: "sec default s2 300", steps: 200, from: 0, step: 100, startedMs: 10_000 }]])
    }
    const lines = Progress.render(state, 20_000)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toContain("sec default s2 300")
    expect(lines[0]).toContain("100/200")
    expect(lines[0]).toContain("10.0 steps/s")
    // 200 of 400 steps in 20 s → 20 s left
    expect(lines[1]).toBe("bench: 2/4 runs done  (1 already complete)  200/400 steps (50%)  elapsed 20s  ETA 20s")
    expect(Progress.duration(3_725_000)).toBe("1h02m")
  })
})
