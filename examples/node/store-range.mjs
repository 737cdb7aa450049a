// @ts-check
// Time-range reads from a TensorStreamStore with JavaScript millisecond timestamps: a minute of
// 10 Hz frames, then the last 5 seconds, one instant, and the per-tier figures.
//
// Run: node examples/node/store-range.mjs
import { fileURLToPath } from 'node:url'
import { TensorStreamStore } from '@ruvector/temporal-tensor'

/**
 * Fills a store with `seconds` of frames (`dim` values, every 100 ms from `start`), then reads
 * back. Returns what it read, and closes the store.
 * @param {{ start?: number, seconds?: number, dim?: number }} [options]
 */
export async function rangeExample({ start = Date.now(), seconds = 60, dim = 64 } = {}) {
  // A segment every 10 s of frames. By default a coded segment holds about 2^17 values (2,048
  // frames of 64), which suits long streams; reads see finished and open segments alike.
  const store = new TensorStreamStore({ policy: { maxSegmentFrames: 100 } })
  try {
    const frame = new Float32Array(dim)
    for (let k = 0; k < seconds * 10; k++) {
      for (let i = 0; i < dim; i++) frame[i] = Math.sin(i / 5 + k / 50) // the store copies the frame
      await store.append('sensor', frame, start + k * 100)
    }
    const end = start + (seconds * 10 - 1) * 100
    const last5s = await store.read('sensor', end - 5000, end) // both ends inclusive
    const at = await store.readAt('sensor', start + 12_345) // the latest frame at or before
    return { end, last5s, at, stats: store.stats(), segments: store.lineage('sensor').length }
  } finally {
    await store.close()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { last5s, at, stats, segments } = await rangeExample()
  console.log(`last 5 s: ${last5s.timestamps.length} frames, from ${new Date(last5s.timestamps[0]).toISOString()}`)
  console.log(`at +12.345 s: the frame of ${at ? new Date(at.ts).toISOString() : 'none'}`)
  console.log(`${segments} segments, ${stats.total.residentBytes} bytes for ${stats.total.rawBytes} raw (×${stats.total.ratio.toFixed(1)})`)
}
