/**
 * A sum tree over `m` non-negative weights for proportional draws in
 * O(log m): a complete binary tree in heap layout (node `i` has children `2i`,
 * `2i + 1`; the leaves are nodes `m … 2m − 1`), every inner node the sum of
 * its children. A leaf update recomputes its ancestors from their children
 * (no running deltas), so setting a weight back restores every sum exactly.
 *
 * @internal
 */

/** The tree of `weights` (16 bytes per weight). @internal */
export const build = (weights: Float64Array): Float64Array => {
  const m = weights.length
  const tree = new Float64Array(2 * Math.max(1, m))
  tree.set(weights, m)
  for (let i = m - 1; i >= 1; i--) tree[i] = tree[2 * i]! + tree[2 * i + 1]!
  return tree
}

/** The number of leaves. @internal */
export const size = (tree: Float64Array): number => tree.length >> 1

/** The sum of all weights. @internal */
export const total = (tree: Float64Array): number => tree[1]!

/** Leaf `j`'s weight. @internal */
export const weight = (tree: Float64Array, j: number): number => tree[size(tree) + j]!

/** Sets leaf `j` to `w` and recomputes its ancestors. @internal */
export const set = (tree: Float64Array, j: number, w: number): void => {
  let i = size(tree) + j
  tree[i] = w
  for (i >>= 1; i >= 1; i >>= 1) tree[i] = tree[2 * i]! + tree[2 * i + 1]!
}

/**
 * The leaf whose cumulative interval holds `u ∈ [0, total)`: leaf `j` is
 * returned with probability `weight(j) / total` for uniform `u`. A child of
 * weight 0 is never entered while its sibling has weight. @internal
 */
export const find = (tree: Float64Array, u: number): number => {
  const m = size(tree)
  let i = 1
  while (i < m) {
    const left = tree[2 * i]!
    const right = tree[2 * i + 1]!
    if ((u < left && left > 0) || right <= 0) {
      i = 2 * i
    } else {
      u -= left
      i = 2 * i + 1
    }
  }
  return i - m
}
