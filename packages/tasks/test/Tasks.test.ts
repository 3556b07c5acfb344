import { ConfigError } from "@zpd/core/Errors"
import type { Problem } from "@zpd/core/Problem"
import * as Rng from "@zpd/core/Rng"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as Arc1d from "../src/Arc1d.ts"
import * as Countdown from "../src/Countdown.ts"
import { formatAnswer, verify } from "../src/Task.ts"
import * as Tasks from "../src/Tasks.ts"

const ALL = ["countdown", "arithmetic", "arc1d"] as const
const LEVELS = [1, 2, 3, 4] as const

const gen = (families: ReadonlyArray<string>, levels: ReadonlyArray<number>, perLevel: number, seed: number) =>
  Either.getOrThrow(Tasks.generate({ families, levels, perLevel, seed }))

/** A wrong answer for `p`: mutates the reference so it is no longer correct. */
const corrupt = (p: Problem): string => {
  switch (p.family) {
    case "countdown":
      return `${p.answer} + 1`
    case "arithmetic":
      return (BigInt(p.answer) + 1n).toString()
    default: {
      const tokens = p.answer.split(" ")
      tokens[0] = tokens[0] === "0" ? "1" : "0"
      return tokens.join(" ")
    }
  }
}

const countdownProblem = (given: ReadonlyArray<number>, target: number): Problem => ({
  id: "cd",
  prompt: "p",
  answer: "",
  level: 1,
  family: "countdown",
  metadata: { numbers: given.length, target, given: given.join(" ") }
})

