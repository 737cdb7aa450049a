//! Bitstream packing of fixed-width codes with no padding between codes.
//!
//! Codes of `bits` bits (1..=8) are laid out least-significant bit first: code `k` occupies bits
//! `offset + k*bits .. offset + (k+1)*bits` of the stream, where bit `b` is bit `b % 8` of byte
//! `b / 8`. Bits past the last code in the final byte are zero. Because every code has the same
//! width, code `k` can be read without reading the codes before it.

/// Bytes needed to hold `code_count` codes of `bits` bits: `ceil(code_count * bits / 8)`.
///
/// Returns `None` on overflow.
pub fn packed_len(code_count: u64, bits: u32) -> Option<u64> {
    code_count.checked_mul(bits as u64).map(|b| b.div_ceil(8))
}

/// Writes codes one at a time into a byte slice starting at a bit offset.
///
/// Bits of `out` at and after the offset must be zero (they are OR-ed into). The writer never
/// touches bytes beyond `ceil((offset + written * bits) / 8)`.
pub struct BitWriter<'a> {
    out: &'a mut [u8],
    next_byte: usize,
    acc: u64,
    acc_bits: u32,
    bits: u32,
}

impl<'a> BitWriter<'a> {
    /// Starts writing `bits`-bit codes (1..=8) at bit `bit_offset` of `out`.
    ///
    /// # Panics
    /// If `bit_offset / 8` is past the end of `out` while `bit_offset % 8 != 0`.
    pub fn new(out: &'a mut [u8], bit_offset: u64, bits: u32) -> Self {
        debug_assert!((1..=8).contains(&bits));
        let next_byte = (bit_offset / 8) as usize;
        let acc_bits = (bit_offset % 8) as u32;
        let acc = if acc_bits > 0 {
            out[next_byte] as u64 & ((1u64 << acc_bits) - 1)
        } else {
            0
        };
        BitWriter {
            out,
            next_byte,
            acc,
            acc_bits,
            bits,
        }
    }

    /// Appends one code; only its low `bits` bits are used.
    #[inline(always)]
    pub fn put(&mut self, code: u32) {
        self.acc |= ((code & ((1u32 << self.bits) - 1)) as u64) << self.acc_bits;
        self.acc_bits += self.bits;
        if self.acc_bits >= 32 {
            let word = (self.acc as u32).to_le_bytes();
            self.out[self.next_byte..self.next_byte + 4].copy_from_slice(&word);
            self.next_byte += 4;
            self.acc >>= 32;
            self.acc_bits -= 32;
        }
    }

    /// Appends many codes (each `< 2^bits`). When the stream is at a byte boundary, whole groups
    /// of 8 codes go through `pack` (a kernel writing `bits` bytes per 8 codes); the rest, and
    /// everything at other alignments, one code at a time.
    pub fn put_codes(&mut self, codes: &[u8], pack: fn(&[u8], u32, &mut [u8])) {
        while self.acc_bits >= 8 {
            self.out[self.next_byte] = self.acc as u8;
            self.next_byte += 1;
            self.acc >>= 8;
            self.acc_bits -= 8;
        }
        let mut rest = codes;
        if self.acc_bits == 0 {
            let whole = codes.len() / 8 * 8;
            let bytes = whole / 8 * self.bits as usize;
            // The kernel may zero bytes past `bytes`: they are after the stream's end, which the
            // writer's contract requires to be zero already.
            pack(&codes[..whole], self.bits, &mut self.out[self.next_byte..]);
            self.next_byte += bytes;
            rest = &codes[whole..];
        }
        for &code in rest {
            self.put(code as u32);
        }
    }

    /// When the stream is at a byte boundary, the rest of the output from there (for kernels
    /// that write whole bytes; follow with [`skip_bytes`](Self::skip_bytes)). `None` otherwise.
    pub fn aligned_tail(&mut self) -> Option<&mut [u8]> {
        while self.acc_bits >= 8 {
            self.out[self.next_byte] = self.acc as u8;
            self.next_byte += 1;
            self.acc >>= 8;
            self.acc_bits -= 8;
        }
        if self.acc_bits == 0 {
            Some(&mut self.out[self.next_byte..])
        } else {
            None
        }
    }

