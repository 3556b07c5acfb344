/**
 * `npm run bench:neural`: curricula on the neural task (SuffixSumTask) through
 * the PyTorch worker on a CPU. For every curriculum and seed: a fresh worker
 * (tiny transformer initialised from the seed), the supervised warm start,
 * then `--steps` GRPO steps (defaults: 400 steps, seeds 1,2,3, random and
 * SEC). Prints each run's starting and final held-out accuracy per level, its
 * smallest answer-token entropy and its frac_reward_zero_std, then a table of
 * final accuracy per level (mean ± sd over seeds).
 *
 *   npm run bench:neural
 *   npm run bench:neural -- --steps 100 --seeds 1 --curricula random --out runs/neural
 *   npm run bench:neural -- --curricula random,sec,sec-tau0.2   # also SEC with examples/sec.ts's τ = 0.2
 *   npm run bench:neural -- --warm-start-examples 16000   # a longer first pass (default 200 batches of 64)
 *
 * The warm start runs at least one pass over its examples, then on to the
 * competence target of `SuffixSumTask.settings.warmStart.until`; each run's
 * line says how many batches that took.
 *
 * Needs a Python with PyTorch: ZPD_PYTHON, else the repository's .venv
 * (`npm run python:env`). One run
 * of 400 steps takes a few minutes on one core; the runs go one after another.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Metrics } from "@zpd/core"
import { SuffixSumTask } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import process from "node:process"
import { accName, curricula, type CurriculumName, minEntropy, neuralRun } from "../examples/lib/neural.ts"

const flag = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback
}
const steps = Number(flag("steps", "400"))
const seeds = flag("seeds", "1,2,3").split(",").map(Number)
const names = flag("curricula", "random,sec").split(",") as Array<CurriculumName>
const outDir = flag("out", "")
const warmStartExamples = Number(flag("warm-start-examples", String(SuffixSumTask.settings.warmStart.examples)))
for (const n of names) {
  if (!(n in curricula)) {
    throw new Error(`--curricula: unknown '${n}', expected some of ${Object.keys(curricula).join(",")}`)
  }
}
if (!Number.isInteger(steps) || steps < 1) {
  throw new Error(`--steps: expected an integer >= 1, got ${flag("steps", "")}`)
}
if (seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds: expected comma-separated integers`)
if (!Number.isInteger(warmStartExamples) || warmStartExamples < 1) {
  throw new Error(`--warm-start-examples: expected an integer >= 1, got ${flag("warm-start-examples", "")}`)
}

const levels = [...SuffixSumTask.trainLevels, ...SuffixSumTask.oodLevels]
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs: ReadonlyArray<number>) => {
  if (xs.length < 2) return Number.NaN
  const m = mean(xs)
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1))
}
const pm = (xs: ReadonlyArray<number>) => `${mean(xs).toFixed(3)} ± ${Number.isNaN(sd(xs)) ? "-" : sd(xs).toFixed(3)}`

interface Row {
  readonly name: CurriculumName
  readonly seed: number
  readonly initial: Record<string, number>
  readonly final: Record<string, number>
  readonly minEntropy: number
  readonly lastEntropy: number
  readonly zeroStd: number
  readonly zeroStdLast50: number
  readonly seconds: number
  readonly warmStartSteps: number
  readonly warmStartCheck: number
}

const program = Effect.gen(function*() {
  const rows: Array<Row> = []
  const suite = SuffixSumTask.suite({ warmStartExamples })
  process.stdout.write(
    `neural bench: ${steps} steps, seeds ${seeds.join(",")}, curricula ${
      names.join(",")
    }, ${warmStartExamples} warm-start ` +
      `examples; chance ${SuffixSumTask.chance}; ` +
      `entropy floor ${SuffixSumTask.settings.entropyFloor} nats\n`
  )
  for (const name of names) {
    for (const seed of seeds) {
      const started = Date.now()
      const result = yield* neuralRun({
        curriculum: name,
        seed,
        steps,
        suite,
        ...(outDir === "" ? {} : { out: `${outDir}/${name}-s${seed}` })
      })
      const r = result.report.records
      const final = Object.fromEntries(
        levels.map((l) => [accName(l), result.report.final?.[accName(l)] ?? Metrics.lastOf(r, accName(l))])
      )
      const row: Row = {
        name,
        seed,
        initial: result.initial!,
        final,
        minEntropy: minEntropy(r),
        lastEntropy: Metrics.lastOf(r, "entropy"),
        zeroStd: Metrics.meanOf(r, "frac_reward_zero_std"),
        zeroStdLast50: Metrics.meanOf(r.slice(-50), "frac_reward_zero_std"),
        seconds: (Date.now() - started) / 1000,
        warmStartSteps: result.warmStart?.steps ?? Number.NaN,
        warmStartCheck: result.warmStart?.checkAccuracy ?? Number.NaN
      }
      rows.push(row)
      process.stdout.write(
        `${name} seed ${seed} (${row.seconds.toFixed(0)} s): warm start ${row.warmStartSteps} batches ` +
          `(expected L1 ${row.warmStartCheck.toFixed(3)}); ` +
          levels.map((l) => `L${l} ${row.initial[accName(l)]!.toFixed(2)}→${row.final[accName(l)]!.toFixed(2)}`).join(
            " "
          ) +
          `; entropy min ${row.minEntropy.toFixed(3)} last ${row.lastEntropy.toFixed(3)}; ` +
          `frac_reward_zero_std mean ${row.zeroStd.toFixed(3)} last-50 ${row.zeroStdLast50.toFixed(3)}\n`
      )
    }
  }
  const header = [
    "curriculum",
    ...levels.map((l) => `${l <= 3 ? "ID" : "OOD"} L${l}`),
    "min entropy",
    "zero-std (last 50)"
  ]
  const body = [
    ...names.map((name) => {
      const rs = rows.filter((r) => r.name === name)
      return [
        `${name} (start)`,
        ...levels.map((l) => pm(rs.map((r) => r.initial[accName(l)]!))),
        "",
        ""
      ]
    }),
    ...names.map((name) => {
      const rs = rows.filter((r) => r.name === name)
      return [
        `${name} (step ${steps})`,
        ...levels.map((l) => pm(rs.map((r) => r.final[accName(l)]!))),
        pm(rs.map((r) => r.minEntropy)),
        pm(rs.map((r) => r.zeroStdLast50))
      ]
    })
  ]
  process.stdout.write(`\nheld-out accuracy per level, mean ± sd over seeds ${seeds.join(",")}:\n`)
  process.stdout.write(Metrics.table(header, body) + "\n")
})

Effect.runPromiseExit(Effect.provide(program, NodeContext.layer)).then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`bench:neural failed: ${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
