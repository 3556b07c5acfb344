/**
 * `npm run bench:http`: the cost of zpd's inference client against a raw
 * `fetch` client, on a fake OpenAI-compatible server (bench/http-server.ts,
 * its own process on 127.0.0.1, fixed delay, prebuilt vLLM-shaped replies).
 *
 * For each row (P prompts, n samples, C requests in flight, L tokens per
 * completion, prompts per request, group mode):
 *
 * - raw: a pool of C async loops that `fetch` the request bodies zpd would
 *   send (built with zpd's own body builder, same seeds) and `JSON.parse`
 *   each reply. Before timing, the server checks that both clients sent
 *   byte-identical bodies (a digest over all bodies of one call).
 * - zpd: `HttpInference.generate` over the same prompts (client built once,
 *   outside the timing; `FetchHttpClient`).
 *
 * Reps are interleaved (raw, zpd, then zpd, raw, …) and the medians printed:
 * wall time, client CPU (user + system, this process only) per request and
 * per completion, zpd/raw wall ratio and zpd's extra CPU per completion.
 *
 *   npm run bench:http                         # every row, 5 reps (1 for the P = 2048/4096 fanout rows)
 *   npm run bench:http -- --rows A,D --reps 3  # chosen rows
 *   npm run bench:http -- --endpoints 2        # the same rows over 2 servers (zpd balances; raw alternates)
 *   npm run bench:http -- --transport fetch    # zpd over fetch (the portable path; the default "auto" is node:http under Node)
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Rng from "@zpd/core/Rng"
import type { PromptInput, SamplingParams } from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { loadavg } from "node:os"
import process from "node:process"
import { createInterface } from "node:readline"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as HttpInference from "../packages/gpu-runtime/src/HttpInference.ts"
import { chunkPrompts, requestBody } from "../packages/gpu-runtime/src/internal/completions.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

interface Row {
  readonly name: string
  readonly P: number
  readonly n: number
  readonly C: number
  readonly L: number
  readonly perRequest: number
  readonly mode: "n" | "fanout"
  readonly linear?: boolean
}

const rows: ReadonlyArray<Row> = [
  { name: "A", P: 256, n: 8, C: 256, L: 64, perRequest: 1, mode: "n" },
  { name: "B", P: 1024, n: 8, C: 256, L: 64, perRequest: 1, mode: "n" },
  { name: "C", P: 1024, n: 16, C: 64, L: 512, perRequest: 8, mode: "n" },
  { name: "D", P: 1024, n: 8, C: 256, L: 64, perRequest: 1, mode: "fanout" },
  { name: "E", P: 2048, n: 8, C: 256, L: 64, perRequest: 1, mode: "fanout", linear: true },
  { name: "F", P: 4096, n: 8, C: 256, L: 64, perRequest: 1, mode: "fanout", linear: true }
]

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}
const chosen = arg("rows")?.split(",") ?? rows.map((r) => r.name)
const reps = Number(arg("reps") ?? "5")
const linearReps = Number(arg("reps-linear") ?? "1")
const delayMs = Number(arg("delay") ?? "20")
const endpointCount = Number(arg("endpoints") ?? "1")
/** `--transport auto|fetch|node`: zpd's `transport` option (default auto: node:http under Node; the raw client always uses `fetch`). */
const transport = (arg("transport") ?? "auto") as "auto" | "fetch" | "node"
/** `--only zpd|raw`: run one client (for `node --cpu-prof`). */
const only = arg("only")

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ")

const startServer = (): Promise<{ url: string; stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      new URL("./http-server.ts", import.meta.url).pathname,
      String(delayMs)
    ], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.on("error", reject)
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("listening ")) resolve({ url: line.slice(10).trim(), stop: () => child.kill() })
    })
  })

const sampling: SamplingParams = { temperature: 1, topP: 1, topK: 0, maxTokens: 64, seed: 7 }

const promptsOf = (P: number): Array<PromptInput> =>
  Array.from({ length: P }, (_, i) => ({
    promptId: `p${i}`,
    text: "",
    tokenIds: Array.from({ length: 32 }, (_, t) => 1 + ((i * 131 + t * 17) % 50000))
  }))

/** The bodies zpd sends for this call, in request order. */
const bodiesOf = (row: Row, prompts: ReadonlyArray<PromptInput>, s: SamplingParams): Array<string> =>
  chunkPrompts(prompts, row.n, row.perRequest, row.mode).map((part) =>
    JSON.stringify(requestBody(part, s, Rng.deriveSeed(s.seed!, part.k, "http-request"), undefined, {}))
  )

