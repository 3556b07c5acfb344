/**
 * Simulated learner v1 (regime `v1`), kept unchanged so earlier numbers can be
 * reproduced byte for byte; `Simulated.ts` holds v2 and re-exports this one as
 * `makeV1` / `layerV1` / `defaultsV1`.
 *
 * A pure-TypeScript item-response-theory policy that
 * implements the runtime ports ({@link InferenceRuntime}, {@link TrainerRuntime},
 * {@link Evaluator}) fast enough for tests and benchmarks.
 *
 * The policy has a skill vector θ ∈ R^S (skill 0 is shared, one skill per task
 * family) and solves problem x with probability p_x = σ(θ·a_x − b_x). A
 * completion's first token is a binary decision token (solve / fail) carrying
 * the whole logprob of the outcome; it is followed by `reasoningTokens`
 * binary "reasoning" tokens with logit (θ − θ_0)·a_x (uncertain at θ_0, and
 * independent of the outcome), then the answer text. `update` takes a real
 * GRPO/PPO step (clipped surrogate + k3 KL to a reference copy θ_ref, per
 * token, weighted per token by `klWeight`) on θ. Family skills that were not trained in a step decay toward
 * their initial value (capacity interference), so learning can be forgotten.
 * See `packages/gpu-runtime/SIMULATOR.md` for the equations.
 *
 * @since 0.1.0
 */
import { RuntimeError } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import type { Problem } from "@zpd/core/Problem"
import { hashString, mix32 } from "@zpd/core/Rng"
import * as Runtime from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Shared from "./internal/simulator.ts"

/**
 * The simulator's constants.
 *
 * - `generalWeight`: a_x on the shared skill 0 (transfer across families).
 * - `depthSlope`: a_x on the family skill is `1 + depthSlope·(level − 1)`, so a
 *   family skill learned on easy levels helps harder levels more in logit.
 * - `b0`, `b1`: difficulty b_x = b0 + b1·level + jitter_x.
 * - `jitter`: half-width of the deterministic per-problem difficulty offset
 *   (a hash of the problem id mapped to a bell-shaped value in [−jitter, jitter]).
 * - `initialGeneral`, `initialFamily`: θ_0 on skill 0 and on every family skill.
 * - `learningRate`: the SGD step size when the request has no `learningRate`.
 * - `forgetRate`: capacity interference; untrained family skills shrink toward
 *   θ_0 by the factor `1 − forgetRate·‖Δθ‖` per update.
 * - `reasoningTokens`: R, the number of reasoning tokens after the decision
 *   token. Each is an independent binary choice ({@link Shared.REASON_UP_TOKEN} with
 *   probability σ((θ − θ_0)·a_x / T)); they do not change the outcome or the
 *   text, but they carry surrogate and KL gradient like an LLM's reasoning
 *   tokens, so dense KL pulls θ back toward θ_ref even through zero-variance
 *   groups. 0 gives the decision-token-only learner.
 * - `render`: the completion text for an outcome (default
 *   `<answer>${answer}</answer>` when correct, `<answer></answer>` when not).
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatorConfig {
  readonly generalWeight: number
  readonly depthSlope: number
  readonly b0: number
  readonly b1: number
  readonly jitter: number
  readonly initialGeneral: number
  readonly initialFamily: number
  readonly learningRate: number
  readonly forgetRate: number
  readonly reasoningTokens: number
  readonly render?: (problem: Problem, correct: boolean) => string
}

/**
 * Default constants. At θ_0 the expected pass rates per level are about
 * 0.60 (level 1), 0.28 (2), 0.10 (3) and 0.03 (4), so levels 1–3 make a
 * training curriculum and level 4 an out-of-distribution test.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: SimulatorConfig = {
  generalWeight: 0.5,
  depthSlope: 0.25,
  b0: -1.7,
  b1: 1.3,
  jitter: 0.5,
  initialGeneral: 0,
  initialFamily: 0,
  learningRate: 0.07,
  forgetRate: 0.2,
  reasoningTokens: 8
}

export { FAIL_TOKEN, REASON_DOWN_TOKEN, REASON_UP_TOKEN, SimulatedLearner, SOLVE_TOKEN } from "./internal/simulator.ts"

/**
 * A simulated learner: the three runtime services over one shared parameter
 * vector, plus introspection for tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Simulator extends Shared.Learner {
  readonly model: "v1"
  readonly inference: Runtime.InferenceRuntime.Service
  readonly trainer: Runtime.TrainerRuntime.Service
  readonly evaluator: Runtime.Evaluator.Service
  readonly config: SimulatorConfig
  /** Family names in skill order (skill `i + 1` is `families[i]`). */
  readonly families: ReadonlyArray<string>
  /** The exact pass probability of `problem` at temperature 1 under the current θ. */
  readonly passRate: (problem: Problem) => number
  /** Copies of θ and θ_ref. */
  readonly parameters: () => { readonly theta: Array<number>; readonly thetaRef: Array<number> }
  /** The skill index of `family` (0 = the shared general skill), `undefined` if unknown. */
  readonly skillOf: (family: string) => number | undefined
  readonly policyVersion: () => number
}

