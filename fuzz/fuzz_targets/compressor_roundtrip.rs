//! The compressor under arbitrary policies (valid or not), small tensor lengths, and sequences of
//! pushes (single, batch, into fixed buffers of arbitrary capacity), flushes, access updates and
//! kernel switches, with frames full of edge values (NaN, ±Inf, huge, tiny, subnormal, ties).
//! Both formats: when bit 7 of the policy's `tweaks` byte is set, an options byte picks the format
//! (packed or coded), `fixed_bits` (valid or not), an initial keyframe interval and bound
//! override (valid or not), and enables operations that change those two mid-stream.
//!
//! Oracle:
//! - `with_format` fails exactly when the policy or length is out of range, with a coded error;
//!   `set_keyframe_interval` / `set_bound` fail exactly outside `1..=65535` / `(0, 1)` (and
//!   `set_bound(Some(_))` on a packed compressor), changing nothing, and otherwise leave the
//!   open segment as it was (they apply from the next segment on);
//! - an operation that fails leaves the compressor equal to a `clone()` taken before it, emits
//!   nothing, and fails with the documented error (`NON_FINITE` at the first bad index,
//!   `LENGTH_MISMATCH`, or `BUFFER_TOO_SMALL` whose size, retried, succeeds);
//! - a shadow compressor fed the same accepted operations with the other kernel set (scalar vs.
//!   a SIMD set this CPU supports, picked from the input by `common::simd_set`) emits the same
//!   bytes;
//! - `peek` changes nothing and shows exactly what the next `flush` emits (and what a push that
//!   finishes the segment emits); `push_frames_split` returns one whole segment per piece, the
//!   same bytes as `push_frames`; `pending_segment_len` is the exact length (packed) or an upper
//!   bound (coded);
//! - in the end every accepted frame decodes from the emitted segments, in order, at the width
//!   its tier selected; packed: within that width's error bound (all-zero frames exactly);
//!   coded: the segment records the bound and keyframe interval in force when its first frame
//!   was pushed, every frame is within that recorded bound (`max|v − v'| / max|v|` in f64), and
//!   `decode_frame(i)` equals the whole decode bit for bit.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use common::relative_error;
use common::{assert_within_bound, Input};
use libfuzzer_sys::fuzz_target;
use ruvector_temporal_tensor::coded::MAX_KEYFRAME_INTERVAL;
use ruvector_temporal_tensor::kernels::KernelSet;
use ruvector_temporal_tensor::limits::{MAX_GROUP_LEN, MAX_SEGMENT_FRAMES, MAX_TENSOR_LEN};
use ruvector_temporal_tensor::segment;
use ruvector_temporal_tensor::{kernels, Error, Format, TemporalTensorCompressor, TierPolicy};

const MAX_OPS: usize = 48;

/// `FUZZ_TRACE=1` prints every operation (for replaying a reproducer).
fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if trace() {
            eprintln!($($arg)*);
        }
    };
}

/// Format and coded options (from the options byte; all defaults without it).
#[derive(Debug)]
struct Options {
    format: Format,
    keyframe_interval: Option<u32>,
    bound: Option<Option<f32>>,
    /// Operations 9 with bit 6 set change the keyframe interval or bound.
    config_ops: bool,
}

/// A keyframe interval, usually valid (1..=12), sometimes anything (0, 65535, 65536, ...).
fn keyframe_interval(input: &mut Input) -> u32 {
    match input.u8() {
        t @ 0..=199 => 1 + t as u32 % 12,
        200..=239 => input.u32_interesting(),
        t => MAX_KEYFRAME_INTERVAL - 1 + t as u32 % 3, // 65534, 65535, 65536
    }
}

