/**
 * Simulator v2: one test per mechanism (SIMULATOR.md §7). Each compares the
 * mechanism on and off (or two schedules) on small deterministic runs, so a
 * learner without the mechanism fails it.
 */
import type { Problem } from "@zpd/core/Problem"
import { Rng } from "@zpd/core/Rng"
import type { Completion, LossConfig, TrainSample } from "@zpd/core/Runtime"
import * as Tasks from "@zpd/tasks/Tasks"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import * as Regimes from "../src/Regimes.ts"
import * as Simulated from "../src/Simulated.ts"

const problem = (family: string, level: number, i: number, answer = "42"): Problem => ({
  id: `${family}-L${level}-${i}`,
  prompt: `Solve ${family} puzzle ${i} at level ${level}.`,
  answer,
  level,
  family,
  metadata: {}
})
const problems = (family: string, levels: ReadonlyArray<number>, perLevel: number, answer = "42"): Array<Problem> =>
  levels.flatMap((level) => Array.from({ length: perLevel }, (_, i) => problem(family, level, i, answer)))

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect)
const verify = Tasks.verifier()

const generate = (sim: Simulated.Simulator, ps: ReadonlyArray<Problem>, n: number, seed: number) =>
  run(
    sim.inference.generate({
      requestId: `r${seed}`,
      prompts: ps.map((p) => ({ promptId: p.id, text: p.prompt, problem: p })),
      n,
      sampling: { temperature: 1, topP: 1, topK: 0, maxTokens: 1024, seed }
    })
  )

/** GRPO samples scored by the real verifier (with `formatReward`), klWeight per `kl`. */
const toSamples = (
  ps: ReadonlyArray<Problem>,
  completions: ReadonlyArray<Completion>,
  n: number,
  kl: "sparse" | "dense",
  formatReward = 0
): Array<TrainSample> => {
  const out: Array<TrainSample> = []
  const verifier = Tasks.verifier({ formatReward })
  for (let g = 0; g < ps.length; g++) {
    const group = completions.slice(g * n, g * n + n)
    const r = group.map((c) => verifier(ps[g]!, c.text).reward)
    const mean = r.reduce((a, x) => a + x, 0) / n
    const std = Math.sqrt(r.reduce((a, x) => a + (x - mean) ** 2, 0) / n)
    group.forEach((c, j) => {
      const A = std > 0 ? (r[j]! - mean) / std : 0
      const w = kl === "dense" || std > 0 ? 1 : 0
      const L = c.tokenIds.length
      out.push({
        promptId: c.promptId,
        group: g,
        tokenIds: [...c.tokenIds],
        lossMask: Array<boolean>(L).fill(true),
        samplingLogprobs: [...c.logprobs],
        advantages: Array<number>(L).fill(A),
        klWeight: Array<number>(L).fill(w),
        temperature: 1,
        policyVersion: c.policyVersion
      })
    })
  }
  return out
}

const loss = (over: Partial<LossConfig> = {}): LossConfig => ({
  klCoef: 0,
  clip: 0.2,
  aggregation: "token-mean",
  ...over
})

interface StepOptions {
  readonly batch?: number
  readonly kl?: "sparse" | "dense"
  readonly loss?: Partial<LossConfig>
  readonly formatReward?: number
}

/** One GRPO step on a batch drawn uniformly from `pool`. */
const step = (sim: Simulated.Simulator, pool: ReadonlyArray<Problem>, k: number, o: StepOptions = {}) => {
  const rng = new Rng(7000 + k)
  const batch = Array.from({ length: o.batch ?? 32 }, () => pool[rng.int(pool.length)]!)
  const cs = generate(sim, batch, 8, k)
  return run(
    sim.trainer.update({
      step: k,
      samples: toSamples(batch, cs, 8, o.kl ?? "sparse", o.formatReward),
      loss: loss(o.loss)
    })
  )
}

const train = (
  sim: Simulated.Simulator,
  pool: ReadonlyArray<Problem>,
  steps: number,
  o: StepOptions = {},
  from = 0
) => {
  const results = []
  for (let k = from; k < from + steps; k++) results.push(step(sim, pool, k, o))
  return results
}

