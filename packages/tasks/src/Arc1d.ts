/**
 * ARC-1D-like sequence puzzles: a few input → output demonstrations of one
 * hidden rule over 1-D grids, then a test input whose output must be produced.
 * Modelled on the ARC-1D family of the SEC paper (arXiv 2505.14970 §4.1,
 * App. B), whose difficulty is the grid length 10/20/30/40: level `L` uses
 * grids of length `10 · L`.
 *
 * Grids are space-separated digits, `0` is the background and `1`–`9` are
 * colours. The rules:
 *
 * - `shift`: the single coloured block moves right by `k` (1–3) cells.
 * - `reverse`: the whole grid is reversed.
 * - `fill`: the cells between two pixels of the same colour are filled with it.
 * - `recolor`: every cell of colour `a` becomes colour `b`.
 * - `gravity`: all coloured cells slide, in order, to the left or right end.
 * - `mirror`: a block is reflected to the other side of a pivot pixel of a
 *   fixed colour, at the same distance.
 *
 * Rule parameters (`k`, `a → b`, direction, pivot colour) are fixed within a
 * problem and drawn per problem. The answer is the test output; checking is an
 * exact token match after normalising whitespace.
 *
 * @since 0.1.0
 */
import type { Problem } from "@zpd/core/Problem"
import type { Rng } from "@zpd/core/Rng"
import type { TaskFamily } from "./Task.ts"

type Grid = Array<number>

/**
 * The rule names, in the order they are drawn from.
 *
 * @since 0.1.0
 * @category models
 */