    /// Moves past `n` whole bytes written through [`aligned_tail`](Self::aligned_tail).
    pub fn skip_bytes(&mut self, n: usize) {
        debug_assert_eq!(self.acc_bits, 0);
        self.next_byte += n;
    }

    /// Writes the pending partial bytes.
    pub fn finish(self) {
        let bytes = self.acc_bits.div_ceil(8) as usize;
        let word = self.acc.to_le_bytes();
        self.out[self.next_byte..self.next_byte + bytes].copy_from_slice(&word[..bytes]);
    }
}

/// Reads `bits`-bit codes one at a time from a byte slice starting at a bit offset.
pub struct BitReader<'a> {
    data: &'a [u8],
    next_byte: usize,
    acc: u64,
    acc_bits: u32,
    bits: u32,
    mask: u64,
}

impl<'a> BitReader<'a> {
    /// Starts reading `bits`-bit codes (1..=8) at bit `bit_offset` of `data`.
    ///
    /// The caller guarantees that every code it reads lies inside `data`; reading past the end
    /// yields zero bits rather than reading out of bounds.
    pub fn new(data: &'a [u8], bit_offset: u64, bits: u32) -> Self {
        debug_assert!((1..=8).contains(&bits));
        let mut reader = BitReader {
            data,
            next_byte: (bit_offset / 8) as usize,
            acc: 0,
            acc_bits: 0,
            bits,
            mask: (1u64 << bits) - 1,
        };
        let skip = (bit_offset % 8) as u32;
        if skip > 0 {
            reader.refill();
            reader.acc >>= skip;
            reader.acc_bits -= skip;
        }
        reader
    }

    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.next_byte..self.next_byte + 4) {
            let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            self.acc |= (word as u64) << self.acc_bits;
            self.next_byte += 4;
            self.acc_bits += 32;
        } else {
            let byte = self.data.get(self.next_byte).copied().unwrap_or(0);
            self.acc |= (byte as u64) << self.acc_bits;
            self.next_byte += 1;
            self.acc_bits += 8;
        }
    }

    /// Reads `codes.len()` codes. When the stream is at a byte boundary, whole groups of 8
    /// codes come from `unpack` (a kernel reading `bits` bytes per 8 codes); the rest one at a
    /// time.
    pub fn get_codes(&mut self, codes: &mut [u8], unpack: fn(&[u8], u32, &mut [u8])) {
        let mut start = 0;
        if self.acc_bits % 8 == 0 {
            let whole = codes.len() / 8 * 8;
            let bytes = whole / 8 * self.bits as usize;
            // Hand back the whole bytes still in the accumulator.
            let at = self.next_byte - (self.acc_bits / 8) as usize;
            if at + bytes <= self.data.len() {
                unpack(&self.data[at..], self.bits, &mut codes[..whole]);
                self.next_byte = at + bytes;
                self.acc = 0;
                self.acc_bits = 0;
                start = whole;
            }
        }
        for code in &mut codes[start..] {
            *code = self.get() as u8;
        }
    }

    /// When the stream is at a byte boundary, the rest of the data from there (for kernels that
    /// read whole bytes; follow with [`skip_bytes`](Self::skip_bytes)). `None` otherwise.
    pub fn aligned_tail(&mut self) -> Option<&'a [u8]> {
        if self.acc_bits % 8 != 0 {
            return None;
        }
        let at = self.next_byte - (self.acc_bits / 8) as usize;
        let data = self.data.get(at..)?;
        self.next_byte = at;
        self.acc = 0;
        self.acc_bits = 0;
        Some(data)
    }

    /// Moves past `n` whole bytes read through [`aligned_tail`](Self::aligned_tail).
    pub fn skip_bytes(&mut self, n: usize) {
        debug_assert_eq!(self.acc_bits, 0);
        self.next_byte += n;
    }

    /// Returns the next code.
    #[inline(always)]
    pub fn get(&mut self) -> u32 {
        if self.acc_bits < self.bits {
            self.refill();
        }
        let code = (self.acc & self.mask) as u32;
        self.acc >>= self.bits;
        self.acc_bits -= self.bits;
        code
    }
}

