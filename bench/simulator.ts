/**
 * `npm run bench:simulator`: the curricula compared on simulator v2 over
 * several seeds, regimes and budgets (issue "Learners that can judge a
 * curriculum", Done-when tables), plus AdaCuRL's ablations.
 *
 * Every run (regime, budget, seed, curriculum) is one `runOne` of the
 * examples (64 prompts × 8 rollouts, eval every 10 steps) on that regime's
 * suite and learner for that seed; its summary is appended to
 * `<out>/runs-<tag>.jsonl` and skipped when already there, so the bench can
 * be split over processes (`--tag`) and resumed. `--report` prints the tables
 * from every `runs-*.jsonl` in `<out>`. A process claims a run before it
 * starts (`<out>/claims/`), so several processes over the same grid share it;
 * delete `claims/` after an interrupted bench.
 *
 *   npm run bench:simulator                                   # everything (long: ~1 h CPU)
 *   npm run bench:simulator -- --regimes default --budgets 100 --seeds 1,2 --curricula random,sec
 *   npm run bench:simulator -- --ablations --regimes default --budgets 300
 *   npm run bench:simulator -- --update-speed                 # ms per update, v1 vs v2
 *   npm run bench:simulator -- --report
 *
 * Columns: acc_ood mean ± sd over seeds; rollouts to reach random's final
 * acc_ood of the same seed (first eval step at or above it; estimation
 * rollouts and DAPO's extra rollouts included; mean over the seeds that reach
 * it, with how many did); frac_reward_zero_std (mean over steps, then seeds);
 * `forgetting` (sum over steps, and the fraction of steps where it is > 0);
 * level-1 ID accuracy: peak and final (the drop is the forgetting a static
 * easy-to-hard schedule shows). Ablations: the difference of each variant's
 * final acc_ood to AdaCuRL's (paired by seed) with a 95% t-interval.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Run } from "@zpd/cli"
import { Metrics, Rng } from "@zpd/core"
import { Regimes, Simulated } from "@zpd/gpu-runtime"
import * as Effect from "effect/Effect"
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import process from "node:process"
import { runOne } from "../examples/lib/run.ts"
import { ablations, contenders } from "./contenders.ts"

interface Summary {
  readonly key: string
  readonly regime: string
  readonly budget: number
  readonly seed: number
  readonly curriculum: string
  readonly accOod: number
  readonly accOodLevel: number
  readonly accOodFamily: number
  readonly accId: number
  readonly fracZeroStd: number
  readonly forgettingSum: number
  readonly forgettingSteps: number
  readonly l1Peak: number
  readonly l1Final: number
  readonly formatErrorFirst10: number
  readonly formatErrorLast10: number
  readonly sharpnessFinal: number
  readonly entropyLast10: number
  /** (step, acc_ood, cumulative rollouts incl. estimation) at every eval step. */
  readonly curve: ReadonlyArray<readonly [number, number, number]>
  readonly seconds: number
}

// ---------------------------------------------------------------------------
// arguments
// ---------------------------------------------------------------------------

const argv = process.argv.slice(2)
const flag = (name: string): boolean => argv.includes(`--${name}`)
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback
}
const list = (name: string, fallback: string): Array<string> => option(name, fallback).split(",").filter(Boolean)
const seedList = (spec: string): Array<number> =>
  spec.includes("-") ? range(Number(spec.split("-")[0]), Number(spec.split("-")[1])) : spec.split(",").map(Number)
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

const out = option("out", ".zpd-runs/bench-simulator")
const tag = option("tag", "main")

// ---------------------------------------------------------------------------
// running
// ---------------------------------------------------------------------------

const last = (records: ReadonlyArray<Metrics.StepRecord>, key: string): number => Metrics.lastOf(records, key)

