/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
 * TFRecord container, and TFRecord's "masked" form of it
 * (`((crc >>> 15) | (crc << 17)) + 0xa282ead8`, tensorflow/core/lib/hash/crc32c.h).
 *
 * @since 0.1.0
 */

const table = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/**
 * The CRC-32C of `bytes` (check value: `crc32c("123456789") = 0xE3069283`).
 *
 * @since 0.1.0
 * @category checksums
 */
export const crc32c = (bytes: Uint8Array): number => {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/**
 * TFRecord's masked CRC: rotate right by 15 bits and add a constant, so that a
 * CRC stored inside checksummed data does not checksum to a fixed value.
 *
 * @since 0.1.0
 * @category checksums
 */
export const masked = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0
