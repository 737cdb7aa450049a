//! The TQTC segment byte formats: validating and decoding any version, writing versions 1 and 2.
//!
//! Two formats share the magic and the version byte:
//! - [`Format::Packed`], versions 1 and 2: ADR-017 §3.3's fixed-width layout (below), which other
//!   TQTC implementations read and write. Codes have a fixed width, so any frame decodes alone.
//! - [`Format::Coded`], versions 3 to 5 (5 written): error-bounded steps, prediction and
//!   entropy coding, described in [`crate::coded`].
//!
//! The functions here ([`SegmentHeader::parse`], [`decode`], [`decode_frame`], ...) accept every
//! version. All integers are little-endian. Version 1 stores scales as f16, version 2 as f32:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `0x43545154` (`"TQTC"`) |
//! | 4 | 1 | version (1 or 2) |
//! | 5 | 1 | bits per code (1..=8) |
//! | 6 | 4 | group_len (≥ 1) |
//! | 10 | 4 | tensor_len (≥ 1) |
//! | 14 | 4 | frame_count (≥ 1) |
//! | 18 | 4 | scale_count = ceil(tensor_len / group_len) |
//! | 22 | W·S | scales (W = 2 for v1, 4 for v2): ≥ 0, `(qmax + 1) · scale` finite |
//! | 22 + W·S | 4 | data_len = ceil(tensor_len · frame_count · bits / 8) |
//! | 26 + W·S | D | codes, frame after frame, no padding ([`crate::bitpack`]) |
//!
//! A segment's length is `26 + W·S + D`; bytes after it are not part of it.
//!
//! **Frame-padded packed segments.** Some writers start every frame on a byte boundary, so their
//! `data_len` is `frame_count · ceil(tensor_len · bits / 8)`. The decoders here read that layout
//! too ([`SegmentHeader::frame_padded`]); [`SegmentParts`] always writes the unpadded layout
//! above. The two layouts differ only when `tensor_len · bits` is not a multiple of 8 and
//! `frame_count > 1`; when their lengths then happen to coincide (`frame_count · (8 − r) < 8`,
//! `r = tensor_len · bits mod 8`), `data_len` cannot tell them apart and the segment is read as
//! the unpadded layout ADR-017 §3.3 specifies.

use crate::bitpack::{packed_len, BitReader};
use crate::coded::{self, CodedHeader};
use crate::error::{Error, SegmentField};
use crate::f16::{f16_bits_to_f32, f32_to_f16_bits};
use crate::limits;
use crate::quantizer::{dequantize_frame, max_code_magnitude, ScaleFormat};
use alloc::vec::Vec;

/// The segment magic, `"TQTC"` read as a little-endian `u32`.
pub const MAGIC: u32 = 0x4354_5154;
/// Format version with f16 scales.
pub const VERSION_F16_SCALES: u8 = 1;
/// Format version with f32 scales.
pub const VERSION_F32_SCALES: u8 = 2;
/// Bytes of a segment that are not scales or codes.
pub const FIXED_HEADER_LEN: usize = 26;

/// The two segment formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Versions 1 and 2: fixed-width codes with group scales (ADR-017 §3.3).
    Packed,
    /// Version 3: error-bounded steps, prediction and rANS coding ([`crate::coded`]).
    Coded,
}

impl Format {
    /// Lower-case name: `"packed"` or `"coded"`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Packed => "packed",
            Format::Coded => "coded",
        }
    }
}

