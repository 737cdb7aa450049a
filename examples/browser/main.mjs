// @ts-check
// Compresses a stream of frames in the page (WebAssembly backend), decodes them, and prints the
// sizes and the worst relative error per tier.
import { TemporalTensorCompressor, decodeSegment, errorBound, init, kernels } from '@ruvector/temporal-tensor/browser'

const DIM = 256
const FRAMES = 64

/**
 * Compresses `FRAMES` frames at one width and decodes them back.
 * @param {8 | 7 | 5 | 3} bits
 */
function roundTrip(bits) {
  const compressor = new TemporalTensorCompressor({ tensorLen: DIM, policy: { fixedBits: bits } })
  const frames = Array.from({ length: FRAMES }, (_, t) => Float32Array.from({ length: DIM }, (_, i) => Math.sin(i / 9 + t / 16)))
  const segments = []
  for (const [t, frame] of frames.entries()) {
    const done = compressor.push(frame, t) // nowTs: a u32 tick of the tier clock
    if (done) segments.push(done)
  }
  const last = compressor.flush()
  if (last) segments.push(last)
  compressor.free()
  const decoded = segments.map((s) => decodeSegment(s))
  let worst = 0
  let row = 0
  for (const values of decoded) {
    for (let f = 0; f * DIM < values.length; f++, row++) {
      const original = frames[row]
      const peak = Math.max(...original.map(Math.abs))
      for (let i = 0; i < DIM; i++) worst = Math.max(worst, Math.abs(original[i] - values[f * DIM + i]) / peak)
    }
  }
  const bytes = segments.reduce((n, s) => n + s.length, 0)
  return { bits, bytes, ratio: (FRAMES * DIM * 4) / bytes, worst, bound: errorBound(bits) }
}

await init() // fetches the .wasm beside dist/browser.mjs
const out = /** @type {HTMLElement} */ (document.getElementById('out'))
const lines = [`WebAssembly kernels: ${kernels}`]
for (const bits of /** @type {const} */ ([8, 7, 5, 3])) {
  const r = roundTrip(bits)
  lines.push(`${bits} bits: ${r.bytes} bytes (×${r.ratio.toFixed(1)}), worst error ${(100 * r.worst).toFixed(2)} % (bound ${(100 * r.bound).toFixed(1)} %)`)
}
out.textContent = lines.join('\n')
