/**
 * Simulated learner v2: a pure-TypeScript model of an LLM policy under GRPO
 * that implements the runtime ports ({@link InferenceRuntime},
 * {@link TrainerRuntime}, {@link Evaluator}) deterministically, with the
 * mechanisms curriculum papers rely on (DESIGN §5, §9):
 *
 * - prerequisite skills: an item of level ℓ composes ℓ steps and is solved
 *   only if every step succeeds, p_x = Π_{j≤ℓ} σ(s·u_j(x)); transfer between
 *   levels and families is partial (a shared general skill, one shared skill
 *   per level, one skill per family and level);
 * - per-item memorisation μ_x, learned only from the item's own samples;
 * - forgetting by interference: every update shrinks each skill toward its
 *   initial value in proportion to how far the *other* skills moved (metric
 *   `forgetting`);
 * - a format skill: a completion is malformed with probability 1 − σ(φ) and
 *   then carries no answer tag, so the verifier scores it wrong;
 * - a sharpness s = e^λ that scales every logit: policy-gradient updates on
 *   items the policy mostly solves raise it, which pushes unsolved items
 *   toward p = 0 and groups toward zero variance (entropy collapse); the KL
 *   to a reference pulls it back (metrics `sharpness`, `entropy`);
 * - learning speed independent of the answer's length: the answer text
 *   carries no loss weight of its own;
 * - run-to-run variance: `seed` draws the initial skills and the per-item
 *   offsets.
 *
 * v1 (the first simulator, regime `v1`) stays reachable as {@link makeV1}
 * and {@link layerV1}, unchanged. Named regimes pair a learner with a data
 * suite: see `Regimes.ts`. Equations: `packages/gpu-runtime/SIMULATOR.md`.
 *
 * @since 0.2.0
 */
import { RuntimeError } from "@zpd/core/Errors"
import * as Fmath from "@zpd/core/Fmath"
import type { Problem } from "@zpd/core/Problem"
import { hashString, mix32 } from "@zpd/core/Rng"
import {
  type Completion,
  Evaluator,
  type GenerateRequest,
  InferenceRuntime,
  type TrainerCheckpoint,
  TrainerRuntime,
  type TrainStepRequest,
  type TrainStepResult
} from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  FAIL_TOKEN,
  familiesOf,
  FORMAT_BAD_TOKEN,
  FORMAT_OK_TOKEN,
  generateWith,
  GroupKl,
  isFiniteArray,
  itemTable,
  layerOf as internalLayerOf,
  layoutOf,
  type Learner,
  lossSettingsOf,
  portsOf,
  REASON_DOWN_TOKEN,
  REASON_UP_TOKEN,
  reasoningTokensOf,
  refused,
  restoredParameters,
  type SavedState,
  SimulatedLearner,
  SOLVE_TOKEN,
  updateMetrics
} from "./internal/simulator.ts"
import * as V1 from "./SimulatedV1.ts"

export {
  FAIL_TOKEN,
  FORMAT_BAD_TOKEN,
  FORMAT_OK_TOKEN,
  type Learner,
  REASON_DOWN_TOKEN,
  REASON_UP_TOKEN,
  SimulatedLearner,
  SOLVE_TOKEN
}

/**
 * The first simulator (regime `v1`): one general skill and one skill per
 * family, p = σ(θ·a − b). Kept byte for byte so earlier runs reproduce.
 *
 * @since 0.2.0
 * @category v1
 */
export const makeV1 = V1.make

/**
 * {@link makeV1} as a layer.
 *
 * @since 0.2.0
 * @category v1
 */
export const layerV1 = V1.layer

/**
 * v1's constants.
 *
 * @since 0.2.0
 * @category v1
 */
export const defaultsV1 = V1.defaults

/**
 * v1's configuration.
 *
 * @since 0.2.0
 * @category v1
 */
export type ConfigV1 = V1.SimulatorConfig

/**
 * v1's learner.
 *
 * @since 0.2.0
 * @category v1
 */
export type SimulatorV1 = V1.Simulator

/**
 * The constants of simulator v2 (SIMULATOR.md §6 lists them with their
 * defaults and meaning).
 *
 * @since 0.2.0
 * @category models
 */