describe("task families", () => {
  for (const name of ALL) {
    const family = Tasks.families[name]!
    for (const level of LEVELS) {
      describe(`${name} L${level}`, () => {
        const problems = gen([name], [level], 200, 7).problems

        it("generates 200 well-formed problems", () => {
          expect(problems).toHaveLength(200)
          problems.forEach((p, i) => {
            expect(p.id).toBe(`${name}-L${level}-${String(i).padStart(5, "0")}`)
            expect(p.family).toBe(name)
            expect(p.level).toBe(level)
            expect(p.prompt.length).toBeGreaterThan(0)
            expect(p.prompt).toContain("<answer></answer>")
          })
        })

        it("accepts every reference answer with reward 1", () => {
          for (const p of problems) {
            const v = verify(family, p, `Let me think.\n${formatAnswer(p.answer)}`)
            if (v.reward !== 1) throw new Error(`${p.id}: reference ${JSON.stringify(p.answer)} rejected`)
            expect(v).toEqual({ reward: 1, correct: true, formatted: true })
          }
        })

        it("rejects corrupted answers and foreign answers", () => {
          for (const [i, p] of problems.entries()) {
            expect(verify(family, p, formatAnswer(corrupt(p))).correct).toBe(false)
            expect(verify(family, p, formatAnswer("0")).correct).toBe(false)
            const other = problems[(i + 1) % problems.length]!
            if (name !== "countdown" && other.answer !== p.answer) {
              expect(verify(family, p, formatAnswer(other.answer)).correct).toBe(false)
            }
            if (name === "countdown" && other.metadata["target"] !== p.metadata["target"]) {
              expect(verify(family, p, formatAnswer(other.answer)).correct).toBe(false)
            }
          }
        })

        it("gives reward 0, unformatted, when the answer tag is missing", () => {
          for (const p of problems.slice(0, 20)) {
            expect(verify(family, p, p.answer)).toEqual({ reward: 0, correct: false, formatted: false })
            expect(verify(family, p, `<answer>${p.answer}`, { formatReward: 0.1 }).formatted).toBe(false)
          }
        })

        it("gives the format reward to a tagged wrong answer", () => {
          const p = problems[0]!
          expect(verify(family, p, formatAnswer(corrupt(p)), { formatReward: 0.1 })).toEqual({
            reward: 0.1,
            correct: false,
            formatted: true
          })
        })
      })
    }
  }

  it("is deterministic in the seed", () => {
    const a = gen(ALL, LEVELS, 20, 3)
    const b = gen(ALL, LEVELS, 20, 3)
    const c = gen(ALL, LEVELS, 20, 4)
    expect(a).toEqual(b)
    expect(c.problems.map((p) => p.id)).toEqual(a.problems.map((p) => p.id))
    for (const name of ALL) {
      for (const level of LEVELS) {
        const pa = a.problems.filter((p) => p.family === name && p.level === level).map((p) => p.prompt)
        const pc = c.problems.filter((p) => p.family === name && p.level === level).map((p) => p.prompt)
        expect(pa).not.toEqual(pc)
      }
    }
  })

  it("orders problems family-major, then level, then index, with independent streams", () => {
    const d = gen(["arc1d", "countdown"], [2, 1], 3, 5)
    expect(d.problems.map((p) => p.id)).toEqual([
      "arc1d-L2-00000",
      "arc1d-L2-00001",
      "arc1d-L2-00002",
      "arc1d-L1-00000",
      "arc1d-L1-00001",
      "arc1d-L1-00002",
      "countdown-L2-00000",
      "countdown-L2-00001",
      "countdown-L2-00002",
      "countdown-L1-00000",
      "countdown-L1-00001",
      "countdown-L1-00002"
    ])
    // A problem does not depend on perLevel or on the other families requested.
    const alone = gen(["countdown"], [1], 10, 5)
    expect(alone.problems.slice(0, 3)).toEqual(d.problems.slice(9, 12))
    expect(d.problems[0]).toEqual(Tasks.families["arc1d"]!.generate(2, Rng.make(5, 0, "arc1d-L2"), 0))
  })

  it("gets structurally harder with the level", () => {
    for (const level of LEVELS) {
      const d = gen(ALL, [level], 50, 11).problems
      for (const p of d) {
        switch (p.family) {
          case "countdown":
            expect(p.metadata["numbers"]).toBe(level + 2)
            expect(String(p.metadata["given"]).split(" ")).toHaveLength(level + 2)
            // the reference solution uses every given number
            expect(Countdown.evaluate(p.answer)!.literals).toHaveLength(level + 2)
            expect(Number.isInteger(p.metadata["target"]) && (p.metadata["target"] as number) >= 1).toBe(true)
            break
          case "arithmetic": {
            expect(p.metadata["digits"]).toBe(level + 1)
            const operands = p.prompt.match(/Compute (\d+) . (\d+)\./)!
            expect(Math.max(operands[1]!.length, operands[2]!.length)).toBe(level + 1)
            if (level === 1) expect(p.metadata["op"]).not.toBe("*")
            break
          }
          case "arc1d":
            expect(p.metadata["length"]).toBe(10 * level)
            expect(p.answer.split(" ")).toHaveLength(10 * level)
            expect(p.prompt).toContain(`Test input: `)
            break
        }
      }
    }
  })

  it("arc1d draws every rule and keeps outputs different from inputs", () => {
    const d = gen(["arc1d"], LEVELS, 100, 2).problems
    expect(new Set(d.map((p) => p.metadata["rule"]))).toEqual(new Set(Arc1d.rules))
    for (const p of d) {
      const test = p.prompt.match(/Test input: ([0-9 ]+)/)![1]!.trim()
      expect(test).not.toBe(p.answer)
      expect(test.split(" ")).toHaveLength(p.metadata["length"] as number)
    }
  })

  it("arc1d and arithmetic normalise whitespace only", () => {
    const a = gen(["arc1d"], [1], 1, 0).problems[0]!
    const f = Tasks.families["arc1d"]!
    expect(f.check(a, `  ${a.answer.split(" ").join("   ")}\n`)).toBe(true)
    expect(f.check(a, a.answer.split(" ").join(","))).toBe(false)
    expect(f.check(a, a.answer.split(" ").join(""))).toBe(false)
    const m = gen(["arithmetic"], [4], 1, 0).problems[0]!
    const g = Tasks.families["arithmetic"]!
    expect(g.check(m, `  ${m.answer} `)).toBe(true)
    expect(g.check(m, `${m.answer}.0`)).toBe(false)
    expect(g.check(m, `${m.answer} apples`)).toBe(false)
    const big: Problem = { ...m, answer: "1234567" }
    expect(g.check(big, "1,234,567")).toBe(false)
    expect(g.check(big, "1234567")).toBe(true)
    expect(g.check({ ...m, answer: "-42" }, "-42")).toBe(true)
    expect(g.check({ ...m, answer: "-42" }, "42")).toBe(false)
  })
})

