//! TQTC versions 3 to 5, "coded": error-bounded quantization, closed-loop prediction, rANS
//! coding. Version 5 is written; versions 3 and 4 are still read.
//!
//! Each frame gets its own quantization step from its tier's bound `b` and its own largest
//! magnitude `M = max|v|`: `step = 2·b·M·(1 − 2⁻¹⁰)`. A frame is predicted from `w/16` of the
//! previous *decoded* frame of its block (a weight `w` the encoder picks per frame by least
//! squares; 0 = no prediction), or from that frame smoothed along its length (for frames whose
//! neighbouring values are related, such as spectra), and the difference is rounded to a whole
//! number of steps `q`, so
//! every value decodes within `b·M` ([`crate::quantizer::error_bound`], ADR-017 §8.2) and errors
//! never accumulate. The `q`s are coded as they are or differenced along the frame, whichever
//! is cheaper, with one rANS frequency table per segment ([`crate::rans`]). The encoder checks
//! every frame's decoded error; a frame that would break the bound (tiny or huge magnitudes) is
//! stored raw. Frames are grouped in blocks of `keyframe_interval`
//! frames; a block's first frame is never predicted, so any frame decodes after at most
//! `keyframe_interval − 1` others. A CRC-32C covers the whole segment.
//!
//! Layout of version 5 (all integers little-endian; version 4 is the same with at most two
//! tables):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `0x43545154` (`"TQTC"`) |
//! | 4 | 1 | version = 5 |
//! | 5 | 1 | bits: the packed width whose bound this segment keeps (1..=8; 8, 7, 5, 3 written) |
//! | 6 | 2 | keyframe_interval `K` (≥ 1) |
//! | 8 | 4 | tensor_len (1..=2²⁴) |
//! | 12 | 4 | frame_count `F` (1..=2¹⁶) |
//! | 16 | 4 | bound, f32, finite, in (0, 1) |
//! | 20 | 2 | symbol_count `S` (≤ 4096) |
//! | 22 | 1 | frequency tables − 1: 0, 1 (two symbol contexts) or 4 (five: [`activity_contexts`]) |
//! | 23 | 1 | reserved, 0 |
//! | 24 | 4 | byte_len: the whole segment, checksum included |
//! | 28 | … | `S` frequencies (LEB128, 1–2 bytes each; sum 4096 unless `S = 0`), once per table: with two, a symbol whose value at its place in the block's previous coded frame was non-zero uses the second; with five, see [`activity_contexts`] |
//! | … | … | byte length of the frame records (LEB128), then the records (`src/coded_records.rs`) |
//! | … | … | per block (`B = ceil(F / K)`), LEB128: 2 × its byte length, + 1 for one rANS lane |
//! | … | … | the blocks, back to back |
//! | byte_len − 4 | 4 | CRC-32C of bytes `0 .. byte_len − 4` |
//!
//! Each frame has a record: its mode byte and, unless it is raw, its 16-bit step code; version
//! 4 range codes them for the whole segment (`src/coded_records.rs`). A block holds the values
//! of its raw frames (f32, `tensor_len` each), then the rANS stream of its coded frames' symbols
//! ([`crate::rans`]; on one lane when the low bit of the block's length field says so: the
//! encoder does that for streams under [`ONE_LANE_MAX_BYTES`], where three states are ≥ 2 %, of
//! at most [`ONE_LANE_MAX_SYMBOLS`] symbols).
//! Version 3 differs in three places: four-byte block lengths, four lanes always, and the
//! records as bytes at the start of each block (a mode byte followed, unless the frame is raw or
//! has flag E, by the change of its step code from the block's previous one, from 0, as a zigzag
//! LEB128 number). The mode byte is `255` for a raw frame, else
//! `P | D·0x80 | E·0x40 | C·0x20` (`M·0x40` in version 4): predictor `P` either a temporal weight `w` in `0..=16` or
//! `16 + n` (predict from the previous frame smoothed `n ≤ 4` times along the frame
//! ([`crate::kernels::coded::smooth`]), weight 1), `D` the running difference along the frame
//! (with `C`, the half difference: see [`crate::kernels::coded::Difference`]), `E` (version 3)
//! the same step code as the block's previous coded frame, or `M` (the same bit, version 4) a
//! prediction from `w/16` of the mean of the block's earlier decoded frames, `C` without `D` a chain frame (each value
//! predicted by the decoded value before it; `P = 0`). A step code is
//! the top 16 bits below the sign of the step's `f32` (`step = f32::from_bits(code << 15)`).
//! Decoding a coded frame (see [`crate::kernels::coded`]): symbol `z` gives
//! `r = (z >> 1) ^ −(z & 1)` (zigzag); with `D`, `q[j] = q[j−1] + r[j]`, with `D` and `C`,
//! `q[j] = (q[j−1] >> 1) + r[j]` (from `q[−1] = 0`, 32-bit wrapping), else `q = r`; the value
//! is `q[j] · step` when `w = 0`, else
//! `(w/16) · prev[j] + q[j] · step`, every `f32` operation rounded as written (no fused
//! multiply-add); a chain frame is the running sum of `q[j] · step`. `prev` is the previous
//! decoded frame of the same block (smoothed first, for `P > 16`), so a block's first frame has
//! `P = 0` (or is raw).
//! `docs/format.md` in the repository spells the layout out in full.

use crate::coded_records::{Record, RecordReader, RecordWriter};
use crate::crc32c::crc32c;
use crate::error::{Error, SegmentField};
use crate::kernels::coded::{Difference, Prediction};
use crate::limits;
use crate::quantizer::{clamp, round_ties_even};
use crate::rans::{self, DecodeTable, Decoder, FreqTable, MAX_SYMBOLS};
use alloc::vec;
use alloc::vec::Vec;

/// The version byte of the coded segments this library writes: 5 (version 4 plus five symbol
/// contexts from the previous frame's residual magnitudes, [`activity_contexts`]).
pub const VERSION_CODED: u8 = 5;
/// Version 4 (frame records range coded per segment, variable-length block lengths, one rANS
/// lane for short blocks, up to two symbol contexts), still read.
pub const VERSION_CODED_V4: u8 = 4;
/// The first coded version (frame records as bytes in each block, four rANS lanes), still read.
pub const VERSION_CODED_V3: u8 = 3;

/// Whether `version` is a coded version this library reads (3, 4 or 5).
pub fn is_coded_version(version: u8) -> bool {
    (VERSION_CODED_V3..=VERSION_CODED).contains(&version)
}

/// Frequency tables of version 5's activity contexts ([`activity_contexts`]).
pub const ACTIVITY_TABLES: usize = 5;

/// Version 5's symbol contexts for the frame after one whose symbols are `previous` (zigzag
/// values, `n ≥ 1` of them): with `m[i] = (previous[i] + 1) >> 1` (the residual's magnitude)
/// and the ends repeated (`m[−1] = m[0]`, `m[n] = m[n − 1]`), the activity `a = m[j − 1] +
/// 2·m[j] + m[j + 1]` gives context 1 when `a ≤ 1`, 2 when `a ≤ 4`, 3 when `a ≤ 10`, else 4.
/// (Context 0 is every symbol of a block's first coded frame.) Residuals are larger where the
/// previous frame's were, around the same place: this sorts them into tables of their own.
pub fn activity_contexts(previous: &[u16], out: &mut [u8]) {
    let n = previous.len();
    debug_assert!(n >= 1 && out.len() == n);
    // In 16-bit lanes (symbols are below 4096, so `a ≤ 4 · 2048`): the compiler vectorizes it.
    let m = |z: u16| (z + 1) >> 1;
    let context = |a: u16| 1 + (a >= 2) as u8 + (a >= 5) as u8 + (a >= 11) as u8;
    if n == 1 {
        out[0] = context(4 * m(previous[0]));
        return;
    }
    out[0] = context(3 * m(previous[0]) + m(previous[1]));
    for (((o, &l), &c), &r) in out[1..n - 1]
        .iter_mut()
        .zip(&previous[..n - 2])
        .zip(&previous[1..n - 1])
        .zip(&previous[2..])
    {
        *o = context(m(l) + 2 * m(c) + m(r));
    }
    out[n - 1] = context(m(previous[n - 2]) + 3 * m(previous[n - 1]));
}

