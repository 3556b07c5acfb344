import { describe, expect, it } from "vitest"
import * as SuffixSumTask from "../src/SuffixSumTask.ts"

const s = SuffixSumTask.suite({ trainPerLevel: 500, warmStartExamples: 3000 })
const digitsAfterBar = (prompt: string) => Array.from(prompt.slice(prompt.indexOf("|") + 1, -1), Number)

describe("SuffixSumTask", () => {
  it("answers are the sum of the digits after the bar mod 4, one character, level = number of digits", () => {
    for (const p of [...s.train.problems, ...[...s.test.values()].flat(), ...[...s.ood.values()].flat()]) {
      const digits = digitsAfterBar(p.prompt)
      expect(p.prompt).toMatch(/^[0-3]{2,6}\|[0-3]+=$/)
      expect(digits).toHaveLength(p.level)
      expect(p.answer).toBe(String(digits.reduce((a, b) => a + b, 0) % 4))
    }
    expect(s.warmStart.every((e) => e.answer === String(digitsAfterBar(e.prompt).reduce((a, b) => a + b, 0) % 4))).toBe(
      true
    )
  })

  it("every level has the same guessing rate: each answer digit about 1/4 of the items", () => {
    for (const level of SuffixSumTask.trainLevels) {
      const items = s.train.problems.filter((p) => p.level === level)
      for (const d of SuffixSumTask.alphabet) {
        const share = items.filter((p) => p.answer === d).length / items.length
        expect(Math.abs(share - SuffixSumTask.chance)).toBeLessThan(0.06) // 500 items: sd of a share ≈ 0.019
      }
    }
  })

  it("eval sets: 200 items per level, ID test prompts disjoint from training and warm-start prompts", () => {
    const sets = SuffixSumTask.evalSets(s)
    expect(Object.keys(sets)).toEqual(["id_L1", "id_L2", "id_L3", "ood_L4", "ood_L5", "ood_L6"])
    for (const problems of Object.values(sets)) {
      expect(problems).toHaveLength(200)
      expect(new Set(problems.map((p) => p.prompt)).size).toBe(200)
    }
    const seen = new Set([...s.train.problems.map((p) => p.prompt), ...s.warmStart.map((e) => e.prompt)])
    for (const level of SuffixSumTask.trainLevels) {
      expect(s.test.get(level)!.filter((p) => seen.has(p.prompt))).toEqual([])
    }
    expect(new Set(s.train.problems.map((p) => p.id)).size).toBe(s.train.problems.length)
  })

  it("the warm start's competence check: 200 items of its target level, disjoint from training, warm-start and test prompts", () => {
    const level = SuffixSumTask.settings.warmStart.until.level
    expect(s.warmStartCheck).toHaveLength(200)
    expect(s.warmStartCheck.every((e) => digitsAfterBar(e.prompt).length === level)).toBe(true)
    const seen = new Set([
      ...s.train.problems.map((p) => p.prompt),
      ...s.warmStart.map((e) => e.prompt),
      ...s.test.get(level)!.map((p) => p.prompt)
    ])
    expect(s.warmStartCheck.filter((e) => seen.has(e.prompt))).toEqual([])
    expect(new Set(s.warmStartCheck.map((e) => e.prompt)).size).toBe(200)
  })

  it("the verifier wants exactly the answer digit", () => {
    const p = s.train.problems[0]!
    const other = String((Number(p.answer) + 1) % 4)
    expect(SuffixSumTask.verifier(p, p.answer, 0)).toEqual({ reward: 1, correct: true, formatted: true })
    expect(SuffixSumTask.verifier(p, other, 0)).toEqual({ reward: 0, correct: false, formatted: true })
    expect(SuffixSumTask.verifier(p, "x", 0)).toEqual({ reward: 0, correct: false, formatted: false })
    expect(SuffixSumTask.verifier(p, "", 0).correct).toBe(false)
  })

  it("is deterministic in its seed", () => {
    const again = SuffixSumTask.suite({ trainPerLevel: 500, warmStartExamples: 3000 })
    expect(again.train.problems).toEqual(s.train.problems)
    expect(SuffixSumTask.suite({ seed: 8, trainPerLevel: 500 }).train.problems).not.toEqual(s.train.problems)
  })
})
