// `pushManyInto` (segments written into one caller-provided buffer) on both backends: the same
// bytes as `pushMany`, views of `out` when it is large enough, the segments in buffers of their
// own when it is not (nothing lost), and coded errors that change nothing. Each backend runs in
// a child process with TEMPORAL_TENSOR_BACKEND forced.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const DIST = new URL('../dist/index.mjs', import.meta.url).href

/** Runs `body` (ES module code with `m` = the facade) in a child process on `backend`. */
function inChild(backend: 'native' | 'wasm', body: string): { backend: string; result: any } {
  const code = `
const m = await import(${JSON.stringify(DIST)})
function frames(n, count, seed) {
  let a = seed >>> 0
  const out = new Float32Array(n * count)
  const base = Float32Array.from({ length: n }, () => ((a = (a * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5)
  let scale = 1
  for (let t = 0; t < count; t++) {
    if (t % 37 === 36) scale *= 4
    for (let i = 0; i < n; i++) {
      a = (a * 1103515245 + 12345) >>> 0
      out[t * n + i] = (base[i] + 0.01 * (a / 2 ** 32 - 0.5)) * scale
    }
  }
  return out
}
const hex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex')
function codeOf(f) {
  try { f(); return 'none' } catch (e) { return e instanceof m.TemporalTensorError ? e.code : String(e) }
}
const result = await (async () => { ${body} })()
process.stdout.write(JSON.stringify({ backend: m.backend, result }))
`
  // From a file: code given with -e gets no worker thread (the async calls would stay on the
  // main thread, and the WebAssembly compressor would never move).
  const dir = mkdtempSync(join(tmpdir(), 'tt-into-'))
  const file = join(dir, 'child.mjs')
  writeFileSync(file, code)
  const child = spawnSync(process.execPath, [file], {
    env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backend },
    encoding: 'utf8',
    timeout: 60_000,
  })
  rmSync(dir, { recursive: true, force: true })
  if (child.status !== 0) throw new Error(`child (${backend}) exited with ${child.status ?? child.signal}:\n${child.stderr}`)
  return JSON.parse(child.stdout)
}

