// The public facade, run once per backend (see vitest.config.ts) with identical expectations.
import { describe, expect, it } from 'vitest'
import {
  ERROR_BOUNDS,
  TemporalTensorCompressor,
  backend,
  errorBound,
  kernels,
  kernelsReason,
  decodeFrame,
  decodeSegment,
  decodeSegmentInto,
  defaultMaxSegmentFrames,
  segmentInfo,
  splitSegments,
} from '../../dist/index.mjs'
import {
  BOUNDS,
  expectCode,
  goldenCases,
  hex,
  readBytes,
  readFloats,
  relativeError,
  stream,
} from '../helpers.js'

const N = 64

/** A compressor pinned to a width, in the given format (packed unless told). */
function pinned(bits: 8 | 7 | 5 | 3, tensorLen = N, format: 'coded' | 'packed' = 'packed'): TemporalTensorCompressor {
  return new TemporalTensorCompressor({ tensorLen, format, policy: { fixedBits: bits } })
}

function compressAll(c: TemporalTensorCompressor, frames: Float32Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let t = 0; t < frames.length / n; t++) {
    const seg = c.push(frames.subarray(t * n, (t + 1) * n), 0)
    if (seg) out.push(seg)
  }
  const last = c.flush()
  if (last) out.push(last)
  return out
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

