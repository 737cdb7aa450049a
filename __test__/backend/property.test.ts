// Property tests (fast-check) of the facade, run once per backend like the rest of this folder.
// (a) Any sequence of frames, timestamps and access changes round-trips within the bound of the
//     width each segment was stored at; frames holding NaN/±Inf throw NON_FINITE and change
//     nothing (the output equals a reference compressor's that never saw them).
// (b) Any bytes given to the decoders give a result or a TemporalTensorError with a known code.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ERROR_CODES,
  TemporalTensorCompressor,
  TemporalTensorError,
  backend,
  decodeFrame,
  decodeSegment,
  segmentInfo,
  splitSegments,
} from '../../dist/index.mjs'
import { BOUNDS, goldenCases, hex, readBytes, relativeError } from '../helpers.js'

// Modest run counts keep each backend project to a few seconds; FC_NUM_RUNS raises them.
const RUNS = Number(process.env.FC_NUM_RUNS ?? 0)
const runs = (n: number): number => (RUNS > 0 ? RUNS : n)
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }

/** Finite f32 values of every kind: any magnitude (subnormal to f32::MAX), small, zero, ties. */
const finiteValue = fc.oneof(
  { weight: 4, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 4, arbitrary: fc.float({ min: -1, max: 1, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38) },
  { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }).map((k) => k * 0.5) },
)

const u32 = fc.integer({ min: 0, max: 0xffffffff })
/** Timestamps that mostly stay close (so tiers persist) but sometimes jump anywhere. */
const ts = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) }, { weight: 1, arbitrary: u32 })

/** Valid policies (warmMinScore ≤ hotMinScore), so every tier and width appears. */
const policy = fc
  .record({
    hotMinScore: fc.oneof(fc.constant(512), fc.nat(4096), u32),
    warmMinScore: fc.oneof(fc.constant(64), fc.nat(4096)),
    warmBits: fc.constantFrom(5 as const, 7 as const),
    driftPctQ8: fc.integer({ min: 0, max: 256 }),
    groupLen: fc.integer({ min: 1, max: 20 }),
    maxSegmentFrames: fc.integer({ min: 1, max: 6 }),
  })
  .map((p) => ({ ...p, warmMinScore: Math.min(p.warmMinScore, p.hotMinScore) }))

/** A frame of `n` values scaled by one magnitude (so most frames are finite and similar). */
const frame = (n: number) =>
  fc
    .tuple(fc.array(finiteValue, { minLength: n, maxLength: n }), fc.constantFrom(1, 1, 1e-30, 1e30, 1e-40))
    .map(([values, k]) =>
      Float32Array.from(values, (v) => {
        const scaled = Math.fround(v * k)
        return Number.isFinite(scaled) ? scaled : v
      }),
    )

const badValue = fc.constantFrom(NaN, Infinity, -Infinity)

type Op =
  | { kind: 'push'; frame: Float32Array; ts: number }
  | { kind: 'pushMany'; frames: Float32Array; ts: number }
  | { kind: 'bad'; many: boolean; frames: Float32Array; index: number; value: number; ts: number }
  | { kind: 'touch'; ts: number }
  | { kind: 'setAccess'; count: number; last: number }
  | { kind: 'flush' }

function ops(n: number): fc.Arbitrary<Op[]> {
  const concat = (frames: Float32Array[]): Float32Array => {
    const out = new Float32Array(frames.length * n)
    frames.forEach((f, i) => out.set(f, i * n))
    return out
  }
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('push' as const), frame: frame(n), ts }) },
    {
      weight: 3,
      arbitrary: fc
        .record({ frames: fc.array(frame(n), { maxLength: 3 }), ts })
        .map(({ frames, ts }) => ({ kind: 'pushMany' as const, frames: concat(frames), ts })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({ many: fc.boolean(), frames: fc.array(frame(n), { minLength: 1, maxLength: 3 }), at: fc.nat(), value: badValue, ts })
        .map(({ many, frames, at, value, ts }) => {
          const all = concat(many ? frames : frames.slice(0, 1))
          return { kind: 'bad' as const, many, frames: all, index: at % all.length, value, ts }
        }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('touch' as const), ts }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('setAccess' as const), count: fc.oneof(fc.nat(2000), u32), last: ts }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  )
  return fc.array(op, { maxLength: 14 })
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
    return undefined
  } catch (e) {
    expect(e).toBeInstanceOf(TemporalTensorError)
    return (e as TemporalTensorError).code
  }
}

