//! A static-model rANS entropy coder with one or four interleaved states.
//!
//! Symbols are small integers `0..symbol_count` (at most [`MAX_SYMBOLS`]). Their probabilities
//! are frequencies out of [`SCALE`] = 2¹² ([`FreqTable`]), stored with the data. Each of the
//! [`LANES`] states is a 32-bit rANS coder with 16-bit renormalisation (state in `[2¹⁶, 2³²)`);
//! symbol `i` of a stream belongs to lane `i % LANES`, and all lanes share one word stream, so a
//! decoder keeps four independent dependency chains busy.
//!
//! A stream is written as the final encoder states (`u32` LE, lane 0 first) followed by the
//! 16-bit words (LE) in the order the decoder reads them. A short stream may use a single lane,
//! which saves the twelve bytes of three more final states. The encoder starts every lane at
//! `2¹⁶`; a decoder that does not end with every lane back at `2¹⁶` and every word read has been
//! handed a corrupt stream.

use crate::error::{Error, SegmentField};
use alloc::vec::Vec;

/// Bits of probability precision.
pub const SCALE_BITS: u32 = 12;
/// Sum of the frequencies of a table.
pub const SCALE: u32 = 1 << SCALE_BITS;
/// Largest alphabet a table may describe.
pub const MAX_SYMBOLS: usize = SCALE as usize;
/// Interleaved states of a stream (or 1, for short streams of version-4 coded segments).
pub const LANES: usize = 4;
/// Lower end of the normalised state interval (also every lane's initial state).
const LOW: u32 = 1 << 16;
/// Tables whose symbols cost at least this many bits on average (in eighths) are coded and
/// decoded without a branch on renormalisation: a lane then needs a word every few symbols, at
/// random, and mispredicted branches cost more than the extra arithmetic. Below it (mostly
/// zeros), the branch is predictable and cheaper. Either way the bytes are the same.
const BRANCHLESS_MIN_EIGHTH_BITS: u32 = 20;

/// Whether symbols coded with `freqs` cost at least [`BRANCHLESS_MIN_EIGHTH_BITS`] on average,
/// estimated with whole-bit logarithms (`12 − floor(log2 f)` bits for frequency `f`).
fn renormalises_often(freqs: &[u16]) -> bool {
    let eighth_bits: u64 = freqs
        .iter()
        .filter(|&&f| f > 0)
        .map(|&f| f as u64 * 8 * (SCALE_BITS - (31 - (f as u32).leading_zeros())) as u64)
        .sum();
    eighth_bits >= BRANCHLESS_MIN_EIGHTH_BITS as u64 * SCALE as u64
}
/// `log2(x)` in units of 1/256 bit, rounded down (`x ≥ 1`): integer arithmetic only, so every
/// backend estimates alike.
pub fn log2_q8(x: u32) -> u32 {
    let whole = 31 - x.max(1).leading_zeros();
    // The mantissa in [2^31, 2^32): squaring it doubles its logarithm; each overflow past 2
    // is one more fractional bit. (Its square stays below 2^64.)
    let mut m = (x.max(1) as u64) << (31 - whole);
    let mut frac = 0u32;
    for bit in (0..8).rev() {
        m = (m * m) >> 31;
        if m >= 1 << 32 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    whole * 256 + frac
}

/// What a symbol of frequency `freq` (1..=4096) costs, in 1/256 bit: `256·(12 − log2 freq)`.
pub fn cost_q8(freq: u32) -> u32 {
    SCALE_BITS * 256 - log2_q8(freq)
}

/// Bytes a four-lane stream needs beyond its words: the final states.
pub const STATE_BYTES: usize = 4 * LANES;

fn corrupt(field: SegmentField) -> Error {
    Error::CorruptSegment { field }
}

/// Symbol frequencies summing to [`SCALE`] (or an empty table for an empty alphabet).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FreqTable {
    freqs: Vec<u16>,
    starts: Vec<u16>,
}

