// Memory of the npm API on the backend picked by the environment (see bench.mjs):
//
// 1. bytes per compressor: 10,000 compressors of 512 values are created, then get one frame each;
//    the RSS and V8 heap deltas (after a full GC) are divided by their number. Included: the JS
//    wrapper object, the backend handle (napi object wrap, or WASM pointer), the Rust compressor
//    and its open segment (scales, divisors, the codes of one frame) with allocator overhead;
//    for WASM, the growth of the module's linear memory. Not included: Node, the addon or module.
// 2. peak RSS of a 1-hour, 10 fps, 512-value stream (36,000 frames, pushed one at a time with
//    timestamps in 100 ms ticks) through one compressor per tier, keeping every segment emitted.
//    Frames are a fixed random frame plus ≤ 0.1 % jitter, so segments fill to the 128-frame cap.
//
// Each measurement runs in its own child process (node --expose-gc) so peaks do not mix.
//   node benches/node/memory.mjs           prints a table; BENCH_MEMORY_JSON=path writes JSON.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const DIM = 512
const FPS = 10
const SECONDS = 3600
const COMPRESSORS = 10_000
const WIDTHS = [8, 7, 5, 3]
const self = fileURLToPath(import.meta.url)
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)

const phase = arg('phase')
if (phase) {
  const out = await runPhase(phase, Number(arg('bits')))
  console.log(JSON.stringify(out))
} else {
  main()
}

async function runPhase(name, bits) {
  const { TemporalTensorCompressor, backend, kernels, segmentInfo } = await import('../../dist/index.mjs')
  const gc = globalThis.gc
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc')
  const settle = () => {
    for (let i = 0; i < 3; i++) gc()
    return process.memoryUsage()
  }
  const pinned = (b) => new TemporalTensorCompressor({ tensorLen: DIM, policy: { fixedBits: b } })
  const base = Float32Array.from({ length: DIM }, () => Math.random() - 0.5)
  const frame = new Float32Array(DIM)
  const fill = () => {
    for (let i = 0; i < DIM; i++) frame[i] = base[i] + 0.001 * (Math.random() - 0.5)
  }
  // warm the backend (and WASM memory) up before the first reading
  fill()
  const warm = pinned(bits)
  warm.push(frame, 0)
  warm.flush()
  warm.free()

  if (name === 'compressors') {
    const m0 = settle()
    const all = []
    for (let i = 0; i < COMPRESSORS; i++) all.push(pinned(bits))
    const m1 = settle()
    for (const c of all) c.push(frame, 0)
    const m2 = settle()
    const pending = all[0].pendingBytes
    const activeBits = all[0].activeBits
    for (const c of all) c.free()
    const m3 = settle()
    const per = (a, b, key) => (b[key] - a[key]) / COMPRESSORS
    return {
      backend, kernels, bits: activeBits, dim: DIM, compressors: COMPRESSORS,
      emptyRssBytes: per(m0, m1, 'rss'), emptyHeapBytes: per(m0, m1, 'heapUsed'),
      oneFrameRssBytes: per(m0, m2, 'rss'), oneFrameHeapBytes: per(m0, m2, 'heapUsed'),
      oneFrameExternalBytes: per(m0, m2, 'external'),
      pendingSegmentBytes: pending,
      rssAfterFreeBytes: per(m0, m3, 'rss'),
    }
  }

  if (name === 'stream') {
    const frames = FPS * SECONDS
    const c = pinned(bits)
    const segments = []
    let segmentBytes = 0
    const keep = (seg) => {
      if (seg) {
        segments.push(seg)
        segmentBytes += seg.byteLength
      }
    }
    const before = settle()
    let peakSampled = before.rss
    const t0 = process.hrtime.bigint()
    let pushNs = 0n
    for (let f = 0; f < frames; f++) {
      fill()
      const p0 = process.hrtime.bigint()
      keep(c.push(frame, f))
      pushNs += process.hrtime.bigint() - p0
      if (f % 500 === 0) peakSampled = Math.max(peakSampled, process.memoryUsage.rss())
    }
    keep(c.flush())
    const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6
    peakSampled = Math.max(peakSampled, process.memoryUsage.rss())
    const maxRss = process.resourceUsage().maxRSS * 1024
    const widths = new Set(segments.map((s) => segmentInfo(s).bits))
    const after = settle()
    c.free()
    return {
      backend, kernels, bits, widths: [...widths], dim: DIM, fps: FPS, seconds: SECONDS, frames,
      segments: segments.length, segmentBytes, rawBytes: frames * DIM * 4,
      ratio: (frames * DIM * 4) / segmentBytes,
      rssBeforeBytes: before.rss, peakRssBytes: maxRss, peakRssSampledBytes: peakSampled,
      rssAfterBytes: after.rss, heapUsedAfterBytes: after.heapUsed, externalAfterBytes: after.external,
      peakOverStartBytes: maxRss - before.rss,
      pushMsTotal: Number(pushNs) / 1e6, elapsedMs,
    }
  }
  throw new Error(`unknown phase ${name}`)
}