export const rules = ["shift", "reverse", "fill", "recolor", "gravity", "mirror"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type Rule = (typeof rules)[number]

/** A rule instance: draws one (input, output) pair of length `n`. */
type Instance = (n: number, rng: Rng) => { input: Grid; output: Grid }

const color = (rng: Rng, exclude: ReadonlyArray<number> = []): number => {
  for (;;) {
    const c = 1 + rng.int(9)
    if (!exclude.includes(c)) return c
  }
}

/**
 * Places blocks (`[length, colour]`) left to right with at least one
 * background cell between neighbours and the spare cells spread at random.
 */
const placeBlocks = (n: number, blocks: ReadonlyArray<readonly [number, number]>, rng: Rng): Grid => {
  const grid: Grid = new Array(n).fill(0)
  const used = blocks.reduce((s, [len]) => s + len, 0) + Math.max(0, blocks.length - 1)
  const slots: Array<number> = new Array(blocks.length + 1).fill(0)
  for (let k = 0; k < n - used; k++) {
    const slot = rng.int(slots.length)
    slots[slot] = slots[slot]! + 1
  }
  let pos = slots[0]!
  blocks.forEach(([len, c], i) => {
    for (let k = 0; k < len; k++) grid[pos + k] = c
    pos += len + 1 + slots[i + 1]!
  })
  return grid
}

/** Random blocks with total footprint at most `n`. */
const randomBlocks = (
  n: number,
  count: number,
  maxLen: number,
  rng: Rng,
  pickColor: (i: number) => number
): Array<readonly [number, number]> => {
  const blocks: Array<readonly [number, number]> = []
  let used = 0
  for (let i = 0; i < count; i++) {
    const len = 1 + rng.int(maxLen)
    const need = len + (blocks.length > 0 ? 1 : 0)
    if (used + need > n) break
    blocks.push([len, pickColor(i)])
    used += need
  }
  return blocks
}

const same = (a: Grid, b: Grid): boolean => a.length === b.length && a.every((x, i) => x === b[i])

const instance = (rule: Rule, rng: Rng): Instance => {
  switch (rule) {
    case "shift": {
      const k = 1 + rng.int(3)
      return (n, r) => {
        const len = 1 + r.int(Math.max(1, Math.min(Math.floor(n / 4), n - k - 1)))
        const start = r.int(n - len - k + 1)
        const c = color(r)
        const input: Grid = new Array(n).fill(0)
        const output: Grid = new Array(n).fill(0)
        for (let i = 0; i < len; i++) {
          input[start + i] = c
          output[start + k + i] = c
        }
        return { input, output }
      }
    }
    case "reverse":
      return (n, r) => {
        const count = 2 + r.int(Math.max(1, Math.floor(n / 10)) + 1)
        const input = placeBlocks(n, randomBlocks(n, count, Math.max(1, Math.floor(n / 6)), r, () => color(r)), r)
        return { input, output: input.slice().reverse() }
      }
    case "fill":
      return (n, r) => {
        const c = color(r)
        const i = r.int(n - 2)
        const j = i + 2 + r.int(n - i - 2)
        const input: Grid = new Array(n).fill(0)
        input[i] = c
        input[j] = c
        const output = input.slice()
        for (let x = i; x <= j; x++) output[x] = c
        return { input, output }
      }
    case "recolor": {
      const from = color(rng)
      const to = color(rng, [from])
      return (n, r) => {
        const count = 2 + r.int(Math.max(1, Math.floor(n / 10)) + 1)
        const first = r.int(count)
        const blocks = randomBlocks(
          n,
          count,
          Math.max(1, Math.floor(n / 8)),
          r,
          (i) => (i === first || r.int(3) === 0 ? from : color(r, [from, to]))
        )
        if (!blocks.some(([, c]) => c === from)) blocks[0] = [blocks[0]![0], from]
        const input = placeBlocks(n, blocks, r)
        return { input, output: input.map((x) => (x === from ? to : x)) }
      }
    }
    case "gravity": {
      const right = rng.int(2) === 0
      return (n, r) => {
        const count = 2 + r.int(Math.max(1, Math.floor(n / 4)))
        const input: Grid = new Array(n).fill(0)
        for (let k = 0; k < count; k++) input[r.int(n)] = color(r)
        const pixels = input.filter((x) => x !== 0)
        const pad: Grid = new Array(n - pixels.length).fill(0)
        return { input, output: right ? [...pad, ...pixels] : [...pixels, ...pad] }
      }
    }
    case "mirror": {
      const pivotColor = color(rng)
      return (n, r) => {
        const c = color(r, [pivotColor])
        // Footprint: block + gap + pivot + gap + block = 2 (len + gap) + 1 <= n.
        const half = Math.floor((n - 1) / 2)
        const len = 1 + r.int(Math.max(1, Math.min(Math.floor(n / 5), half)))
        const gap = r.int(half - len + 1)
        const pivot = len + gap + r.int(n - 2 * (len + gap))
        const leftToRight = r.int(2) === 0
        const input: Grid = new Array(n).fill(0)
        const output: Grid = new Array(n).fill(0)
        input[pivot] = pivotColor
        output[pivot] = pivotColor
        for (let i = 1; i <= len; i++) {
          const left = pivot - gap - i
          const right = pivot + gap + i
          input[leftToRight ? left : right] = c
          output[leftToRight ? right : left] = c
        }
        return { input, output }
      }
    }
  }
}

/** Draws a non-trivial pair (output differs from input), bounded retries. */
const draw = (make: Instance, n: number, rng: Rng): { input: Grid; output: Grid } => {
  let pair = make(n, rng)
  for (let attempt = 0; attempt < 50 && same(pair.input, pair.output); attempt++) pair = make(n, rng)
  return pair
}

const show = (grid: Grid): string => grid.join(" ")

/** Whitespace-normalised token string. */
const normalise = (text: string): string => text.trim().split(/\s+/).filter((t) => t.length > 0).join(" ")

/**
 * Generates an ARC-1D-like problem at `level` (grid length `10 · level`, 2 or
 * 3 demonstrations, a rule drawn uniformly from {@link rules}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (level: number, rng: Rng, index: number): Problem => {
  const n = 10 * level
  const rule = rules[rng.int(rules.length)]!
  const make = instance(rule, rng)
  const demos = 2 + rng.int(2)
  const lines: Array<string> = [
    "Each example below maps an input sequence to an output sequence by the same hidden rule.",
    `Sequences have length ${n}; cells are digits, 0 is the background and 1-9 are colours.`,
    ""
  ]
  for (let d = 0; d < demos; d++) {
    const { input, output } = draw(make, n, rng)
    lines.push(`Example ${d + 1}:`, `Input: ${show(input)}`, `Output: ${show(output)}`, "")
  }
  const test = draw(make, n, rng)
  lines.push(
    `Test input: ${show(test.input)}`,
    "",
    "Apply the rule to the test input. Put the output sequence, as space-separated digits, in <answer></answer>."
  )
  return {
    id: `arc1d-L${level}-${String(index).padStart(5, "0")}`,
    prompt: lines.join("\n"),
    answer: show(test.output),
    level,
    family: "arc1d",
    metadata: { length: n, rule }
  }
}

/**
 * The ARC-1D-like family (SEC arXiv 2505.14970): levels 1–4 use grids of
 * length 10, 20, 30, 40. `metadata`: `length` and `rule`.
 *
 * @since 0.1.0
 * @category families
 */
export const family: TaskFamily = {
  name: "arc1d",
  levels: [1, 2, 3, 4],
  generate,
  check: (problem, answer) => normalise(answer) === normalise(problem.answer)
}
