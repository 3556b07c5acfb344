/**
 * A sum tree over `m` non-negative weights for proportional draws: a
 * 16-ary tree stored level by level (`levels[0]` the weights, each level
 * above holding the sums of 16 consecutive entries of the one below, up to a
 * single root). Sixteen sibling sums are 128 contiguous bytes, so a draw or
 * an update touches about one cache line per level and there are
 * ⌈log₁₆ m⌉ levels (5 at 1e6) instead of a binary tree's 20 scattered ones;
 * the inner levels add m/15 numbers (about 8.5 bytes per weight in all).
 *
 * An update recomputes each ancestor from its children in order (no running
 * deltas), so setting a weight back restores every sum exactly.
 *
 * @internal
 */

const fanout = 16

/** @internal */
export interface Tree {
  /** `levels[0]`: the weights; the last level: one entry, the total. */
  readonly levels: ReadonlyArray<Float64Array>
}

const sumChildren = (below: Float64Array, parent: number): number => {
  const end = Math.min(below.length, parent * fanout + fanout)
  let sum = 0
  for (let c = parent * fanout; c < end; c++) sum += below[c]!
  return sum
}

/** The tree of `weights` (at least one leaf: an empty list is one leaf of weight 0). @internal */
export const build = (weights: Float64Array): Tree => {
  const levels = [weights.length === 0 ? new Float64Array(1) : Float64Array.from(weights)]
  while (levels.at(-1)!.length > 1) {
    const below = levels.at(-1)!
    const above = new Float64Array(Math.ceil(below.length / fanout))
    for (let p = 0; p < above.length; p++) above[p] = sumChildren(below, p)
    levels.push(above)
  }
  return { levels }
}

/** The number of leaves. @internal */
export const size = (tree: Tree): number => tree.levels[0]!.length

/** The sum of all weights. @internal */
export const total = (tree: Tree): number => tree.levels.at(-1)![0]!

/** Leaf `j`'s weight. @internal */
export const weight = (tree: Tree, j: number): number => tree.levels[0]![j]!

/** Sets leaf `j` to `w` and recomputes its ancestors. @internal */
export const set = (tree: Tree, j: number, w: number): void => {
  const levels = tree.levels
  levels[0]![j] = w
  let p = j
  for (let k = 1; k < levels.length; k++) {
    p = Math.floor(p / fanout)
    levels[k]![p] = sumChildren(levels[k - 1]!, p)
  }
}

/**
 * Sets leaf `js[k]` to `ws[k]` for every `k` (in order: a repeated leaf keeps
 * its last weight), then recomputes each affected ancestor once, level by
 * level: the same tree as that many {@link set} calls, with the shared upper
 * ancestors summed once. @internal
 */
export const setMany = (tree: Tree, js: ArrayLike<number>, ws: ArrayLike<number>): void => {
  const levels = tree.levels
  const leaves = levels[0]!
  for (let k = 0; k < js.length; k++) leaves[js[k]!] = ws[k]!
  let parents = Int32Array.from(js).sort()
  for (let k = 1; k < levels.length; k++) {
    let count = 0
    let previous = -1
    for (let i = 0; i < parents.length; i++) {
      const p = Math.floor(parents[i]! / fanout)
      if (p !== previous) parents[count++] = previous = p
    }
    parents = parents.subarray(0, count)
    const level = levels[k]!
    for (let i = 0; i < count; i++) level[parents[i]!] = sumChildren(levels[k - 1]!, parents[i]!)
  }
}

/**
 * The leaf whose cumulative interval (leaves in index order) holds
 * `u ∈ [0, total)`: leaf `j` is returned with probability `weight(j) / total`
 * for uniform `u`. A child of weight 0 is never entered while a sibling has
 * weight; when rounding leaves `u` past the last sibling, the last one with
 * weight is taken. @internal
 */
export const find = (tree: Tree, u: number): number => {
  const levels = tree.levels
  let p = 0
  for (let k = levels.length - 1; k >= 1; k--) {
    const below = levels[k - 1]!
    const start = p * fanout
    const end = Math.min(below.length, start + fanout)
    let last = -1
    p = -1
    for (let c = start; c < end; c++) {
      const w = below[c]!
      if (w <= 0) continue
      if (u < w) {
        p = c
        break
      }
      u -= w
      last = c
    }
    if (p < 0) p = last >= 0 ? last : start
  }
  return p
}

/** Bytes held. @internal */
export const bytes = (tree: Tree): number => tree.levels.reduce((n, level) => n + level.byteLength, 0)
