//! CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`), the checksum of coded segments.
//!
//! The software path processes 8 bytes per step with tables built at compile time; on x86-64
//! with SSE4.2 (detected at run time with the `std` feature) the `crc32` instruction is used.
//! Both give identical results (tested).

/// Tables for slice-by-8: `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
/// (A `const`, so only the parts a build uses end up in it.)
const TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u32;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// CRC-32C of `bytes` (initial value and final xor `0xFFFF_FFFF`, as in iSCSI and ext4).
pub fn crc32c(bytes: &[u8]) -> u32 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("sse4.2") {
            // SAFETY: SSE4.2 was detected on this CPU just above.
            return unsafe { crc32c_sse42(bytes) };
        }
    }
    crc32c_scalar(bytes)
}

/// The portable reference implementation of [`crc32c`]. On wasm32 it runs a byte at a time
/// with one 1 KiB table (the module stays small); elsewhere 8 bytes at a time.
#[cfg(target_arch = "wasm32")]
pub fn crc32c_scalar(bytes: &[u8]) -> u32 {
    static TABLE: [u32; 256] = TABLES[0];
    let mut crc = !0u32;
    for &b in bytes {
        crc = (crc >> 8) ^ TABLE[((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
}

/// The portable reference implementation of [`crc32c`].
#[cfg(not(target_arch = "wasm32"))]
pub fn crc32c_scalar(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][c[4] as usize]
            ^ TABLES[2][c[5] as usize]
            ^ TABLES[1][c[6] as usize]
            ^ TABLES[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_sse42(bytes: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = !0u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = _mm_crc32_u64(crc, word);
    }
    let mut crc = crc as u32;
    for &b in chunks.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c_scalar(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn hardware_agrees_with_software() {
        let data: alloc::vec::Vec<u8> = (0..4099u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4090 - start] {
                let s = &data[start..start + len];
                assert_eq!(crc32c(s), crc32c_scalar(s), "start {start} len {len}");
            }
        }
    }
}
