/**
 * `npm run bench:serve`: the curriculum server under load (issue 13's
 * target: p99 ≤ 20 ms for select and for observe at batch 256 with 64
 * clients on 1e6 problems).
 *
 * A generated dataset of `--problems` (default 1e6) problems is written to a
 * temp directory and `zpd serve` runs it in its own process, once per
 * curriculum (`--curricula`, default sec,cdas; AdaCuRL and hybrids such as
 * `"adacurl.gate > sec(arms=bucket)"` get precomputed difficulties), with B = 256, G = 8 and its
 * default checkpointing (every 1000 observed cursors, so none falls inside the
 * 320 cursors run by default). Rewards are Bernoulli draws with pass
 * probability 1 − level/6, seeded per (cursor, index), so the curricula's
 * state moves.
 * Phases, from this client process:
 *
 * - **(b) single trainer**: one client advances the cursor (select t,
 *   observe t) for `--warmup` (10) cursors, printed as their own row (the
 *   first observes run unoptimised code: 30–70 ms), then for `--steps` (100)
 *   measured cursors: the step latency a trainer sees.
 * - **(a) 64 clients**: `--clients` clients share the session like the ranks
 *   of one trainer that each call the server: each selects and observes
 *   every cursor with the same bytes, so per cursor one select and one
 *   observe advance the curriculum and 63 of each are retries; the clients
 *   run unsynchronised, so the advancing calls interleave with the retries.
 *   Every client's select reply must equal the first one of its cursor, byte
 *   for byte. The first `--warmup` (10) cursors are printed as their own row
 *   (fresh connections, code not yet optimised by the JIT), then
 *   `--shared-steps` (200) cursors are measured: 25,600 requests.
 * - **(floor)**: phase (a) against a bare `node:http` server answering from
 *   prebuilt replies, first: what this machine, Node's HTTP stack and the load
 *   generator cost before zpd does anything.
 *
 * The clients are `--client raw` (default: `lib/rawHttp.ts`, one keep-alive
 * socket each, prebuilt request bytes) or `--client node-http` (Node's HTTP
 * client, which spends twice the client CPU per request on the cores the
 * server shares).
 *
 * Printed: requests, throughput, p50/p99 latency of select and observe per
 * phase, CPU per request of the server and of this process, and the server's
 * own last-step timings (`GET /v1/metrics`).
 */
import { Rng } from "@zpd/core"
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as http from "node:http"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { Connection, encodeRequest } from "./lib/rawHttp.ts"

const flag = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}

const N = Number(flag("problems", "1000000"))
const STEPS = Number(flag("steps", "100"))
const SHARED_STEPS = Number(flag("shared-steps", "200"))
/** Cursors every client runs through before a shared phase is recorded (connections open, code compiled). */
const WARMUP = Number(flag("warmup", "10"))
/**
 * `--client raw` (default): the lean keep-alive client of `lib/rawHttp.ts`;
 * `--client node-http`: `node:http`'s client, which costs the shared cores
 * about as much CPU per request as the server under test.
 */
const CLIENT = flag("client", "raw")
if (CLIENT !== "raw" && CLIENT !== "node-http") throw new Error(`--client: expected raw or node-http, got ${CLIENT}`)
const CLIENTS = Number(flag("clients", "64"))
const B = 256
const G = 8
const CURRICULA = flag("curricula", "sec,cdas").split(",")
const SYNC = flag("sync", "fsync")
/** `--profile DIR`: write the server's V8 CPU profile there. */
const PROFILE = flag("profile", "")
/** `--server-flags "..."`: extra Node flags for the server process (e.g. `--trace-gc`; its output goes to stderr). */
const SERVER_FLAGS = flag("server-flags", "").split(" ").filter((f) => f !== "")
const TOKEN = "bench-token"

/**
 * AdaCuRL needs difficulties: when a served curriculum names it, every line
 * carries `metadata.difficulty` = level/6 (the failure rate the rewards below
 * draw), which `zpd serve` reads as precomputed difficulties.
 */
const DIFFICULTIES = CURRICULA.some((c) => c.includes("adacurl"))