/// A bound override: none, typical, random in (0, 1), or an edge value (0, 1, NaN, ...).
fn bound_override(input: &mut Input) -> Option<f32> {
    const TYPICAL: [f32; 8] = [1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.999_999_94];
    const EDGE: [f32; 8] = [
        0.0,
        -0.0,
        1.0,
        f32::NAN,
        f32::INFINITY,
        -0.5,
        1.000_000_1,
        1e-45,
    ];
    match input.u8() % 8 {
        0 | 1 => None,
        2 | 3 => Some(TYPICAL[input.u8() as usize % TYPICAL.len()]),
        4 => Some(EDGE[input.u8() as usize % EDGE.len()]),
        5 => Some(input.f32_interesting()),
        _ => Some(((input.u32() >> 8) as f32 / (1u32 << 24) as f32).max(1e-30)),
    }
}

fn policy(input: &mut Input) -> (TierPolicy, Options) {
    let mut p = TierPolicy::default();
    // Usually small groups and caps (so boundaries are hit), sometimes anything.
    p.group_len = 1 + input.u8() as u32 % 80;
    p.max_segment_frames = 1 + input.u8() as u32 % 12;
    let tweaks = input.u8();
    if tweaks & 1 != 0 {
        p.hot_min_score = input.u32_interesting();
    }
    if tweaks & 2 != 0 {
        p.warm_min_score = input.u32_interesting();
    }
    if tweaks & 4 != 0 {
        p.warm_bits = input.u8() % 10;
    } else if tweaks & 8 != 0 {
        p.warm_bits = 5;
    }
    if tweaks & 16 != 0 {
        p.drift_pct_q8 = input.u32_interesting() % 300;
    }
    if tweaks & 32 != 0 {
        p.group_len = input.u32_interesting();
    }
    if tweaks & 64 != 0 {
        p.max_segment_frames = input.u32_interesting();
    }
    let mut options = Options {
        format: Format::Packed,
        keyframe_interval: None,
        bound: None,
        config_ops: false,
    };
    if tweaks & 128 != 0 {
        let ext = input.u8();
        if ext & 1 != 0 {
            options.format = Format::Coded;
        }
        p.fixed_bits = match (ext >> 1) & 7 {
            1 => 3,
            2 => 5,
            3 => 7,
            4 | 7 => 8,
            6 => input.u8() % 10, // often invalid
            _ => 0,
        };
        if ext & 16 != 0 {
            options.keyframe_interval = Some(keyframe_interval(input));
        }
        if ext & 32 != 0 {
            options.bound = Some(bound_override(input));
        }
        options.config_ops = ext & 64 != 0;
    }
    (p, options)
}

/// A small PRNG for filling frames beyond what the input spells out.
fn xorshift(state: &mut u32) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    (*state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
}

/// A frame of `n` values (sometimes of another length), derived from the previous frame or
/// fresh, scaled by an edge magnitude, with a few edge values spliced in.
fn frame(input: &mut Input, n: usize, previous: &[f32]) -> Vec<f32> {
    let mode = input.u8();
    let len = match (mode >> 5, mode & 0x10 != 0) {
        (0, true) => n.saturating_sub(1),
        (1, true) => n + 1,
        _ => n,
    };
    let mut seed = input.u32() | 1;
    let magnitude = input.f32_finite();
    let mut out: Vec<f32> = match mode % 5 {
        0 => vec![0.0; len],
        1 if previous.len() == len => {
            let factor = 1.0 + xorshift(&mut seed) * 0.3;
            previous.iter().map(|v| v * factor).collect()
        }
        2 if previous.len() == len => previous
            .iter()
            .map(|v| v + magnitude * 0.01 * xorshift(&mut seed))
            .collect(),
        3 => vec![magnitude; len],
        _ => (0..len).map(|_| magnitude * xorshift(&mut seed)).collect(),
    };
    // Splice in a few edge values (any of which may be NaN or ±Inf).
    let splices = input.u8() % 4;
    for _ in 0..splices {
        if out.is_empty() {
            break;
        }
        let at = input.usize_below(out.len());
        out[at] = input.f32_interesting();
    }
    out
}

