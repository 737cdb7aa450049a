// The streaming API: Node Transforms (createCompressStream / createDecompressStream) and the Web
// TransformStream pair (TensorCompressionStream / TensorDecompressionStream). Output equals
// pushMany + flush byte for byte; segment bytes cut anywhere decode to the same frames; corrupt
// or truncated bytes are coded errors; a slow consumer keeps the buffers bounded (lengths, not
// time); destroying or aborting a stream frees its compressor. Runs on the default backend here
// and on every backend through __test__/backend/streams.test.ts.
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  TemporalTensorCompressor,
  TensorCompressionStream,
  TensorDecompressionStream,
  backend,
  createCompressStream,
  createDecompressStream,
  decodeSegment,
  errorBound,
  kernels,
  splitSegments,
} from '../dist/index.mjs'
import type { CompressStreamOptions } from '../dist/index.mjs'
import { rng, stream } from './helpers.js'

const N = 16

function options(format: 'coded' | 'packed'): CompressStreamOptions {
  return { tensorLen: N, format, accessCount: 100, lastAccessTs: 0, policy: { maxSegmentFrames: 8 } }
}

/** What pushMany + flush writes for `frames`. */
function reference(frames: Float32Array, opts: CompressStreamOptions): Uint8Array {
  const c = new TemporalTensorCompressor(opts)
  c.setAccess(opts.accessCount ?? 0, opts.lastAccessTs ?? 0)
  const segments = c.pushMany(frames, 0)
  const last = c.flush()
  if (last) segments.push(last)
  c.free()
  return new Uint8Array(Buffer.concat(segments))
}

/** Every frame the segments in `bytes` decode to, one array of `tensorLen` values each. */
function decodedFrames(bytes: Uint8Array): Float32Array[] {
  const out: Float32Array[] = []
  for (const segment of splitSegments(bytes)) {
    const values = decodeSegment(segment)
    for (let f = 0; f < values.length / N; f++) out.push(values.subarray(f * N, (f + 1) * N))
  }
  return out
}

/** Frames chunked `k` at a time, k cycling through 1, 3, 7, 2. */
function chunks(frames: Float32Array): Float32Array[] {
  const sizes = [1, 3, 7, 2]
  const out: Float32Array[] = []
  for (let f = 0, i = 0; f < frames.length / N; i++) {
    const k = Math.min(sizes[i % sizes.length], frames.length / N - f)
    out.push(frames.subarray(f * N, (f + k) * N))
    f += k
  }
  return out
}

async function collect<T>(readable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of readable) out.push(x)
  return out
}

