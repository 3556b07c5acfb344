/**
 * What `bench:curricula` (and `npm start`) compares: the published curricula,
 * hybrids and baselines, each as the examples configure it, and `makeRun`,
 * the one function that runs a (curriculum, regime, seed, budget) cell into a
 * run directory.
 *
 * The regime names one of `Regimes` (default, easy, hard, large, v1).
 */
import { Part, Pipeline, Stages } from "@zpd/core"
import * as Hook from "@zpd/core/Hook"
import { Regimes } from "@zpd/gpu-runtime"
import { AdaCurl, Baselines, Cdas, Dapo, Pcl, Sec } from "@zpd/plugins"
import * as OrderedFixedPace from "@zpd/plugins/OrderedFixedPace"
import * as RunMeta from "@zpd/report/RunMeta"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { Run } from "@zpd/cli"
import { type ExampleOptions, runOne, verifier } from "../../examples/lib/run.ts"

export interface Contender {
  readonly name: string
  /** The label in tables and charts. */
  readonly label: string
  /** True when the curriculum reads the step budget at build time, so each budget needs its own run. */
  readonly budgetAware: boolean
  readonly options: () => ExampleOptions<unknown, never>
}

const adacurl = { verifier, fine: { samples: 32 }, window: 256 }
const adacurlSec = AdaCurl.gate(adacurl).pipe(
  Part.andThen(Sec.sampler({ arms: ["bucket"], alpha: 0.5, temperature: 0.2 })),
  Part.named("adacurl+sec")
)

const contender = <E, R>(
  name: string,
  label: string,
  budgetAware: boolean,
  options: () => Omit<ExampleOptions<E, R>, "name">
): Contender => ({ name, label, budgetAware, options: () => ({ name, ...options() }) as ExampleOptions<unknown, never> })

/** Every contender, in table order; the configurations are `examples/main.ts`'s. */
export const contenders: ReadonlyArray<Contender> = [
  contender("random", "random", false, () => ({ plugin: Baselines.random() })),
  contender("ordered", "ordered (budget-stretched)", true, () => ({ plugin: Baselines.ordered() })),
  contender("ordered-fixed", "ordered (fixed pace)", false, () => ({ plugin: OrderedFixedPace.plugin() })),
  contender("sec", "SEC", false, () => ({ plugin: Sec.plugin({ arms: ["level"], alpha: 0.5, temperature: 0.2 }) })),
  contender("adacurl", "AdaCuRL", true, () => ({
    plugin: AdaCurl.plugin(adacurl),
    pipeline: AdaCurl.pipeline(adacurl),
    loss: AdaCurl.loss
  })),
  contender("adacurl+sec", "AdaCuRL+SEC", true, () => ({
    plugin: adacurlSec,
    pipeline: AdaCurl.pipeline(adacurl, "adacurl+sec"),
    loss: AdaCurl.loss
  })),
  contender("cdas", "CDAS", false, () => ({ plugin: Cdas.plugin({ priorCount: 1 }) })),
  contender("pcl", "PCL", false, () => ({ plugin: Pcl.plugin({ k: 4, tau: 0.5 }) })),
  contender("random+dapo", "random+DAPO", false, () => ({
    plugin: Baselines.random(),
    pipeline: Dapo.pipeline({ verifier, genBatchSize: 192, maxRounds: 10, kl: "sparse" }, "random+dapo")
  }))
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
        new Error(
          `regime "${spec.regime}": expected one of ${Object.keys(regimes).join(", ")} `
        )
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