const summarise = (
  regime: string,
  budget: number,
  seed: number,
  curriculum: string,
  records: ReadonlyArray<Metrics.StepRecord>,
  seconds: number
): Summary => {
  let rollouts = 0
  const curve: Array<readonly [number, number, number]> = []
  let l1Peak = -Infinity
  let forgettingSum = 0
  let forgettingSteps = 0
  for (const r of records) {
    rollouts += (r["rollouts_generated"] as number | undefined) ?? 0
    const f = r["forgetting"] as number | undefined
    if (f !== undefined) {
      forgettingSum += f
      if (f > 0) forgettingSteps++
    }
    const acc = r["acc_ood"] as number | undefined
    if (acc !== undefined) curve.push([r.step, acc, rollouts + ((r["estimation_rollouts"] as number | undefined) ?? 0)])
    const l1 = r["acc_id_l1"] as number | undefined
    if (l1 !== undefined && l1 > l1Peak) l1Peak = l1
  }
  return {
    key: `${regime}/${budget}/${seed}/${curriculum}`,
    regime,
    budget,
    seed,
    curriculum,
    accOod: last(records, "acc_ood"),
    accOodLevel: last(records, "acc_ood_level"),
    accOodFamily: last(records, "acc_ood_family"),
    accId: last(records, "acc_id"),
    fracZeroStd: Metrics.meanOf(records, "frac_reward_zero_std"),
    forgettingSum,
    forgettingSteps: records.length > 0 ? forgettingSteps / records.length : 0,
    l1Peak,
    l1Final: last(records, "acc_id_l1"),
    formatErrorFirst10: Metrics.meanOf(records.slice(0, 10), "format_error_rate"),
    formatErrorLast10: Metrics.meanOf(records.slice(-10), "format_error_rate"),
    sharpnessFinal: last(records, "sharpness"),
    entropyLast10: Metrics.meanOf(records.slice(-10), "entropy"),
    curve,
    seconds
  }
}

const done = (): Map<string, Summary> => {
  const seen = new Map<string, Summary>()
  if (!existsSync(out)) return seen
  for (const file of readdirSync(out).filter((f) => f.startsWith("runs-") && f.endsWith(".jsonl")).sort()) {
    for (const line of readFileSync(join(out, file), "utf8").split("\n")) {
      if (line.trim() === "") continue
      const s = JSON.parse(line) as Summary
      seen.set(s.key, s)
    }
  }
  return seen
}

const runAll = async (
  table: Readonly<Record<string, () => Parameters<typeof runOne>[0]>>,
  names: ReadonlyArray<string>
) => {
  mkdirSync(out, { recursive: true })
  const have = done()
  const regimes = list("regimes", "default,hard") as Array<Regimes.Name>
  const budgets = list("budgets", "100,300").map(Number)
  const seeds = seedList(option("seeds", "1-5"))
  for (const regime of regimes) {
    for (const seed of seeds) {
      const suite = Regimes.suite(regime, seed)
      for (const name of names) {
        const make = table[name]
        if (make === undefined) {
          throw new Error(`unknown curriculum ${name}: expected one of ${Object.keys(table).join(", ")}`)
        }
        // A budget-independent curriculum's first k steps are the k-step run (checked: metrics prefix-identical),
        // so it runs once at the largest budget and smaller budgets are summarised from its prefix.
        const runs = budgetDependent.has(name) ? budgets.map((b) => [b]) : [budgets]
        for (const group of runs) {
          const fresh = done()
          const todo = group.filter((b) =>
            !have.has(`${regime}/${b}/${seed}/${name}`) && !fresh.has(`${regime}/${b}/${seed}/${name}`)
          )
          if (todo.length === 0 || !claim(`${regime}-${Math.max(...group)}-${seed}-${name}`)) continue
          const steps = Math.max(...group)
          const t0 = performance.now()
          const args = { ...Run.defaultArgs(steps), seed, quiet: true }
          const result = await Effect.runPromise(
            runOne({ ...make(), regime }, args, suite).pipe(
              Effect.provide(NodeContext.layer)
            ) as unknown as Effect.Effect<
              { readonly report: { readonly records: ReadonlyArray<Metrics.StepRecord> } },
              unknown,
              never
            >
          )
          const seconds = (performance.now() - t0) / 1000
          for (const budget of todo) {
            const s = summarise(regime, budget, seed, name, result.report.records.slice(0, budget), seconds)
            appendFileSync(join(out, `runs-${tag}.jsonl`), JSON.stringify(s) + "\n")
            process.stderr.write(`${s.key}: acc_ood ${s.accOod.toFixed(3)} (${seconds.toFixed(1)} s)\n`)
          }
        }
      }
    }
  }
}

