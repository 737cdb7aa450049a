// Robustness of the facade on both backends (each case runs in a child process or worker with
// TEMPORAL_TENSOR_BACKEND forced, so a crash is reported instead of taking vitest down):
// freed compressors, views on detached ArrayBuffers, SharedArrayBuffer-backed arrays, and
// compressors used concurrently from several worker_threads.
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'

const DIST = new URL('../dist/index.mjs', import.meta.url).href
const BACKENDS = ['native', 'wasm'] as const
type BackendName = (typeof BACKENDS)[number]

/** Plain-JS helpers shared by the child-process and worker code. */
const PRELUDE = String.raw`
function gen(n, count, seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const out = new Float32Array(n * count)
  const state = Float32Array.from({ length: n }, () => next() * 2 - 1)
  let scale = 1
  for (let t = 0; t < count; t++) {
    if (t % 13 === 12) scale *= next() < 0.5 ? 0.1 : 10
    for (let i = 0; i < n; i++) {
      state[i] += (next() - 0.5) * 0.1
      out[t * n + i] = state[i] * scale
    }
  }
  return out
}
function hex(u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex')
}
function outcome(m, f) {
  try {
    const value = f()
    return { threw: false, value: value === undefined ? 'undefined' : value === null ? 'null' : typeof value }
  } catch (e) {
    return { threw: true, tte: e instanceof m.TemporalTensorError, name: e && e.name, code: e && e.code, message: String(e && e.message) }
  }
}
function detach(buffer) {
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}
/** Compresses each seed's stream (pushes, a batch, access changes, flushes); hex per seed. */
function compressSeeds(m, seeds) {
  return seeds.map((seed) => {
    const n = 96
    const frames = gen(n, 60, seed)
    const c = new m.TemporalTensorCompressor({ tensorLen: n, policy: { groupLen: 32, maxSegmentFrames: 16 } })
    const out = []
    const keep = (s) => { if (s) out.push(hex(s)) }
    for (let t = 0; t < 60; t++) {
      if (t === 20) c.setAccess(1000, 20)
      if (t === 40) c.setAccess(0, 0)
      if (t >= 30 && t < 40) {
        if (t === 30) for (const s of c.pushMany(frames.subarray(30 * n, 40 * n), t)) keep(s)
        continue
      }
      keep(c.push(frames.subarray(t * n, (t + 1) * n), t))
    }
    keep(c.flush())
    c.free()
    return out.join('|')
  })
}
`

/** Runs `body` (ES module code with `m` = the facade) in a child process on `backend`. */
function inChild(backend: BackendName, body: string): { backend: string; result: any } {
  const code = `${PRELUDE}
const m = await import(${JSON.stringify(DIST)})
const result = await (async () => { ${body} })()
process.stdout.write(JSON.stringify({ backend: m.backend, result }))
`
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backend },
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (child.status !== 0) {
    throw new Error(`child (${backend}) exited with ${child.status ?? child.signal}:\n${child.stderr}`)
  }
  return JSON.parse(child.stdout)
}

