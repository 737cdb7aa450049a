// Frames as users already hold them (Float64Array, number[], Buffer/Uint8Array/DataView of
// little-endian f32 bytes) give the same segments, byte for byte, as the Float32Array they hold;
// bad ones get coded errors and change nothing. Run on every backend (see vitest.config.ts).
import { describe, expect, it } from 'vitest'
import { TemporalTensorCompressor, TensorStreamStore, kernels } from '../../dist/index.mjs'
import { expectCode, stream } from '../helpers.js'

const N = 32
const FRAMES = 40 // spans two segments of 32 frames (maxSegmentFrames below)

function compressor(): TemporalTensorCompressor {
  return new TemporalTensorCompressor({ tensorLen: N, policy: { maxSegmentFrames: 32 } })
}

/** Every segment of `frames` pushed with pushMany, then frame by frame with push, then flushed. */
function segmentsOf(toInput: (f: Float32Array) => unknown): Uint8Array[][] {
  const values = stream(N, FRAMES, 7)
  const many = compressor()
  const out = [...many.pushMany(toInput(values) as Float32Array, 1)]
  out.push(many.flush()!)
  many.free()
  const single = compressor()
  const one: Uint8Array[] = []
  for (let t = 0; t < FRAMES; t++) {
    const seg = single.push(toInput(values.subarray(t * N, (t + 1) * N)) as Float32Array, 1)
    if (seg) one.push(seg)
  }
  one.push(single.flush()!)
  single.free()
  return [out, one]
}

/** `bytes` copied to offset `at` of a fresh buffer (so it starts `at` bytes past a 4-byte boundary). */
function bytesAt(f: Float32Array, at: number): Uint8Array {
  const raw = new Uint8Array(f.buffer, f.byteOffset, f.byteLength)
  const host = new Uint8Array(raw.byteLength + at)
  host.set(raw, at)
  return host.subarray(at)
}

describe(`frame inputs on the ${process.env.TEMPORAL_TENSOR_BACKEND} backend (${kernels})`, () => {
  const reference = segmentsOf((f) => f)

  it('the reference: pushMany and push give the same segments', () => {
    expect(reference[0].length).toBe(2)
    expect(reference[1]).toEqual(reference[0])
  })

  const forms: [string, (f: Float32Array) => unknown][] = [
    ['Float64Array', (f) => Float64Array.from(f)],
    ['number[]', (f) => Array.from(f)],
    ['Buffer', (f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)],
    ['Uint8Array on a 4-byte boundary', (f) => bytesAt(f, 0)],
    ['Uint8Array off a 4-byte boundary (copied)', (f) => bytesAt(f, 1)],
    ['Buffer off a 4-byte boundary (copied)', (f) => Buffer.from(bytesAt(f, 3))],
    ['DataView', (f) => new DataView(f.buffer, f.byteOffset, f.byteLength)],
    ['DataView off a 4-byte boundary (copied)', (f) => { const b = bytesAt(f, 2); return new DataView(b.buffer, b.byteOffset, b.byteLength) }],
  ]
  for (const [name, toInput] of forms) {
    it(`${name}: the same segments, byte for byte, with pushMany and push`, () => {
      const [many, one] = segmentsOf(toInput)
      expect(many).toEqual(reference[0])
      expect(one).toEqual(reference[0])
    })
  }

  it('an aligned byte view is read in place; the Float32Array caller sees no copy either way', () => {
    // Changing the bytes after the call cannot change a segment already returned: segments are copies.
    const values = stream(N, 1, 3)
    const bytes = bytesAt(values, 0)
    const c = compressor()
    c.push(bytes, 1)
    const before = c.peek()!
    bytes.fill(0)
    expect(c.peek()).toEqual(before)
    c.free()
  })

  it('bad inputs: coded errors, and the compressor is unchanged', () => {
    const c = compressor()
    c.push(stream(N, 1, 2), 1)
    const before = c.peek()!
    const f64 = Float64Array.from(stream(N, 2, 4))
    const cases: [unknown, string][] = [
      [new Uint8Array(N * 4 + 2), 'LENGTH_MISMATCH'], // not whole f32 values
      [new DataView(new ArrayBuffer(N * 4 - 1)), 'LENGTH_MISMATCH'],
      [new Uint8Array((N + 1) * 4), 'LENGTH_MISMATCH'], // whole values, not whole frames
      [new Float64Array(N - 1), 'LENGTH_MISMATCH'],
      [new Array(N + 3).fill(0), 'LENGTH_MISMATCH'],
      [Object.assign(f64.slice(), { [5]: Number.NaN }), 'NON_FINITE'],
      [Object.assign(f64.slice(), { [7]: 1e39 }), 'NON_FINITE'], // beyond f32: Infinity
      [Object.assign(Array.from(f64), { [3]: Number.POSITIVE_INFINITY }), 'NON_FINITE'],
      [Object.assign(Array.from(f64), { [3]: '1' }), 'INVALID_ARGUMENT'],
      [new Int16Array(N * 2), 'INVALID_ARGUMENT'],
      ['1,2,3', 'INVALID_ARGUMENT'],
      [{ length: N }, 'INVALID_ARGUMENT'],
      [null, 'INVALID_ARGUMENT'],
    ]
    for (const [input, code] of cases) {
      expectCode(() => c.pushMany(input as Float32Array, 2), code)
      expect(c.peek()).toEqual(before)
    }
    expectCode(() => c.push(new Uint8Array(N * 4 + 1), 2), 'LENGTH_MISMATCH')
    expectCode(() => c.push(Object.assign(new Float64Array(N), { [0]: Number.NaN }), 2), 'NON_FINITE')
    expect(c.peek()).toEqual(before)
    c.free()
  })

  it('detached buffers: INVALID_ARGUMENT for every form', () => {
    const c = compressor()
    /** A view made by `make` on a buffer then detached (transferred). */
    const detached = (make: (b: ArrayBuffer) => unknown) => {
      const buffer = new ArrayBuffer(N * 8)
      const view = make(buffer)
      structuredClone(buffer, { transfer: [buffer] })
      return view as Float32Array
    }
    expectCode(() => c.push(detached((b) => new Float64Array(b, 0, N)), 1), 'INVALID_ARGUMENT')
    expectCode(() => c.push(detached((b) => new Uint8Array(b, 0, N * 4)), 1), 'INVALID_ARGUMENT')
    expectCode(() => c.push(detached((b) => new DataView(b, 0, N * 4)), 1), 'INVALID_ARGUMENT')
    expect(c.activeFrames).toBe(0)
    c.free()
  })

  it('TensorStreamStore.append takes the same inputs', async () => {
    const values = stream(N, 3, 5)
    const a = new TensorStreamStore()
    const b = new TensorStreamStore()
    for (let t = 0; t < 3; t++) {
      const f = values.slice(t * N, (t + 1) * N)
      await a.append('x', f, t)
      await b.append('x', [Array.from(f), Float64Array.from(f), bytesAt(f, 1)][t] as Float32Array, t)
    }
    expect((await b.read('x', 0, 2)).frames).toEqual((await a.read('x', 0, 2)).frames)
    await expect(b.append('x', new Uint8Array(3), 4)).rejects.toMatchObject({ code: 'LENGTH_MISMATCH' })
    await a.close()
    await b.close()
  })
})