/** Claims a run for this process (another `--tag` process skips it): creates `<out>/claims/<key>` exclusively. */
const claim = (key: string): boolean => {
  mkdirSync(join(out, "claims"), { recursive: true })
  try {
    closeSync(openSync(join(out, "claims", key.replace(/[^\w.+-]/g, "_")), "wx"))
    return true
  } catch {
    return false
  }
}

/** Curricula whose schedule depends on the step budget (ordered stretches its sweep over it). */
const budgetDependent = new Set(["ordered"])

// ---------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs: ReadonlyArray<number>) => {
  if (xs.length < 2) return NaN
  const m = mean(xs)
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1))
}
/** Two-sided 95% Student-t quantiles for 1 … 10 degrees of freedom. */
const T95 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "-")
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : "-")

const rolloutsToReach = (s: Summary, target: number): number | undefined =>
  s.curve.find(([, acc]) => acc >= target)?.[2]

const report = () => {
  const all = [...done().values()]
  const lines: Array<string> = []
  const groups = new Map<string, Array<Summary>>()
  for (const s of all) {
    const k = `${s.regime}/${s.budget}`
    groups.set(k, [...(groups.get(k) ?? []), s])
  }
  for (const [k, runs] of [...groups].sort()) {
    const [regime, budget] = k.split("/")
    const random = new Map(runs.filter((r) => r.curriculum === "random").map((r) => [r.seed, r]))
    const names = [...new Set(runs.map((r) => r.curriculum))]
    lines.push(`\n### regime ${regime}, ${budget} steps (${[...random.keys()].length} seeds of random)\n`)
    lines.push(
      Metrics.table(
        [
          "curriculum",
          "seeds",
          "acc_ood",
          "ood_level",
          "ood_family",
          "acc_id",
          "rollouts to random's acc_ood",
          "frac_zero_std",
          "forgetting Σ",
          "steps forgetting>0",
          "L1 peak→final"
        ],
        names.map((name) => {
          const rs = runs.filter((r) => r.curriculum === name).sort((a, b) => a.seed - b.seed)
          const reach = rs.flatMap((r) => {
            const target = random.get(r.seed)?.accOod
            const n = target === undefined ? undefined : rolloutsToReach(r, target)
            return n === undefined ? [] : [n]
          })
          const ood = rs.map((r) => r.accOod)
          return [
            name,
            String(rs.length),
            `${f3(mean(ood))} ± ${f3(sd(ood))}`,
            f3(mean(rs.map((r) => r.accOodLevel))),
            f3(mean(rs.map((r) => r.accOodFamily))),
            f3(mean(rs.map((r) => r.accId))),
            reach.length === 0 ? `never (0/${rs.length})` : `${Math.round(mean(reach))} (${reach.length}/${rs.length})`,
            f3(mean(rs.map((r) => r.fracZeroStd))),
            f4(mean(rs.map((r) => r.forgettingSum))),
            f3(mean(rs.map((r) => r.forgettingSteps))),
            `${f3(mean(rs.map((r) => r.l1Peak)))}→${f3(mean(rs.map((r) => r.l1Final)))}`
          ]
        })
      )
    )
    const base = runs.filter((r) => r.curriculum === "adacurl")
    const variants = names.filter((n) => n.startsWith("adacurl/"))
    if (variants.length > 0 && base.length > 0) {
      lines.push(`\nAdaCuRL ablations (paired by seed, Δ acc_ood = variant − adacurl, 95% t-interval):\n`)
      lines.push(
        Metrics.table(
          ["variant", "seeds", "Δ acc_ood", "95% interval", "Δ frac_zero_std", "sharpness end", "format err first 10"],
          variants.map((v) => {
            const pairs = runs.filter((r) => r.curriculum === v).flatMap((r) => {
              const b = base.find((x) => x.seed === r.seed)
              return b === undefined ? [] : [[r, b] as const]
            })
            const d = pairs.map(([r, b]) => r.accOod - b.accOod)
            const dz = pairs.map(([r, b]) => r.fracZeroStd - b.fracZeroStd)
            const h = (T95[d.length - 1] ?? 1.96) * sd(d) / Math.sqrt(d.length)
            return [
              v,
              String(d.length),
              f4(mean(d)),
              `[${f4(mean(d) - h)}, ${f4(mean(d) + h)}]`,
              f3(mean(dz)),
              `${f3(mean(pairs.map(([r]) => r.sharpnessFinal)))} vs ${
                f3(mean(pairs.map(([, b]) => b.sharpnessFinal)))
              }`,
              `${f3(mean(pairs.map(([r]) => r.formatErrorFirst10)))} vs ${
                f3(mean(pairs.map(([, b]) => b.formatErrorFirst10)))
              }`
            ]
          })
        )
      )
    }
  }
  process.stdout.write(lines.join("\n") + "\n")
}