describe.each(['native', 'wasm'] as const)('pushManyInto on the %s backend', (backend) => {
  it('gives pushMany’s segments, as views of out back to back from its start', () => {
    const { backend: used, result } = inChild(
      backend,
      `
      const report = []
      for (const format of ['packed', 'coded']) {
        const n = 200
        const all = frames(n, 300, 7)
        const options = { tensorLen: n, format, policy: { groupLen: 32, maxSegmentFrames: 40 } }
        const a = new m.TemporalTensorCompressor(options)
        const b = new m.TemporalTensorCompressor(options)
        const want = []
        const got = []
        let views = 0
        let backToBack = true
        for (let at = 0; at < 300; at += 30) {
          const batch = all.subarray(at * n, (at + 30) * n)
          for (const s of a.pushMany(batch, at)) want.push(hex(s))
          const out = new Uint8Array(b.maxBatchOutputLength(30))
          let end = 0
          for (const s of b.pushManyInto(batch, at, out)) {
            got.push(hex(s))
            if (s.buffer === out.buffer) views++
            backToBack &&= s.byteOffset === end
            end = s.byteOffset + s.byteLength
          }
        }
        want.push(hex(a.flush()))
        got.push(hex(b.flush()))
        report.push({ format, same: JSON.stringify(want) === JSON.stringify(got), segments: want.length, views, backToBack })
      }
      return report
      `,
    )
    expect(used).toBe(backend)
    for (const r of result) {
      expect(r.same, r.format).toBe(true)
      // Segments were finished (not only the flushed one), every one a view of its out.
      expect(r.segments, r.format).toBeGreaterThan(3)
      expect(r.views, r.format).toBe(r.segments - 1)
      expect(r.backToBack, r.format).toBe(true)
    }
  })

  it('returns the segments in buffers of their own when out is too small (nothing lost)', () => {
    const { result } = inChild(
      backend,
      `
      const n = 64
      const all = frames(n, 120, 3)
      const options = { tensorLen: n, format: 'packed', policy: { maxSegmentFrames: 16 } }
      const a = new m.TemporalTensorCompressor(options)
      const b = new m.TemporalTensorCompressor(options)
      const want = a.pushMany(all, 0).map(hex)
      const out = new Uint8Array(10)
      const segs = b.pushManyInto(all, 0, out)
      return {
        same: JSON.stringify(segs.map(hex)) === JSON.stringify(want),
        count: segs.length,
        views: segs.filter((s) => s.buffer === out.buffer).length,
        untouched: out.every((x) => x === 0),
        state: JSON.stringify(a.state) === JSON.stringify(b.state),
      }
      `,
    )
    expect(result.count).toBeGreaterThan(3)
    expect({ ...result, count: 0 }).toEqual({ same: true, count: 0, views: 0, untouched: true, state: true })
  })

  it('keeps the open segment across async calls (on WebAssembly the worker rebuilds it from what pushManyInto pushed)', () => {
    const { result } = inChild(
      backend,
      `
      const n = 96
      const all = frames(n, 100, 11)
      const options = { tensorLen: n, format: 'packed', policy: { maxSegmentFrames: 32 } }
      const a = new m.TemporalTensorCompressor(options)
      const b = new m.TemporalTensorCompressor(options)
      const want = []
      const got = []
      const out = new Uint8Array(b.maxBatchOutputLength(20))
      for (let at = 0; at < 80; at += 20) {
        const batch = all.subarray(at * n, (at + 20) * n)
        want.push(...a.pushMany(batch, at).map(hex))
        got.push(...b.pushManyInto(batch, at, out).map(hex))
      }
      // Async calls after pushManyInto (run in the worker on WebAssembly), then sync ones again.
      const rest = all.subarray(80 * n)
      want.push(...a.pushMany(rest, 80).map(hex), hex(a.flush()))
      got.push(...(await b.pushManyAsync(rest, 80)).map(hex), hex(await b.flushAsync()))
      return { same: JSON.stringify(want) === JSON.stringify(got), segments: want.length }
      `,
    )
    expect(result.segments).toBeGreaterThan(3)
    expect(result.same).toBe(true)
  })

  it('refuses bad arguments with coded errors and changes nothing', () => {
    const { result } = inChild(
      backend,
      `
      const n = 32
      const c = new m.TemporalTensorCompressor({ tensorLen: n, format: 'packed' })
      c.push(frames(n, 1, 1), 0)
      const before = JSON.stringify(c.state)
      const shared = new ArrayBuffer(4 * n * 4 + 4096)
      const overlapping = new Float32Array(shared, 0, 4 * n)
      overlapping.set(frames(n, 4, 2))
      const nan = frames(n, 4, 2)
      nan[3 * n + 5] = NaN
      const codes = {
        overlap: codeOf(() => c.pushManyInto(overlapping, 0, new Uint8Array(shared, 8, 4000))),
        notBytes: codeOf(() => c.pushManyInto(frames(n, 1, 2), 0, new Float32Array(100))),
        nonFinite: codeOf(() => c.pushManyInto(nan, 0, new Uint8Array(1 << 16))),
        length: codeOf(() => c.pushManyInto(frames(n, 1, 2).subarray(1), 0, new Uint8Array(1 << 16))),
        badCount: codeOf(() => c.maxBatchOutputLength(-1)),
      }
      const after = JSON.stringify(c.state)
      // A separate range is fine, even one of the same ArrayBuffer.
      const ok = codeOf(() => c.pushManyInto(overlapping, 0, new Uint8Array(shared, 4 * n * 4, 4096)))
      return { codes, unchanged: after === before, ok }
      `,
    )
    expect(result.codes).toEqual({
      overlap: 'INVALID_ARGUMENT',
      notBytes: 'INVALID_ARGUMENT',
      nonFinite: 'NON_FINITE',
      length: 'LENGTH_MISMATCH',
      badCount: 'INVALID_ARGUMENT',
    })
    expect(result.unchanged).toBe(true)
    expect(result.ok).toBe('none')
  })
})