describe(`facade on the ${process.env.TEMPORAL_TENSOR_BACKEND} backend (${kernels})`, () => {
  it('loaded the backend and kernels it was asked for', () => {
    expect(backend).toBe(process.env.TEMPORAL_TENSOR_BACKEND)
    const expected =
      backend === 'wasm'
        ? process.env.TEMPORAL_TENSOR_WASM_SIMD === '0'
          ? 'scalar'
          : 'simd128'
        : process.env.TEMPORAL_TENSOR_FORCE_SCALAR === '1'
          ? 'scalar'
          : undefined
    if (expected) expect(kernels).toBe(expected)
    else expect(['avx2+bmi2', 'avx2', 'neon', 'scalar']).toContain(kernels)
  })

  it('says why those kernels are in use', () => {
    expect(typeof kernelsReason).toBe('string')
    expect(kernelsReason.length).toBeGreaterThan(10)
    if (backend === 'wasm') {
      expect(kernelsReason).toMatch(process.env.TEMPORAL_TENSOR_WASM_SIMD === '0' ? /baseline/ : /simd128 module/)
    } else if (process.env.TEMPORAL_TENSOR_FORCE_SCALAR === '1') {
      expect(kernelsReason).toMatch(/TEMPORAL_TENSOR_FORCE_SCALAR/)
    } else {
      expect(kernelsReason).not.toMatch(/TEMPORAL_TENSOR_FORCE_SCALAR/)
    }
  })

  describe('golden vectors of the Rust core', () => {
    for (const g of goldenCases()) {
      it(`${g.name}: same bytes, same decoded values`, () => {
        const c = new TemporalTensorCompressor({
          tensorLen: g.tensorLen,
          nowTs: 0,
          policy: g.policy,
          format: g.format,
          keyframeInterval: g.keyframeInterval,
        })
        c.setAccess(g.accessCount, g.lastAccessTs)
        const parts = compressAll(c, readFloats(g.input), g.tensorLen)
        expect(parts).toHaveLength(g.segments)
        const golden = readBytes(g.tqtc)
        expect(hex(concat(parts))).toBe(hex(golden))
        const decoded = concat(splitSegments(golden).map((s) => new Uint8Array(decodeSegment(s).buffer)))
        expect(hex(decoded)).toBe(hex(readBytes(g.decoded)))
        for (const seg of parts) {
          const info = segmentInfo(seg)
          expect(info.bits).toBe(g.bits)
          expect(info.format).toBe(g.format)
          expect(info.version === 5).toBe(g.format === 'coded')
          expect(info.byteLength).toBe(seg.byteLength)
          expect(info.tensorLen).toBe(g.tensorLen)
        }
      })
    }
  })

  describe('coded format (TQTC v5; v3 and v4 read)', () => {
    for (const [version, g] of [3, 4].flatMap((v) => goldenCases(`coded-v${v}/`).map((g) => [v, g] as const))) {
      it(`${g.name}: a version-${version} segment still decodes bit for bit, whole and frame by frame`, () => {
        const seg = readBytes(`coded-v${version}/${g.tqtc}`)
        const expected = readBytes(`coded-v${version}/${g.decoded}`)
        const info = segmentInfo(seg)
        expect([info.format, info.version, info.frameCount]).toEqual(['coded', version, g.frames])
        expect(hex(new Uint8Array(decodeSegment(seg).buffer))).toBe(hex(expected))
        for (let i = 0; i < g.frames; i++) {
          const one = new Uint8Array(decodeFrame(seg, i).buffer)
          expect(hex(one)).toBe(hex(expected.subarray(i * 4 * g.tensorLen, (i + 1) * 4 * g.tensorLen)))
        }
      })
    }

    it('reports its format, bound and keyframe interval', () => {
      const c = new TemporalTensorCompressor({ tensorLen: N, format: 'coded', keyframeInterval: 5, policy: { fixedBits: 7 } })
      expect(c.format).toBe('coded')
      const seg = c.pushMany(stream(N, 12), 0).concat(c.flush() ?? [])[0]
      expect(segmentInfo(seg)).toEqual({
        format: 'coded',
        version: 5,
        bits: 7,
        bound: 0.016,
        groupLen: 0,
        tensorLen: N,
        frameCount: 12,
        scaleCount: 0,
        keyframeInterval: 5,
        byteLength: seg.byteLength,
      })
      for (let i = 0; i < 12; i++) {
        expect(decodeFrame(seg, i)).toEqual(decodeSegment(seg).subarray(i * N, (i + 1) * N))
      }
    })

    it('by default a coded segment holds about 2^17 values, a packed one 128 frames', () => {
      for (const [format, tensorLen, frames] of [['coded', 64, 2048], ['coded', 1000, 132], ['packed', 64, 128]] as const) {
        expect(defaultMaxSegmentFrames(format, tensorLen)).toBe(frames)
        const c = new TemporalTensorCompressor({ tensorLen, format, policy: { fixedBits: 3 } })
        const one = stream(tensorLen, 1, 3)
        const same = new Float32Array((frames + 1) * tensorLen).map((_, i) => one[i % tensorLen]) // no drift
        const segs = c.pushMany(same, 0)
        expect(segs.map((s) => segmentInfo(s).frameCount)).toEqual([frames])
        expect(segmentInfo(c.flush()!).frameCount).toBe(1)
        c.free()
      }
    })

    it('peek() returns the open coded segment, readable, on every backend', () => {
      const frames = stream(N, 7, 6)
      const c = new TemporalTensorCompressor({ tensorLen: N, format: 'coded' })
      expect(c.pushMany(frames, 0)).toEqual([])
      const snap = c.peek()!
      expect(snap.byteLength).toBeLessThanOrEqual(c.pendingBytes)
      expect(segmentInfo(snap).frameCount).toBe(7)
      expect(decodeSegment(snap)).toEqual(decodeSegment(c.flush()!))
    })

    it('keeps a custom bound and labels segments with it', () => {
      const frames = stream(N, 40, 9)
      const c = new TemporalTensorCompressor({ tensorLen: N, format: 'coded', bound: 0.1, policy: { fixedBits: 3 } })
      const segs = [...c.pushMany(frames, 0), c.flush()!]
      let t = 0
      for (const seg of segs) {
        expect(segmentInfo(seg).bound).toBe(0.1)
        const all = decodeSegment(seg)
        for (let i = 0; i < segmentInfo(seg).frameCount; i++, t++) {
          expect(relativeError(frames.subarray(t * N, (t + 1) * N), all.subarray(i * N, (i + 1) * N))).toBeLessThan(0.1)
        }
      }
      expect(t).toBe(40)
    })

    it('rejects bad options with coded errors', () => {
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, format: 'zip' as never }), 'INVALID_ARGUMENT')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, format: 'coded', bound: 1.5 }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, format: 'coded', bound: 0 }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, format: 'packed', bound: 0.1 }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, format: 'coded', keyframeInterval: 0 }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, policy: { fixedBits: 4 as never } }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: N, policy: { constructor: 1 } as never }), 'INVALID_ARGUMENT')
    })

    it('damaged or truncated coded bytes give coded errors, never wrong values', () => {
      const c = pinned(8, N, 'coded')
      const seg = [...c.pushMany(stream(N, 20, 4), 0), c.flush()!][0]
      for (let at = 0; at < seg.byteLength; at += 7) {
        const bad = seg.slice()
        bad[at] ^= 0x10
        let code = ''
        try {
          decodeSegment(bad)
        } catch (e) {
          code = (e as { code: string }).code
        }
        expect(['CORRUPT_SEGMENT', 'TRUNCATED', 'BAD_MAGIC', 'UNSUPPORTED_VERSION']).toContain(code)
      }
      expectCode(() => decodeSegment(seg.subarray(0, seg.byteLength - 1)), 'TRUNCATED')
      expectCode(() => decodeFrame(seg, 20), 'FRAME_OUT_OF_RANGE')
    })

    it('is smaller than packed at every tier on a drifting stream', () => {
      const frames = stream(N, 200, 3)
      for (const bits of [8, 7, 5, 3] as const) {
        const size = (format: 'coded' | 'packed') => {
          const c = pinned(bits, N, format)
          return [...c.pushMany(frames, 0), c.flush()!].reduce((n, s) => n + s.byteLength, 0)
        }
        expect(size('coded')).toBeLessThan(size('packed'))
      }
    })
  })

  describe('the width the policy picks, and its bound', () => {
    it('errorBound is ADR-017 §8.2 for widths and tiers; ERROR_BOUNDS lists it', () => {
      expect([8, 7, 5, 3].map((b) => errorBound(b))).toEqual([0.008, 0.016, 0.065, 0.3])
      expect(['hot', 'warm', 'cold'].map((t) => errorBound(t as 'hot'))).toEqual([0.008, 0.016, 0.3])
      expect({ ...ERROR_BOUNDS }).toEqual({ 8: 0.008, 7: 0.016, 5: 0.065, 3: 0.3 })
      for (const bad of [4, 0, 9, 7.5, 'lukewarm', 'constructor']) {
        expectCode(() => errorBound(bad as number), 'INVALID_ARGUMENT')
      }
    })

    it('bitsAt follows the access statistics, changes nothing, and is what push uses', () => {
      const c = new TemporalTensorCompressor({ tensorLen: N, format: 'packed' })
      expect(c.bitsAt(10)).toBe(3)
      c.setAccess(1, 10) // score 1024 at 10, 68 at 24, 60 at 26
      expect([c.bitsAt(10), c.bitsAt(24), c.bitsAt(26)]).toEqual([8, 7, 3])
      expect(c.activeBits).toBeNull()
      c.push(new Float32Array(N).fill(1), 24)
      expect(c.activeBits).toBe(7)
      const warm5 = new TemporalTensorCompressor({ tensorLen: N, policy: { warmBits: 5 } })
      warm5.setAccess(1, 10)
      expect(warm5.bitsAt(24)).toBe(5)
      expect(pinned(5).bitsAt(0)).toBe(5)
      expectCode(() => c.bitsAt(-1), 'INVALID_ARGUMENT')
      c.free()
      expectCode(() => c.bitsAt(0), 'INVALID_HANDLE')
      warm5.free()
    })
  })

  describe('round trips', () => {
    for (const [bits, format] of [8, 7, 5, 3].flatMap((b) => [[b, 'packed'], [b, 'coded']] as const)) {
      it(`${format} ${bits}-bit: every frame within the ADR-017 bound, random access agrees`, () => {
        const frames = stream(N, 120, bits)
        const segments = compressAll(pinned(bits as 8 | 7 | 5 | 3, N, format), frames, N)
        let t = 0
        for (const seg of segments) {
          const info = segmentInfo(seg)
          expect(info.bits).toBe(bits)
          expect(info.format).toBe(format)
          expect(info.bound).toBe(BOUNDS[bits])
          const all = decodeSegment(seg)
          expect(all).toHaveLength(info.frameCount * N)
          for (let i = 0; i < info.frameCount; i++, t++) {
            const frame = decodeFrame(seg, i)
            expect(frame).toEqual(all.subarray(i * N, (i + 1) * N))
            expect(relativeError(frames.subarray(t * N, (t + 1) * N), frame)).toBeLessThan(BOUNDS[bits])
          }
        }
        expect(t).toBe(120)
      })
    }

    it('pushMany gives the same segments as pushing frame by frame', () => {
      const frames = stream(N, 90, 5)
      const one = compressAll(pinned(8), frames, N)
      const c = pinned(8)
      const batch = [...c.pushMany(frames, 0), c.flush()!]
      expect(batch.map(hex)).toEqual(one.map(hex))
    })

    it('reports tier, frames and pending bytes', () => {
      const c = new TemporalTensorCompressor({ tensorLen: N, format: 'packed' })
      expect(c.activeBits).toBeNull()
      expect(c.activeFrames).toBe(0)
      expect(c.tensorLen).toBe(N)
      c.push(stream(N, 1), 0)
      expect(c.activeBits).toBe(3) // no accesses: cold
      c.touch(1)
      c.setAccess(100, 0)
      c.push(stream(N, 1), 1)
      expect(c.activeBits).toBe(8)
      expect(c.activeFrames).toBe(1)
      expect(c.pendingBytes).toBe(26 + 2 + N)
    })

    it('coded: pending bytes bound what a flush emits, and stay near it', () => {
      const c = new TemporalTensorCompressor({ tensorLen: N })
      expect(c.format).toBe('coded')
      c.push(stream(N, 1), 0)
      const pending = c.pendingBytes
      const seg = c.flush()!
      expect(seg.byteLength).toBeLessThanOrEqual(pending)
      expect(pending).toBeLessThan(4 * N + 100)
    })

    it('decodeSegmentInto fills a caller buffer, or writes nothing when it is too small', () => {
      const c = pinned(7)
      c.pushMany(stream(N, 6, 8), 0)
      const seg = c.flush()!
      const out = new Float32Array(6 * N + 3).fill(-1)
      expect(decodeSegmentInto(seg, out)).toBe(6 * N)
      expect(out.subarray(0, 6 * N)).toEqual(decodeSegment(seg))
      expect(out[6 * N]).toBe(-1)
      const small = new Float32Array(6 * N - 1).fill(-1)
      expectCode(() => decodeSegmentInto(seg, small), 'BUFFER_TOO_SMALL')
      expect(small.every((v) => v === -1)).toBe(true)
      expectCode(() => decodeSegmentInto(seg, new Float64Array(6 * N) as never), 'INVALID_ARGUMENT')
    })

    it('peek shows the open segment without closing it', () => {
      const c = pinned(3)
      expect(c.peek()).toBeNull()
      c.pushMany(stream(N, 5, 4), 0)
      const frames = c.activeFrames
      const snapshot = c.peek()!
      expect(c.activeFrames).toBe(frames)
      expect(segmentInfo(snapshot).frameCount).toBe(frames)
      expect(hex(c.flush()!)).toBe(hex(snapshot))
    })

    it('decodes Buffers and views with an offset', () => {
      const c = pinned(5)
      c.pushMany(stream(N, 3), 0)
      const bytes = c.flush()!
      const padded = new Uint8Array(bytes.byteLength + 7)
      padded.set(bytes, 3)
      const view = padded.subarray(3, 3 + bytes.byteLength)
      expect(decodeSegment(view)).toEqual(decodeSegment(bytes))
      expect(decodeSegment(Buffer.from(bytes))).toEqual(decodeSegment(bytes))
      expect(decodeSegment(bytes)).toHaveLength(3 * N)
    })
  })

  describe('errors: coded, and nothing changes', () => {
    it('wrong frame length and non-finite values leave the compressor as it was', () => {
      const frames = stream(N, 10, 9)
      const reference = pinned(8)
      const c = pinned(8)
      const expected: string[] = []
      const got: string[] = []
      for (let t = 0; t < 10; t++) {
        const frame = frames.subarray(t * N, (t + 1) * N)
        const before = [c.activeFrames, c.pendingBytes]
        expectCode(() => c.push(frame.subarray(1), 0), 'LENGTH_MISMATCH')
        for (const bad of [NaN, Infinity, -Infinity]) {
          const poisoned = frame.slice()
          poisoned[t] = bad
          expectCode(() => c.push(poisoned, 0), 'NON_FINITE')
        }
        expect([c.activeFrames, c.pendingBytes]).toEqual(before)
        const a = c.push(frame, 0)
        const b = reference.push(frame, 0)
        if (a) got.push(hex(a))
        if (b) expected.push(hex(b))
      }
      expect(got).toEqual(expected)
      expect(hex(c.flush()!)).toBe(hex(reference.flush()!))
    })

    it('pushMany is all or nothing', () => {
      const c = pinned(3)
      c.push(stream(N, 1), 0)
      const frames = stream(N, 5, 2)
      frames[3 * N + 7] = NaN
      expectCode(() => c.pushMany(frames, 0), 'NON_FINITE')
      expectCode(() => c.pushMany(frames.subarray(0, N + 1), 0), 'LENGTH_MISMATCH')
      expect(c.activeFrames).toBe(1)
    })

    it('arguments of the wrong type or range', () => {
      const c = new TemporalTensorCompressor({ tensorLen: 4 })
      expectCode(() => c.push(['1', '2', '3', '4'] as unknown as Float32Array, 0), 'INVALID_ARGUMENT')
      expectCode(() => c.push(new Int16Array(4) as unknown as Float32Array, 0), 'INVALID_ARGUMENT')
      for (const ts of [-1, 1.5, 2 ** 32, NaN, '3']) {
        expectCode(() => c.push(new Float32Array(4), ts as number), 'INVALID_ARGUMENT')
      }
      expectCode(() => c.setAccess(-1, 0), 'INVALID_ARGUMENT')
      expectCode(() => decodeSegment('TQTC' as unknown as Uint8Array), 'INVALID_ARGUMENT')
      expectCode(() => decodeFrame(new Uint8Array(40), -1), 'INVALID_ARGUMENT')
      expectCode(() => new TemporalTensorCompressor(undefined as never), 'INVALID_ARGUMENT')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 4, policy: { warmbits: 5 } as never }), 'INVALID_ARGUMENT')
      expect(c.activeFrames).toBe(0)
    })

    it('invalid configuration', () => {
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 0 }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 2 ** 24 + 1 }), 'LIMIT_EXCEEDED')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 8, policy: { warmBits: 6 as 5 } }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 8, policy: { groupLen: 0 } }), 'INVALID_CONFIG')
      expectCode(() => new TemporalTensorCompressor({ tensorLen: 8, policy: { warmMinScore: 1000 } }), 'INVALID_CONFIG')
    })

    it('truncated, corrupt and unknown-version segments', () => {
      const c = pinned(7)
      c.pushMany(stream(N, 4), 0)
      const seg = c.flush()!
      for (let len = 0; len < seg.byteLength; len += 7) {
        expectCode(() => decodeSegment(seg.subarray(0, len)), 'TRUNCATED')
        expectCode(() => segmentInfo(seg.subarray(0, len)), 'TRUNCATED')
      }
      const bad = (at: number, value: number): Uint8Array => {
        const copy = seg.slice()
        copy[at] = value
        return copy
      }
      expectCode(() => decodeSegment(bad(0, 0)), 'BAD_MAGIC')
      expectCode(() => decodeSegment(bad(4, 9)), 'UNSUPPORTED_VERSION')
      expectCode(() => decodeSegment(bad(5, 0)), 'CORRUPT_SEGMENT')
      expectCode(() => decodeFrame(bad(14, 99), 0), 'CORRUPT_SEGMENT')
      expectCode(() => decodeFrame(seg, 4), 'FRAME_OUT_OF_RANGE')
      expect(decodeFrame(seg, 3)).toHaveLength(N)
    })

    it('any bytes given to decode give a result or a coded error', () => {
      let seed = 7
      const next = () => (seed = (seed * 1103515245 + 12345) >>> 0)
      const c = pinned(5)
      c.pushMany(stream(N, 3), 0)
      const seg = c.flush()!
      for (let round = 0; round < 2000; round++) {
        const bytes = seg.slice(0, next() % (seg.byteLength + 1))
        for (let k = next() % 4; k >= 0 && bytes.length > 0; k--) bytes[next() % bytes.length] = next() & 0xff
        try {
          const out = decodeSegment(bytes)
          expect(out.every(Number.isFinite)).toBe(true)
        } catch (e) {
          expect((e as Error).name).toBe('TemporalTensorError')
        }
      }
    })

    it('use after free is INVALID_HANDLE; free is idempotent', () => {
      const c = new TemporalTensorCompressor({ tensorLen: 4 })
      c.push(new Float32Array([1, 2, 3, 4]), 0)
      c.free()
      c.free()
      expect(c.freed).toBe(true)
      expectCode(() => c.push(new Float32Array(4), 0), 'INVALID_HANDLE')
      expectCode(() => c.flush(), 'INVALID_HANDLE')
      expectCode(() => c.activeBits, 'INVALID_HANDLE')
      // Other compressors are unaffected.
      const d = new TemporalTensorCompressor({ tensorLen: 4 })
      d.push(new Float32Array([1, 2, 3, 4]), 0)
      expect(d.activeFrames).toBe(1)
    })
  })
})
