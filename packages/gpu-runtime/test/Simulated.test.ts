import type { Problem } from "@zpd/core/Problem"
import { Rng } from "@zpd/core/Rng"
import type { Completion, LossConfig, TrainSample } from "@zpd/core/Runtime"
import { Evaluator, InferenceRuntime, TrainerRuntime } from "@zpd/core/Runtime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import * as Simulated from "../src/Simulated.ts"

const problem = (family: string, level: number, i: number, answer = "42"): Problem => ({
  id: `${family}-L${level}-${i}`,
  prompt: `Solve ${family} puzzle ${i} at level ${level}.`,
  answer,
  level,
  family,
  metadata: {}
})

const problems = (family: string, levels: ReadonlyArray<number>, perLevel: number): Array<Problem> =>
  levels.flatMap((level) => Array.from({ length: perLevel }, (_, i) => problem(family, level, i)))

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect)

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

const generate = (sim: Simulated.SimulatorV1, ps: ReadonlyArray<Problem>, n: number, seed: number) =>
  run(
    sim.inference.generate({
      requestId: `r${seed}`,
      prompts: ps.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
      n,
      sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 1024, seed }
    })
  )

const solved = (c: Completion) => c.tokenIds[0] === Simulated.SOLVE_TOKEN

/**
 * Turns completions into train samples the way the pipeline does: GRPO
 * advantages (reward − group mean) / group std, and klWeight per `kl`
 * ("sparse": 0 on zero-variance groups, "dense": 1 everywhere, "none": 0).
 */
const toSamples = (
  completions: ReadonlyArray<Completion>,
  n: number,
  kl: "sparse" | "dense" | "none" = "sparse",
  advantage?: (c: Completion, groupMean: number, groupStd: number) => number
): Array<TrainSample> => {
  const out: Array<TrainSample> = []
  for (let g = 0; g * n < completions.length; g++) {
    const group = completions.slice(g * n, g * n + n)
    const r: Array<number> = group.map((c) => (solved(c) ? 1 : 0))
    const mean = r.reduce((a, x) => a + x, 0) / n
    const std = Math.sqrt(r.reduce((a, x) => a + (x - mean) ** 2, 0) / n)
    for (let j = 0; j < group.length; j++) {
      const c = group[j]!
      const P = c.promptTokenIds.length
      const L = c.tokenIds.length
      const A = advantage ? advantage(c, mean, std) : std > 0 ? (r[j]! - mean) / std : 0
      const w = kl === "dense" ? 1 : kl === "sparse" && std > 0 ? 1 : 0
      out.push({
        promptId: c.promptId,
        group: g,
        tokenIds: [...c.promptTokenIds, ...c.tokenIds],
        lossMask: [...Array<boolean>(P).fill(false), ...Array<boolean>(L).fill(true)],
        samplingLogprobs: [...Array<number>(P).fill(0), ...c.logprobs],
        advantages: [...Array<number>(P).fill(0), ...Array<number>(L).fill(A)],
        klWeight: [...Array<number>(P).fill(0), ...Array<number>(L).fill(w)],
        temperature: 1,
        policyVersion: c.policyVersion
      })
    }
  }
  return out
}

const loss = (over: Partial<LossConfig> = {}): LossConfig => ({
  klCoef: 0.04,
  clip: 0.2,
  aggregation: "token-mean",
  ...over
})

/** One GRPO step on a batch drawn from `pool`. */
const grpoStep = (
  sim: Simulated.SimulatorV1,
  pool: ReadonlyArray<Problem>,
  step: number,
  opts: { batch?: number; n?: number; kl?: "sparse" | "dense" | "none"; loss?: Partial<LossConfig> } = {}
) => {
  const rng = new Rng(1000 + step)
  const batch = Array.from({ length: opts.batch ?? 32 }, () => pool[rng.int(pool.length)]!)
  const n = opts.n ?? 8
  const completions = generate(sim, batch, n, step)
  return run(sim.trainer.update({ step, samples: toSamples(completions, n, opts.kl), loss: loss(opts.loss) }))
}

