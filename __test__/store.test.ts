// TensorStreamStore: reads, index, lineage, coherence refresh, re-tiering, persistence across a
// restart and a killed process, and the ADR-017 §8.1 1-hour acceptance trace. The store suite
// runs unchanged on every backend (memory, LMDB, Redis, Redis Cluster, PostgreSQL: real servers
// started for this file by __test__/store-servers.ts).
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { TemporalTensorCompressor, TensorStreamStore } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { TRACE_STORE_OPTIONS, embeddingStream, runTrace } from '../bin/trace.mjs'
import { BOUNDS, expectCode, relativeError } from './helpers.js'
import { BACKENDS, type BackendName, useBackends } from './store-servers.js'

const backends = useBackends(BACKENDS)
const PERSISTENT = BACKENDS.filter((b) => b !== 'memory')

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-store-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

async function expectReject(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ name: 'TemporalTensorError', code })
}

const DIM = 64
const FORMATS = ['packed', 'coded'] as const

describe.each(BACKENDS.flatMap((b) => FORMATS.map((f) => [b, f] as const)))('store on %s (%s segments)', (backend, format) => {
  const made: TensorStreamStore[] = []
  afterEach(async () => {
    await Promise.all(made.splice(0).map((s) => s.close()))
  })
  /** A new store on this backend, empty. */
  const newStore = async (options: Parameters<typeof TensorStreamStore.open>[0]) => {
    const store = await TensorStreamStore.open({ ...options, persistence: backends.fresh(backend) })
    made.push(store)
    return store
  }
  it('reads frames back with their exact timestamps, within bound, finished and open alike', async () => {
    const store = await newStore({ retier: false, format, policy: { maxSegmentFrames: 128 } })
    const next = embeddingStream(DIM, 7)
    const originals: Float32Array[] = []
    for (let k = 0; k < 300; k++) {
      const f = next()
      originals.push(f)
      await store.append('a', f, k * 10)
    }
    expect(store.lineage('a').length).toBeGreaterThan(1) // some finished segments, plus the open one
    const { timestamps, frames } = await store.read('a', 0, 2990)
    expect(Array.from(timestamps)).toEqual(Array.from({ length: 300 }, (_, k) => k * 10))
    for (let k = 0; k < 300; k++) {
      expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
    }
    const middle = await store.read('a', 995, 1020) // both ends inclusive
    expect(Array.from(middle.timestamps)).toEqual([1000, 1010, 1020])
    expect(middle.frames).toEqual(frames.subarray(100 * DIM, 103 * DIM))
    expect((await store.read('a', 5000, 6000)).timestamps.length).toBe(0)
  })

  it('readAt finds the latest frame at or before a time, through the index', async () => {
    const store = await newStore({ retier: false, format, policy: { maxSegmentFrames: 7 } })
    const next = embeddingStream(DIM, 8)
    for (let k = 0; k < 100; k++) await store.append('b', next(), 100 + k * 2)
    expect(await store.readAt('b', 99)).toBeNull()
    const at = await store.readAt('b', 151)
    expect(at?.ts).toBe(150)
    const all = await store.read('b', 0, 1e9)
    expect(at?.frame).toEqual(all.frames.subarray(25 * DIM, 26 * DIM))
    expect((await store.readAt('b', 1e9))?.ts).toBe(298) // in the open segment
    expect(store.lineage('b').length).toBe(14) // 100 frames, 7 per segment, 2 still open
  })

  it('keys, tags and lineage follow ADR-017 §5.2 and §5.4', async () => {
    const store = await newStore({ retier: false, format, producer: 'agent-x', policy: { maxSegmentFrames: 4 } })
    for (let k = 0; k < 10; k++) await store.append('c', embeddingStream(DIM, k)(), k)
    const chain = store.lineage('c')
    expect(chain.map((s) => s.key)).toEqual(['c:0:3', 'c:4:7'])
    expect(chain[0]).toMatchObject({ prevKey: null, producer: 'agent-x', tier: 'cold', bits: 3, format, bound: BOUNDS[3], frames: 4 })
    expect(chain[1].prevKey).toBe('c:0:3')
  })

  it('refresh and a coherence callback force segment boundaries', async () => {
    let coherent = true
    const store = await newStore({ retier: false, format, coherence: () => coherent })
    const next = embeddingStream(DIM, 9)
    for (let k = 0; k < 5; k++) await store.append('d', next(), k)
    await store.refresh('d')
    expect(store.lineage('d').map((s) => s.frames)).toEqual([5])
    await store.append('d', next(), 5)
    coherent = false
    await store.append('d', next(), 6)
    expect(store.lineage('d').map((s) => s.frames)).toEqual([5, 1])
  })

  it('bad input is a coded error and changes nothing', async () => {
    const store = await newStore({ retier: false, format })
    await store.append('e', new Float32Array(DIM).fill(1), 10)
    const before = JSON.stringify(store.stats())
    await expectReject(store.append('e', new Float32Array(DIM + 1), 11), 'LENGTH_MISMATCH')
    const nan = new Float32Array(DIM)
    nan[3] = NaN
    await expectReject(store.append('e', nan, 11), 'NON_FINITE')
    await expectReject(store.append('e', new Float32Array(DIM), 9), 'INVALID_ARGUMENT')
    await expectReject(store.append('', new Float32Array(DIM), 12), 'INVALID_ARGUMENT')
    await expectReject(store.append('e', new Int16Array(DIM) as unknown as Float32Array, 12), 'INVALID_ARGUMENT')
    await expectReject(store.read('missing', 0, 1), 'INVALID_ARGUMENT')
    expect(JSON.stringify(store.stats())).toBe(before)
    expect((await store.read('e', 0, 100)).timestamps.length).toBe(1)
    expectCode(() => new TensorStreamStore({ path: '/tmp/x' }), 'INVALID_ARGUMENT')
  })

  it('takes JavaScript millisecond timestamps (Date.now()-like, above 2^40) and returns them exactly', async () => {
    const store = await newStore({ retier: false, format, policy: { maxSegmentFrames: 16 } })
    const t0 = 1_764_000_000_123 // a Date.now() of 2025, > 2^40
    expect(t0).toBeGreaterThan(2 ** 40)
    const next = embeddingStream(DIM, 31)
    const stamps = Array.from({ length: 50 }, (_, k) => t0 + k * 250 + (k % 3)) // not multiples of 1000
    for (const ts of stamps) await store.append('ms', next(), ts)
    await store.append('ms', next(), 2 ** 53 - 1) // the largest safe integer is a timestamp too
    expect(store.lineage('ms').length).toBeGreaterThan(1)
    const all = await store.read('ms', 0, Number.MAX_SAFE_INTEGER)
    expect(Array.from(all.timestamps)).toEqual([...stamps, 2 ** 53 - 1])
    // A range by milliseconds: frames 10..19 exactly.
    const range = await store.read('ms', stamps[10], stamps[19])
    expect(Array.from(range.timestamps)).toEqual(stamps.slice(10, 20))
    expect(range.frames.length).toBe(10 * DIM)
    const one = await store.read('ms', stamps[7] + 1, stamps[8] - 1)
    expect(one.timestamps.length).toBe(0)
    expect((await store.readAt('ms', stamps[20] + 1))?.ts).toBe(stamps[20])
    expect((await store.readAt('ms', t0 - 1))).toBeNull()
    expect(store.lineage('ms')[0].startTs).toBe(t0)
    await store.touch('ms', stamps[49])
    expect(await store.retier(stamps[49], 1)).toBeGreaterThanOrEqual(0)
    // Negative, fractional, NaN, infinite, beyond 2^53-1 or not a number: INVALID_ARGUMENT, nothing stored.
    for (const bad of [-1, 0.5, t0 + 0.25, NaN, Infinity, 2 ** 53, '5' as unknown as number]) {
      await expectReject(store.append('ms2', next(), bad), 'INVALID_ARGUMENT')
      await expectReject(store.touch('ms2', bad), 'INVALID_ARGUMENT')
    }
    expect(store.tensorIds()).not.toContain('ms2')
  })

  it('re-tiering narrows the segments of a tensor that cooled, within bound of the originals', async () => {
    const store = await newStore({ retier: false, format, policy: { maxSegmentFrames: 20 } })
    const next = embeddingStream(DIM, 10)
    const originals: Float32Array[] = []
    for (let k = 0; k < 100; k++) {
      await store.touch('f', k * 1000) // milliseconds: one frame a second
      const f = next()
      originals.push(f)
      await store.append('f', f, k * 1000)
    }
    expect(store.lineage('f').every((s) => s.bits === 8)).toBe(true)
    const bytesOf = () => store.lineage('f').reduce((n, seg) => n + seg.byteLength, 0)
    const hotBytes = bytesOf()
    // Nobody reads it any more: an hour later it is cold.
    let steps = 0
    while ((await store.retier(3_700_000, 2)) > 0) steps++
    expect(steps).toBeGreaterThan(1) // bounded steps
    const chain = store.lineage('f')
    expect(chain.every((s) => s.bits === 3 && s.reencodedFrom === 8 && s.format === format && s.bound === BOUNDS[3])).toBe(true)
    expect(chain.slice(1).every((s, i) => s.prevKey === chain[i].key)).toBe(true)
    expect(bytesOf()).toBeLessThan(hotBytes * 0.45) // 3 of 8 bits, plus headers
    const { frames } = await store.read('f', 0, 1e9)
    for (let k = 0; k < 100; k++) {
      const bits = k < 80 ? 3 : 8 // the open segment (last 20 frames) is not re-tiered
      expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[bits])
    }
  })

  it('policy.fixedBits pins every tensor to one width, whatever its reads; re-tiering leaves it', async () => {
    const store = await newStore({ retier: false, format, policy: { fixedBits: 5, maxSegmentFrames: 10 } })
    const next = embeddingStream(DIM, 15)
    const originals: Float32Array[] = []
    for (let k = 0; k < 40; k++) {
      await store.touch('p', k) // would make it hot
      originals.push(next())
      await store.append('p', originals[k], k)
    }
    await store.refresh('p')
    expect(await store.retier(1e6)).toBe(0)
    const chain = store.lineage('p')
    expect(chain.every((s) => s.bits === 5 && s.tier === 'warm' && s.bound === BOUNDS[5] && s.format === format)).toBe(true)
    const { frames } = await store.read('p', 0, 1e9)
    for (let k = 0; k < 40; k++) {
      expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[5])
    }
  })

  it('writes its format, and counts an open segment at the bytes it will take', async () => {
    const store = await newStore({ retier: false, format, policy: { maxSegmentFrames: 32 } })
    expect(store.format).toBe(format)
    const next = embeddingStream(DIM, 13)
    for (let k = 0; k < 50; k++) await store.append('h', next(), k) // one finished segment, 18 frames open
    const open = store.stats()
    expect(open.total.frames).toBe(50)
    await store.flushAll()
    const flushed = store.stats()
    expect(flushed.total.residentBytes).toBe(open.total.residentBytes)
    expect(flushed.total.residentBytes).toBe(store.lineage('h').reduce((n, seg) => n + seg.byteLength, 0))
    expect(store.lineage('h').map((seg) => seg.format)).toEqual([format, format])
  })
})