/// Packs `codes` (each `< 2^bits`) into `out` starting at bit `bit_offset`.
///
/// `out` must hold `packed_len(bit_offset + codes.len() * bits)` bytes, zero from the offset on.
pub fn pack_into(out: &mut [u8], bit_offset: u64, codes: &[u8], bits: u32) {
    let mut writer = BitWriter::new(out, bit_offset, bits);
    for &code in codes {
        writer.put(code as u32);
    }
    writer.finish();
}

/// Unpacks `codes.len()` codes of `bits` bits from `data` starting at bit `bit_offset`.
pub fn unpack_into(data: &[u8], bit_offset: u64, bits: u32, codes: &mut [u8]) {
    let mut reader = BitReader::new(data, bit_offset, bits);
    for code in codes {
        *code = reader.get() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn codes_for(len: usize, bits: u32, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state & ((1 << bits) - 1)) as u8
            })
            .collect()
    }

    /// Reference: one bit at a time.
    fn pack_reference(codes: &[u8], bits: u32, offset: u64) -> Vec<u8> {
        let total = offset + codes.len() as u64 * bits as u64;
        let mut out = vec![0u8; total.div_ceil(8) as usize];
        for (k, &code) in codes.iter().enumerate() {
            for b in 0..bits {
                if code >> b & 1 == 1 {
                    let pos = offset + k as u64 * bits as u64 + b as u64;
                    out[(pos / 8) as usize] |= 1 << (pos % 8);
                }
            }
        }
        out
    }

    #[test]
    fn exhaustive_round_trip_every_width_and_length() {
        for bits in 1..=8u32 {
            for len in 0..=257usize {
                let codes = codes_for(len, bits, (bits as u64) << 32 | len as u64);
                let needed = packed_len(len as u64, bits).unwrap() as usize;
                let mut packed = vec![0u8; needed];
                pack_into(&mut packed, 0, &codes, bits);
                assert_eq!(
                    packed,
                    pack_reference(&codes, bits, 0),
                    "bits={bits} len={len}"
                );
                let mut back = vec![0u8; len];
                unpack_into(&packed, 0, bits, &mut back);
                assert_eq!(back, codes, "bits={bits} len={len}");
            }
        }
    }

    #[test]
    fn appending_at_offsets_matches_one_stream_and_random_access() {
        for bits in 1..=8u32 {
            for frame_len in [1usize, 3, 7, 8, 13, 64] {
                let frames: Vec<Vec<u8>> = (0..5)
                    .map(|f| codes_for(frame_len, bits, f * 977 + bits as u64))
                    .collect();
                let all: Vec<u8> = frames.concat();
                let total = packed_len(all.len() as u64, bits).unwrap() as usize;
                let mut stream = Vec::new();
                for (f, frame) in frames.iter().enumerate() {
                    let offset = (f * frame_len) as u64 * bits as u64;
                    let end = packed_len(((f + 1) * frame_len) as u64, bits).unwrap() as usize;
                    stream.resize(end, 0);
                    pack_into(&mut stream, offset, frame, bits);
                }
                assert_eq!(stream.len(), total);
                assert_eq!(stream, pack_reference(&all, bits, 0));
                for (f, frame) in frames.iter().enumerate() {
                    let mut back = vec![0u8; frame_len];
                    let offset = (f * frame_len) as u64 * bits as u64;
                    unpack_into(&stream, offset, bits, &mut back);
                    assert_eq!(&back, frame);
                }
            }
        }
    }

    #[test]
    fn unused_trailing_bits_are_zero() {
        for bits in 1..=8u32 {
            let codes = vec![((1u16 << bits) - 1) as u8; 3];
            let mut packed = vec![0u8; packed_len(3, bits).unwrap() as usize];
            pack_into(&mut packed, 0, &codes, bits);
            let used = 3 * bits;
            let last = *packed.last().unwrap();
            if used % 8 != 0 {
                assert_eq!(last >> (used % 8), 0, "bits={bits}");
            }
        }
    }

    #[test]
    fn packed_len_formula() {
        assert_eq!(packed_len(512, 3), Some(192));
        assert_eq!(packed_len(512 * 100, 5), Some(32_000));
        assert_eq!(packed_len(3, 7), Some(3));
        assert_eq!(packed_len(0, 8), Some(0));
        assert_eq!(packed_len(u64::MAX, 8), None);
    }
}
