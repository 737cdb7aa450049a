//! Every kernel set writes the same segments and decodes them to the same values, on streams that
//! shrink and grow around the error bound: frames that the half-step bound on the rounding error
//! admits at once, frames whose error has to be measured (and then fits or not), clamped and
//! vanishing frames. The only test in this binary, as it switches the active set.

mod common;
use common::Rng;
use ruvector_temporal_tensor::kernels::{self, KernelSet};
use ruvector_temporal_tensor::{segment, TemporalTensorCompressor, TierPolicy};

/// Frames of `n` values: a base frame scaled by factors around where the bound stops holding
/// (0.3..1.3 of the base), some tiny (vanishing) or large (clamped), with a little jitter.
fn stream(n: usize, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let base: Vec<f32> = (0..n).map(|_| rng.signed()).collect();
    (0..count)
        .map(|k| {
            let factor = match k % 17 {
                5 => 1e-30,
                11 => 3.0,
                _ => 0.3 + (k * 37 % 100) as f32 / 100.0,
            };
            base.iter()
                .map(|v| (v + 0.01 * rng.signed()) * factor)
                .collect()
        })
        .collect()
}

fn encode(frames: &[Vec<f32>], bits: u8, group_len: u32) -> Vec<u8> {
    let policy = TierPolicy {
        group_len,
        ..TierPolicy::fixed(bits)
    };
    let n = frames[0].len() as u32;
    let mut c = TemporalTensorCompressor::new(policy, n, 0).unwrap();
    let mut out = Vec::new();
    for f in frames {
        c.push_frame(f, 0, &mut out).unwrap();
    }
    c.flush(&mut out);
    out
}

fn decode(bytes: &[u8]) -> Vec<u32> {
    let mut values = Vec::new();
    for part in segment::split_segments(bytes) {
        let (_, seg) = part.unwrap();
        segment::decode(seg, &mut values).unwrap();
    }
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn every_set_writes_and_reads_the_same_bytes() {
    let sets = kernels::supported_sets();
    for (n, group_len) in [(512usize, 64u32), (64, 8), (72, 16), (100, 32)] {
        let frames = stream(n, 120, n as u64);
        for bits in [8u8, 7, 5, 3] {
            assert!(kernels::force(KernelSet::Scalar));
            let want = encode(&frames, bits, group_len);
            let want_values = decode(&want);
            let segments = segment::split_segments(&want).count();
            assert!(segments > 10, "the stream starts segments ({segments})");
            for &set in &sets {
                assert!(kernels::force(set));
                let what = format!("{} n={n} group_len={group_len} bits={bits}", set.name());
                assert!(
                    encode(&frames, bits, group_len) == want,
                    "{what}: segments differ"
                );
                assert!(
                    decode(&want) == want_values,
                    "{what}: decoded values differ"
                );
            }
        }
    }
    kernels::force_scalar(false);
}