describe("countdown checker", () => {
  const f = Countdown.family

  it("accepts valid expressions, including partial use of the numbers", () => {
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 + 2")).toBe(true)
    expect(f.check(countdownProblem([3, 7, 2], 23), "(7*3)+2")).toBe(true)
    expect(f.check(countdownProblem([3, 7, 2], 23), "2 + 7 × 3")).toBe(true)
    expect(f.check(countdownProblem([3, 7, 2], 6), "3 * 2")).toBe(true)
    expect(f.check(countdownProblem([3, 3, 2], 6), "3 + 3")).toBe(true)
    expect(f.check(countdownProblem([8, 4, 5], 10), "8 / 4 * 5")).toBe(true)
  })

  it("rejects a number used more often than given", () => {
    expect(f.check(countdownProblem([3, 7, 2], 6), "3 + 3")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 9), "3 * 3")).toBe(false)
  })

  it("rejects numbers that are not given", () => {
    expect(f.check(countdownProblem([3, 7, 2], 10), "8 + 2")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 10), "3 + 7 + 0")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 37), "37")).toBe(false)
  })

  it("rejects inexact division and division by zero", () => {
    expect(f.check(countdownProblem([7, 2, 4], 14), "7 / 2 * 4")).toBe(false)
    expect(f.check(countdownProblem([7, 2, 4], 14), "7 * 2")).toBe(true)
    expect(f.check(countdownProblem([7, 2, 2], 7), "7 / (2 - 2)")).toBe(false)
  })

  it("rejects wrong values, trailing garbage and malformed expressions", () => {
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 + 2 + 0")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 - 2")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 + 2 foo")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 + 2)")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "(3 * 7 + 2")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 * 7 + 2 = 23")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 7 + 2")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3 ** 7")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 1), "-2 + 3")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "03 * 7 + 2")).toBe(false)
    expect(f.check(countdownProblem([3, 7, 2], 23), "3.0 * 7 + 2")).toBe(false)
  })

  it("never evaluates code", () => {
    const p = countdownProblem([3, 7, 2], 23)
    const attacks = ["process.exit()", "23", "(() => 23)()", "eval('3*7+2')", "3*7+2;process.exit()", "constructor"]
    for (const attack of attacks) {
      expect(f.check(p, attack)).toBe(false)
    }
    expect(Countdown.evaluate("(".repeat(10_000) + "1" + ")".repeat(10_000))).toBeUndefined()
    expect(Countdown.evaluate("(".repeat(30) + "1" + ")".repeat(30))).toEqual({ value: 1, literals: [1] })
  })

  it("fails closed on a problem without countdown metadata", () => {
    expect(f.check({ ...countdownProblem([3], 3), metadata: {} }, "3")).toBe(false)
  })
})

describe("registry", () => {
  it("fails with a ConfigError naming the allowed families", () => {
    const r = Tasks.generate({ families: ["countdown", "sudoku"], levels: [1], perLevel: 1, seed: 0 })
    expect(Either.isLeft(r)).toBe(true)
    const e = Either.getLeft(r).pipe((o) => (o._tag === "Some" ? o.value : undefined))!
    expect(e).toBeInstanceOf(ConfigError)
    expect(e.field).toBe("tasks.families")
    expect(e.message).toContain("countdown")
    expect(e.message).toContain("arithmetic")
    expect(e.message).toContain("arc1d")
    expect(e.message).toContain("sudoku")
    const proto = Tasks.generate({ families: ["constructor"], levels: [1], perLevel: 1, seed: 0 })
    expect(Either.isLeft(proto)).toBe(true)
  })

  it("rejects unsupported levels and bad counts", () => {
    const level = Tasks.generate({ families: ["arc1d"], levels: [5], perLevel: 1, seed: 0 })
    expect(Either.isLeft(level) && level.left.field).toBe("tasks.levels")
    const count = Tasks.generate({ families: ["arc1d"], levels: [1], perLevel: 1.5, seed: 0 })
    expect(Either.isLeft(count) && count.left.field).toBe("tasks.perLevel")
  })

  it("familyOf dispatches on problem.family", () => {
    expect(Tasks.familyOf({ family: "countdown" })).toBe(Countdown.family)
    expect(Tasks.familyOf({ family: "default" })).toBeUndefined()
    expect(Tasks.familyOf({ family: "toString" })).toBeUndefined()
  })

  it("splitByLevel separates train and OOD levels", () => {
    const d = gen(ALL, LEVELS, 5, 1)
    const { ood, train } = Tasks.splitByLevel(d, [1, 2, 3], [4])
    expect(train.problems).toHaveLength(3 * 3 * 5)
    expect(ood.problems).toHaveLength(3 * 5)
    expect(train.problems.every((p) => p.level <= 3)).toBe(true)
    expect(ood.problems.every((p) => p.level === 4)).toBe(true)
    expect(train.problems).toEqual(d.problems.filter((p) => p.level <= 3))
    expect(train.name).not.toBe(ood.name)
    const partial = Tasks.splitByLevel(d, [1], [3])
    expect(partial.train.problems).toHaveLength(15)
    expect(partial.ood.problems).toHaveLength(15)
  })

  it("verifier dispatches per family and falls back to exact match", () => {
    const d = gen(ALL, [2], 5, 9)
    const v = Tasks.verifier({ formatReward: 0.1 })
    for (const p of d.problems) {
      expect(v(p, formatAnswer(p.answer)).reward).toBe(1)
      expect(v(p, formatAnswer(corrupt(p))).reward).toBe(0.1)
      expect(v(p, "no tag").reward).toBe(0)
    }
    // countdown accepts an equivalent expression that is not the reference string
    const cd = countdownProblem([3, 7, 2], 23)
    expect(Tasks.verifier()(cd, formatAnswer("2 + 3 * 7")).reward).toBe(1)
    const jsonl: Problem = { id: "x", prompt: "2+2?", answer: "4", level: 1, family: "default", metadata: {} }
    expect(Tasks.verifier()(jsonl, formatAnswer(" 4 "))).toEqual({ reward: 1, correct: true, formatted: true })
    expect(Tasks.verifier()(jsonl, formatAnswer("04")).reward).toBe(0)
  })
})