// ---------------------------------------------------------------------------
// update speed (the timing that used to be a test)
// ---------------------------------------------------------------------------

const updateSpeed = () => {
  const suite = Regimes.suite("default", 1)
  const ps = suite.train.problems
  const rng = new Rng.Rng(5)
  const batch = Array.from({ length: 256 }, () => ps[rng.int(ps.length)]!)
  const time = (label: string, sim: Simulated.Learner) => {
    const cs = Effect.runSync(
      sim.inference.generate({
        requestId: "r",
        prompts: batch.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
        n: 8,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 256, seed: 1 }
      })
    )
    const samples = cs.map((c, i) => ({
      promptId: c.promptId,
      group: Math.floor(i / 8),
      tokenIds: c.tokenIds,
      lossMask: c.tokenIds.map(() => true),
      samplingLogprobs: c.logprobs,
      advantages: c.tokenIds.map(() => ((i % 8) - 3.5) / 4),
      klWeight: c.tokenIds.map(() => 1),
      temperature: 1,
      policyVersion: 0
    }))
    const loss = { clip: 0.2, klCoef: 0.04, aggregation: "token-mean" as const }
    for (let i = 0; i < 5; i++) Effect.runSync(sim.trainer.update({ step: i, samples, loss }))
    const reps = 50
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < reps; i++) Effect.runSync(sim.trainer.update({ step: i, samples, loss }))
    const c1 = process.cpuUsage(c0)
    const ms = (performance.now() - t0) / reps
    // CPU time is what the update costs; wall time also counts waiting for a core on a shared machine.
    const cpu = (c1.user + c1.system) / 1000 / reps
    process.stdout.write(
      `${label}: ${cpu.toFixed(2)} ms CPU (${ms.toFixed(2)} ms wall) per update of 256 prompts × 8 rollouts ` +
        `(target < 10 ms: ${(cpu / 10).toFixed(2)}×)\n`
    )
  }
  time("v1", Simulated.makeV1(suite.all))
  time("v2", Simulated.make(suite.all))
}

if (flag("report")) report()
else if (flag("update-speed")) updateSpeed()
else if (flag("ablations")) {
  await runAll(
    ablations,
    list("curricula", Object.keys(ablations).filter((n) => n !== "adacurl").join(","))
  )
} else await runAll(contenders, list("curricula", Object.keys(contenders).join(",")))