/// Bytes before the frequency table.
pub const HEADER_LEN: usize = 28;
/// Bytes of the trailing checksum.
pub const CHECKSUM_LEN: usize = 4;
/// Frames per block unless configured otherwise: the most frames `decode_frame` decodes.
pub const DEFAULT_KEYFRAME_INTERVAL: u32 = 32;
/// Largest keyframe interval the format can hold.
pub const MAX_KEYFRAME_INTERVAL: u32 = u16::MAX as u32;
/// Mode byte of a frame stored raw.
pub const MODE_RAW: u8 = 255;
/// Largest temporal weight numerator (weights are `w / 16`).
pub const MAX_WEIGHT: u8 = 16;
/// Mode bit of the running difference along the frame.
pub const MODE_SPATIAL: u8 = 0x80;
/// Version 3: mode bit of a frame whose step code equals the previous coded frame's in the
/// block (no difference stored).
pub const MODE_SAME_STEP: u8 = 0x40;
/// Version 4: the same bit means *mean* prediction, from `w/16` of the mean of the block's
/// earlier decoded frames instead of the previous one ([`block_mean`]).
pub const MODE_MEAN: u8 = 0x40;
/// Mode bit of a frame quantized along a chain: each value predicted by the decoded value
/// before it (weight 0 and no running difference).
pub const MODE_CHAIN: u8 = 0x20;
/// Predictor field values `SMOOTHED + n` (`n` in `1..=MAX_SMOOTHING_PASSES`) predict a frame
/// by the previous decoded frame smoothed `n` times along the frame
/// ([`crate::kernels::coded::smooth`]), with weight 1.
pub const SMOOTHED: u8 = 16;
/// Most smoothing passes a smoothed prediction names.
pub const MAX_SMOOTHING_PASSES: u8 = 4;
/// Largest residual magnitude the encoder writes (its zigzag symbol stays below 4096).
const MAX_RESIDUAL: u64 = 2047;
/// The step is this fraction of `2·b·M`, leaving room for f32 rounding.
const STEP_FRACTION: f64 = 1.0 - 1.0 / 1024.0;
/// A frame is accepted when its measured error is below `b·M` times this.
const ACCEPT_FRACTION: f64 = 1.0 - 1.0 / 2048.0;
/// Most bytes one frame's record takes in a version-4 record stream: at most 16 modelled bits
/// (each under 8 bits: no model's probability falls below 31/4096) and 14 even-odds bits.
pub const RECORD_MAX_BYTES: usize = 18;
/// Bytes a record stream adds besides its records, at most: its length field and the coder's
/// flush.
pub const RECORDS_OVERHEAD: usize = 10;

/// Blocks whose four-lane rANS stream would be shorter than this (estimated from the symbols'
/// costs) are written on one lane when they also hold at most [`ONE_LANE_MAX_SYMBOLS`]
/// symbols: three fewer states (12 bytes, at least 2 % here) for slower coding of streams that,
/// being this short, hold frames that code to almost nothing (cold tiers, short frames).
pub const ONE_LANE_MAX_BYTES: usize = 512;

/// The most symbols a block written on one lane holds. A lane codes and decodes one symbol
/// after another (each waits on the previous state), 2–3× slower per symbol than four
/// interleaved lanes; past this many symbols (8 frames of 512 values, 64 of 64) that time
/// outweighs the 12 bytes saved.
pub const ONE_LANE_MAX_SYMBOLS: usize = 4096;

/// Smoothed prediction is tried on every this-many-th frame of a block (from its second), and on
/// every frame for a block's length after it was chosen.
const PROBE_INTERVAL: u32 = 4;

fn corrupt(field: SegmentField) -> Error {
    Error::CorruptSegment { field }
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The validated fixed fields of a coded segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CodedHeader {
    /// The version byte: [`VERSION_CODED_V3`] or [`VERSION_CODED`].
    pub version: u8,
    /// The packed width whose bound the segment keeps.
    pub bits: u8,
    /// Frames per block.
    pub keyframe_interval: u32,
    /// Values per frame.
    pub tensor_len: u32,
    /// Frames in the segment.
    pub frame_count: u32,
    /// The relative error bound every frame was checked against when written.
    pub bound: f32,
    /// Symbols in the frequency table (in each, when there are two).
    pub symbol_count: u32,
    /// Frequency tables, one per symbol context: 1; or 2 (versions 4 and 5, byte 22 = 1); or
    /// [`ACTIVITY_TABLES`] (version 5, byte 22 = 4).
    pub tables: u8,
    /// Length of the whole segment in bytes.
    pub byte_len: usize,
}

impl CodedHeader {
    /// Validates the fixed fields and the checksum of the coded segment at the start of `bytes`
    /// (whose version byte is 3 or 4). Nothing is allocated.
    ///
    /// Errors: [`Error::Truncated`], [`Error::UnsupportedVersion`] for another version byte,
    /// [`Error::CorruptSegment`] naming the field.
    pub fn parse(bytes: &[u8]) -> Result<CodedHeader, Error> {
        let available = bytes.len() as u64;
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN as u64,
                available,
            });
        }
        if !is_coded_version(bytes[4]) {
            return Err(Error::UnsupportedVersion { version: bytes[4] });
        }
        let byte_len = read_u32(bytes, 24) as usize;
        if byte_len < HEADER_LEN + CHECKSUM_LEN {
            return Err(corrupt(SegmentField::ByteLen));
        }
        if bytes.len() < byte_len {
            return Err(Error::Truncated {
                needed: byte_len as u64,
                available,
            });
        }
        let body = byte_len - CHECKSUM_LEN;
        if crc32c(&bytes[..body]) != read_u32(bytes, body) {
            return Err(corrupt(SegmentField::Checksum));
        }
        let header = CodedHeader {
            version: bytes[4],
            bits: bytes[5],
            keyframe_interval: read_u16(bytes, 6) as u32,
            tensor_len: read_u32(bytes, 8),
            frame_count: read_u32(bytes, 12),
            bound: f32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
            symbol_count: read_u16(bytes, 20) as u32,
            tables: bytes[22].saturating_add(1),
            byte_len,
        };
        if !(1..=8).contains(&header.bits) {
            return Err(corrupt(SegmentField::Bits));
        }
        if header.keyframe_interval == 0 {
            return Err(corrupt(SegmentField::KeyframeInterval));
        }
        if header.tensor_len == 0 || header.tensor_len > limits::MAX_TENSOR_LEN {
            return Err(corrupt(SegmentField::TensorLen));
        }
        if header.frame_count == 0 || header.frame_count > limits::MAX_SEGMENT_FRAMES {
            return Err(corrupt(SegmentField::FrameCount));
        }
        if !(header.bound > 0.0 && header.bound < 1.0) {
            return Err(corrupt(SegmentField::Bound));
        }
        if header.symbol_count as usize > MAX_SYMBOLS {
            return Err(corrupt(SegmentField::FreqTable));
        }
        // Byte 22: tables − 1 (0; 1 from version 4; 4 in version 5; more than one table only
        // with symbols); byte 23: zero.
        let tables_ok = match header.tables as usize {
            1 => true,
            2 => header.version >= VERSION_CODED_V4 && header.symbol_count > 0,
            ACTIVITY_TABLES => header.version >= VERSION_CODED && header.symbol_count > 0,
            _ => false,
        };
        if bytes[23] != 0 || !tables_ok {
            return Err(corrupt(SegmentField::Reserved));
        }
        Ok(header)
    }

    /// Number of blocks, `ceil(frame_count / keyframe_interval)`.
    pub fn block_count(&self) -> u32 {
        self.frame_count.div_ceil(self.keyframe_interval)
    }
}

/// A coded segment with its table and block positions parsed.
pub struct CodedSegment<'a> {
    /// The fixed fields.
    pub header: CodedHeader,
    bytes: &'a [u8],
    /// The frequency tables, one per symbol context (`header.tables`).
    tables: Vec<FreqTable>,
    /// Version 4: the range-coded frame records ([`crate::coded_records`]).
    records: &'a [u8],
    /// Offset of each block (and the end of the last one).
    block_offsets: Vec<usize>,
    /// Version 4: the rANS lanes of each block (1 or [`rans::LANES`]); empty for version 3.
    block_lanes: Vec<u8>,
}

impl<'a> CodedSegment<'a> {
    /// Parses the coded segment at the start of `bytes` down to its block boundaries.
    ///
    /// Errors: as [`CodedHeader::parse`], plus [`Error::CorruptSegment`] for the frequency
    /// table (`freq_table`) or block lengths that do not add up (`block_len`).
    pub fn parse(bytes: &'a [u8]) -> Result<CodedSegment<'a>, Error> {
        let header = CodedHeader::parse(bytes)?;
        let body = &bytes[..header.byte_len - CHECKSUM_LEN];
        let mut tables = Vec::with_capacity(header.tables as usize);
        let mut table_len = 0;
        for _ in 0..header.tables {
            let (t, len) = FreqTable::read(
                &body[HEADER_LEN + table_len..],
                header.symbol_count as usize,
            )?;
            tables.push(t);
            table_len += len;
        }
        let blocks = header.block_count() as usize;
        if header.version >= VERSION_CODED_V4 {
            return Self::parse_v4(header, body, tables, HEADER_LEN + table_len);
        }
        let lens_at = HEADER_LEN + table_len;
        let first_block = blocks
            .checked_mul(4)
            .and_then(|n| n.checked_add(lens_at))
            .filter(|&end| end <= body.len())
            .ok_or(corrupt(SegmentField::BlockLen))?;
        let lens = (0..blocks).map(|b| read_u32(body, lens_at + 4 * b) as usize);
        let block_offsets = block_offsets(first_block, lens, body.len())?;
        Ok(CodedSegment {
            header,
            bytes: body,
            tables,
            records: &[],
            block_offsets,
            block_lanes: Vec::new(),
        })
    }

    /// The rest of [`parse`](Self::parse) for versions 4 and 5, from the record stream's length
    /// at `at`: the records, then each block's length (LEB128), then the blocks.
    fn parse_v4(
        header: CodedHeader,
        body: &'a [u8],
        tables: Vec<FreqTable>,
        mut at: usize,
    ) -> Result<CodedSegment<'a>, Error> {
        let length = |at: &mut usize, field| -> Result<usize, Error> {
            let (len, used) = read_leb128(&body[*at..], 5).ok_or(corrupt(field))?;
            *at += used;
            Ok(len as usize)
        };
        let records_len = length(&mut at, SegmentField::Records)?;
        let records = body
            .get(at..)
            .and_then(|rest| rest.get(..records_len))
            .ok_or(corrupt(SegmentField::Records))?;
        at += records_len;
        let blocks = header.block_count() as usize;
        // Each field is the block's length times two, plus one for a one-lane rANS stream.
        let mut lens = Vec::with_capacity(blocks);
        let mut block_lanes = Vec::with_capacity(blocks);
        for _ in 0..blocks {
            let field = length(&mut at, SegmentField::BlockLen)?;
            lens.push(field >> 1);
            block_lanes.push(if field & 1 == 1 { 1 } else { rans::LANES as u8 });
        }
        let block_offsets = block_offsets(at, lens.into_iter(), body.len())?;
        Ok(CodedSegment {
            header,
            bytes: body,
            tables,
            records,
            block_offsets,
            block_lanes,
        })
    }