const writeDataset = async (file: string) => {
  const out = createWriteStream(file)
  for (let i = 0; i < N; i++) {
    const level = 1 + (i % 5)
    const metadata = DIFFICULTIES ? `,"metadata":{"difficulty":${(level / 6).toFixed(4)}}` : ""
    const line = `{"id":"p${i}","prompt":"Compute ${i} + ${i % 97}.","answer":"${
      i + (i % 97)
    }","level":${level},"family":"arith"${metadata}}\n`
    if (!out.write(line)) await new Promise<void>((r) => out.once("drain", () => r()))
  }
  await new Promise((r) => out.end(r))
}

const startServer = (curriculum: string, data: string, state: string) =>
  new Promise<{ child: ChildProcess; port: number; readyMs: number }>((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [
      ...(PROFILE === "" ? [] : ["--cpu-prof", "--cpu-prof-dir", PROFILE]),
      ...SERVER_FLAGS,
      "--import",
      "tsx",
      "packages/cli/src/main.ts",
      "serve",
      "--curriculum",
      curriculum,
      "--data",
      data,
      "--seed",
      "1",
      "--state",
      state,
      "--batch-size",
      String(B),
      "--group-size",
      String(G),
      "--token",
      TOKEN,
      "--sync",
      SYNC
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    let ready = false
    child.stdout!.on("data", (d) => {
      if (ready) return void process.stderr.write(d)
      out += d
      const m = /listening on http:\/\/[^:]+:(\d+) /.exec(out)
      if (m !== null) {
        ready = true
        resolve({ child, port: Number(m[1]), readyMs: performance.now() - t0 })
      }
    })
    child.on("exit", (code) => reject(new Error(`zpd serve exited with ${code}`)))
  })

/**
 * The floor: a bare `node:http` server that reads each body and answers from a
 * prebuilt reply (a select reply of B indices, `{}` for observe), no token,
 * journal or curriculum. Run under the same 64-client phase, it shows how much
 * of the latency is this machine, Node's HTTP stack and the load generator.
 */
const bareServerSource = `
const http = require("node:http")
const indices = Array.from({ length: ${B} }, (_, i) => i * 3901)
const select = JSON.stringify({ cursor: 0, indices, ids: indices.map((i) => "p" + i) })
const server = http.createServer((req, res) => {
  const chunks = []
  req.on("data", (c) => chunks.push(c))
  req.on("end", () => {
    const reply = req.url === "/v1/select" ? select : "{}"
    Buffer.concat(chunks).toString("utf8")
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(reply) })
    res.end(reply)
  })
})
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
`

const startBareServer = () =>
  new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", bareServerSource], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout!.once("data", (d: Buffer) => resolve({ child, port: Number(String(d).trim()) }))
    child.on("error", reject)
  })

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

/** One reply as the phases read it. */
interface Answer {
  readonly status: number
  readonly bytes: Buffer
  readonly ms: number
}

/** `node:http`'s client over the shared keep-alive agent (`--client node-http`, and the metrics read). */
const request = (port: number, method: string, path: string, body?: string) =>
  new Promise<Answer>((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request({
      host: "127.0.0.1",
      port,
      method,
      path,
      agent,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "content-type": "application/json",
        ...(body === undefined ? {} : { "content-length": Buffer.byteLength(body) })
      }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on(
        "end",
        () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), ms: performance.now() - t0 })
      )
    })
    req.on("error", reject)
    req.end(body)
  })

/**
 * A client of the phases: `post(path, body)` sends one POST and resolves with
 * its reply. Bodies are prebuilt per cursor, so `raw` writes cached bytes.
 */
interface Client {
  readonly post: (path: string, body: string) => Promise<Answer>
  readonly close: () => void
}

/** Request bytes by path, then body: the phases reuse one body string per cursor, so each is encoded once. */
const requestBytes = new Map<string, Map<string, Buffer>>()
const authorization = { authorization: `Bearer ${TOKEN}` }

