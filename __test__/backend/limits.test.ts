// Issue 11 items 2-4 on every backend: lengths read from the arrays' buffers (not from own
// properties), the decode cap, and the WebAssembly backend's documented limits.
import { describe, expect, it } from 'vitest'
import {
  MAX_DECODE_VALUES,
  TemporalTensorCompressor,
  WASM_LIMITS,
  backend,
  decodeFrame,
  decodeSegment,
  decodeSegmentInto,
  segmentInfo,
} from '../../dist/index.mjs'
import { expectCode, stream } from '../helpers.js'

const N = 64

function segmentOf(frames: Float32Array, format: 'coded' | 'packed' = 'coded'): Uint8Array {
  const c = new TemporalTensorCompressor({ tensorLen: N, format, policy: { maxSegmentFrames: 64 } })
  c.pushMany(frames, 0)
  const seg = c.flush()!
  c.free()
  return seg
}

/** `array` with an own property `name` that lies. */
function lying<T extends object>(array: T, name: string, value: unknown): T {
  Object.defineProperty(array, name, { value, configurable: true })
  return array
}

describe(`lengths come from the buffer, not the object (${backend})`, () => {
  it('a frame whose own length lies is measured by its buffer', () => {
    const c = new TemporalTensorCompressor({ tensorLen: 1024 })
    // Before: the WASM glue passed the faked length to the core, which compressed 1024 values
    // of stale module memory as if they were the frame.
    expectCode(() => c.push(lying(new Float32Array(8), 'length', 1024), 0), 'LENGTH_MISMATCH')
    expectCode(() => c.push(lying(new Float32Array(8), 'byteLength', 4096), 0), 'LENGTH_MISMATCH')
    expectCode(() => c.pushMany(lying(new Float32Array(8), 'length', 2048), 0), 'LENGTH_MISMATCH')
    expect(c.activeFrames).toBe(0)
    // A frame whose length lies the other way is compressed whole.
    const real = stream(1024, 1, 3)
    c.push(lying(Float32Array.from(real), 'length', 8), 0)
    expect(c.activeFrames).toBe(1)
    c.free()
  })

  it('an output whose own length lies gets a coded error or the right values', () => {
    const frames = stream(N, 10, 4)
    const seg = segmentOf(frames)
    const reference = decodeSegment(seg)
    // Before: an uncoded RangeError on the WASM backend.
    expectCode(() => decodeSegmentInto(seg, lying(new Float32Array(10), 'length', 640)), 'BUFFER_TOO_SMALL')
    const out = lying(new Float32Array(640), 'length', 10)
    expect(decodeSegmentInto(seg, out)).toBe(640)
    expect(Array.from(new Float32Array(out.buffer))).toEqual(Array.from(reference))
  })

  it('segment bytes whose own length or offset lies are read as they are', () => {
    const seg = segmentOf(stream(N, 10, 5))
    const reference = decodeSegment(seg)
    const padded = new Uint8Array(seg.byteLength + 100)
    padded.set(seg, 50)
    const view = lying(lying(padded.subarray(50, 50 + seg.byteLength), 'byteOffset', 0), 'length', 3)
    expect(Array.from(decodeSegment(view))).toEqual(Array.from(reference))
    expect(segmentInfo(lying(seg.slice(), 'byteLength', 10)).frameCount).toBe(10)
    expect(Array.from(decodeFrame(lying(seg.slice(), 'buffer', new ArrayBuffer(8)), 9))).toEqual(Array.from(reference.subarray(9 * N)))
  })

  it('objects that only pretend to be typed arrays are INVALID_ARGUMENT', () => {
    const c = new TemporalTensorCompressor({ tensorLen: 8 })
    expectCode(() => c.push(Object.create(Float32Array.prototype), 0), 'INVALID_ARGUMENT')
    expectCode(() => decodeSegment(Object.create(Uint8Array.prototype)), 'INVALID_ARGUMENT')
    c.free()
  })
})

describe(`decodeSegment's output cap (${backend})`, () => {
  it('refuses a segment of more values than maxValues before decoding, and takes one that fits', () => {
    const seg = segmentOf(stream(N, 10, 6), 'packed')
    expectCode(() => decodeSegment(seg, { maxValues: 10 * N - 1 }), 'LIMIT_EXCEEDED')
    expect(decodeSegment(seg, { maxValues: 10 * N }).length).toBe(10 * N)
    expect(decodeSegment(seg, {}).length).toBe(10 * N)
    expectCode(() => decodeSegment(seg, { maxValues: -1 }), 'INVALID_ARGUMENT')
    expectCode(() => decodeSegment(seg, { maxValues: 1.5 }), 'INVALID_ARGUMENT')
    expectCode(() => decodeSegment(seg, null as never), 'INVALID_ARGUMENT')
    expect(MAX_DECODE_VALUES).toBe(2 ** 28)
  })
})

describe(`the WebAssembly backend's limits (${backend})`, () => {
  it('a compressor whose open segment could outgrow wasm32 memory is LIMIT_EXCEEDED when made (WASM only)', () => {
    // Before: tensorLen 2^24 at 8 bits with the default frame cap trapped at push #64 (a
    // segment over 2 GiB), leaving the module's lock held so every later call hung.
    const make = (tensorLen: number, maxSegmentFrames: number) => () =>
      new TemporalTensorCompressor({ tensorLen, policy: { maxSegmentFrames, fixedBits: 8 } }).free()
    if (backend === 'wasm') {
      expectCode(make(2 ** 24, 128), 'LIMIT_EXCEEDED')
      expectCode(make(2 ** 24, 5), 'LIMIT_EXCEEDED')
      make(2 ** 24, 4)()
      make(WASM_LIMITS.maxSegmentValues / 64, 64)()
    } else {
      make(2 ** 24, 128)()
    }
    expect(WASM_LIMITS).toEqual({ maxBufferBytes: 2 ** 30, maxSegmentValues: 2 ** 26 })
  })
})
