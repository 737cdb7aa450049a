// How long pushMany blocks the event loop, beside pushManyAsync, on the backend picked by the
// environment (TEMPORAL_TENSOR_BACKEND=native|wasm; unset: each in turn, in a child process,
// which is what `npm run bench:eventloop` runs): 10,000 frames of 4096 values (160 MB of
// f32) in one call, then flush (flushAsync after pushManyAsync), with
// perf_hooks.monitorEventLoopDelay sampling every millisecond and a 1 ms interval counting the
// turns the loop managed meanwhile and the longest gap between two of them (the longest stall).
// Prints a table; timing only, nothing here asserts on speed (it does check that both calls
// give the same bytes). On WebAssembly the async calls run in the backend's worker.
//
//   node benches/node/async-blocking.mjs
//   BENCH_FRAMES=2000 BENCH_DIM=4096 node benches/node/async-blocking.mjs
//   BENCH_JSON=path writes the rows.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

if (!process.env.TEMPORAL_TENSOR_BACKEND) {
  // Each backend in a process of its own (the backend is chosen when the package loads).
  let failed = false
  for (const backend of ['native', 'wasm']) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
      stdio: 'inherit',
      env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backend, BENCH_JSON: process.env.BENCH_JSON ? `${process.env.BENCH_JSON}.${backend}.json` : '' },
    })
    failed ||= r.status !== 0
  }
  process.exit(failed ? 1 : 0)
}

const { TemporalTensorCompressor, backend, kernels } = await import('../../dist/index.mjs')

const FRAMES = Number(process.env.BENCH_FRAMES ?? 10_000)
const DIM = Number(process.env.BENCH_DIM ?? 4096)

/** Smooth frames with a little noise: what a stream of activations looks like. */
function frames() {
  const out = new Float32Array(FRAMES * DIM)
  let s = 0x9e3779b9
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1
  const base = Float32Array.from({ length: DIM }, () => rand())
  for (let t = 0; t < FRAMES; t++) {
    for (let i = 0; i < DIM; i++) out[t * DIM + i] = base[i] * (1 + 0.01 * Math.sin(t / 50)) + 0.001 * rand()
  }
  return out
}

/** Runs `body` under the monitors; returns what they saw. */
async function measure(label, body) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let ticks = 0
  let last = performance.now()
  let longestGap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    longestGap = Math.max(longestGap, now - last)
    last = now
    ticks++
  }, 1)
  await new Promise((r) => setTimeout(r, 50)) // settle the monitors
  histogram.enable()
  await new Promise((r) => setTimeout(r, 20)) // the histogram's own timer is running
  const ticksBefore = ticks
  longestGap = 0
  const start = performance.now()
  const segments = await body()
  const wall = performance.now() - start
  await new Promise((r) => setTimeout(r, 5)) // let the histogram see the last delay
  histogram.disable()
  clearInterval(timer)
  return {
    backend,
    kernels,
    call: label,
    frames: FRAMES,
    dim: DIM,
    wallMs: +wall.toFixed(1),
    longestStallMs: +longestGap.toFixed(1),
    maxLoopDelayMs: +(histogram.max / 1e6).toFixed(1),
    p99LoopDelayMs: +(histogram.percentile(99) / 1e6).toFixed(1),
    intervalTicks: ticks - ticksBefore,
    segments: segments.length,
    bytes: segments.reduce((n, s) => n + s.byteLength, 0),
    output: segments,
  }
}

const input = frames()
const rows = []
for (const [label, run] of [
  ['pushMany (sync)', (c) => [...c.pushMany(input, 1), c.flush()]],
  ['pushManyAsync', async (c) => [...(await c.pushManyAsync(input, 1)), await c.flushAsync()]],
]) {
  const c = new TemporalTensorCompressor({ tensorLen: DIM })
  rows.push(await measure(label, async () => (await run(c)).filter(Boolean)))
  c.free()
}
const [a, b] = rows.map((r) => r.output)
const same = a.length === b.length && a.every((s, i) => Buffer.compare(s, b[i]) === 0)
for (const r of rows) delete r.output
console.log(`event-loop blocking, ${FRAMES} × ${DIM} frames in one call, ${backend} (${kernels}), ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores`)
console.table(rows.map(({ backend: _b, kernels: _k, ...r }) => r))
console.log(same ? 'the same bytes from both calls' : 'OUTPUT DIFFERS between the calls')
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows, null, 2))
