// tinybench benchmarks of the npm API on the backend picked by the environment, side by side
// with what a Node user would otherwise do: keep Float32Array copies (the memcpy floor) or
// quantize with a plain TypeScript groupwise int8 quantizer.
//
//   node benches/node/bench.mjs                                   native, best kernels
//   TEMPORAL_TENSOR_FORCE_SCALAR=1 node benches/node/bench.mjs    native, scalar kernels
//   TEMPORAL_TENSOR_BACKEND=wasm node benches/node/bench.mjs      WASM simd128
//   TEMPORAL_TENSOR_BACKEND=wasm TEMPORAL_TENSOR_WASM_SIMD=0 ...  WASM baseline module
//
// Env: BENCH_JSON=path writes the rows ({ backend, kernels, op, bits, dim, nsPerFrame,
// nsPerFrameBest, ... }, the shape of benches/rust/core.rs), BENCH_QUICK=1 runs shorter,
// BENCH_DIMS=512,4096 limits the widths of frame, BENCH_BASELINES=0 skips the JS baselines
// (memcpy, int8 quantizer). TEMPORAL_TENSOR_KERNELS=avx2 (etc.) picks the native kernel set.
// Figures are medians of tinybench samples (one sample = one call over a batch of frames),
// divided by the frames in the batch. Timing only; nothing here asserts on speed.
import { writeFileSync } from 'node:fs'
import { Bench, hrtimeNow } from 'tinybench'
import {
  TemporalTensorCompressor,
  backend,
  decodeSegment,
  decodeSegmentInto,
  kernels,
  segmentInfo,
} from '../../dist/index.mjs'

const QUICK = !!process.env.BENCH_QUICK && process.env.BENCH_QUICK !== '0'
const BASELINES = process.env.BENCH_BASELINES !== '0'
const DIMS = (process.env.BENCH_DIMS ?? '512,4096,65536').split(',').map(Number).filter((d) => d > 0)
const WIDTHS = [8, 7, 5, 3]
/** Frames per call: a batch of 128..1024 KiB of f32 input, under the 128-frame segment cap. */
const BATCH = (dim) => (dim <= 512 ? 64 : dim <= 4096 ? 16 : 4)
const GROUP = 64

// ---- data: a fixed random frame plus tiny jitter (≤ 0.1 %), so frames share one segment ----

function xorshift(seed = 0x2545f4914f6cdd1dn) {
  let s = seed
  const mask = (1n << 64n) - 1n
  return () => {
    s ^= (s << 13n) & mask
    s ^= s >> 7n
    s ^= (s << 17n) & mask
    return Number(s >> 40n) / 2 ** 24 - 0.5
  }
}

/** `count` frames of `dim` values back to back (the Rust bench's stream, same generator). */
function makeFrames(dim, count) {
  const next = xorshift()
  const base = Float32Array.from({ length: dim }, next)
  const out = new Float32Array(dim * count)
  for (let f = 0; f < count; f++) {
    for (let i = 0; i < dim; i++) out[f * dim + i] = base[i] + 0.001 * next()
  }
  return out
}

const views = (frames, dim) =>
  Array.from({ length: frames.length / dim }, (_, f) => frames.subarray(f * dim, (f + 1) * dim))

/** A compressor pinned to one width (`policy.fixedBits`), writing the packed format that the
 * Rust rows measure (the facade's default is coded). */
const pinned = (bits, dim) =>
  new TemporalTensorCompressor({ tensorLen: dim, format: 'packed', policy: { fixedBits: bits } })

// ---- the baseline a Node user would write: groupwise symmetric int8, in plain TypeScript ----
// (this is the TypeScript with its annotations stripped; best case for it: outputs are
// preallocated, nothing is allocated per frame, no bit packing, f32 scales)

function tsQuantizeInt8(frame, q, scales, group = GROUP) {
  const n = frame.length
  for (let g = 0, s = 0; s < n; g++, s += group) {
    const e = Math.min(s + group, n)
    let max = 0
    for (let i = s; i < e; i++) {
      const a = Math.abs(frame[i])
      if (a > max) max = a
    }
    const scale = max / 127
    scales[g] = scale
    const inv = scale > 0 ? 1 / scale : 0
    for (let i = s; i < e; i++) q[i] = Math.round(frame[i] * inv)
  }
}