impl FreqTable {
    /// Frequencies proportional to `counts`, every counted symbol at least 1, summing to
    /// [`SCALE`]; trailing zero counts are dropped. Deterministic integer arithmetic.
    ///
    /// `counts.len()` must not exceed [`MAX_SYMBOLS`] (symbols beyond it are ignored).
    pub fn from_counts(counts: &[u32]) -> FreqTable {
        let counts = &counts[..counts.len().min(MAX_SYMBOLS)];
        let used = counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
        let counts = &counts[..used];
        let total: u64 = counts.iter().map(|&c| c as u64).sum();
        if total == 0 {
            return FreqTable::default();
        }
        let scale = SCALE as u64;
        let mut freqs: Vec<u16> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0
                } else {
                    ((c as u64 * scale * 2 + total) / (2 * total)).clamp(1, scale) as u16
                }
            })
            .collect();
        let mut sum: i64 = freqs.iter().map(|&f| f as i64).sum();
        // The most frequent symbol absorbs the rounding difference when it can.
        let top = (0..used)
            .max_by_key(|&i| (counts[i], core::cmp::Reverse(i)))
            .unwrap_or(0);
        let diff = SCALE as i64 - sum;
        if diff > 0 || (freqs[top] as i64 + diff) >= 1 {
            freqs[top] = (freqs[top] as i64 + diff) as u16;
            sum = SCALE as i64;
        }
        // Otherwise take from the largest frequency, at most half of it at a time, until the
        // sum is right (every counted symbol keeps at least 1: there are at most SCALE of them).
        while sum > SCALE as i64 {
            let (big, &f) = freqs
                .iter()
                .enumerate()
                .max_by_key(|&(i, &f)| (f, core::cmp::Reverse(i)))
                .unwrap_or((0, &1));
            let take = (sum - SCALE as i64).min((f as i64 / 2).max(1));
            freqs[big] -= take as u16;
            sum -= take;
        }
        FreqTable::from_freqs(freqs).unwrap_or_default()
    }

    /// A table from explicit frequencies, which must sum to [`SCALE`] (or be empty) and number
    /// at most [`MAX_SYMBOLS`]. Errors: [`Error::CorruptSegment`] (`freq_table`).
    pub fn from_freqs(freqs: Vec<u16>) -> Result<FreqTable, Error> {
        if freqs.len() > MAX_SYMBOLS {
            return Err(corrupt(SegmentField::FreqTable));
        }
        let sum: u32 = freqs.iter().map(|&f| f as u32).sum();
        if !(freqs.is_empty() || sum == SCALE) {
            return Err(corrupt(SegmentField::FreqTable));
        }
        let mut starts = Vec::with_capacity(freqs.len());
        let mut at = 0u32;
        for &f in &freqs {
            // `at` < SCALE here whenever f > 0, so it fits u16; zero-frequency symbols may sit
            // at SCALE and are never coded.
            starts.push(at.min(u16::MAX as u32) as u16);
            at += f as u32;
        }
        Ok(FreqTable { freqs, starts })
    }

    /// The same table over `symbols` symbols when that is more than it describes (the extra
    /// ones with frequency 0), so that tables of one segment share a symbol count.
    pub fn padded(&self, symbols: usize) -> FreqTable {
        let mut t = self.clone();
        while t.freqs.len() < symbols.min(MAX_SYMBOLS) {
            t.freqs.push(0);
            t.starts.push(SCALE.min(u16::MAX as u32) as u16);
        }
        t
    }

    /// Number of symbols described (the highest coded symbol + 1).
    pub fn symbol_count(&self) -> usize {
        self.freqs.len()
    }

    /// Frequency of `symbol` (0 if absent or beyond the table).
    pub fn freq(&self, symbol: usize) -> u32 {
        self.freqs.get(symbol).map_or(0, |&f| f as u32)
    }

    /// Appends the frequencies as LEB128 varints (1 or 2 bytes each).
    pub fn write(&self, out: &mut Vec<u8>) {
        for &f in &self.freqs {
            let f = f as u32;
            if f < 0x80 {
                out.push(f as u8);
            } else {
                out.push((f & 0x7f) as u8 | 0x80);
                out.push((f >> 7) as u8);
            }
        }
    }

    /// Length in bytes of [`write`](Self::write)'s output.
    pub fn written_len(&self) -> usize {
        self.freqs
            .iter()
            .map(|&f| if f < 0x80 { 1 } else { 2 })
            .sum()
    }

    /// Reads `symbol_count` varint frequencies from the start of `bytes`; returns the table and
    /// the bytes read. Errors: [`Error::CorruptSegment`] (`freq_table`) for a bad varint, a
    /// frequency above [`SCALE`], a wrong sum, or bytes that end early.
    pub fn read(bytes: &[u8], symbol_count: usize) -> Result<(FreqTable, usize), Error> {
        if symbol_count > MAX_SYMBOLS {
            return Err(corrupt(SegmentField::FreqTable));
        }
        let mut freqs = Vec::with_capacity(symbol_count);
        let mut at = 0;
        for _ in 0..symbol_count {
            let b0 = *bytes.get(at).ok_or(corrupt(SegmentField::FreqTable))? as u32;
            at += 1;
            let f = if b0 < 0x80 {
                b0
            } else {
                let b1 = *bytes.get(at).ok_or(corrupt(SegmentField::FreqTable))? as u32;
                at += 1;
                // Two-byte form only for values ≥ 0x80 (one encoding per value).
                if b1 == 0 || b1 >= 0x80 {
                    return Err(corrupt(SegmentField::FreqTable));
                }
                (b0 & 0x7f) | (b1 << 7)
            };
            if f > SCALE {
                return Err(corrupt(SegmentField::FreqTable));
            }
            freqs.push(f as u16);
        }
        Ok((FreqTable::from_freqs(freqs)?, at))
    }
}

