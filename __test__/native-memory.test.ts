// Native memory (issue 11 item 11), measured in child processes: results live in V8-owned
// buffers (freed by V8's own collections, even inside a synchronous loop), free() releases a
// compressor at once, and compressors report what they hold, so the collector comes sooner.
// Before: 20,000 decodeSegment calls of 64 KiB took RSS from 50 to 1,308 MiB, and 500 freed
// compressors of 1 MiB each to 561 MiB. Memory, not time, is what these check.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const fixture = fileURLToPath(new URL('./fixtures/native-memory.mjs', import.meta.url))

function run(loop: string, count: number): { rssBeforeMiB: number; rssPeakMiB: number; backend: string } {
  const r = spawnSync(process.execPath, [fixture, loop, String(count)], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, TEMPORAL_TENSOR_BACKEND: 'native' },
  })
  if (r.status !== 0) throw new Error(`${loop}: exited with ${r.status ?? r.signal}: ${r.stderr.slice(-1000)}`)
  const result = JSON.parse(r.stdout)
  console.log(`native memory, ${loop} x ${count}: RSS ${result.rssBeforeMiB} -> ${result.rssPeakMiB} MiB at most`)
  return result
}

describe('native memory in synchronous loops', () => {
  it.each([
    // loop, count, most growth allowed (MiB); growth before the fix in the comment
    ['decode', 20_000, 300], // 1,258
    ['flush', 4_000, 40], // ~90
    ['free', 500, 100], // 511
    ['nofree-async', 500, 200], // 278
  ] as const)('%s x %i stays bounded', (loop, count, most) => {
    const r = run(loop, count)
    expect(r.backend).toBe('native')
    expect(r.rssPeakMiB - r.rssBeforeMiB).toBeLessThan(most)
  }, 300_000)
})