export interface SimulatorConfig {
  /** The run seed: draws the initial skills and the per-item offsets. */
  readonly seed: number
  /** w_g, the weight of the shared general skill in every step. */
  readonly generalWeight: number
  /** w_L, the weight of the shared per-level skill L_j in step j. */
  readonly levelWeight: number
  /** d_j = difficultyBase + difficultyStep·(j − 1), the difficulty of step j. */
  readonly difficultyBase: number
  readonly difficultyStep: number
  /** Standard deviation of the per-item offset δ_x (drawn from `seed` and the id). */
  readonly itemSpread: number
  /** Standard deviation of the initial skills around 0 (drawn from `seed`). */
  readonly initialSpread: number
  /** η when the request sets none. */
  readonly learningRate: number
  /** Step-size multiplier for the per-item memorisation μ_x. */
  readonly memoRate: number
  /** Step-size multiplier for the log-sharpness λ. */
  readonly sharpnessRate: number
  /** Interference: a skill shrinks toward θ⁰ by `forgetRate`·‖Δ of the other skills‖ per update. */
  readonly forgetRate: number
  /** φ⁰, the initial format logit (P(well-formed) = σ(φ)). */
  readonly formatInitial: number
  /** Step-size multiplier for the format logit φ. */
  readonly formatRate: number
  /** R, binary reasoning tokens per completion, with logit s·`reasoningLogit`. */
  readonly reasoningTokens: number
  readonly reasoningLogit: number
  /** Completion text of a well-formed completion (default `<answer>…</answer>`, empty tag when wrong). */
  readonly render?: (problem: Problem, correct: boolean) => string
  /** Completion text of a malformed completion (default: the answer without its tag when solved, else ""). */
  readonly renderMalformed?: (problem: Problem, solved: boolean) => string
}

/**
 * v2's defaults (regime `default`). At θ⁰ the expected accuracies are about
 * 0.53 (level 1), 0.28 (2), 0.10 (3) and 0.02 (4), a quarter of the
 * completions being malformed.
 *
 * @since 0.2.0
 * @category constructors
 */
export const defaults: SimulatorConfig = {
  seed: 1,
  generalWeight: 0.3,
  levelWeight: 0.7,
  difficultyBase: -0.9,
  difficultyStep: 0.75,
  itemSpread: 0.5,
  initialSpread: 0.3,
  learningRate: 0.6,
  memoRate: 40,
  sharpnessRate: 0.1,
  forgetRate: 0.8,
  formatInitial: 1.1,
  formatRate: 1,
  reasoningTokens: 4,
  reasoningLogit: 1
}

/**
 * A v2 learner: the three ports plus introspection.
 *
 * @since 0.2.0
 * @category models
 */
export interface Simulator extends Learner {
  readonly model: "v2"
  readonly config: SimulatorConfig
  /** The exact probability that a completion is well-formed, σ(φ). */
  readonly formatRate: () => number
  /** The sharpness s = e^λ (1 at the start). */
  readonly sharpness: () => number
  /** The per-item memorisation μ of `problem` (0 if never trained). */
  readonly memorisation: (problem: Problem) => number
  /** Copies of the parameter vectors: [λ, φ, g, L_1…L_J, s_{f,j}…] now, at the reference and at θ⁰. */
  readonly parameters: () => {
    readonly theta: Array<number>
    readonly thetaRef: Array<number>
    readonly theta0: Array<number>
  }
  /** The index of skill s_{family,level} in `parameters().theta`, `undefined` if none. */
  readonly skillIndex: (family: string, level: number) => number | undefined
}

// ---------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------

const { log, logSigmoid, sigmoid } = Fmath

/** Indices of the parameter vector. */
const LAMBDA = 0
const PHI = 1
const GENERAL = 2
const FIRST_LEVEL = 3

/** A standard-normal-like draw (Irwin–Hall of 4 uniforms, unit variance), a function of (seed, label). */
const normalOf = (seed: number, label: string): number => {
  const h = mix32((hashString(label) ^ Math.imul(seed | 0, 0x9e3779b9)) >>> 0)
  let s = 0
  for (let k = 1; k <= 4; k++) s += mix32((h + Math.imul(k, 0x85ebca6b)) >>> 0) / 4294967296
  return (s - 2) * Math.sqrt(3)
}

/**
 * Per-token PPO + k3 arithmetic shared by every binary choice: returns ∂ℓ/∂ log π_θ(y).
 * `e` = expm1(lpRef − lpNew), which the caller computes once per distinct (lpNew, lpRef).
 */
interface TokenTerms {
  loss: number
  k3: number
  klTerm: number
  clipped: boolean
  factor: number
}