/// Upper bound on the bytes [`encode`] writes for `symbols` symbols.
pub fn max_encoded_len(symbols: usize) -> usize {
    // Each symbol adds at most SCALE_BITS bits to its lane; each lane may round up by a word
    // and emit one more on its first renormalisation.
    STATE_BYTES + 2 * ((symbols * SCALE_BITS as usize).div_ceil(16) + 2 * LANES)
}

/// What the encoder needs per symbol, in 16 bytes: the renormalisation limit, a reciprocal for
/// the division by the frequency, and the constants of the state update.
#[derive(Clone, Copy)]
struct EncodeSymbol {
    /// `freq << (32 − SCALE_BITS)` minus one: a state above it must shed 16 bits first (0 for
    /// a symbol the table lacks).
    limit: u32,
    /// The low 32 bits of the reciprocal `m = ceil(2^(32+ℓ) / freq)` (see
    /// [`narrow_quotient`]).
    magic: u32,
    /// `start | (SCALE − freq) << 16`: the symbol's cumulative start and the frequency's
    /// complement (`SCALE << 16` for a symbol the table lacks).
    start_complement: u32,
    /// `ℓ = ceil(log2 freq)`.
    shift: u32,
}

/// The low 32 bits of `m = ceil(2^(32+ℓ) / freq)` and `ℓ = ceil(log2 freq)` (`m` always has
/// bit 32 set and no higher one).
fn narrow_magic(freq: u32) -> (u32, u32) {
    let shift = 32 - (freq - 1).leading_zeros();
    let m = (1u64 << (32 + shift)).div_ceil(freq as u64);
    (m as u32, shift)
}

/// `x / freq` from [`narrow_magic`] in 64-bit arithmetic only: `floor(x · m / 2^(32+ℓ))` is
/// `x / freq` for every `x < 2^32` (Granlund and Montgomery's round-up method: `m · freq −
/// 2^(32+ℓ) < freq ≤ 2^ℓ`), and with `m = 2^32 + low`, `floor(x · m / 2^32) = x + floor(x · low
/// / 2^32)`, which fits in 64 bits. One 64-bit multiply, an add and a shift: cheaper on every
/// target than a 128-bit product or a division, and the same quotient everywhere.
#[inline(always)]
fn narrow_quotient(x: u32, low: u32, shift: u32) -> u32 {
    let high = (x as u64 * low as u64) >> 32;
    ((x as u64 + high) >> shift) as u32
}

impl EncodeSymbol {
    fn new(freq: u32, start: u32) -> EncodeSymbol {
        if freq == 0 {
            return EncodeSymbol {
                limit: 0,
                magic: 0,
                start_complement: SCALE << 16,
                shift: 0,
            };
        }
        let (magic, shift) = narrow_magic(freq);
        EncodeSymbol {
            limit: ((freq as u64) << (32 - SCALE_BITS)).wrapping_sub(1) as u32,
            magic,
            start_complement: start | (SCALE - freq) << 16,
            shift,
        }
    }

    /// Whether the table has this symbol (a non-zero frequency).
    fn is_present(&self) -> bool {
        self.start_complement >> 16 != SCALE
    }

    /// `x / freq` without a division ([`narrow_quotient`]; exact, tested for every frequency).
    #[inline(always)]
    fn quotient(&self, x: u32) -> u32 {
        narrow_quotient(x, self.magic, self.shift)
    }

    /// The state after coding this symbol into `x`, once `x` is below the limit.
    #[inline(always)]
    fn update(&self, x: u32) -> u32 {
        let q = self.quotient(x);
        // (q << SCALE_BITS) + (x − q·freq) + start, which stays below 2^32.
        x + (self.start_complement & 0xFFFF) + q * (self.start_complement >> 16)
    }

    /// Codes one symbol into state `x`, pushing a word to `words[..*at]` from the back when
    /// the state must shrink first.
    #[inline(always)]
    fn put(&self, x: &mut u32, words: &mut [u16], at: &mut usize) {
        if *x > self.limit {
            *at -= 1;
            words[*at] = *x as u16;
            *x >>= 16;
        }
        *x = self.update(*x);
    }

    /// [`put`](Self::put) without a branch, for symbols that shrink the state often: the low
    /// half of `x` is always written to the slot `*at − 1` of `words` and kept only when the
    /// state shrinks.
    ///
    /// # Safety
    /// `words` points to at least `*at` writable `u16`s and `*at ≥ 1`.
    #[inline(always)]
    unsafe fn put_branchless(&self, x: &mut u32, words: *mut u16, at: &mut usize) {
        let shrink = *x > self.limit;
        // SAFETY: `*at − 1` is below the caller's guarantee.
        unsafe { words.add(*at - 1).write(*x as u16) };
        *at -= shrink as usize;
        *x = self.update(if shrink { *x >> 16 } else { *x });
    }
}