    /// Decodes frames `first ..= last` of the segment, calling `emit(index, values)` for each
    /// frame from `wanted_from` on (earlier frames of the block are decoded but not emitted).
    fn decode_frames(
        &self,
        wanted_from: u32,
        last: u32,
        emit: &mut dyn FnMut(u32, &[f32]),
    ) -> Result<(), Error> {
        let n = self.header.tensor_len as usize;
        let k = self.header.keyframe_interval;
        let dtable = DecodeTable::with_contexts(&self.tables.iter().collect::<Vec<_>>());
        // With two tables, each symbol's context is whether the symbol at its place in the
        // block's previous coded frame was non-zero; with five, that frame's activity there.
        let tables = self.tables.len();
        let mut contexts = vec![0u8; if tables > 1 { n } else { 0 }];
        let kernels = crate::kernels::active().coded;
        let mut prev = vec![0.0f32; n];
        let mut cur = vec![0.0f32; n];
        let mut symbols = vec![0u16; n];
        // Version 4's mean prediction: the running sum of the block's decoded frames.
        let v4 = self.header.version >= VERSION_CODED_V4;
        let (mut sum, mut mean) = if v4 {
            (vec![0.0f32; n], vec![0.0f32; n])
        } else {
            (Vec::new(), Vec::new())
        };
        let first_block = wanted_from / k;
        let last_block = last / k;
        // Version 4: one record stream for the segment, read from its start.
        let mut record_stream = v4.then(|| RecordReader::new(self.records));
        if let Some(stream) = record_stream.as_mut() {
            for f in 0..first_block * k {
                next_record(stream, f % k == 0)?;
            }
        }
        for b in first_block..=last_block {
            let block =
                &self.bytes[self.block_offsets[b as usize]..self.block_offsets[b as usize + 1]];
            let start = b * k;
            let frames = (self.header.frame_count - start).min(k) as usize;
            let frames_needed = ((last - start) as usize + 1).min(frames);
            // Frame records: (mode, step) with flag E cleared; version 3 stores them at the
            // block's start (`at` is where they end).
            let (records, at) = match record_stream.as_mut() {
                Some(stream) => {
                    let records = (0..frames)
                        .map(|f| next_record(stream, f == 0))
                        .collect::<Result<Vec<_>, Error>>()?;
                    (records, 0)
                }
                None => block_records_v3(block, frames)?,
            };
            let raw_frames = records.iter().filter(|r| r.0 == MODE_RAW).count();
            // The block's last frame with mean prediction (0: none).
            let mean_after = records
                .iter()
                .rposition(|r| r.0 != MODE_RAW && r.0 & MODE_MEAN != 0 && v4)
                .unwrap_or(0);
            let lanes = self
                .block_lanes
                .get(b as usize)
                .map_or(rans::LANES, |&l| l as usize);
            let raw_len = raw_frames
                .checked_mul(4 * n)
                .filter(|&len| len <= block.len() - at)
                .ok_or(corrupt(SegmentField::BlockLen))?;
            let mut raw = &block[at..at + raw_len];
            let mut decoder = Decoder::new(&block[at + raw_len..], &dtable, lanes)?;
            // A block's first coded frame has no previous one: context 0 throughout.
            contexts.fill(0);
            for (f, &(mode, step)) in records.iter().enumerate().take(frames_needed) {
                if mode == MODE_RAW {
                    for (c, v) in raw[..4 * n].chunks_exact(4).zip(cur.iter_mut()) {
                        *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                    raw = &raw[4 * n..];
                    if !all_finite(&cur) {
                        return Err(corrupt(SegmentField::Values));
                    }
                } else {
                    if tables > 1 {
                        decoder.decode_with_contexts(&mut symbols, &contexts)?;
                        if tables == 2 {
                            for (c, &s) in contexts.iter_mut().zip(&symbols) {
                                *c = (s != 0) as u8;
                            }
                        } else {
                            activity_contexts(&symbols, &mut contexts);
                        }
                    } else {
                        decoder.decode(&mut symbols)?;
                    }
                    if is_chain(mode) {
                        crate::kernels::coded::reconstruct_chain(&symbols, step, &mut cur);
                    } else if mode & MODE_MEAN != 0 {
                        let (prediction, _) = prediction_of(mode).unwrap_or_default();
                        block_mean(&sum, f as u32, &mut mean);
                        (kernels.reconstruct)(&symbols, prediction, step, &mean, &mut cur);
                    } else {
                        let (prediction, passes) = prediction_of(mode).unwrap_or_default();
                        // `prev` is not needed after this frame: smooth it in place (by way of
                        // `cur`), then predict from it.
                        for _ in 0..passes {
                            (kernels.smooth)(&prev, &mut cur);
                            core::mem::swap(&mut prev, &mut cur);
                        }
                        (kernels.reconstruct)(&symbols, prediction, step, &prev, &mut cur);
                    }
                    if !all_finite(&cur) {
                        return Err(corrupt(SegmentField::Values));
                    }
                }
                let index = start + f as u32;
                if index >= wanted_from {
                    emit(index, &cur);
                }
                // Only while a later frame of the block predicts from the mean.
                if mean_after > f {
                    add_to_sum(&mut sum, &cur, f == 0);
                }
                core::mem::swap(&mut prev, &mut cur);
            }
            if frames_needed == frames {
                decoder.finish()?;
            }
        }
        Ok(())
    }
}

/// Every frame's record of the coded segment at the start of `bytes`, as `(mode, step)`:
/// the mode byte with flag E clear (255 for a raw frame) and the frame's quantization step (0
/// for raw frames). For tools and tests that look inside segments.
///
/// Errors: as [`CodedSegment::parse`], and [`Error::CorruptSegment`] for invalid records.
#[doc(hidden)]
pub fn frame_records(bytes: &[u8]) -> Result<Vec<(u8, f32)>, Error> {
    let seg = CodedSegment::parse(bytes)?;
    let k = seg.header.keyframe_interval as usize;
    let frames = seg.header.frame_count as usize;
    if seg.header.version >= VERSION_CODED_V4 {
        let mut stream = RecordReader::new(seg.records);
        return (0..frames)
            .map(|f| next_record(&mut stream, f % k == 0))
            .collect();
    }
    let mut all = Vec::with_capacity(frames);
    for (b, w) in seg.block_offsets.windows(2).enumerate() {
        let (records, _) = block_records_v3(&seg.bytes[w[0]..w[1]], k.min(frames - b * k))?;
        all.extend(records);
    }
    Ok(all)
}

/// The offset of each block, and the end of the last, for blocks of lengths `lens` starting
/// at `first`; the blocks must end exactly at `end`. Errors: [`Error::CorruptSegment`]
/// (`block_len`).
fn block_offsets(
    first: usize,
    lens: impl ExactSizeIterator<Item = usize>,
    end: usize,
) -> Result<Vec<usize>, Error> {
    let mut offsets = Vec::with_capacity(lens.len() + 1);
    let mut at = first;
    offsets.push(at);
    for len in lens {
        at = at
            .checked_add(len)
            .filter(|&e| e <= end)
            .ok_or(corrupt(SegmentField::BlockLen))?;
        offsets.push(at);
    }
    if at != end {
        return Err(corrupt(SegmentField::BlockLen));
    }
    Ok(offsets)
}

/// A frame record as the decoder uses it, `(mode, step)`, after checking that the mode is
/// valid (and, for a block's first frame, predicts from nothing) and the code within
/// `0..=MAX_STEP_CODE`. Raw frames have step 0.
fn checked_record(mode: u8, code: i64, first_of_block: bool) -> Result<(u8, f32), Error> {
    if mode == MODE_RAW {
        return Ok((mode, 0.0));
    }
    match prediction_of(mode) {
        Some((prediction, _)) if !(first_of_block && prediction.weight != 0) => {}
        _ => return Err(corrupt(SegmentField::FrameMode)),
    }
    if !(0..=MAX_STEP_CODE as i64).contains(&code) {
        return Err(corrupt(SegmentField::Step));
    }
    Ok((mode, step_of(code as u16)))
}

/// The next record of a version-4 record stream, checked ([`checked_record`]).
fn next_record(stream: &mut RecordReader, first_of_block: bool) -> Result<(u8, f32), Error> {
    let record = stream
        .next(first_of_block)
        .ok_or(corrupt(SegmentField::Step))?;
    checked_record(record.mode, record.code as i64, first_of_block)
}

/// Reads a version-3 block's byte records (`frames` of them) from its start; returns them
/// checked and the offset where they end.
fn block_records_v3(block: &[u8], frames: usize) -> Result<(Vec<(u8, f32)>, usize), Error> {
    let mut at = 0usize;
    let mut records = Vec::with_capacity(frames);
    // Steps are stored as differences of step codes, from 0 at the block's start.
    let mut step_code = 0i64;
    for f in 0..frames {
        let mode = *block.get(at).ok_or(corrupt(SegmentField::FrameMode))?;
        at += 1;
        let code = if mode == MODE_RAW || mode & MODE_SAME_STEP != 0 {
            step_code
        } else {
            let (delta, used) = read_leb128(&block[at..], 3).ok_or(corrupt(SegmentField::Step))?;
            at += used;
            step_code + unzigzag32(delta) as i64
        };
        // Flag E is version 3's same-step bit, not mean prediction.
        let mode = if mode == MODE_RAW {
            mode
        } else {
            mode & !MODE_SAME_STEP
        };
        let record = checked_record(mode, code, f == 0)?;
        if mode != MODE_RAW {
            step_code = code;
        }
        records.push(record);
    }
    Ok((records, at))
}

/// Whether a (non-raw) mode byte names a chain frame: flag C without flag D.
fn is_chain(mode: u8) -> bool {
    mode & (MODE_CHAIN | MODE_SPATIAL) == MODE_CHAIN
}

/// The prediction a coded frame's mode byte names and the smoothing passes applied to the
/// previous frame first, or `None` for an invalid byte (or raw). A chain frame has weight 0 and
/// no difference; a smoothed frame has weight 16. Flag D alone is the full difference along
/// the frame, D with C the half difference.
fn prediction_of(mode: u8) -> Option<(Prediction, u8)> {
    let field = mode & !(MODE_SPATIAL | MODE_MEAN | MODE_CHAIN);
    let mean = mode & MODE_MEAN != 0;
    let difference = match (mode & MODE_SPATIAL != 0, mode & MODE_CHAIN != 0) {
        (false, false) => Difference::None,
        (true, false) => Difference::Full,
        (true, true) => Difference::Half,
        (false, true) => {
            return (field == 0 && !mean).then_some((Prediction::default(), 0));
        }
    };
    let (weight, passes) = match field {
        // Mean prediction needs a weight (and so an earlier frame in the block).
        0 if mean => return None,
        0..=MAX_WEIGHT => (field, 0),
        _ if !mean && field - SMOOTHED <= MAX_SMOOTHING_PASSES => (MAX_WEIGHT, field - SMOOTHED),
        _ => return None,
    };
    Some((Prediction { weight, difference }, passes))
}

/// Adds a decoded frame to its block's running sum (`first`: the block's first frame, which
/// replaces it). Version 4 only (`sum` is empty for version 3).
fn add_to_sum(sum: &mut [f32], frame: &[f32], first: bool) {
    if first {
        sum.copy_from_slice(&frame[..sum.len()]);
    } else {
        for (s, &v) in sum.iter_mut().zip(frame) {
            *s += v;
        }
    }
}

/// The mean of a block's first `count` decoded frames from their running sum:
/// `sum[j] · (1 / count)`, each an `f32` operation (the reciprocal rounded once), so every
/// backend gets the same values. `count ≥ 1`.
fn block_mean(sum: &[f32], count: u32, mean: &mut [f32]) {
    let inv = 1.0 / count as f32;
    for (m, &s) in mean.iter_mut().zip(sum) {
        *m = s * inv;
    }
}

/// How the encoder predicts a frame: `w/16` of the previous decoded frame, or that frame
/// smoothed `n` times (weight 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Predictor {
    Weighted(u8),
    Smoothed(u8),
    /// `w/16` of the mean of the block's earlier decoded frames.
    Mean(u8),
}