const rawRun = async (urls: ReadonlyArray<string>, bodies: ReadonlyArray<string>, C: number): Promise<number> => {
  let next = 0
  let choices = 0
  const worker = async () => {
    for (;;) {
      const k = next++
      if (k >= bodies.length) return
      const res = await fetch(`${urls[k % urls.length]}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: bodies[k]!
      })
      if (res.status !== 200) throw new Error(`raw client: HTTP ${res.status}`)
      const json = JSON.parse(await res.text()) as { choices: Array<unknown> }
      choices += json.choices.length
    }
  }
  await Promise.all(Array.from({ length: Math.min(C, bodies.length) }, worker))
  return choices
}

const measure = async (run: () => Promise<number>) => {
  gc()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const completions = await run()
  const wall = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  return { wall, cpu: (cpu.user + cpu.system) / 1000, completions }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** What the server received during `send`: the number of request bodies and a digest over them. */
const digestOf = async (url: string, send: () => Promise<unknown>): Promise<string> => {
  await fetch(`${url}/bench/reset`, { method: "POST" })
  await send()
  const { bodies, digest } = (await (await fetch(`${url}/bench/digest`)).json()) as { bodies: number; digest: string }
  return `${bodies} bodies, ${digest}`
}

const main = async () => {
  const servers = await Promise.all(Array.from({ length: endpointCount }, startServer))
  const urls = servers.map((s) => s.url)
  const run = <A, E>(effect: Effect.Effect<A, E, any>) =>
    Effect.runPromise(Effect.provide(effect, FetchHttpClient.layer) as Effect.Effect<A, E>)
  console.log(
    `bench:http  fake server delay ${delayMs} ms, ${endpointCount} endpoint(s), zpd transport ${transport}, ` +
      `node ${process.version}; ` +
      `medians of ${reps} interleaved reps (${linearReps} for linearity rows); load average ${load()}`
  )
  const header =
    "row  mode      P     n   C    L  ppr  reqs   | raw ms   zpd ms  ratio | raw cpu/req zpd cpu/req ms | extra cpu/completion ms"
  console.log(header)
  const results: Array<{ row: Row; zpdWall: number; zpdCpu: number }> = []
  try {
    for (const row of rows.filter((r) => chosen.includes(r.name))) {
      const prompts = promptsOf(row.P)
      const s = { ...sampling, maxTokens: row.L }
      const bodies = bodiesOf(row, prompts, s)
      const client = await run(HttpInference.make({
        endpoints: urls,
        logprobSemantics: "processed",
        maxConcurrency: row.C,
        promptsPerRequest: row.perRequest,
        groupMode: row.mode,
        warnTruncatedAbove: 1, // every bench completion stops at max_tokens by construction
        transport,
        timeout: "10 minutes" // the raw client has no limit: on a loaded machine a retried timeout would add requests
      }))
      const zpd = () =>
        run(client.generate({ requestId: "bench", prompts, n: row.n, sampling: s })).then((out) => out.length)
      const raw = () => rawRun(urls, bodies, row.C)
      // warm-up, and the byte-identity check (bodies are compared on the first server)
      if (endpointCount === 1) {
        const [a, b] = [await digestOf(urls[0]!, raw), await digestOf(urls[0]!, zpd)]
        // a retried request (e.g. a timeout on an overloaded machine) shows up as an extra body
        if (a !== b) {
          throw new Error(`row ${row.name}: zpd's request bodies differ from the raw client's (raw: ${a}; zpd: ${b})`)
        }
      } else {
        await raw()
        await zpd()
      }
      const r: Array<{ wall: number; cpu: number }> = []
      const z: Array<{ wall: number; cpu: number }> = []
      const count = row.linear ? linearReps : reps
      for (let k = 0; k < count; k++) {
        if (only === "zpd") {
          z.push(await measure(zpd))
          r.push({ wall: Number.NaN, cpu: Number.NaN })
        } else if (only === "raw") {
          r.push(await measure(raw))
          z.push({ wall: Number.NaN, cpu: Number.NaN })
        } else if (k % 2 === 0) {
          r.push(await measure(raw))
          z.push(await measure(zpd))
        } else {
          z.push(await measure(zpd))
          r.push(await measure(raw))
        }
      }
      const completions = row.P * row.n
      const rw = median(r.map((x) => x.wall))
      const zw = median(z.map((x) => x.wall))
      const rc = median(r.map((x) => x.cpu))
      const zc = median(z.map((x) => x.cpu))
      results.push({ row, zpdWall: zw, zpdCpu: zc })
      console.log(
        `${row.name.padEnd(4)} ${row.mode.padEnd(7)} ${String(row.P).padStart(5)} ${String(row.n).padStart(3)} ` +
          `${String(row.C).padStart(3)} ${String(row.L).padStart(4)} ${String(row.perRequest).padStart(3)} ` +
          `${String(bodies.length).padStart(6)}  | ${rw.toFixed(0).padStart(6)} ${zw.toFixed(0).padStart(7)} ` +
          `${(zw / rw).toFixed(2).padStart(5)}x | ${(rc / bodies.length).toFixed(3).padStart(10)} ` +
          `${(zc / bodies.length).toFixed(3).padStart(11)}    | ${((zc - rc) / completions).toFixed(4).padStart(8)}` +
          `   (load ${load()})`
      )
    }
    const fan = results.filter((x) => x.row.mode === "fanout" && x.row.n === 8 && x.row.C === 256)
    if (fan.length > 1) {
      const base = fan[0]!
      const per = (x: typeof base, v: number) => v / x.row.P
      console.log(
        `fanout linearity (per prompt, relative to P = ${base.row.P}; 1.00 = linear): ` +
          fan.map((x) =>
            `P=${x.row.P}: wall ${(per(x, x.zpdWall) / per(base, base.zpdWall)).toFixed(2)}, ` +
            `cpu ${(per(x, x.zpdCpu) / per(base, base.zpdCpu)).toFixed(2)}`
          ).join("; ")
      )
    }
  } finally {
    for (const s of servers) s.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
