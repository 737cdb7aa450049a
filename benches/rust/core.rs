//! Rust benchmarks of the core: push (encode) and decode per width, tensor length and stream, with
//! every kernel set this CPU supports side by side in one run (the scalar reference, `avx2`
//! without BMI2, `avx2+bmi2`, …), interleaved so that each comparison is made minutes apart at
//! most; then the coded format, again with every set side by side.
//!
//! `cargo bench -p ruvector-temporal-tensor --bench core` prints the CPU (vendor, family, model,
//! name), the kernel set the library would pick and why, and a table: ns per frame, GB/s of f32
//! input, the ratio to a memcpy of the same bytes (the frame's `dim × 4` bytes), the speed-up
//! over the scalar set, and a flag on any set slower than scalar. With `BENCH_JSON=path` it also
//! writes the rows as JSON (used by `npm run bench`; every row carries the CPU and the set).
//!
//! Environment: `BENCH_QUICK=1` (shorter rounds), `BENCH_DIMS=512,4096` (default
//! 512,4096,65536), `BENCH_SETS=scalar,avx2` (default: every supported set; `BENCH_KERNELS=scalar`
//! or `best` as before), `BENCH_STREAMS=stable,drifting`, `BENCH_FORMATS=packed,coded`.
//! Figures are medians of 7 timed rounds (the best round is shown beside them); this is a
//! shared, noisy machine. Nothing is asserted; a set is flagged slower than scalar only when both
//! its median and its best round are.

use ruvector_temporal_tensor::kernels::{self, KernelSet};
use ruvector_temporal_tensor::{segment, Format, TemporalTensorCompressor, TierPolicy};
use std::hint::black_box;
use std::time::{Duration, Instant};

const WIDTHS: [u8; 4] = [8, 7, 5, 3];
const DIMS: [usize; 3] = [512, 4096, 65536];
/// Frames per timed pass: a cache-resident working set at small dims.
const FRAMES: usize = 8;

/// Uniform values in [-0.5, 0.5) from a xorshift64 generator seeded with `seed` (non-zero).
fn uniform(mut state: u64) -> impl FnMut() -> f32 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// A stream that stays inside one segment's scales (small jitter around a fixed frame).
fn frames(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut next = uniform(0x2545_f491_4f6c_dd1d);
    let base: Vec<f32> = (0..n).map(|_| next()).collect();
    (0..count)
        .map(|_| base.iter().map(|v| v + 0.001 * next()).collect())
        .collect()
}

/// A drifting stream (a random walk around per-channel offsets): every frame differs, so coded
/// segments carry real entropy and packed segments are often recalibrated.
fn walk(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut next = uniform(0x9e37_79b9_7f4a_7c15);
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
    TemporalTensorCompressor::with_format(TierPolicy::fixed(bits), n as u32, 0, format).unwrap()
}

/// Time per iteration of `f` over 7 rounds of ~`budget` each: (median, best round).
fn time_per_iter(budget: Duration, mut f: impl FnMut() -> usize) -> Timing {
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
    Timing {
        median: samples[samples.len() / 2],
        best: samples[0],
    }
}

#[derive(Clone, Copy)]
struct Timing {
    /// The median round: the figure reported (ns per frame).
    median: f64,
    /// The fastest round: what the code costs when the machine leaves it alone.
    best: f64,
}