const tokenTerms = (
  out: TokenTerms,
  lpNew: number,
  lpRef: number,
  e: number,
  lpOld: number,
  A: number,
  w: number,
  beta: number,
  clip: number
): TokenTerms => {
  const rho = Fmath.exp(lpNew - lpOld)
  const clipped = (A > 0 && rho > 1 + clip) || (A < 0 && rho < 1 - clip)
  let loss = 0
  let factor = 0
  if (A !== 0) {
    const rhoC = Math.min(Math.max(rho, 1 - clip), 1 + clip)
    loss = -Math.min(rho * A, rhoC * A)
    if (!clipped) factor = -rho * A
  }
  const delta = lpRef - lpNew
  const k3 = e - delta
  if (w !== 0) {
    loss += beta * w * k3
    if (beta !== 0) factor -= beta * w * e
  }
  out.loss = loss
  out.k3 = k3
  out.klTerm = w * k3
  out.clipped = clipped
  out.factor = factor
  return out
}

/** log(1 − e^a) for a ≤ 0, floored so that a certain success stays finite. */
const log1mExp = (a: number): number => log(Math.max(-Fmath.expm1(a), 1e-300))

const binaryEntropy = (p: number): number => p <= 0 || p >= 1 ? 0 : -(p * log(p) + (1 - p) * log(1 - p))

interface CheckpointState extends SavedState {
  readonly model: "v2"
  readonly levels: number
  readonly memo: {
    readonly ids: ReadonlyArray<string>
    readonly mu: ReadonlyArray<number>
    readonly muRef: ReadonlyArray<number>
  }
}

// ---------------------------------------------------------------------------
// constructor
// ---------------------------------------------------------------------------

