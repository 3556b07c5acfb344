/**
 * `npm run bench:faults`: the fault campaign. Replays every dataset, CLI and
 * checkpoint case (and the runtime cases of bench/faults/runtime.ts when that
 * file exists), each as child processes with a timeout, and prints a per-case
 * table and the counts per class: clean error, unclear error, silent, hang.
 *
 *   npm run bench:faults                       # everything
 *   npm run bench:faults -- --only dataset     # one group (dataset, cli, checkpoint, runtime)
 *   npm run bench:faults -- --filter stale     # cases whose name contains this
 *   npm run bench:faults -- --concurrency 4 --timeout 300   # seconds per case (default 180)
 *
 * Exits 1 when any case is not clean.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { FaultCase, Outcome, Result } from "./Case.ts"
import { cases as checkpointCases } from "./checkpoint.ts"
import { cases as cliCases } from "./cli.ts"
import { cases as datasetCases } from "./dataset.ts"

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}

/** Runtime fault cases live in their own module, written beside the HTTP clients; included when present. */
const runtimeCases = async (): Promise<ReadonlyArray<FaultCase>> => {
  const file = join(import.meta.dirname, "runtime.ts")
  if (!existsSync(file)) return []
  const module = (await import(pathToFileURL(file).href)) as { readonly cases?: ReadonlyArray<FaultCase> }
  return module.cases ?? []
}

const main = async () => {
  const only = flag("only")
  const filter = flag("filter")
  const concurrency = Number(flag("concurrency") ?? 2)
  const timeoutMs = Number(flag("timeout") ?? 180) * 1000
  const all = [...datasetCases, ...cliCases, ...checkpointCases, ...(await runtimeCases())]
  const selected = all.filter((c) =>
    (only === undefined || c.group === only) && (filter === undefined || c.name.includes(filter))
  )
  const results: Array<{ readonly c: FaultCase; readonly r: Result; readonly ms: number }> = []
  let next = 0
  const worker = async () => {
    while (next < selected.length) {
      const c = selected[next++]!
      const dir = mkdtempSync(join(tmpdir(), "zpd-fault-"))
      const start = Date.now()
      let r: Result
      try {
        r = await c.run({ dir, timeoutMs })
      } catch (e) {
        r = { outcome: "unclear", detail: `the case itself threw: ${String(e)}` }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
      results.push({ c, r, ms: Date.now() - start })
      process.stderr.write(`[${results.length}/${selected.length}] ${r.outcome.padEnd(7)} ${c.group}: ${c.name}\n`)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
  const order = new Map(selected.map((c, i) => [c, i]))
  results.sort((a, b) => order.get(a.c)! - order.get(b.c)!)
  const rows = results.map((
    { c, ms, r }
  ) => [c.group, c.name, r.outcome, `${(ms / 1000).toFixed(1)}s`, r.detail.replaceAll("\n", " ")])
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), 5))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join("  ")
  process.stdout.write(`${line(["group", "case", "class", "time", "detail"])}\n`)
  for (const row of rows) process.stdout.write(`${line(row)}\n`)
  const classes: ReadonlyArray<Outcome> = ["clean", "unclear", "silent", "hang"]
  process.stdout.write("\ncounts per group (clean / unclear / silent / hang)\n")
  const groups = Array.from(new Set(results.map((x) => x.c.group)))
  for (const group of [...groups, "total"]) {
    const mine = results.filter((x) => group === "total" || x.c.group === group)
    const counts = classes.map((k) => mine.filter((x) => x.r.outcome === k).length)
    process.stdout.write(
      `  ${group.padEnd(11)} ${String(mine.length).padStart(3)} cases: ${
        classes.map((k, i) => `${counts[i]} ${k}`).join(", ")
      }\n`
    )
  }
  if (results.some((x) => x.r.outcome !== "clean")) process.exitCode = 1
}

await main()