fn expected_push_error(frame: &[f32], n: usize) -> Option<Error> {
    if frame.len() != n {
        return Some(Error::LengthMismatch {
            expected: n,
            actual: frame.len(),
        });
    }
    frame
        .iter()
        .position(|v| !v.is_finite())
        .map(|index| Error::NonFinite { index })
}

/// An accepted frame, with the width its tier selected and the coded bound and keyframe
/// interval in force when it was pushed.
struct Accepted {
    values: Vec<f32>,
    bits: u8,
    bound: f32,
    keyframe_interval: u32,
}

struct Run {
    c: TemporalTensorCompressor,
    shadow: TemporalTensorCompressor,
    primary_scalar: bool,
    /// The SIMD set compared with the scalar one (`common::simd_set` of the input).
    simd: KernelSet,
    out: Vec<u8>,
    shadow_out: Vec<u8>,
    frames: Vec<Accepted>,
    n: usize,
}

/// The bytes `peek` shows for `c`.
fn snapshot_of(c: &TemporalTensorCompressor) -> Vec<u8> {
    let mut s = Vec::new();
    c.peek(&mut s);
    s
}

impl Run {
    fn coded(&self) -> bool {
        self.c.format() == Format::Coded
    }

    /// `pending_segment_len` is the exact length of what `peek` shows (packed) or at least it
    /// (coded).
    fn check_pending(&self, c: &TemporalTensorCompressor, len: usize) {
        if self.coded() {
            assert!(
                len <= c.pending_segment_len(),
                "pending_segment_len below the segment"
            );
        } else {
            assert_eq!(len, c.pending_segment_len());
        }
    }

    fn set_keyframe_interval(&mut self, k: u32) {
        trace!("set_keyframe_interval {k}");
        let before = self.c.clone();
        let snapshot = snapshot_of(&self.c);
        let r = self.c.set_keyframe_interval(k);
        if (1..=MAX_KEYFRAME_INTERVAL).contains(&k) {
            assert_eq!(r, Ok(()));
            assert_eq!(self.c.keyframe_interval(), k);
            self.shadow.set_keyframe_interval(k).expect("shadow");
            assert_eq!(snapshot_of(&self.c), snapshot, "the open segment changed");
        } else {
            assert_eq!(
                r,
                Err(Error::InvalidConfig {
                    field: "keyframe_interval"
                })
            );
            assert_same!(
                self.c,
                before,
                "a failed set_keyframe_interval changed the compressor"
            );
        }
    }

    fn set_bound(&mut self, bound: Option<f32>) {
        trace!("set_bound {bound:?}");
        let before = self.c.clone();
        let snapshot = snapshot_of(&self.c);
        let r = self.c.set_bound(bound);
        let valid = bound.is_none_or(|b| self.coded() && b > 0.0 && b < 1.0);
        if valid {
            assert_eq!(r, Ok(()));
            self.shadow.set_bound(bound).expect("shadow");
            for bits in [8u8, 7, 5, 3] {
                let tier = ruvector_temporal_tensor::quantizer::error_bound(bits as u32).unwrap();
                assert_eq!(
                    self.c.bound_for(bits).to_bits(),
                    bound.unwrap_or(tier).to_bits()
                );
            }
            assert_eq!(snapshot_of(&self.c), snapshot, "the open segment changed");
        } else {
            assert_eq!(r, Err(Error::InvalidConfig { field: "bound" }));
            assert_same!(self.c, before, "a failed set_bound changed the compressor");
        }
    }

    fn kernels(&self, primary: bool) {
        let scalar = if primary {
            self.primary_scalar
        } else {
            !self.primary_scalar
        };
        if scalar {
            kernels::force_scalar(true);
        } else {
            common::use_set(self.simd);
        }
    }