/// A validated segment header. Every field has been checked against the bytes it came from
/// (for coded versions, the checksum too).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentHeader {
    /// 1 (packed, f16 scales), 2 (packed, f32 scales), 3 or 4 (coded).
    pub version: u8,
    /// Bits per code, 1..=8; for coded segments, the packed width whose bound they keep.
    pub bits: u8,
    /// Values per quantization group, ≥ 1 (0 for coded segments, which have no groups).
    pub group_len: u32,
    /// Values per frame, ≥ 1.
    pub tensor_len: u32,
    /// Frames in the segment, ≥ 1.
    pub frame_count: u32,
    /// Number of scales, `ceil(tensor_len / group_len)` (0 for coded segments).
    pub scale_count: u32,
    /// Bytes of packed codes (coded segments: bytes between the header and the checksum).
    pub data_len: u32,
    /// The whole segment's length in bytes (header, scales and codes).
    pub byte_len: usize,
    /// The bound on `max|v − v'| / max|v|` each frame keeps: ADR-017 §8.2's bound for the width
    /// (packed), or the bound the encoder checked every frame against (coded).
    pub bound: f32,
    /// The most frames decoding one frame touches: 1 for packed segments, the keyframe interval
    /// for coded ones.
    pub keyframe_interval: u32,
    /// `true` for a packed segment whose frames each start on a byte boundary
    /// (`data_len = frame_count · ceil(tensor_len · bits / 8)`, see the module docs); `false` for
    /// the unpadded ADR-017 layout this crate writes, and for coded segments.
    pub frame_padded: bool,
}

impl SegmentHeader {
    /// Parses and validates the segment at the start of `bytes` (trailing bytes are ignored).
    ///
    /// Checks, in order: length of the fixed header, magic, version, bits, group_len,
    /// tensor_len, frame_count, scale_count, length of the scales, data_len, length of the
    /// codes, and that every scale is finite, non-negative and small enough that every code
    /// decodes to a finite value. Nothing is allocated.
    pub fn parse(bytes: &[u8]) -> Result<SegmentHeader, Error> {
        if bytes.len() >= 5 && read_u32(bytes, 0) == MAGIC && coded::is_coded_version(bytes[4]) {
            return CodedHeader::parse(bytes).map(SegmentHeader::from_coded);
        }
        let available = bytes.len() as u64;
        if bytes.len() < 22 {
            return Err(truncated(FIXED_HEADER_LEN as u64, available));
        }
        if read_u32(bytes, 0) != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = bytes[4];
        let scale_width: u64 = match version {
            VERSION_F16_SCALES => 2,
            VERSION_F32_SCALES => 4,
            _ => return Err(Error::UnsupportedVersion { version }),
        };
        let bits = bytes[5];
        let group_len = read_u32(bytes, 6);
        let tensor_len = read_u32(bytes, 10);
        let frame_count = read_u32(bytes, 14);
        let scale_count = read_u32(bytes, 18);
        let corrupt = |field| Err(Error::CorruptSegment { field });
        if !(1..=8).contains(&bits) {
            return corrupt(SegmentField::Bits);
        }
        if group_len == 0 {
            return corrupt(SegmentField::GroupLen);
        }
        if tensor_len == 0 {
            return corrupt(SegmentField::TensorLen);
        }
        if frame_count == 0 {
            return corrupt(SegmentField::FrameCount);
        }
        if scale_count != tensor_len.div_ceil(group_len) {
            return corrupt(SegmentField::ScaleCount);
        }
        let scales_end = 22 + scale_width * scale_count as u64;
        if available < scales_end + 4 {
            return Err(truncated(scales_end + 4, available));
        }
        let data_len = read_u32(bytes, scales_end as usize);
        let frame_padded = match packed_layout(tensor_len, frame_count, bits, data_len) {
            Some(padded) => padded,
            None => return corrupt(SegmentField::DataLen),
        };
        let byte_len = scales_end + 4 + data_len as u64;
        if available < byte_len {
            return Err(truncated(byte_len, available));
        }
        let header = SegmentHeader {
            version,
            bits,
            group_len,
            tensor_len,
            frame_count,
            scale_count,
            data_len,
            byte_len: byte_len as usize,
            bound: crate::quantizer::error_bound(bits as u32).unwrap_or(0.0),
            keyframe_interval: 1,
            frame_padded,
        };
        if !ScaleTable::new(bytes, &header).all_valid(bits) {
            return corrupt(SegmentField::Scale);
        }
        Ok(header)
    }