function child(phaseName, bits) {
  const r = spawnSync(process.execPath, ['--expose-gc', self, `--phase=${phaseName}`, `--bits=${bits}`], {
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 1 << 24,
  })
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '')
    process.stderr.write(r.stderr ?? '')
    throw new Error(`memory phase ${phaseName} ${bits}b failed (${r.status ?? r.signal})`)
  }
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function main() {
  const perCompressor = WIDTHS.map((b) => child('compressors', b))
  const stream = WIDTHS.map((b) => child('stream', b))
  const { backend, kernels } = stream[0]
  const mb = (b) => (b / 2 ** 20).toFixed(1)
  const kb = (b) => (b / 1024).toFixed(2)
  console.log(`memory, ${backend}/${kernels}, ${DIM} values per frame`)
  console.log(`bytes per compressor (${COMPRESSORS} compressors; RSS and V8 heap deltas after GC):`)
  console.log('  bits  empty RSS  empty heap  1-frame RSS  1-frame heap  open segment  RSS kept after free')
  for (const r of perCompressor) {
    console.log(
      `  ${String(r.bits).padStart(4)}  ${r.emptyRssBytes.toFixed(0).padStart(9)}  ${r.emptyHeapBytes.toFixed(0).padStart(10)}  ${r.oneFrameRssBytes.toFixed(0).padStart(11)}  ${r.oneFrameHeapBytes.toFixed(0).padStart(12)}  ${String(r.pendingSegmentBytes).padStart(12)}  ${r.rssAfterFreeBytes.toFixed(0).padStart(19)}`,
    )
  }
  console.log(`1-hour stream, ${FPS} fps (${FPS * SECONDS} frames, pushed one by one), all segments kept:`)
  console.log('  bits  segments  segment MiB  raw f32 MiB  ratio  RSS start MiB  peak RSS MiB  peak - start MiB  push total ms')
  for (const r of stream) {
    console.log(
      `  ${String(r.bits).padStart(4)}  ${String(r.segments).padStart(8)}  ${mb(r.segmentBytes).padStart(11)}  ${mb(r.rawBytes).padStart(11)}  ${r.ratio.toFixed(2).padStart(5)}  ${mb(r.rssBeforeBytes).padStart(13)}  ${mb(r.peakRssBytes).padStart(12)}  ${mb(r.peakOverStartBytes).padStart(16)}  ${r.pushMsTotal.toFixed(0).padStart(13)}`,
    )
  }
  void kb
  if (process.env.BENCH_MEMORY_JSON) {
    writeFileSync(process.env.BENCH_MEMORY_JSON, `${JSON.stringify({ backend, kernels, perCompressor, stream }, null, 1)}\n`)
  }
}