/// The mode byte of a predictor and difference (without the same-step flag).
fn mode_of(predictor: Predictor, difference: Difference) -> u8 {
    let field = match predictor {
        Predictor::Weighted(w) => w,
        Predictor::Smoothed(n) => SMOOTHED + n,
        Predictor::Mean(w) => w | MODE_MEAN,
    };
    field
        | match difference {
            Difference::None => 0,
            Difference::Full => MODE_SPATIAL,
            Difference::Half => MODE_SPATIAL | MODE_CHAIN,
        }
}

/// Largest valid step code (exponent 254, all 8 mantissa bits set); larger ones are infinite
/// or NaN.
const MAX_STEP_CODE: u16 = 0xFEFF;

/// A step's code: its f32 bits above the low 15 (exponent and 8 mantissa bits), so a step is
/// stored as 16 bits and rounding a step to a code only ever makes it smaller.
fn step_code(step: f32) -> u16 {
    (step.to_bits() >> 15) as u16
}

/// The step a code stands for.
fn step_of(code: u16) -> f32 {
    f32::from_bits((code as u32) << 15)
}

fn unzigzag32(z: u32) -> i32 {
    (z >> 1) as i32 ^ -((z & 1) as i32)
}

/// Appends `v` as LEB128.
fn write_varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 number of at most `max_bytes` bytes (3: below 2²¹; 5: any `u32`) with no
/// redundant trailing zero byte; returns it and the bytes used.
fn read_leb128(bytes: &[u8], max_bytes: usize) -> Option<(u32, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(max_bytes).enumerate() {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            let value = u32::try_from(v).ok()?;
            return (i == 0 || b != 0).then_some((value, i + 1));
        }
    }
    None
}

/// True when every value is finite (scans without early exit so it vectorizes).
fn all_finite(values: &[f32]) -> bool {
    values
        .iter()
        .fold(true, |all, v| all & (v.abs() <= f32::MAX))
}

/// Decodes every frame of the coded segment at the start of `bytes` into `out` (which must hold
/// `tensor_len · frame_count` values). Returns the header.
pub fn decode_into(bytes: &[u8], out: &mut [f32]) -> Result<CodedHeader, Error> {
    let seg = CodedSegment::parse(bytes)?;
    let n = seg.header.tensor_len as usize;
    let values = n as u64 * seg.header.frame_count as u64;
    if (out.len() as u64) < values {
        return Err(Error::BufferTooSmall {
            needed: values,
            available: out.len() as u64,
        });
    }
    seg.decode_frames(0, seg.header.frame_count - 1, &mut |i, frame| {
        let at = i as usize * n;
        out[at..at + n].copy_from_slice(frame);
    })?;
    Ok(seg.header)
}

/// Decodes frame `index` of the coded segment at the start of `bytes` into `out[..tensor_len]`,
/// decoding at most `keyframe_interval` frames.
pub fn decode_frame_into(bytes: &[u8], index: u64, out: &mut [f32]) -> Result<CodedHeader, Error> {
    let seg = CodedSegment::parse(bytes)?;
    let h = seg.header;
    if index >= h.frame_count as u64 {
        return Err(Error::FrameOutOfRange {
            index,
            frame_count: h.frame_count,
        });
    }
    let n = h.tensor_len as usize;
    if out.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n as u64,
            available: out.len() as u64,
        });
    }
    let index = index as u32;
    seg.decode_frames(index, index, &mut |_, frame| {
        out[..n].copy_from_slice(frame)
    })?;
    Ok(h)
}

/// How a frame was stored.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FrameRecord {
    mode: u8,
    step: f32,
}

/// Builds one coded segment frame by frame (the encoder side of this module).
///
/// Holds the frames' symbols (2 bytes per value), raw frames, and the previous decoded frame;
/// the rANS coding happens in [`write`](Self::write). Two writers are equal when they would
/// write the same segment from here on (scratch buffers are not compared: a rejected attempt
/// may leave non-finite values in them).
#[derive(Clone, Debug)]
pub struct CodedWriter {
    bits: u8,
    bound: f32,
    tensor_len: usize,
    keyframe_interval: u32,
    records: Vec<FrameRecord>,
    symbols: Vec<u16>,
    /// The largest symbol in `symbols`.
    max_symbol: u16,
    raw: Vec<f32>,
    prev: Vec<f32>,
    recon: Vec<f32>,
    codes: Vec<i32>,
    chain_codes: Vec<i32>,
    chain_recon: Vec<f32>,
    frame_symbols: Vec<u16>,
    /// Scratch for smoothed predictions (two buffers, so one pass reads the other's output).
    smoothed: [Vec<f32>; 2],
    /// Frames left during which smoothed prediction is tried on every frame (renewed each time
    /// it is chosen); otherwise it is tried on every `PROBE_INTERVAL`-th frame of a block, from
    /// its second.
    smoothing_recent: u32,
    /// [`sticky_factor`] of the tensor length.
    sticky: f64,
    /// The running sum of the block's decoded frames, and scratch for their mean.
    sum: Vec<f32>,
    mean: Vec<f32>,
}

