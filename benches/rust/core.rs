//! Rust benchmarks of the core: push (encode) and decode per width and tensor length, with the
//! scalar reference and the best SIMD kernels side by side in one run.
//!
//! `cargo bench -p ruvector-temporal-tensor --bench core` prints a table; with
//! `BENCH_JSON=path` it also writes the rows as JSON (used by `npm run bench`).
//! Figures are medians of several timed rounds; this is a shared, noisy machine.

use ruvector_temporal_tensor::{kernels, segment, Format, TemporalTensorCompressor, TierPolicy};
use std::hint::black_box;
use std::time::{Duration, Instant};

const WIDTHS: [u8; 4] = [8, 7, 5, 3];
const DIMS: [usize; 3] = [512, 4096, 65536];

/// A stream that stays inside one segment's scales (small jitter around a fixed frame).
fn frames(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let base: Vec<f32> = (0..n).map(|_| next()).collect();
    (0..count)
        .map(|_| base.iter().map(|v| v + 0.001 * next()).collect())
        .collect()
}

/// A drifting stream (a random walk around per-channel offsets): every frame differs, so coded
/// segments carry real entropy.
fn walk(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let offsets: Vec<f32> = (0..n).map(|_| next()).collect();
    let mut cur: Vec<f32> = (0..n).map(|_| next()).collect();
    (0..count)
        .map(|_| {
            for v in cur.iter_mut() {
                *v += 0.1 * next();
            }
            cur.iter().zip(&offsets).map(|(v, o)| v + o).collect()
        })
        .collect()
}

fn pinned(bits: u8, n: usize) -> TemporalTensorCompressor {
    pinned_in(Format::Packed, bits, n)
}

fn pinned_in(format: Format, bits: u8, n: usize) -> TemporalTensorCompressor {
    let mut policy = TierPolicy::default();
    let count = match bits {
        8 => u32::MAX,
        3 => 0,
        w => {
            policy.hot_min_score = u32::MAX;
            policy.warm_min_score = 0;
            policy.warm_bits = w;
            0
        }
    };
    let mut c = TemporalTensorCompressor::with_format(policy, n as u32, 0, format).unwrap();
    c.set_access(count, 0);
    c
}

/// Median over rounds of (time per iteration) for `f`, each round lasting ~`budget`.
fn time_per_iter(budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut iters = 0usize;
        while start.elapsed() < budget {
            iters += f();
        }
        samples.push(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

struct Row {
    kernels: &'static str,
    op: &'static str,
    bits: u8,
    dim: usize,
    ns_per_frame: f64,
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let budget = Duration::from_millis(if quick { 15 } else { 60 });
    let dims: Vec<usize> = match std::env::var("BENCH_DIMS") {
        Ok(v) => v.split(',').filter_map(|d| d.parse().ok()).collect(),
        Err(_) => DIMS.to_vec(),
    };
    let formats = std::env::var("BENCH_FORMATS").unwrap_or_else(|_| "packed,coded".into());
    let mut rows = Vec::new();
    for &dim in dims.iter().filter(|_| formats.contains("packed")) {
        // A cache-resident working set (8 frames): the figures are compute cost, as a stream
        // arriving in cache would see; larger sets add the memory system's own cost.
        let stream = frames(dim, 8);
        // The memcpy floor: copying one frame.
        let mut dst = vec![0f32; dim];
        let memcpy = time_per_iter(budget, || {
            for f in &stream {
                dst.copy_from_slice(black_box(f));
            }
            black_box(&dst);
            stream.len()
        });
        rows.push(Row {
            kernels: "memcpy",
            op: "copy",
            bits: 32,
            dim,
            ns_per_frame: memcpy,
        });
        let modes: &[bool] = match std::env::var("BENCH_KERNELS").as_deref() {
            Ok("scalar") => &[true],
            Ok("best") => &[false],
            _ => &[true, false],
        };
        for &force in modes {
            kernels::force_scalar(force);
            let name = kernels::active_name();
            for &bits in &WIDTHS {
                let mut c = pinned(bits, dim);
                let mut out = Vec::with_capacity(1 << 20);
                let encode = time_per_iter(budget, || {
                    for f in &stream {
                        c.push_frame(black_box(f), 0, &mut out).unwrap();
                        out.clear();
                    }
                    stream.len()
                });
                let mut seg = Vec::new();
                let mut d = pinned(bits, dim);
                for f in &stream {
                    d.push_frame(f, 0, &mut seg).unwrap();
                }
                d.flush(&mut seg);
                let first = segment::SegmentHeader::parse(&seg).unwrap();
                let bytes = &seg[..first.byte_len];
                let mut decoded = vec![0f32; first.value_count() as usize];
                let decode = time_per_iter(budget, || {
                    segment::decode_into(black_box(bytes), &mut decoded).unwrap();
                    first.frame_count as usize
                });
                rows.push(Row {
                    kernels: name,
                    op: "encode",
                    bits,
                    dim,
                    ns_per_frame: encode,
                });
                rows.push(Row {
                    kernels: name,
                    op: "decode",
                    bits,
                    dim,
                    ns_per_frame: decode,
                });
            }
        }
    }
    kernels::force_scalar(false);
    // Coded segments (format v3): one 128-frame segment per round, pushed and flushed; its
    // kernels are portable code the compiler vectorizes, the same on every CPU.
    for &dim in dims
        .iter()
        .filter(|&&d| d <= 4096 && formats.contains("coded"))
    {
        let stream = walk(dim, 128);
        for &bits in &WIDTHS {
            let mut c = pinned_in(Format::Coded, bits, dim);
            let mut out = Vec::with_capacity(1 << 22);
            let encode = time_per_iter(budget, || {
                out.clear();
                for f in &stream {
                    c.push_frame(black_box(f), 0, &mut out).unwrap();
                }
                c.flush(&mut out);
                stream.len()
            });
            let mut decoded = vec![0f32; dim * stream.len()];
            let decode = time_per_iter(budget, || {
                segment::decode_into(black_box(&out), &mut decoded).unwrap();
                stream.len()
            });
            let ratio = (dim * 4 * stream.len()) as f64 / out.len() as f64;
            for (op, ns) in [("encode", encode), ("decode", decode)] {
                rows.push(Row {
                    kernels: "coded",
                    op,
                    bits,
                    dim,
                    ns_per_frame: ns,
                });
            }
            eprintln!("coded {bits}-bit dim {dim}: ratio {ratio:.2}x on the drifting stream");
        }
    }
    println!(
        "{:<10} {:<7} {:>4} {:>6} {:>12} {:>9}",
        "kernels", "op", "bits", "dim", "ns/frame", "GB/s f32"
    );
    for r in &rows {
        let gbps = r.dim as f64 * 4.0 / r.ns_per_frame;
        println!(
            "{:<10} {:<7} {:>4} {:>6} {:>12.1} {:>9.2}",
            r.kernels, r.op, r.bits, r.dim, r.ns_per_frame, gbps
        );
    }
    if let Some(path) = std::env::var_os("BENCH_JSON") {
        let body: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"backend\":\"rust\",\"kernels\":\"{}\",\"op\":\"{}\",\"bits\":{},\"dim\":{},\"nsPerFrame\":{:.3}}}",
                    r.kernels, r.op, r.bits, r.dim, r.ns_per_frame
                )
            })
            .collect();
        std::fs::write(path, format!("[\n{}\n]\n", body.join(",\n"))).unwrap();
    }
}