    fn from_coded(h: CodedHeader) -> SegmentHeader {
        SegmentHeader {
            version: h.version,
            bits: h.bits,
            group_len: 0,
            tensor_len: h.tensor_len,
            frame_count: h.frame_count,
            scale_count: 0,
            data_len: (h.byte_len - coded::HEADER_LEN - coded::CHECKSUM_LEN) as u32,
            byte_len: h.byte_len,
            bound: h.bound,
            keyframe_interval: h.keyframe_interval,
            frame_padded: false,
        }
    }

    /// Which format the segment is in.
    pub fn format(&self) -> Format {
        if coded::is_coded_version(self.version) {
            Format::Coded
        } else {
            Format::Packed
        }
    }

    /// Width in bytes of one stored scale (2 for version 1, 4 for version 2).
    pub fn scale_width(&self) -> usize {
        if self.version == VERSION_F16_SCALES {
            2
        } else {
            4
        }
    }

    /// Number of decoded `f32` values, `tensor_len * frame_count`.
    pub fn value_count(&self) -> u64 {
        self.tensor_len as u64 * self.frame_count as u64
    }

    /// Bytes the frames would take as raw `f32`, `4 * tensor_len * frame_count`.
    pub fn raw_bytes(&self) -> u64 {
        4 * self.value_count()
    }

    /// Compression ratio against raw `f32`: `raw_bytes / byte_len`.
    pub fn compression_ratio(&self) -> f64 {
        self.raw_bytes() as f64 / self.byte_len as f64
    }

    fn data_offset(&self) -> usize {
        FIXED_HEADER_LEN + self.scale_width() * self.scale_count as usize
    }
}

/// Which packed layout a `data_len` describes: `Some(false)` for the unpadded ADR-017 layout
/// (`ceil(tensor_len · frame_count · bits / 8)`, preferred when both match), `Some(true)` for
/// frames padded to whole bytes (`frame_count · ceil(tensor_len · bits / 8)`), `None` for neither.
fn packed_layout(tensor_len: u32, frame_count: u32, bits: u8, data_len: u32) -> Option<bool> {
    let bits = bits as u32;
    let data_len = Some(data_len as u64);
    if packed_len(tensor_len as u64 * frame_count as u64, bits) == data_len {
        return Some(false);
    }
    let padded = packed_len(tensor_len as u64, bits)?.checked_mul(frame_count as u64);
    (padded == data_len).then_some(true)
}

fn truncated(needed: u64, available: u64) -> Error {
    Error::Truncated { needed, available }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads scales straight from a validated segment's bytes.
struct ScaleTable<'a> {
    bytes: &'a [u8],
    f16: bool,
}

impl<'a> ScaleTable<'a> {
    fn new(bytes: &'a [u8], header: &SegmentHeader) -> Self {
        ScaleTable {
            bytes: &bytes[22..header.data_offset() - 4],
            f16: header.version == VERSION_F16_SCALES,
        }
    }

    /// Every scale is non-negative (not `-0`), finite, and small enough that the top code
    /// `2^bits − 1`, which decodes to `(qmax + 1) · scale`, decodes to a finite value.
    fn all_valid(&self, bits: u8) -> bool {
        if self.f16 {
            // Every finite binary16 times `qmax + 1 <= 128` is finite in f32: the sign and the
            // exponent field (31 is Inf or NaN) say it all.
            self.bytes
                .chunks_exact(2)
                .all(|h| h[1] & 0x80 == 0 && h[1] & 0x7c != 0x7c)
        } else {
            let q = max_code_magnitude(bits as u32);
            self.bytes.chunks_exact(4).all(|b| {
                let s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                s.is_sign_positive() && (s * q).is_finite() && s.is_finite()
            })
        }
    }