impl PartialEq for CodedWriter {
    fn eq(&self, other: &Self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        self.bits == other.bits
            && self.bound.to_bits() == other.bound.to_bits()
            && self.tensor_len == other.tensor_len
            && self.keyframe_interval == other.keyframe_interval
            && self.records == other.records
            && self.symbols == other.symbols
            && self.max_symbol == other.max_symbol
            && bits(&self.raw) == bits(&other.raw)
            && bits(&self.prev) == bits(&other.prev)
            && self.smoothing_recent == other.smoothing_recent
    }
}

impl CodedWriter {
    /// An empty segment for frames of `tensor_len` values, keeping relative error `bound`
    /// (labelled with width `bits`), with a keyframe every `keyframe_interval` frames.
    pub fn new(bits: u8, bound: f32, tensor_len: usize, keyframe_interval: u32) -> CodedWriter {
        CodedWriter {
            bits,
            bound,
            tensor_len,
            keyframe_interval: keyframe_interval.clamp(1, MAX_KEYFRAME_INTERVAL),
            records: Vec::new(),
            symbols: Vec::new(),
            max_symbol: 0,
            raw: Vec::new(),
            prev: vec![0.0; tensor_len],
            recon: vec![0.0; tensor_len],
            codes: vec![0; tensor_len],
            chain_codes: vec![0; tensor_len],
            chain_recon: vec![0.0; tensor_len],
            frame_symbols: vec![0; tensor_len],
            smoothed: [vec![0.0; tensor_len], vec![0.0; tensor_len]],
            smoothing_recent: 0,
            sticky: sticky_factor(tensor_len),
            sum: vec![0.0; tensor_len],
            mean: vec![0.0; tensor_len],
        }
    }

    /// Starts over with an empty segment at `bits`/`bound` and keyframe interval `k`, keeping
    /// allocations.
    pub fn reset(&mut self, bits: u8, bound: f32, keyframe_interval: u32) {
        self.bits = bits;
        self.bound = bound;
        self.keyframe_interval = keyframe_interval.clamp(1, MAX_KEYFRAME_INTERVAL);
        self.clear();
    }

    /// Drops the frames added so far, keeping allocations.
    pub fn clear(&mut self) {
        self.records.clear();
        self.symbols.clear();
        self.max_symbol = 0;
        self.raw.clear();
        self.smoothing_recent = 0;
    }

    /// The width label of the segment.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Frames added so far.
    pub fn frame_count(&self) -> u32 {
        self.records.len() as u32
    }

    /// Heap bytes held for the frames added so far (symbols and raw frames).
    pub fn data_heap_bytes(&self) -> usize {
        self.symbols.capacity() * 2 + self.raw.capacity() * 4 + self.records.capacity() * 8
    }

    /// Heap bytes held besides the frames' data (per-frame scratch).
    pub fn overhead_heap_bytes(&self) -> usize {
        (self.prev.capacity() + self.recon.capacity()) * 4
            + (self.codes.capacity() + self.chain_codes.capacity() + self.chain_recon.capacity())
                * 4
            + self.frame_symbols.capacity() * 2
            + (self.smoothed[0].capacity() + self.smoothed[1].capacity()) * 4
            + (self.sum.capacity() + self.mean.capacity()) * 4
    }

    /// Adds a frame of finite values (`frame.len() == tensor_len`; the caller checks both)
    /// whose largest `|v|` is `max_abs` (the caller measures it while checking the values).
    /// Every value will decode within `bound · max_abs`.
    pub fn push(&mut self, frame: &[f32], max_abs: f32) {
        debug_assert_eq!(frame.len(), self.tensor_len);
        debug_assert_eq!(
            max_abs.to_bits(),
            frame.iter().fold(0.0f32, |m, v| m.max(v.abs())).to_bits()
        );
        let first_of_block = self.records.len() as u32 % self.keyframe_interval == 0;
        if max_abs == 0.0 {
            // Every value decodes to +0 exactly.
            self.frame_symbols.iter_mut().for_each(|s| *s = 0);
            self.recon.iter_mut().for_each(|v| *v = 0.0);
            return self.accept(0, 0.0);
        }
        let limit = self.bound as f64 * max_abs as f64 * ACCEPT_FRACTION;
        let allowed = (2.0 * self.bound as f64 * max_abs as f64 * STEP_FRACTION) as f32;
        // Rounded down to a 16-bit code; the previous frame's step is kept (no step stored)
        // when it is at most `step_reuse_tolerance` finer.
        let mut step = step_of(step_code(allowed));
        if let Some(prev) = self.previous_step() {
            let tolerance = step_reuse_tolerance(self.tensor_len);
            if prev <= allowed && prev as f64 >= allowed as f64 * (1.0 - tolerance) {
                step = prev;
            }
        }
        let inv = 1.0 / step;
        let kernels = crate::kernels::active().coded;
        if step.is_normal() && inv.is_normal() {
            // The previous frame's predictor and difference (none for a block's first frame).
            let previous = self.previous_mode();
            let predictor = if first_of_block {
                Predictor::Weighted(0)
            } else {
                self.choose_predictor(frame, previous.map(|(p, _)| p))
            };
            // A block's first frame may also be quantized along a chain, when that is cheaper.
            let chain = first_of_block.then(|| {
                let [max_err, _] = crate::kernels::coded::quantize_chain(
                    frame,
                    step,
                    inv,
                    &mut self.chain_codes,
                    &mut self.chain_recon,
                );
                let costs = (kernels.residual_costs)(&self.chain_codes);
                let within = (max_err as f64) * (1.0 + f32::EPSILON as f64) < limit;
                (within && costs[3] <= MAX_RESIDUAL).then_some(costs)
            });
            for predictor in [predictor, Predictor::Weighted(0)] {
                let (source, weight) = match predictor {
                    Predictor::Weighted(w) => (&self.prev, w),
                    Predictor::Smoothed(n) => (&self.smoothed[(n as usize - 1) % 2], MAX_WEIGHT),
                    Predictor::Mean(w) => (&self.mean, w),
                };
                let (within, costs) = quantize_and_cost(
                    Quantized {
                        codes: &mut self.codes,
                        recon: &mut self.recon,
                    },
                    frame,
                    source,
                    weight,
                    step,
                    limit,
                );
                // Of the differences whose residuals fit, the one with the smallest Σ|residual|
                // (the first on a tie: none, full, half); none when none fits.
                let mut d = (0..3)
                    .filter(|&d| costs[3 + d] <= MAX_RESIDUAL)
                    .min_by_key(|&d| costs[d])
                    .unwrap_or(0);
                // The previous frame's difference, unless another saves more than a mode
                // change costs.
                if let Some((_, dp)) = previous {
                    let dp = dp as usize;
                    if dp != d
                        && costs[3 + dp] <= MAX_RESIDUAL
                        && (costs[dp] + 1) as f64 <= (costs[d] + 1) as f64 * self.sticky
                    {
                        d = dp;
                    }
                }
                let difference = Difference::ALL[d];
                let mut largest = costs[3 + d];
                let mut cost = costs[d];
                let mut step = step;
                if let Some(Some(c)) = chain {
                    if c[0] < cost || !(within && largest <= MAX_RESIDUAL) {
                        core::mem::swap(&mut self.codes, &mut self.chain_codes);
                        core::mem::swap(&mut self.recon, &mut self.chain_recon);
                        (kernels.residuals)(&self.codes, Difference::None, &mut self.frame_symbols);
                        self.max_symbol = self.max_symbol.max(2 * c[3] as u16);
                        return self.accept(MODE_CHAIN, step);
                    }
                }
                if within && largest <= MAX_RESIDUAL {
                    // At low rates (less than a step per value) the previous frame's step, when
                    // finer, is kept if it codes the frame with no more residual steps: most
                    // values round to the same counts, and a new step costs a record change.
                    if let Some(finer) = self.previous_step().filter(|&p| {
                        cost < self.tensor_len as u64
                            && p < step
                            && p as f64 >= allowed as f64 * (1.0 - MAX_STEP_REUSE)
                    }) {
                        let (ok, kept) = quantize_and_cost(
                            Quantized {
                                codes: &mut self.chain_codes,
                                recon: &mut self.chain_recon,
                            },
                            frame,
                            source,
                            weight,
                            finer,
                            limit,
                        );
                        if ok && kept[3 + d] <= MAX_RESIDUAL && kept[d] <= cost {
                            core::mem::swap(&mut self.codes, &mut self.chain_codes);
                            core::mem::swap(&mut self.recon, &mut self.chain_recon);
                            (step, cost, largest) = (finer, kept[d], kept[3 + d]);
                        }
                    }
                    if previous.is_some_and(|kept| {
                        self.keep_previous_mode(frame, kept, (predictor, d), cost, step, limit)
                    }) {
                        return;
                    }
                    (kernels.residuals)(&self.codes, difference, &mut self.frame_symbols);
                    // zigzag(−r) = 2r − 1 and zigzag(r) = 2r.
                    self.max_symbol = self.max_symbol.max(2 * largest as u16);
                    return self.accept(mode_of(predictor, difference), step);
                }
                if predictor == Predictor::Weighted(0) {
                    break;
                }
            }
        }
        // Stored exactly.
        self.raw.extend_from_slice(frame);
        self.prev.copy_from_slice(frame);
        self.records.push(FrameRecord {
            mode: MODE_RAW,
            step: 0.0,
        });
        self.add_decoded();
    }

