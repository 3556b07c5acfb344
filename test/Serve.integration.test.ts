/**
 * `zpd serve` as a real process: kill -9 in the middle of a run (with an
 * observe in flight), restart from the state directory, and the selections
 * equal an uninterrupted run's; flag and data errors name the flag, file and
 * line.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Curricula } from "@zpd/cli"
import { Problem } from "@zpd/core"
import { Routes, Server } from "@zpd/server"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { fakeCompletions, serve } from "../packages/gpu-runtime/test/servers.ts"
import { type Call, dataset, trainer } from "../packages/server/test/driver.ts"
import { spawnAsync, tempDir } from "./helpers.ts"

const data = dataset(20)
const TOKEN = "integration-token"
const flags = (file: string, state: string) => [
  "serve",
  "--curriculum",
  "sec",
  "--data",
  file,
  "--seed",
  "5",
  "--state",
  state,
  "--batch-size",
  "8",
  "--group-size",
  "4",
  "--port",
  "0",
  "--token",
  TOKEN
]

const zpd = ["--import", "tsx", join(process.cwd(), "packages/cli/src/main.ts")]

/** Starts `zpd serve` (one node process, so SIGKILL reaches the server itself) and waits for its listening line. */
const startServe = (argv: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; call: Call; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [...zpd, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stderr!.on("data", (d) => (err += d))
    child.stdout!.on("data", (d) => {
      out += d
      const m = /^zpd serve: listening on (http:\/\/\S+) token=(\S+)$/m.exec(out)
      if (m === null) return
      const url = m[1]!
      const call: Call = async (method, path, body) => {
        const r = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${m[2]}` },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        return { status: r.status, json: await r.json() }
      }
      resolve({ child, call, url })
    })
    child.on("close", (code) => reject(new Error(`zpd serve exited (${code}) before listening:\n${err}`)))
  })

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/**
 * The uninterrupted run, in this process, with the plugin `zpd serve --curriculum sec` serves; at cursor
 * `ahead` it selects one cursor ahead before observing, as the interrupted run does (a selection made ahead
 * of feedback sees the curriculum before that feedback, so the call order is part of the run).
 */
const uninterrupted = async (steps: number, ahead: number) => {
  const scope = await Effect.runPromise(Scope.make())
  const server = await Effect.runPromise(
    Server.make({
      plugin: Effect.runSync(Curricula.lookup("sec")).plugin as never,
      dataset: Problem.make("train", data.problems),
      seed: 5,
      steps: 1000,
      batchSize: 8,
      groupSize: 4,
      stateDir: tempDir("serve-ref")
    }).pipe(Effect.provideService(Scope.Scope, scope), Effect.provide(NodeFileSystem.layer)) as Effect.Effect<
      Server.Server,
      unknown
    >
  )
  const call: Call = async (method, path, body) => {
    const r = await Effect.runPromise(Routes.handle(server, "t", {
      method,
      path,
      authorization: "Bearer t",
      body: body === undefined ? "" : JSON.stringify(body)
    }))
    return { status: r.status, json: JSON.parse(r.body) }
  }
  const t = trainer(data.suite.all, data.problems)
  for (let c = 0; c < steps; c++) {
    if (c === ahead) {
      await call("POST", "/v1/select", { cursor: c }).then(() => call("POST", "/v1/select", { cursor: c + 1 }))
    }
    await t.step(call, c)
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return t
}

describe("zpd serve (process)", () => {
  it("resumes after kill -9 with an observe in flight: selections equal an uninterrupted run's", async () => {
    const steps = 30
    const reference = await uninterrupted(steps, 15)
    const dir = tempDir("serve-kill")
    const file = join(dir, "train.jsonl")
    writeFileSync(file, data.jsonl)
    const state = join(dir, "state")
    const first = await startServe(flags(file, state))
    const t = trainer(data.suite.all, data.problems)
    for (let c = 0; c < 15; c++) await t.step(first.call, c)
    const indices = (await first.call("POST", "/v1/select", { cursor: 15 })).json.indices as Array<number>
    await first.call("POST", "/v1/select", { cursor: 16 })
    const groups = await t.groupsFor(15, indices)
    const inFlight = first.call("POST", "/v1/observe", { cursor: 15, groups }).catch(() => undefined)
    await killed(first.child)
    await inFlight
    const second = await startServe(flags(file, state))
    try {
      expect((await second.call("POST", "/v1/select", { cursor: 15 })).json.indices).toEqual(indices)
      const retried = await second.call("POST", "/v1/observe", { cursor: 15, groups })
      expect(retried.status).toBe(200)
      t.selections.push(indices)
      t.events.push(...retried.json.events)
      for (let c = 16; c < steps; c++) await t.step(second.call, c)
      expect(t.selections).toEqual(reference.selections)
      expect(t.learner.policyVersion()).toBe(reference.learner.policyVersion())
      const health = (await second.call("GET", "/v1/health")).json
      expect([health.observed, health.selected, health.curriculum]).toEqual([steps - 1, steps - 1, "sec"])
      const anonymous = await fetch(`${second.url}/v1/health`)
      expect(anonymous.status).toBe(401)
    } finally {
      await killed(second.child)
    }
  })

  it("estimates AdaCuRL's difficulties through --inference and selects from the easiest bucket first", async () => {
    const n = data.problems.length
    const byPrompt = new Map(
      data.problems.map((p, i) => [p.prompt, { answer: p.answer, difficulty: 0.1 + (0.8 * i) / n }])
    )
    const endpoint = await serve((req, body, res) => {
      if (req.url === "/health") return void res.writeHead(200, { "content-length": "0" }).end()
      if (req.url !== "/v1/completions") return void res.writeHead(404).end()
      const reply = fakeCompletions(body) as { choices: Array<{ index: number; text: string }> }
      const samples = body.n as number
      for (const choice of reply.choices) {
        const prompt = body.prompt[Math.floor(choice.index / samples)] as string
        const known = byPrompt.get(prompt)!
        const correct = Math.round((1 - known.difficulty) * samples)
        choice.text = choice.index % samples < correct ? `<answer>${known.answer}</answer>` : "no answer"
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply))
    })
    const dir = tempDir("serve-adacurl")
    const file = join(dir, "train.jsonl")
    writeFileSync(file, data.jsonl)
    const argv = flags(file, join(dir, "state")).map((a) => (a === "sec" ? "adacurl" : a))
    const server = await startServe([...argv, "--inference", endpoint.url])
    try {
      expect(endpoint.requests.filter((r) => r.path === "/v1/completions").length).toBeGreaterThan(0)
      for (let c = 0; c < 3; c++) {
        const indices = (await server.call("POST", "/v1/select", { cursor: c })).json.indices as Array<number>
        expect(indices.every((i) => i < Math.ceil(n / 3)), `cursor ${c}: ${indices}`).toBe(true)
        const groups = indices.map((index) => ({ index, rewards: [1, 0, 1, 1] }))
        const reply = (await server.call("POST", "/v1/observe", { cursor: c, groups })).json
        expect(reply.metrics.estimation_rollouts).toBe(n * 32)
      }
    } finally {
      await killed(server.child)
      await endpoint.close()
    }
  })

  it("names the flag, file, line and field of bad input", async () => {
    const dir = tempDir("serve-bad")
    const file = join(dir, "bad.jsonl")
    writeFileSync(
      file,
      `${JSON.stringify({ prompt: "a", level: 1 })}\n${JSON.stringify({ prompt: "b", level: "x" })}\n`
    )
    const good = join(dir, "good.jsonl")
    writeFileSync(good, data.jsonl)
    const zpdServe = (argv: ReadonlyArray<string>) => spawnAsync(process.execPath, [...zpd, ...argv])
    const [bad, curriculum, difficulties] = await Promise.all([
      zpdServe(flags(file, join(dir, "s"))),
      zpdServe(flags(good, join(dir, "s2")).map((a) => (a === "sec" ? "sec > nonsense" : a))),
      zpdServe([...flags(good, join(dir, "s3")).map((a) => (a === "sec" ? "adacurl" : a)), "--difficulties", file])
    ])
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toContain(`${file}:2`)
    expect(bad.stderr).toContain(`"level"`)
    expect(curriculum.stderr).toContain("--curriculum")
    expect(curriculum.stderr).toContain("nonsense")
    expect(difficulties.stderr).toContain(`--difficulties: ${file}:1: field "id"`)
  })
})
