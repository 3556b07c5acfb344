/**
 * Columnar per-problem state. Curricula keep one typed array per field, keyed
 * by the dense problem index, instead of one object per problem: 10M problems
 * fit in memory and a step touches only the rows of its batch. The Schemas
 * here encode columns as base64 of their little-endian bytes, so checkpoints
 * round-trip every double bit for bit.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

const toBytes = (view: ArrayBufferView): Uint8Array => {
  if (!littleEndian) throw new Error("zpd checkpoints require a little-endian platform")
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
}

const column = <A extends TypedArray>(
  name: string,
  bytesPer: number,
  is: (u: unknown) => u is A,
  fromBuffer: (buffer: ArrayBuffer) => A
) =>
  Schema.transformOrFail(Schema.String, Schema.declare(is, { identifier: name }), {
    strict: true,
    decode: (s, _, ast) =>
      Either.match(Encoding.decodeBase64(s), {
        onLeft: (e) => ParseResult.fail(new ParseResult.Type(ast, s, `${name}: invalid base64 (${e.message})`)),
        onRight: (bytes) =>
          bytes.byteLength % bytesPer !== 0
            ? ParseResult.fail(new ParseResult.Type(ast, s, `${name}: byte length not a multiple of ${bytesPer}`))
            : ParseResult.succeed(fromBuffer(bytes.slice().buffer))
      }),
    encode: (a) => ParseResult.succeed(Encoding.encodeBase64(toBytes(a)))
  })

type TypedArray = Float64Array | Int32Array | Uint8Array | Float32Array

const typed = <A extends TypedArray>(
  Ctor: { new(buffer: ArrayBuffer): A; readonly name: string; readonly BYTES_PER_ELEMENT: number }
) =>
  column(
    `${Ctor.name.replace("Array", "")}Column`,
    Ctor.BYTES_PER_ELEMENT,
    (u): u is A => u instanceof Ctor,
    (b) => new Ctor(b)
  )

/**
 * @since 0.1.0
 * @category schemas
 */
export const Float64Column = typed<Float64Array>(Float64Array)

/**
 * @since 0.1.0
 * @category schemas
 */
export const Int32Column = typed<Int32Array>(Int32Array)

/**
 * @since 0.1.0
 * @category schemas
 */
export const Float32Column = typed<Float32Array>(Float32Array)

/**
 * @since 0.1.0
 * @category schemas
 */
export const Uint8Column = typed<Uint8Array>(Uint8Array)

/**
 * A shuffled queue of problem indices with a read cursor: the state behind
 * random sampling without replacement, SEC's per-arm queues and AdaCuRL's
 * batch draws.
 *
 * @since 0.1.0
 * @category models
 */
export const Queue = Schema.mutable(Schema.Struct({ items: Int32Column, cursor: Schema.Int }))

/**
 * @since 0.1.0
 * @category models
 */
export type Queue = Schema.Schema.Type<typeof Queue>

/**
 * Pops-ready queue: refills `queue` with `refill()` appended after the unread
 * remainder until at least `count` items are unread ("perpetual" mode; stops
 * early if `refill` returns nothing). Used by uniform draws and SEC's per-arm
 * queues.
 *
 * @since 0.1.0
 * @category math
 */
export const ensureAvailable = (queue: Queue, count: number, refill: () => Int32Array): Queue => {
  let { cursor, items } = queue
  while (items.length - cursor < count) {
    const fresh = refill()
    if (fresh.length === 0) break
    const next = new Int32Array(items.length - cursor + fresh.length)
    next.set(items.subarray(cursor), 0)
    next.set(fresh, items.length - cursor)
    items = next
    cursor = 0
  }
  return { items, cursor }
}

/**
 * Reads `count` items off `queue` in place, refilling it with `refill()`
 * whenever it runs dry. With `distinct`, an item already read in this call is
 * skipped (it is still consumed), so the result never repeats; the caller
 * keeps `count` at most the number of distinct items.
 *
 * @since 0.2.0
 * @category math
 */
export const take = (queue: Queue, count: number, refill: () => Int32Array, distinct = false): Array<number> => {
  const out: Array<number> = []
  const seen = distinct ? new Set<number>() : undefined
  while (out.length < count) {
    if (queue.cursor >= queue.items.length) {
      const next = ensureAvailable(queue, 1, refill)
      if (next.cursor >= next.items.length) break
      queue.items = next.items
      queue.cursor = next.cursor
    }
    const i = queue.items[queue.cursor++]!
    if (seen !== undefined) {
      if (seen.has(i)) continue
      seen.add(i)
    }
    out.push(i)
  }
  return out
}

/**
 * Bytes of per-problem state held in a set of columns, for the overhead
 * benchmark.
 *
 * @since 0.1.0
 * @category accessors
 */
export const byteSize = (columns: ReadonlyArray<ArrayBufferView>): number =>
  columns.reduce((n, c) => n + c.byteLength, 0)
