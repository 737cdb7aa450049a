//! Access-driven choice of bit width (ADR-017 §3.4).
//!
//! `score = access_count * 1024 / (now_ts - last_access_ts + 1)`, in saturating integer math; a
//! `now_ts` earlier than `last_access_ts` (a clock that went backwards) counts as age 0.
//! Hot (`score >= hot_min_score`) stores 8-bit codes, warm (`score >= warm_min_score`) 7 or 5,
//! cold 3.

use crate::error::Error;
use crate::limits;
use crate::quantizer::max_headroom;
use crate::segment::Format;

/// The three tiers, hottest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Frequently accessed: 8-bit codes.
    Hot,
    /// Occasionally accessed: `warm_bits` (7 or 5).
    Warm,
    /// Rarely accessed: 3-bit codes.
    Cold,
}

impl Tier {
    /// Lower-case name: `"hot"`, `"warm"`, `"cold"`.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

/// Bits per code for the hot tier.
pub const HOT_BITS: u8 = 8;
/// Bits per code for the cold tier.
pub const COLD_BITS: u8 = 3;

/// Frames a packed segment holds by default (ADR-017's segment length), and the fewest a coded one
/// holds by default.
pub const DEFAULT_SEGMENT_FRAMES: u32 = 128;

/// Values (frames × `tensor_len`) a coded segment holds by default: 2^17, 512 KiB of `f32`.
///
/// A coded segment pays a fixed 40–100 bytes (header, frequency tables, checksum) and one frame
/// coded without a previous frame per keyframe interval; on short frames at low rates 128 frames
/// compress to a few hundred bytes, so that fixed part was over a tenth of the output.
pub const CODED_SEGMENT_VALUES: u32 = 1 << 17;

/// Most frames a coded segment holds by default (2^14), so that decoding one frame, which reads
/// the records of the frames before it, stays short for any `tensor_len`.
pub const CODED_SEGMENT_MAX_DEFAULT_FRAMES: u32 = 1 << 14;

/// The default `max_segment_frames` of a compressor of `format` with `tensor_len` values per
/// frame: [`DEFAULT_SEGMENT_FRAMES`] for packed; for coded, `⌈CODED_SEGMENT_VALUES / tensor_len⌉`
/// kept within `DEFAULT_SEGMENT_FRAMES..=CODED_SEGMENT_MAX_DEFAULT_FRAMES` (so frames of 1,024
/// values or more get 128, and 64-value frames 2,048). `tensor_len` 0 counts as 1.
pub fn default_max_segment_frames(format: Format, tensor_len: u32) -> u32 {
    match format {
        Format::Packed => DEFAULT_SEGMENT_FRAMES,
        Format::Coded => CODED_SEGMENT_VALUES
            .div_ceil(tensor_len.max(1))
            .clamp(DEFAULT_SEGMENT_FRAMES, CODED_SEGMENT_MAX_DEFAULT_FRAMES),
    }
}

/// Thresholds and segment options for one compressor. `Default` gives ADR-017 §3.4's values
/// (and packed segments' length); [`TierPolicy::default_for`] the defaults for a format and
/// frame length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    /// Minimum score for the hot tier (default 512).
    pub hot_min_score: u32,
    /// Minimum score for the warm tier (default 64); must not exceed `hot_min_score`.
    pub warm_min_score: u32,
    /// Bits for the warm tier: 7 (default) or 5.
    pub warm_bits: u8,
    /// Drift tolerance in 1/256ths (default 26, ≈ 10.2 %), at most 256. Scales are calibrated
    /// with headroom `1 + drift_pct_q8 / 256` (capped per width so a calibration frame still
    /// meets the error bound), and a frame with a value beyond that headroom starts a new
    /// segment.
    pub drift_pct_q8: u32,
    /// Values per quantization group (default 64), `1..=limits::MAX_GROUP_LEN`.
    pub group_len: u32,
    /// A segment is finished once it holds this many frames (default 128; see
    /// [`default_max_segment_frames`] for coded segments), `1..=limits::MAX_SEGMENT_FRAMES`.
    pub max_segment_frames: u32,
    /// When non-zero (8, 7, 5 or 3), every frame is stored at this width (and its bound) whatever
    /// the access statistics say; 0 (default) lets the tiers decide.
    pub fixed_bits: u8,
}

