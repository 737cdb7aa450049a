//! An adaptive binary range coder, for the few symbols per frame that coded segments describe
//! frames with (their mode and step; see [`crate::coded_records`]).
//!
//! Each binary decision is coded with a [`Bit`] model: a 12-bit estimate `p` of the chance of a
//! 0, which moves 1/32 of the way toward each bit it codes. The coder keeps a 32-bit `range`
//! and renormalises a byte at a time once `range` falls below 2²⁴ (the carry-propagating scheme
//! of LZMA's coder, here with 12-bit probabilities and without its leading zero byte). Every
//! operation is integer arithmetic, so every backend writes the same bytes. The decoder reads
//! zeros past the end of its input, which is why the encoder may drop the stream's trailing
//! zero bytes; whatever the input, decoding never fails or panics (the caller validates what
//! it decodes).

use alloc::vec::Vec;

/// Bits of a probability: `p` is the chance of a 0 in units of 2⁻¹².
const PROB_BITS: u32 = 12;
/// Adaptation speed: each coded bit moves `p` by 1/32 of its distance to the bit.
const MOVE_BITS: u32 = 5;
/// Renormalise while `range` is below this.
const TOP: u32 = 1 << 24;

/// One adaptive binary decision's model. Starts at even odds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bit(u16);

impl Default for Bit {
    fn default() -> Bit {
        Bit(1 << (PROB_BITS - 1))
    }
}

impl Bit {
    /// The split of `range` for a 0 and the model moved toward `bit`.
    #[inline]
    fn split(self, range: u32) -> u32 {
        (range >> PROB_BITS) * self.0 as u32
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        if bit {
            self.0 -= self.0 >> MOVE_BITS;
        } else {
            self.0 += ((1 << PROB_BITS) - self.0) >> MOVE_BITS;
        }
    }
}

/// Writes a range-coded stream.
#[derive(Debug)]
pub struct Encoder {
    low: u64,
    range: u32,
    /// The byte held back in case a carry reaches it, and how many 0xFF bytes follow it.
    cache: u8,
    pending: u64,
    /// Whether `cache` holds a real byte yet (the first shift has none to emit).
    started: bool,
    out: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An empty stream.
    pub fn new() -> Encoder {
        Encoder {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 0,
            started: false,
            out: Vec::new(),
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            if self.started {
                self.out.push(self.cache.wrapping_add(carry));
            }
            for _ in 0..self.pending {
                self.out.push(0xFFu8.wrapping_add(carry));
            }
            self.pending = 0;
            self.started = true;
            self.cache = (self.low >> 24) as u8;
        } else {
            self.pending += 1;
        }
        self.low = (self.low << 8) & 0xFFFF_FFFF;
    }

