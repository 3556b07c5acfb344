/**
 * Countdown: combine the given integers with `+ - * /` and parentheses to hit a
 * target. Modelled on the countdown puzzles of the SEC paper (arXiv 2505.14970
 * §4.1, App. B), where the difficulty is the number of given integers (3–6):
 * level `L` gives `L + 2` numbers.
 *
 * Checking is done by a small recursive-descent parser and evaluator (never
 * `eval`). An answer is correct when it is an arithmetic expression over
 * non-negative integer literals, `+ - * /` (also `×` and `÷`) and parentheses,
 * whose literals form a sub-multiset of the given numbers (each used at most as
 * often as given; no other numbers), every division is exact (all
 * intermediate results are integers, as in the game), and whose value equals
 * the target. Unary minus, `=`, and any trailing text are rejected.
 *
 * @since 0.1.0
 */
import type { Problem } from "@zpd/core/Problem"
import type { Rng } from "@zpd/core/Rng"
import type { TaskFamily } from "./Task.ts"

/** Longest expression the checker will parse. */
const MAX_LENGTH = 512
/** Deepest parenthesis nesting the checker will parse. */
const MAX_DEPTH = 64
/** Largest generated target. */
const MAX_TARGET = 999
/** Largest intermediate product the generator will form. */
const MAX_PRODUCT = 2000

type Token =
  | { readonly _tag: "num"; readonly value: number }
  | { readonly _tag: "op"; readonly op: "+" | "-" | "*" | "/" }
  | { readonly _tag: "lparen" }
  | { readonly _tag: "rparen" }

const tokenize = (text: string): Array<Token> | undefined => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++
    } else if (c >= "0" && c <= "9") {
      let j = i
      while (j < text.length && text[j]! >= "0" && text[j]! <= "9") j++
      const digits = text.slice(i, j)
      if (digits.length > 1 && digits[0] === "0") return undefined
      if (digits.length > 9) return undefined
      tokens.push({ _tag: "num", value: Number(digits) })
      i = j
    } else if (c === "+" || c === "-" || c === "*" || c === "/") {
      tokens.push({ _tag: "op", op: c })
      i++
    } else if (c === "×") {
      tokens.push({ _tag: "op", op: "*" })
      i++
    } else if (c === "÷") {
      tokens.push({ _tag: "op", op: "/" })
      i++
    } else if (c === "(") {
      tokens.push({ _tag: "lparen" })
      i++
    } else if (c === ")") {
      tokens.push({ _tag: "rparen" })
      i++
    } else {
      return undefined
    }
  }
  return tokens
}

/** Thrown (and caught) inside the parser only. */
class Reject {
  readonly _tag = "Reject"
}

type Op = "+" | "-" | "*" | "/"

const apply = (op: Op, a: number, b: number): number => {
  let r: number
  switch (op) {
    case "+":
      r = a + b
      break
    case "-":
      r = a - b
      break
    case "*":
      r = a * b
      break
    case "/":
      if (b === 0 || a % b !== 0) throw new Reject()
      r = a / b
      break
  }
  if (!Number.isSafeInteger(r)) throw new Reject()
  return r === 0 ? 0 : r // normalise -0
}

/**
 * The result of parsing a countdown expression: its exact integer value and
 * the integer literals it uses, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Evaluation {
  readonly value: number
  readonly literals: ReadonlyArray<number>
}

/**
 * Parses and evaluates `expression` with exact integer arithmetic. Grammar:
 * `expr := term (("+" | "-") term)*`, `term := atom (("*" | "/") atom)*`,
 * `atom := integer | "(" expr ")"`. Returns `undefined` for anything that is
 * not such an expression, for division by zero and for inexact division.
 *
 * @since 0.1.0
 * @category parsing
 */
export const evaluate = (expression: string): Evaluation | undefined => {
  if (expression.length === 0 || expression.length > MAX_LENGTH) return undefined
  const tokens = tokenize(expression)
  if (tokens === undefined || tokens.length === 0) return undefined
  const literals: Array<number> = []
  let pos = 0
  /** One precedence level, `next (op next)*` folded to the left, for `ops` of equal precedence. */
  const leftAssociative = (ops: ReadonlyArray<Op>, next: (depth: number) => number) => (depth: number): number => {
    let acc = next(depth)
    for (;;) {
      const t = tokens[pos]
      if (t?._tag !== "op" || !ops.includes(t.op)) return acc
      pos++
      acc = apply(t.op, acc, next(depth))
    }
  }
  const parseTerm = leftAssociative(["*", "/"], (depth) => parseAtom(depth))
  const parseExpr = leftAssociative(["+", "-"], parseTerm)
  const parseAtom = (depth: number): number => {
    const t = tokens[pos]
    if (t === undefined) throw new Reject()
    if (t._tag === "num") {
      pos++
      literals.push(t.value)
      return t.value
    }
    if (t._tag === "lparen") {
      if (depth >= MAX_DEPTH) throw new Reject()
      pos++
      const v = parseExpr(depth + 1)
      if (tokens[pos]?._tag !== "rparen") throw new Reject()
      pos++
      return v
    }
    throw new Reject()
  }
  try {
    const value = parseExpr(0)
    if (pos !== tokens.length) return undefined
    return { value, literals }
  } catch (e) {
    if (e instanceof Reject) return undefined
    throw e
  }
}

/** Is `used` a sub-multiset of `given`? */
const subMultiset = (used: ReadonlyArray<number>, given: ReadonlyArray<number>): boolean => {
  const counts = new Map<number, number>()
  for (const g of given) counts.set(g, (counts.get(g) ?? 0) + 1)
  for (const u of used) {
    const c = counts.get(u) ?? 0
    if (c === 0) return false
    counts.set(u, c - 1)
  }
  return true
}