const accuracy = (sim: Simulated.Simulator, ps: ReadonlyArray<Problem>) => run(sim.evaluator.accuracy(ps))

describe("Simulated learner v2", () => {
  const fam = problems("alpha", [1, 2, 3, 4], 60)
  const other = problems("beta", [1, 2, 3], 60)
  const level = (l: number, ps: ReadonlyArray<Problem> = fam) => ps.filter((p) => p.level === l)

  it("pass rate = σ(φ)·Π_{j≤ℓ} σ(s·u_j), checked against an independent computation from the parameters", () => {
    // No item offsets and no memorisation, so the pass rate is a function of the shared parameters only.
    const sim = Simulated.make([...fam, ...other], { seed: 3, itemSpread: 0, memoRate: 0, sharpnessRate: 1 })
    train(sim, [...fam, ...other], 5)
    const { theta } = sim.parameters()
    const cfg = sim.config
    const s = Math.exp(theta[0]!)
    expect(s).not.toBe(1)
    for (const p of [level(1)[0]!, level(3)[5]!, level(4)[2]!, level(2, other)[1]!]) {
      let prod = 1
      for (let j = 1; j <= p.level; j++) {
        const u = cfg.generalWeight * theta[2]! + cfg.levelWeight * theta[2 + j]! +
          theta[sim.skillIndex(p.family, j)!]! -
          (cfg.difficultyBase + cfg.difficultyStep * (j - 1))
        prod *= 1 / (1 + Math.exp(-s * u))
      }
      expect(sim.passRate(p)).toBeCloseTo((1 / (1 + Math.exp(-theta[1]!))) * prod, 12)
    }
  })

  it("prerequisites: the hardest level (p ≈ 0.02) gains more from training the levels below it than from training itself", () => {
    const cfg = { seed: 1, forgetRate: 0 }
    const below = Simulated.make(fam, cfg)
    const self = Simulated.make(fam, cfg)
    const before = accuracy(below, level(4))
    expect(before).toBeLessThan(0.04)
    train(below, [...level(1), ...level(2), ...level(3)], 40)
    train(self, level(4), 40)
    const gainBelow = accuracy(below, level(4)) - before
    const gainSelf = accuracy(self, level(4)) - before
    // Training level 4 directly barely moves it (most of its groups fail entirely); its prerequisites do.
    expect(gainBelow).toBeGreaterThan(gainSelf)
    expect(gainBelow).toBeGreaterThan(0.01)
    // A level-ℓ item needs the steps below it: accuracy falls with the level.
    for (const l of [1, 2, 3]) expect(accuracy(below, level(l + 1))).toBeLessThan(accuracy(below, level(l)))
  })

  it("partial transfer: training one family helps another family at the same levels, but less than itself", () => {
    const sim = Simulated.make([...fam, ...other], { seed: 2, forgetRate: 0 })
    const famL2 = level(2)
    const otherL2 = level(2, other)
    const before = [accuracy(sim, famL2), accuracy(sim, otherL2)]
    train(sim, level(1).concat(famL2), 40)
    const gainOwn = accuracy(sim, famL2) - before[0]!
    const gainOther = accuracy(sim, otherL2) - before[1]!
    expect(gainOther).toBeGreaterThan(0.01)
    expect(gainOther).toBeLessThan(0.75 * gainOwn)
  })

  it("memorisation: repeating a few items overfits them (train ≫ same-level held-out), and memoRate 0 removes the gap", () => {
    const seen = level(2).slice(0, 8)
    const unseen = level(2).slice(8)
    const gap = (memoRate: number) => {
      const sim = Simulated.make(fam, { seed: 4, memoRate })
      train(sim, seen, 40, { batch: 8 })
      return {
        gap: accuracy(sim, seen) - accuracy(sim, unseen),
        mu: sim.memorisation(seen[0]!),
        muUnseen: sim.memorisation(unseen[0]!)
      }
    }
    const withMemo = gap(Simulated.defaults.memoRate)
    const without = gap(0)
    expect(withMemo.gap).toBeGreaterThan(0.1)
    expect(Math.abs(without.gap)).toBeLessThan(0.05)
    expect(withMemo.mu).toBeGreaterThan(0)
    expect(withMemo.muUnseen).toBe(0)
  })

  it("forgetting: training only level 3 after level 1 erodes level 1, reported per step as `forgetting`; forgetRate 0 does not", () => {
    const after = (forgetRate: number) => {
      const sim = Simulated.make(fam, { seed: 5, forgetRate })
      train(sim, level(1), 40)
      const peak = accuracy(sim, level(1))
      const rs = train(sim, level(3), 60, {}, 40)
      return { drop: peak - accuracy(sim, level(1)), forgetting: rs.map((r) => r.metrics["forgetting"]!) }
    }
    const on = after(Simulated.defaults.forgetRate)
    const off = after(0)
    expect(on.drop).toBeGreaterThan(0.01)
    expect(off.drop).toBeLessThan(on.drop - 0.01)
    expect(on.forgetting.filter((f) => f > 0).length).toBeGreaterThan(50)
    expect(off.forgetting.every((f) => f === 0)).toBe(true)
  })

  it("learning speed does not depend on the answer's length: same seeds, 1- vs 60-character answers, bit-identical θ", () => {
    const short = problems("alpha", [1, 2], 30, "7")
    const long = problems("alpha", [1, 2], 30, "x".repeat(60))
    for (const aggregation of ["token-mean", "seq-mean"] as const) {
      const a = Simulated.make(short, { seed: 6 })
      const b = Simulated.make(long, { seed: 6 })
      train(a, short, 10, { loss: { klCoef: 0.04, aggregation } })
      train(b, long, 10, { loss: { klCoef: 0.04, aggregation } })
      expect(a.parameters().theta).not.toEqual(a.parameters().theta0)
      expect(b.parameters().theta).toEqual(a.parameters().theta)
      expect(accuracy(b, long)).toBe(accuracy(a, short))
    }
  })

  it("format: early completions are often malformed and scored wrong; training lowers the rate, faster with a format reward", () => {
    const ps = level(1).concat(level(2))
    const sim = Simulated.make(ps, { seed: 7 })
    const cs = generate(sim, ps, 8, 1)
    const malformed = cs.filter((c) => c.tokenIds[0] === Simulated.FORMAT_BAD_TOKEN)
    expect(malformed.length / cs.length).toBeGreaterThan(0.15)
    const solvedButMalformed = malformed.filter((c) => c.tokenIds[1] === Simulated.SOLVE_TOKEN)
    expect(solvedButMalformed.length).toBeGreaterThan(0)
    for (const c of solvedButMalformed) {
      const p = ps.find((q) => q.id === c.promptId)!
      expect(verify(p, c.text)).toEqual({ reward: 0, correct: false, formatted: false })
    }
    const rate = (formatReward: number) => {
      const s = Simulated.make(ps, { seed: 7 })
      const before = s.formatRate()
      train(s, ps, 20, { formatReward })
      return s.formatRate() - before
    }
    const plain = rate(0)
    const shaped = rate(0.5)
    expect(plain).toBeGreaterThan(0)
    expect(shaped).toBeGreaterThan(plain)
  })

  it("entropy collapse: training raises the sharpness, which drives unsolved items toward 0; KL holds it back (dense more than sparse); resetReference re-anchors it", () => {
    const pool = level(1).concat(level(2))
    const hard = level(4)
    const sharpAfter = (o: StepOptions) => {
      const sim = Simulated.make(fam, { seed: 8, sharpnessRate: 1 })
      train(sim, pool, 60, o)
      return { s: sim.sharpness(), hard: accuracy(sim, hard), sim }
    }
    const free = sharpAfter({})
    const sparse = sharpAfter({ loss: { klCoef: 0.2 }, kl: "sparse" })
    const dense = sharpAfter({ loss: { klCoef: 0.2 }, kl: "dense" })
    expect(free.s).toBeGreaterThan(1.3)
    expect(sparse.s).toBeLessThan(free.s)
    expect(dense.s).toBeLessThan(sparse.s)
    // The hard (held-out) level's items have u < 0: a sharper policy solves them less.
    const { theta } = free.sim.parameters()
    const flat = Simulated.make(fam, { seed: 8 })
    run(flat.trainer.restore({ _tag: "Inline", state: { ...checkpointOf(free.sim), theta: [0, ...theta.slice(1)] } }))
    expect(accuracy(flat, hard)).toBeGreaterThan(free.hard)
    // After resetReference the reference is the current policy: the next dense-KL step has kl_mean 0.
    run(dense.sim.trainer.resetReference)
    expect(dense.sim.parameters().thetaRef).toEqual(dense.sim.parameters().theta)
  })

  it("a zero-variance group under sparse KL moves nothing (θ, μ bit-identical, no forgetting)", () => {
    const sim = Simulated.make(fam, { seed: 9 })
    train(sim, level(1), 3)
    const before = checkpointOf(sim)
    const p = level(4)[0]!
    const cs = generate(sim, [p], 8, 99)
    const samples = toSamples([p], cs, 8, "sparse").map((s) => ({
      ...s,
      advantages: s.advantages.map(() => 0),
      klWeight: s.klWeight.map(() => 0)
    }))
    const r = run(sim.trainer.update({ step: 9, samples, loss: loss({ klCoef: 0.1 }) }))
    const after = checkpointOf(sim)
    expect(after.theta).toEqual(before.theta)
    expect(after.memo).toEqual(before.memo)
    expect(r.metrics["forgetting"]).toBe(0)
  })

  it("the update is the gradient of the reported loss (finite differences, every parameter kind)", () => {
    const ps = level(1).slice(0, 6).concat(level(3).slice(0, 6))
    const cfg = { seed: 10, forgetRate: 0, memoRate: 1, sharpnessRate: 1, formatRate: 1 }
    const sim = Simulated.make(ps, cfg)
    train(sim, ps, 4, { batch: 12 })
    const cs = generate(sim, ps, 8, 77)
    const samples = toSamples(ps, cs, 8, "dense", 0.1)
    const lc = loss({ klCoef: 0.3, learningRate: 0 })
    const base = checkpointOf(sim)
    const lossAt = (theta: ReadonlyArray<number>) => {
      const probe = Simulated.make(ps, cfg)
      run(probe.trainer.restore({ _tag: "Inline", state: { ...base, theta } }))
      return run(probe.trainer.update({ step: 0, samples, loss: lc })).metrics["loss"]!
    }
    const eta = 1e-6
    const stepped = Simulated.make(ps, cfg)
    run(stepped.trainer.restore({ _tag: "Inline", state: base }))
    run(stepped.trainer.update({ step: 0, samples, loss: { ...lc, learningRate: eta } }))
    const moved = stepped.parameters().theta
    const h = 1e-6
    let checked = 0
    for (let k = 0; k < base.theta.length; k++) {
      const plus = [...base.theta]
      const minus = [...base.theta]
      plus[k] = plus[k]! + h
      minus[k] = minus[k]! - h
      const numeric = (lossAt(plus) - lossAt(minus)) / (2 * h)
      const analytic = -(moved[k]! - base.theta[k]!) / eta
      expect(analytic).toBeCloseTo(numeric, 4)
      if (Math.abs(numeric) > 1e-4) checked++
    }
    expect(checked).toBeGreaterThan(5)
  })

  it("run-to-run variance: the seed draws initial skills, item offsets and (in a regime) the data; the same seed repeats exactly", () => {
    const a = Simulated.make(fam, { seed: 1 })
    const b = Simulated.make(fam, { seed: 2 })
    const a2 = Simulated.make(fam, { seed: 1 })
    expect(a.parameters().theta).not.toEqual(b.parameters().theta)
    expect(a2.parameters().theta).toEqual(a.parameters().theta)
    expect(a.passRate(fam[0]!)).not.toBe(b.passRate(fam[0]!))
    const s1 = Regimes.suite("default", 1)
    const s2 = Regimes.suite("default", 2)
    expect(s1.train.problems.map((p) => p.prompt)).not.toEqual(s2.train.problems.map((p) => p.prompt))
    expect(Regimes.suite("default", 1).train.problems).toEqual(s1.train.problems)
    expect(Regimes.suite("v1", 1).train.problems).toEqual(Regimes.suite("v1", 2).train.problems)
  })

  it("OOD differs from ID: a held-out level and a held-out family, each its own set, acc_ood their mean, plus per-level ID sets", () => {
    const suite = Regimes.suite("default", 3)
    const sets = suite.evalSets
    expect(Object.keys(sets).sort()).toEqual(["id", "id_l1", "id_l2", "id_l3", "ood", "ood_family", "ood_level"])
    expect(sets["ood_level"]!.every((p) => p.level === 4 && p.family !== "arc1d")).toBe(true)
    expect(sets["ood_family"]!.every((p) => p.family === "arc1d" && p.level <= 3)).toBe(true)
    expect(suite.train.problems.some((p) => p.family === "arc1d" || p.level === 4)).toBe(false)
    expect(sets["ood_level"]!.length).toBe(sets["ood_family"]!.length)
    const sim = Regimes.learner("default", suite.all, 3) as Simulated.Simulator
    train(sim, suite.train.problems, 30, { batch: 64 })
    const acc = (k: string) => accuracy(sim, sets[k]!)
    expect(acc("ood")).toBeCloseTo((acc("ood_level") + acc("ood_family")) / 2, 12)
    // The two OOD sets measure different things: the held-out level needs an untrained step.
    expect(acc("ood_family")).toBeGreaterThan(acc("ood_level") + 0.1)
    expect(acc("id_l1")).toBeGreaterThan(acc("id_l2"))
    expect(acc("id_l2")).toBeGreaterThan(acc("id_l3"))
  })

  it("checkpoint → train → restore gives identical parameters, memorisation and later completions", () => {
    const sim = Simulated.make(fam, { seed: 11 })
    train(sim, level(1), 5, { batch: 8 })
    const cp = run(sim.trainer.checkpoint("x"))
    const later = () => {
      const r = train(sim, level(1), 3, { batch: 8 }, 100)
      return { r: r.map((x) => x.metrics), theta: sim.parameters().theta, mu: sim.memorisation(level(1)[0]!) }
    }
    const first = later()
    run(sim.trainer.restore(cp))
    expect(later()).toEqual(first)
    const bad = run(
      Effect.either(sim.trainer.restore({ _tag: "Inline", state: { ...(cp as { state: object }).state, model: "v1" } }))
    )
    expect(bad._tag).toBe("Left")
  })

  it("regime hard: random training wastes at least 40% of its groups over 300 steps, because level 3 stays beyond reach", () => {
    // Uniform sampling from each regime's training set, 32 prompts × 8 per step (the bench uses 64 × 8).
    const waste = (name: Regimes.Name, seed: number) => {
      const suite = Regimes.suite(name, seed)
      const sim = Regimes.learner(name, suite.all, seed) as Simulated.Simulator
      const pool = suite.train.problems
      let zero = 0
      let groups = 0
      for (let k = 0; k < 300; k++) {
        const rng = new Rng(9000 + 31 * seed + k)
        const batch = Array.from({ length: 32 }, () => pool[rng.int(pool.length)]!)
        const cs = generate(sim, batch, 8, k)
        for (let g = 0; g < batch.length; g++) {
          const r = cs.slice(g * 8, g * 8 + 8).map((c) => verify(batch[g]!, c.text).reward)
          if (r.every((x) => x === r[0])) zero++
          groups++
        }
        run(sim.trainer.update({ step: k, samples: toSamples(batch, cs, 8, "sparse"), loss: loss() }))
      }
      return { wasted: zero / groups, l3: accuracy(sim, suite.evalSets["id_l3"]!) }
    }
    for (const seed of [1, 2]) {
      const hard = waste("hard", seed)
      expect(hard.wasted).toBeGreaterThan(0.4)
      expect(hard.l3).toBeLessThan(0.05)
      // the mechanism: default's nearer steps bring level 3 within reach and waste far fewer groups
      const easier = waste("default", seed)
      expect(easier.wasted).toBeLessThan(hard.wasted - 0.15)
    }
  })

  it("regime large has ten times more training problems than 100 steps of 64 prompts touch", () => {
    expect(Regimes.regimes.large.data.perLevel * 2 * 3).toBeGreaterThanOrEqual(10 * 100 * 64)
  })
})

// ---------------------------------------------------------------------------

const checkpointOf = (sim: Simulated.Simulator) =>
  (run(sim.trainer.checkpoint("t")) as { readonly state: { readonly theta: Array<number>; readonly memo: unknown } })
    .state