    /// Checks the state after the primary accepted `count` frames at `ts` and wrote `written`.
    fn accepted(&mut self, frames: &[f32], ts: u32, before: &TemporalTensorCompressor) {
        let bits = self
            .c
            .policy()
            .select_bits(before.access_count(), before.last_access_ts(), ts);
        for f in frames.chunks_exact(self.n) {
            self.frames.push(Accepted {
                values: f.to_vec(),
                bits,
                bound: before.bound_for(bits),
                keyframe_interval: before.keyframe_interval(),
            });
        }
        assert_eq!(
            self.c.active_bits(),
            Some(bits),
            "active width follows the tier"
        );
        assert!(self.c.active_frames() >= 1);
        assert!(self.c.active_frames() <= self.c.policy().max_segment_frames);
    }

    fn push(&mut self, frame: &[f32], ts: u32) {
        trace!(
            "push ts={ts} {frame:?} -> active {:?}x{}",
            self.c.active_bits(),
            self.c.active_frames()
        );
        let before = self.c.clone();
        let start = self.out.len();
        self.kernels(true);
        let result = self.c.push_frame(frame, ts, &mut self.out);
        match (result, expected_push_error(frame, self.n)) {
            (Err(e), Some(expected)) => {
                assert_eq!(e, expected);
                assert_same!(self.c, before, "a failed push changed the compressor");
                assert_eq!(self.out.len(), start, "a failed push emitted bytes");
            }
            (Ok(written), None) => {
                assert_eq!(written, self.out.len() - start);
                if written == 0 {
                    assert_eq!(self.c.active_frames(), before.active_frames() + 1);
                } else {
                    assert_eq!(
                        self.out[start..],
                        snapshot_of(&before),
                        "emitted what peek showed"
                    );
                    self.check_pending(&before, written);
                    assert_eq!(self.c.active_frames(), 1);
                }
                self.accepted(frame, ts, &before);
                self.kernels(false);
                self.shadow
                    .push_frame(frame, ts, &mut self.shadow_out)
                    .expect("shadow push");
            }
            (r, e) => panic!("push returned {r:?}, expected error {e:?}"),
        }
    }

    fn push_into(&mut self, frame: &[f32], ts: u32, cap: usize) {
        trace!("push_into ts={ts} cap={cap} {frame:?}");
        let before = self.c.clone();
        let mut buf = vec![0xa5u8; cap];
        self.kernels(true);
        let result = self.c.push_frame_into(frame, ts, &mut buf);
        match (result, expected_push_error(frame, self.n)) {
            (Err(Error::BufferTooSmall { needed, available }), None) => {
                assert_eq!(available, cap as u64);
                assert!(needed as usize > cap);
                assert_eq!(needed as usize, snapshot_of(&before).len());
                self.check_pending(&before, needed as usize);
                assert_same!(self.c, before, "BUFFER_TOO_SMALL changed the compressor");
                assert!(buf.iter().all(|&b| b == 0xa5), "BUFFER_TOO_SMALL wrote");
                // The same call with the reported size succeeds.
                self.push_into(frame, ts, needed as usize);
            }
            (Err(e), Some(expected)) => {
                assert_eq!(e, expected);
                assert_same!(self.c, before);
            }
            (Ok(written), None) => {
                assert!(written <= before.pending_segment_len());
                self.out.extend_from_slice(&buf[..written]);
                assert!(
                    buf[written..].iter().all(|&b| b == 0xa5),
                    "wrote past the segment"
                );
                self.accepted(frame, ts, &before);
                self.kernels(false);
                self.shadow
                    .push_frame(frame, ts, &mut self.shadow_out)
                    .expect("shadow push");
            }
            (r, e) => panic!("push_frame_into returned {r:?}, expected error {e:?}"),
        }
    }

