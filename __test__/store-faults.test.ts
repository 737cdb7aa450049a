// The persistent store under faults (issue 11): equal timestamps, killed writers, close() with
// appends in flight. `npm test` runs the short forms; `npm run faults` sets TT_FAULTS=long and
// runs them at length.
import { fork, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { TensorStreamStore } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { embeddingStream } from '../bin/trace.mjs'
import { BOUNDS, expectCode, relativeError, rng } from './helpers.js'

const LONG = process.env.TT_FAULTS === 'long'
/** Seed of the randomized fault cases (TT_FAULTS_SEED), to explore beyond the fixed ones. */
const SEED = Number(process.env.TT_FAULTS_SEED ?? 0)
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

  it('a path with a dot (tensors.lmdb) is a store directory like any other, and reopens', async () => {
    const path = join(tempDir(), 'tensors.lmdb')
    const store = await TensorStreamStore.open({ path, retier: false })
    const frame = Float32Array.from({ length: DIM }, (_, i) => Math.sin(i))
    await store.append('t', frame, 5)
    await store.close()
    expect(statSync(path).isDirectory()).toBe(true)
    expect(existsSync(join(path, 'data.mdb'))).toBe(true)
    const reopened = await TensorStreamStore.open({ path, retier: false })
    const { timestamps, frames } = await reopened.read('t', 0, 10)
    expect(Array.from(timestamps)).toEqual([5])
    expect(relativeError(frame, frames.subarray(0, DIM))).toBeLessThan(BOUNDS[3])
    await reopened.close()
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
      await store.touch('h', k * 1000)
      await store.append('h', next(), k * 1000)
    }
    await store.refresh('h')
    expect(store.lineage('h').map((s) => s.bits)).toEqual([8])
    expect(await store.retier(10_000_000)).toBe(1) // cooled: narrowed, not pinned at 5 bits
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

describe('corrupt and truncated database files', () => {
  /**
   * A store with packed and coded segments and open segments (frames in the write-ahead table)
   * on three tensors, all at 8 bits; then damaged copies of its data.mdb, each opened, verified
   * and (when only records are damaged) repaired in child processes. Never a crash; never a
   * wrong or missing frame from a store that opened, nor after writing to it and reopening;
   * STORE_CORRUPT otherwise.
   */
  const count = Number(process.env.TT_FAULTS_CORRUPT ?? (LONG ? 600 : 60))
  // A small store (about 40 pages, trees of depth 2) and, in npm run faults, a larger one
  // (deeper trees, overflow-heavy free list).
  const sizes = LONG
    ? ([['small', { a: 300, b: 150, c: 45 }], ['large', { a: 3000, b: 1500, c: 450 }]] as const)
    : ([['small', { a: 300, b: 150, c: 45 }]] as const)
  it.each(sizes)(`never crash, never return wrong frames (${count} damaged files, %s store)`, async (_size, tensors) => {
    const root = tempDir()
    const pristine = join(root, 'pristine')
    const write = async (format: 'packed' | 'coded', from: number, to: number) => {
      const store = await TensorStreamStore.open({ path: pristine, retier: false, format, policy: { fixedBits: 8, maxSegmentFrames: 32 } })
      for (const [i, [id, count]] of Object.entries(tensors).entries()) {
        const next = embeddingStream(DIM, 100 + i)
        for (let k = 0; k < count; k++) {
          const f = next()
          if (k >= Math.floor(count * from) && k < Math.floor(count * to)) await store.append(id, f, k)
        }
      }
      await store.close()
    }
    await write('packed', 0, 0.5)
    await write('coded', 0.5, 1)
    const size = statSync(join(pristine, 'data.mdb')).size
    const next = rng((LONG ? 7 : 3) + SEED + (_size === 'large' ? 1000 : 0))
    const int = (n: number) => Math.floor(next() * n)
    const cases = Array.from({ length: count }, (_, id) => {
      switch (id % 7) {
        case 0: {
          const lengths = [0, 100, 4096, 8191, 8192, size - 1, size - 4096, 4096 * (2 + int(size / 4096 - 2)), int(size)]
          return { id, kind: 'truncate', length: lengths[Math.floor(id / 7) % lengths.length] }
        }
        case 1:
          return { id, kind: 'bits', at: [int(size)] }
        case 2:
          return { id, kind: 'bits', at: Array.from({ length: 8 }, () => int(size)) }
        case 3:
          return { id, kind: 'bytes', at: int(size), values: Array.from({ length: 16 }, () => int(256)) }
        case 4:
          return { id, kind: 'zero-page', page: int(1e9) }
        case 5:
          return { id, kind: 'copy-page', from: int(1e9), to: int(1e9) }
        default:
          return id % 14 === 6 ? { id, kind: 'delete' } : { id, kind: 'bytes', at: int(Math.min(size, 8192)), values: Array.from({ length: 4 }, () => int(256)) }
      }
    })
    const work = join(root, 'work')
    mkdirSync(work)
    const fixture = fileURLToPath(new URL('./fixtures/store-corrupt.mjs', import.meta.url))
    const results: Record<string, unknown>[] = []
    const crashes: string[] = []
    let pending = cases
    while (pending.length > 0) {
      const specFile = join(root, 'spec.json')
      writeFileSync(specFile, JSON.stringify({ pristine, work, dim: DIM, tensors, cases: pending }))
      const child = spawnSync(process.execPath, [fixture, specFile], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 })
      const lines = child.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
      let started: number | null = null
      for (const l of lines) {
        if ('start' in l) started = l.start
        else {
          results.push(l)
          started = null
        }
      }
      if (child.status === 0) break
      // A crash (or a hang) in case `started`: note it and go on with the rest.
      crashes.push(`case ${started}: ${JSON.stringify(cases[started!])} exited with ${child.status ?? child.signal}: ${child.stderr.slice(-300)}`)
      pending = pending.filter((c) => c.id > (started ?? Infinity))
    }
    const tally: Record<string, number> = {}
    for (const r of results) tally[`${r.open}/${r.verify}`] = (tally[`${r.open}/${r.verify}`] ?? 0) + 1
    const repaired = results.filter((r) => r.repaired !== undefined)
    console.log(`corrupt files (${_size} store, ${size} bytes): ${results.length} tried, ${crashes.length} crashes; open/verify outcomes ${JSON.stringify(tally)}; ${repaired.length} repaired`)
    expect(crashes).toEqual([])
    expect(results.length).toBe(count)
    for (const r of results) {
      expect(['ok', 'STORE_CORRUPT'], JSON.stringify(r)).toContain(r.open)
      if (r.open === 'ok') {
        expect(r, 'an opened store returns every frame, each within bound').toMatchObject({ wrong: 0, missing: 0, verify: 'ok' })
        expect(r.written, 'and takes writes').toMatchObject({ wrong: 0, missing: 0 })
      } else {
        expect(['file', 'records'], JSON.stringify(r)).toContain(r.verify)
      }
      if (r.repaired !== undefined) {
        expect(r.repaired, JSON.stringify(r)).toMatchObject({ wrong: 0 })
      }
    }
  }, 900_000)
})

describe('verify() and repair()', () => {
  const options = (path: string) => ({ path, retier: false as const, policy: { fixedBits: 8 as const, maxSegmentFrames: 16 } })
  async function build(path: string): Promise<Float32Array[]> {
    const store = await TensorStreamStore.open(options(path))
    const next = embeddingStream(DIM, 24)
    const frames = Array.from({ length: 40 }, () => next())
    for (let k = 0; k < 40; k++) await store.append('w', frames[k], k) // 2 segments, 8 frames open
    await store.close()
    return frames
  }
  /**
   * Flips a byte of the record whose header starts with `marker`, `skip` bytes after it, in every
   * copy of it in the file (LMDB copies pages on write, so freed pages hold older copies).
   */
  function damageRecord(path: string, marker: string, skip: number): void {
    const file = join(path, 'data.mdb')
    const bytes = readFileSync(file)
    let copies = 0
    for (let at = bytes.indexOf(Buffer.from(marker)); at >= 0; at = bytes.indexOf(Buffer.from(marker), at + 1)) {
      bytes[at + skip] ^= 0x40
      copies++
    }
    expect(copies, marker).toBeGreaterThan(0)
    writeFileSync(file, bytes)
  }

  it('a damaged write-ahead frame: open fails, verify names it, repair keeps the rest and records the loss', async () => {
    const path = tempDir()
    const frames = await build(path)
    expect(await TensorStreamStore.verify({ path })).toMatchObject({ ok: true, fileProblems: [], damaged: [], tensors: [{ id: 'w', frames: 40, lost: [] }] })
    damageRecord(path, '{"id":"w","seq":35,', 80)
    await expect(TensorStreamStore.open(options(path))).rejects.toMatchObject({ code: 'STORE_CORRUPT' })
    const report = await TensorStreamStore.verify({ path })
    expect(report).toMatchObject({ ok: false, damaged: [{ table: 'wal', tensorId: 'w', seq: 35, problem: 'checksum mismatch' }], tensors: [{ id: 'w', frames: 39, lost: [[35, 35]] }] })
    expect(report.removed).toBeUndefined()
    expect((await TensorStreamStore.repair({ path })).removed).toBe(1)
    expect(await TensorStreamStore.verify({ path })).toMatchObject({ ok: true, tensors: [{ id: 'w', frames: 39, lost: [[35, 35]] }] })
    const store = await TensorStreamStore.open(options(path))
    const { timestamps, frames: values } = await store.read('w', 0, 100)
    expect(Array.from(timestamps)).toEqual(Array.from({ length: 40 }, (_, k) => k).filter((k) => k !== 35))
    timestamps.forEach((k, i) => expect(relativeError(frames[k], values.subarray(i * DIM, (i + 1) * DIM))).toBeLessThan(BOUNDS[8]))
    await store.append('w', frames[0], 50)
    await store.close()
    expect((await TensorStreamStore.verify({ path })).ok).toBe(true)
  })

  it('a damaged segment: its frames are reported lost and the others read back', async () => {
    const path = tempDir()
    const frames = await build(path)
    damageRecord(path, '{"key":"w:16:31"', 200)
    await expect(TensorStreamStore.open(options(path))).rejects.toMatchObject({ code: 'STORE_CORRUPT' })
    expect(await TensorStreamStore.repair({ path })).toMatchObject({ damaged: [{ table: 'segments', tensorId: 'w', seq: 16 }], tensors: [{ frames: 24, lost: [[16, 31]] }] })
    const store = await TensorStreamStore.open(options(path))
    const { timestamps } = await store.read('w', 0, 100)
    expect(timestamps.length).toBe(24)
    expect(store.lineage('w').map((s) => s.seq)).toEqual([0])
    expect(relativeError(frames[39], (await store.readAt('w', 100))!.frame)).toBeLessThan(BOUNDS[8])
    await store.close()
  })

  it('data.mdb truncated to 0 bytes or deleted: STORE_CORRUPT, not an empty store', async () => {
    for (const damage of ['truncate', 'delete'] as const) {
      const path = tempDir()
      await build(path)
      if (damage === 'truncate') writeFileSync(join(path, 'data.mdb'), '')
      else rmSync(join(path, 'data.mdb'))
      await expect(TensorStreamStore.open(options(path))).rejects.toMatchObject({ code: 'STORE_CORRUPT' })
      const report = await TensorStreamStore.verify({ path })
      expect(report.ok).toBe(false)
      expect(report.fileProblems.length).toBeGreaterThan(0)
      await expect(TensorStreamStore.repair({ path })).rejects.toMatchObject({ code: 'STORE_CORRUPT' })
    }
  })

  it('verify and repair need the store closed', async () => {
    const path = tempDir()
    await build(path)
    const store = await TensorStreamStore.open(options(path))
    await expect(TensorStreamStore.verify({ path })).rejects.toMatchObject({ code: 'STORE_LOCKED' })
    await expect(TensorStreamStore.repair({ path })).rejects.toMatchObject({ code: 'STORE_LOCKED' })
    await store.close()
    await expect(TensorStreamStore.verify({ path: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    // A path that holds no store is not made into one.
    const empty = join(tempDir(), 'nothing-here')
    await expect(TensorStreamStore.verify({ path: empty })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(TensorStreamStore.repair({ path: empty })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect(existsSync(empty)).toBe(false)
  })
})