    /// Picks how to predict `frame` (not a block's first) from the previous decoded frame: the
    /// least-squares weight, or, when tried, the previous frame smoothed 1 to
    /// [`MAX_SMOOTHING_PASSES`] times, whichever is closest to `frame` by
    /// [`prediction_distance`](crate::kernels::coded::prediction_distance). Passes stop when one
    /// more does not get closer, so the chosen smoothed frame is still in `smoothed[(n − 1) % 2]`.
    /// `previous` is the previous frame's predictor, if it has one in this block.
    fn choose_predictor(&mut self, frame: &[f32], previous: Option<Predictor>) -> Predictor {
        let kernels = crate::kernels::active().coded;
        let (prediction_distance, smooth) = (kernels.distance, kernels.smooth);
        let position = self.records.len() as u32 % self.keyframe_interval;
        // From the block's third frame, the mean of its earlier frames may predict better
        // (streams whose frames scatter around a common profile, such as token states): its
        // fit comes from the same pass, against the block's running sum.
        let (fit, mean_fit) = if position >= 2 {
            let [dot, pp, ff, dot_s, ss] = (kernels.fit_sums2)(frame, &self.prev, &self.sum);
            let inv = 1.0 / position as f32;
            (
                Fit::new(dot, pp, ff),
                Some(Fit::new(dot_s * inv, ss * inv * inv, ff)),
            )
        } else {
            let [dot, pp, ff] = (kernels.fit_sums)(frame, &self.prev);
            (Fit::new(dot, pp, ff), None)
        };
        // The previous frame's weight, unless the best one saves more than a mode change costs
        // (by the squared errors: `n/2 · log2` of their ratio bits).
        let sticky_sq = 2.0 * self.sticky - 1.0;
        let mut weight = fit.weight;
        if let Some(Predictor::Weighted(wp)) = previous {
            if wp != weight && fit.squared_error(wp) <= fit.squared_error(weight) * sticky_sq {
                weight = wp;
            }
        }
        let mut base = Predictor::Weighted(weight);
        if let Some(mean_fit) = mean_fit {
            let mut wm = mean_fit.weight;
            if let Some(Predictor::Mean(wp)) = previous {
                if wp != wm && mean_fit.squared_error(wp) <= mean_fit.squared_error(wm) * sticky_sq
                {
                    wm = wp;
                }
            }
            let was_mean = matches!(previous, Some(Predictor::Mean(_)));
            let factor = if was_mean { 1.0 / sticky_sq } else { sticky_sq };
            if wm > 0
                && mean_fit.pp.is_finite()
                && mean_fit.squared_error(wm) * factor < fit.squared_error(weight)
            {
                base = Predictor::Mean(wm);
                block_mean(&self.sum, position, &mut self.mean);
            }
        }
        self.smoothing_recent = self.smoothing_recent.saturating_sub(1);
        if position % PROBE_INTERVAL != 1 && self.smoothing_recent == 0 {
            return base;
        }
        let base_distance = match base {
            Predictor::Mean(w) => prediction_distance(frame, &self.mean, w),
            _ => prediction_distance(frame, &self.prev, weight),
        };
        let mut best = base;
        let mut best_distance = base_distance;
        let mut distances = [f32::INFINITY; MAX_SMOOTHING_PASSES as usize + 1];
        let mut passes = 0;
        for n in 1..=MAX_SMOOTHING_PASSES {
            let [a, b] = &mut self.smoothed;
            let (from, to) = match n {
                1 => (&self.prev[..], a),
                _ if n % 2 == 0 => (&a[..], b),
                _ => (&b[..], a),
            };
            smooth(from, to);
            passes = n;
            let distance = prediction_distance(frame, to, MAX_WEIGHT);
            distances[n as usize] = distance;
            // Stop when a pass gets no closer, or when the first is far off (frames whose
            // neighbouring values are unrelated, such as embeddings).
            if distance >= distances[n as usize - 1] || (n == 1 && distance > 2.0 * best_distance) {
                break;
            }
            if distance < best_distance {
                best = Predictor::Smoothed(n);
                best_distance = distance;
            }
        }
        // Stay with the previous frame's predictor when it was measured and is within a mode
        // change's worth of the best.
        let within = |d: f32| d as f64 <= best_distance as f64 * self.sticky;
        match previous {
            Some(p) if p == base && within(base_distance) => {
                best = base;
            }
            Some(Predictor::Smoothed(m)) if m <= passes && within(distances[m as usize]) => {
                if best != Predictor::Smoothed(m) && m + 1 < passes {
                    // Its pass was overwritten: smooth again.
                    self.smooth_passes(m);
                }
                best = Predictor::Smoothed(m);
            }
            _ => {}
        }
        if let Predictor::Smoothed(_) = best {
            self.smoothing_recent = self.keyframe_interval;
        }
        best
    }

    /// At low rates (the chosen prediction's residuals sum below one step per value), codes
    /// the frame with the previous frame's predictor and difference instead when that is within
    /// bound and its residuals sum to no more steps: most residuals are then 0 whichever
    /// prediction is used, and the mode change would cost bits for nothing. (The distances that
    /// chose the predictor cannot see that: below a step, closer predictions quantize to the
    /// same symbols.) `previous` is the previous frame's predictor and difference, `chosen`
    /// this frame's. Returns whether it did (the frame is then accepted). Not for a block's
    /// first frame.
    fn keep_previous_mode(
        &mut self,
        frame: &[f32],
        (previous, dp): (Predictor, u8),
        (chosen, chosen_difference): (Predictor, usize),
        chosen_cost: u64,
        step: f32,
        limit: f64,
    ) -> bool {
        if chosen_cost >= self.tensor_len as u64 {
            return false;
        }
        let dp = dp as usize;
        if previous == chosen && dp == chosen_difference {
            return false;
        }
        let kernels = crate::kernels::active().coded;
        let position = self.records.len() as u32 % self.keyframe_interval;
        let (source, weight) = match previous {
            Predictor::Weighted(w) => (&self.prev, w),
            // The smoothing buffers may hold the chosen prediction: only redone when it is not
            // a smoothed one (between smoothed ones, `choose_predictor` already stays).
            Predictor::Smoothed(m) => {
                if matches!(chosen, Predictor::Smoothed(_)) {
                    return false;
                }
                self.smooth_passes(m);
                (&self.smoothed[(m as usize - 1) % 2], MAX_WEIGHT)
            }
            Predictor::Mean(w) => {
                if position < 2 {
                    return false;
                }
                block_mean(&self.sum, position, &mut self.mean);
                (&self.mean, w)
            }
        };
        let (within, costs) = quantize_and_cost(
            Quantized {
                codes: &mut self.chain_codes,
                recon: &mut self.chain_recon,
            },
            frame,
            source,
            weight,
            step,
            limit,
        );
        if !(within && costs[3 + dp] <= MAX_RESIDUAL && costs[dp] <= chosen_cost) {
            return false;
        }
        core::mem::swap(&mut self.codes, &mut self.chain_codes);
        core::mem::swap(&mut self.recon, &mut self.chain_recon);
        let difference = Difference::ALL[dp];
        (kernels.residuals)(&self.codes, difference, &mut self.frame_symbols);
        self.max_symbol = self.max_symbol.max(2 * costs[3 + dp] as u16);
        self.accept(mode_of(previous, difference), step);
        true
    }

    /// Smooths the previous decoded frame `n` times, leaving the result in
    /// `smoothed[(n − 1) % 2]`.
    fn smooth_passes(&mut self, n: u8) {
        let smooth = crate::kernels::active().coded.smooth;
        for pass in 1..=n {
            let [a, b] = &mut self.smoothed;
            match pass {
                1 => smooth(&self.prev, a),
                _ if pass % 2 == 0 => smooth(a, b),
                _ => smooth(b, a),
            }
        }
    }

    /// The predictor and difference (0 none, 1 full, 2 half) of the block's previous frame,
    /// when it has one and it is neither raw nor a chain.
    fn previous_mode(&self) -> Option<(Predictor, u8)> {
        let position = self.records.len() as u32 % self.keyframe_interval;
        let last = self.records.last().filter(|_| position != 0)?;
        if last.mode == MODE_RAW || is_chain(last.mode) {
            return None;
        }
        let (prediction, passes) = prediction_of(last.mode)?;
        let predictor = if passes > 0 {
            Predictor::Smoothed(passes)
        } else if last.mode & MODE_MEAN != 0 {
            Predictor::Mean(prediction.weight)
        } else {
            Predictor::Weighted(prediction.weight)
        };
        let difference = Difference::ALL
            .iter()
            .position(|&d| d == prediction.difference)? as u8;
        Some((predictor, difference))
    }

