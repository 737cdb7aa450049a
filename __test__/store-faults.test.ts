// The persistent store under faults (issue 11): equal timestamps, killed writers, close() with
// appends in flight. `npm test` runs the short forms; `npm run faults` sets TT_FAULTS=long and
// runs them at length.
import { fork, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { TensorStreamStore } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { embeddingStream } from '../bin/trace.mjs'
import { BOUNDS, expectCode, relativeError } from './helpers.js'

const LONG = process.env.TT_FAULTS === 'long'
const DIM = 64
const FORMATS = ['packed', 'coded'] as const

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-faults-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

/** Frame `k` of the stream the kill-test writer appends. */
function writerFrames(count: number): Float32Array[] {
  const next = embeddingStream(DIM, 12)
  return Array.from({ length: count }, () => next())
}

describe.each(FORMATS)('equal timestamps (%s segments)', (format) => {
  it('keeps every acknowledged frame of a run at one timestamp across a reopen', async () => {
    const path = tempDir()
    const store = await TensorStreamStore.open({ path, retier: false, format })
    const next = embeddingStream(DIM, 21)
    const originals: Float32Array[] = []
    for (let k = 0; k < 300; k++) {
      originals.push(next())
      await store.append('same', originals[k], k < 150 ? 7 : 8) // finished segments and the open one repeat ts
    }
    const before = await store.read('same', 0, 100)
    await store.close()
    const reopened = await TensorStreamStore.open({ path, retier: false, format })
    const { timestamps, frames } = await reopened.read('same', 0, 100)
    expect(timestamps.length).toBe(300)
    expect(Array.from(timestamps)).toEqual(Array.from(before.timestamps))
    for (let k = 0; k < 300; k++) {
      expect(timestamps[k]).toBe(k < 150 ? 7 : 8)
      expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
    }
    expect((await reopened.readAt('same', 7))?.frame).toEqual(frames.subarray(149 * DIM, 150 * DIM))
    const lineage = reopened.lineage('same')
    expect(new Set(lineage.map((s) => s.seq)).size).toBe(lineage.length)
    await reopened.close()
  })
})

describe('killed writers', () => {
  it(`lose nothing acknowledged, with two frames per timestamp (${LONG ? 30 : 3} kills)`, async () => {
    const path = tempDir()
    const writer = fileURLToPath(new URL('./fixtures/store-writer.mjs', import.meta.url))
    const kills = LONG ? 30 : 3
    let stored = 0
    let survived = 0
    for (let round = 0; round < kills; round++) {
      const target = stored + 40 + ((round * 37) % 90) // kill at varying points in a segment
      const child = fork(writer, [path, String(DIM), '2', String(stored)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      const acked = await new Promise<number>((resolve, reject) => {
        let last = -1
        child.on('message', (m: { acked: number }) => {
          last = m.acked
          if (last >= target) child.kill('SIGKILL')
        })
        child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(last) : reject(new Error(`writer exited: ${_code}`))))
        child.on('error', reject)
      })
      expect(acked).toBeGreaterThanOrEqual(target)
      const store = await TensorStreamStore.open({ path, retier: false })
      const { timestamps, frames } = await store.read('k', 0, 1e9)
      await store.close()
      // Every acknowledged frame is there, in order, at its timestamp (an append in flight at the
      // kill may or may not have made it).
      expect(timestamps.length).toBeGreaterThanOrEqual(acked + 1)
      expect(timestamps.length).toBeLessThanOrEqual(acked + 2)
      const originals = writerFrames(timestamps.length)
      for (let k = 0; k < timestamps.length; k++) {
        expect(timestamps[k]).toBe(Math.floor(k / 2))
        expect(relativeError(originals[k], frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
      }
      stored = timestamps.length
      survived++
    }
    expect(survived).toBe(kills)
    console.log(`killed writers: ${survived} SIGKILLs survived, ${stored} frames (two per timestamp) intact`)
  }, 600_000)
})

describe('close() with appends in flight', () => {
  it.each(FORMATS)('%s: an append is acknowledged and durable, or rejected and absent (a retry succeeds)', async (format) => {
    const path = tempDir()
    // Re-tiering after every append: its work runs after the frame is written.
    const options = { path, format, retier: { everyAppends: 1 }, policy: { maxSegmentFrames: 16 } }
    const store = await TensorStreamStore.open(options)
    const next = embeddingStream(DIM, 22)
    const originals = Array.from({ length: 160 }, () => next())
    const calls: Promise<void>[] = []
    // Tensor 'p': appends issued without waiting, around the close() call.
    for (let k = 0; k < 60; k++) calls.push(store.append('p', originals[k], k))
    // Tensor 'q': a writer that awaits each append, running while close() is called.
    const writer = (async () => {
      const settled: PromiseSettledResult<void>[] = []
      for (let k = 0; k < 100; k++) {
        const [o] = await Promise.allSettled([store.append('q', originals[k], k)])
        settled.push(o)
      }
      return settled
    })()
    await new Promise((resolve) => setTimeout(resolve, 5))
    const closing = store.close()
    for (let k = 60; k < 120; k++) calls.push(store.append('p', originals[k], k))
    const outcomes = { p: await Promise.allSettled(calls), q: await writer }
    await closing
    const reopened = await TensorStreamStore.open(options)
    for (const [id, settled] of Object.entries(outcomes)) {
      const acked = settled.flatMap((o, k) => (o.status === 'fulfilled' ? [k] : []))
      for (const o of settled) {
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ name: 'TemporalTensorError', code: 'INVALID_HANDLE' })
      }
      const stored = reopened.tensorIds().includes(id) ? (await reopened.read(id, 0, 1e9)).timestamps : []
      expect(Array.from(stored), id).toEqual(acked)
      // Every rejected append can be retried, in order.
      for (let k = 0; k < settled.length; k++) if (!acked.includes(k)) await reopened.append(id, originals[k], k)
      const all = await reopened.read(id, 0, 1e9)
      expect(Array.from(all.timestamps)).toEqual(Array.from({ length: settled.length }, (_, k) => k))
      for (let k = 0; k < settled.length; k++) {
        expect(relativeError(originals[k], all.frames.subarray(k * DIM, (k + 1) * DIM))).toBeLessThan(BOUNDS[3])
      }
    }
    await reopened.close()
  })
})

describe('store options and paths (coded errors, nothing opened)', () => {
  async function rejects(p: () => Promise<unknown>, code: string): Promise<void> {
    await expect(p()).rejects.toMatchObject({ name: 'TemporalTensorError', code })
  }

  it('bad paths give INVALID_ARGUMENT or IO_ERROR', async () => {
    await rejects(() => TensorStreamStore.open({ path: '' }), 'INVALID_ARGUMENT')
    await rejects(() => TensorStreamStore.open({ path: 123 as unknown as string }), 'INVALID_ARGUMENT')
    await rejects(() => TensorStreamStore.open({ path: 'a\0b' }), 'INVALID_ARGUMENT')
    const file = join(tempDir(), 'a-file')
    writeFileSync(file, 'x')
    await rejects(() => TensorStreamStore.open({ path: file }), 'IO_ERROR')
    await rejects(() => TensorStreamStore.open({ path: join(file, 'below') }), 'IO_ERROR')
    // A directory that cannot be created (this used to spin inside lmdb).
    await rejects(() => TensorStreamStore.open({ path: '/proc/tt-store-cannot-exist' }), 'IO_ERROR')
  })

  it('a read-only file system gives IO_ERROR (tmpfs mounted read-only; skipped where mount is not allowed)', async (ctx) => {
    const dir = tempDir()
    const mnt = join(dir, 'ro')
    mkdirSync(mnt)
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]).status !== 0) {
      ctx.skip()
      return
    }
    try {
      await rejects(() => TensorStreamStore.open({ path: mnt }), 'IO_ERROR')
      await rejects(() => TensorStreamStore.open({ path: join(mnt, 'store') }), 'IO_ERROR')
    } finally {
      spawnSync('umount', [mnt])
    }
  })

  it('bad options give INVALID_ARGUMENT when the store is made, not later', () => {
    for (const options of [
      { accessHalfLife: 0 },
      { accessHalfLife: -1 },
      { accessHalfLife: Number.NaN },
      { accessHalfLife: Infinity },
      { accessHalfLife: '60' },
      { tick: 5 },
      { coherence: 'yes' },
      { producer: 7 },
      { retier: { everyAppends: 0 } },
      { retier: { every: 5 } },
      { retier: true },
      { unknownOption: 1 },
      { policy: { constructor: 1 } },
      { policy: JSON.parse('{"__proto__": {"fixedBits": 5}}') },
      { policy: { toString: 1 } },
      { policy: 'hot' },
    ]) {
      expectCode(() => new TensorStreamStore(options as never), 'INVALID_ARGUMENT')
    }
    // Values the compressor refuses: INVALID_CONFIG at once.
    expectCode(() => new TensorStreamStore({ policy: { groupLen: 0 } }), 'INVALID_CONFIG')
    expectCode(() => new TensorStreamStore({ policy: { hotMinScore: 1, warmMinScore: 2 } }), 'INVALID_CONFIG')
  })

  it('policy fields inherited through a prototype are ignored everywhere, not only by the compressor', async () => {
    // Before: the compressor ignored an inherited fixedBits but the store's re-tiering obeyed it.
    const store = new TensorStreamStore({ retier: false, policy: Object.create({ fixedBits: 5 }) as never })
    const next = embeddingStream(DIM, 23)
    for (let k = 0; k < 20; k++) {
      await store.touch('h', k)
      await store.append('h', next(), k)
    }
    await store.refresh('h')
    expect(store.lineage('h').map((s) => s.bits)).toEqual([8])
    expect(await store.retier(10_000)).toBe(1) // cooled: narrowed, not pinned at 5 bits
    expect(store.lineage('h').map((s) => s.bits)).toEqual([3])
  })

  it('accessHalfLife keeps a tensor usable after many touches at one tick', async () => {
    const store = new TensorStreamStore({ retier: false, accessHalfLife: 1e-9 })
    await store.append('t', new Float32Array(DIM).fill(1), 0)
    for (let k = 0; k < 5; k++) await store.touch('t', 0)
    await store.append('t', new Float32Array(DIM).fill(2), 1)
    expect((await store.read('t', 0, 1)).timestamps.length).toBe(2)
  })

  it('bad append metadata is a coded error', async () => {
    const store = new TensorStreamStore({ retier: false })
    await expect(store.append('m', new Float32Array(4), 0, { producer: 5 as unknown as string })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.append('m', new Float32Array(4), 0, null as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(store.retier(0, -1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect(store.tensorIds()).toEqual([])
  })
})

describe('one writer per store directory', () => {
  const holder = fileURLToPath(new URL('./fixtures/store-holder.mjs', import.meta.url))
  type Msg = { opened?: boolean; error?: string; closed?: boolean; appended?: number }
  function start(path: string): { child: ReturnType<typeof fork>; next: () => Promise<Msg> } {
    const child = fork(holder, [path], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const queue: Msg[] = []
    const waiting: ((m: Msg) => void)[] = []
    child.on('message', (m: Msg) => (waiting.length > 0 ? waiting.shift()!(m) : queue.push(m)))
    const next = () => new Promise<Msg>((resolve) => (queue.length > 0 ? resolve(queue.shift()!) : waiting.push(resolve)))
    return { child, next }
  }
  const exited = (child: ReturnType<typeof fork>) =>
    new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))

  it('a second process gets STORE_LOCKED while the first has the store open; it opens once the first closes', async () => {
    const path = tempDir()
    const first = start(path)
    expect(await first.next()).toMatchObject({ opened: true })
    first.child.send('append')
    expect(await first.next()).toMatchObject({ appended: 1 })
    const second = start(path)
    expect(await second.next()).toEqual({ error: 'STORE_LOCKED' })
    await rejectsLocked(path)
    first.child.send('close')
    expect(await first.next()).toMatchObject({ closed: true })
    await exited(first.child)
    const third = start(path)
    expect(await third.next()).toMatchObject({ opened: true })
    third.child.send('close')
    await third.next()
    await exited(third.child)
    const store = await TensorStreamStore.open({ path, retier: false })
    expect((await store.read('held', 0, 10)).timestamps.length).toBe(1)
    await store.close()
  })

  it('a lock left by a killed process is taken over', async () => {
    const path = tempDir()
    const first = start(path)
    expect(await first.next()).toMatchObject({ opened: true })
    first.child.kill('SIGKILL')
    await exited(first.child)
    const store = await TensorStreamStore.open({ path, retier: false })
    await store.close()
  })

  it('two stores in one process cannot open one path; closing releases it', async () => {
    const path = tempDir()
    const a = await TensorStreamStore.open({ path, retier: false })
    await rejectsLocked(path)
    await a.close()
    const b = await TensorStreamStore.open({ path, retier: false })
    await b.close()
  })

  it(`processes racing to open one path: exactly one wins (${LONG ? 20 : 3} rounds)`, async () => {
    for (let round = 0; round < (LONG ? 20 : 3); round++) {
      const path = tempDir()
      const racers = Array.from({ length: 4 }, () => start(path))
      const results = await Promise.all(racers.map((r) => r.next()))
      expect(results.filter((m) => m.opened).length).toBe(1)
      expect(results.filter((m) => m.error === 'STORE_LOCKED').length).toBe(3)
      for (const [i, r] of racers.entries()) if (results[i].opened) r.child.send('close')
      await Promise.all(racers.map((r) => exited(r.child)))
    }
  }, 120_000)

  async function rejectsLocked(path: string): Promise<void> {
    await expect(TensorStreamStore.open({ path })).rejects.toMatchObject({ name: 'TemporalTensorError', code: 'STORE_LOCKED' })
  }
})

describe('disk full (a small tmpfs; skipped where mount is not allowed)', () => {
  // Frame sizes: one in npm test; small, medium and large in npm run faults. The store refuses
  // a write that would leave less than its reserve free (LMDB itself must not meet a full disk:
  // lmdb-js 3.5.6 overflows a heap buffer when a write fails, see docs/reliability.md).
  const cases = FORMATS.flatMap((format) => (LONG ? [64, 1024, 16384] : [1024]).map((dim) => [format, dim] as const))
  it.each(cases)('%s, %i values per frame: coded STORAGE_FULL, nothing unacknowledged visible, reads work, close() settles, nothing acknowledged lost', async (format, dim, ctx) => {
    const dir = tempDir()
    const mnt = join(dir, 'small')
    mkdirSync(mnt)
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status !== 0) {
      ctx.skip()
      return
    }
    try {
      // A filler takes most of the room, so the store fills the rest quickly.
      const filler = join(mnt, 'filler')
      writeFileSync(filler, Buffer.alloc(1024 * 1024 + 512 * 1024))
      const fixture = fileURLToPath(new URL('./fixtures/store-disk-full.mjs', import.meta.url))
      const child = spawnSync(process.execPath, [fixture, join(mnt, 'store'), filler, String(dim), format], {
        encoding: 'utf8',
        timeout: 120_000,
      })
      expect(child.status, child.stderr).toBe(0)
      const r = JSON.parse(child.stdout)
      console.log(`disk full (${format}, ${dim}): ${JSON.stringify(r)}`)
      expect(r.unhandled).toEqual([])
      expect(Object.keys(r.codes).every((c) => c === 'STORAGE_FULL' || c === 'IO_ERROR')).toBe(true)
      expect(r.codes.STORAGE_FULL).toBeGreaterThan(0)
      expect(r.acked).toBeGreaterThan(dim > 4096 ? 0 : 10)
      expect(r.visibleMatchesAcked).toBe(true)
      expect(r.readAtWorks).toBe(true)
      expect(r.visibleMatchesAcked2).toBe(true)
      expect(r.reopenMatchesAcked).toBe(true)
      expect(r.worstError).toBeLessThan(BOUNDS[3])
      expect(r.appendAfterReopen).toBe(true)
    } finally {
      spawnSync('umount', ['-l', mnt])
    }
  }, 180_000)
})
