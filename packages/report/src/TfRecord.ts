/**
 * The TFRecord container TensorBoard event files use: each record is
 * `uint64 length (LE) · uint32 masked_crc32c(length) · data · uint32 masked_crc32c(data)`.
 *
 * @since 0.1.0
 */
import { crc32c, masked } from "./Crc32c.ts"

/**
 * One framed record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const frame = (data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(12 + data.length + 4)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(data.length), true)
  view.setUint32(8, masked(crc32c(out.subarray(0, 8))), true)
  out.set(data, 12)
  view.setUint32(12 + data.length, masked(crc32c(data)), true)
  return out
}

/**
 * Splits a TFRecord stream back into records, checking both checksums.
 * Fails with a message naming the byte offset of the first bad record.
 *
 * @since 0.1.0
 * @category decoding
 */
export const unframe = (bytes: Uint8Array): Array<Uint8Array> => {
  const records: Array<Uint8Array> = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at < bytes.length) {
    if (bytes.length - at < 16) throw new Error(`TFRecord: truncated record header at byte ${at}`)
    const length = Number(view.getBigUint64(at, true))
    if (view.getUint32(at + 8, true) !== masked(crc32c(bytes.subarray(at, at + 8)))) {
      throw new Error(`TFRecord: bad length checksum at byte ${at}`)
    }
    const end = at + 12 + length
    if (end + 4 > bytes.length) throw new Error(`TFRecord: truncated record at byte ${at}`)
    const data = bytes.subarray(at + 12, end)
    if (view.getUint32(end, true) !== masked(crc32c(data))) throw new Error(`TFRecord: bad data checksum at byte ${at}`)
    records.push(data)
    at = end + 4
  }
  return records
}
