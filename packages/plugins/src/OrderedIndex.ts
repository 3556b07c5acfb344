/**
 * An ordered index of `(key, id)` pairs for per-problem scores that change a
 * few at a time: a problem's difficulty, a value estimate, a priority. It is
 * kept ordered by key, ties by id, so a curriculum can ask "which problems
 * are nearest to x" without sorting the pool every step.
 *
 * Layout: a list of sorted blocks of at most `blockSize` pairs (a B+-tree's
 * leaf level, located by binary search over the blocks' last pairs). Every
 * block except a lone one holds at least half its capacity, so the index
 * uses at most 2 × 12 bytes per pair. Costs, for N pairs and block size b:
 *
 * | operation | cost |
 * |---|---|
 * | {@link OrderedIndex.insert}, {@link OrderedIndex.remove} | O(log N + b) (b is a block move, a memmove) |
 * | {@link OrderedIndex.nearestAbove}, {@link OrderedIndex.nearestAtOrBelow} of `count` | O(log N + count) per run of equal keys |
 * | {@link OrderedIndex.build} from N keys | O(N) (stable LSD radix sort on the keys' bits) |
 *
 * A block split or merge also shifts the list of blocks (N/b pointers and
 * tail keys, ~30K at N = 1e7 with b = 512: tens of microseconds); it happens
 * once per ~b/2 inserts into one block, so it stays a small share of a step
 * up to ~1e8 pairs. Beyond that an inner level of blocks would be the fix.
 *
 * Used by CDAS (arXiv 2505.17652) to keep problems ordered by their stable
 * difficulty D(x), so a step costs O(B log N) instead of a sort of the pool.
 *
 * @since 0.1.0
 */
import { grown } from "./internal/arrays.ts"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBlockSize = 512

interface Block {
  keys: Float64Array
  ids: Int32Array
  size: number
}

const newBlock = (capacity: number): Block => ({
  keys: new Float64Array(capacity),
  ids: new Int32Array(capacity),
  size: 0
})

/** (k1, i1) < (k2, i2) in (key, id) order. */
const less = (k1: number, i1: number, k2: number, i2: number): boolean => k1 < k2 || (k1 === k2 && i1 < i2)

/** −0 → +0, so that −0 and 0 are one key (they compare equal). */
const normalize = (key: number): number => key + 0

const checkKey = (key: number): number => {
  if (Number.isNaN(key)) throw new RangeError("OrderedIndex: a key must not be NaN")
  return normalize(key)
}

/**
 * The permutation that sorts `keys` ascending, ties by position: a stable LSD
 * radix sort over the keys' IEEE-754 bits (16 bits a pass, passes whose digit
 * is constant skipped). O(N) time, about 24 bytes per key of scratch space.
 * `−0` sorts as `0`; NaN is rejected.
 *
 * @since 0.1.0
 * @category math
 */
export const argsort = (keys: Float64Array): Int32Array => {
  const n = keys.length
  let hi = new Uint32Array(n)
  let lo = new Uint32Array(n)
  let ids = new Int32Array(n)
  const scratch = new Float64Array(1)
  const words = new Uint32Array(scratch.buffer)
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
  const H = little ? 1 : 0
  const L = 1 - H
  for (let i = 0; i < n; i++) {
    scratch[0] = checkKey(keys[i]!)
    let h = words[H]!
    let l = words[L]!
    // Order-preserving map of doubles to unsigned 64-bit integers.
    if ((h & 0x80000000) !== 0) {
      h = ~h >>> 0
      l = ~l >>> 0
    } else {
      h = (h | 0x80000000) >>> 0
    }
    hi[i] = h
    lo[i] = l
    ids[i] = i
  }
  let hi2 = new Uint32Array(n)
  let lo2 = new Uint32Array(n)
  let ids2 = new Int32Array(n)
  const count = new Int32Array(65537)
  for (let pass = 0; pass < 4; pass++) {
    const src = pass < 2 ? lo : hi
    const shift = pass % 2 === 0 ? 0 : 16
    count.fill(0)
    for (let i = 0; i < n; i++) count[((src[i]! >>> shift) & 0xffff) + 1]!++
    let constant = false
    for (let d = 1; d <= 65536; d++) {
      if (count[d] === n) constant = true
    }
    if (constant) continue
    for (let d = 0; d < 65536; d++) count[d + 1]! += count[d]!
    for (let i = 0; i < n; i++) {
      const d = (src[i]! >>> shift) & 0xffff
      const to = count[d]!++
      hi2[to] = hi[i]!
      lo2[to] = lo[i]!
      ids2[to] = ids[i]!
    }
    ;[hi, hi2] = [hi2, hi]
    ;[lo, lo2] = [lo2, lo]
    ;[ids, ids2] = [ids2, ids]
  }
  return ids
}

