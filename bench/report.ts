/**
 * `npm run report -- RUN_DIR... [--out DIR] [--target X] [--title TEXT]` (the future `zpd report`):
 * builds `report.html` (self-contained) and `report.md` from any run
 * directories — the benchmark's, the examples' (`runs/<curriculum>`), real-model
 * runs — searching each path recursively for `metrics.jsonl`. Default --out:
 * the first path.
 */
import * as Effect from "effect/Effect"
import process from "node:process"
import { main } from "../examples/lib/run.ts"
import { reportCommand } from "./lib/bench.ts"

const usage = "usage: bench/report.ts RUN_DIR... [--out DIR] [--target X] [--title TEXT]"

const argv = process.argv.slice(2)
const paths: Array<string> = []
let out: string | undefined
let target: number | undefined
let title: string | undefined
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!
  if (a === "--out" || a === "--target" || a === "--title") {
    const v = argv[++i]
    if (v === undefined) {
      process.stderr.write(`${a}: expected a value\n${usage}\n`)
      process.exit(2)
    }
    if (a === "--out") out = v
    else if (a === "--title") title = v
    else if (Number.isFinite(Number(v))) target = Number(v)
    else {
      process.stderr.write(`--target: expected a number, got "${v}"\n`)
      process.exit(2)
    }
  } else if (a.startsWith("--")) {
    process.stderr.write(`unknown option ${a}\n${usage}\n`)
    process.exit(2)
  } else paths.push(a)
}
if (paths.length === 0) {
  process.stderr.write(`${usage}\n`)
  process.exit(2)
}
main(Effect.flatMap(
  reportCommand({
    paths,
    out: out ?? paths[0]!,
    ...(target === undefined ? {} : { target }),
    ...(title === undefined ? {} : { title })
  }),
  ({ built, htmlPath }) => Effect.sync(() => process.stdout.write(`${built.markdown}\nreport: ${htmlPath}\n`))
))
