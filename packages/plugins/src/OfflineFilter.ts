/**
 * The pre-filter baseline of PCL (Gao et al., "Prompt Curriculum Learning
 * for Efficient LLM Post-Training", arXiv 2510.01135; spec `algorithms.md`
 * §5.10), as a gate: estimate every problem's pass rate once, with the
 * initial policy, before training; let through only the problems whose pass
 * rate lies in an intermediate band; never revisit. Compare
 * {@link OnlineFilter}, which filters each step's groups with the current
 * policy.
 *
 * | option | default | source |
 * |---|---|---|
 * | estimate once with the initial policy, drop outside a band, never revisit | — | [S] PCL note |
 * | `pLow`, `pHigh`: the band, inclusive | 0.2, 0.8 | [R] spec: reuse §5.6's band ([S] there) |
 * | `samples`: rollouts per problem for the estimate | 8 | [R] not given; the usual group size |
 *
 * The estimate goes through the inference runtime at build (skipped when
 * resuming: the kept set is in the checkpoint). Its rollouts are reported as
 * the cumulative metric `estimation_rollouts`, as AdaCuRL's are, and charged
 * once wherever cost is counted: the report's rollout axis and totals
 * (`Analysis.cumulativeCost`), `bench:simulator`, and the `rollouts` column of
 * the run summary (`Metrics.rolloutsCharged`). `rollouts_generated` stays the
 * rollouts made during steps (training, refill rounds, screening), so the
 * two are never counted twice. A band that keeps no problem fails the build
 * with a `ConfigError` naming it.
 *
 * @see https://arxiv.org/abs/2510.01135
 * @since 0.2.0
 */
import * as Columns from "@zpd/core/Columns"
import { ConfigError } from "@zpd/core/Errors"
import * as Part from "@zpd/core/Part"
import type { SamplingParams } from "@zpd/core/Runtime"
import type { Verifier } from "@zpd/core/Stages"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Baselines from "./Baselines.ts"
import * as Difficulty from "./Difficulty.ts"
import { declared, intAtLeast, passRateBand, validated } from "./internal/config.ts"
import * as OnlineFilter from "./OnlineFilter.ts"

/**
 * @since 0.2.0
 * @category config
 */
export interface Config {
  /** Lowest kept estimated pass rate, inclusive. Default 0.2 [R]. */
  readonly pLow: number
  /** Highest kept estimated pass rate, inclusive. Default 0.8 [R]. */
  readonly pHigh: number
  /** Rollouts per problem for the one-off estimate. Default 8 [R]. */
  readonly samples: number
  /** Sampling of the estimation rollouts (default: the core's). */
  readonly sampling: Partial<SamplingParams> | undefined
}

/**
 * @since 0.2.0
 * @category config
 */
export const defaults: Config = { pLow: 0.2, pHigh: 0.8, samples: 8, sampling: undefined }

/**
 * @since 0.2.0
 * @category config
 */
export const validate = (config: Config): Either.Either<Config, ConfigError> =>
  validated(
    config,
    passRateBand(config, "offlineFilter"),
    intAtLeast(config.samples, 1, "offlineFilter.samples")
  )

/**
 * The problems (dense indices, ascending) whose pass rate `correct[i] / samples`
 * lies in `[pLow, pHigh]`.
 *
 * @since 0.2.0
 * @category math
 */
export const kept = (correct: Int32Array, samples: number, band: Pick<Config, "pLow" | "pHigh">): Int32Array => {
  const out: Array<number> = []
  for (let i = 0; i < correct.length; i++) {
    if (OnlineFilter.keeps(correct[i]! / samples, band)) out.push(i)
  }
  return Int32Array.from(out)
}

/**
 * @since 0.2.0
 * @category schemas
 */
export const State = Schema.Struct({ kept: Columns.Int32Column, estimationRollouts: Schema.Int })

/**
 * Options of {@link gate}: the {@link Config} fields and the verifier.
 *
 * @since 0.2.0
 * @category models
 */
export type Options = Partial<Config> & { readonly verifier: Verifier }

/**
 * The one-off band gate (see the module docs). Metric: `estimation_rollouts`.
 *
 * @since 0.2.0
 * @category parts
 */
export const gate = (options: Options) => {
  const { verifier, ...rest } = options
  const config: Config = { ...defaults, ...rest }
  return Part.gate({
    ...declared("offline-filter", State, validate(config)),
    build: (build) =>
      Effect.gen(function*() {
        const n = build.dataset.problems.length
        let initial: Schema.Schema.Type<typeof State> = { kept: new Int32Array(0), estimationRollouts: 0 }
        if (!build.resuming) {
          const counts = yield* Difficulty.countCorrect(build.dataset.problems, config.samples, {
            verifier,
            seed: build.seed,
            label: "offline-filter",
            field: "offlineFilter",
            ...(config.sampling === undefined ? {} : { sampling: config.sampling })
          }, "estimate")
          initial = { kept: kept(counts.correct, config.samples, config), estimationRollouts: counts.rollouts }
          if (initial.kept.length === 0) {
            return yield* new ConfigError({
              field: "offlineFilter.pLow/pHigh",
              expected:
                `a band that keeps some of the ${n} problems (their estimated pass rates out of ${config.samples})`,
              actual: `[${config.pLow}, ${config.pHigh}] keeps none`
            })
          }
        }
        const spec: Part.GateSpec<Schema.Schema.Type<typeof State>, undefined> = {
          initial,
          check: ({ kept }) => {
            const outside = kept.find((i) => i < 0 || i >= n)
            return outside === undefined ? undefined : `it keeps problem ${outside}; the dataset has ${n}`
          },
          eligible: ({ state }, pool) => Part.restrict(pool, state.kept, 0, {}),
          metrics: ({ state }) => ({
            estimation_rollouts: state.estimationRollouts,
            offline_filter_kept: state.kept.length
          })
        }
        return spec
      })
  })
}

/**
 * The pre-filter baseline: {@link gate} then uniform draws from the kept set.
 *
 * @since 0.2.0
 * @category plugins
 */
export const plugin = (options: Options) =>
  gate(options).pipe(Part.andThen(Baselines.uniform()), Part.named("offline-filter"))
