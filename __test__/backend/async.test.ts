// The async API (pushManyAsync, flushAsync, decodeSegmentAsync) on every backend (see
// vitest.config.ts): results equal the synchronous calls byte for byte, failures are the same
// coded errors and change nothing, an AbortSignal that fires before the work starts rejects
// with ABORTED, and a compressor is BUSY while one of its async calls runs. Behaviour only, no
// timing.
import { describe, expect, it } from 'vitest'
import {
  TemporalTensorCompressor,
  backend,
  decodeSegment,
  decodeSegmentAsync,
  kernels,
} from '../../dist/index.mjs'
import { expectCode, rng, stream } from '../helpers.js'

const N = 64

function make(format: 'coded' | 'packed' = 'coded'): TemporalTensorCompressor {
  return new TemporalTensorCompressor({ tensorLen: N, format, policy: { maxSegmentFrames: 16 } })
}

async function rejects(p: Promise<unknown>, code: string): Promise<unknown> {
  const e = await p.then(
    () => {
      throw new Error(`expected a rejection with ${code}`)
    },
    (err: unknown) => err,
  )
  expect((e as Error).name).toBe('TemporalTensorError')
  expect((e as { code?: string }).code).toBe(code)
  return e
}

describe(`async calls on the ${backend} backend (${kernels})`, () => {
  for (const format of ['coded', 'packed'] as const) {
    it(`pushManyAsync and flushAsync give what pushMany and flush give, byte for byte (${format})`, async () => {
      const sync = make(format)
      const async = make(format)
      sync.setAccess(3, 0)
      async.setAccess(3, 0)
      const expected: Uint8Array[] = []
      const got: Uint8Array[] = []
      for (let call = 0; call < 5; call++) {
        const frames = stream(N, 7 + call * 5, call + 1)
        expected.push(...sync.pushMany(frames, call))
        got.push(...(await async.pushManyAsync(frames, call)))
        expect(async.peek()).toEqual(sync.peek())
      }
      expected.push(sync.flush()!)
      got.push((await async.flushAsync())!)
      expect(got.length).toBeGreaterThan(3)
      expect(got).toEqual(expected)
      expect(await async.flushAsync()).toBeNull()
      for (const seg of expected) expect(await decodeSegmentAsync(seg)).toEqual(decodeSegment(seg))
      sync.free()
      async.free()
    })
  }

  // On WebAssembly an async call moves the compressor into the backend's worker (rebuilt there
  // from a journal of its open segment's frames) and a synchronous call moves it back: any mix
  // of calls must give the bytes of the synchronous calls alone.
  for (const format of ['coded', 'packed'] as const) {
    it(`sync and async calls mixed in any order, with access changes between them: the bytes of sync calls alone (${format})`, async () => {
      for (const seed of [1, 2, 3, 4]) {
        const next = rng(seed * 7919)
        const options = { tensorLen: N, format, policy: { maxSegmentFrames: 8, hotMinScore: 20, warmMinScore: 4 } }
        const reference = new TemporalTensorCompressor(options)
        const c = new TemporalTensorCompressor(options)
        const data = stream(N, 400, seed)
        let at = 0
        let ts = 0
        const take = (k: number) => {
          const frames = data.subarray(at * N, (at + k) * N)
          at = (at + k) % 390
          return frames
        }
        for (let step = 0; step < 60; step++) {
          const r = next()
          const k = 1 + Math.floor(next() * 12)
          if (r < 0.25) {
            const frames = take(k)
            expect(await c.pushManyAsync(frames, ts), `seed ${seed} step ${step}`).toEqual(reference.pushMany(frames, ts))
          } else if (r < 0.4) {
            const frames = take(k)
            expect(c.pushMany(frames, ts)).toEqual(reference.pushMany(frames, ts))
          } else if (r < 0.5) {
            const frame = take(1)
            expect(c.push(frame, ts)).toEqual(reference.push(frame, ts))
          } else if (r < 0.57) {
            expect(await c.flushAsync()).toEqual(reference.flush())
          } else if (r < 0.62) {
            expect(c.flush()).toEqual(reference.flush())
          } else if (r < 0.75) {
            c.touch(ts)
            reference.touch(ts)
          } else if (r < 0.82) {
            const count = Math.floor(next() * 40)
            c.setAccess(count, ts)
            reference.setAccess(count, ts)
          } else if (r < 0.9) {
            ts += 1 + Math.floor(next() * 30)
          } else {
            expect(c.peek()).toEqual(reference.peek())
          }
          // The state getters answer wherever the compressor is (without moving it).
          expect([c.activeFrames, c.activeBits, c.pendingBytes]).toEqual([reference.activeFrames, reference.activeBits, reference.pendingBytes])
        }
        expect(await c.pushManyAsync(take(5), ts)).toEqual(reference.pushMany(data.subarray((at - 5) * N, at * N), ts))
        expect(c.bitsAt(ts + 5)).toBe(reference.bitsAt(ts + 5))
        expect(await c.flushAsync()).toEqual(reference.flush())
        c.free()
        reference.free()
      }
    })
  }

  it('many compressors with async calls in flight at once: each gets its own bytes', async () => {
    const inputs = [1, 2, 3, 4, 5].map((seed) => stream(N, 50 + seed * 3, seed))
    const expected = inputs.map((frames) => {
      const c = make()
      const out = c.pushMany(frames, 1)
      out.push(c.flush()!)
      c.free()
      return out
    })
    const got = await Promise.all(
      inputs.map(async (frames) => {
        const c = make()
        const out = await c.pushManyAsync(frames, 1)
        out.push((await c.flushAsync())!)
        c.free()
        return out
      }),
    )
    expect(got).toEqual(expected)
  })

  it('a large input (copied into the native addon over several event-loop turns): the same segments; an abort meanwhile is ABORTED and leaves nothing staged', async () => {
    const dim = 4096
    const frames = stream(dim, 300, 11) // 1,228,800 values: two slices of 2^20 on the native backend
    const options = { tensorLen: dim, policy: { maxSegmentFrames: 64 } }
    const sync = new TemporalTensorCompressor(options)
    const expected = sync.pushMany(frames, 1)
    const c = new TemporalTensorCompressor(options)
    const controller = new AbortController()
    const aborted = c.pushManyAsync(frames, 1, { signal: controller.signal })
    controller.abort()
    await rejects(aborted, 'ABORTED')
    expect(c.activeFrames).toBe(0)
    const got = await c.pushManyAsync(frames, 1)
    expect(got.length).toBe(4)
    expect(got).toEqual(expected)
    expect(await c.flushAsync()).toEqual(sync.flush())
    sync.free()
    c.free()
  })

  it('takes every FrameInput, and copies at the call: changing the array afterwards changes nothing', async () => {
    const frames = stream(N, 20, 9)
    const sync = make()
    const expected = sync.pushMany(frames, 1)
    const c = make()
    const input = Float64Array.from(frames)
    const f32 = frames.slice()
    const pending = [c.pushManyAsync(f32, 1)]
    f32.fill(0) // after the call: not seen
    expect(await pending[0]).toEqual(expected)
    const d = make()
    expect(await d.pushManyAsync(input, 1)).toEqual(expected)
    expect(d.peek()).toEqual(sync.peek())
    for (const x of [sync, c, d]) x.free()
  })

  // On WebAssembly synchronous batches stay in the compressor's region of module memory, where
  // its journal refers to them (growing the region keeps them, a segment moves the open tail to
  // its start); an async call copies them out for the worker. Arrays reused by the caller, many
  // batches open at once, and segments closing inside a batch must all replay to the same bytes.
  for (const format of ['coded', 'packed'] as const) {
    it(`synchronous batches in reused arrays, then an async call and back: the bytes of sync calls alone (${format})`, async () => {
      const data = stream(N, 200, 5)
      const reference = make(format)
      const c = make(format)
      const batch = new Float32Array(7 * N)
      let at = 0
      const next = (k: number) => {
        const frames = batch.subarray(0, k * N)
        frames.set(data.subarray(at * N, (at + k) * N))
        at += k
        return frames
      }
      for (const k of [1, 2, 3, 7, 5, 6, 1, 7, 4]) {
        const frames = next(k)
        const expected = reference.pushMany(frames, at)
        expect(c.pushMany(frames, at), `batch ${k} at ${at}`).toEqual(expected)
        batch.fill(Number.NaN) // the caller reuses its array: the journal must not see it
        if (k === 7) {
          const more = next(3)
          const expectedMore = reference.pushMany(more, at)
          expect(await c.pushManyAsync(more, at), `async at ${at}`).toEqual(expectedMore)
        }
      }
      expect(c.peek()).toEqual(reference.peek())
      expect(c.flush()).toEqual(reference.flush())
      c.free()
      reference.free()
    })
  }

  it('failures: the synchronous call\'s codes, nothing changed, and the compressor usable after', async () => {
    const c = make()
    await c.pushManyAsync(stream(N, 3, 2), 1)
    const before = c.peek()
    const bad = stream(N, 4, 3)
    bad[2 * N + 5] = Number.NaN
    await rejects(c.pushManyAsync(bad, 2), 'NON_FINITE')
    await rejects(c.pushManyAsync(bad.subarray(0, N + 1), 2), 'LENGTH_MISMATCH')
    await rejects(c.pushManyAsync(new Uint8Array(6), 2), 'LENGTH_MISMATCH')
    await rejects(c.pushManyAsync(stream(N, 1), -1), 'INVALID_ARGUMENT')
    await rejects(c.pushManyAsync(stream(N, 1), 1, { signal: 'no' } as never), 'INVALID_ARGUMENT')
    expect(c.peek()).toEqual(before)
    expect(await c.pushManyAsync(stream(N, 1, 4), 3)).toEqual([])
    expect(c.activeFrames).toBe(4)
    c.free()
    await rejects(c.pushManyAsync(stream(N, 1), 1), 'INVALID_HANDLE')
    await rejects(c.flushAsync(), 'INVALID_HANDLE')
  })

  it('decodeSegmentAsync: the same errors as decodeSegment', async () => {
    const c = make()
    c.pushMany(stream(N, 10), 0)
    const seg = c.flush()!
    c.free()
    await rejects(decodeSegmentAsync(seg.subarray(0, 20)), 'TRUNCATED')
    await rejects(decodeSegmentAsync(new Uint8Array(64)), 'BAD_MAGIC')
    await rejects(decodeSegmentAsync(seg, { maxValues: 10 * N - 1 }), 'LIMIT_EXCEEDED')
    await rejects(decodeSegmentAsync('x' as never), 'INVALID_ARGUMENT')
    expect(await decodeSegmentAsync(seg, { maxValues: 10 * N })).toEqual(decodeSegment(seg))
  })

  it('a second call while one runs: BUSY, for every method, and nothing changed', async () => {
    const c = make()
    const reference = make()
    const frames = stream(N, 40, 5)
    const pending = c.pushManyAsync(frames, 1)
    expectCode(() => c.push(stream(N, 1), 1), 'BUSY')
    expectCode(() => c.pushMany(stream(N, 1), 1), 'BUSY')
    expectCode(() => c.flush(), 'BUSY')
    expectCode(() => c.peek(), 'BUSY')
    expectCode(() => c.touch(1), 'BUSY')
    expectCode(() => c.activeFrames, 'BUSY')
    await rejects(c.pushManyAsync(stream(N, 1), 1), 'BUSY')
    await rejects(c.flushAsync(), 'BUSY')
    expect(await pending).toEqual(reference.pushMany(frames, 1))
    expect(c.peek()).toEqual(reference.peek())
    expect(c.activeFrames).toBe(reference.activeFrames)
    c.free()
    reference.free()
  })

  it('an AbortSignal that has fired: ABORTED, nothing changed, not busy afterwards', async () => {
    const c = make()
    c.pushMany(stream(N, 2), 1)
    const before = c.peek()
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    const e = await rejects(c.pushManyAsync(stream(N, 3), 2, { signal: controller.signal }), 'ABORTED')
    expect((e as Error).cause).toBe(controller.signal.reason)
    await rejects(c.flushAsync({ signal: controller.signal }), 'ABORTED')
    await rejects(decodeSegmentAsync(before!, { signal: controller.signal }), 'ABORTED')
    expect(c.peek()).toEqual(before)
    expect(c.activeFrames).toBe(2)
    // Any object with a boolean `aborted` will do (it is read before the work starts).
    await rejects(c.pushManyAsync(stream(N, 3), 2, { signal: { aborted: true } }), 'ABORTED')
    expect(await c.pushManyAsync(stream(N, 3), 2, { signal: { aborted: false } })).toEqual([])
    expect(c.activeFrames).toBe(5)
    c.free()
  })

  it('aborting after the call: ABORTED with nothing changed if the work had not started, else the result', async () => {
    const c = make()
    const reference = make()
    const frames = stream(N, 30, 6)
    const controller = new AbortController()
    const pending = c.pushManyAsync(frames, 1, { signal: controller.signal })
    controller.abort()
    const outcome = await pending.then((segments) => ({ segments }), (error: { code?: string }) => ({ error }))
    if (backend === 'wasm') expect(outcome).toHaveProperty('error') // the work waits a turn: always before it
    if ('error' in outcome) {
      expect(outcome.error.code).toBe('ABORTED')
      expect(c.activeFrames).toBe(0)
      expect(c.peek()).toBeNull()
    } else {
      expect(outcome.segments).toEqual(reference.pushMany(frames, 1))
      expect(c.peek()).toEqual(reference.peek())
    }
    c.free()
    reference.free()
  })

  it.runIf(backend === 'native')('native: a task still queued behind a full thread pool is cancelled by its signal', async () => {
    // Every pool thread busy with a large decode (UV_THREADPOOL_SIZE, default 4), then our task
    // is queued and aborted in the same turn: it cannot have started.
    const wide = new TemporalTensorCompressor({ tensorLen: 1 << 20, format: 'packed', policy: { fixedBits: 8, maxSegmentFrames: 8 } })
    wide.pushMany(new Float32Array((1 << 20) * 8).fill(0.5), 0)
    const heavy = wide.flush()!
    wide.free()
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
    const blockers = Array.from({ length: threads * 2 }, () => decodeSegmentAsync(heavy))
    const c = make()
    const controller = new AbortController()
    const pending = c.pushManyAsync(stream(N, 5), 1, { signal: controller.signal })
    controller.abort()
    await rejects(pending, 'ABORTED')
    expect(c.activeFrames).toBe(0)
    expect(c.pushMany(stream(N, 1), 2)).toEqual([]) // usable: not left busy
    for (const b of await Promise.all(blockers)) expect(b.length).toBe((1 << 20) * 8)
    c.free()
  })

  it.runIf(backend === 'wasm')('wasm: a call still queued behind the worker\'s current one is cancelled by its signal', async () => {
    // The worker runs one request at a time: a large decode first, then our push waits in the
    // queue, where an abort still cancels it.
    const wide = new TemporalTensorCompressor({ tensorLen: 1 << 20, format: 'packed', policy: { fixedBits: 8, maxSegmentFrames: 16 } })
    wide.pushMany(new Float32Array((1 << 20) * 16).fill(0.5), 0)
    const heavy = wide.flush()!
    wide.free()
    const blockers = [decodeSegmentAsync(heavy), decodeSegmentAsync(heavy)]
    const c = make()
    c.pushMany(stream(N, 3, 1), 1)
    const before = c.peek()
    const controller = new AbortController()
    const pending = c.pushManyAsync(stream(N, 5), 1, { signal: controller.signal })
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setTimeout(resolve, 0))
    controller.abort()
    await rejects(pending, 'ABORTED')
    expect(c.peek()).toEqual(before)
    expect(c.activeFrames).toBe(3)
    for (const b of await Promise.all(blockers)) expect(b.length).toBe((1 << 20) * 16)
    expect(await c.pushManyAsync(stream(N, 2, 2), 1)).toEqual([])
    expect(c.activeFrames).toBe(5)
    c.free()
  })

  it('free() during a call: the call settles with its result, then the compressor is released', async () => {
    const c = make()
    const reference = make()
    const frames = stream(N, 20, 8)
    const pending = c.pushManyAsync(frames, 1)
    c.free()
    expect(c.freed).toBe(true)
    expectCode(() => c.push(stream(N, 1), 1), 'INVALID_HANDLE')
    expect(await pending).toEqual(reference.pushMany(frames, 1))
    expectCode(() => c.peek(), 'INVALID_HANDLE')
    c.free()
    reference.free()
  })
})