describe(`property tests (${backend})`, () => {
  it('(a) any stream round-trips within bound; NON_FINITE frames change nothing', () => {
    const scenario = fc
      .record({ tensorLen: fc.integer({ min: 1, max: 40 }), policy, nowTs: ts, access: fc.tuple(fc.nat(3000), ts) })
      .chain((s) => fc.record({ s: fc.constant(s), ops: ops(s.tensorLen) }))
    fc.assert(
      fc.property(scenario, ({ s, ops }) => {
        const n = s.tensorLen
        const make = () => {
          const c = new TemporalTensorCompressor({ tensorLen: n, nowTs: s.nowTs, policy: s.policy })
          c.setAccess(s.access[0], s.access[1])
          return c
        }
        const c = make()
        const reference = make() // sees only the operations that succeed
        const segments: Uint8Array[] = []
        const refSegments: Uint8Array[] = []
        const accepted: Float32Array[] = []
        const keep = (out: Uint8Array | Uint8Array[] | null, to: Uint8Array[]) => {
          if (out === null) return
          for (const seg of Array.isArray(out) ? out : [out]) to.push(seg)
        }
        try {
          for (const op of ops) {
            switch (op.kind) {
              case 'push':
                keep(c.push(op.frame, op.ts), segments)
                keep(reference.push(op.frame, op.ts), refSegments)
                accepted.push(op.frame)
                break
              case 'pushMany':
                keep(c.pushMany(op.frames, op.ts), segments)
                keep(reference.pushMany(op.frames, op.ts), refSegments)
                for (let i = 0; i < op.frames.length; i += n) accepted.push(op.frames.slice(i, i + n))
                break
              case 'bad': {
                const before = [c.activeBits, c.activeFrames, c.pendingBytes]
                const poisoned = op.frames.slice()
                poisoned[op.index] = op.value
                const code = codeOf(() => (op.many ? c.pushMany(poisoned, op.ts) : c.push(poisoned, op.ts)))
                expect(code).toBe('NON_FINITE')
                expect([c.activeBits, c.activeFrames, c.pendingBytes]).toEqual(before)
                break
              }
              case 'touch':
                c.touch(op.ts)
                reference.touch(op.ts)
                break
              case 'setAccess':
                c.setAccess(op.count, op.last)
                reference.setAccess(op.count, op.last)
                break
              case 'flush':
                keep(c.flush(), segments)
                keep(reference.flush(), refSegments)
                break
            }
          }
          keep(c.flush(), segments)
          keep(reference.flush(), refSegments)
        } finally {
          c.free()
          reference.free()
        }
        // Failed operations changed nothing: the same bytes as the reference.
        expect(segments.map(hex)).toEqual(refSegments.map(hex))
        // Every accepted frame comes back, in order, within its segment's bound.
        let at = 0
        for (const seg of segments) {
          const info = segmentInfo(seg)
          expect(info.tensorLen).toBe(n)
          expect(info.byteLength).toBe(seg.byteLength)
          const values = decodeSegment(seg)
          expect(values.length).toBe(info.frameCount * n)
          for (let f = 0; f < info.frameCount; f++, at++) {
            const original = accepted[at]
            const got = values.subarray(f * n, (f + 1) * n)
            expect(got.every(Number.isFinite)).toBe(true)
            const err = relativeError(original, got)
            if (!(err < BOUNDS[info.bits])) {
              throw new Error(`frame ${at} at ${info.bits} bits: error ${err}\n${Array.from(original)}\n${Array.from(got)}`)
            }
          }
        }
        expect(at).toBe(accepted.length)
      }),
      { numRuns: runs(500), ...seed },
    )
  })

  it('(b) any bytes give a result or a TemporalTensorError with a known code', () => {
    const known = new Set(Object.keys(ERROR_CODES))
    const golden = goldenCases().map((c) => readBytes(c.tqtc))
    // Raw bytes, and (mostly) golden segments with a few bytes changed, cut short or extended.
    const mutatedGolden = fc
      .record({
        which: fc.nat(golden.length - 1),
        edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        cut: fc.option(fc.nat(), { nil: undefined }),
        trailing: fc.uint8Array({ maxLength: 8 }),
      })
      .map(({ which, edits, cut, trailing }) => {
        const g = golden[which]
        const b = new Uint8Array(g.byteLength + trailing.byteLength)
        b.set(g)
        b.set(trailing, g.byteLength)
        for (const [pos, v] of edits) b[pos % b.length] = v
        return cut === undefined ? b : b.subarray(0, cut % (b.length + 1))
      })
    const bytes = fc.oneof(
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
      { weight: 3, arbitrary: mutatedGolden },
    )
    fc.assert(
      fc.property(bytes, fc.nat(5), (b, index) => {
        const outcome = (f: () => unknown): unknown => {
          try {
            return f()
          } catch (e) {
            expect(e).toBeInstanceOf(TemporalTensorError)
            const code = (e as TemporalTensorError).code
            if (!known.has(code)) throw new Error(`unknown code ${code}`)
            return e
          }
        }
        const info = outcome(() => segmentInfo(b))
        const all = outcome(() => decodeSegment(b))
        const one = outcome(() => decodeFrame(b, index))
        if (info instanceof TemporalTensorError) {
          // Every entry point reports the same validation error.
          expect(all).toBeInstanceOf(TemporalTensorError)
          expect((all as TemporalTensorError).code).toBe(info.code)
          expect((one as TemporalTensorError).code).toBe(info.code)
          return
        }
        const h = info as ReturnType<typeof segmentInfo>
        expect(h.byteLength).toBeLessThanOrEqual(b.byteLength)
        const values = all as Float32Array
        expect(values).toBeInstanceOf(Float32Array)
        expect(values.length).toBe(h.tensorLen * h.frameCount)
        expect(values.every(Number.isFinite)).toBe(true)
        if (index < h.frameCount) {
          expect(Array.from(one as Float32Array)).toEqual(Array.from(values.subarray(index * h.tensorLen, (index + 1) * h.tensorLen)))
        } else {
          expect((one as TemporalTensorError).code).toBe('FRAME_OUT_OF_RANGE')
        }
        // splitSegments: a result or a coded error, too.
        outcome(() => splitSegments(b))
      }),
      { numRuns: runs(500), ...seed },
    )
  })
})