/**
 * Is `answer` a valid countdown solution for the given numbers and target?
 *
 * @since 0.1.0
 * @category verification
 */
export const solves = (numbers: ReadonlyArray<number>, target: number, answer: string): boolean => {
  const result = evaluate(answer)
  return result !== undefined && result.value === target && subMultiset(result.literals, numbers)
}

/** The given numbers of a countdown problem, from `metadata.given`. */
const givenOf = (problem: Problem): ReadonlyArray<number> | undefined => {
  const given = problem.metadata["given"]
  if (typeof given !== "string") return undefined
  const parts = given.trim().split(/\s+/)
  const numbers = parts.map(Number)
  return numbers.every((n) => Number.isSafeInteger(n) && n >= 0) ? numbers : undefined
}

interface Node {
  readonly value: number
  readonly expr: string
  /** 3 = literal or parenthesised, 2 = product/quotient, 1 = sum/difference. */
  readonly prec: number
}

const wrap = (node: Node, needParens: boolean): string => (needParens ? `(${node.expr})` : node.expr)

const combine = (op: "+" | "-" | "*" | "/", a: Node, b: Node): Node => {
  switch (op) {
    case "+":
      return { value: a.value + b.value, expr: `${a.expr} + ${b.expr}`, prec: 1 }
    case "-":
      return { value: a.value - b.value, expr: `${a.expr} - ${wrap(b, b.prec <= 1)}`, prec: 1 }
    case "*":
      return { value: a.value * b.value, expr: `${wrap(a, a.prec <= 1)} * ${wrap(b, b.prec <= 2)}`, prec: 2 }
    case "/":
      return { value: a.value / b.value, expr: `${wrap(a, a.prec <= 1)} / ${wrap(b, b.prec <= 2)}`, prec: 2 }
  }
}

/**
 * Combines all of `numbers` in a random binary tree with random operators whose
 * intermediate results are positive integers (subtraction only of a smaller
 * value, division only when exact and by more than 1).
 */
const randomTree = (numbers: ReadonlyArray<number>, rng: Rng): Node => {
  const pool: Array<Node> = numbers.map((n) => ({ value: n, expr: String(n), prec: 3 }))
  while (pool.length > 1) {
    const i = rng.int(pool.length)
    let j = rng.int(pool.length - 1)
    if (j >= i) j++
    let a = pool[i]!
    let b = pool[j]!
    if (a.value < b.value) [a, b] = [b, a]
    const ops: Array<"+" | "-" | "*" | "/"> = ["+"]
    if (a.value > b.value) ops.push("-")
    if (a.value * b.value <= MAX_PRODUCT && b.value > 1) ops.push("*", "*")
    if (b.value > 1 && a.value % b.value === 0) ops.push("/", "/")
    const node = combine(ops[rng.int(ops.length)]!, a, b)
    pool.splice(Math.max(i, j), 1)
    pool.splice(Math.min(i, j), 1)
    pool.push(node)
  }
  return pool[0]!
}

const numbersFor = (level: number): number => level + 2

/**
 * Generates a countdown problem at `level` (`level + 2` numbers in 1..20).
 * The target is obtained by combining all numbers with random operations,
 * retried (on the same stream) until it is an integer in 1..999 that is not
 * itself one of the numbers; after 100 tries the sum of the numbers is used.
 * `answer` is that reference expression.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (level: number, rng: Rng, index: number): Problem => {
  const count = numbersFor(level)
  const numbers: Array<number> = []
  for (let k = 0; k < count; k++) numbers.push(1 + rng.int(20))
  let solution: Node | undefined
  for (let attempt = 0; attempt < 100 && solution === undefined; attempt++) {
    const node = randomTree(numbers, rng)
    if (node.value >= 1 && node.value <= MAX_TARGET && !numbers.includes(node.value)) solution = node
  }
  if (solution === undefined) {
    solution = { value: numbers.reduce((s, n) => s + n, 0), expr: numbers.join(" + "), prec: 1 }
  }
  const target = solution.value
  const prompt = [
    `Using the numbers [${numbers.join(", ")}], create an arithmetic expression that equals ${target}.`,
    "You may use +, -, * and / and parentheses. Each number may be used at most once (as often as it is listed),",
    "no other numbers are allowed, and every division must be exact.",
    "Show your work, then put only the expression in <answer></answer>, for example <answer>(1 + 2) * 3</answer>."
  ].join(" ")
  return {
    id: `countdown-L${level}-${String(index).padStart(5, "0")}`,
    prompt,
    answer: solution.expr,
    level,
    family: "countdown",
    metadata: { numbers: count, target, given: numbers.join(" ") }
  }
}

/**
 * Does `answer` reach `metadata.target` with numbers drawn from `metadata.given` (see {@link solves})?
 *
 * @since 0.1.0
 * @category verification
 */
export const check: TaskFamily["check"] = (problem, answer) => {
  const numbers = givenOf(problem)
  const target = problem.metadata["target"]
  if (numbers === undefined || typeof target !== "number") return false
  return solves(numbers, target, answer)
}

/**
 * The countdown family (SEC arXiv 2505.14970): levels 1–4 give 3–6 numbers.
 * `metadata`: `numbers` (how many are given), `target`, and `given` (the
 * numbers, space-separated; the checker reads it).
 *
 * @since 0.1.0
 * @category families
 */
export const family: TaskFamily = { name: "countdown", levels: [1, 2, 3, 4], generate, check }
