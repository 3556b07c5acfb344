/**
 * Multi-digit integer arithmetic: addition, subtraction and multiplication of
 * random operands whose size grows with the level. In the spirit of the
 * procedurally generated, verifiable tasks of the SEC paper (arXiv 2505.14970
 * §3), where the level is an integer difficulty known at generation time.
 *
 * | level | `+` / `-`            | `*`                 |
 * |-------|----------------------|---------------------|
 * | 1     | 2-digit ± 2-digit    | —                   |
 * | 2     | 3-digit ± 3-digit    | 3-digit × 1-digit   |
 * | 3     | 4-digit ± 4-digit    | 4-digit × 2-digit   |
 * | 4     | 5-digit ± 5-digit    | 5-digit × 3-digit   |
 *
 * In general the larger operand has `level + 1` digits and a product's second
 * factor `level - 1` digits. Differences may be negative but are never zero. The answer is the
 * exact integer, optionally signed with `-`, without separators.
 *
 * @since 0.1.0
 */
import type { Problem } from "@zpd/core/Problem"
import type { Rng } from "@zpd/core/Rng"
import type { TaskFamily } from "./Task.ts"

/** A uniform integer with exactly `digits` decimal digits. */
const withDigits = (digits: number, rng: Rng): bigint => {
  let s = String(1 + rng.int(9))
  for (let k = 1; k < digits; k++) s += String(rng.int(10))
  return BigInt(s)
}

const INTEGER = /^-?[0-9]+$/

/**
 * Parses an integer answer: optional surrounding whitespace, an optional `-`,
 * decimal digits and nothing else (no commas, no `+`, no decimals).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseInteger = (text: string): bigint | undefined => {
  const t = text.trim()
  if (t.length === 0 || t.length > 64 || !INTEGER.test(t)) return undefined
  return BigInt(t)
}

/**
 * Generates an arithmetic problem at `level` (see the module table). The
 * operator is `+` or `-` at level 1 and uniform over `+ - *` above.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (level: number, rng: Rng, index: number): Problem => {
  const digits = level + 1
  const ops: ReadonlyArray<"+" | "-" | "*"> = level <= 1 ? ["+", "-"] : ["+", "-", "*"]
  const op = ops[rng.int(ops.length)]!
  const a = withDigits(digits, rng)
  let b = withDigits(op === "*" ? Math.max(1, level - 1) : digits, rng)
  // A zero difference is trivial: redraw (bounded; equal operands are rare).
  for (let k = 0; k < 20 && op === "-" && a === b; k++) b = withDigits(digits, rng)
  const value = op === "+" ? a + b : op === "-" ? a - b : a * b
  const shown = op === "*" ? "×" : op
  const prompt = [
    `Compute ${a} ${shown} ${b}.`,
    "Work it out step by step, then put only the final integer (no commas or spaces) in <answer></answer>."
  ].join(" ")
  return {
    id: `arithmetic-L${level}-${String(index).padStart(5, "0")}`,
    prompt,
    answer: value.toString(),
    level,
    family: "arithmetic",
    metadata: { digits, op }
  }
}

/**
 * Is `answer` the same integer as `problem.answer` (both read by {@link parseInteger})?
 *
 * @since 0.1.0
 * @category verification
 */
export const check: TaskFamily["check"] = (problem, answer) => {
  const got = parseInteger(answer)
  const want = parseInteger(problem.answer)
  return got !== undefined && want !== undefined && got === want
}

/**
 * The arithmetic family. `metadata`: `digits` (digits of the larger operand,
 * `level + 1`) and `op` (`+`, `-` or `*`).
 *
 * @since 0.1.0
 * @category families
 */
export const family: TaskFamily = { name: "arithmetic", levels: [1, 2, 3, 4], generate, check }