/** Runs `compressSeeds(seeds)` in a worker thread on `backend`. */
function inWorker(backend: BackendName, seeds: number[]): Promise<{ backend: string; result: string[] }> {
  const code = `${PRELUDE}
const { parentPort, workerData } = require('node:worker_threads')
import(workerData.dist).then(
  (m) => parentPort.postMessage({ backend: m.backend, result: compressSeeds(m, workerData.seeds) }),
  (e) => parentPort.postMessage({ error: String(e && e.stack || e) }),
)
`
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, {
      eval: true,
      workerData: { dist: DIST, seeds },
      env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backend },
    })
    worker.once('message', (msg) => (msg.error ? reject(new Error(msg.error)) : resolve(msg)))
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`))
    })
  })
}

describe.each(BACKENDS)('robustness on the %s backend', (backend) => {
  it('every method of a freed compressor throws INVALID_HANDLE; free stays idempotent', () => {
    const { backend: used, result } = inChild(
      backend,
      `
      const c = new m.TemporalTensorCompressor({ tensorLen: 4 })
      c.push(new Float32Array([1, 2, 3, 4]), 0)
      c.free()
      c.free()
      const f = new Float32Array(4)
      const calls = {
        push: () => c.push(f, 0),
        pushMany: () => c.pushMany(f, 0),
        flush: () => c.flush(),
        peek: () => c.peek(),
        touch: () => c.touch(1),
        setAccess: () => c.setAccess(1, 1),
        activeBits: () => c.activeBits,
        activeFrames: () => c.activeFrames,
        pendingBytes: () => c.pendingBytes,
      }
      const out = {}
      for (const [name, call] of Object.entries(calls)) out[name] = outcome(m, call)
      out.tensorLen = c.tensorLen
      out.freed = c.freed
      out.freeAgain = outcome(m, () => c.free())
      return out
      `,
    )
    expect(used).toBe(backend)
    for (const name of ['push', 'pushMany', 'flush', 'peek', 'touch', 'setAccess', 'activeBits', 'activeFrames', 'pendingBytes']) {
      expect(result[name], name).toMatchObject({ threw: true, tte: true, code: 'INVALID_HANDLE' })
    }
    expect(result.tensorLen).toBe(4)
    expect(result.freed).toBe(true)
    expect(result.freeAgain).toMatchObject({ threw: false })
  })

  it('views on detached ArrayBuffers throw a TemporalTensorError and change nothing', () => {
    const { backend: used, result } = inChild(
      backend,
      `
      const n = 8
      const frames = gen(n, 4, 3)
      const c = new m.TemporalTensorCompressor({ tensorLen: n })
      const reference = new m.TemporalTensorCompressor({ tensorLen: n })
      c.push(frames.subarray(0, n), 0)
      reference.push(frames.subarray(0, n), 0)
      const before = [c.activeBits, c.activeFrames, c.pendingBytes]
      const cases = {}
      const frame = () => { const b = new ArrayBuffer(4 * n); new Float32Array(b).set(frames.subarray(n, 2 * n)); return b }
      cases.push = outcome(m, () => { const b = frame(); const v = new Float32Array(b); detach(b); return c.push(v, 0) })
      cases.pushOffsetView = outcome(m, () => { const b = new ArrayBuffer(4 * n + 16); const v = new Float32Array(b, 16, n); v.set(frames.subarray(n, 2 * n)); detach(b); return c.push(v, 0) })
      cases.pushMany = outcome(m, () => { const b = frame(); const v = new Float32Array(b); detach(b); return c.pushMany(v, 0) })
      const after = [c.activeBits, c.activeFrames, c.pendingBytes]
      // The compressor still works and matches one that never saw the detached views.
      const tail = [c.push(frames.subarray(2 * n, 3 * n), 0), c.flush()].filter(Boolean).map(hex)
      const expected = [reference.push(frames.subarray(2 * n, 3 * n), 0), reference.flush()].filter(Boolean).map(hex)
      const seg = (() => {
        const k = new m.TemporalTensorCompressor({ tensorLen: n })
        k.pushMany(frames, 0)
        return k.flush()
      })()
      const detachedBytes = () => { const b = seg.slice().buffer; const v = new Uint8Array(b); detach(b); return v }
      cases.decodeSegment = outcome(m, () => m.decodeSegment(detachedBytes()))
      cases.decodeFrame = outcome(m, () => m.decodeFrame(detachedBytes(), 0))
      cases.segmentInfo = outcome(m, () => m.segmentInfo(detachedBytes()))
      cases.splitSegments = outcome(m, () => m.splitSegments(detachedBytes()))
      if (m.decodeSegmentInto) {
        cases.decodeSegmentIntoDetachedInput = outcome(m, () => m.decodeSegmentInto(detachedBytes(), new Float32Array(4 * n)))
        cases.decodeSegmentIntoDetachedOutput = outcome(m, () => { const b = new ArrayBuffer(16 * n); const out = new Float32Array(b); detach(b); return m.decodeSegmentInto(seg, out) })
      }
      // Decoding still works afterwards.
      const decodedOk = m.decodeSegment(seg).length === 4 * n
      return { cases, before, after, tail, expected, decodedOk }
      `,
    )
    expect(used).toBe(backend)
    for (const [name, r] of Object.entries<any>(result.cases)) {
      expect(r, name).toMatchObject({ threw: true, tte: true })
      expect(r.code, `${name}: ${r.message}`).toBe('INVALID_ARGUMENT')
    }
    expect(result.after).toEqual(result.before)
    expect(result.tail).toEqual(result.expected)
    expect(result.decodedOk).toBe(true)
  })

  it('SharedArrayBuffer-backed frames and bytes give the same results as ordinary arrays', () => {
    const { backend: used, result } = inChild(
      backend,
      `
      const n = 64
      const frames = gen(n, 40, 11)
      const shared = new Float32Array(new SharedArrayBuffer(frames.byteLength))
      shared.set(frames)
      const run = (source, many) => {
        const c = new m.TemporalTensorCompressor({ tensorLen: n, policy: { maxSegmentFrames: 8 } })
        c.setAccess(100, 0)
        const out = []
        if (many) for (const s of c.pushMany(source, 1)) out.push(s)
        else for (let t = 0; t < 40; t++) { const s = c.push(source.subarray(t * n, (t + 1) * n), 1); if (s) out.push(s) }
        const last = c.flush()
        if (last) out.push(last)
        c.free()
        return out
      }
      const plain = run(frames, false).map(hex)
      const sharedOne = run(shared, false).map(hex)
      const sharedMany = run(shared, true).map(hex)
      // Segments in shared memory decode like ordinary ones, into ordinary or shared outputs.
      const segs = run(frames, false)
      const decodes = segs.map((seg) => {
        const sb = new Uint8Array(new SharedArrayBuffer(seg.byteLength))
        sb.set(seg)
        const a = hex(new Uint8Array(m.decodeSegment(seg).buffer))
        const b = hex(new Uint8Array(m.decodeSegment(sb).buffer))
        const f0 = hex(new Uint8Array(m.decodeFrame(sb, 0).buffer)) === hex(new Uint8Array(m.decodeFrame(seg, 0).buffer))
        const info = JSON.stringify(m.segmentInfo(sb)) === JSON.stringify(m.segmentInfo(seg))
        let into = true
        if (m.decodeSegmentInto) {
          const out = new Float32Array(new SharedArrayBuffer(4 * m.segmentInfo(seg).frameCount * n))
          m.decodeSegmentInto(sb, out)
          into = hex(new Uint8Array(out.buffer)) === a
        }
        return a === b && f0 && info && into
      })
      return { plain, sharedOne, sharedMany, decodes }
      `,
    )
    expect(used).toBe(backend)
    expect(result.plain.length).toBeGreaterThan(1)
    expect(result.sharedOne).toEqual(result.plain)
    expect(result.sharedMany).toEqual(result.plain)
    expect(result.decodes.every(Boolean)).toBe(true)
  })

  it('compressors in several worker threads give the same bytes as one thread', async () => {
    const seeds = [1, 2, 3, 4]
    const single = await inWorker(backend, seeds)
    expect(single.backend).toBe(backend)
    const parallel = await Promise.all(seeds.map((seed) => inWorker(backend, [seed, seed + 100])))
    for (const [k, run] of parallel.entries()) {
      expect(run.backend).toBe(backend)
      expect(run.result[0]).toBe(single.result[k])
    }
    // And the same bytes as the other backend.
    const other = await inWorker(backend === 'native' ? 'wasm' : 'native', seeds)
    expect(other.result).toEqual(single.result)
  })
})