const openClient = async (port: number): Promise<Client> => {
  if (CLIENT === "node-http") return { post: (path, body) => request(port, "POST", path, body), close: () => {} }
  const connection = await Connection.open(port)
  return {
    post: async (path, body) => {
      let byBody = requestBytes.get(path)
      if (byBody === undefined) requestBytes.set(path, byBody = new Map())
      let bytes = byBody.get(body)
      if (bytes === undefined) {
        bytes = encodeRequest("POST", path, authorization, body)
        byBody.set(body, bytes)
      }
      const reply = await connection.send(bytes)
      return { status: reply.status, bytes: reply.body, ms: reply.ms }
    },
    close: () => connection.close()
  }
}

/** The observe body of `cursor` for `indices`: Bernoulli(1 − level/6) rewards, the same bytes on every call. */
const observeBody = (cursor: number, indices: ReadonlyArray<number>): string => {
  const rng = Rng.make(7, cursor, "bench-rewards")
  const groups = indices.map((index) => {
    const p = 1 - (1 + (index % 5)) / 6
    return { index, rewards: Array.from({ length: G }, () => (rng.next() < p ? 1 : 0)) }
  })
  return JSON.stringify({ cursor, groups })
}

/** CPU seconds (user + system) of process `pid` so far, from /proc (Linux); NaN elsewhere. */
const cpuSeconds = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Resident memory of process `pid` in MiB, from /proc (Linux); NaN elsewhere. */
const rssMiB = (pid: number | undefined): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? Number.NaN : Number(m[1]) / 1024
  } catch {
    return Number.NaN
  }
}

const percentile = (xs: Array<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? Number.NaN
}

interface Phase {
  readonly name: string
  readonly select: Array<number>
  readonly observe: Array<number>
  wallMs: number
  /** Server CPU ms per request over the phase. */
  serverCpuMs: number
  /** This client process's CPU ms per request over the phase. */
  clientCpuMs: number
}