    fn push_many(&mut self, frames: &[f32], ts: u32, cap: Option<usize>, split: bool) {
        trace!("push_many ts={ts} cap={cap:?} split={split} {frames:?}");
        let before = self.c.clone();
        let expected = if frames.len() % self.n != 0 {
            Some(Error::LengthMismatch {
                expected: (frames.len() / self.n + 1) * self.n,
                actual: frames.len(),
            })
        } else {
            frames
                .iter()
                .position(|v| !v.is_finite())
                .map(|index| Error::NonFinite { index })
        };
        self.kernels(true);
        let start = self.out.len();
        let result = match cap {
            None if split => self.c.push_frames_split(frames, ts).map(|segments| {
                // Each piece is exactly one whole segment.
                for seg in &segments {
                    let h = segment::SegmentHeader::parse(seg).expect("split piece parses");
                    assert_eq!(h.byte_len, seg.len(), "a split piece is one segment");
                    self.out.extend_from_slice(seg);
                }
                segments.iter().map(Vec::len).sum()
            }),
            None => self.c.push_frames(frames, ts, &mut self.out),
            Some(cap) => {
                let mut buf = vec![0u8; cap];
                let r = self.c.push_frames_into(frames, ts, &mut buf);
                if let Ok(written) = r {
                    self.out.extend_from_slice(&buf[..written]);
                }
                r
            }
        };
        match (result, expected) {
            (Err(Error::BufferTooSmall { needed, .. }), None) if cap.is_some() => {
                let count = frames.len() / self.n;
                assert_eq!(needed as usize, before.max_batch_output_len(count));
                assert_same!(self.c, before);
                self.push_many(frames, ts, Some(needed as usize), false);
            }
            (Err(e), Some(expected)) => {
                assert_eq!(e, expected);
                assert_same!(self.c, before, "a failed batch changed the compressor");
                assert_eq!(self.out.len(), start);
            }
            (Ok(written), None) => {
                assert_eq!(written, self.out.len() - start);
                if !frames.is_empty() {
                    self.accepted(frames, ts, &before);
                } else {
                    assert_same!(self.c, before, "an empty batch changed the compressor");
                }
                self.kernels(false);
                self.shadow
                    .push_frames(frames, ts, &mut self.shadow_out)
                    .expect("shadow batch");
            }
            (r, e) => panic!("push_frames returned {r:?}, expected error {e:?}"),
        }
    }

    /// `peek` changes nothing, returns the open segment as `flush` would, and equals the
    /// shadow's snapshot.
    fn peek(&mut self) -> Vec<u8> {
        let before = self.c.clone();
        let mut snapshot = vec![7u8; 3];
        self.kernels(true);
        let n = self.c.peek(&mut snapshot);
        assert_eq!(&snapshot[..3], &[7, 7, 7], "peek clobbered the output");
        let snapshot = snapshot.split_off(3);
        assert_eq!(n, snapshot.len());
        assert_same!(self.c, before, "peek changed the compressor");
        self.check_pending(&before, n);
        if n > 0 {
            let h =
                segment::SegmentHeader::parse(&snapshot).expect("a snapshot is a valid segment");
            assert_eq!(h.byte_len, n);
            assert_eq!(h.frame_count, before.active_frames());
            assert_eq!(Some(h.bits), before.active_bits());
        } else {
            assert_eq!(before.active_frames(), 0);
        }
        let mut shadow = Vec::new();
        self.kernels(false);
        self.shadow.peek(&mut shadow);
        assert_eq!(snapshot, shadow, "peek differs between kernel sets");
        snapshot
    }