/**
 * A position in the index: block `b`, offset `o`.
 */
interface Cursor {
  b: number
  o: number
}

/**
 * The ordered index. Ids are unique: each id appears at most once.
 *
 * **Example**
 * ```ts
 * const index = OrderedIndex.build(difficulty)         // ids 0..N−1, keyed by difficulty[id]
 * index.remove(difficulty[7], 7); index.insert(0.25, 7) // problem 7's difficulty changed
 * index.nearestAbove(competence, 512)                   // the 512 closest harder problems
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class OrderedIndex {
  private blocks: Array<Block> = []
  /** The last pair of every block, contiguous, so that locating a block touches no block. */
  private tailKeys = new Float64Array(16)
  private tailIds = new Int32Array(16)
  private count = 0
  private readonly capacity: number

  private constructor(blockSize: number) {
    if (!Number.isInteger(blockSize) || blockSize < 4) {
      throw new RangeError(`OrderedIndex: blockSize must be an integer ≥ 4, got ${blockSize}`)
    }
    this.capacity = blockSize
  }

  /**
   * An empty index.
   *
   * @since 0.1.0
   */
  static empty(blockSize: number = defaultBlockSize): OrderedIndex {
    return new OrderedIndex(blockSize)
  }

  /**
   * An index over pairs already sorted by (key, id), in O(N). Blocks are
   * filled to three quarters, leaving room for inserts.
   *
   * @since 0.1.0
   */
  static fromSorted(
    keys: ArrayLike<number>,
    ids: ArrayLike<number>,
    blockSize: number = defaultBlockSize
  ): OrderedIndex {
    const index = new OrderedIndex(blockSize)
    const n = keys.length
    if (ids.length !== n) throw new RangeError(`OrderedIndex.fromSorted: ${n} keys but ${ids.length} ids`)
    for (let i = 1; i < n; i++) {
      if (!less(normalize(keys[i - 1]!), ids[i - 1]!, normalize(keys[i]!), ids[i]!)) {
        throw new RangeError(
          `OrderedIndex.fromSorted: pairs ${i - 1} and ${i} are not in strictly ascending (key, id) order`
        )
      }
    }
    if (n === 0) return index
    // About 3/4 full, but never below half full: n/nb ≥ blockSize/2 keeps every block legal.
    const target = Math.max(1, Math.floor((blockSize * 3) / 4))
    const nb = Math.max(1, Math.min(Math.ceil(n / target), Math.floor(n / Math.max(1, blockSize >>> 1))))
    let from = 0
    for (let b = 0; b < nb; b++) {
      const to = Math.round(((b + 1) * n) / nb)
      const block = newBlock(blockSize)
      for (let i = from; i < to; i++) {
        block.keys[i - from] = checkKey(keys[i]!)
        block.ids[i - from] = ids[i]!
      }
      block.size = to - from
      index.insertBlock(b, block)
      index.syncTail(b)
      from = to
    }
    index.count = n
    return index
  }

  /**
   * The index of ids `0..N−1` keyed by `keys[id]` (one {@link argsort}).
   *
   * @since 0.1.0
   */
  static build(keys: Float64Array, blockSize: number = defaultBlockSize): OrderedIndex {
    const order = argsort(keys)
    const sorted = new Float64Array(keys.length)
    for (let i = 0; i < order.length; i++) sorted[i] = keys[order[i]!]!
    return OrderedIndex.fromSorted(sorted, order, blockSize)
  }

  /**
   * Number of pairs.
   *
   * @since 0.1.0
   */
  get size(): number {
    return this.count
  }

  /**
   * Bytes allocated for the pairs (typed arrays only).
   *
   * @since 0.1.0
   */
  byteSize(): number {
    let bytes = 0
    for (const b of this.blocks) bytes += b.keys.byteLength + b.ids.byteLength
    return bytes + this.tailKeys.byteLength + this.tailIds.byteLength
  }

  /** The first block whose last pair is ≥ (key, id); `blocks.length` if none. */
  private blockFor(key: number, id: number): number {
    const tailKeys = this.tailKeys
    const tailIds = this.tailIds
    let lo = 0
    let hi = this.blocks.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (less(tailKeys[mid]!, tailIds[mid]!, key, id)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private syncTail(b: number): void {
    const block = this.blocks[b]!
    this.tailKeys[b] = block.keys[block.size - 1]!
    this.tailIds[b] = block.ids[block.size - 1]!
  }

  private insertBlock(b: number, block: Block): void {
    const n = this.blocks.length
    if (n === this.tailKeys.length) {
      this.tailKeys = grown(this.tailKeys, 2 * n)
      this.tailIds = grown(this.tailIds, 2 * n)
    }
    this.tailKeys.copyWithin(b + 1, b, n)
    this.tailIds.copyWithin(b + 1, b, n)
    this.blocks.splice(b, 0, block)
  }

  private removeBlock(b: number): void {
    const n = this.blocks.length
    this.tailKeys.copyWithin(b, b + 1, n)
    this.tailIds.copyWithin(b, b + 1, n)
    this.blocks.splice(b, 1)
  }

  /** First offset in `block` whose pair is ≥ (key, id). */
  private static offsetIn(block: Block, key: number, id: number): number {
    let lo = 0
    let hi = block.size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (less(block.keys[mid]!, block.ids[mid]!, key, id)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The cursor of the first pair ≥ (key, id); `{ b: blocks.length, o: 0 }` at the end. */
  private seek(key: number, id: number): Cursor {
    const b = this.blockFor(key, id)
    if (b === this.blocks.length) return { b, o: 0 }
    return { b, o: OrderedIndex.offsetIn(this.blocks[b]!, key, id) }
  }

  /** The cursor of the first pair whose key is > `pivot`, normalised (never past a block's end). */
  private upperBound(pivot: number): Cursor {
    const c = this.seek(pivot, 2147483647)
    if (c.b < this.blocks.length) {
      const block = this.blocks[c.b]!
      // Only a pair (pivot, 2^31 − 1) can sit here with a key ≤ pivot.
      if (block.keys[c.o]! <= pivot) c.o++
      if (c.o === block.size) return { b: c.b + 1, o: 0 }
    }
    return c
  }

  /**
   * Adds `(key, id)`. The caller keeps ids unique (remove an id's old pair
   * before inserting its new one).
   *
   * @since 0.1.0
   */
  insert(key: number, id: number): void {
    key = checkKey(key)
    if (this.blocks.length === 0) this.insertBlock(0, newBlock(this.capacity))
    let b = Math.min(this.blockFor(key, id), this.blocks.length - 1)
    let block = this.blocks[b]!
    if (block.size === this.capacity) {
      this.split(b)
      if (less(this.tailKeys[b]!, this.tailIds[b]!, key, id)) b++
      block = this.blocks[b]!
    }
    const o = OrderedIndex.offsetIn(block, key, id)
    if (o < block.size) {
      block.keys.copyWithin(o + 1, o, block.size)
      block.ids.copyWithin(o + 1, o, block.size)
    }
    block.keys[o] = key
    block.ids[o] = id
    block.size++
    if (o === block.size - 1) this.syncTail(b)
    this.count++
  }

  private split(b: number): void {
    const block = this.blocks[b]!
    const half = block.size >>> 1
    const right = newBlock(this.capacity)
    right.keys.set(block.keys.subarray(half, block.size))
    right.ids.set(block.ids.subarray(half, block.size))
    right.size = block.size - half
    block.size = half
    this.insertBlock(b + 1, right)
    this.syncTail(b)
    this.syncTail(b + 1)
  }

  /**
   * Removes `(key, id)`; returns whether it was there.
   *
   * @since 0.1.0
   */
  remove(key: number, id: number): boolean {
    key = checkKey(key)
    const b = this.blockFor(key, id)
    if (b === this.blocks.length) return false
    const block = this.blocks[b]!
    const o = OrderedIndex.offsetIn(block, key, id)
    if (o >= block.size || block.keys[o] !== key || block.ids[o] !== id) return false
    block.keys.copyWithin(o, o + 1, block.size)
    block.ids.copyWithin(o, o + 1, block.size)
    block.size--
    this.count--
    if (block.size === 0) this.removeBlock(b)
    else {
      if (o === block.size) this.syncTail(b)
      if (block.size < this.capacity >>> 1 && this.blocks.length > 1) this.rebalance(b)
    }
    return true
  }

  /** Merges block `b` with a neighbour, or evens the two out, so both hold ≥ capacity/2. */
  private rebalance(b: number): void {
    const l = b + 1 < this.blocks.length ? b : b - 1
    const left = this.blocks[l]!
    const right = this.blocks[l + 1]!
    const total = left.size + right.size
    if (total <= this.capacity) {
      left.keys.set(right.keys.subarray(0, right.size), left.size)
      left.ids.set(right.ids.subarray(0, right.size), left.size)
      left.size = total
      this.removeBlock(l + 1)
      this.syncTail(l)
      return
    }
    const want = total >>> 1
    if (left.size < want) {
      const move = want - left.size
      left.keys.set(right.keys.subarray(0, move), left.size)
      left.ids.set(right.ids.subarray(0, move), left.size)
      right.keys.copyWithin(0, move, right.size)
      right.ids.copyWithin(0, move, right.size)
      left.size += move
      right.size -= move
    } else {
      const move = left.size - want
      right.keys.copyWithin(move, 0, right.size)
      right.ids.copyWithin(move, 0, right.size)
      right.keys.set(left.keys.subarray(want, left.size), 0)
      right.ids.set(left.ids.subarray(want, left.size), 0)
      left.size = want
      right.size += move
    }
    this.syncTail(l)
    this.syncTail(l + 1)
  }

  /**
   * Whether `(key, id)` is in the index.
   *
   * @since 0.1.0
   */
  has(key: number, id: number): boolean {
    key = checkKey(key)
    const c = this.seek(key, id)
    if (c.b === this.blocks.length) return false
    const block = this.blocks[c.b]!
    return c.o < block.size && block.keys[c.o] === key && block.ids[c.o] === id
  }

  /**
   * The first `count` ids with key > `pivot`, nearest first (key ascending,
   * ties by id ascending), leaving out ids for which `skip` holds. Fewer when
   * the index runs out.
   *
   * @since 0.1.0
   */
  nearestAbove(pivot: number, count: number, skip?: (id: number) => boolean): Array<number> {
    const out: Array<number> = []
    if (count <= 0) return out
    let { b, o } = this.upperBound(checkKey(pivot))
    for (; b < this.blocks.length; b++, o = 0) {
      const block = this.blocks[b]!
      for (; o < block.size; o++) {
        const id = block.ids[o]!
        if (skip !== undefined && skip(id)) continue
        out.push(id)
        if (out.length === count) return out
      }
    }
    return out
  }

  /**
   * The `count` ids with key ≤ `pivot` nearest to it: key descending, ties
   * by id ascending (the order a stable sort by descending key gives),
   * leaving out ids for which `skip` holds. Fewer when the index runs out.
   *
   * @since 0.1.0
   */
  nearestAtOrBelow(pivot: number, count: number, skip?: (id: number) => boolean): Array<number> {
    const out: Array<number> = []
    if (count <= 0 || this.count === 0) return out
    // end: one past the last pair with key ≤ pivot.
    let end = this.upperBound(checkKey(pivot))
    while (out.length < count) {
      const last = this.previous(end)
      if (last === undefined) break
      const key = this.blocks[last.b]!.keys[last.o]!
      // The run of pairs with this key starts at the first pair ≥ (key, −∞); emit it in id order.
      const start = this.seek(key, -2147483648)
      let b = start.b
      let o = start.o
      while (out.length < count && (b < end.b || (b === end.b && o < end.o))) {
        const block = this.blocks[b]!
        if (o >= block.size) {
          b++
          o = 0
          continue
        }
        const id = block.ids[o]!
        if (skip === undefined || !skip(id)) out.push(id)
        o++
      }
      end = start
    }
    return out
  }

  private previous(c: Cursor): Cursor | undefined {
    if (c.o > 0) return { b: c.b, o: c.o - 1 }
    for (let b = c.b - 1; b >= 0; b--) {
      const size = this.blocks[b]!.size
      if (size > 0) return { b, o: size - 1 }
    }
    return undefined
  }

  /**
   * Visits every pair in (key, id) order.
   *
   * @since 0.1.0
   */
  forEach(f: (key: number, id: number) => void): void {
    for (const block of this.blocks) for (let o = 0; o < block.size; o++) f(block.keys[o]!, block.ids[o]!)
  }

  /**
   * Checks the invariants (ordering, block fill, count); for tests. Returns
   * a description of the first violation, or `undefined`.
   *
   * @since 0.1.0
   */
  check(): string | undefined {
    let n = 0
    let prevKey = -Infinity
    let prevId = -2147483649
    for (let b = 0; b < this.blocks.length; b++) {
      const block = this.blocks[b]!
      if (block.size === 0) return `block ${b} is empty`
      if (this.blocks.length > 1 && block.size < this.capacity >>> 1) {
        return `block ${b} holds ${block.size} < ${this.capacity >>> 1} pairs`
      }
      if (this.tailKeys[b] !== block.keys[block.size - 1] || this.tailIds[b] !== block.ids[block.size - 1]) {
        return `block ${b}'s tail is stale`
      }
      for (let o = 0; o < block.size; o++) {
        const k = block.keys[o]!
        const id = block.ids[o]!
        if (!less(prevKey, prevId, k, id)) return `pair (${k}, ${id}) at block ${b} offset ${o} is out of order`
        prevKey = k
        prevId = id
        n++
      }
    }
    return n === this.count ? undefined : `count ${this.count} but ${n} pairs`
  }
}