    /// Every scale as `f32`, into `out` (one slot per scale).
    fn read_into(&self, out: &mut [f32]) {
        if self.f16 {
            for (slot, h) in out.iter_mut().zip(self.bytes.chunks_exact(2)) {
                *slot = f16_bits_to_f32(u16::from_le_bytes([h[0], h[1]]));
            }
        } else {
            for (slot, b) in out.iter_mut().zip(self.bytes.chunks_exact(4)) {
                *slot = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
    }
}

/// Length in bytes of a segment with these parameters, or `None` if it would not fit the format
/// (`data_len` beyond `u32`).
pub fn encoded_len(
    format: ScaleFormat,
    tensor_len: u32,
    group_len: u32,
    frame_count: u32,
    bits: u32,
) -> Option<usize> {
    let width = match format {
        ScaleFormat::F16 => 2,
        ScaleFormat::F32 => 4,
    };
    let data = packed_len(tensor_len as u64 * frame_count as u64, bits)?;
    if data > u32::MAX as u64 {
        return None;
    }
    let total = FIXED_HEADER_LEN as u64 + width * tensor_len.div_ceil(group_len) as u64 + data;
    usize::try_from(total).ok()
}

/// The parts of a segment, borrowed, ready to be written.
#[derive(Clone, Copy, Debug)]
pub struct SegmentParts<'a> {
    /// How scales are stored.
    pub format: ScaleFormat,
    /// Bits per code.
    pub bits: u32,
    /// Values per group.
    pub group_len: u32,
    /// Values per frame.
    pub tensor_len: u32,
    /// Frames in `data`.
    pub frame_count: u32,
    /// Stored scale values (exactly representable in `format`).
    pub scales: &'a [f32],
    /// Packed codes, `ceil(tensor_len * frame_count * bits / 8)` bytes.
    pub data: &'a [u8],
}

impl SegmentParts<'_> {
    /// The segment's length in bytes.
    pub fn encoded_len(&self) -> usize {
        let width = match self.format {
            ScaleFormat::F16 => 2,
            ScaleFormat::F32 => 4,
        };
        FIXED_HEADER_LEN + width * self.scales.len() + self.data.len()
    }

    /// Writes the segment into `out[..self.encoded_len()]`.
    ///
    /// # Panics
    /// If `out` is shorter than [`Self::encoded_len`].
    pub fn write(&self, out: &mut [u8]) {
        let out = &mut out[..self.encoded_len()];
        let head = self.head_len();
        self.write_head(&mut out[..head]);
        out[head..].copy_from_slice(self.data);
    }

    /// Appends the segment to `out` (the codes copied once, nothing zero-filled first).
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        let start = out.len();
        out.resize(start + self.head_len(), 0);
        self.write_head(&mut out[start..]);
        out.extend_from_slice(self.data);
    }

    /// Bytes before the codes: the fixed header, the scales and `data_len`.
    fn head_len(&self) -> usize {
        self.encoded_len() - self.data.len()
    }

    /// Writes the bytes before the codes into `out[..self.head_len()]`.
    fn write_head(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4] = match self.format {
            ScaleFormat::F16 => VERSION_F16_SCALES,
            ScaleFormat::F32 => VERSION_F32_SCALES,
        };
        out[5] = self.bits as u8;
        out[6..10].copy_from_slice(&self.group_len.to_le_bytes());
        out[10..14].copy_from_slice(&self.tensor_len.to_le_bytes());
        out[14..18].copy_from_slice(&self.frame_count.to_le_bytes());
        out[18..22].copy_from_slice(&(self.scales.len() as u32).to_le_bytes());
        let mut at = 22;
        for &s in self.scales {
            match self.format {
                ScaleFormat::F16 => {
                    out[at..at + 2].copy_from_slice(&f32_to_f16_bits(s).to_le_bytes());
                    at += 2;
                }
                ScaleFormat::F32 => {
                    out[at..at + 4].copy_from_slice(&s.to_le_bytes());
                    at += 4;
                }
            }
        }
        out[at..at + 4].copy_from_slice(&(self.data.len() as u32).to_le_bytes());
    }
}