    fn flush(&mut self, cap: Option<usize>) {
        trace!("flush cap={cap:?}");
        let snapshot = self.peek();
        let start = self.out.len();
        let before = self.c.clone();
        self.kernels(true);
        match cap {
            None => {
                let written = self.c.flush(&mut self.out);
                self.check_pending(&before, written);
            }
            Some(cap) => {
                let mut buf = vec![0u8; cap];
                match self.c.flush_into(&mut buf) {
                    Ok(written) => {
                        self.check_pending(&before, written);
                        self.out.extend_from_slice(&buf[..written]);
                    }
                    Err(Error::BufferTooSmall { needed, available }) => {
                        assert_eq!(available, cap as u64);
                        assert_eq!(needed as usize, snapshot.len());
                        self.check_pending(&before, needed as usize);
                        assert_same!(self.c, before);
                        return self.flush(Some(needed as usize));
                    }
                    Err(e) => panic!("flush_into: {e:?}"),
                }
            }
        }
        assert_eq!(
            self.out[start..],
            snapshot[..],
            "flush emitted what peek showed"
        );
        assert_eq!(self.c.active_frames(), 0);
        assert_eq!(self.c.active_bits(), None);
        assert_eq!(self.c.pending_segment_len(), 0);
        self.kernels(false);
        self.shadow.flush(&mut self.shadow_out);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (policy, options) = policy(&mut input);
    let len_tag = input.u8();
    let tensor_len: u32 = match len_tag {
        0 => 0,
        1 => MAX_TENSOR_LEN + 1,
        2 => u32::MAX,
        3..=15 => 1 + input.u16() as u32 % 300,
        _ => 1 + len_tag as u32 % 40,
    };
    let now = input.u32_interesting();
    let created = TemporalTensorCompressor::with_format(policy, tensor_len, now, options.format);
    let valid_policy = policy.validate();
    let c = match created {
        Ok(c) => {
            assert_eq!(valid_policy, Ok(()));
            assert!(tensor_len >= 1 && tensor_len <= MAX_TENSOR_LEN);
            assert!(policy.group_len <= MAX_GROUP_LEN);
            assert!(policy.max_segment_frames <= MAX_SEGMENT_FRAMES);
            c
        }
        Err(e) => {
            match e {
                Error::InvalidConfig { field } => {
                    if field == "tensor_len" {
                        assert_eq!(tensor_len, 0);
                    } else {
                        assert_eq!(valid_policy, Err(e));
                    }
                }
                Error::LimitExceeded { max, requested, .. } => {
                    assert_eq!(valid_policy, Ok(()));
                    assert!(requested > max);
                    assert_eq!(max, MAX_TENSOR_LEN as u64);
                }
                other => panic!("new failed with {other:?}"),
            }
            return;
        }
    };
    let n = tensor_len as usize;
    trace!("new {policy:?} {options:?} tensor_len={tensor_len} now={now}");
    assert_eq!(c.format(), options.format);
    let mut run = Run {
        shadow: c.clone(),
        c,
        primary_scalar: input.bool(),
        simd: common::simd_set(data),
        out: Vec::new(),
        shadow_out: Vec::new(),
        frames: Vec::new(),
        n,
    };
    if let Some(k) = options.keyframe_interval {
        run.set_keyframe_interval(k);
    }
    if let Some(b) = options.bound {
        run.set_bound(b);
    }
    let mut previous: Vec<f32> = vec![1.0; n];
    let mut ts = now;
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        // Time mostly moves forward a little; sometimes jumps anywhere.
        if op & 0x80 != 0 {
            ts = input.u32_interesting();
        } else {
            ts = ts.wrapping_add((op >> 4) as u32 & 3);
        }
        match op % 10 {
            0 => {
                trace!("touch {ts}");
                run.c.touch(ts);
                run.shadow.touch(ts);
            }
            1 => {
                let (count, last) = (input.u32_interesting(), input.u32_interesting());
                trace!("set_access {count} {last}");
                run.c.set_access(count, last);
                run.shadow.set_access(count, last);
            }
            2 | 3 => {
                let f = frame(&mut input, n, &previous);
                run.push(&f, ts);
                if f.len() == n && f.iter().all(|v| v.is_finite()) {
                    previous = f;
                }
            }
            4 => {
                let f = frame(&mut input, n, &previous);
                let cap = input.usize_below(run.c.pending_segment_len() + 8);
                run.push_into(&f, ts, cap);
            }
            5 | 6 => {
                let count = input.u8() % 4;
                let mut batch = Vec::new();
                for _ in 0..count {
                    let f = frame(&mut input, n, &previous);
                    batch.extend_from_slice(&f);
                }
                let cap = if op % 10 == 6 {
                    Some(input.usize_below(run.c.max_batch_output_len(count as usize) + 8))
                } else {
                    None
                };
                run.push_many(&batch, ts, cap, op & 0x40 != 0);
            }
            7 if op & 0x40 != 0 => {
                trace!("peek");
                run.peek();
            }
            7 => run.flush(None),
            9 if options.config_ops && op & 0x40 != 0 => {
                if input.bool() {
                    let k = keyframe_interval(&mut input);
                    run.set_keyframe_interval(k);
                } else {
                    let b = bound_override(&mut input);
                    run.set_bound(b);
                }
            }
            8 => {
                let cap = input.usize_below(run.c.pending_segment_len() + 4);
                run.flush(Some(cap));
            }
            _ => {
                run.primary_scalar = input.bool();
                trace!("primary_scalar {}", run.primary_scalar);
            }
        }
        assert_eq!(run.c.active_frames(), run.shadow.active_frames());
        assert_eq!(run.c.active_bits(), run.shadow.active_bits());
    }
    run.flush(None);
    kernels::force_scalar(false);
    assert_eq!(
        run.out,
        run.shadow_out,
        "scalar and {} kernels emitted different bytes",
        run.simd.name()
    );

