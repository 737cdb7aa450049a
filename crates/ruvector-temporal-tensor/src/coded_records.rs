//! The frame records of a version-4 coded segment: each frame's mode byte and step code, range
//! coded ([`crate::range_coder`]) in one stream per segment, so that a frame described like
//! the one before it costs a fraction of a bit instead of a byte or two.
//!
//! For each frame, in order (the models below start at even odds for every segment):
//! 1. *same mode*: whether the mode equals the previous frame's (the first frame compares with
//!    mode 0), with one of four models chosen by whether the frame starts a block and by the
//!    previous frame's *same mode* bit (0 before the first frame).
//! 2. Unless the same: the mode byte (flag E cleared; 255 for a raw frame), eight bits most
//!    significant first through a bit tree (one tree for frames that start a block, one for the
//!    others).
//! 3. For a non-raw frame, *same step*: whether its step code equals the previous non-raw
//!    frame's (0 before the first), with one of two models chosen by the previous *same step*
//!    bit (0 before the first); unless the same, the change `d` of the code: its sign (one
//!    model, 1 = negative), then `m = |d|`, which is ≥ 1, as its bit length `L` in `1..=16`
//!    (the value `L − 1` through a four-bit tree) followed by the `L − 1` bits of `m` below its
//!    leading one, the first of them through a model chosen by `L` and the rest at even odds.

use crate::range_coder::{Bit, Decoder, Encoder};

/// A frame record: mode byte without flag E (255 = raw) and step code (0 for a raw frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Record {
    /// The mode byte with flag E clear.
    pub mode: u8,
    /// The 16-bit step code (`step = f32::from_bits(code << 15)`); 0 for raw frames.
    pub code: u16,
}

/// The adaptive models, and what they condition on.
#[derive(Clone, Debug)]
struct Models {
    same_mode: [Bit; 4],
    mode_tree: [[Bit; 256]; 2],
    same_step: [Bit; 2],
    sign: Bit,
    length_tree: [Bit; 16],
    first_bit: [Bit; 16],
    previous: Record,
    last_same_mode: bool,
    last_same_step: bool,
}

impl Models {
    fn new() -> Models {
        Models {
            same_mode: [Bit::default(); 4],
            mode_tree: [[Bit::default(); 256]; 2],
            same_step: [Bit::default(); 2],
            sign: Bit::default(),
            length_tree: [Bit::default(); 16],
            first_bit: [Bit::default(); 16],
            previous: Record::default(),
            last_same_mode: false,
            last_same_step: false,
        }
    }
}

/// Writes the records of one segment.
#[derive(Debug)]
pub struct RecordWriter {
    coder: Encoder,
    models: alloc::boxed::Box<Models>,
    /// The previous non-raw frame's step code.
    code: u16,
}

impl Default for RecordWriter {
    fn default() -> RecordWriter {
        RecordWriter::new()
    }
}

impl RecordWriter {
    /// An empty record stream.
    pub fn new() -> RecordWriter {
        RecordWriter {
            coder: Encoder::new(),
            models: alloc::boxed::Box::new(Models::new()),
            code: 0,
        }
    }

    /// Codes the next frame's record; `block_start` says whether the frame starts a block.
    pub fn push(&mut self, record: Record, block_start: bool) {
        let m = &mut *self.models;
        let same = record.mode == m.previous.mode;
        let ctx = 2 * block_start as usize + m.last_same_mode as usize;
        self.coder.bit(&mut m.same_mode[ctx], same);
        if !same {
            self.coder
                .tree(&mut m.mode_tree[block_start as usize], record.mode as u32);
        }
        m.last_same_mode = same;
        m.previous.mode = record.mode;
        if record.mode == crate::coded::MODE_RAW {
            return;
        }
        let same_step = record.code == self.code;
        self.coder
            .bit(&mut m.same_step[m.last_same_step as usize], same_step);
        m.last_same_step = same_step;
        if !same_step {
            let d = record.code as i32 - self.code as i32;
            self.coder.bit(&mut m.sign, d < 0);
            let magnitude = d.unsigned_abs();
            let length = 32 - magnitude.leading_zeros();
            self.coder.tree(&mut m.length_tree, length - 1);
            if length > 1 {
                let below = length - 1;
                let top = (magnitude >> (below - 1)) & 1 != 0;
                self.coder.bit(&mut m.first_bit[length as usize - 1], top);
                self.coder.direct(magnitude, below - 1);
            }
        }
        self.code = record.code;
    }

    /// The finished stream's bytes.
    pub fn finish(self) -> alloc::vec::Vec<u8> {
        self.coder.finish()
    }
}

/// Reads the records of one segment, frame by frame.
#[derive(Debug)]
pub struct RecordReader<'a> {
    coder: Decoder<'a>,
    models: alloc::boxed::Box<Models>,
    code: u16,
}