    /// The previous frame's step, unless it is raw or there is none. (Version 4's records carry
    /// the step over blocks, so a block's first frame may keep it too.)
    fn previous_step(&self) -> Option<f32> {
        self.records
            .last()
            .filter(|r| r.mode != MODE_RAW)
            .map(|r| r.step)
    }

    fn accept(&mut self, mode: u8, step: f32) {
        self.symbols.extend_from_slice(&self.frame_symbols);
        core::mem::swap(&mut self.prev, &mut self.recon);
        self.records.push(FrameRecord { mode, step });
        self.add_decoded();
    }

    /// Adds the frame just written (now `prev`) to its block's running sum.
    fn add_decoded(&mut self) {
        let position = (self.records.len() - 1) as u32 % self.keyframe_interval;
        add_to_sum(&mut self.sum, &self.prev, position == 0);
    }

    /// An upper bound on [`write`](Self::write)'s output length.
    pub fn max_encoded_len(&self) -> usize {
        let blocks = (self.records.len() as u32).div_ceil(self.keyframe_interval) as usize;
        // Table: at most 2 bytes per symbol up to the largest used. Codes: at most 12 bits a
        // symbol (the smallest frequency is 1/4096), plus per block its states, a few
        // renormalisation words and its length field.
        let coded_bits = (self.symbols.len() * rans::SCALE_BITS as usize).div_ceil(8);
        HEADER_LEN
            + 4 * (self.max_symbol as usize + 1)
            + blocks * (5 + 2 + rans::max_encoded_len(0))
            + self.records.len() * RECORD_MAX_BYTES
            + RECORDS_OVERHEAD
            + self.raw.len() * 4
            + coded_bits
            + CHECKSUM_LEN
    }

    /// Every symbol's contexts under both context sets, as `2·c5 + c2` (0..10): `c2` whether the
    /// symbol at the same place of the block's previous coded frame is not 0, `c5` that frame's
    /// [`activity_contexts`] there; both 0 in a block's first coded frame. Blocks are back to
    /// back, as in `symbols`.
    fn context_map(&self) -> Vec<u8> {
        let n = self.tensor_len;
        let mut out = alloc::vec![0u8; self.symbols.len()];
        let mut at = 0;
        for records in self.records.chunks(self.keyframe_interval as usize) {
            let coded = records.iter().filter(|r| r.mode != MODE_RAW).count() * n;
            let (block, dst) = (&self.symbols[at..at + coded], &mut out[at..at + coded]);
            at += coded;
            for (d, previous) in dst.chunks_exact_mut(n).skip(1).zip(block.chunks_exact(n)) {
                activity_contexts(previous, d);
                for (c, &p) in d.iter_mut().zip(previous) {
                    *c = 2 * *c + (p != 0) as u8;
                }
            }
        }
        out
    }

    /// Symbol counts under two contexts and under five (see [`context_map`](Self::context_map),
    /// whose output `contexts` is), each as `tables · A` counts (`A = max_symbol + 1`; context
    /// 0's, then 1's, ...), from one count of each symbol under both at once.
    fn context_histograms(&self, contexts: &[u8]) -> (Vec<u32>, Vec<u32>) {
        let a = self.max_symbol as usize + 1;
        // Key `s + A·(2·c5 + c2)` (below 10·A ≤ 40,960, so a u16), made in a pass the compiler
        // vectorizes, then counted once.
        let keys: Vec<u16> = self
            .symbols
            .iter()
            .zip(contexts)
            .map(|(&s, &c)| s + a as u16 * c as u16)
            .collect();
        let joint = histogram(&keys, 2 * ACTIVITY_TABLES * a);
        let mut two = alloc::vec![0u32; 2 * a];
        let mut five = alloc::vec![0u32; ACTIVITY_TABLES * a];
        for (k, counts) in joint.chunks_exact(a).enumerate() {
            let (c5, c2) = (k / 2, k % 2);
            two[c2 * a..(c2 + 1) * a]
                .iter_mut()
                .zip(counts)
                .for_each(|(x, &y)| *x += y);
            five[c5 * a..(c5 + 1) * a]
                .iter_mut()
                .zip(counts)
                .for_each(|(x, &y)| *x += y);
        }
        (two, five)
    }

    /// The segment's symbols as the coder indexes them with `tables` tables (2 or
    /// [`ACTIVITY_TABLES`]): symbol `s` of context `c` becomes `s + c·A`, contexts from
    /// [`context_map`](Self::context_map)'s `contexts`.
    fn context_symbols(&self, tables: usize, contexts: &[u8]) -> Vec<u16> {
        let offset = self.max_symbol + 1;
        let context = |c: u8| {
            if tables == ACTIVITY_TABLES {
                c >> 1
            } else {
                c & 1
            }
        };
        self.symbols
            .iter()
            .zip(contexts)
            .map(|(&s, &c)| s + context(c) as u16 * offset)
            .collect()
    }

    /// One frequency table per context from `split` (the counts of `tables` contexts, back to
    /// back), padded to a common symbol count (a context without symbols gets a table of symbol
    /// 0 alone), with their estimated size in 1/256 bits (symbols by [`rans::cost_q8`], and the
    /// tables as written).
    fn context_tables(split: &[u32], tables: usize) -> (Vec<FreqTable>, u64) {
        let a = split.len() / tables;
        let mut made = Vec::with_capacity(tables);
        let mut symbols = 0;
        for c in split.chunks_exact(a) {
            let mut t = FreqTable::from_counts(c);
            if t.symbol_count() == 0 {
                t = FreqTable::from_counts(&[1]);
            }
            symbols = symbols.max(t.symbol_count());
            made.push(t);
        }
        let mut bits = 0u64;
        for (t, c) in made.iter_mut().zip(split.chunks_exact(a)) {
            *t = t.padded(symbols);
            for (s, &k) in c.iter().enumerate() {
                if k > 0 {
                    bits += k as u64 * rans::cost_q8(t.freq(s).max(1)) as u64;
                }
            }
            bits += 8 * 256 * t.written_len() as u64;
        }
        (made, bits)
    }