describe.each(PERSISTENT.flatMap((b) => FORMATS.map((f) => [b, f] as const)))('persistent store (%s, %s segments)', (backend: BackendName, format) => {
  it('reopens and serves the same reads after a restart', async () => {
    const persistence = backends.fresh(backend)
    const store = await TensorStreamStore.open({ persistence, retier: false, format, policy: { maxSegmentFrames: 16 } })
    const next = embeddingStream(DIM, 11)
    for (let k = 0; k < 50; k++) await store.append('g', next(), k)
    const before = await store.read('g', 0, 1e9)
    const lineage = store.lineage('g')
    await store.close()
    await expectReject(store.read('g', 0, 1), 'INVALID_HANDLE')

    const reopened = await TensorStreamStore.open({ persistence, retier: false, format, policy: { maxSegmentFrames: 16 } })
    const after = await reopened.read('g', 0, 1e9)
    expect(Array.from(after.timestamps)).toEqual(Array.from(before.timestamps))
    // Finished segments come back byte for byte; open frames are replayed from the WAL.
    const finished = lineage.reduce((n, s) => n + s.frames, 0)
    expect(after.frames.subarray(0, finished * DIM)).toEqual(before.frames.subarray(0, finished * DIM))
    expect(reopened.lineage('g').map((s) => s.key)).toEqual(lineage.map((s) => s.key))
    await reopened.append('g', next(), 50)
    expect((await reopened.readAt('g', 60))?.ts).toBe(50)
    await reopened.close()
  })
})