function tsDequantizeInt8(q, scales, out, group = GROUP) {
  const n = out.length
  for (let g = 0, s = 0; s < n; g++, s += group) {
    const e = Math.min(s + group, n)
    const scale = scales[g]
    for (let i = s; i < e; i++) out[i] = q[i] * scale
  }
}

// ---- the tasks ----

const bench = new Bench({
  now: hrtimeNow,
  time: QUICK ? 40 : 400,
  warmupTime: QUICK ? 10 : 100,
  iterations: QUICK ? 8 : 32,
  warmupIterations: QUICK ? 4 : 16,
  throws: true,
})

/** Per task: the row it yields and the frames one call covers. */
const meta = new Map()
let sink = 0
const checks = []

function add(row, frames, fn) {
  const name = `${row.backend}/${row.kernels} ${row.op} ${row.bits}b ${row.dim}${row.api === 'pushManyInto' ? ' into' : ''}`
  meta.set(name, { ...row, frames })
  bench.add(name, fn)
}

for (const dim of DIMS) {
  const batch = BATCH(dim)
  const frames = makeFrames(dim, batch)
  const frameViews = views(frames, dim)

  for (const bits of WIDTHS) {
    // encode: one pushMany of the batch (a segment is emitted every 128 frames, as in a stream)
    const enc = pinned(bits, dim)
    add({ backend, kernels, op: 'encode', bits, dim, api: 'pushMany' }, batch, () => {
      sink += enc.pushMany(frames, 0).length
    })
    checks.push(() => {
      const seg = enc.flush()
      if (seg && segmentInfo(seg).bits !== bits) throw new Error(`encode ${bits}b ${dim}: got ${segmentInfo(seg).bits} bits`)
      if (seg && segmentInfo(seg).format !== 'packed') throw new Error(`encode ${bits}b ${dim}: not the packed format`)
      enc.free()
    })
    // the same into one reused buffer (pushManyInto): no new buffer per segment. Sized for the
    // largest open segment (128 frames) plus a batch, so it never falls back to new buffers.
    const encInto = pinned(bits, dim)
    const perFrame = dim + 4 * Math.ceil(dim / GROUP) + 27
    const into = new Uint8Array((128 + batch) * perFrame)
    add({ backend, kernels, op: 'encode', bits, dim, api: 'pushManyInto' }, batch, () => {
      const segs = encInto.pushManyInto(frames, 0, into)
      if (segs.length > 0 && segs[0].buffer !== into.buffer) throw new Error('pushManyInto fell back to new buffers')
      sink += segs.length
    })
    checks.push(() => encInto.free())

    // single-frame push at 512: the per-call overhead of the binding
    if (dim === 512) {
      const one = pinned(bits, dim)
      add({ backend, kernels, op: 'push', bits, dim, api: 'push' }, batch, () => {
        for (let f = 0; f < frameViews.length; f++) if (one.push(frameViews[f], 0) !== null) sink++
      })
      checks.push(() => {
        const seg = one.flush()
        if (seg && segmentInfo(seg).bits !== bits) throw new Error(`push ${bits}b ${dim}: got ${segmentInfo(seg).bits} bits`)
        one.free()
      })
    }

    // decode: one decodeSegmentInto (a reused, caller-provided output) of a segment holding the batch
    const c = pinned(bits, dim)
    const segs = c.pushMany(frames, 0)
    const last = c.flush()
    c.free()
    if (segs.length !== 0 || !last) throw new Error('the batch should make exactly one segment')
    const info = segmentInfo(last)
    if (info.bits !== bits || info.frameCount !== batch) throw new Error(`decode setup ${bits}b ${dim}: ${JSON.stringify(info)}`)
    const decoded = new Float32Array(batch * dim)
    add({ backend, kernels, op: 'decode', bits, dim, api: 'decodeSegmentInto' }, batch, () => {
      sink += decodeSegmentInto(last, decoded)
    })
  }

  if (BASELINES) {
    // the memcpy floor: keep a Float32Array copy of each frame
    const dst = new Float32Array(dim)
    add({ backend: 'memcpy-js', kernels: 'TypedArray.set', op: 'copy', bits: 32, dim, api: 'dst.set(src)' }, batch, () => {
      for (let f = 0; f < frameViews.length; f++) dst.set(frameViews[f])
      sink += dst[0]
    })
    // what keeping copies really costs: a fresh Float32Array per frame (the last batch is kept)
    const kept = new Array(batch)
    add({ backend: 'memcpy-js', kernels: 'slice()', op: 'copy', bits: 32, dim, api: 'src.slice()' }, batch, () => {
      for (let f = 0; f < frameViews.length; f++) kept[f] = frameViews[f].slice()
      sink += kept[0][0]
    })
    // a plain TypeScript groupwise int8 quantizer (group 64, scale = max|v| / 127, Math.round)
    const groups = Math.ceil(dim / GROUP)
    const q = new Int8Array(dim * batch)
    const scales = new Float32Array(groups * batch)
    const qViews = Array.from({ length: batch }, (_, f) => q.subarray(f * dim, (f + 1) * dim))
    const sViews = Array.from({ length: batch }, (_, f) => scales.subarray(f * groups, (f + 1) * groups))
    add({ backend: 'ts-baseline', kernels: 'js', op: 'encode', bits: 8, dim, api: 'int8 groupwise' }, batch, () => {
      for (let f = 0; f < batch; f++) tsQuantizeInt8(frameViews[f], qViews[f], sViews[f])
      sink += q[0]
    })
    const out = new Float32Array(dim * batch)
    const outViews = views(out, dim)
    add({ backend: 'ts-baseline', kernels: 'js', op: 'decode', bits: 8, dim, api: 'int8 groupwise' }, batch, () => {
      for (let f = 0; f < batch; f++) tsDequantizeInt8(qViews[f], sViews[f], outViews[f])
      sink += out[0]
    })
    // the baseline is correct: error within half a step of its group's scale
    tsQuantizeInt8(frameViews[0], qViews[0], sViews[0])
    tsDequantizeInt8(qViews[0], sViews[0], outViews[0])
    for (let i = 0; i < dim; i++) {
      if (Math.abs(outViews[0][i] - frameViews[0][i]) > sViews[0][Math.floor(i / GROUP)] * 0.5001 + 1e-9) {
        throw new Error('ts baseline out of bounds')
      }
    }
  }
}