async function nodeDecompress(pieces: Uint8Array[]): Promise<Float32Array[]> {
  return collect(Readable.from(pieces.map((p) => Buffer.from(p)), { objectMode: false }).pipe(createDecompressStream()))
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (e) {
    expect((e as Error).name).toBe('TemporalTensorError')
    return (e as { code?: string }).code
  }
  return undefined
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe(`streams on the ${backend} backend (${kernels})`, () => {
  for (const format of ['coded', 'packed'] as const) {
    it(`${format}: the Node compress stream writes what pushMany + flush writes, byte for byte`, async () => {
      const frames = stream(N, 100, 3)
      const out = await collect<Buffer>(Readable.from(chunks(frames)).pipe(createCompressStream(options(format))))
      expect(out.length).toBeGreaterThan(10)
      for (const b of out) expect(Buffer.isBuffer(b)).toBe(true)
      expect(Buffer.concat(out).equals(Buffer.from(reference(frames, options(format))))).toBe(true)
    })

    it(`${format}: the Web compress stream writes the same bytes`, async () => {
      const frames = stream(N, 100, 3)
      const out = await collect(ReadableStream.from(chunks(frames)).pipeThrough(new TensorCompressionStream(options(format))))
      expect(Buffer.concat(out).equals(Buffer.from(reference(frames, options(format))))).toBe(true)
    })

    it(`${format}: segments cut at every byte boundary decode to the same frames`, async () => {
      const bytes = reference(stream(N, 20, 5), options(format))
      const want = decodedFrames(bytes)
      expect(want.length).toBe(20)
      for (let cut = 0; cut <= bytes.byteLength; cut++) {
        const got = await nodeDecompress([bytes.subarray(0, cut), bytes.subarray(cut)])
        expect(got.length).toBe(want.length)
        for (let f = 0; f < want.length; f++) expect(got[f]).toEqual(want[f])
      }
    })

    it(`${format}: random cuts (seeded) into many pieces, Node and Web, decode to the same frames`, async () => {
      const frames = stream(N, 300, 9)
      const bytes = reference(frames, options(format))
      const want = decodedFrames(bytes)
      const next = rng(42)
      for (let round = 0; round < 20; round++) {
        const pieces: Uint8Array[] = []
        for (let at = 0; at < bytes.byteLength; ) {
          const len = Math.min(bytes.byteLength - at, Math.floor(next() * (round % 2 ? 7 : 300)))
          pieces.push(bytes.subarray(at, at + len)) // zero-length pieces included
          at += len
        }
        const got = round % 4 < 2 ? await nodeDecompress(pieces) : await collect(ReadableStream.from(pieces).pipeThrough(new TensorDecompressionStream()))
        expect(got.length).toBe(300)
        for (let f = 0; f < want.length; f++) expect(got[f]).toEqual(want[f])
      }
    })
  }

  it('round trip through both Node streams keeps every frame within the 8-bit bound', async () => {
    const frames = stream(N, 64, 11)
    const out = await collect<Float32Array>(
      Readable.from(chunks(frames)).pipe(createCompressStream({ tensorLen: N, policy: { fixedBits: 8 } })).pipe(createDecompressStream()),
    )
    expect(out.length).toBe(64)
    for (let f = 0; f < 64; f++) {
      const orig = frames.subarray(f * N, (f + 1) * N)
      const max = Math.max(...orig.map(Math.abs))
      for (let i = 0; i < N; i++) expect(Math.abs(out[f][i] - orig[i])).toBeLessThanOrEqual(errorBound(8) * max)
    }
  })

  it('a segment of more than 2^22 values decodes a frame at a time: the same frames, none holding the whole segment', async () => {
    const len = 1 << 16
    const count = 72 // 72 × 2^16 values: over 2^22
    // Frames alike enough that the packed format keeps them in one segment too.
    const values = new Float32Array(len * count).map((_, i) => Math.sin((i % len) / 97) * (1 + ((i % len) % 5)) + Math.floor(i / len) * 1e-4)
    for (const format of ['coded', 'packed'] as const) {
      const c = new TemporalTensorCompressor({ tensorLen: len, format, policy: { fixedBits: 8 } })
      const segments = [...c.pushMany(values, 0), c.flush()!]
      c.free()
      expect(segments).toHaveLength(1)
      const want = decodeSegment(segments[0])
      const frames: Float32Array[] = []
      await pipeline(Readable.from([segments[0]]), createDecompressStream(), new Writable({
        objectMode: true,
        write(frame: Float32Array, _e, done) {
          frames.push(frame)
          done()
        },
      }))
      const web: Float32Array[] = []
      const reader = new Blob([segments[0]]).stream().pipeThrough(new TensorDecompressionStream()).getReader()
      for (let r = await reader.read(); !r.done; r = await reader.read()) web.push(r.value)
      for (const got of [frames, web]) {
        expect(got).toHaveLength(count)
        for (const [f, frame] of got.entries()) {
          expect(frame.buffer.byteLength, format).toBe(len * 4)
          expect(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).equals(Buffer.from(want.buffer, f * len * 4, len * 4)), `${format} frame ${f}`).toBe(true)
        }
      }
    }
  })

  it('a corrupt byte in the second segment: the first segment comes out, then CORRUPT_SEGMENT', async () => {
    const bytes = reference(stream(N, 24, 2), options('coded'))
    const first = new DataView(bytes.buffer, bytes.byteOffset).getUint32(24, true)
    const second = new DataView(bytes.buffer, bytes.byteOffset + first).getUint32(24, true)
    const bad = bytes.slice()
    bad[first + Math.floor(second / 2)] ^= 0x5a
    const got: Float32Array[] = []
    const d = createDecompressStream()
    d.on('data', (f: Float32Array) => got.push(f))
    const code = await codeOf(pipeline(Readable.from([Buffer.from(bad)]), d))
    expect(code).toBe('CORRUPT_SEGMENT')
    expect(got.length).toBe(8)
    const web = ReadableStream.from([bad.subarray(0, 10), bad.subarray(10)]).pipeThrough(new TensorDecompressionStream())
    expect(await codeOf(collect(web))).toBe('CORRUPT_SEGMENT')
  })

  it('bad magic, bytes left at the end, an oversized segment: coded errors', async () => {
    const bytes = reference(stream(N, 24, 2), options('coded'))
    const noMagic = bytes.slice()
    noMagic[0] ^= 0xff
    expect(await codeOf(nodeDecompress([noMagic]))).toBe('BAD_MAGIC')
    expect(await codeOf(nodeDecompress([bytes.subarray(0, bytes.byteLength - 3)]))).toBe('TRUNCATED')
    expect(await codeOf(nodeDecompress([bytes.subarray(0, 3)]))).toBe('TRUNCATED')
    const d = createDecompressStream({ maxSegmentBytes: 64 })
    expect(await codeOf(collect(Readable.from([Buffer.from(bytes)]).pipe(d)))).toBe('LIMIT_EXCEEDED')
    expect(() => createDecompressStream({ maxValues: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })

  it('a chunk that is not whole frames, or holds a NaN: coded errors, the compressor freed', async () => {
    const free = vi.spyOn(TemporalTensorCompressor.prototype, 'free')
    const partial = pipeline(Readable.from([new Float32Array(N), new Float32Array(N + 1)]), createCompressStream({ tensorLen: N }), new Writable({ write: (_c, _e, cb) => cb() }))
    expect(await codeOf(partial)).toBe('LENGTH_MISMATCH')
    const nan = new Float32Array(N).fill(Number.NaN)
    expect(await codeOf(collect(ReadableStream.from([nan]).pipeThrough(new TensorCompressionStream({ tensorLen: N }))))).toBe('NON_FINITE')
    expect(free.mock.contexts.length).toBeGreaterThanOrEqual(2)
    for (const c of free.mock.contexts) expect((c as TemporalTensorCompressor).freed).toBe(true)
    expect(() => createCompressStream({ tensorLen: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })

  it('backpressure: with a slow consumer the compress stream buffers a bounded amount', async () => {
    const t = createCompressStream({ tensorLen: 256, policy: { maxSegmentFrames: 4 } })
    const frames = stream(256, 8, 1) // 8 frames per chunk: 2 segments out per chunk
    let maxReadable = 0
    let maxWritable = 0
    let chunksIn = 0
    async function* produce() {
      for (; chunksIn < 400; chunksIn++) {
        maxReadable = Math.max(maxReadable, t.readableLength)
        maxWritable = Math.max(maxWritable, t.writableLength)
        yield frames
      }
    }
    let bytesOut = 0
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        bytesOut += chunk.byteLength
        setImmediate(cb)
      },
    })
    await pipeline(produce, t, slow)
    expect(chunksIn).toBe(400)
    // ~800 segments went through; the buffers never held more than their marks plus one chunk's output.
    expect(bytesOut).toBeGreaterThan(20 * t.readableHighWaterMark)
    expect(maxWritable).toBeLessThanOrEqual(t.writableHighWaterMark + 1)
    expect(maxReadable).toBeLessThan(t.readableHighWaterMark + 8 * 256 * 4)
  })

  it('backpressure: with a slow consumer the decompress stream buffers a bounded amount', async () => {
    const bytes = reference(stream(N, 2000, 4), options('coded'))
    const d = createDecompressStream()
    let maxReadable = 0
    let maxWritable = 0
    async function* produce() {
      for (let at = 0; at < bytes.byteLength; at += 97) {
        maxReadable = Math.max(maxReadable, d.readableLength)
        maxWritable = Math.max(maxWritable, d.writableLength)
        yield Buffer.from(bytes.subarray(at, at + 97))
      }
    }
    let frames = 0
    const slow = new Writable({
      objectMode: true,
      highWaterMark: 1,
      write(_f, _e, cb) {
        frames++
        setImmediate(cb)
      },
    })
    await pipeline(produce, d, slow)
    expect(frames).toBe(2000)
    expect(maxWritable).toBeLessThanOrEqual(d.writableHighWaterMark + 97)
    // Frames held: the mark plus the segments one 97-byte chunk completes (8 frames each).
    expect(maxReadable).toBeLessThanOrEqual(d.readableHighWaterMark + 16)
  })

  it('destroying a Node compress stream mid-way, or aborting a Web one, frees the compressor', async () => {
    const free = vi.spyOn(TemporalTensorCompressor.prototype, 'free')
    const t = createCompressStream({ tensorLen: N })
    t.write(new Float32Array(3 * N))
    t.destroy()
    await new Promise((r) => t.on('close', r))
    expect(free.mock.contexts.length).toBe(1)
    expect((free.mock.contexts[0] as TemporalTensorCompressor).freed).toBe(true)

    const web = new TensorCompressionStream({ tensorLen: N })
    const writer = web.writable.getWriter()
    void writer.write(new Float32Array(2 * N)).catch(() => {}) // pending: nobody reads
    await writer.abort(new Error('stop'))
    expect(free.mock.contexts.length).toBe(2)
    expect((free.mock.contexts[1] as TemporalTensorCompressor).freed).toBe(true)

    const ended = new TensorCompressionStream({ tensorLen: N })
    const reading = collect(ended.readable)
    const w = ended.writable.getWriter()
    await w.write(new Float32Array(N))
    await w.close()
    expect((await reading).length).toBe(1)
    expect((free.mock.contexts[2] as TemporalTensorCompressor).freed).toBe(true)
  })
})
