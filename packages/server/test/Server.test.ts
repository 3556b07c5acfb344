import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { Problem, Runtime } from "@zpd/core"
import { AdaCurl, Cdas, Sec } from "@zpd/plugins"
import { Difficulties, Journal, Routes, Server, Session } from "@zpd/server"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type Call, dataset, trainer, verifier } from "./driver.ts"

const TOKEN = "test-token"
const data = dataset(20)
const tempDir = () => mkdtempSync(join(tmpdir(), "zpd-serve-"))
const sec = () => Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 })

const refusedTrainer = Layer.succeed(Runtime.TrainerRuntime, {
  update: () => Effect.die("no trainer"),
  resetReference: Effect.die("no trainer"),
  publishWeights: Effect.die("no trainer"),
  checkpoint: () => Effect.die("no trainer"),
  restore: () => Effect.die("no trainer")
})

interface Started {
  readonly server: Server.Server
  readonly call: Call
  /** `authorization`: the header (default the right token; `null` = no header). */
  readonly raw: (
    method: string,
    path: string,
    body: string | Uint8Array,
    authorization?: string | null
  ) => Promise<Routes.Response>
  readonly close: () => Promise<void>
}

const start = async <E, R>(
  dir: string,
  options: Partial<Server.Options<E, R>> & {
    readonly layer?: Layer.Layer<R>
    readonly fileSystem?: Layer.Layer<FileSystem.FileSystem>
  } = {}
): Promise<Started> => {
  const scope = await Effect.runPromise(Scope.make())
  const { fileSystem, layer, ...rest } = options
  const server = await Effect.runPromise(
    Server.make({
      plugin: sec() as never,
      dataset: Problem.make("train", data.problems),
      seed: 3,
      steps: 100,
      batchSize: 8,
      groupSize: 4,
      stateDir: dir,
      ...rest
    }).pipe(
      Effect.provideService(Scope.Scope, scope),
      Effect.provide(fileSystem ?? NodeFileSystem.layer),
      Effect.provide((layer ?? Layer.empty) as Layer.Layer<never>)
    ) as Effect.Effect<Server.Server, unknown, never>
  )
  const raw = (
    method: string,
    path: string,
    body: string | Uint8Array,
    authorization: string | null = `Bearer ${TOKEN}`
  ) =>
    Effect.runPromise(Routes.handle(server, TOKEN, { method, path, authorization: authorization ?? undefined, body }))
  const call: Call = async (method, path, body) => {
    const r = await raw(method, path, body === undefined ? "" : JSON.stringify(body))
    return { status: r.status, json: JSON.parse(r.body) }
  }
  return { server, call, raw, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** Selections of an uninterrupted run of `steps` cursors. */
const uninterrupted = async (steps: number) => {
  const s = await start(tempDir())
  const t = trainer(data.suite.all, data.problems)
  for (let c = 0; c < steps; c++) await t.step(s.call, c)
  await s.close()
  return t.selections
}

describe("ObservedBodies", () => {
  it("finds a body by its exact bytes only, and forgets cursors below a floor", () => {
    const bodies = new Session.ObservedBodies()
    const encode = (text: string) => new TextEncoder().encode(text)
    const body = encode(`{"cursor":4,"groups":[{"index":7,"rewards":[1,0,1]}]}`)
    bodies.add(body, 4)
    body[0] = 0 // the stored copy is not the caller's array
    expect(bodies.find(encode(`{"cursor":4,"groups":[{"index":7,"rewards":[1,0,1]}]}`))).toBe(4)
    expect(bodies.find(encode(`{"cursor":4,"groups":[{"index":7,"rewards":[1,0,0]}]}`))).toBeUndefined()
    expect(bodies.find(encode(`{"cursor":4,"groups":[{"index":7,"rewards":[1,0,1]}]} `))).toBeUndefined()
    bodies.add(encode(`{"cursor":5,"groups":[{"index":8,"rewards":[1,0,1]}]}`), 5)
    bodies.forget(5)
    expect(bodies.find(encode(`{"cursor":4,"groups":[{"index":7,"rewards":[1,0,1]}]}`))).toBeUndefined()
    const five = encode(`{"cursor":5,"groups":[{"index":8,"rewards":[1,0,1]}]}`)
    expect(bodies.find(five)).toBe(5)
    const shifted = new Uint8Array(five.length + 1)
    shifted.set(five, 1)
    expect(bodies.find(shifted.subarray(1))).toBe(5)
  })
})

describe("zpd serve routes", () => {
  it("refuses a missing or wrong token on every route, health and unknown routes included", async () => {
    const s = await start(tempDir())
    const targets = [...Object.keys(Routes.routes), "GET /v1/nope"]
    for (const target of targets) {
      const [method, path] = target.split(" ") as [string, string]
      for (const authorization of [null, "Bearer wrong", `Basic ${TOKEN}`, "Bearer test-token-longer"]) {
        const r = await s.raw(method, path, "{}", authorization)
        expect(r.status, `${target} with ${authorization}`).toBe(401)
        const body = JSON.parse(r.body)
        expect(body.error.code).toBe("unauthorized")
        expect(body.error.message).toContain(target)
      }
    }
    expect((await s.raw("GET", "/v1/health", "")).status).toBe(200)
    expect(s.server.session.selected).toBe(-1)
    await s.close()
  })

  it("gives the same batch for the same cursor, also after a restart from the state directory", async () => {
    const dir = tempDir()
    const s = await start(dir)
    const t = trainer(data.suite.all, data.problems)
    for (let c = 0; c < 5; c++) await t.step(s.call, c)
    const ahead = await s.call("POST", "/v1/select", { cursor: 5 })
    const again = await s.raw("POST", "/v1/select", JSON.stringify({ cursor: 5 }))
    expect(JSON.parse(again.body)).toEqual(ahead.json)
    const before = await s.raw("POST", "/v1/select", JSON.stringify({ cursor: 3 }))
    await s.close()
    const r = await start(dir)
    expect((await r.raw("POST", "/v1/select", JSON.stringify({ cursor: 5 }))).body).toBe(again.body)
    expect((await r.raw("POST", "/v1/select", JSON.stringify({ cursor: 3 }))).body).toBe(before.body)
    expect(JSON.parse(before.body).indices).toEqual(t.selections[3])
    const health = (await r.call("GET", "/v1/health")).json
    expect([health.observed, health.selected, health.dataset_size]).toEqual([4, 5, data.problems.length])
    await r.close()
  })

  it("answers a repeated observe with the journaled reply and refuses a different body", async () => {
    const s = await start(tempDir())
    const t = trainer(data.suite.all, data.problems)
    await t.step(s.call, 0)
    const indices = (await s.call("POST", "/v1/select", { cursor: 1 })).json.indices as Array<number>
    const groups = indices.map((index, k) => ({ index, rewards: [k % 2, 0, 1, 0] }))
    const first = await s.raw("POST", "/v1/observe", JSON.stringify({ cursor: 1, groups }))
    expect(first.status).toBe(200)
    expect((await s.raw("POST", "/v1/observe", JSON.stringify({ cursor: 1, groups }))).body).toBe(first.body)
    // The same bytes as a view at an odd offset (as a socket's buffer hands them over).
    const bytes = new TextEncoder().encode(JSON.stringify({ cursor: 1, groups }))
    const padded = new Uint8Array(bytes.length + 3)
    padded.set(bytes, 3)
    expect((await s.raw("POST", "/v1/observe", padded.subarray(3))).body).toBe(first.body)
    const shuffled = await s.raw("POST", "/v1/observe", JSON.stringify({ cursor: 1, groups: [...groups].reverse() }))
    expect(shuffled.body).toBe(first.body)
    const changed = groups.map((g, k) => (k === 2 ? { ...g, rewards: [1, 1, 1, 1] } : g))
    const conflict = await s.call("POST", "/v1/observe", { cursor: 1, groups: changed })
    expect(conflict.status).toBe(409)
    expect(conflict.json.error.code).toBe("observe_conflict")
    expect(conflict.json.error.message).toContain("position 2")
    const explicit = groups.map((g) => ({ ...g, advantages: [0, 0, 0, 0] }))
    expect((await s.call("POST", "/v1/observe", { cursor: 1, groups: explicit })).json.error.code).toBe(
      "observe_conflict"
    )
    expect(s.server.session.observed).toBe(1)
    await s.close()
  })

  it("applies concurrent selects and observes of one cursor once", async () => {
    const dir = tempDir()
    const s = await start(dir, { checkpointEvery: 0 })
    const selects = await Promise.all(Array.from({ length: 8 }, () => s.raw("POST", "/v1/select", `{"cursor":0}`)))
    expect(new Set(selects.map((r) => r.body)).size).toBe(1)
    const indices = JSON.parse(selects[0]!.body).indices as Array<number>
    const body = JSON.stringify({ cursor: 0, groups: indices.map((index) => ({ index, rewards: [1, 0, 0, 1] })) })
    const observes = await Promise.all(Array.from({ length: 8 }, () => s.raw("POST", "/v1/observe", body)))
    expect(observes.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(new Set(observes.map((r) => r.body)).size).toBe(1)
    const ops = readFileSync(Journal.journalFile(dir), "utf8").trim().split("\n").map((l) => JSON.parse(l).op)
    expect(ops).toEqual(["select", "observe"])
    await s.close()
    const r = await start(dir)
    expect((await r.raw("POST", "/v1/select", `{"cursor":1}`)).body).toBe(
      (await s.raw("POST", "/v1/select", `{"cursor":1}`)).body
    )
    await r.close()
  })

  it("lets the requests that arrive during a change wait for it instead of queueing for the lock", async () => {
    const dir = tempDir()
    // Journal writes wait for `open()`, so requests can be sent while a change is being made.
    let gate = Promise.resolve()
    let open = () => {}
    const close = () => (gate = new Promise<void>((resolve) => (open = resolve)))
    const gatedFs = Layer.effect(
      FileSystem.FileSystem,
      Effect.map(FileSystem.FileSystem, (fs) => ({
        ...fs,
        open: (path: string, options?: FileSystem.OpenFileOptions) =>
          Effect.map(fs.open(path, options), (file) =>
            Object.assign(Object.create(file) as FileSystem.File, {
              writeAll: (bytes: Uint8Array) => Effect.zipRight(Effect.promise(() => gate), file.writeAll(bytes))
            }))
      }))
    ).pipe(Layer.provide(NodeFileSystem.layer))
    const s = await start(dir, { checkpointEvery: 0, fileSystem: gatedFs })
    let effects = 0
    const run = (effect: Effect.Effect<Routes.Response>) => {
      effects++
      return Effect.runPromise(effect)
    }
    const send = (path: string, body: string) =>
      Routes.handlePromise(s.server, TOKEN, { method: "POST", path, authorization: `Bearer ${TOKEN}`, body }, run)
    const changing = async () => {
      for (let i = 0; s.server.settled() === undefined; i++) {
        if (i > 2000) throw new Error("the server never reported a change in progress")
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    const during = async (path: string, body: string) => {
      close()
      const first = send(path, body)
      await changing()
      const rest = Array.from({ length: 7 }, () => send(path, body))
      open()
      return Promise.all([first, ...rest])
    }
    const selects = await during("/v1/select", `{"cursor":0}`)
    expect(new Set(selects.map((r) => r.body)).size).toBe(1)
    expect(effects).toBe(1)
    const indices = JSON.parse(selects[0]!.body).indices as Array<number>
    const body = JSON.stringify({ cursor: 0, groups: indices.map((index) => ({ index, rewards: [1, 0, 0, 1] })) })
    const observes = await during("/v1/observe", body)
    expect(observes.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(new Set(observes.map((r) => r.body)).size).toBe(1)
    expect(effects).toBe(2)
    // After the wait, a request that still needs the lock takes it (the next cursor's select).
    close()
    const next = send("/v1/select", `{"cursor":1}`)
    await changing()
    const after = send("/v1/select", `{"cursor":2}`)
    open()
    expect((await next).status).toBe(200)
    expect((await after).status).toBe(200)
    expect(effects).toBe(4)
    const ops = readFileSync(Journal.journalFile(dir), "utf8").trim().split("\n").map((l) => JSON.parse(l).op)
    expect(ops).toEqual(["select", "observe", "select", "select"])
    await s.close()
  })

  it("refuses cursors out of order, too far ahead, with a gap, unselected, and bad groups, naming them", async () => {
    const s = await start(tempDir())
    const code = async (path: string, body: unknown) => {
      const r = await s.call("POST", path, body)
      return [r.status, r.json.error?.code, r.json.error?.message] as const
    }
    expect(await code("/v1/select", { cursor: 3 })).toEqual([409, "too_far_ahead", expect.stringContaining("cursor 3")])
    expect(await code("/v1/select", { cursor: 1 })).toEqual([409, "cursor_gap", expect.stringContaining("cursor 0")])
    expect(await code("/v1/observe", { cursor: 0, groups: [{ index: 0, rewards: [1, 0, 0, 0] }] })).toEqual([
      409,
      "not_selected",
      expect.stringContaining("cursor 0")
    ])
    const indices = (await s.call("POST", "/v1/select", { cursor: 0 })).json.indices as Array<number>
    await s.call("POST", "/v1/select", { cursor: 1 })
    await s.call("POST", "/v1/select", { cursor: 2 })
    expect((await code("/v1/select", { cursor: 3 }))[1]).toBe("too_far_ahead")
    expect(await code("/v1/observe", { cursor: 1, groups: [{ index: 0, rewards: [1, 0, 0, 0] }] })).toEqual([
      409,
      "out_of_order",
      expect.stringContaining("cursor 0")
    ])
    const groups = indices.map((index) => ({ index, rewards: [1, 0, 0, 0] }))
    expect(await code("/v1/observe", { cursor: 0, groups: groups.slice(1) })).toEqual([
      400,
      "bad_request",
      expect.stringContaining(`index ${indices[0]}`)
    ])
    const stranger = data.problems.findIndex((_, i) => !indices.includes(i))
    expect(await code("/v1/observe", { cursor: 0, groups: [...groups, { index: stranger, rewards: [1, 0, 0, 0] }] }))
      .toEqual([400, "bad_request", expect.stringContaining(`groups[${groups.length}].index`)])
    const short = groups.map((g, k) => (k === 3 ? { ...g, rewards: [1, 0] } : g))
    expect(await code("/v1/observe", { cursor: 0, groups: short })).toEqual([
      400,
      "bad_request",
      expect.stringContaining("groups[3].rewards")
    ])
    const badCorrect = groups.map((g, k) => (k === 5 ? { ...g, correct: [1, 2, 0, 0] } : g))
    expect((await code("/v1/observe", { cursor: 0, groups: badCorrect }))[2]).toContain("groups[5].correct[1]")
    expect((await code("/v1/select", { cursor: 3, batch_size: 9 }))[2]).toContain("batch_size")
    expect((await code("/v1/select", { cursor: -1 }))[2]).toContain("cursor")
    expect((await s.raw("POST", "/v1/select", "not json")).status).toBe(400)
    expect(s.server.session.observed).toBe(-1)
    expect((await s.call("POST", "/v1/observe", { cursor: 0, groups })).status).toBe(200)
    expect(s.server.session.observed).toBe(0)
    await s.close()
  })

  it("GET state then POST restore on a fresh server continues like an uninterrupted run", async () => {
    const expected = await uninterrupted(12)
    const a = await start(tempDir())
    const t = trainer(data.suite.all, data.problems)
    for (let c = 0; c < 6; c++) await t.step(a.call, c)
    await a.call("POST", "/v1/select", { cursor: 6 })
    const state = (await a.call("GET", "/v1/state")).json
    expect(Object.keys(state.selections)).toEqual(["6"])
    await a.close()
    const b = await start(tempDir())
    expect((await b.call("POST", "/v1/restore", state)).json).toEqual({ observed: 5, reobserved: [], not_recorded: [] })
    for (let c = 6; c < 12; c++) await t.step(b.call, c)
    expect(t.selections).toEqual(expected)
    const other = await start(tempDir(), { seed: 4 })
    const refused = await other.call("POST", "/v1/restore", state)
    expect([refused.status, refused.json.error.code]).toEqual([409, "state_mismatch"])
    expect(refused.json.error.message).toContain(`"seed"`)
    const cdas = await start(tempDir(), { plugin: Cdas.plugin({ priorCount: 1 }) as never })
    const wrong = await cdas.call("POST", "/v1/restore", state)
    expect(wrong.json.error.message).toContain(`"identity"`)
    await Promise.all([b.close(), other.close(), cdas.close()])
  })

  it.each([["the journal", false], ["a checkpoint", true]])(
    "re-applies the recorded outcomes of a step saved before it was reported (observe_recorded), after a restart from %s",
    async (_, compact) => {
      const expected = await uninterrupted(8)
      const dir = tempDir()
      const a = await start(dir, { checkpointEvery: 0 })
      const t = trainer(data.suite.all, data.problems)
      for (let c = 0; c < 6; c++) await t.step(a.call, c)
      // verl's order: select 6, train it, save the checkpoint (GET state), then report 6's outcomes.
      const indices = (await a.call("POST", "/v1/select", { cursor: 6 })).json.indices as Array<number>
      const groups = await t.groupsFor(6, indices)
      const state = (await a.call("GET", "/v1/state")).json
      expect(state.observed).toBe(5)
      expect((await a.call("POST", "/v1/observe", { cursor: 6, groups })).status).toBe(200)
      await t.step(a.call, 7)
      if (compact) expect((await a.call("POST", "/v1/checkpoint")).status).toBe(200)
      await a.close()
      // The watch is journaled, and the record is in the checkpoint: a restarted server still holds cursor 6's outcomes.
      const r = await start(dir)
      const restored = await r.call("POST", "/v1/restore", { ...state, observe_recorded: [6] })
      expect(restored.json).toEqual({ observed: 6, reobserved: [6], not_recorded: [] })
      expect((await r.call("POST", "/v1/select", { cursor: 7 })).json.indices).toEqual(expected[7])
      await r.close()
      // A server that never saw cursor 6 observed says so; the trainer then has it selected again.
      const fresh = await start(tempDir())
      const missing = await fresh.call("POST", "/v1/restore", { ...state, observe_recorded: [6] })
      expect(missing.json).toEqual({ observed: 5, reobserved: [], not_recorded: [6] })
      expect((await fresh.call("POST", "/v1/select", { cursor: 6 })).json.indices).toEqual(indices)
      const bad = await fresh.call("POST", "/v1/restore", { ...state, observe_recorded: [-1] })
      expect([bad.status, bad.json.error.message]).toEqual([
        400,
        `POST /v1/restore: field "observe_recorded": expected an array of cursors (integers ≥ 0), got [-1]`
      ])
      await fresh.close()
    }
  )

  it("recovers from a torn last journal line and a checkpoint, and names a corrupt line", async () => {
    const expected = await uninterrupted(10)
    const dir = tempDir()
    const s = await start(dir, { checkpointEvery: 0 })
    const t = trainer(data.suite.all, data.problems)
    for (let c = 0; c < 4; c++) await t.step(s.call, c)
    const checkpoint = await s.call("POST", "/v1/checkpoint")
    expect(checkpoint.json).toEqual({ observed: 3, path: Journal.checkpointFile(dir) })
    expect(readFileSync(Journal.journalFile(dir), "utf8")).toBe("")
    for (let c = 4; c < 7; c++) await t.step(s.call, c)
    await s.close()
    appendFileSync(Journal.journalFile(dir), `{"op":"select","cursor":7,"batch_si`)
    const r = await start(dir, { sync: "write" })
    expect(r.server.session.observed).toBe(6)
    for (let c = 7; c < 10; c++) await t.step(r.call, c)
    expect(t.selections).toEqual(expected)
    await r.close()
    const lines = readFileSync(Journal.journalFile(dir), "utf8").split("\n")
    writeFileSync(Journal.journalFile(dir), ["{oops", ...lines].join("\n"))
    await expect(start(dir)).rejects.toThrow(/journal\.jsonl.*line 1/)
    writeFileSync(Journal.journalFile(dir), lines.join("\n"))
    const saved = readFileSync(Journal.checkpointFile(dir), "utf8")
    const tampered = saved.replace(/"observed":\d+/, `"observed":0`)
    expect(tampered).not.toBe(saved)
    writeFileSync(Journal.checkpointFile(dir), tampered)
    await expect(start(dir)).rejects.toThrow(/checkpoint\.json.*checksum mismatch/)
    writeFileSync(Journal.checkpointFile(dir), saved)
    await expect(start(dir, { seed: 4 })).rejects.toThrow(/field "seed"/)
    await expect(start(dir, { batchSize: 16 })).rejects.toThrow(/--batch-size/)
  })

  it("checkpoints every N observed cursors by itself, truncating the journal, and resumes from that", async () => {
    const expected = await uninterrupted(9)
    const dir = tempDir()
    const s = await start(dir, { checkpointEvery: 3 })
    const t = trainer(data.suite.all, data.problems)
    for (let c = 0; c < 6; c++) await t.step(s.call, c)
    const checkpointed = () => JSON.parse(readFileSync(Journal.checkpointFile(dir), "utf8").split("\n")[1]!).observed
    for (let wait = 0; wait < 500 && checkpointed() < 5; wait++) await new Promise((r) => setTimeout(r, 10))
    expect(checkpointed()).toBe(5)
    expect(readFileSync(Journal.journalFile(dir), "utf8")).toBe("")
    await s.close()
    const r = await start(dir)
    for (let c = 6; c < 9; c++) await t.step(r.call, c)
    expect(t.selections).toEqual(expected)
    await r.close()
  })

  it("maps the trainer's positions after attach and names the id that does not match", async () => {
    const s = await start(tempDir())
    const ids = data.problems.map((p) => p.id)
    const reversed = [...ids].reverse()
    const n = ids.length
    const missing = await s.call("POST", "/v1/attach", { ids: reversed.slice(1) })
    expect([missing.status, missing.json.error.code]).toEqual([409, "dataset_mismatch"])
    expect(missing.json.error.message).toContain(JSON.stringify(ids[n - 1]))
    const extra = await s.call("POST", "/v1/attach", { ids: [...reversed.slice(1), "not-a-problem"] })
    expect(extra.json.error.message).toContain(`ids[${n - 1}] = "not-a-problem"`)
    const dup = await s.call("POST", "/v1/attach", { ids: [...reversed.slice(0, -1), reversed[0]] })
    expect(dup.json.error.message).toContain("duplicated")
    const hashes = await Promise.all(
      [...data.problems].reverse().map(async (p) =>
        Array.from(
          new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(p.prompt))),
          (b) => b.toString(16).padStart(2, "0")
        ).join("")
      )
    )
    const badHash = [...hashes]
    badHash[4] = "0".repeat(64)
    const content = await s.call("POST", "/v1/attach", { ids: reversed, prompt_sha256: badHash })
    expect(content.json.error.message).toContain(`prompt_sha256[4] (id ${JSON.stringify(reversed[4])})`)
    const ok = await s.call("POST", "/v1/attach", { ids: reversed, prompt_sha256: hashes })
    expect(ok.json.dataset_size).toBe(n)
    expect((await s.call("POST", "/v1/attach", { ids: reversed })).json).toEqual(ok.json)
    const selected = (await s.call("POST", "/v1/select", { cursor: 0 })).json
    expect(selected.ids).toEqual(selected.indices.map((j: number) => reversed[j]))
    const groups = selected.indices.map((index: number) => ({ index, rewards: [1, 0, 0, 1] }))
    expect((await s.call("POST", "/v1/observe", { cursor: 0, groups })).status).toBe(200)
    const changed = await s.call("POST", "/v1/attach", { ids })
    expect(changed.json.error.code).toBe("dataset_mismatch")
    await s.call("POST", "/v1/select", { cursor: 1 })
    const state = (await s.call("GET", "/v1/state")).json
    const restored = await start(tempDir())
    await restored.call("POST", "/v1/restore", state)
    const again = await restored.call("POST", "/v1/select", { cursor: 1 })
    expect(again.json).toEqual((await s.call("POST", "/v1/select", { cursor: 1 })).json)
    expect(again.json.ids).toEqual(again.json.indices.map((j: number) => reversed[j]))
    await Promise.all([s.close(), restored.close()])
  })

  it("serves AdaCuRL with precomputed difficulties: buckets from the table, BucketMerged in observe's reply", async () => {
    const n = data.problems.length
    const table = new Map(data.problems.map((p, i) => [p.id, 0.1 + (0.8 * i) / n]))
    const plugin = AdaCurl.plugin({ verifier, fine: { samples: 64 }, window: 16, buckets: 3 })
    const s = await start(tempDir(), {
      plugin: plugin as never,
      layer: Layer.merge(Difficulties.layer(table, verifier), refusedTrainer) as never
    })
    const firstBucket = new Set(data.problems.slice(0, Math.ceil(n / 3) + 1).map((_, i) => i))
    const merges: Array<unknown> = []
    for (let c = 0; c < 30 && merges.length === 0; c++) {
      const indices = (await s.call("POST", "/v1/select", { cursor: c })).json.indices as Array<number>
      for (const i of indices) expect(firstBucket.has(i), `cursor ${c} index ${i}`).toBe(true)
      const groups = indices.map((index) => ({ index, rewards: [1, 1, 1, 0] }))
      const reply = (await s.call("POST", "/v1/observe", { cursor: c, groups })).json
      merges.push(...reply.events.filter((e: { _tag: string }) => e._tag === "BucketMerged"))
      expect(reply.metrics.competence).toBeGreaterThanOrEqual(0)
    }
    expect(merges).toEqual([expect.objectContaining({ _tag: "BucketMerged", bucket: 2 })])
    await s.close()
  })

  it("refuses AdaCuRL without an estimation source, naming the flags, and a table without the problem's id", async () => {
    const plugin = AdaCurl.plugin({ verifier, fine: { samples: 8 } })
    const none = start(tempDir(), {
      plugin: plugin as never,
      layer: Layer.merge(Difficulties.missing("adacurl"), refusedTrainer) as never
    })
    await expect(none).rejects.toThrow(/--inference URL.*--difficulties/)
    const partial = new Map([[data.problems[0]!.id, 0.5]])
    const missing = start(tempDir(), {
      plugin: plugin as never,
      layer: Layer.merge(Difficulties.layer(partial, verifier), refusedTrainer) as never
    })
    await expect(missing).rejects.toThrow(new RegExp(`no difficulty for problem id "${data.problems[1]!.id}"`))
  })
})