/// Decodes every frame of the segment at the start of `bytes` into `out`, frame after frame.
///
/// Returns the header and the number of values written (`tensor_len * frame_count`). If `out` is
/// too short, returns [`Error::BufferTooSmall`] with the number of values needed and writes
/// nothing.
pub fn decode_into(bytes: &[u8], out: &mut [f32]) -> Result<(SegmentHeader, usize), Error> {
    let header = SegmentHeader::parse(bytes)?;
    if header.format() == Format::Coded {
        coded::decode_into(bytes, out)?;
        return Ok((header, header.value_count() as usize));
    }
    let values = header.value_count();
    if (out.len() as u64) < values {
        return Err(Error::BufferTooSmall {
            needed: values,
            available: out.len() as u64,
        });
    }
    let values = values as usize;
    decode_range(bytes, &header, 0, &mut out[..values]);
    Ok((header, values))
}

/// Decodes every frame of the segment at the start of `bytes`, appending to `out`.
///
/// Refuses with [`Error::LimitExceeded`] (before allocating) a segment of more than
/// [`limits::MAX_DECODE_VALUES`] values. For packed segments the amount is also bounded by the
/// segment's byte length (at most 32 values per byte). On error `out` is left as it was.
pub fn decode(bytes: &[u8], out: &mut Vec<f32>) -> Result<SegmentHeader, Error> {
    let header = SegmentHeader::parse(bytes)?;
    let values = header.value_count();
    if values > limits::MAX_DECODE_VALUES {
        return Err(Error::LimitExceeded {
            what: "decoded values",
            max: limits::MAX_DECODE_VALUES,
            requested: values,
        });
    }
    let start = out.len();
    out.resize(start + values as usize, 0.0);
    if header.format() == Format::Coded {
        if let Err(e) = coded::decode_into(bytes, &mut out[start..]) {
            out.truncate(start);
            return Err(e);
        }
    } else {
        decode_range(bytes, &header, 0, &mut out[start..]);
    }
    Ok(header)
}

/// Decodes frame `index` alone (random access) into `out[..tensor_len]`.
///
/// Errors: anything [`SegmentHeader::parse`] reports, [`Error::FrameOutOfRange`], or
/// [`Error::BufferTooSmall`] (in values) if `out` is shorter than `tensor_len`.
pub fn decode_frame_into(
    bytes: &[u8],
    index: u64,
    out: &mut [f32],
) -> Result<SegmentHeader, Error> {
    let header = SegmentHeader::parse(bytes)?;
    if header.format() == Format::Coded {
        coded::decode_frame_into(bytes, index, out)?;
        return Ok(header);
    }
    if index >= header.frame_count as u64 {
        return Err(Error::FrameOutOfRange {
            index,
            frame_count: header.frame_count,
        });
    }
    let n = header.tensor_len as usize;
    if out.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n as u64,
            available: out.len() as u64,
        });
    }
    decode_range(bytes, &header, index, &mut out[..n]);
    Ok(header)
}

/// Decodes frame `index` alone into a new vector of `tensor_len` values.
pub fn decode_frame(bytes: &[u8], index: u64) -> Result<Vec<f32>, Error> {
    let header = SegmentHeader::parse(bytes)?;
    let mut out = alloc::vec![0.0; header.tensor_len as usize];
    decode_frame_into(bytes, index, &mut out)?;
    Ok(out)
}

