//! ADR-017 §8.2 on adversarial streams: every frame of every stream, at every width, decodes
//! within its bound. Run with `--nocapture` to see the worst error per stream and width.

mod common;
use common::*;

const WIDTHS: [u8; 4] = [8, 7, 5, 3];
const N: usize = 512;

type Stream = (&'static str, Vec<Vec<f32>>);

fn frames(count: usize, n: usize, mut f: impl FnMut(usize, usize) -> f32) -> Vec<Vec<f32>> {
    (0..count)
        .map(|t| (0..n).map(|i| f(t, i)).collect())
        .collect()
}

fn streams() -> Vec<Stream> {
    let mut rng = Rng::new(7);
    let base: Vec<f32> = (0..N).map(|_| rng.normal()).collect();
    let mut walk = base.clone();
    let random_walk: Vec<Vec<f32>> = (0..300)
        .map(|_| {
            for v in walk.iter_mut() {
                *v += 0.05 * rng.normal();
            }
            walk.clone()
        })
        .collect();
    let mut spikes_rng = Rng::new(11);
    let spikes = frames(200, N, |t, i| {
        let noise = 0.01 * spikes_rng.signed();
        if t % 7 == 3 && i == (t * 31) % N {
            100.0
        } else {
            noise
        }
    });
    let mut mixed_rng = Rng::new(13);
    let mut scale_rng = Rng::new(17);
    let mut per_frame_scale = 1.0f32;
    let random_scale = frames(200, N, |_, i| {
        if i == 0 {
            per_frame_scale = 10f32.powf(scale_rng.signed() * 10.0);
        }
        per_frame_scale * mixed_rng.normal()
    });
    let mut jitter = Rng::new(19);
    let mut group_rng = Rng::new(23);
    vec![
        ("random walk", random_walk),
        (
            "growth x1.05/frame",
            frames(200, N, |t, i| base[i] * 1.05f32.powi(t as i32)),
        ),
        (
            "shrink x0.95/frame",
            frames(300, N, |t, i| base[i] * 0.95f32.powi(t as i32)),
        ),
        (
            "sudden 100x growth",
            frames(60, N, |t, i| base[i] * if t >= 30 { 100.0 } else { 1.0 }),
        ),
        (
            "sudden 1000x shrink",
            frames(60, N, |t, i| base[i] * if t >= 30 { 1e-3 } else { 1.0 }),
        ),
        ("isolated spikes", spikes),
        (
            "groups 1e-4..1e4",
            frames(100, N, |_, i| {
                10f32.powi((i / 64) as i32 - 4) * (1.0 + 0.01 * group_rng.signed())
            }),
        ),
        (
            "magnitude 1e-7",
            frames(100, N, |t, i| 1e-7 * base[i] * (1.0 + 0.01 * t as f32)),
        ),
        (
            "magnitude 3e6",
            frames(100, N, |t, i| 3e6 * base[i] * (1.0 - 0.002 * t as f32)),
        ),
        ("all zeros", frames(50, N, |_, _| 0.0)),
        (
            "zeros alternating",
            frames(60, N, |t, i| if t % 2 == 0 { 0.0 } else { base[i] }),
        ),
        (
            "sign flips",
            frames(60, N, |t, i| if t % 2 == 0 { base[i] } else { -base[i] }),
        ),
        (
            "subnormals",
            frames(50, N, |t, i| {
                f32::from_bits(1 + ((i * 7919 + t) % 5000) as u32)
            }),
        ),
        (
            "near f32::MAX",
            frames(30, N, |t, i| {
                3.0e38 * base[i].clamp(-1.0, 1.0) * (1.0 - 0.01 * t as f32)
            }),
        ),
        (
            "one value",
            frames(40, N, |t, i| if i == (t * 13) % N { 5.0 } else { 0.0 }),
        ),
        (
            "1 then 1e-3 oscillating",
            frames(60, N, |t, i| base[i] * if t % 3 == 1 { 1e-3 } else { 1.0 }),
        ),
        ("per-frame scale 1e-10..1e10", random_scale),
        (
            "constant with jitter",
            frames(300, N, |_, i| base[i] + 1e-3 * jitter.signed()),
        ),
    ]
}

#[test]
fn every_frame_of_every_adversarial_stream_is_within_bound() {
    let mut worst_per_width = [0.0f64; 4];
    for (name, stream) in streams() {
        for (w, &bits) in WIDTHS.iter().enumerate() {
            let (worst, segments) = check_round_trip(&stream, bits, 64);
            worst_per_width[w] = worst_per_width[w].max(worst);
            println!(
                "{name:<28} {bits}-bit: worst {:>8.4}%  {segments:>4} segments / {} frames",
                worst * 100.0,
                stream.len()
            );
        }
    }
    for (bits, worst) in WIDTHS.iter().zip(worst_per_width) {
        println!(
            "WORST {bits}-bit over all adversarial streams: {:.4}%",
            worst * 100.0
        );
    }
}

#[test]
fn odd_lengths_and_group_sizes_are_within_bound() {
    let mut rng = Rng::new(99);
    for &(n, group) in &[
        (1usize, 64u32),
        (7, 3),
        (100, 64),
        (513, 64),
        (64, 1),
        (300, 1000),
    ] {
        let stream: Vec<Vec<f32>> = (0..40)
            .map(|t| {
                (0..n)
                    .map(|_| rng.normal() * (1.0 + t as f32 * 0.1))
                    .collect()
            })
            .collect();
        for bits in WIDTHS {
            check_round_trip(&stream, bits, group);
        }
    }
}

#[test]
fn seeded_random_streams_are_within_bound() {
    // Property test with a seeded generator: random lengths, groups, magnitudes and dynamics.
    for seed in 0..60u64 {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(300);
        let group = 1 + rng.below(128) as u32;
        let count = 1 + rng.below(40);
        let mut scale = 10f32.powf(rng.signed() * 6.0);
        let stream: Vec<Vec<f32>> = (0..count)
            .map(|_| {
                if rng.below(4) == 0 {
                    scale *= 10f32.powf(rng.signed() * 2.0);
                }
                (0..n)
                    .map(|_| {
                        if rng.below(10) == 0 {
                            0.0
                        } else {
                            scale * rng.normal()
                        }
                    })
                    .collect()
            })
            .collect();
        for bits in WIDTHS {
            check_round_trip(&stream, bits, group);
        }
    }
}