/**
 * Builds a v2 learner for `problems` (every problem `update` may see;
 * `generate` and `accuracy` also accept others). Families get skills in
 * sorted name order, for levels 1 … the highest level in `problems`; a
 * problem of an unknown family uses the shared skills only.
 *
 * **Example**
 * ```ts
 * const sim = Simulated.make(suite.all, { seed: 3 })
 * const acc = yield* sim.evaluator.accuracy(suite.test.problems)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (problems: ReadonlyArray<Problem>, config?: Partial<SimulatorConfig>): Simulator => {
  const cfg: SimulatorConfig = { ...defaults, ...config }
  const R = reasoningTokensOf(cfg.reasoningTokens)
  if (!Number.isSafeInteger(cfg.seed)) throw new RangeError(`seed must be an integer, got ${cfg.seed}`)
  const families = familiesOf(problems)
  const familyIndex = new Map<string, number>()
  families.forEach((f, i) => familyIndex.set(f, i))
  const levelOf = (p: Problem): number => Math.max(1, Math.round(p.level))
  const J = problems.reduce((m, p) => Math.max(m, levelOf(p)), 1)
  const FIRST_FAMILY = FIRST_LEVEL + J
  const P = FIRST_FAMILY + families.length * J
  const familySkill = (fi: number, j: number): number => FIRST_FAMILY + fi * J + (j - 1)
  const difficulty = (j: number): number => cfg.difficultyBase + cfg.difficultyStep * (j - 1)

  // θ⁰: λ = 0 (s = 1), φ = formatInitial, skills drawn around 0 from the seed.
  const theta0 = new Float64Array(P)
  theta0[PHI] = cfg.formatInitial
  for (let k = GENERAL; k < P; k++) theta0[k] = cfg.initialSpread * normalOf(cfg.seed, `skill-${k}`)
  let theta = Float64Array.from(theta0)
  let thetaRef = Float64Array.from(theta0)
  let version = 0

  // Item table (grows when generate sees new problems); memorisation restored before an item was seen waits here.
  const pendingMemo = new Map<string, readonly [number, number]>()
  const items = itemTable(
    problems,
    (capacity) => ({
      famOf: new Int32Array(capacity), // −1: unknown family
      lvl: new Int32Array(capacity),
      offset: new Float64Array(capacity),
      mu: new Float64Array(capacity),
      muRef: new Float64Array(capacity),
      memoGrad: new Float64Array(capacity)
    }),
    (c, i, p) => {
      c.famOf[i] = familyIndex.get(p.family) ?? -1
      c.lvl[i] = levelOf(p)
      c.offset[i] = cfg.itemSpread * normalOf(cfg.seed, `item:${p.id}`)
      const pending = pendingMemo.get(p.id)
      if (pending !== undefined) {
        c.mu[i] = pending[0]
        c.muRef[i] = pending[1]
        pendingMemo.delete(p.id)
      }
    }
  )
  const { cols, index } = items

  /** Cells (family, level) present in `problems`: where `forgetting` is measured. */
  const cells: Array<readonly [number, number]> = []
  {
    const seen = new Set<number>()
    for (const p of problems) {
      const fi = familyIndex.get(p.family)!
      const key = fi * (J + 1) + levelOf(p)
      if (!seen.has(key)) {
        seen.add(key)
        cells.push([fi, levelOf(p)])
      }
    }
  }

  /** u_j: the logit of step j before sharpness (item terms added at the item's own level). */
  const stepLogit = (params: Float64Array, fi: number, j: number): number => {
    const lj = j <= J ? params[FIRST_LEVEL + j - 1]! : 0
    const sfj = fi >= 0 && j <= J ? params[familySkill(fi, j)]! : 0
    return cfg.generalWeight * params[GENERAL]! + cfg.levelWeight * lj + sfj - difficulty(j)
  }

  /** log p_x (decision solved) at temperature T for item i under `params` and memo `m`. */
  const logSolveAt = (params: Float64Array, memo: Float64Array, i: number, T: number): number => {
    const s = Fmath.exp(params[LAMBDA]!) / T
    const fi = cols.famOf[i]!
    const l = cols.lvl[i]!
    let lp = 0
    for (let j = 1; j <= l; j++) {
      const u = stepLogit(params, fi, j) + (j === l ? cols.offset[i]! + memo[i]! : 0)
      lp += logSigmoid(s * u)
    }
    return lp
  }

  const logSolveOf = (p: Problem): number => {
    const i = index.get(p.id)
    if (i !== undefined) return logSolveAt(theta, cols.mu, i, 1)
    const s = Fmath.exp(theta[LAMBDA]!)
    const fi = familyIndex.get(p.family) ?? -1
    const l = levelOf(p)
    let lp = 0
    for (let j = 1; j <= l; j++) {
      const u = stepLogit(theta, fi, j) + (j === l ? cfg.itemSpread * normalOf(cfg.seed, `item:${p.id}`) : 0)
      lp += logSigmoid(s * u)
    }
    return lp
  }

  const passRate = (p: Problem): number => sigmoid(theta[PHI]!) * Fmath.exp(logSolveOf(p))

  /** Mean pass rate of a typical item (offset 0, no memorisation) over the cells. */
  const cellAccuracy = (params: Float64Array): number => {
    if (cells.length === 0) return 0
    const s = Fmath.exp(params[LAMBDA]!)
    let sum = 0
    for (const [fi, l] of cells) {
      let lp = 0
      for (let j = 1; j <= l; j++) lp += logSigmoid(s * stepLogit(params, fi, j))
      sum += Fmath.exp(lp)
    }
    return (sigmoid(params[PHI]!) * sum) / cells.length
  }

  const render = cfg.render ??
    ((p: Problem, correct: boolean) => correct ? `<answer>${p.answer}</answer>` : "<answer></answer>")
  const renderMalformed = cfg.renderMalformed ?? ((p: Problem, solved: boolean) => solved ? p.answer : "")

  // -------------------------------------------------------------------------
  // generate
  // -------------------------------------------------------------------------

  const generate = (request: GenerateRequest): Effect.Effect<ReadonlyArray<Completion>, RuntimeError> =>
    Effect.suspend(() => {
      const s = Fmath.exp(theta[LAMBDA]!)
      const phi = theta[PHI]!
      return generateWith("simulated/generate", request, {
        items,
        version,
        R,
        headLength: 2,
        plan: (problem, i, T) => {
          const lpSolve = T === 0 ? 0 : logSolveAt(theta, cols.mu, i, T)
          const pSolve = Fmath.exp(lpSolve)
          const lpFail = T === 0 ? 0 : log1mExp(lpSolve)
          const greedySolved = T === 0 && logSolveAt(theta, cols.mu, i, 1e-9) > -Math.LN2
          const qFormat = T === 0 ? 0 : sigmoid(phi / T)
          const lpOk = T === 0 ? 0 : logSigmoid(phi / T)
          const lpBad = T === 0 ? 0 : logSigmoid(-phi / T)
          return {
            v: s * cfg.reasoningLogit,
            draw: (rng) => {
              const ok = T === 0 ? phi > 0 : rng.next() < qFormat
              const solved = T === 0 ? greedySolved : rng.next() < pSolve
              return {
                tokens: [ok ? FORMAT_OK_TOKEN : FORMAT_BAD_TOKEN, solved ? SOLVE_TOKEN : FAIL_TOKEN],
                logprobs: [ok ? lpOk : lpBad, solved ? lpSolve : lpFail],
                text: ok ? render(problem, solved) : renderMalformed(problem, solved)
              }
            }
          }
        }
      })
    })

  // -------------------------------------------------------------------------
  // update
  // -------------------------------------------------------------------------

  const update = (request: TrainStepRequest): Effect.Effect<TrainStepResult, RuntimeError> =>
    Effect.suspend(() => {
      const endpoint = "simulated/update"
      const { clip, beta, aggregation, lr } = lossSettingsOf(request, cfg.learningRate)
      const samples = request.samples
      const N = samples.length
      // Validation and loss-token counts (format + decision + reasoning; the answer text has no weight).
      const layout = layoutOf(endpoint, samples, index, R, 2, (smp, f) => {
        const ft = smp.tokenIds[f]
        const dt = smp.tokenIds[f + 1]
        return (ft !== FORMAT_OK_TOKEN && ft !== FORMAT_BAD_TOKEN) || (dt !== SOLVE_TOKEN && dt !== FAIL_TOKEN) ||
            !smp.lossMask[f + 1]
          ? `the first two loss tokens must be a format token (${FORMAT_OK_TOKEN}/${FORMAT_BAD_TOKEN}) ` +
            `and a decision token (${SOLVE_TOKEN}/${FAIL_TOKEN}), got ${ft}, ${dt}`
          : undefined
      })
      if (layout instanceof RuntimeError) return Effect.fail(layout)
      const { first, rows, reasonEnd } = layout
      const tokens = new Float64Array(N)
      let totalTokens = 0
      for (let n = 0; n < N; n++) {
        tokens[n] = 2 + layout.reasonLoss[n]!
        totalTokens += 2 + layout.reasonLoss[n]!
      }
      const meanTokens = N === 0 ? 1 : totalTokens / N
      const grad = new Float64Array(P)
      const touched: Array<number> = []
      const groups = new GroupKl(layout.maxGroup)
      const tt: TokenTerms = { loss: 0, k3: 0, klTerm: 0, clipped: false, factor: 0 }
      let loss = 0
      let klSum = 0
      let clipped = 0
      let gradTokens = 0
      let malformed = 0
      let entropy = 0
      const sharp = Fmath.exp(theta[LAMBDA]!)
      const sharpRef = Fmath.exp(thetaRef[LAMBDA]!)
      // The format and reasoning tokens' log-probabilities depend on T only, the decision's on (item, T):
      // computed once per distinct value (samples of a group are consecutive) instead of once per token.
      let atT = Number.NaN
      let fmt = { ok: 0, bad: 0, okRef: 0, badRef: 0, eOk: 0, eBad: 0, q: 0 }
      let rsn = { v: 0, up: 0, down: 0, upRef: 0, downRef: 0, eUp: 0, eDown: 0, q: 0 }
      const perTemperature = (T: number) => {
        if (T === atT) return
        atT = T
        const z = theta[PHI]! / T
        const zr = thetaRef[PHI]! / T
        const [ok, bad, okRef, badRef] = [logSigmoid(z), logSigmoid(-z), logSigmoid(zr), logSigmoid(-zr)]
        fmt = { ok, bad, okRef, badRef, eOk: Fmath.expm1(okRef - ok), eBad: Fmath.expm1(badRef - bad), q: sigmoid(z) }
        const v = (sharp * cfg.reasoningLogit) / T
        const vRef = (sharpRef * cfg.reasoningLogit) / T
        const [up, down, upRef, downRef] = [logSigmoid(v), logSigmoid(-v), logSigmoid(vRef), logSigmoid(-vRef)]
        rsn = {
          v,
          up,
          down,
          upRef,
          downRef,
          eUp: Fmath.expm1(upRef - up),
          eDown: Fmath.expm1(downRef - down),
          q: sigmoid(v)
        }
      }
      const u = new Float64Array(J + 8)
      const sig = new Float64Array(J + 8)
      let decisionOf = -1
      let decisionT = Number.NaN
      const dec = { lp: 0, lpFail: 0, lpRefSolve: 0, lpRefFail: 0, eSolve: 0, eFail: 0, entropy: 0, cFail: 0 }
      /** Fills u, sig and `dec` for item i at temperature T (log p = Σ_j log σ(s u_j / T)). */
      const perDecision = (i: number, T: number) => {
        if (i === decisionOf && T === decisionT) return
        decisionOf = i
        decisionT = T
        const fi = cols.famOf[i]!
        const l = cols.lvl[i]!
        const s = sharp / T
        let lp = 0
        let lpRefSolve = 0
        for (let j = 1; j <= l; j++) {
          const item = j === l ? cols.offset[i]! : 0
          u[j] = stepLogit(theta, fi, j) + (j === l ? item + cols.mu[i]! : 0)
          sig[j] = sigmoid(s * u[j]!)
          lp += logSigmoid(s * u[j]!)
          lpRefSolve += logSigmoid(
            (sharpRef / T) * (stepLogit(thetaRef, fi, j) + (j === l ? item + cols.muRef[i]! : 0))
          )
        }
        const lpFail = log1mExp(lp)
        const lpRefFail = log1mExp(lpRefSolve)
        dec.lp = lp
        dec.lpFail = lpFail
        dec.lpRefSolve = lpRefSolve
        dec.lpRefFail = lpRefFail
        dec.eSolve = Fmath.expm1(lpRefSolve - lp)
        dec.eFail = Fmath.expm1(lpRefFail - lpFail)
        dec.entropy = binaryEntropy(Fmath.exp(lp))
        // ∇ log π(y) = c · ∇ log p, c = 1 if solved, −p/(1 − p) otherwise.
        dec.cFail = -Fmath.exp(lp - lpFail)
      }
      for (let n = 0; n < N; n++) {
        const smp = samples[n]!
        const i = rows[n]!
        const f = first[n]!
        const T = smp.temperature
        const tw = aggregation === "token-mean" ? 1 / meanTokens : 1 / tokens[n]!
        const g = smp.group
        let groupTerm = 0
        perTemperature(T)
        /** Adds token t's clipped-surrogate and KL terms to the step; returns ∂ℓ/∂ log π_θ(y_t). */
        const addToken = (t: number, lpNew: number, lpRef: number, e: number): number => {
          tokenTerms(tt, lpNew, lpRef, e, smp.samplingLogprobs[t]!, smp.advantages[t]!, smp.klWeight[t]!, beta, clip)
          loss += tw * tt.loss
          klSum += tt.k3
          groupTerm += tt.klTerm
          if (tt.clipped) clipped++
          gradTokens++
          return tt.factor
        }
        // Format token: logit φ/T.
        {
          const ok = smp.tokenIds[f] === FORMAT_OK_TOKEN
          if (!ok) malformed++
          const factor = ok ? addToken(f, fmt.ok, fmt.okRef, fmt.eOk) : addToken(f, fmt.bad, fmt.badRef, fmt.eBad)
          if (factor !== 0) grad[PHI] = grad[PHI]! + tw * factor * ((ok ? 1 : 0) - fmt.q) / T
        }
        // Decision token.
        {
          const d = f + 1
          const solved = smp.tokenIds[d] === SOLVE_TOKEN
          const fi = cols.famOf[i]!
          const l = cols.lvl[i]!
          const s = sharp / T
          perDecision(i, T)
          entropy += dec.entropy
          const factor = solved
            ? addToken(d, dec.lp, dec.lpRefSolve, dec.eSolve)
            : addToken(d, dec.lpFail, dec.lpRefFail, dec.eFail)
          if (factor !== 0) {
            const c = solved ? 1 : dec.cFail
            const k = tw * factor * c
            for (let j = 1; j <= l; j++) {
              const dj = k * (1 - sig[j]!) // ∂/∂(s u_j)
              grad[LAMBDA] = grad[LAMBDA]! + dj * s * u[j]!
              const du = dj * s // ∂/∂u_j
              grad[GENERAL] = grad[GENERAL]! + du * cfg.generalWeight
              if (j <= J) {
                grad[FIRST_LEVEL + j - 1] = grad[FIRST_LEVEL + j - 1]! + du * cfg.levelWeight
                if (fi >= 0) grad[familySkill(fi, j)] = grad[familySkill(fi, j)]! + du
              }
              if (j === l) {
                if (cols.memoGrad[i] === 0) touched.push(i)
                cols.memoGrad[i] = cols.memoGrad[i]! + du
              }
            }
          }
        }
        // Reasoning tokens: logit s·c/T, independent of the item and the outcome.
        const end = reasonEnd[n]!
        for (let t = f + 2; t < end; t++) {
          if (!smp.lossMask[t]) continue
          const up = smp.tokenIds[t] === REASON_UP_TOKEN
          const factor = up ? addToken(t, rsn.up, rsn.upRef, rsn.eUp) : addToken(t, rsn.down, rsn.downRef, rsn.eDown)
          if (factor !== 0) grad[LAMBDA] = grad[LAMBDA]! + tw * factor * ((up ? 1 : 0) - rsn.q) * rsn.v
        }
        groups.add(g, groupTerm)
      }
      if (N > 0) {
        loss /= N
        for (let k = 0; k < P; k++) grad[k] = grad[k]! / N
        for (const i of touched) cols.memoGrad[i] = cols.memoGrad[i]! / N
      }
      // Step: θ ← θ − η·rate_k·∇_k.
      let gradNorm2 = 0
      for (let k = 0; k < P; k++) gradNorm2 += grad[k]! * grad[k]!
      for (const i of touched) gradNorm2 += cols.memoGrad[i]! * cols.memoGrad[i]!
      const next = Float64Array.from(theta)
      next[LAMBDA] = theta[LAMBDA]! - lr * cfg.sharpnessRate * grad[LAMBDA]!
      next[PHI] = theta[PHI]! - lr * cfg.formatRate * grad[PHI]!
      let skillMove2 = 0
      let stepNorm2 = (next[LAMBDA]! - theta[LAMBDA]!) ** 2 + (next[PHI]! - theta[PHI]!) ** 2
      for (let k = GENERAL; k < P; k++) {
        const dk = lr * grad[k]!
        next[k] = theta[k]! - dk
        skillMove2 += dk * dk
      }
      stepNorm2 += skillMove2
      for (const i of touched) {
        const dm = lr * cfg.memoRate * cols.memoGrad[i]!
        cols.mu[i] = cols.mu[i]! - dm
        stepNorm2 += dm * dm
        cols.memoGrad[i] = 0
      }
      // Interference: each skill shrinks toward θ⁰ by forgetRate·‖Δ of the other skills‖;
      // memorisation by forgetRate·‖Δ skills‖.
      let forgetting = 0
      if (skillMove2 > 0 && cfg.forgetRate > 0) {
        const before = cellAccuracy(next)
        for (let k = GENERAL; k < P; k++) {
          const dk = next[k]! - theta[k]!
          const other = Math.sqrt(Math.max(0, skillMove2 - dk * dk))
          const factor = Math.min(1, Math.max(0, 1 - cfg.forgetRate * other))
          next[k] = theta0[k]! + (next[k]! - theta0[k]!) * factor
        }
        const memoFactor = Math.min(1, Math.max(0, 1 - cfg.forgetRate * Math.sqrt(skillMove2)))
        for (let i = 0, size = items.size(); i < size; i++) if (cols.mu[i] !== 0) cols.mu[i] = cols.mu[i]! * memoFactor
        forgetting = Math.max(0, before - cellAccuracy(next))
      }
      theta = next
      version += 1
      const groupKl = groups.means()
      const result: TrainStepResult = {
        step: request.step,
        policyVersion: version,
        metrics: {
          ...updateMetrics({
            loss,
            klSum,
            samples: N,
            clipped,
            gradTokens,
            gradNorm: Math.sqrt(gradNorm2),
            stepNorm: Math.sqrt(stepNorm2)
          }),
          forgetting,
          format_error_rate: N > 0 ? malformed / N : 0,
          entropy: N > 0 ? entropy / N : 0,
          sharpness: Fmath.exp(theta[LAMBDA]!)
        },
        groupKl
      }
      return Effect.succeed(result)
    })

  // -------------------------------------------------------------------------
  // checkpoint / restore
  // -------------------------------------------------------------------------

  const checkpoint = (_tag: string): Effect.Effect<TrainerCheckpoint> =>
    Effect.sync(() => {
      const memoIds: Array<string> = []
      const memoMu: Array<number> = []
      const memoRef: Array<number> = []
      for (let i = 0, size = items.size(); i < size; i++) {
        if (cols.mu[i] !== 0 || cols.muRef[i] !== 0) {
          memoIds.push(items.ids[i]!)
          memoMu.push(cols.mu[i]!)
          memoRef.push(cols.muRef[i]!)
        }
      }
      for (const [id, [m, r]] of pendingMemo) {
        memoIds.push(id)
        memoMu.push(m)
        memoRef.push(r)
      }
      const state: CheckpointState = {
        model: "v2",
        families: [...families],
        levels: J,
        theta: Array.from(theta),
        thetaRef: Array.from(thetaRef),
        theta0: Array.from(theta0),
        memo: { ids: memoIds, mu: memoMu, muRef: memoRef },
        version
      }
      return { _tag: "Inline" as const, state }
    })

  const restore = (cp: TrainerCheckpoint): Effect.Effect<number, RuntimeError> =>
    Effect.suspend(() => {
      const endpoint = "simulated/restore"
      const restored = restoredParameters<CheckpointState>(endpoint, cp, families, P, {
        before: (st) =>
          st.model !== "v2"
            ? refused(endpoint, `checkpoint model must be "v2" (this learner), got ${JSON.stringify(st.model)}`)
            : st.levels !== J
            ? refused(endpoint, `checkpoint levels ${String(st.levels)} differ from ${J}`)
            : undefined,
        after: (st) => {
          const memo = st.memo as Partial<CheckpointState["memo"]> | undefined
          const m = memo?.ids?.length ?? -1
          return memo === undefined || !Array.isArray(memo.ids) || !memo.ids.every((x) => typeof x === "string") ||
              !isFiniteArray(memo.mu, m) || !isFiniteArray(memo.muRef, m)
            ? refused(
              endpoint,
              "checkpoint memo must be { ids: string[], mu: number[], muRef: number[] } of equal lengths"
            )
            : undefined
        }
      })
      if (restored instanceof RuntimeError) return Effect.fail(restored)
      const memo = restored.state.memo as CheckpointState["memo"]
      theta = restored.saved.theta
      thetaRef = restored.saved.thetaRef
      theta0.set(restored.saved.theta0)
      cols.mu.fill(0)
      cols.muRef.fill(0)
      pendingMemo.clear()
      memo.ids.forEach((id, k) => {
        const i = index.get(id)
        if (i === undefined) pendingMemo.set(id, [memo.mu[k]!, memo.muRef[k]!])
        else {
          cols.mu[i] = memo.mu[k]!
          cols.muRef[i] = memo.muRef[k]!
        }
      })
      version = restored.saved.version
      return Effect.succeed(version)
    })

  /** The reference becomes the current policy, item memory included. */
  const resetReference = () => {
    thetaRef = Float64Array.from(theta)
    cols.muRef = Float64Array.from(cols.mu)
  }

  /** Expected accuracy over `ps`: P(well-formed) · mean P(solve). */
  const accuracy = (ps: ReadonlyArray<Problem>) => {
    if (ps.length === 0) return 0
    let sum = 0
    for (const p of ps) sum += Fmath.exp(logSolveOf(p))
    return (sigmoid(theta[PHI]!) * sum) / ps.length
  }

  const ports = portsOf({
    detail: "simulated learner v2",
    version: () => version,
    generate,
    update,
    resetReference,
    checkpoint,
    restore,
    accuracy
  })

  return {
    model: "v2",
    ...ports,
    config: cfg,
    families,
    passRate,
    policyVersion: () => version,
    formatRate: () => sigmoid(theta[PHI]!),
    sharpness: () => Fmath.exp(theta[LAMBDA]!),
    memorisation: (p) => {
      const i = index.get(p.id)
      return i === undefined ? 0 : cols.mu[i]!
    },
    parameters: () => ({ theta: Array.from(theta), thetaRef: Array.from(thetaRef), theta0: Array.from(theta0) }),
    skillIndex: (family, level) => {
      const fi = familyIndex.get(family)
      const j = Math.round(level)
      return fi === undefined || j < 1 || j > J ? undefined : familySkill(fi, j)
    }
  }
}

/**
 * A learner as a layer providing the three runtime ports and
 * {@link SimulatedLearner}, all over one instance built at layer build.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerOf = internalLayerOf

/**
 * The v2 learner as a layer (each build starts from θ⁰ of `config.seed`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  problems: ReadonlyArray<Problem>,
  config?: Partial<SimulatorConfig>
): Layer.Layer<InferenceRuntime | TrainerRuntime | Evaluator | SimulatedLearner> =>
  layerOf(() => make(problems, config))