impl Default for TierPolicy {
    fn default() -> Self {
        TierPolicy {
            hot_min_score: 512,
            warm_min_score: 64,
            warm_bits: 7,
            drift_pct_q8: 26,
            group_len: 64,
            max_segment_frames: DEFAULT_SEGMENT_FRAMES,
            fixed_bits: 0,
        }
    }
}

impl TierPolicy {
    /// The default policy for a compressor of `format` with `tensor_len` values per frame: the
    /// [`Default`] thresholds with [`default_max_segment_frames`].
    pub fn default_for(format: Format, tensor_len: u32) -> Self {
        TierPolicy {
            max_segment_frames: default_max_segment_frames(format, tensor_len),
            ..TierPolicy::default()
        }
    }

    /// The default policy pinned to one width (8, 7, 5 or 3; see [`TierPolicy::fixed_bits`]).
    pub fn fixed(bits: u8) -> Self {
        TierPolicy {
            fixed_bits: bits,
            ..TierPolicy::default()
        }
    }

    /// A policy from its fields in declaration order, as the `ttc_*` ABI and the bindings pass
    /// them (`warm_bits` as a `u32`; a value beyond `u8` becomes 0, which `validate` rejects).
    pub fn from_fields(
        hot_min_score: u32,
        warm_min_score: u32,
        warm_bits: u32,
        drift_pct_q8: u32,
        group_len: u32,
        max_segment_frames: u32,
    ) -> Self {
        TierPolicy {
            hot_min_score,
            warm_min_score,
            warm_bits: u8::try_from(warm_bits).unwrap_or(0),
            drift_pct_q8,
            group_len,
            max_segment_frames,
            fixed_bits: 0,
        }
    }

