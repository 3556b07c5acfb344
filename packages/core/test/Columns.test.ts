import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Columns from "../src/Columns.ts"

/** Encode, stringify, parse, decode: the checkpoint path. */
const roundTrip = <A, I>(schema: Schema.Schema<A, I>, value: A): A => {
  const json = JSON.stringify({ column: Schema.encodeSync(schema)(value) })
  return Schema.decodeUnknownSync(schema)((JSON.parse(json) as { column: unknown }).column)
}

const bits = (xs: Float64Array): Array<bigint> => Array.from(new BigUint64Array(xs.buffer, xs.byteOffset, xs.length))

describe("Float64Column", () => {
  it("round-trips special values bit for bit", () => {
    const nanPayload = new Float64Array(new BigUint64Array([0x7ff8_0000_dead_beefn]).buffer)[0]!
    const values = Float64Array.from([
      0,
      -0,
      Number.NaN,
      nanPayload,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      2.2250738585072009e-308, // largest subnormal
      Number.MAX_VALUE,
      Number.EPSILON,
      0.1,
      1 / 3,
      -123456.789e-200
    ])
    const back = roundTrip(Columns.Float64Column, values)
    expect(back).toBeInstanceOf(Float64Array)
    expect(back).toHaveLength(values.length)
    expect(bits(back)).toEqual(bits(values))
    expect(Object.is(back[1], -0)).toBe(true)
    expect(Number.isNaN(back[2])).toBe(true)
  })

  it("round-trips random doubles bit for bit", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(FastCheck.double(), { maxLength: 64 }), (xs) => {
        const values = Float64Array.from(xs)
        expect(bits(roundTrip(Columns.Float64Column, values))).toEqual(bits(values))
      })
    )
  })

  it("encodes only the view, not the whole underlying buffer", () => {
    const big = Float64Array.from([1, 2, 3, 4, 5])
    const view = big.subarray(1, 3)
    expect(Array.from(roundTrip(Columns.Float64Column, view))).toEqual([2, 3])
  })

  it("an empty column round-trips", () => {
    expect(roundTrip(Columns.Float64Column, new Float64Array(0))).toHaveLength(0)
  })

  it("encodes as base64 of little-endian bytes", () => {
    expect(Schema.encodeSync(Columns.Float64Column)(Float64Array.from([1]))).toBe("AAAAAAAA8D8=")
  })

  it("rejects invalid base64 and a length that is not a multiple of 8", () => {
    const decode = Schema.decodeUnknownEither(Columns.Float64Column)
    const bad = decode("!!!not base64!!!")
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) expect(bad.left.message).toContain("invalid base64")
    const short = decode(Buffer.from([1, 2, 3, 4, 5, 6, 7]).toString("base64"))
    expect(Either.isLeft(short)).toBe(true)
    if (Either.isLeft(short)) expect(short.left.message).toContain("multiple of 8")
    expect(Either.isLeft(decode(42))).toBe(true)
  })

  it("the encoder refuses values that are not Float64Arrays", () => {
    const encode = Schema.encodeUnknownEither(Columns.Float64Column)
    expect(Either.isLeft(encode(new Float32Array(2)))).toBe(true)
    expect(Either.isLeft(encode([1, 2]))).toBe(true)
  })
})

describe("Int32Column and friends", () => {
  it("Int32Column round-trips extremes", () => {
    const values = Int32Array.from([0, -1, 1, 2147483647, -2147483648, 123456789])
    const back = roundTrip(Columns.Int32Column, values)
    expect(back).toBeInstanceOf(Int32Array)
    expect(Array.from(back)).toEqual(Array.from(values))
  })

  it("Int32Column rejects a byte length that is not a multiple of 4", () => {
    const result = Schema.decodeUnknownEither(Columns.Int32Column)(Buffer.from([1, 2, 3, 4, 5, 6]).toString("base64"))
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.message).toContain("multiple of 4")
  })

  it("Float32Column and Uint8Column round-trip", () => {
    const f = Float32Array.from([0.1, -0, Infinity, Number.NaN, 3.4e38])
    const backF = roundTrip(Columns.Float32Column, f)
    expect(Array.from(new Uint32Array(backF.buffer))).toEqual(Array.from(new Uint32Array(f.buffer)))
    const u = Uint8Array.from([0, 1, 127, 128, 255])
    expect(Array.from(roundTrip(Columns.Uint8Column, u))).toEqual([0, 1, 127, 128, 255])
  })

  it("a decoded column does not alias other decoded columns", () => {
    const encoded = Schema.encodeSync(Columns.Int32Column)(Int32Array.from([1, 2, 3]))
    const a = Schema.decodeSync(Columns.Int32Column)(encoded)
    const b = Schema.decodeSync(Columns.Int32Column)(encoded)
    a[0] = 99
    expect(b[0]).toBe(1)
  })

  it("Queue round-trips items and cursor", () => {
    const q: Columns.Queue = { items: Int32Array.from([4, 2, 0, 1, 3]), cursor: 2 }
    const back = roundTrip(Columns.Queue, q)
    expect(Array.from(back.items)).toEqual([4, 2, 0, 1, 3])
    expect(back.cursor).toBe(2)
    expect(Either.isLeft(Schema.decodeUnknownEither(Columns.Queue)({ items: "", cursor: 1.5 }))).toBe(true)
  })

  it("byteSize sums byte lengths", () => {
    expect(Columns.byteSize([new Float64Array(3), new Int32Array(5), new Uint8Array(7)])).toBe(24 + 20 + 7)
    expect(Columns.byteSize([])).toBe(0)
  })
})