/** Samples of one prompt whose outcomes are all `outcome` (a zero-variance group). */
const uniformGroup = (sim: Simulated.SimulatorV1, p: Problem, n: number, outcome: boolean, seed = 1) => {
  for (let s = seed; s < seed + 10_000; s++) {
    const cs = generate(sim, [p], n, s)
    if (cs.every((c) => solved(c) === outcome)) return cs
  }
  throw new Error("no uniform group found")
}

const distance = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0))

const bitIdentical = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]))

describe("Simulated learner", () => {
  it("defaults give the documented pass-rate ladder over levels 1..4 at θ_0", () => {
    const ps = problems("countdown", [1, 2, 3, 4], 400)
    const sim = Simulated.makeV1(ps)
    const byLevel = [1, 2, 3, 4].map((l) => run(sim.evaluator.accuracy(ps.filter((p) => p.level === l))))
    expect(byLevel[0]).toBeGreaterThan(0.5)
    expect(byLevel[0]).toBeLessThan(0.7)
    expect(byLevel[1]).toBeGreaterThan(0.2)
    expect(byLevel[1]).toBeLessThan(0.35)
    expect(byLevel[2]).toBeGreaterThan(0.05)
    expect(byLevel[2]).toBeLessThan(0.15)
    expect(byLevel[3]).toBeGreaterThan(0.01)
    expect(byLevel[3]).toBeLessThan(0.05)
  })

  it("property 1: p = σ(θ·a − b) depends on difficulty and on the learnable θ", () => {
    const ps = problems("arith", [1, 2, 3], 4)
    const sim = Simulated.makeV1(ps, { jitter: 0 })
    const cfg = sim.config
    // The equation, checked at θ_0 = 0.
    for (const p of ps) {
      const z = cfg.generalWeight * cfg.initialGeneral + (1 + cfg.depthSlope * (p.level - 1)) * cfg.initialFamily -
        (cfg.b0 + cfg.b1 * p.level)
      expect(sim.passRate(p)).toBeCloseTo(sigmoid(z), 14)
    }
    // Harder ⇒ lower.
    const [p1, p2, p3] = [1, 2, 3].map((l) => sim.passRate(ps.find((p) => p.level === l)!))
    expect(p1!).toBeGreaterThan(p2!)
    expect(p2!).toBeGreaterThan(p3!)
    // Positive advantage on correct samples (and negative on failures) raises p.
    const target = ps[0]!
    const before = sim.passRate(target)
    for (let step = 0; step < 5; step++) {
      const cs = generate(sim, [target], 16, step)
      const samples = toSamples(cs, 16, "none", (c) => (solved(c) ? 1 : -1))
      run(sim.trainer.update({ step, samples, loss: loss({ klCoef: 0 }) }))
    }
    expect(sim.passRate(target)).toBeGreaterThan(before + 0.01)
    expect(sim.parameters().theta[sim.skillOf("arith")!]).toBeGreaterThan(cfg.initialFamily)
  })

  it("property 2: a zero-variance group moves nothing; a mixed group moves θ", () => {
    const ps = problems("countdown", [1], 2)
    const sim = Simulated.makeV1(ps)
    const p = ps[0]!
    const group = uniformGroup(sim, p, 8, true)
    const before = sim.parameters()
    const result = run(
      sim.trainer.update({ step: 0, samples: toSamples(group, 8, "sparse"), loss: loss({ klCoef: 0.5 }) })
    )
    const after = sim.parameters()
    expect(bitIdentical(after.theta, before.theta)).toBe(true)
    expect(bitIdentical(after.thetaRef, before.thetaRef)).toBe(true)
    expect(result.metrics.grad_norm).toBe(0)
    expect(result.policyVersion).toBe(1)

    let mixed: ReadonlyArray<Completion> = []
    for (let seed = 1; mixed.length === 0; seed++) {
      const cs = generate(sim, [p], 8, seed)
      if (cs.some(solved) && !cs.every(solved)) mixed = cs
    }
    const r = run(sim.trainer.update({ step: 1, samples: toSamples(mixed, 8, "sparse"), loss: loss() }))
    expect(r.metrics.grad_norm).toBeGreaterThan(0)
    expect(bitIdentical(sim.parameters().theta, before.theta)).toBe(false)
  })

  it("property 2: the step is the policy gradient Δθ = lr/N · Σ A_i (o_i − p_i) a_i (on-policy, no KL)", () => {
    const ps = [...problems("alpha", [1, 2, 3], 3), ...problems("beta", [1, 2], 3)]
    const lr = 0.3
    // The decision-token-only learner (R = 0); property 7 checks the step with reasoning tokens.
    const sim = Simulated.makeV1(ps, { forgetRate: 0, reasoningTokens: 0 })
    const cfg = sim.config
    const cs = generate(sim, ps, 6, 21)
    const samples = toSamples(cs, 6, "none")
    const before = sim.parameters().theta
    const expected = [...before]
    samples.forEach((s, i) => {
      const p = ps.find((q) => q.id === s.promptId)!
      const o = solved(cs[i]!) ? 1 : 0
      const A = s.advantages[s.advantages.length - 1]!
      const g = (lr / samples.length) * A * (o - sim.passRate(p))
      expected[0] = expected[0]! + g * cfg.generalWeight
      const k = sim.skillOf(p.family)!
      expected[k] = expected[k]! + g * (1 + cfg.depthSlope * (p.level - 1))
    })
    run(sim.trainer.update({ step: 0, samples, loss: loss({ klCoef: 0, aggregation: "seq-mean", learningRate: lr }) }))
    const after = sim.parameters().theta
    expect(distance(after, before)).toBeGreaterThan(1e-3)
    after.forEach((x, k) => expect(x).toBeCloseTo(expected[k]!, 12))
  })

  it("property 3: dense KL pulls θ toward θ_ref, sparse KL does not, resetReference copies θ", () => {
    const ps = problems("countdown", [1, 2], 8)
    const sim = Simulated.makeV1(ps, { forgetRate: 0 })
    for (let step = 0; step < 20; step++) grpoStep(sim, ps, step, { kl: "none", loss: { klCoef: 0 } })
    const start = sim.parameters()
    const d0 = distance(start.theta, start.thetaRef)
    expect(d0).toBeGreaterThan(0.05)

    const p = ps[0]!
    const group = uniformGroup(sim, p, 8, true)
    // Sparse KL: zero-variance group has klWeight 0 ⇒ no pull.
    const sparse = run(
      sim.trainer.update({ step: 100, samples: toSamples(group, 8, "sparse"), loss: loss({ klCoef: 1 }) })
    )
    expect(bitIdentical(sim.parameters().theta, start.theta)).toBe(true)
    expect(sparse.groupKl![0]).toBe(0)
    expect(sparse.metrics.kl_mean).toBeGreaterThan(0)
    // Dense KL: the same group now pulls θ back toward θ_ref.
    const dense = run(
      sim.trainer.update({ step: 101, samples: toSamples(group, 8, "dense"), loss: loss({ klCoef: 1 }) })
    )
    const moved = sim.parameters()
    expect(distance(moved.theta, moved.thetaRef)).toBeLessThan(d0)
    expect(dense.groupKl![0]).toBeGreaterThan(0)

    run(sim.trainer.resetReference)
    const reset = sim.parameters()
    expect(bitIdentical(reset.thetaRef, reset.theta)).toBe(true)
    const cs = generate(sim, ps, 4, 7)
    const after = run(sim.trainer.update({ step: 102, samples: toSamples(cs, 4, "dense"), loss: loss({ klCoef: 1 }) }))
    expect(Math.abs(after.metrics.kl_mean!)).toBeLessThan(1e-12)
    for (const g of after.groupKl!) expect(Math.abs(g)).toBeLessThan(1e-12)
  })

  it("property 4: learning transfers across levels of a family and is forgotten when another family is trained", () => {
    const a = problems("alpha", [1, 2, 3], 16)
    const b = problems("beta", [1, 2, 3], 16)
    const sim = Simulated.makeV1([...a, ...b])
    const a3 = a.filter((p) => p.level === 3)
    const b1 = b.filter((p) => p.level === 1)
    // Transfer: training alpha level 1 only raises alpha level 3 (family skill) and beta (general skill).
    const a3Before = run(sim.evaluator.accuracy(a3))
    const b1Before = run(sim.evaluator.accuracy(b1))
    const alpha1 = a.filter((p) => p.level === 1)
    for (let step = 0; step < 30; step++) grpoStep(sim, alpha1, step)
    expect(run(sim.evaluator.accuracy(a3))).toBeGreaterThan(a3Before + 0.1)
    expect(run(sim.evaluator.accuracy(b1))).toBeGreaterThan(b1Before)

    // Forgetting: learn beta, then train alpha only; beta's family skill decays toward θ_0.
    const sb = sim.skillOf("beta")!
    for (let step = 100; step < 160; step++) grpoStep(sim, b, step)
    const learned = sim.parameters().theta[sb]!
    const initial = sim.config.initialFamily
    expect(learned).toBeGreaterThan(initial + 0.3)
    for (let step = 200; step < 300; step++) grpoStep(sim, a, step)
    const forgotten = sim.parameters().theta[sb]!
    expect(forgotten).toBeLessThan(learned - 0.05)
    expect(forgotten).toBeGreaterThan(initial)

    // Control: without interference the same schedule leaves beta's skill where it was.
    const control = Simulated.makeV1([...a, ...b], { forgetRate: 0 })
    for (let step = 100; step < 160; step++) grpoStep(control, b, step)
    const kept = control.parameters().theta[sb]!
    for (let step = 200; step < 300; step++) grpoStep(control, a, step)
    expect(control.parameters().theta[sb]).toBe(kept)
  })

  it("property 5: accuracy is exactly the mean pass rate, deterministic, also on held-out sets", () => {
    const train = problems("countdown", [1, 2, 3], 20)
    const ood = [...problems("countdown", [4], 20), ...problems("unseen", [1], 5)]
    const sim = Simulated.makeV1(train)
    for (let step = 0; step < 5; step++) grpoStep(sim, train, step)
    for (const set of [train, ood]) {
      let sum = 0
      for (const p of set) sum += sim.passRate(p)
      const acc = run(sim.evaluator.accuracy(set))
      expect(acc).toBe(sum / set.length)
      expect(run(sim.evaluator.accuracy(set))).toBe(acc)
    }
    // A fresh simulator trained the same way reports the identical number.
    const twin = Simulated.makeV1(train)
    for (let step = 0; step < 5; step++) grpoStep(twin, train, step)
    expect(run(twin.evaluator.accuracy(ood))).toBe(run(sim.evaluator.accuracy(ood)))
    // An unseen family uses the general skill only.
    const unseen = ood[ood.length - 1]!
    expect(sim.skillOf("unseen")).toBeUndefined()
    expect(sim.passRate(unseen)).toBeGreaterThan(0)
  })

  it("property 6: completions carry tokens and logprobs consistent with the sampled outcome", () => {
    const ps = problems("countdown", [1, 2], 3)
    const sim = Simulated.makeV1(ps)
    const cs = generate(sim, ps, 4, 11)
    expect(cs.length).toBe(ps.length * 4)
    cs.forEach((c, k) => {
      const p = ps[Math.floor(k / 4)]!
      expect(c.promptId).toBe(p.id)
      expect(c.sampleIndex).toBe(k % 4)
      expect(c.promptTokenIds).toEqual(Array.from(p.prompt, (ch) => ch.charCodeAt(0)))
      expect(c.finishReason).toBe("stop")
      expect(c.policyVersion).toBe(0)
      const ok = solved(c)
      const R = sim.config.reasoningTokens
      expect(R).toBeGreaterThan(0)
      expect(c.text).toBe(ok ? `<answer>${p.answer}</answer>` : "<answer></answer>")
      expect(c.tokenIds.length).toBe(1 + R + c.text.length)
      expect(c.logprobs.length).toBe(c.tokenIds.length)
      expect(c.tokenIds.slice(1 + R)).toEqual(Array.from(c.text, (ch) => ch.charCodeAt(0)))
      const pr = sim.passRate(p)
      const expected = Math.log(ok ? pr : 1 - pr)
      expect(c.logprobs[0]).toBeCloseTo(expected, 12)
      // At θ_0 every reasoning token is a fair coin (property 7 checks them away from θ_0).
      for (const tok of c.tokenIds.slice(1, 1 + R)) {
        expect([Simulated.REASON_UP_TOKEN, Simulated.REASON_DOWN_TOKEN]).toContain(tok)
      }
      for (const lp of c.logprobs.slice(1, 1 + R)) expect(lp).toBeCloseTo(Math.log(0.5), 12)
      expect(c.logprobs.slice(1 + R).every((x) => x === 0)).toBe(true)
      expect(c.logprobs.reduce((a, x) => a + x, 0)).toBeCloseTo(expected + R * Math.log(0.5), 12)
    })
    // Same seed ⇒ identical completions; another seed differs somewhere.
    expect(generate(sim, ps, 4, 11)).toEqual(cs)
    expect(generate(sim, ps, 4, 12)).not.toEqual(cs)
    // The empirical solve rate matches p within 3 standard errors.
    const p = ps[3]!
    const n = 20_000
    const many = generate(sim, [p], n, 5)
    const rate = many.filter(solved).length / n
    const pr = sim.passRate(p)
    expect(Math.abs(rate - pr)).toBeLessThan(3 * Math.sqrt((pr * (1 - pr)) / n))
    // A custom renderer controls the text.
    const custom = Simulated.makeV1(ps, { render: (q, ok) => (ok ? `yes ${q.answer}` : "no") })
    const cc = generate(custom, ps, 2, 3)
    for (const c of cc) expect(c.text).toBe(solved(c) ? `yes 42` : "no")
  })

  it("property 7: the step sums the per-token gradients of the decision and reasoning tokens, over all loss tokens", () => {
    const ps = [...problems("alpha", [1, 2, 3], 3), ...problems("beta", [1, 2], 3)]
    const R = 4
    const lr = 0.5
    const beta = 0.3
    for (const aggregation of ["token-mean", "seq-mean"] as const) {
      const sim = Simulated.makeV1(ps, { forgetRate: 0, reasoningTokens: R })
      const cfg = sim.config
      // Move θ away from θ_ref = θ_0 so that the KL terms are nonzero.
      for (let step = 0; step < 10; step++) grpoStep(sim, ps, step, { kl: "none", loss: { klCoef: 0 } })
      const { theta, thetaRef } = sim.parameters()
      const cs = generate(sim, ps, 6, 21)
      const samples = toSamples(cs, 6, "dense")
      const features = (p: Problem) => {
        const a = new Array<number>(theta.length).fill(0)
        a[0] = cfg.generalWeight
        a[sim.skillOf(p.family)!] = 1 + cfg.depthSlope * (p.level - 1)
        return a
      }
      const theta0 = theta.map((_, k) => (k === 0 ? cfg.initialGeneral : cfg.initialFamily))
      const dot = (x: ReadonlyArray<number>, a: ReadonlyArray<number>, shift?: ReadonlyArray<number>) =>
        x.reduce((s, xk, k) => s + (xk - (shift ? shift[k]! : 0)) * a[k]!, 0)
      const totalTokens = cs.reduce((s, c) => s + c.tokenIds.length, 0)
      const expected = [...theta]
      let klSeq = 0
      samples.forEach((smp, n) => {
        const c = cs[n]!
        const p = ps.find((q) => q.id === smp.promptId)!
        const a = features(p)
        const A = smp.advantages[smp.advantages.length - 1]!
        // ∂ℓ_t/∂logit of one token with outcome x ∈ {0,1}, probability π(1) = σ(u) now and σ(uRef) under θ_ref.
        const tokenGrad = (x: number, u: number, uRef: number) => {
          const pi = (y: number, s: number) => (y === 1 ? sigmoid(s) : 1 - sigmoid(s))
          const ratio = pi(x, uRef) / pi(x, u)
          klSeq += ratio - 1 - Math.log(ratio)
          return (-A - beta * (ratio - 1)) * (x - sigmoid(u))
        }
        const T = c.tokenIds.length // every completion token is a loss token
        // The difficulty includes the per-problem jitter: recover the logit from the pass rate.
        const zNow = Math.log(sim.passRate(p) / (1 - sim.passRate(p)))
        const zRef = zNow - dot(theta, a) + dot(thetaRef, a)
        const v = dot(theta, a, theta0)
        const vRef = dot(thetaRef, a, theta0)
        const content = T - R
        let G = content * tokenGrad(solved(c) ? 1 : 0, zNow, zRef)
        for (let j = 1; j <= R; j++) G += tokenGrad(c.tokenIds[j] === Simulated.REASON_UP_TOKEN ? 1 : 0, v, vRef)
        const weight = aggregation === "token-mean" ? 1 / totalTokens : 1 / (samples.length * T)
        a.forEach((ak, k) => (expected[k] = expected[k]! - lr * weight * G * ak))
      })
      const r = run(
        sim.trainer.update({ step: 99, samples, loss: loss({ klCoef: beta, aggregation, learningRate: lr }) })
      )
      const after = sim.parameters().theta
      expect(distance(after, theta)).toBeGreaterThan(1e-3)
      after.forEach((x, k) => expect(x).toBeCloseTo(expected[k]!, 12))
      // kl_mean is the mean over samples of the sequence's k3 (decision + reasoning tokens).
      expect(r.metrics.kl_mean).toBeCloseTo(klSeq / samples.length, 12)
      expect(r.metrics.clipfrac).toBe(0) // on-policy: every ratio is exactly 1
    }
  })

  it("property 7: through its reasoning tokens, dense KL on a zero-variance group pulls θ toward θ_ref (∝ β, growing with R); sparse KL moves nothing", () => {
    const train = problems("countdown", [1, 2], 8)
    const ps = [...train, ...problems("countdown", [4], 1)]
    const base = Simulated.makeV1(ps, { forgetRate: 0 })
    for (let step = 0; step < 20; step++) grpoStep(base, train, step, { kl: "none", loss: { klCoef: 0 } })
    const cp = run(base.trainer.checkpoint("moved"))
    const start = base.parameters()
    const d0 = distance(start.theta, start.thetaRef)
    expect(d0).toBeGreaterThan(0.05)
    // A hard problem whose group all fails: its outcome is nearly certain, so the decision token's
    // k3 gradient (second order in p) is negligible, as for the zero-variance groups of a real run.
    const p = ps[ps.length - 1]!
    expect(base.passRate(p)).toBeLessThan(0.1)
    const pullOf = (R: number, beta: number) => {
      const sim = Simulated.makeV1(ps, { forgetRate: 0, reasoningTokens: R })
      run(sim.trainer.restore(cp))
      const group = uniformGroup(sim, p, 8, false)
      const T = group[0]!.tokenIds.length // loss tokens per sample (all samples have the same text)
      expect(T - group[0]!.text.length).toBe(1 + R)
      const sparse = run(
        sim.trainer.update({ step: 0, samples: toSamples(group, 8, "sparse"), loss: loss({ klCoef: beta }) })
      )
      expect(bitIdentical(sim.parameters().theta, start.theta)).toBe(true)
      expect(sparse.metrics.grad_norm).toBe(0)
      expect(sparse.groupKl![0]).toBe(0)
      run(sim.trainer.update({ step: 1, samples: toSamples(group, 8, "dense"), loss: loss({ klCoef: beta }) }))
      const after = sim.parameters()
      return {
        step: after.theta.map((x, k) => x - start.theta[k]!),
        pull: d0 - distance(after.theta, after.thetaRef),
        content: T - R,
        T
      }
    }
    const none = pullOf(0, 1)
    const byR = [2, 8, 32].map((R) => ({ R, ...pullOf(R, 1) }))
    const many = byR[1]!
    const manyHalf = pullOf(8, 0.5)
    // Without reasoning tokens the pull of a near-certain group is tiny; with R = 8 it is not.
    expect(none.pull).toBeGreaterThan(0)
    expect(many.pull).toBeGreaterThan(10 * none.pull)
    expect(many.pull).toBeGreaterThan(0.005 * d0)
    // Every reasoning token pulls toward θ_ref whichever value it took: more tokens, more pull …
    expect(byR[0]!.pull).toBeGreaterThan(none.pull)
    expect(byR[1]!.pull).toBeGreaterThan(byR[0]!.pull)
    expect(byR[2]!.pull).toBeGreaterThan(byR[1]!.pull)
    // … in proportion to R (each loss token weighs 1/T under token-mean): the pull per reasoning
    // token, net of the decision's (weighted by its content tokens), is about the same for every R.
    const perToken = byR.map((r) => (r.pull - (none.pull * r.content) / r.T) / (r.R / r.T))
    expect(Math.max(...perToken) / Math.min(...perToken)).toBeLessThan(1.6)
    // … and exactly in proportion to β (A = 0: only the KL terms act).
    many.step.forEach((x, k) => expect(manyHalf.step[k]).toBeCloseTo(x / 2, 14))
  })

  it("property 7: reasoning tokens are seeded binary choices with logit (θ − θ_0)·a, exact logprobs, and no effect on text or outcome", () => {
    const ps = problems("countdown", [1, 2, 3], 6)
    const sim = Simulated.makeV1(ps)
    for (let step = 0; step < 20; step++) grpoStep(sim, ps, step)
    const cfg = sim.config
    const R = cfg.reasoningTokens
    const { theta } = sim.parameters()
    const k = sim.skillOf("countdown")!
    const vOf = (p: Problem) =>
      (theta[0]! - cfg.initialGeneral) * cfg.generalWeight +
      (theta[k]! - cfg.initialFamily) * (1 + cfg.depthSlope * (p.level - 1))
    const cs = generate(sim, ps, 4, 31)
    cs.forEach((c, n) => {
      const p = ps[Math.floor(n / 4)]!
      const v = vOf(p)
      expect(Math.abs(v)).toBeGreaterThan(0.1) // away from θ_0 the choices are no longer fair coins
      const pr = sim.passRate(p)
      let total = Math.log(solved(c) ? pr : 1 - pr)
      expect(c.logprobs[0]).toBeCloseTo(total, 12)
      for (let j = 1; j <= R; j++) {
        const up = c.tokenIds[j] === Simulated.REASON_UP_TOKEN
        expect(up || c.tokenIds[j] === Simulated.REASON_DOWN_TOKEN).toBe(true)
        const lp = Math.log(up ? sigmoid(v) : 1 - sigmoid(v))
        expect(c.logprobs[j]).toBeCloseTo(lp, 12)
        total += lp
      }
      // Σ logprobs = log π(whole completion); the text and the outcome are the decision's alone.
      expect(c.logprobs.reduce((a, x) => a + x, 0)).toBeCloseTo(total, 12)
      expect(c.text).toBe(solved(c) ? `<answer>${p.answer}</answer>` : "<answer></answer>")
      expect(c.tokenIds.slice(1 + R)).toEqual(Array.from(c.text, (ch) => ch.charCodeAt(0)))
    })
    // The empirical frequency of REASON_UP matches σ(v), and the solve rate still matches p.
    const p = ps.find((q) => q.level === 3)!
    const n = 4000
    const many = generate(sim, [p], n, 5)
    const q = sigmoid(vOf(p))
    const ups = many.reduce(
      (a, c) => a + c.tokenIds.slice(1, 1 + R).filter((t) => t === Simulated.REASON_UP_TOKEN).length,
      0
    )
    expect(Math.abs(ups / (n * R) - q)).toBeLessThan(3 * Math.sqrt((q * (1 - q)) / (n * R)))
    const pr = sim.passRate(p)
    expect(Math.abs(many.filter(solved).length / n - pr)).toBeLessThan(3 * Math.sqrt((pr * (1 - pr)) / n))
    // Deterministic: the same seed gives the same completions, and a twin trained the same way is bit-identical.
    expect(generate(sim, ps, 4, 31)).toEqual(cs)
    const twin = Simulated.makeV1(ps)
    for (let step = 0; step < 20; step++) grpoStep(twin, ps, step)
    expect(bitIdentical(twin.parameters().theta, theta)).toBe(true)
    expect(generate(twin, ps, 4, 31)).toEqual(cs)
    // maxTokens cuts reasoning tokens too, without changing what was drawn (all R are drawn).
    const short = run(
      sim.inference.generate({
        requestId: "short",
        prompts: ps.map((q) => ({ promptId: q.id, text: q.prompt, problem: q })),
        n: 4,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 4, seed: 31 }
      })
    )
    short.forEach((c, i) => {
      expect(c.tokenIds).toEqual(cs[i]!.tokenIds.slice(0, 4))
      expect(c.logprobs).toEqual(cs[i]!.logprobs.slice(0, 4))
      expect(c.text).toBe("")
      expect(c.finishReason).toBe("length")
    })
  })

  it("checkpoint → mutate → restore gives identical parameters and identical later results", () => {
    const ps = problems("countdown", [1, 2, 3], 10)
    const sim = Simulated.makeV1(ps)
    for (let step = 0; step < 5; step++) grpoStep(sim, ps, step, { kl: "dense" })
    run(sim.trainer.resetReference)
    grpoStep(sim, ps, 5, { kl: "dense" })
    const cp = JSON.parse(JSON.stringify(run(sim.trainer.checkpoint("step-6"))))
    const saved = sim.parameters()
    const version = sim.policyVersion()
    const continueRun = () => {
      const cs = generate(sim, ps, 4, 99)
      const r = run(sim.trainer.update({ step: 6, samples: toSamples(cs, 4, "dense"), loss: loss() }))
      return { cs, r, params: sim.parameters() }
    }
    const first = continueRun()
    for (let step = 10; step < 15; step++) grpoStep(sim, ps, step)
    run(sim.trainer.resetReference)
    expect(bitIdentical(sim.parameters().theta, saved.theta)).toBe(false)
    expect(run(sim.trainer.restore(cp))).toBe(version)
    expect(sim.parameters()).toEqual(saved)
    expect(bitIdentical(sim.parameters().theta, saved.theta)).toBe(true)
    expect(bitIdentical(sim.parameters().thetaRef, saved.thetaRef)).toBe(true)
    const second = continueRun()
    expect(second.cs).toEqual(first.cs)
    expect(second.r).toEqual(first.r)
    expect(second.params).toEqual(first.params)

    const path = Effect.runSyncExit(sim.trainer.restore({ _tag: "Path", path: "/tmp/x" }))
    expect(Exit.isFailure(path)).toBe(true)
    const bad = Effect.runSyncExit(sim.trainer.restore({ _tag: "Inline", state: { ...cp.state, theta: [1] } }))
    expect(Exit.isFailure(bad)).toBe(true)
  })

  it("refuses requests it cannot serve, naming what is missing", () => {
    const ps = problems("countdown", [1], 2)
    const sim = Simulated.makeV1(ps)
    const noSeed = Effect.runSyncExit(
      sim.inference.generate({
        requestId: "r",
        prompts: [{ promptId: ps[0]!.id, text: ps[0]!.prompt, problem: ps[0]! }],
        n: 2,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 64 }
      })
    )
    expect(Exit.isFailure(noSeed) && String(noSeed.cause)).toMatch(/seed/)
    const noProblem = Effect.runSyncExit(
      sim.inference.generate({
        requestId: "r",
        prompts: [{ promptId: "p-17", text: "hi" }],
        n: 2,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 64, seed: 1 }
      })
    )
    expect(Exit.isFailure(noProblem) && String(noProblem.cause)).toMatch(/p-17/)
    const samples = toSamples(generate(sim, ps, 2, 1), 2).map((s) => ({ ...s, promptId: "ghost" }))
    const unknown = Effect.runSyncExit(sim.trainer.update({ step: 0, samples, loss: loss() }))
    expect(Exit.isFailure(unknown) && String(unknown.cause)).toMatch(/ghost/)
  })

  it("layer provides the three ports over one fresh instance per build", () => {
    const ps = problems("countdown", [1, 2], 4)
    const program = Effect.gen(function*() {
      const inference = yield* InferenceRuntime
      const trainer = yield* TrainerRuntime
      const evaluator = yield* Evaluator
      const sim = yield* Simulated.SimulatedLearner
      const cs = yield* inference.generate({
        requestId: "r",
        prompts: ps.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
        n: 4,
        sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 64, seed: 3 }
      })
      const r = yield* trainer.update({ step: 0, samples: toSamples(cs, 4), loss: loss() })
      const v = yield* trainer.publishWeights
      return { acc: yield* evaluator.accuracy(ps), v, r, version: sim.policyVersion(), cap: inference.capabilities }
    })
    const a = Effect.runSync(Effect.provide(program, Simulated.layerV1(ps)))
    const b = Effect.runSync(Effect.provide(program, Simulated.layerV1(ps)))
    expect(a.v).toBe(1)
    expect(a.version).toBe(1)
    expect(a.cap.logprobSemantics).toBe("processed")
    expect(b).toEqual(a)
  })
})