    /// Checks every field against its documented range.
    ///
    /// Errors: [`Error::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field| Err(Error::InvalidConfig { field });
        if self.warm_bits != 5 && self.warm_bits != 7 {
            return invalid("warm_bits");
        }
        if self.warm_min_score > self.hot_min_score {
            return invalid("warm_min_score");
        }
        if self.drift_pct_q8 > 256 {
            return invalid("drift_pct_q8");
        }
        if self.group_len == 0 || self.group_len > limits::MAX_GROUP_LEN {
            return invalid("group_len");
        }
        if self.max_segment_frames == 0 || self.max_segment_frames > limits::MAX_SEGMENT_FRAMES {
            return invalid("max_segment_frames");
        }
        if !matches!(self.fixed_bits, 0 | 3 | 5 | 7 | 8) {
            return invalid("fixed_bits");
        }
        Ok(())
    }

    /// ADR-017's access score, saturating at `u32::MAX`.
    pub fn score(access_count: u32, last_access_ts: u32, now_ts: u32) -> u32 {
        let age = now_ts.saturating_sub(last_access_ts) as u64;
        let score = access_count as u64 * 1024 / (age + 1);
        score.min(u32::MAX as u64) as u32
    }

    /// The tier for these access statistics.
    pub fn tier(&self, access_count: u32, last_access_ts: u32, now_ts: u32) -> Tier {
        let score = Self::score(access_count, last_access_ts, now_ts);
        if score >= self.hot_min_score {
            Tier::Hot
        } else if score >= self.warm_min_score {
            Tier::Warm
        } else {
            Tier::Cold
        }
    }

    /// Bits per code for a tier under this policy.
    pub fn bits_for(&self, tier: Tier) -> u8 {
        match tier {
            Tier::Hot => HOT_BITS,
            Tier::Warm => self.warm_bits,
            Tier::Cold => COLD_BITS,
        }
    }

    /// Bits per code for these access statistics (or [`TierPolicy::fixed_bits`] when set).
    pub fn select_bits(&self, access_count: u32, last_access_ts: u32, now_ts: u32) -> u8 {
        if self.fixed_bits != 0 {
            return self.fixed_bits;
        }
        self.bits_for(self.tier(access_count, last_access_ts, now_ts))
    }

    /// The tier that stores `bits` under this policy, if any.
    pub fn tier_of_bits(&self, bits: u8) -> Option<Tier> {
        [Tier::Hot, Tier::Warm, Tier::Cold]
            .into_iter()
            .find(|&t| self.bits_for(t) == bits)
    }

    /// ADR-017's drift factor, `1 + drift_pct_q8 / 256`.
    pub fn drift_factor(&self) -> f32 {
        1.0 + self.drift_pct_q8 as f32 / 256.0
    }

    /// The calibration headroom used at `bits`: the drift factor, capped by what keeps a
    /// calibration frame within the width's error bound.
    pub fn headroom(&self, bits: u32) -> f32 {
        self.drift_factor().min(max_headroom(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_segments_hold_a_fixed_number_of_values_by_default() {
        let frames = |n| default_max_segment_frames(Format::Coded, n);
        assert_eq!(frames(384), 342);
        assert_eq!(frames(64), 2048);
        assert_eq!(frames(1024), DEFAULT_SEGMENT_FRAMES);
        assert_eq!(frames(1 << 24), DEFAULT_SEGMENT_FRAMES);
        assert_eq!(frames(1), CODED_SEGMENT_MAX_DEFAULT_FRAMES);
        assert_eq!(frames(0), CODED_SEGMENT_MAX_DEFAULT_FRAMES);
        assert_eq!(default_max_segment_frames(Format::Packed, 64), 128);
        for n in [1, 7, 64, 384, 4096, 1 << 24] {
            for format in [Format::Packed, Format::Coded] {
                let p = TierPolicy::default_for(format, n);
                assert!(p.validate().is_ok());
                assert_eq!(
                    p,
                    TierPolicy {
                        max_segment_frames: p.max_segment_frames,
                        ..TierPolicy::default()
                    }
                );
            }
        }
    }

    #[test]
    fn appendix_b_table() {
        let policy = TierPolicy::default();
        // (access_count, age, score, bits)
        let rows = [
            (100, 10, 10_240, 8),
            (50, 100, 512, 8),
            (10, 100, 102, 7),
            (5, 200, 25, 3),
            (1, 1000, 1, 3),
        ];
        for (count, age, score, bits) in rows {
            // ADR Appendix B rounds age+1 to age; the exact formula divides by age + 1.
            let now = 5000u32;
            let exact = TierPolicy::score(count, now - age + 1, now);
            assert_eq!(exact, score, "count={count} age={age}");
            assert_eq!(policy.select_bits(count, now - age + 1, now), bits);
        }
    }

    #[test]
    fn score_saturates_and_survives_time_going_backwards() {
        assert_eq!(TierPolicy::score(u32::MAX, 10, 10), u32::MAX);
        assert_eq!(TierPolicy::score(3, 100, 50), 3 * 1024);
        assert_eq!(TierPolicy::score(0, 0, u32::MAX), 0);
        assert_eq!(TierPolicy::score(1, 0, u32::MAX), 0);
    }

    #[test]
    fn thresholds_are_inclusive() {
        let p = TierPolicy::default();
        assert_eq!(p.tier(1, 0, 1), Tier::Hot); // 1024 / 2 = 512
        assert_eq!(p.tier(1, 0, 15), Tier::Warm); // 1024 / 16 = 64
        assert_eq!(p.tier(1, 0, 16), Tier::Cold); // 1024 / 17 = 60
        let five = TierPolicy { warm_bits: 5, ..p };
        assert_eq!(five.select_bits(1, 0, 15), 5);
        assert_eq!(five.tier_of_bits(5), Some(Tier::Warm));
        assert_eq!(five.tier_of_bits(7), None);
    }

    #[test]
    fn validation_names_the_field() {
        let ok = TierPolicy::default();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            (TierPolicy { warm_bits: 6, ..ok }, "warm_bits"),
            (
                TierPolicy {
                    warm_min_score: 600,
                    ..ok
                },
                "warm_min_score",
            ),
            (
                TierPolicy {
                    drift_pct_q8: 257,
                    ..ok
                },
                "drift_pct_q8",
            ),
            (TierPolicy { group_len: 0, ..ok }, "group_len"),
            (
                TierPolicy {
                    max_segment_frames: 0,
                    ..ok
                },
                "max_segment_frames",
            ),
        ];
        for (policy, field) in cases {
            assert_eq!(policy.validate(), Err(Error::InvalidConfig { field }));
        }
    }

    #[test]
    fn headroom_is_drift_factor_capped_per_width() {
        let p = TierPolicy::default();
        assert!((p.drift_factor() - 1.101_562_5).abs() < 1e-7);
        assert_eq!(p.headroom(8), p.drift_factor());
        let wide = TierPolicy {
            drift_pct_q8: 256,
            ..p
        };
        assert!(wide.headroom(3) < 2.0);
        assert!(wide.headroom(3) > 1.5);
    }
}