const ok = (r: Answer, what: string): Answer => {
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${r.bytes.toString("utf8")}`)
  return r
}

const indicesOf = (select: Answer): ReadonlyArray<number> =>
  (JSON.parse(select.bytes.toString("utf8")) as { indices: Array<number> }).indices

const newPhase = (name: string): Phase => ({
  name,
  select: [],
  observe: [],
  wallMs: 0,
  serverCpuMs: 0,
  clientCpuMs: 0
})

const single = async (client: Client, from: number, steps: number): Promise<Phase> => {
  const phase = newPhase("(b) 1 trainer, advancing")
  const t0 = performance.now()
  for (let t = from; t < from + steps; t++) {
    const s = ok(await client.post("/v1/select", JSON.stringify({ cursor: t })), `select ${t}`)
    phase.select.push(s.ms)
    const o = ok(await client.post("/v1/observe", observeBody(t, indicesOf(s))), `observe ${t}`)
    phase.observe.push(o.ms)
  }
  phase.wallMs = performance.now() - t0
  return phase
}

/**
 * Every client selects and observes cursors `from … from + steps − 1` in a
 * closed loop. The first select reply of a cursor fixes its batch (and the
 * observe body every client sends); every other client's reply must be the
 * same bytes (the same cursor gives the same batch), or the phase fails.
 */
const shared = async (clients: ReadonlyArray<Client>, from: number, steps: number): Promise<Phase> => {
  const phase = newPhase(`(a) ${clients.length} clients, one session`)
  const batches = new Map<number, { readonly reply: Buffer; readonly observe: string }>()
  const run = async (client: Client) => {
    for (let t = from; t < from + steps; t++) {
      const s = ok(await client.post("/v1/select", JSON.stringify({ cursor: t })), `select ${t}`)
      phase.select.push(s.ms)
      let batch = batches.get(t)
      if (batch === undefined) {
        batch = { reply: s.bytes, observe: observeBody(t, indicesOf(s)) }
        batches.set(t, batch)
      } else if (!batch.reply.equals(s.bytes)) {
        throw new Error(`select ${t}: two clients got different batches for the same cursor`)
      }
      const o = ok(await client.post("/v1/observe", batch.observe), `observe ${t}`)
      phase.observe.push(o.ms)
    }
  }
  const t0 = performance.now()
  await Promise.all(clients.map(run))
  phase.wallMs = performance.now() - t0
  return phase
}

const fmt = (x: number) => x.toFixed(2)

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "zpd-bench-serve-"))
  const data = join(dir, "data.jsonl")
  const w0 = performance.now()
  await writeDataset(data)
  process.stdout.write(`dataset: ${N} problems (${((performance.now() - w0) / 1000).toFixed(1)} s to write)\n`)
  const rows: Array<string> = []
  const measuredOn = (pid: number | undefined) => async (run: () => Promise<Phase>) => {
    const cpu0 = cpuSeconds(pid)
    const client0 = process.cpuUsage()
    const phase = await run()
    const requests = phase.select.length + phase.observe.length
    phase.serverCpuMs = ((cpuSeconds(pid) - cpu0) * 1000) / requests
    const client = process.cpuUsage(client0)
    phase.clientCpuMs = (client.user + client.system) / 1000 / requests
    return phase
  }
  const row = (label: string, p: Phase) => {
    const requests = p.select.length + p.observe.length
    return `| ${label} | ${p.name} | ${requests} | ${(requests / (p.wallMs / 1000)).toFixed(0)} | ${
      fmt(percentile(p.select, 0.5))
    } | ${fmt(percentile(p.select, 0.99))} | ${fmt(percentile(p.observe, 0.5))} | ${
      fmt(percentile(p.observe, 0.99))
    } | ${fmt(p.serverCpuMs)} | ${fmt(p.clientCpuMs)} |`
  }
  /**
   * Opens the clients and runs the shared phase: first `WARMUP` cursors (new
   * connections, code not yet optimised; printed as their own row), then the
   * `SHARED_STEPS` measured ones.
   */
  const sharedPhases = async (pid: number | undefined, port: number, from: number) => {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => openClient(port)))
    try {
      const warm = await measuredOn(pid)(() => shared(clients, from, WARMUP))
      const steady = await measuredOn(pid)(() => shared(clients, from + WARMUP, SHARED_STEPS))
      return [{ ...warm, name: `${warm.name}: warm-up, ${WARMUP} cursors` }, steady]
    } finally {
      for (const c of clients) c.close()
    }
  }
  const floor = await startBareServer()
  try {
    for (const p of await sharedPhases(floor.child.pid, floor.port, 0)) rows.push(row("(floor) bare node:http", p))
  } finally {
    floor.child.kill("SIGTERM")
  }
  try {
    for (const curriculum of CURRICULA) {
      const { child, port, readyMs } = await startServer(curriculum, data, join(dir, `state-${curriculum}`))
      try {
        process.stdout.write(`${curriculum}: server ready in ${(readyMs / 1000).toFixed(1)} s\n`)
        const trainer = await openClient(port)
        const warm = await measuredOn(child.pid)(() => single(trainer, 0, WARMUP))
        const phases = [
          { ...warm, name: `${warm.name}: warm-up, ${WARMUP} cursors` },
          await measuredOn(child.pid)(() => single(trainer, WARMUP, STEPS))
        ]
        trainer.close()
        phases.push(...await sharedPhases(child.pid, port, WARMUP + STEPS))
        const metrics = JSON.parse((await request(port, "GET", "/v1/metrics")).bytes.toString("utf8")) as {
          timings: Record<string, number>
        }
        for (const p of phases) rows.push(row(curriculum, p))
        process.stdout.write(
          `${curriculum}: server RSS ${rssMiB(child.pid).toFixed(0)} MiB; timings of the last step (ms): ${
            Object.entries(metrics.timings).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")
          }\n`
        )
      } finally {
        child.kill("SIGTERM")
      }
    }
  } finally {
    agent.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(
    `\nB = ${B}, G = ${G}, ${N} problems, --sync ${SYNC}; latency in ms, measured by the client (${CLIENT}) ` +
      `(target: p99 ≤ 20 ms); server CPU per request from /proc; load average ${
        loadavg().map((x) => x.toFixed(1)).join(" ")
      } on ${cpus().length} cores\n\n` +
      `| curriculum | phase | requests | req/s | select p50 | select p99 | observe p50 | observe p99 | server CPU ms/req | client CPU ms/req |\n` +
      `|---|---|---|---|---|---|---|---|---|---|\n${rows.join("\n")}\n`
  )
}

main().catch((e) => {
  process.stderr.write(`${String(e)}\n`)
  process.exitCode = 1
})