impl<'a> RecordReader<'a> {
    /// Starts reading the record stream `bytes`.
    pub fn new(bytes: &'a [u8]) -> RecordReader<'a> {
        RecordReader {
            coder: Decoder::new(bytes),
            models: alloc::boxed::Box::new(Models::new()),
            code: 0,
        }
    }

    /// The next frame's record, or `None` when the step code it describes leaves `0..=0xFFFF`
    /// (a corrupt stream; the caller checks the mode and the code's upper limit).
    pub fn next(&mut self, block_start: bool) -> Option<Record> {
        let m = &mut *self.models;
        let ctx = 2 * block_start as usize + m.last_same_mode as usize;
        let same = self.coder.bit(&mut m.same_mode[ctx]);
        if !same {
            m.previous.mode = self.coder.tree(&mut m.mode_tree[block_start as usize]) as u8;
        }
        m.last_same_mode = same;
        let mode = m.previous.mode;
        if mode == crate::coded::MODE_RAW {
            return Some(Record { mode, code: 0 });
        }
        let same_step = self.coder.bit(&mut m.same_step[m.last_same_step as usize]);
        m.last_same_step = same_step;
        if !same_step {
            let negative = self.coder.bit(&mut m.sign);
            let length = self.coder.tree(&mut m.length_tree) + 1;
            let mut magnitude = 1u32;
            if length > 1 {
                let below = length - 1;
                let top = self.coder.bit(&mut m.first_bit[length as usize - 1]) as u32;
                magnitude = (magnitude << 1 | top) << (below - 1) | self.coder.direct(below - 1);
            }
            let code = if negative {
                (self.code as u32).checked_sub(magnitude)?
            } else {
                self.code as u32 + magnitude
            };
            self.code = u16::try_from(code).ok()?;
        }
        Some(Record {
            mode,
            code: self.code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn round_trip(records: &[Record], k: usize) -> usize {
        let mut w = RecordWriter::new();
        for (i, &r) in records.iter().enumerate() {
            w.push(r, i % k == 0);
        }
        let bytes = w.finish();
        let mut r = RecordReader::new(&bytes);
        for (i, want) in records.iter().enumerate() {
            assert_eq!(r.next(i % k == 0), Some(*want), "frame {i}");
        }
        bytes.len()
    }

    #[test]
    fn records_round_trip_with_every_step_change() {
        let mut records = Vec::new();
        let mut code = 0u16;
        for i in 0..3000u32 {
            let mode = match i % 7 {
                0 => 0,
                1 => crate::coded::MODE_RAW,
                2 => 0x80 | 16,
                _ => 20,
            };
            if mode != crate::coded::MODE_RAW {
                code = match i % 5 {
                    0 => code,
                    1 => 0xFEFF,
                    2 => 0,
                    3 => code.wrapping_mul(31).wrapping_add(i as u16) % 0xFF00,
                    _ => code ^ 1,
                };
            }
            records.push(Record {
                mode,
                code: if mode == crate::coded::MODE_RAW {
                    0
                } else {
                    code
                },
            });
        }
        round_trip(&records, 32);
        round_trip(&records, 1);
    }

    #[test]
    fn repeated_records_cost_a_fraction_of_a_bit() {
        let records = alloc::vec![Record { mode: 16, code: 0x3F00 }; 4096];
        let bytes = round_trip(&records, 32);
        assert!(bytes < 4096 / 8 / 4, "{bytes} bytes");
    }

    #[test]
    fn codes_outside_sixteen_bits_are_refused() {
        // Code 0xFFFF (allowed by the stream, refused later by the segment reader), then one
        // more step up, which leaves 16 bits: the reader says so instead of wrapping.
        let mut w = RecordWriter::new();
        w.push(
            Record {
                mode: 0,
                code: 0xFFFF,
            },
            true,
        );
        let m = &mut *w.models;
        w.coder.bit(&mut m.same_mode[1], true);
        w.coder.bit(&mut m.same_step[0], false);
        w.coder.bit(&mut m.sign, false);
        w.coder.tree(&mut m.length_tree, 0);
        let bytes = w.finish();
        let mut r = RecordReader::new(&bytes);
        assert_eq!(
            r.next(true),
            Some(Record {
                mode: 0,
                code: 0xFFFF
            })
        );
        assert_eq!(r.next(false), None);
    }

    #[test]
    fn any_bytes_read_without_panicking() {
        let mut seed = 5u64;
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| crate::kernels::check::xorshift(&mut seed) as u8)
                .collect();
            let mut r = RecordReader::new(&bytes);
            for i in 0..300 {
                if r.next(i % 32 == 0).is_none() {
                    break;
                }
            }
        }
    }
}