/// The encoder's form of a [`FreqTable`] (reciprocals of the frequencies): built once per
/// table, used for every stream coded with it.
pub struct EncodeTable {
    coder: Vec<EncodeSymbol>,
    branchless: bool,
}

impl EncodeTable {
    /// Prepares tables of `S` symbols each for [`encode`] of symbols `c·S + s`: symbol `s`
    /// coded with `tables[c]` (the contexts of version-4 coded segments).
    pub fn with_contexts(tables: &[&FreqTable]) -> EncodeTable {
        let mut coder = Vec::with_capacity(tables.iter().map(|t| t.freqs.len()).sum());
        let mut branchless = false;
        for t in tables {
            for (&f, &s) in t.freqs.iter().zip(&t.starts) {
                coder.push(EncodeSymbol::new(f as u32, s as u32));
            }
            branchless |= renormalises_often(&t.freqs);
        }
        EncodeTable { coder, branchless }
    }

    /// Prepares `table` for [`encode`].
    pub fn new(table: &FreqTable) -> EncodeTable {
        EncodeTable::with_contexts(&[table])
    }
}

/// Appends the rANS stream of `symbols` (each one that `table` was made from a non-zero
/// frequency for) to `out`, on `lanes` interleaved states (1 or [`LANES`]). `words` is scratch
/// space, kept between calls.
pub fn encode(
    symbols: &[u16],
    table: &EncodeTable,
    lanes: usize,
    words: &mut Vec<u16>,
    out: &mut Vec<u8>,
) {
    debug_assert!(lanes == 1 || lanes == LANES);
    if lanes == 1 {
        encode_one_lane(symbols, table, words, out)
    } else if table.branchless {
        encode_with::<true>(symbols, table, words, out)
    } else {
        encode_with::<false>(symbols, table, words, out)
    }
}

/// [`encode`] on a single state.
fn encode_one_lane(symbols: &[u16], table: &EncodeTable, words: &mut Vec<u16>, out: &mut Vec<u8>) {
    let coder = &table.coder[..];
    let capacity = (symbols.len() * SCALE_BITS as usize).div_ceil(16) + 2;
    if words.len() < capacity {
        words.resize(capacity, 0);
    }
    let mut at = capacity;
    let mut x = LOW;
    for &s in symbols.iter().rev() {
        coder[s as usize].put(&mut x, words, &mut at);
    }
    out.extend_from_slice(&x.to_le_bytes());
    write_words(&words[at..capacity], out);
}

fn write_words(used: &[u16], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 2 * used.len(), 0);
    for (dst, w) in out[start..].chunks_exact_mut(2).zip(used) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
}

fn encode_with<const BRANCHLESS: bool>(
    symbols: &[u16],
    table: &EncodeTable,
    words: &mut Vec<u16>,
    out: &mut Vec<u8>,
) {
    let coder = &table.coder[..];
    debug_assert!(symbols
        .iter()
        .all(|&s| coder.get(s as usize).is_some_and(|c| c.is_present())));
    // On the branch-free path (symbols of a few bits each, where the loop is bound by its
    // instruction count), the symbols are checked against the table once here rather than one
    // by one in the loop.
    if BRANCHLESS {
        let largest = symbols.iter().copied().max().unwrap_or(0) as usize;
        assert!(
            symbols.is_empty() || largest < coder.len(),
            "symbol outside the table"
        );
    }
    // A put pushes at most one word, so one slot per symbol plus one spare slot in front for a
    // branch-free put is always room enough. Slots are written before they are read, so the
    // scratch is grown but never cleared.
    let capacity = symbols.len() + 1;
    if words.len() < capacity {
        words.resize(capacity, 0);
    }
    let mut at = capacity;
    let state = if BRANCHLESS {
        let base = words.as_mut_ptr();
        // SAFETY: every symbol is at most `largest`, checked above to be below `coder.len()`;
        // each of the `symbols.len()` puts moves `at` down by at most one from `capacity =
        // symbols.len() + 1 ≤ words.len()`, so `at ≥ 1` before every put.
        code_lanes(symbols, |s, x| unsafe {
            coder
                .get_unchecked(s as usize)
                .put_branchless(x, base, &mut at)
        })
    } else {
        code_lanes(symbols, |s, x| coder[s as usize].put(x, words, &mut at))
    };
    for x in state {
        out.extend_from_slice(&x.to_le_bytes());
    }
    write_words(&words[at..capacity], out);
}