struct Row {
    kernels: &'static str,
    op: &'static str,
    stream: &'static str,
    bits: u8,
    dim: usize,
    ns_per_frame: f64,
    best_ns_per_frame: f64,
    /// Segments the timed frames made (packed encode), for context.
    segments: Option<f64>,
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let budget = Duration::from_millis(if quick { 15 } else { 60 });
    let dims: Vec<usize> = match std::env::var("BENCH_DIMS") {
        Ok(v) => v.split(',').filter_map(|d| d.parse().ok()).collect(),
        Err(_) => DIMS.to_vec(),
    };
    let formats = std::env::var("BENCH_FORMATS").unwrap_or_else(|_| "packed,coded".into());
    let streams: Vec<&'static str> = match env_list("BENCH_STREAMS") {
        Some(v) => ["stable", "drifting"]
            .into_iter()
            .filter(|s| v.iter().any(|x| x == s))
            .collect(),
        None => vec!["stable", "drifting"],
    };

    // The CPU, and what the library picks on it.
    let cpu = kernels::cpu();
    let (auto_set, auto_why) = kernels::auto_choice();
    let default_set = kernels::active_set();
    let default_why = kernels::active_reason();
    let supported = kernels::supported_sets();
    let sets: Vec<KernelSet> = match (
        env_list("BENCH_SETS"),
        std::env::var("BENCH_KERNELS").as_deref(),
    ) {
        (Some(names), _) => names
            .iter()
            .filter_map(|n| KernelSet::from_name(n))
            .filter(|s| supported.contains(s))
            .collect(),
        (None, Ok("scalar")) => vec![KernelSet::Scalar],
        (None, Ok("best")) => vec![default_set],
        _ => supported.clone(),
    };
    let model_name = if cpu.brand().is_empty() {
        "unknown".to_string()
    } else {
        cpu.brand().to_string()
    };
    println!(
        "CPU: {} — vendor {}, family {:#x}, model {:#x}, stepping {}",
        model_name,
        if cpu.vendor().is_empty() {
            "unknown"
        } else {
            cpu.vendor()
        },
        cpu.family,
        cpu.model,
        cpu.stepping
    );
    println!(
        "Kernel sets supported: {}",
        supported
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("Automatic choice: {} ({auto_why})", auto_set.name());
    println!("In use by default: {} ({default_why})", default_set.name());
    println!(
        "Timing: {} (median and best of 7 rounds; ratios from medians)\n",
        if quick { "quick" } else { "full" }
    );

    let mut rows = Vec::new();
    let mut memcpy_ns = std::collections::HashMap::new();
    for &dim in dims.iter() {
        // A cache-resident working set (8 frames): the figures are compute cost, as a stream
        // arriving in cache would see; larger sets add the memory system's own cost.
        let stable = frames(dim, FRAMES);
        // The memcpy floor: copying one frame's bytes.
        let mut dst = vec![0f32; dim];
        let memcpy = time_per_iter(budget, || {
            for f in &stable {
                dst.copy_from_slice(black_box(f));
            }
            black_box(&dst);
            stable.len()
        });
        memcpy_ns.insert(dim, memcpy.median);
        rows.push(Row {
            kernels: "memcpy",
            op: "copy",
            stream: "stable",
            bits: 32,
            dim,
            ns_per_frame: memcpy.median,
            best_ns_per_frame: memcpy.best,
            segments: None,
        });
        if !formats.contains("packed") {
            continue;
        }
        let drifting = walk(dim, FRAMES);
        for &stream_name in &streams {
            let stream = if stream_name == "stable" {
                &stable
            } else {
                &drifting
            };
            for &bits in &WIDTHS {
                // The segments to decode: the timed frames pushed once, then flushed.
                let mut segs = Vec::new();
                let mut d = pinned(bits, dim);
                for f in stream {
                    d.push_frame(f, 0, &mut segs).unwrap();
                }
                d.flush(&mut segs);
                let parts: Vec<(usize, usize)> = segment::split_segments(&segs)
                    .map(|p| p.unwrap())
                    .scan(0usize, |at, (h, bytes)| {
                        let start = *at;
                        *at += bytes.len();
                        Some((start, h.value_count() as usize))
                    })
                    .collect();
                let segment_count = parts.len();
                let mut decoded = vec![0f32; dim * stream.len()];
                for &set in &sets {
                    assert!(kernels::force(set));
                    let name = kernels::active_name();
                    let mut c = pinned(bits, dim);
                    let mut out = Vec::with_capacity(1 << 20);
                    let encode = time_per_iter(budget, || {
                        for f in stream {
                            c.push_frame(black_box(f), 0, &mut out).unwrap();
                            out.clear();
                        }
                        stream.len()
                    });
                    let decode = time_per_iter(budget, || {
                        let mut at = 0;
                        for &(start, values) in &parts {
                            segment::decode_into(black_box(&segs[start..]), &mut decoded[at..])
                                .unwrap();
                            at += values;
                        }
                        stream.len()
                    });
                    for (op, t) in [("encode", encode), ("decode", decode)] {
                        rows.push(Row {
                            kernels: name,
                            op,
                            stream: stream_name,
                            bits,
                            dim,
                            ns_per_frame: t.median,
                            best_ns_per_frame: t.best,
                            segments: (op == "encode").then_some(segment_count as f64),
                        });
                    }
                }
            }
        }
    }
    // Coded segments (format v4): one 128-frame segment per round, pushed and flushed, with every
    // kernel set side by side like the packed rows. Rows of the default set are labelled
    // `coded`, the others `coded/<set>` (`coded/scalar`: the portable kernels).
    for &dim in dims
        .iter()
        .filter(|&&d| d <= 4096 && formats.contains("coded"))
    {
        let stream = walk(dim, 128);
        for &bits in &WIDTHS {
            for &set in &sets {
                assert!(kernels::force(set));
                let label: &'static str = if set == default_set {
                    "coded"
                } else {
                    Box::leak(format!("coded/{}", set.name()).into_boxed_str())
                };
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
                for (op, t) in [("encode", encode), ("decode", decode)] {
                    rows.push(Row {
                        kernels: label,
                        op,
                        stream: "drifting",
                        bits,
                        dim,
                        ns_per_frame: t.median,
                        best_ns_per_frame: t.best,
                        segments: None,
                    });
                }
                if set == default_set {
                    let ratio = (dim * 4 * stream.len()) as f64 / out.len() as f64;
                    eprintln!(
                        "coded {bits}-bit dim {dim}: ratio {ratio:.2}x on the drifting stream"
                    );
                }
            }
        }
    }
    kernels::force(default_set);

    // Derived columns: ratio to memcpy of the same bytes, speed-up over scalar, slower-than-scalar.
    let is_coded = |k: &str| k == "coded" || k.starts_with("coded/");
    let scalar_row = |r: &Row| {
        let scalar = if is_coded(r.kernels) {
            "coded/scalar"
        } else {
            "scalar"
        };
        rows.iter().find(|s| {
            s.kernels == scalar
                && s.op == r.op
                && s.stream == r.stream
                && s.bits == r.bits
                && s.dim == r.dim
        })
    };
    let derived: Vec<(Option<f64>, Option<f64>, bool)> = rows
        .iter()
        .map(|r| {
            let vs_memcpy = memcpy_ns.get(&r.dim).map(|m| r.ns_per_frame / m);
            let scalar = match r.kernels {
                "memcpy" | "scalar" | "coded/scalar" => None,
                _ => scalar_row(r),
            };
            let speedup = scalar.map(|s| s.ns_per_frame / r.ns_per_frame);
            // Slower in the median and in the best round alike (not a noisy round).
            let slower = scalar.is_some_and(|s| {
                r.ns_per_frame > s.ns_per_frame && r.best_ns_per_frame > s.best_ns_per_frame
            });
            (vs_memcpy, speedup, slower)
        })
        .collect();

    println!(
        "{:<12} {:<7} {:<9} {:>4} {:>6} {:>12} {:>10} {:>9} {:>9} {:>9}  note",
        "kernels",
        "op",
        "stream",
        "bits",
        "dim",
        "ns/frame",
        "best round",
        "GB/s f32",
        "×memcpy",
        "speed-up"
    );
    let mut slower = Vec::new();
    for (r, &(vs_memcpy, speedup, is_slower)) in rows.iter().zip(&derived) {
        let gbps = r.dim as f64 * 4.0 / r.ns_per_frame;
        let mut note = String::new();
        if r.kernels == default_set.name() {
            note.push_str("default ");
        }
        if let Some(s) = r.segments.filter(|&s| s > 1.0) {
            note.push_str(&format!("({s:.0} segments) "));
        }
        if is_slower {
            note.push_str("SLOWER THAN SCALAR");
            slower.push(format!(
                "{} {} {} {}b {}",
                r.kernels, r.op, r.stream, r.bits, r.dim
            ));
        }
        println!(
            "{:<12} {:<7} {:<9} {:>4} {:>6} {:>12.1} {:>10.1} {:>9.2} {:>9} {:>9}  {}",
            r.kernels,
            r.op,
            r.stream,
            r.bits,
            r.dim,
            r.ns_per_frame,
            r.best_ns_per_frame,
            gbps,
            vs_memcpy.map_or("—".into(), |x| format!("{x:.2}×")),
            speedup.map_or("—".into(), |x| format!("{x:.2}×")),
            note.trim_end()
        );
    }
    if slower.is_empty() {
        println!("\nNo kernel set was slower than scalar.");
    } else {
        println!("\nSlower than scalar: {}", slower.join("; "));
    }

    if let Some(path) = std::env::var_os("BENCH_JSON") {
        let cpu_fields = format!(
            "\"cpuVendor\":{},\"cpuFamily\":{},\"cpuModel\":{},\"cpuModelName\":{},\"defaultKernels\":{}",
            json_str(cpu.vendor()),
            cpu.family,
            cpu.model,
            json_str(&model_name),
            json_str(default_set.name())
        );
        let body: Vec<String> = rows
            .iter()
            .zip(&derived)
            .map(|(r, &(vs_memcpy, speedup, is_slower))| {
                let opt = |x: Option<f64>| x.map_or("null".into(), |v| format!("{v:.3}"));
                format!(
                    "{{\"backend\":\"rust\",\"kernels\":{},\"op\":\"{}\",\"stream\":\"{}\",\"bits\":{},\"dim\":{},\"nsPerFrame\":{:.3},\"nsPerFrameBest\":{:.3},\"vsMemcpy\":{},\"speedupVsScalar\":{},\"slowerThanScalar\":{},\"isDefault\":{},{}}}",
                    json_str(r.kernels),
                    r.op,
                    r.stream,
                    r.bits,
                    r.dim,
                    r.ns_per_frame,
                    r.best_ns_per_frame,
                    opt(vs_memcpy),
                    opt(speedup),
                    is_slower,
                    r.kernels == default_set.name(),
                    cpu_fields
                )
            })
            .collect();
        std::fs::write(path, format!("[\n{}\n]\n", body.join(",\n"))).unwrap();
    }
}