    /// Codes `bit` with `model` and adapts the model.
    pub fn bit(&mut self, model: &mut Bit, bit: bool) {
        let split = model.split(self.range);
        if bit {
            self.low += split as u64;
            self.range -= split;
        } else {
            self.range = split;
        }
        model.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes the low `count` bits of `value` (most significant first) at even odds, without a
    /// model.
    pub fn direct(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.range >>= 1;
            if (value >> i) & 1 != 0 {
                self.low += self.range as u64;
            }
            while self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    /// Codes the low `models.len().trailing_zeros()` bits of `value`, most significant first,
    /// each with the model of the bits above it (a bit tree: `models.len()` a power of two,
    /// entry 0 unused).
    pub fn tree(&mut self, models: &mut [Bit], value: u32) {
        let bits = models.len().trailing_zeros();
        let mut node = 1usize;
        for i in (0..bits).rev() {
            let b = (value >> i) & 1 != 0;
            self.bit(&mut models[node], b);
            node = 2 * node + b as usize;
        }
    }

    /// Ends the stream and returns its bytes, without trailing zero bytes (the decoder reads
    /// zeros past the end).
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        while self.out.last() == Some(&0) {
            self.out.pop();
        }
        self.out
    }
}

/// Reads a stream written by [`Encoder`], with the same models in the same order.
#[derive(Debug)]
pub struct Decoder<'a> {
    code: u32,
    range: u32,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading `bytes` (zeros past their end).
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        let mut d = Decoder {
            code: 0,
            range: u32::MAX,
            bytes,
            at: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | d.next_byte() as u32;
        }
        d
    }

    fn next_byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next_byte() as u32;
        }
    }

    /// Decodes one bit with `model` and adapts the model.
    pub fn bit(&mut self, model: &mut Bit) -> bool {
        let split = model.split(self.range);
        // A hostile stream may hold a code at or above `range`; the arithmetic below stays in
        // range (wrapping) and only yields some bits, never a panic.
        let bit = self.code >= split;
        if bit {
            self.code = self.code.wrapping_sub(split);
            self.range -= split;
        } else {
            self.range = split;
        }
        model.update(bit);
        self.normalize();
        bit
    }

    /// Decodes `count` bits coded by [`Encoder::direct`].
    pub fn direct(&mut self, count: u32) -> u32 {
        let mut value = 0u32;
        for _ in 0..count {
            self.range >>= 1;
            let bit = self.code >= self.range;
            if bit {
                self.code = self.code.wrapping_sub(self.range);
            }
            value = (value << 1) | bit as u32;
            self.normalize();
        }
        value
    }

    /// Decodes a value coded by [`Encoder::tree`] with the same number of models.
    pub fn tree(&mut self, models: &mut [Bit]) -> u32 {
        let bits = models.len().trailing_zeros();
        let mut node = 1usize;
        for _ in 0..bits {
            let b = self.bit(&mut models[node]);
            node = 2 * node + b as usize;
        }
        (node - (1 << bits)) as u32
    }

    /// Bytes read so far, counting the zeros read past the end.
    #[cfg(test)]
    pub fn position(&self) -> usize {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::check::xorshift as rng;
    use alloc::vec;

    #[test]
    fn skewed_and_mixed_streams_round_trip() {
        for (seed, skew) in [(1u64, 2u64), (7, 50), (99, 1000), (5, 1)] {
            let mut s = seed;
            let bits: Vec<bool> = (0..5000).map(|_| rng(&mut s) % skew.max(2) == 0).collect();
            let values: Vec<u32> = (0..500).map(|_| (rng(&mut s) % 256) as u32).collect();
            let mut enc = Encoder::new();
            let (mut m, mut tree) = (Bit::default(), vec![Bit::default(); 256]);
            for &b in &bits {
                enc.bit(&mut m, b);
            }
            for &v in &values {
                enc.tree(&mut tree, v);
                enc.direct(v ^ 0x2AAA, 14);
            }
            let bytes = enc.finish();
            let mut dec = Decoder::new(&bytes);
            let (mut m, mut tree) = (Bit::default(), vec![Bit::default(); 256]);
            for &b in &bits {
                assert_eq!(dec.bit(&mut m), b);
            }
            for &v in &values {
                assert_eq!(dec.tree(&mut tree), v);
                assert_eq!(dec.direct(14), v ^ 0x2AAA);
            }
        }
    }

    #[test]
    fn a_predictable_stream_costs_little() {
        let mut enc = Encoder::new();
        let mut m = Bit::default();
        for _ in 0..8000 {
            enc.bit(&mut m, false);
        }
        // 8000 near-certain bits: the model saturates at 1 − 2⁻⁷·…, well under 0.05 bits each.
        assert!(enc.finish().len() < 50);
    }

    #[test]
    fn carries_propagate_through_runs_of_ff() {
        // Bits that are nearly always 1 on a model that expects 0 push `low` up and make long
        // runs of 0xFF bytes, which a later carry must turn into zeros.
        let mut s = 3u64;
        let bits: Vec<bool> = (0..20000).map(|_| rng(&mut s) % 3 != 0).collect();
        let mut enc = Encoder::new();
        for &b in &bits {
            let mut fresh = Bit::default();
            enc.bit(&mut fresh, b);
            enc.direct(b as u32 * 0xFFFF, 16);
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        for &b in &bits {
            let mut fresh = Bit::default();
            assert_eq!(dec.bit(&mut fresh), b);
            assert_eq!(dec.direct(16), b as u32 * 0xFFFF);
        }
    }

    #[test]
    fn any_bytes_decode_without_panicking() {
        let mut s = 11u64;
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|_| rng(&mut s) as u8).collect();
            let mut dec = Decoder::new(&bytes);
            let mut tree = vec![Bit::default(); 256];
            let mut m = Bit::default();
            for _ in 0..100 {
                dec.tree(&mut tree);
                dec.bit(&mut m);
                dec.direct(17);
            }
            assert!(dec.position() >= 4);
        }
    }
}