// The writer (fixtures/store-writer.mjs) uses the default format.
describe.each(PERSISTENT)('persistent store (%s), killed writer', (backend) => {
  it('loses nothing acknowledged when the process is killed mid-stream', async () => {
    const persistence = backends.fresh(backend)
    const writer = fileURLToPath(new URL('./fixtures/store-writer.mjs', import.meta.url))
    const child = fork(writer, [JSON.stringify(persistence), String(DIM)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const acked = await new Promise<number>((resolve, reject) => {
      let last = -1
      child.on('message', (m: { acked: number }) => {
        last = m.acked
        if (last >= 150) child.kill('SIGKILL')
      })
      child.on('exit', () => resolve(last))
      child.on('error', reject)
    })
    expect(acked).toBeGreaterThanOrEqual(150)
    const store = await TensorStreamStore.open({ persistence, retier: false })
    const { timestamps, frames } = await store.read('k', 0, 1e9)
    expect(timestamps.length).toBeGreaterThanOrEqual(acked + 1)
    const next = embeddingStream(DIM, 12)
    for (let k = 0; k <= acked; k++) {
      expect(timestamps[k]).toBe(k)
      expect(relativeError(next(), frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
    }
    await store.close()
  })
})

describe('ADR-017 §8.1 acceptance: a 1-hour, 10 fps trace of 512-dim embeddings', () => {
  it.each(FORMATS)('%s segments: keep >= 6x for warm and >= 10x for cold tensors in resident bytes, every frame within bound', async (format) => {
    const store = new TensorStreamStore({ ...TRACE_STORE_OPTIONS, format })
    const originals = new Map<string, Float32Array[]>()
    await runTrace(store, {
      onFrame: (id: string, _ts: number, frame: Float32Array) => {
        const list = originals.get(id) ?? []
        list.push(frame)
        originals.set(id, list)
      },
    })
    const stats = store.stats()
    console.log(
      [`${format}:`, ...['hot', 'warm', 'cold', 'total']]
        .map((k) => {
          if (k.endsWith(':')) return k
          const s = stats[k as 'hot']
          return `  ${k}: ${s.frames} frames, ${s.segments} segments, ${(s.residentBytes / 1e6).toFixed(2)} MB, ${s.ratio.toFixed(2)}x`
        })
        .join('\n'),
    )
    expect(stats.total.frames).toBe(6 * 36_000)
    expect(stats.warm.ratio).toBeGreaterThanOrEqual(6)
    expect(stats.cold.ratio).toBeGreaterThanOrEqual(10)
    expect(stats.warm.frames).toBeGreaterThan(36_000)
    expect(stats.cold.frames).toBeGreaterThan(72_000)
    await store.flushAll() // every frame now in a listed segment, with its width
    for (const [id, frames] of originals) {
      const read = await store.read(id, 0, 3_600_000)
      expect(read.timestamps.length).toBe(frames.length)
      const bitsAt = store.lineage(id).flatMap((s) => Array(s.frames).fill(s.bits))
      for (let k = 0; k < frames.length; k++) {
        const bits = bitsAt[k]
        expect(relativeError(frames[k], read.frames.subarray(k * 512, (k + 1) * 512))).toBeLessThan(BOUNDS[bits])
      }
    }
  }, 600_000)
})

describe('store format option', () => {
  it('rejects an unknown format when the store is made', () => {
    expectCode(() => new TensorStreamStore({ format: 'zip' as 'coded' }), 'INVALID_ARGUMENT')
  })

  it('converts a store of the first layout (timestamp keys, no checksums, records without format and bound)', async () => {
    // Write the first layout by hand: tables `segments` [id, startTs], `wal` [id, ts] and
    // `tensors`, msgpack values, as stores before schema 2 wrote them.
    const path = tempDir()
    const next = embeddingStream(DIM, 14)
    const originals = Array.from({ length: 20 }, () => next())
    const c = new TemporalTensorCompressor({ tensorLen: DIM, format: 'packed', policy: { maxSegmentFrames: 8 } })
    const segs: Uint8Array[] = []
    for (let k = 0; k < 16; k++) {
      const s = c.push(originals[k], k)
      if (s) segs.push(s)
    }
    segs.push(c.flush()!) // frames 0..15 in two segments; 16..19 go to the WAL
    c.free()
    const { open } = await import('lmdb')
    const db = open({ path, compression: false })
    const segments = db.openDB('segments')
    const wal = db.openDB('wal')
    const tensors = db.openDB('tensors')
    await db.transaction(() => {
      segs.forEach((bytes, i) => {
        const ts = Float64Array.from({ length: 8 }, (_, k) => i * 8 + k)
        segments.put(['old', i * 8], {
          key: `old:${i * 8}:${i * 8 + 7}`, tensorId: 'old', startTs: i * 8, endTs: i * 8 + 7, tier: 'cold', bits: 3,
          frames: 8, byteLength: bytes.byteLength, prevKey: i === 0 ? null : 'old:0:7', producer: null,
          bytes, timestamps: new Uint8Array(ts.buffer),
        })
      })
      for (let k = 16; k < 20; k++) wal.put(['old', k], new Uint8Array(originals[k].buffer.slice(0)))
      tensors.put('old', { id: 'old', tensorLen: DIM, accessCount: 0, accessTick: 0, lastTs: 19, producer: null })
    })
    await db.close()

    const reopened = await TensorStreamStore.open({ path, retier: false, format: 'coded', policy: { maxSegmentFrames: 8 } })
    expect(reopened.lineage('old').map((s) => [s.key, s.seq, s.format, s.bound])).toEqual([
      ['old:0:7', 0, 'packed', BOUNDS[3]],
      ['old:8:15', 8, 'packed', BOUNDS[3]],
    ])
    for (let k = 20; k < 30; k++) await reopened.append('old', next(), k)
    await reopened.flushAll()
    expect(reopened.lineage('old').map((seg) => seg.format)).toEqual(['packed', 'packed', 'coded', 'coded'])
    const { timestamps, frames } = await reopened.read('old', 0, 1e9)
    expect(Array.from(timestamps)).toEqual(Array.from({ length: 30 }, (_, k) => k))
    for (let k = 0; k < 20; k++) {
      expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
    }
    await reopened.close()
    // Converted once: the old tables are empty, and the store opens the same again.
    expect((await TensorStreamStore.verify({ path })).ok).toBe(true)
    const again = await TensorStreamStore.open({ path, retier: false })
    expect((await again.read('old', 0, 1e9)).timestamps.length).toBe(30)
    await again.close()
  })
})