    /// Appends the finished segment to `out` (at least one frame must have been added) and
    /// returns its length.
    pub fn write(&self, out: &mut Vec<u8>) -> usize {
        let scratch = &mut Vec::new();
        let start = out.len();
        let n = self.tensor_len;
        // The symbols' tables: one, or one per context (two: whether the value at the same place
        // of the block's previous coded frame coded anything; five: that frame's activity
        // there), whichever is estimated smallest, symbols and tables together.
        let a = self.max_symbol as usize + 1;
        let contexts = self.context_map();
        let (two, five) = self.context_histograms(&contexts);
        let counts: Vec<u32> = two[..a].iter().zip(&two[a..]).map(|(x, y)| x + y).collect();
        let single = FreqTable::from_counts(&counts);
        let (_, mut best_bits) = Self::context_tables(&counts, 1);
        let mut best: Option<(usize, Vec<FreqTable>)> = None;
        if single.symbol_count() > 0 {
            for (count, split) in [(2, &two), (ACTIVITY_TABLES, &five)] {
                let (tables, bits) = Self::context_tables(split, count);
                if bits < best_bits {
                    (best_bits, best) = (bits, Some((count, tables)));
                }
            }
        }
        let (tables, coded_symbols) = match best {
            Some((count, tables)) => (tables, self.context_symbols(count, &contexts)),
            None => (alloc::vec![single], Vec::new()),
        };
        // The coder indexes symbols as they are coded: `self.symbols` with one table; with
        // several, the context symbols (symbol `s` of context `c` is `c·A + s`), so its tables
        // are padded to `A` symbols each.
        let table = &tables[0];
        let (coder, coded_symbols) = if tables.len() > 1 {
            let padded: Vec<FreqTable> = tables.iter().map(|t| t.padded(a)).collect();
            (
                rans::EncodeTable::with_contexts(&padded.iter().collect::<Vec<_>>()),
                &coded_symbols,
            )
        } else {
            (rans::EncodeTable::new(table), &self.symbols)
        };
        let frames = self.records.len() as u32;
        let k = self.keyframe_interval;
        out.extend_from_slice(&crate::segment::MAGIC.to_le_bytes());
        out.push(VERSION_CODED);
        out.push(self.bits);
        out.extend_from_slice(&(k as u16).to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&frames.to_le_bytes());
        out.extend_from_slice(&self.bound.to_le_bytes());
        out.extend_from_slice(&(table.symbol_count() as u16).to_le_bytes());
        out.push(tables.len() as u8 - 1);
        out.push(0);
        out.extend_from_slice(&0u32.to_le_bytes()); // byte_len, patched below
        for t in &tables {
            t.write(out);
        }
        let mut records = RecordWriter::new();
        for (i, r) in self.records.iter().enumerate() {
            let code = if r.mode == MODE_RAW {
                0
            } else {
                step_code(r.step)
            };
            records.push(Record { mode: r.mode, code }, i as u32 % k == 0);
        }
        let records = records.finish();
        write_varint(records.len() as u32, out);
        out.extend_from_slice(&records);
        // Blocks go to a scratch buffer first: their lengths (LEB128) come before them.
        let blocks = frames.div_ceil(k) as usize;
        let mut block_bytes = Vec::new();
        let mut lens = Vec::with_capacity(blocks);
        // Symbol costs (1/256 bit, indexed as the coder's symbols) for picking each block's
        // lanes without coding it twice, made only when some block is short enough for one
        // lane; the tables' mean cost rules out the long streams at once.
        let all_tables: Vec<&FreqTable> = tables.iter().collect();
        let stride = if tables.len() > 1 {
            a
        } else {
            table.symbol_count()
        };
        let may_use_one_lane = self.records.chunks(k as usize).any(|block| {
            block.iter().filter(|r| r.mode != MODE_RAW).count() * n <= ONE_LANE_MAX_SYMBOLS
        });
        let costs: Vec<u32> = if may_use_one_lane {
            all_tables
                .iter()
                .flat_map(|t| {
                    (0..stride).map(|s| {
                        let f = if s < t.symbol_count() { t.freq(s) } else { 0 };
                        rans::cost_q8(f.max(1))
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mean_cost: u64 = all_tables
            .iter()
            .enumerate()
            .map(|(c, t)| {
                (0..t.symbol_count())
                    .map(|s| {
                        t.freq(s) as u64 * costs.get(c * stride + s).copied().unwrap_or(0) as u64
                    })
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
            / rans::SCALE as u64;
        let mut sym_at = 0;
        let mut raw_at = 0;
        for records in self.records.chunks(k as usize) {
            let block_start = block_bytes.len();
            let raw_count = records.iter().filter(|r| r.mode == MODE_RAW).count() * n;
            for v in &self.raw[raw_at..raw_at + raw_count] {
                block_bytes.extend_from_slice(&v.to_le_bytes());
            }
            raw_at += raw_count;
            let coded = records.len() * n - raw_count;
            let syms = &coded_symbols[sym_at..sym_at + coded];
            sym_at += coded;
            // Estimated bytes of the symbols (without the states).
            let estimate = |bits_q8: u64| bits_q8 / (8 * 256);
            let limit = ONE_LANE_MAX_BYTES as u64;
            let one_lane = coded <= ONE_LANE_MAX_SYMBOLS
                && estimate(mean_cost * coded as u64) < 4 * limit
                && estimate(syms.iter().map(|&s| costs[s as usize] as u64).sum())
                    + (rans::STATE_BYTES as u64)
                    < limit;
            let lanes = if one_lane { 1 } else { rans::LANES };
            rans::encode(syms, &coder, lanes, scratch, &mut block_bytes);
            lens.push((((block_bytes.len() - block_start) as u64) << 1) | one_lane as u64);
        }
        for field in lens {
            write_varint(field as u32, out);
        }
        out.extend_from_slice(&block_bytes);
        let byte_len = out.len() - start + CHECKSUM_LEN;
        out[start + 24..start + 28].copy_from_slice(&(byte_len as u32).to_le_bytes());
        let crc = crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        byte_len
    }
}

/// Counts of each value below `size` in `keys`, into four interleaved copies so runs of one
/// value do not wait on their own previous increment.
fn histogram(keys: &[u16], size: usize) -> Vec<u32> {
    let mut tables = alloc::vec![0u32; 4 * size];
    let (t0, rest) = tables.split_at_mut(size);
    let (t1, rest) = rest.split_at_mut(size);
    let (t2, t3) = rest.split_at_mut(size);
    let mut quads = keys.chunks_exact(4);
    for c in &mut quads {
        t0[c[0] as usize] += 1;
        t1[c[1] as usize] += 1;
        t2[c[2] as usize] += 1;
        t3[c[3] as usize] += 1;
    }
    for &c in quads.remainder() {
        t0[c as usize] += 1;
    }
    for i in 0..size {
        t0[i] += t1[i] + t2[i] + t3[i];
    }
    tables.truncate(size);
    tables
}

/// Where [`quantize_and_cost`] writes a frame's step counts and reconstruction.
struct Quantized<'a> {
    codes: &'a mut [i32],
    recon: &'a mut [f32],
}

/// Quantizes `frame` against `(weight/16)·source` with `step` (its reciprocal must be normal)
/// into `out`, and returns whether every value is within `limit` of its reconstruction, with
/// the residual costs of [`residual_costs`](crate::kernels::coded::residual_costs).
fn quantize_and_cost(
    out: Quantized<'_>,
    frame: &[f32],
    source: &[f32],
    weight: u8,
    step: f32,
    limit: f64,
) -> (bool, [u64; 6]) {
    let kernels = crate::kernels::active().coded;
    let [max_err, _] = (kernels.quantize)(
        frame,
        source,
        weight,
        step,
        1.0 / step,
        out.codes,
        out.recon,
    );
    // The f32 error may be rounded down by half an ulp; allow for it.
    let within = (max_err as f64) * (1.0 + f32::EPSILON as f64) < limit;
    (within, (kernels.residual_costs)(out.codes))
}

/// How much finer than its own step a frame's step may be when it reuses the block's previous
/// one. A new step costs about a byte; a step finer by a factor `r` costs up to `n · log2(1/r)`
/// bits over `n` values, so reuse pays while that stays below 8 bits: `r ≥ 2^(−8/n)`, about
/// `1 − 5.5/n`. At least 1/64 (at low rates, where most steps are far from the values, a finer
/// step costs less than that estimate), at most one half.
fn step_reuse_tolerance(tensor_len: usize) -> f64 {
    (8.0 * core::f64::consts::LN_2 / tensor_len as f64).clamp(1.0 / 64.0, MAX_STEP_REUSE)
}

/// The most a reused step may be finer than a frame's own, as a fraction of it: one half.
const MAX_STEP_REUSE: f64 = 0.5;

/// Approximate cost of changing a frame's mode in a version-4 record, in bits: a different
/// predictor or difference must save more than this over the previous frame's.
const MODE_CHANGE_BITS: f64 = 6.0;

/// The factor by which the previous frame's choice may be worse (in summed absolute residuals
/// or distances) and still be kept: `2^(MODE_CHANGE_BITS / n)`, as `1 + MODE_CHANGE_BITS·ln 2 / n`
/// (plain arithmetic, so every backend decides alike).
fn sticky_factor(tensor_len: usize) -> f64 {
    1.0 + MODE_CHANGE_BITS * core::f64::consts::LN_2 / tensor_len as f64
}

/// A least-squares fit of `frame` by `(k/16)·prev`: the best `k` and the sums to price others
/// (taken over 8 fixed lanes in a fixed order by the kernels, so every backend picks the same).
struct Fit {
    weight: u8,
    dot: f32,
    pp: f32,
    ff: f32,
}

impl Fit {
    /// The least-squares weight `k` in `0..=16` for `(k/16)·prev` from the sums
    /// `Σ f·p`, `Σ p·p` and `Σ f·f` (0 when they are not usable).
    fn new(dot: f32, pp: f32, ff: f32) -> Fit {
        let weight = if pp > 0.0 && pp.is_finite() && dot.is_finite() {
            round_ties_even(clamp(16.0 * (dot / pp), 0.0, 16.0)) as u8
        } else {
            0
        };
        Fit {
            weight,
            dot,
            pp,
            ff,
        }
    }

    /// `Σ (frame − (w/16)·prev)²`, from the sums.
    fn squared_error(&self, w: u8) -> f64 {
        let w = w as f64 / 16.0;
        let (dot, pp, ff) = (self.dot as f64, self.pp as f64, self.ff as f64);
        (ff - 2.0 * w * dot + w * w * pp).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bytes_with_mean_prediction_are_checked() {
        // Mean prediction needs a weight, and is neither smoothed nor a chain.
        assert_eq!(
            prediction_of(MODE_MEAN | 9),
            Some((
                Prediction {
                    weight: 9,
                    difference: Difference::None
                },
                0
            ))
        );
        assert!(prediction_of(MODE_MEAN | MODE_SPATIAL | MODE_CHAIN | 16).is_some());
        for bad in [
            MODE_MEAN,
            MODE_MEAN | MODE_SPATIAL,
            MODE_MEAN | (SMOOTHED + 1),
            MODE_MEAN | MODE_CHAIN,
            MODE_MEAN | 17,
            21,
        ] {
            assert_eq!(prediction_of(bad), None, "{bad:#x}");
        }
        // Not on a block's first frame (it has nothing to average).
        assert_eq!(
            checked_record(MODE_MEAN | 4, 100, true),
            Err(corrupt(SegmentField::FrameMode))
        );
        assert!(checked_record(MODE_MEAN | 4, 100, false).is_ok());
    }

    #[test]
    fn block_mean_is_sum_times_the_rounded_reciprocal() {
        let mut sum = [0.0f32; 3];
        add_to_sum(&mut sum, &[1.0, 2.0, 3.0], true);
        add_to_sum(&mut sum, &[0.5, -2.0, 1e30], false);
        add_to_sum(&mut sum, &[0.25, 0.0, 1e30], false);
        let mut mean = [0.0f32; 3];
        block_mean(&sum, 3, &mut mean);
        let third = 1.0f32 / 3.0;
        assert_eq!(mean, [1.75 * third, 0.0, (3.0 + 1e30 + 1e30) * third]);
        // A new block starts the sum over.
        add_to_sum(&mut sum, &[7.0, 7.0, 7.0], true);
        assert_eq!(sum, [7.0; 3]);
    }
}