const started = Date.now()
await bench.run()
for (const check of checks) check()

const rows = []
for (const task of bench.tasks) {
  const m = meta.get(task.name)
  const lat = task.result?.latency
  if (!lat) throw new Error(`${task.name}: no result (${task.result?.error ?? 'unknown'})`)
  const median = lat.p50 ?? lat.mean
  const { frames, ...row } = m
  rows.push({
    ...row,
    nsPerFrame: +((median * 1e6) / frames).toFixed(3),
    // The fastest call: what the code costs when the machine leaves it alone.
    nsPerFrameBest: lat.min === undefined ? undefined : +((lat.min * 1e6) / frames).toFixed(3),
    framesPerCall: frames,
    samples: lat.samples?.length ?? task.result.samples?.length ?? undefined,
    rme: +(task.result.latency.rme ?? 0).toFixed(2),
  })
}

// ---- output ----

const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)
console.log(
  `${pad('backend', 12)} ${pad('kernels', 15)} ${pad('op', 7)} ${lpad('bits', 4)} ${lpad('dim', 6)} ${lpad('ns/frame', 11)} ${lpad('GB/s f32', 9)}  api`,
)
for (const r of rows) {
  const gbps = (r.dim * 4) / r.nsPerFrame
  console.log(
    `${pad(r.backend, 12)} ${pad(r.kernels, 15)} ${pad(r.op, 7)} ${lpad(r.bits, 4)} ${lpad(r.dim, 6)} ${lpad(r.nsPerFrame.toFixed(1), 11)} ${lpad(gbps.toFixed(2), 9)}  ${r.api}`,
  )
}
console.log(`(${backend}/${kernels}, ${bench.tasks.length} tasks in ${((Date.now() - started) / 1000).toFixed(1)} s${QUICK ? ', quick' : ''}; sink ${sink > 0 ? 'ok' : '0'})`)

if (process.env.BENCH_JSON) {
  writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(rows, null, 1)}\n`)
}