/// Decodes whole frames starting at `first_frame` into `out` (a multiple of `tensor_len`).
fn decode_range(bytes: &[u8], header: &SegmentHeader, first_frame: u64, out: &mut [f32]) {
    let data_start = header.data_offset();
    let data = &bytes[data_start..data_start + header.data_len as usize];
    let n = header.tensor_len as usize;
    let bits = header.bits as u32;
    let table = ScaleTable::new(bytes, header);
    // The scales as f32, on the stack when there are few (no allocation per segment).
    let count = header.scale_count as usize;
    let mut few = [0f32; 64];
    let mut many = Vec::new();
    let scales: &mut [f32] = if count <= few.len() {
        &mut few[..count]
    } else {
        many.resize(count, 0.0);
        &mut many
    };
    table.read_into(scales);
    let scales = &*scales;
    let group_len = header.group_len as usize;
    if n % 8 == 0 && group_len % 8 == 0 {
        // The usual shape: every frame starts on a byte boundary (in both layouts, which then
        // coincide), `n / 8 · bits` bytes after the previous one, and the whole-frame kernel
        // decodes it in one call.
        let kernels = crate::kernels::active();
        let q = crate::quantizer::qmax(bits) as i32;
        let stride = n / 8 * bits as usize;
        let mut at = data_start + first_frame as usize * stride;
        for frame in out.chunks_mut(n) {
            // From the frame's first byte to the end of `bytes`: the kernel reads the frame's
            // `stride` bytes, and may load (and ignore) bytes after them, which lets it use
            // whole-vector loads up to the frame's last code.
            (kernels.unpack_dequantize_groups)(&bytes[at..], bits, group_len, scales, q, frame);
            at += stride;
        }
        return;
    }
    if header.frame_padded {
        // Every frame starts on a byte boundary, `stride` bytes after the previous one.
        let stride = (n as u64 * bits as u64).div_ceil(8);
        for (k, frame) in out.chunks_mut(n).enumerate() {
            let start = (first_frame + k as u64) * stride;
            let frame_bytes = &data[start as usize..(start + stride) as usize];
            let mut reader = BitReader::new(frame_bytes, 0, bits);
            dequantize_frame(&mut reader, bits, group_len, scales, frame);
        }
        return;
    }
    let bit_offset = first_frame * n as u64 * bits as u64;
    let mut reader = BitReader::new(data, bit_offset, bits);
    for frame in out.chunks_mut(n) {
        dequantize_frame(&mut reader, bits, group_len, scales, frame);
    }
}

/// Iterates over segments stored back to back (as in a `.tqtc` file).
///
/// Yields each segment's bytes; stops after the first error (which it yields).
pub fn split_segments(bytes: &[u8]) -> SegmentIter<'_> {
    SegmentIter {
        rest: bytes,
        failed: false,
    }
}

/// Iterator returned by [`split_segments`].
#[derive(Debug)]
pub struct SegmentIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for SegmentIter<'a> {
    type Item = Result<(SegmentHeader, &'a [u8]), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match SegmentHeader::parse(self.rest) {
            Ok(header) => {
                let (segment, rest) = self.rest.split_at(header.byte_len);
                self.rest = rest;
                Some(Ok((header, segment)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_scale_check_is_the_float_rule() {
        // Every binary16 pattern, at every width: the bit test on stored f16 scales accepts
        // exactly the scales the f32 rule (non-negative, finite, top code finite) accepts.
        for bits in 1..=8u8 {
            let q = max_code_magnitude(bits as u32);
            for half in 0..=u16::MAX {
                let s = f16_bits_to_f32(half);
                let rule = s.is_sign_positive() && (s * q).is_finite() && s.is_finite();
                let bytes = half.to_le_bytes();
                let table = ScaleTable {
                    bytes: &bytes,
                    f16: true,
                };
                assert_eq!(table.all_valid(bits), rule, "{half:#06x} bits={bits}");
                let mut read = [0f32];
                table.read_into(&mut read);
                assert_eq!(read[0].to_bits(), s.to_bits());
            }
        }
    }
}
