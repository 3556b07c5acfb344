/**
 * What `bench:curricula` (and `npm start`) compares: the published curricula,
 * hybrids and baselines, each as `zpd run` configures it (`Curricula.lookup`), and `makeRun`,
 * the one function that runs a (curriculum, regime, seed, budget) cell into a
 * run directory.
 *
 * The regime names one of `Regimes` (default, easy, hard, large, v1).
 */
import { Curricula, Run } from "@zpd/cli"
import { Pipeline, Stages } from "@zpd/core"
import * as Hook from "@zpd/core/Hook"
import { Regimes } from "@zpd/gpu-runtime"
import * as OrderedFixedPace from "@zpd/plugins/OrderedFixedPace"
import * as RunMeta from "@zpd/report/RunMeta"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type ExampleOptions, runOne, verifier } from "../../examples/lib/run.ts"
import { contenders as composed } from "../contenders.ts"

export interface Contender {
  readonly name: string
  /** The label in tables and charts. */
  readonly label: string
  /** True when the curriculum reads the step budget at build time, so each budget needs its own run. */
  readonly budgetAware: boolean
  readonly options: () => ExampleOptions<unknown, never>
}

/**
 * A contender `zpd run` also knows: its configuration is `Curricula.lookup(expression)`'s
 * (the examples' settings, or a `Registry` expression), so the bench and `zpd run` train alike.
 */
const shared = (name: string, label: string, budgetAware: boolean, expression = name): Contender => ({
  name,
  label,
  budgetAware,
  options: () => {
    const entry = Either.getOrThrowWith(
      Curricula.lookup(expression),
      (e) => new Error(`bench contender ${name}: Curricula.lookup("${expression}") failed: ${e.message}`)
    )
    return { ...entry, name } as ExampleOptions<unknown, never>
  }
})

/** A composed hybrid as its example builds it (`bench/contenders.ts`, after `examples/hybrid-*.ts`). */
const hybrid = (name: string, label: string, budgetAware: boolean): Contender => ({
  name,
  label,
  budgetAware,
  options: () => composed[name]!() as ExampleOptions<unknown, never>
})

/**
 * Every contender, in table order. All but the fixed-pace ordered baseline
 * (a bench-only control, not a `zpd run` name) come from `Curricula.lookup`.
 */
export const contenders: ReadonlyArray<Contender> = [
  shared("random", "random", false),
  shared("ordered", "ordered (budget-stretched)", true),
  {
    name: "ordered-fixed",
    label: "ordered (fixed pace)",
    budgetAware: false,
    options: () => ({ name: "ordered-fixed", plugin: OrderedFixedPace.plugin() }) as ExampleOptions<unknown, never>
  },
  shared("sec", "SEC", false),
  shared("adacurl", "AdaCuRL", true),
  shared("adacurl+sec", "AdaCuRL+SEC", true),
  hybrid("adacurl+cdas", "AdaCuRL+CDAS", true),
  hybrid("pcl+cdas", "PCL+CDAS", false),
  hybrid("pcl+sec", "PCL+SEC", false),
  shared("cdas", "CDAS", false),
  shared("pcl", "PCL", false),
  shared("random+dapo", "random+DAPO", false, "dapo"),
  shared("prioritized", "prioritized (Kimi k1.5)", false),
  shared("adarft", "AdaRFT", false),
  shared("greso+sec", "GRESO+SEC", false),
  shared("dump+filter", "DUMP+filter", false),
  shared("cdas+speed", "CDAS+SPEED", false)
]

export const contenderNamed = (name: string): Contender | undefined => contenders.find((c) => c.name === name)

/** The named regimes (`Regimes`: data suite + simulated learner per name; the suite is drawn from each run's seed). */
export const regimes: Readonly<Record<string, Regimes.Name>> = Object.fromEntries(Regimes.names.map((n) => [n, n]))

export interface RunSpec {
  readonly curriculum: string
  readonly regime: string
  readonly seed: number
  readonly steps: number
  readonly out: string
  /** Continue from the checkpoint in `out`. */
  readonly resume?: boolean
  /** Called after every step. */
  readonly onStep?: (step: number, record: Readonly<Record<string, number>>) => void
}

/**
 * Runs one cell of the benchmark into `spec.out`: `metrics.jsonl` (with
 * per-level accuracies), `timings.jsonl`, `checkpoint/`, TensorBoard events,
 * and last `run.json` (what ran and its wall time), written atomically, which
 * marks the run complete.
 */
export const makeRun = (spec: RunSpec) =>
  Effect.gen(function*() {
    const c = contenderNamed(spec.curriculum)
    if (c === undefined) {
      return yield* Effect.fail(
        new Error(`curriculum "${spec.curriculum}": expected one of ${contenders.map((x) => x.name).join(", ")}`)
      )
    }
    const regime = regimes[spec.regime]
    if (regime === undefined) {
      return yield* Effect.fail(
        new Error(`regime "${spec.regime}": expected one of ${Object.keys(regimes).join(", ")}`)
      )
    }
    const start = yield* Clock.currentTimeMillis
    const options = c.options()
    const base = options.pipeline ?? Pipeline.make(c.name, Stages.standard({ verifier, kl: "sparse" }))
    const progress = Hook.make("bench-progress", (end) => Effect.sync(() => spec.onStep?.(end.step, end.record)))
    const result = yield* runOne(
      { ...options, regime, evalByLevel: true, pipeline: Pipeline.withHooks(base, progress) },
      {
        ...Run.defaultArgs(spec.steps),
        seed: spec.seed,
        out: spec.out,
        resume: spec.resume === true ? spec.out : undefined,
        overwrite: spec.resume !== true,
        quiet: true
      }
    )
    const wallMs = (yield* Clock.currentTimeMillis) - start
    yield* RunMeta.write(spec.out, {
      curriculum: c.name,
      label: c.label,
      regime: spec.regime,
      seed: spec.seed,
      steps: spec.steps,
      budgetAware: c.budgetAware,
      wallMs,
      resumedFrom: result.report.resumedFrom ?? 0
    })
    return result
  })
