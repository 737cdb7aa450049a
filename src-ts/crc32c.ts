/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of coded segments and of
 * every record a persistent store writes. Table-driven, slicing by 8. Internal.
 */

const TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[0][n] = c >>> 0
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0][n]
    for (let t = 1; t < 8; t++) {
      c = tables[0][c & 0xff] ^ (c >>> 8)
      tables[t][n] = c >>> 0
    }
  }
  return tables
})()

/** CRC-32C of `bytes` (continuing from `crc`, the CRC of the bytes before them). */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES
  let c = ~crc >>> 0
  let i = 0
  const end8 = bytes.length - (bytes.length % 8)
  for (; i < end8; i += 8) {
    const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]]
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