    // Every accepted frame decodes, in order, at its width, within its bound.
    let coded = run.coded();
    let mut index = 0usize;
    for part in segment::split_segments(&run.out) {
        let (header, bytes) = part.expect("the compressor emitted an invalid segment");
        assert_eq!(header.tensor_len, tensor_len);
        assert!(header.frame_count <= run.c.policy().max_segment_frames);
        let first = run
            .frames
            .get(index)
            .unwrap_or_else(|| panic!("more segments than pushed frames ({index})"));
        if coded {
            assert_eq!(
                header.version,
                ruvector_temporal_tensor::coded::VERSION_CODED,
                "a coded compressor wrote a packed segment"
            );
            assert_eq!(header.group_len, 0);
            assert_eq!(
                header.bound.to_bits(),
                first.bound.to_bits(),
                "segment at frame {index}: recorded bound {} but {} was in force",
                header.bound,
                first.bound
            );
            assert_eq!(header.keyframe_interval, first.keyframe_interval);
        } else {
            assert!(header.version == 1 || header.version == 2);
            assert_eq!(header.group_len, run.c.policy().group_len);
        }
        let mut decoded = Vec::new();
        segment::decode(bytes, &mut decoded).expect("decode");
        for (i, got) in decoded.chunks_exact(n).enumerate() {
            let Accepted {
                values: original,
                bits,
                ..
            } = run
                .frames
                .get(index)
                .unwrap_or_else(|| panic!("more frames decoded than pushed ({index})"));
            assert_eq!(
                header.bits, *bits,
                "frame {index} stored at the wrong width"
            );
            if coded {
                assert!(
                    got.iter().all(|v| v.is_finite()),
                    "frame {index}: non-finite"
                );
                let err = relative_error(original, got);
                assert!(
                    err < header.bound as f64,
                    "frame {index}: relative error {err} exceeds the recorded bound {} ({bits} bits, k {})\noriginal {original:?}\ndecoded {got:?}",
                    header.bound,
                    header.keyframe_interval
                );
                let alone = segment::decode_frame(bytes, i as u64).expect("decode_frame");
                assert!(
                    alone
                        .iter()
                        .map(|v| v.to_bits())
                        .eq(got.iter().map(|v| v.to_bits())),
                    "frame {index}: decode_frame differs from the whole decode"
                );
            } else {
                assert_within_bound(original, got, header.bits, &format!("frame {index}"));
            }
            index += 1;
        }
    }
    assert_eq!(index, run.frames.len(), "frame count not preserved");
});
