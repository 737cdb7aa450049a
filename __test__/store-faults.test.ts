// The persistent store under faults (issue 11): equal timestamps, killed writers, close() with
// appends in flight. `npm test` runs the short forms; `npm run faults` sets TT_FAULTS=long and
// runs them at length.
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { TensorStreamStore } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { embeddingStream } from '../bin/trace.mjs'
import { BOUNDS, relativeError } from './helpers.js'

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