// ---------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------

/** A bell-shaped value in [−1, 1] (mean of three hashed uniforms, rescaled), a function of `id` only. */
const unitJitter = (id: string): number => {
  const h = hashString(id)
  let s = 0
  for (let k = 1; k <= 3; k++) s += mix32((h + Math.imul(k, 0x9e3779b9)) >>> 0) / 4294967296
  return s / 1.5 - 1
}

const { logSigmoid, sigmoid } = Fmath

/** log π(o) for logit z: log σ(z) if solved, log σ(−z) otherwise. */
const logPi = (z: number, solved: boolean): number => solved ? logSigmoid(z) : logSigmoid(-z)

type CheckpointState = Shared.SavedState

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Builds a simulated learner for `problems` (every problem `update` may see;
 * `generate` and `accuracy` also accept problems outside this set, and
 * `generate` registers them so a later `update` finds them). Family skills are
 * assigned in sorted family-name order; a problem of a family not in
 * `problems` uses the general skill only.
 *
 * **Example**
 * ```ts
 * const sim = Simulated.make(train.problems, { learningRate: 1 })
 * const acc = yield* sim.evaluator.accuracy(test.problems)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (problems: ReadonlyArray<Problem>, config?: Partial<SimulatorConfig>): Simulator => {
  const cfg: SimulatorConfig = { ...defaults, ...config }
  const families = Shared.familiesOf(problems)
  const familyIndex = new Map<string, number>()
  families.forEach((f, i) => familyIndex.set(f, i + 1))
  const S = families.length + 1

  const R = Shared.reasoningTokensOf(cfg.reasoningTokens)
  const theta0 = new Float64Array(S)
  theta0[0] = cfg.initialGeneral
  for (let k = 1; k < S; k++) theta0[k] = cfg.initialFamily
  let theta = Float64Array.from(theta0)
  let thetaRef = Float64Array.from(theta0)
  let version = 0

  const featuresOf = (p: Problem) => ({
    k: familyIndex.get(p.family) ?? 0,
    aF: 1 + cfg.depthSlope * (p.level - 1),
    b: cfg.b0 + cfg.b1 * p.level + cfg.jitter * unitJitter(p.id)
  })

  // Feature table: dense index → (family skill, weights, difficulty). Grows when generate sees new problems.
  const items = Shared.itemTable(
    problems,
    (capacity) => ({
      skill: new Int32Array(capacity), // 0 = no family skill
      aGeneral: new Float64Array(capacity),
      aFamily: new Float64Array(capacity),
      diff: new Float64Array(capacity)
    }),
    (c, i, p) => {
      const f = featuresOf(p)
      c.skill[i] = f.k
      c.aGeneral[i] = cfg.generalWeight
      c.aFamily[i] = f.k === 0 ? 0 : f.aF
      c.diff[i] = f.b
    }
  )
  const { cols, index } = items

  const logitAt = (params: Float64Array, i: number): number => {
    const k = cols.skill[i]!
    return params[0]! * cols.aGeneral[i]! + (k === 0 ? 0 : params[k]! * cols.aFamily[i]!) - cols.diff[i]!
  }

  /** The reasoning-token logit v = (θ − θ_0)·a_x (before temperature). */
  const reasonLogitAt = (params: Float64Array, i: number): number => {
    const k = cols.skill[i]!
    return (params[0]! - theta0[0]!) * cols.aGeneral[i]! + (k === 0 ? 0 : (params[k]! - theta0[k]!) * cols.aFamily[i]!)
  }

  /** The logit of a problem from its fields (same value as the table would give). */
  const logitOf = (params: Float64Array, p: Problem): number => {
    const i = index.get(p.id)
    if (i !== undefined) return logitAt(params, i)
    const f = featuresOf(p)
    return params[0]! * cfg.generalWeight + (f.k === 0 ? 0 : params[f.k]! * f.aF) - f.b
  }

  const passRate = (p: Problem): number => sigmoid(logitOf(theta, p))

  const accuracyNow = (ps: ReadonlyArray<Problem>): number => {
    if (ps.length === 0) return 0
    let s = 0
    for (const p of ps) s += passRate(p)
    return s / ps.length
  }

  const render = cfg.render ??
    ((p: Problem, correct: boolean) => correct ? `<answer>${p.answer}</answer>` : "<answer></answer>")

  // -------------------------------------------------------------------------
  // generate
  // -------------------------------------------------------------------------

  const generate = (request: Runtime.GenerateRequest): Effect.Effect<ReadonlyArray<Runtime.Completion>, RuntimeError> =>
    Effect.suspend(() =>
      Shared.generateWith("simulated/generate", request, {
        items,
        version,
        R,
        headLength: 1,
        plan: (problem, i, T) => {
          const z = logitAt(theta, i)
          return {
            v: reasonLogitAt(theta, i),
            draw: (rng) => {
              let solved: boolean
              let lp: number
              if (T === 0) {
                solved = z > 0
                lp = 0
              } else {
                const zt = z / T
                solved = rng.next() < sigmoid(zt)
                lp = logPi(zt, solved)
              }
              return {
                tokens: [solved ? Shared.SOLVE_TOKEN : Shared.FAIL_TOKEN],
                logprobs: [lp],
                text: render(problem, solved)
              }
            }
          }
        }
      })
    )

  // -------------------------------------------------------------------------
  // update
  // -------------------------------------------------------------------------

  const update = (request: Runtime.TrainStepRequest): Effect.Effect<Runtime.TrainStepResult, RuntimeError> =>
    Effect.suspend(() => {
      const endpoint = "simulated/update"
      const { clip, beta, aggregation, lr } = Shared.lossSettingsOf(request, cfg.learningRate)
      const samples = request.samples
      const N = samples.length
      const grad = new Float64Array(S)
      const trained = new Uint8Array(S)
      // First pass: validation and loss-token counts.
      const layout = Shared.layoutOf(endpoint, samples, index, R, 1, (s, d) => {
        const tok = s.tokenIds[d]
        return tok !== Shared.SOLVE_TOKEN && tok !== Shared.FAIL_TOKEN
          ? `decision token must be ${Shared.SOLVE_TOKEN} or ${Shared.FAIL_TOKEN}, got ${tok}`
          : undefined
      })
      if (layout instanceof RuntimeError) return Effect.fail(layout)
      const { first: dec, rows, reasonEnd, reasonLoss, lossTokens } = layout
      let totalLossTokens = 0
      for (let n = 0; n < N; n++) totalLossTokens += lossTokens[n]!
      const meanLossTokens = N === 0 ? 1 : totalLossTokens / N
      const groups = new Shared.GroupKl(layout.maxGroup)
      let loss = 0
      let klSum = 0
      let clipped = 0
      let gradTokens = 0
      for (let n = 0; n < N; n++) {
        const s = samples[n]!
        const i = rows[n]!
        const d = dec[n]!
        const T = s.temperature
        const solved = s.tokenIds[d] === Shared.SOLVE_TOKEN
        const z = logitAt(theta, i) / T
        const p = sigmoid(z)
        const lpNew = logPi(z, solved)
        const lpRef = logPi(logitAt(thetaRef, i) / T, solved)
        const lpOld = s.samplingLogprobs[d]!
        const A = s.advantages[d]!
        const w = s.klWeight[d]!
        // The content tokens (decision + answer text) share the decision's per-token loss; each
        // reasoning token has its own. Token-mean: every loss token weighs 1/Σ_i T_i;
        // seq-mean: 1/(N·T_i). (Divided by N below.)
        const content = lossTokens[n]! - reasonLoss[n]!
        const weight = aggregation === "token-mean" ? content / meanLossTokens : content / lossTokens[n]!
        const tokenWeight = aggregation === "token-mean" ? 1 / meanLossTokens : 1 / lossTokens[n]!
        // ∂ log π(o) / ∂ logit-before-temperature
        const dlp = ((solved ? 1 : 0) - p) / T
        let coef = 0 // ∂ loss_n / ∂ (θ·a_x)
        const rho = Fmath.exp(lpNew - lpOld)
        const rhoClipped = Math.min(Math.max(rho, 1 - clip), 1 + clip)
        const isClipped = (A > 0 && rho > 1 + clip) || (A < 0 && rho < 1 - clip)
        if (isClipped) clipped++
        if (A !== 0) {
          loss -= weight * Math.min(rho * A, rhoClipped * A)
          if (!isClipped) coef -= rho * A * dlp
        }
        const delta = lpRef - lpNew
        const k3 = Fmath.expm1(delta) - delta
        klSum += k3
        if (w !== 0) {
          loss += weight * beta * w * k3
          if (beta !== 0) coef += -beta * w * Fmath.expm1(delta) * dlp
        }
        let groupTerm = w * k3
        gradTokens++
        // Reasoning tokens: x = 1 (REASON_UP) with probability q = σ(v/T), v = (θ − θ_0)·a_x.
        let reasonCoef = 0 // Σ_t ∂ℓ_t / ∂(θ·a_x) over the reasoning tokens
        const end = reasonEnd[n]!
        if (end > d + 1) {
          const v = reasonLogitAt(theta, i) / T
          const vRef = reasonLogitAt(thetaRef, i) / T
          const q = sigmoid(v)
          const lpUp = logSigmoid(v)
          const lpDown = logSigmoid(-v)
          const dUp = logSigmoid(vRef) - lpUp
          const dDown = logSigmoid(-vRef) - lpDown
          const eUp = Fmath.expm1(dUp)
          const eDown = Fmath.expm1(dDown)
          const k3Up = eUp - dUp
          const k3Down = eDown - dDown
          for (let t = d + 1; t < end; t++) {
            if (!s.lossMask[t]) continue
            gradTokens++
            const up = s.tokenIds[t] === Shared.REASON_UP_TOKEN
            const lpT = up ? lpUp : lpDown
            const dlpT = ((up ? 1 : 0) - q) / T
            const At = s.advantages[t]!
            const wt = s.klWeight[t]!
            const rhoT = Fmath.exp(lpT - s.samplingLogprobs[t]!)
            const clippedT = (At > 0 && rhoT > 1 + clip) || (At < 0 && rhoT < 1 - clip)
            if (clippedT) clipped++
            if (At !== 0) {
              const rhoTc = Math.min(Math.max(rhoT, 1 - clip), 1 + clip)
              loss -= tokenWeight * Math.min(rhoT * At, rhoTc * At)
              if (!clippedT) reasonCoef -= rhoT * At * dlpT
            }
            const k3T = up ? k3Up : k3Down
            klSum += k3T
            if (wt !== 0) {
              loss += tokenWeight * beta * wt * k3T
              if (beta !== 0) reasonCoef += -beta * wt * (up ? eUp : eDown) * dlpT
            }
            groupTerm += wt * k3T
          }
        }
        groups.add(s.group, groupTerm)
        const k = cols.skill[i]!
        if (A !== 0 && k !== 0) trained[k] = 1
        const total = reasonCoef === 0 ? weight * coef : weight * coef + tokenWeight * reasonCoef
        if (total !== 0) {
          const c = total / N
          grad[0] = grad[0]! + c * cols.aGeneral[i]!
          if (k !== 0) grad[k] = grad[k]! + c * cols.aFamily[i]!
        }
      }
      if (N > 0) loss /= N
      let gradNorm2 = 0
      for (let k = 0; k < S; k++) gradNorm2 += grad[k]! * grad[k]!
      const gradNorm = Math.sqrt(gradNorm2)
      const stepNorm = Math.abs(lr) * gradNorm
      if (stepNorm > 0) {
        const next = new Float64Array(S)
        for (let k = 0; k < S; k++) next[k] = theta[k]! - lr * grad[k]!
        const factor = Math.min(1, Math.max(0, 1 - cfg.forgetRate * stepNorm))
        if (factor !== 1) {
          for (let k = 1; k < S; k++) {
            if (trained[k] === 0) next[k] = theta0[k]! + (next[k]! - theta0[k]!) * factor
          }
        }
        theta = next
      }
      version += 1
      const groupKl = groups.means()
      return Effect.succeed({
        step: request.step,
        policyVersion: version,
        metrics: Shared.updateMetrics({ loss, klSum, samples: N, clipped, gradTokens, gradNorm, stepNorm }),
        groupKl
      })
    })

  // -------------------------------------------------------------------------
  // checkpoint / restore
  // -------------------------------------------------------------------------

  const checkpoint = (_tag: string): Effect.Effect<Runtime.TrainerCheckpoint, RuntimeError> =>
    Effect.sync(() => {
      const state: CheckpointState = {
        families: [...families],
        theta: Array.from(theta),
        thetaRef: Array.from(thetaRef),
        theta0: Array.from(theta0),
        version
      }
      return { _tag: "Inline" as const, state }
    })

  const restore = (cp: Runtime.TrainerCheckpoint): Effect.Effect<number, RuntimeError> =>
    Effect.suspend(() => {
      const endpoint = "simulated/restore"
      const restored = Shared.restoredParameters<CheckpointState>(endpoint, cp, families, S)
      if (restored instanceof RuntimeError) return Effect.fail(restored)
      theta = restored.saved.theta
      thetaRef = restored.saved.thetaRef
      theta0.set(restored.saved.theta0)
      version = restored.saved.version
      return Effect.succeed(version)
    })

  const ports = Shared.portsOf({
    detail: "simulated learner",
    version: () => version,
    generate,
    update,
    resetReference: () => {
      thetaRef = Float64Array.from(theta)
    },
    checkpoint,
    restore,
    accuracy: accuracyNow
  })

  return {
    model: "v1",
    ...ports,
    config: cfg,
    families,
    passRate,
    parameters: () => ({ theta: Array.from(theta), thetaRef: Array.from(thetaRef) }),
    skillOf: (family) => familyIndex.get(family),
    policyVersion: () => version
  }
}

/**
 * The simulated learner as a layer providing the three runtime ports and
 * {@link Shared.SimulatedLearner}, all over one instance. Each build of the layer
 * starts from fresh parameters θ_0.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  problems: ReadonlyArray<Problem>,
  config?: Partial<SimulatorConfig>
): Layer.Layer<Runtime.InferenceRuntime | Runtime.TrainerRuntime | Runtime.Evaluator | Shared.SimulatedLearner> =>
  Shared.layerOf(() => make(problems, config))