/// Runs `put(symbol, state)` over `symbols` last to first on [`LANES`] states starting at
/// [`LOW`], symbol `i` on lane `i % LANES`, and returns the final states.
#[inline(always)]
fn code_lanes(symbols: &[u16], mut put: impl FnMut(u16, &mut u32)) -> [u32; LANES] {
    let whole = symbols.len() - symbols.len() % LANES;
    let mut state = [LOW; LANES];
    for (i, &s) in symbols[whole..].iter().enumerate().rev() {
        put(s, &mut state[i]);
    }
    let [mut x0, mut x1, mut x2, mut x3] = state;
    for quad in symbols[..whole].chunks_exact(LANES).rev() {
        put(quad[3], &mut x3);
        put(quad[2], &mut x2);
        put(quad[1], &mut x1);
        put(quad[0], &mut x0);
    }
    [x0, x1, x2, x3]
}

/// A decoding table for one [`FreqTable`]: one entry per slot of the probability scale.
pub struct DecodeTable {
    /// `freq << 16 | (slot − start)` for the symbol owning each slot.
    step: Vec<u32>,
    /// The symbol owning each slot.
    symbol: Vec<u16>,
    /// Refill lanes without a branch (see [`BRANCHLESS_MIN_EIGHTH_BITS`]).
    branchless: bool,
}

impl DecodeTable {
    /// Builds the slot tables of several tables back to back (`SCALE` entries each), for
    /// [`Decoder::decode_with_contexts`] (one table: for [`Decoder::decode`]).
    pub fn with_contexts(tables: &[&FreqTable]) -> DecodeTable {
        let slots = tables.iter().filter(|t| !t.freqs.is_empty()).count() * SCALE as usize;
        let mut step = alloc::vec![0u32; slots];
        let mut symbol = alloc::vec![0u16; slots];
        // Each table's frequencies add up to SCALE (or it is empty), so the slots of its
        // symbols tile its SCALE entries exactly.
        let mut at = 0;
        for table in tables {
            for (s, &f) in table.freqs.iter().enumerate() {
                let f = f as usize;
                symbol[at..at + f].fill(s as u16);
                for (k, e) in step[at..at + f].iter_mut().enumerate() {
                    *e = (f as u32) << 16 | k as u32;
                }
                at += f;
            }
        }
        DecodeTable {
            step,
            symbol,
            branchless: tables.iter().any(|t| renormalises_often(&t.freqs)),
        }
    }

    /// Builds the slot tables (`SCALE` entries; empty for an empty table).
    pub fn new(table: &FreqTable) -> DecodeTable {
        DecodeTable::with_contexts(&[table])
    }
}

/// Reads one rANS stream: yields symbols in order, checks the stream's end.
pub struct Decoder<'a> {
    state: [u32; LANES],
    lanes: usize,
    words: &'a [u8],
    at: usize,
    lane: usize,
    table: &'a DecodeTable,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `stream` (`lanes` states, then words) with `table`; `lanes` is 1 or
    /// [`LANES`].
    ///
    /// Errors: [`Error::CorruptSegment`] (`stream`) if the states are missing or out of range.
    pub fn new(
        stream: &'a [u8],
        table: &'a DecodeTable,
        lanes: usize,
    ) -> Result<Decoder<'a>, Error> {
        debug_assert!(lanes == 1 || lanes == LANES);
        let state_bytes = 4 * lanes;
        if stream.len() < state_bytes || (stream.len() - state_bytes) % 2 != 0 {
            return Err(corrupt(SegmentField::Stream));
        }
        // Unused lanes of a one-lane stream sit at the final state, so `finish` sees them done.
        let mut state = [LOW; LANES];
        for (l, x) in state[..lanes].iter_mut().enumerate() {
            let b = &stream[4 * l..4 * l + 4];
            *x = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if *x < LOW {
                return Err(corrupt(SegmentField::Stream));
            }
        }
        Ok(Decoder {
            state,
            lanes,
            words: &stream[state_bytes..],
            at: 0,
            lane: 0,
            table,
        })
    }

    /// Decodes `out.len()` symbols. Errors: [`Error::CorruptSegment`] (`stream`) when the words
    /// run out or the table is empty.
    pub fn decode(&mut self, out: &mut [u16]) -> Result<(), Error> {
        self.run::<false>(out, &[])
    }

    /// Decodes `out.len()` symbols, symbol `i` with the table of context `contexts[i]` of a
    /// [`DecodeTable::with_contexts`] (a context past its last table uses the last). Errors: as
    /// [`decode`](Self::decode).
    pub fn decode_with_contexts(&mut self, out: &mut [u16], contexts: &[u8]) -> Result<(), Error> {
        if contexts.len() < out.len() {
            return Err(corrupt(SegmentField::Stream));
        }
        self.run::<true>(out, contexts)
    }

    fn run<const CTX: bool>(&mut self, out: &mut [u16], contexts: &[u8]) -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        if self.table.step.is_empty() {
            return Err(corrupt(SegmentField::Stream));
        }
        let tables = if CTX {
            self.table.step.len() / SCALE as usize
        } else {
            1
        };
        let step = &self.table.step[..tables * SCALE as usize];
        let symbol = &self.table.symbol[..tables * SCALE as usize];
        let last_context = tables.saturating_sub(1);
        let words = self.words;
        let mut at = self.at;
        let mut lane = self.lane;
        let mut state = self.state;
        let mask = SCALE - 1;
        // The slot of state `x` for symbol `i`: in its context's table.
        let slot_of = |x: u32, i: usize| -> usize {
            let base = if CTX {
                (contexts[i] as usize).min(last_context) << SCALE_BITS
            } else {
                0
            };
            base + (x & mask) as usize
        };
        // One symbol on one lane, reading a word when the state falls below the interval.
        let one = |x: &mut u32, o: &mut u16, i: usize, at: &mut usize| -> Result<(), Error> {
            let slot = slot_of(*x, i);
            *o = symbol[slot];
            let e = step[slot];
            *x = (e >> 16) * (*x >> SCALE_BITS) + (e & 0xffff);
            if *x < LOW {
                let w = words
                    .get(*at..*at + 2)
                    .ok_or(corrupt(SegmentField::Stream))?;
                *x = (*x << 16) | u16::from_le_bytes([w[0], w[1]]) as u32;
                *at += 2;
            }
            Ok(())
        };
        if self.lanes == 1 {
            let x = &mut self.state[0];
            for (i, o) in out.iter_mut().enumerate() {
                one(x, o, i, &mut at)?;
            }
            self.at = at;
            return Ok(());
        }
        let mut i = 0usize;
        // Bring the lane cursor back to 0 so the main loop can run four at a time.
        while lane != 0 && i < out.len() {
            one(&mut state[lane], &mut out[i], i, &mut at)?;
            lane = (lane + 1) % LANES;
            i += 1;
        }
        while i + LANES <= out.len() {
            for l in 0..LANES {
                let x = &mut state[l];
                let slot = slot_of(*x, i + l);
                out[i + l] = symbol[slot];
                let e = step[slot];
                *x = (e >> 16) * (*x >> SCALE_BITS) + (e & 0xffff);
            }
            let ahead = if self.table.branchless {
                words.get(at..at + 2 * LANES)
            } else {
                None
            };
            if let Some(ahead) = ahead {
                // Enough words for every lane: refill branch-free (whether a lane needs a word
                // is data-dependent and unpredictable), reading each lane's candidate word.
                let mut used = 0usize;
                for x in state.iter_mut() {
                    let need = (*x < LOW) as u32;
                    let w = u16::from_le_bytes([ahead[used], ahead[used + 1]]) as u32;
                    // Shift in the word when needed, as arithmetic rather than a select, which
                    // compilers may turn back into a branch.
                    *x = (*x << (16 * need)) | (w & 0u32.wrapping_sub(need));
                    used += 2 * need as usize;
                }
                at += used;
            } else {
                for x in state.iter_mut() {
                    if *x < LOW {
                        let w = words.get(at..at + 2).ok_or(corrupt(SegmentField::Stream))?;
                        *x = (*x << 16) | u16::from_le_bytes([w[0], w[1]]) as u32;
                        at += 2;
                    }
                }
            }
            i += LANES;
        }
        while i < out.len() {
            one(&mut state[lane], &mut out[i], i, &mut at)?;
            lane = (lane + 1) % LANES;
            i += 1;
        }
        self.state = state;
        self.at = at;
        self.lane = lane;
        Ok(())
    }

    /// Checks that the stream ended where the encoder began: every lane back at its initial
    /// state and every word read. Errors: [`Error::CorruptSegment`] (`stream`).
    pub fn finish(&self) -> Result<(), Error> {
        if self.state.iter().all(|&x| x == LOW) && self.at == self.words.len() {
            Ok(())
        } else {
            Err(corrupt(SegmentField::Stream))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(symbols: &[u16], table: &FreqTable) -> Vec<u8> {
        roundtrip_on(symbols, table, 1);
        roundtrip_on(symbols, table, LANES)
    }

    fn roundtrip_on(symbols: &[u16], table: &FreqTable, lanes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            symbols,
            &EncodeTable::new(table),
            lanes,
            &mut Vec::new(),
            &mut out,
        );
        assert!(out.len() <= max_encoded_len(symbols.len()));
        let dt = DecodeTable::new(table);
        let mut dec = Decoder::new(&out, &dt, lanes).unwrap();
        let mut got = alloc::vec![0u16; symbols.len()];
        // Decode in uneven pieces to exercise the lane cursor.
        let mut at = 0;
        let mut piece = 1;
        while at < got.len() {
            let end = (at + piece).min(got.len());
            dec.decode(&mut got[at..end]).unwrap();
            at = end;
            piece = piece * 3 % 11 + 1;
        }
        dec.finish().unwrap();
        assert_eq!(got, symbols);
        out
    }

    fn counts_of(symbols: &[u16]) -> Vec<u32> {
        let mut c = alloc::vec![0u32; MAX_SYMBOLS];
        for &s in symbols {
            c[s as usize] += 1;
        }
        c
    }

    #[test]
    fn roundtrips_skewed_and_flat_alphabets() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for (alphabet, len) in [
            (1u32, 1000usize),
            (2, 7),
            (3, 4099),
            (40, 1),
            (255, 3000),
            (4096, 9000),
        ] {
            let symbols: Vec<u16> = (0..len)
                .map(|_| {
                    let r = next() % alphabet;
                    // Geometric-ish skew.
                    (r * r / alphabet.max(1)) as u16
                })
                .collect();
            let table = FreqTable::from_counts(&counts_of(&symbols));
            roundtrip(&symbols, &table);
        }
    }

    #[test]
    fn two_context_streams_round_trip() {
        let syms: Vec<u16> = (0..5000u32).map(|i| (i * 7 % 13) as u16).collect();
        let contexts: Vec<u8> = (0..5000u32).map(|i| (i % 3 == 0) as u8).collect();
        let mut counts = [alloc::vec![0u32; 13], alloc::vec![0u32; 13]];
        for (&s, &c) in syms.iter().zip(&contexts) {
            counts[c as usize][s as usize] += 1;
        }
        let t0 = FreqTable::from_counts(&counts[0]).padded(13);
        let t1 = FreqTable::from_counts(&counts[1]).padded(13);
        let combined: Vec<u16> = syms
            .iter()
            .zip(&contexts)
            .map(|(&s, &c)| c as u16 * 13 + s)
            .collect();
        for lanes in [1, LANES] {
            let mut bytes = Vec::new();
            let coder = EncodeTable::with_contexts(&[&t0, &t1]);
            encode(&combined, &coder, lanes, &mut Vec::new(), &mut bytes);
            let dt = DecodeTable::with_contexts(&[&t0, &t1]);
            let mut dec = Decoder::new(&bytes, &dt, lanes).unwrap();
            let mut got = alloc::vec![0u16; syms.len()];
            // In uneven pieces, so the lane cursor moves across calls.
            let mut at = 0;
            for piece in [1usize, 7, 4, 333, 4000, 655] {
                dec.decode_with_contexts(&mut got[at..at + piece], &contexts[at..at + piece])
                    .unwrap();
                at += piece;
            }
            dec.finish().unwrap();
            assert_eq!(got, syms);
            // A one-table decoder reads every context with its one table: as `decode` does.
            let single = DecodeTable::new(&t0);
            let (mut a, mut b) = (alloc::vec![0u16; 64], alloc::vec![0u16; 64]);
            let ra = Decoder::new(&bytes, &single, lanes)
                .unwrap()
                .decode_with_contexts(&mut a, &contexts[..64]);
            let rb = Decoder::new(&bytes, &single, lanes).unwrap().decode(&mut b);
            assert_eq!((ra.is_ok(), a), (rb.is_ok(), b));
        }
    }

    #[test]
    fn fixed_point_logarithm_is_within_a_256th() {
        for x in 1..=70_000u32 {
            let exact = (x as f64).log2() * 256.0;
            let got = log2_q8(x) as f64;
            assert!(
                got <= exact + 1e-9 && exact - got < 1.0 + 1e-9,
                "x {x}: {got} vs {exact}"
            );
        }
        assert_eq!(cost_q8(SCALE), 0);
        assert_eq!(cost_q8(1), 12 * 256);
    }

    #[test]
    fn reciprocal_division_is_exact() {
        for freq in 1..=SCALE {
            let e = EncodeSymbol::new(freq, 0);
            for x in [
                0u32,
                1,
                freq - 1,
                freq,
                freq + 1,
                65535,
                1 << 20,
                u32::MAX / 3,
                u32::MAX - 1,
                u32::MAX,
            ]
            .into_iter()
            .chain((0..64).map(|k| (freq << 20).wrapping_sub(1).wrapping_sub(k * 7919)))
            .chain((0..256u32).map(|k| k.wrapping_mul(0x9E37_79B9).rotate_left(k % 32)))
            {
                assert_eq!(e.quotient(x), x / freq, "x {x} freq {freq}");
                let (low, shift) = narrow_magic(freq);
                let narrow = narrow_quotient(x, low, shift);
                assert_eq!(narrow, x / freq, "narrow: x {x} freq {freq}");
            }
        }
    }

    #[test]
    fn near_certain_symbol_costs_almost_nothing() {
        let mut symbols = alloc::vec![0u16; 100_000];
        symbols[500] = 1;
        let table = FreqTable::from_counts(&counts_of(&symbols));
        let bytes = roundtrip(&symbols, &table);
        assert!(bytes.len() < STATE_BYTES + 64, "{} bytes", bytes.len());
    }

    #[test]
    fn single_symbol_table_is_free() {
        let symbols = alloc::vec![3u16; 777];
        let table = FreqTable::from_counts(&counts_of(&symbols));
        assert_eq!(table.freq(3), SCALE);
        assert_eq!(roundtrip(&symbols, &table).len(), STATE_BYTES);
    }

    #[test]
    fn normalisation_sums_to_scale_for_many_rare_symbols() {
        let mut counts = alloc::vec![1u32; MAX_SYMBOLS];
        counts[0] = 1_000_000;
        let table = FreqTable::from_counts(&counts);
        let sum: u32 = (0..table.symbol_count()).map(|s| table.freq(s)).sum();
        assert_eq!(sum, SCALE);
        assert!((0..MAX_SYMBOLS).all(|s| table.freq(s) >= 1));
    }

    #[test]
    fn table_serialisation_roundtrips_and_rejects_bad_tables() {
        let mut counts = alloc::vec![0u32; 300];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = (i as u32 * 7919) % 1000;
        }
        let table = FreqTable::from_counts(&counts);
        let mut bytes = Vec::new();
        table.write(&mut bytes);
        assert_eq!(bytes.len(), table.written_len());
        let (back, used) = FreqTable::read(&bytes, table.symbol_count()).unwrap();
        assert_eq!((back, used), (table.clone(), bytes.len()));
        // Truncated, wrong count, over-long varint.
        assert!(FreqTable::read(&bytes[..bytes.len() - 1], table.symbol_count()).is_err());
        assert!(FreqTable::read(&bytes, table.symbol_count() - 1).is_err());
        assert!(FreqTable::read(&[0x81, 0x00], 1).is_err());
        assert!(FreqTable::read(&[0x80, 0x40], 1).is_err()); // 8192 > SCALE
    }

    #[test]
    fn branch_free_and_branching_renormalisation_agree() {
        // A busy table (branch-free by default) and a quiet one (branching by default), each
        // coded and decoded both ways: the same bytes and the same symbols.
        let busy: Vec<u16> = (0..3001u32).map(|i| (i * 7919 % 61) as u16).collect();
        let quiet: Vec<u16> = (0..3001u32).map(|i| (i % 97 == 0) as u16).collect();
        for (symbols, default_branchless) in [(busy, true), (quiet, false)] {
            let table = FreqTable::from_counts(&counts_of(&symbols));
            let mut coder = EncodeTable::new(&table);
            assert_eq!(coder.branchless, default_branchless);
            let mut streams = Vec::new();
            for branchless in [false, true] {
                coder.branchless = branchless;
                let mut bytes = Vec::new();
                encode(&symbols, &coder, LANES, &mut Vec::new(), &mut bytes);
                streams.push(bytes);
            }
            assert_eq!(streams[0], streams[1]);
            let mut dt = DecodeTable::new(&table);
            for branchless in [false, true] {
                dt.branchless = branchless;
                let mut dec = Decoder::new(&streams[0], &dt, LANES).unwrap();
                let mut got = alloc::vec![0u16; symbols.len()];
                dec.decode(&mut got).unwrap();
                dec.finish().unwrap();
                assert_eq!(got, symbols);
            }
        }
    }

    #[test]
    fn corrupt_streams_are_rejected_not_misread() {
        let symbols: Vec<u16> = (0..5000u32).map(|i| (i * i % 17) as u16).collect();
        let table = FreqTable::from_counts(&counts_of(&symbols));
        let mut bytes = Vec::new();
        encode(
            &symbols,
            &EncodeTable::new(&table),
            LANES,
            &mut Vec::new(),
            &mut bytes,
        );
        let dt = DecodeTable::new(&table);
        let mut out = alloc::vec![0u16; symbols.len()];
        // Truncated stream.
        let short = &bytes[..bytes.len() - 2];
        let ok = Decoder::new(short, &dt, LANES).and_then(|mut d| {
            d.decode(&mut out)?;
            d.finish()
        });
        assert!(ok.is_err());
        // A flipped state.
        let mut bad = bytes.clone();
        bad[1] ^= 0x40;
        let ok = Decoder::new(&bad, &dt, LANES).and_then(|mut d| {
            d.decode(&mut out)?;
            d.finish()
        });
        assert!(ok.is_err());
        // State below the interval.
        let mut low = bytes.clone();
        low[..4].copy_from_slice(&5u32.to_le_bytes());
        assert!(Decoder::new(&low, &dt, LANES).is_err());
    }
}
