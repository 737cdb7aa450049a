// Re-tiering keeps the colder tier's bound against the frames that were appended, not only
// against the decoded frames it re-encodes: property tests over random, drifting and spiky
// streams for both formats, and frames on which a naive re-encoding (at the colder bound,
// ignoring the error the hotter encoding already made) breaks the bound.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TemporalTensorCompressor, TensorStreamStore, decodeSegment } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { embeddingStream } from '../bin/trace.mjs'
import { BOUNDS, relativeError, rng } from './helpers.js'

const FORMATS = ['packed', 'coded'] as const
type Format = (typeof FORMATS)[number]

const RUNS = Number(process.env.FC_NUM_RUNS ?? 0)
const runs = (n: number): number => (RUNS > 0 ? RUNS : n)
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }

type Kind = 'uniform' | 'drift' | 'embedding' | 'spiky'

/** `count` frames of `n` values of one kind, from `seed`. */
function frames(kind: Kind, n: number, count: number, seed: number): Float32Array[] {
  const next = rng(seed)
  const out: Float32Array[] = []
  if (kind === 'embedding') {
    const stream = embeddingStream(n, seed)
    for (let t = 0; t < count; t++) out.push(stream())
    return out
  }
  const state = Float32Array.from({ length: n }, () => next() * 2 - 1)
  let scale = 1
  for (let t = 0; t < count; t++) {
    const f = new Float32Array(n)
    if (kind === 'uniform') {
      for (let i = 0; i < n; i++) f[i] = next() * 2 - 1
    } else if (kind === 'drift') {
      // A random walk whose magnitude jumps by 10x now and then.
      if (next() < 0.05) scale *= next() < 0.5 ? 0.1 : 10
      for (let i = 0; i < n; i++) {
        state[i] += (next() - 0.5) * 0.1
        f[i] = state[i] * scale
      }
    } else {
      // Mostly zeros and tiny values, one large value, magnitudes from 1e-30 to 1e30.
      const magnitude = 10 ** (next() * 60 - 30)
      for (let i = 0; i < n; i++) f[i] = next() < 0.5 ? 0 : (next() - 0.5) * 1e-3 * magnitude
      f[Math.floor(next() * n)] = (next() < 0.5 ? -1 : 1) * magnitude
    }
    out.push(f)
  }
  return out
}

/**
 * Timestamps in microseconds, ticks in seconds: every frame is appended at tick 0 right after
 * one access (score 1024: hot). At tick 10 the score is 1024 / 11 = 93 (warm), at tick 100 it
 * is 10 (cold).
 */
const tick = (ts: number): number => Math.floor(ts / 1e6)
const WARM_TS = 10e6
const COLD_TS = 100e6

/** A store holding `originals` as hot, finished segments. */
async function hotStore(format: Format, originals: Float32Array[], policy: { maxSegmentFrames: number; warmBits: 5 | 7 }) {
  const store = new TensorStreamStore({ retier: false, format, tick, policy })
  await store.touch('x', 0)
  for (const [k, f] of originals.entries()) await store.append('x', f, k)
  await store.refresh('x')
  expect(store.lineage('x').every((s) => s.bits === 8 && s.format === format)).toBe(true)
  return store
}

async function retierAll(store: TensorStreamStore, ts: number): Promise<void> {
  while ((await store.retier(ts, 1000)) > 0) {
    // Bounded steps until nothing is left to try.
  }
}

/** Every frame read back within its segment's bound (and `limit`) of the original; the worst error. */
async function expectWithinBounds(store: TensorStreamStore, originals: Float32Array[], limit: number): Promise<number> {
  const n = originals[0].length
  const { frames } = await store.read('x', 0, Number.MAX_SAFE_INTEGER)
  const lineage = store.lineage('x')
  for (const s of lineage) expect(s.bound).toBe(BOUNDS[s.bits]) // the tier's bound against the originals
  const boundAt = lineage.flatMap((s) => Array<number>(s.frames).fill(s.bound))
  expect(boundAt.length).toBe(originals.length)
  let worst = 0
  for (const [k, original] of originals.entries()) {
    const err = relativeError(original, frames.subarray(k * n, (k + 1) * n))
    expect(err, `frame ${k}`).toBeLessThan(boundAt[k])
    expect(err, `frame ${k}`).toBeLessThan(limit)
    worst = Math.max(worst, err)
  }
  return worst
}

const scenario = fc.record({
  kind: fc.constantFrom<Kind>('uniform', 'drift', 'embedding', 'spiky'),
  seed: fc.nat(),
  n: fc.integer({ min: 1, max: 48 }),
  count: fc.integer({ min: 1, max: 120 }),
  maxSegmentFrames: fc.integer({ min: 1, max: 40 }),
  warmBits: fc.constantFrom<5 | 7>(5, 7),
  viaWarm: fc.boolean(),
})

describe.each(FORMATS)('re-tiering %s segments', (format) => {
  it('hot → (warm →) cold: every frame within the destination tier\'s bound of the original', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const originals = frames(s.kind, s.n, s.count, s.seed)
        const store = await hotStore(format, originals, { maxSegmentFrames: s.maxSegmentFrames, warmBits: s.warmBits })
        if (s.viaWarm) {
          await retierAll(store, WARM_TS)
          const bits = store.lineage('x').map((seg) => seg.bits)
          // Coded re-encoding cannot fail; packed keeps a segment whose frames would break the budget.
          if (format === 'coded') expect(bits.every((b) => b === s.warmBits)).toBe(true)
          else expect(bits.every((b) => b === s.warmBits || b === 8)).toBe(true)
          await expectWithinBounds(store, originals, BOUNDS[s.warmBits])
        }
        await retierAll(store, COLD_TS)
        const lineage = store.lineage('x')
        if (format === 'coded') {
          expect(lineage.every((seg) => seg.bits === 3 && seg.reencodedFrom === 8)).toBe(true)
        }
        await expectWithinBounds(store, originals, BOUNDS[3])
        await store.close()
      }),
      { numRuns: runs(150), ...seed },
    )
  }, 120_000)
})

/** `values` (frames back to back) encoded at `bits` in `format` and decoded. */
function roundTrip(values: Float32Array, n: number, format: Format, bits: 3 | 5 | 7 | 8): Float32Array {
  const c = new TemporalTensorCompressor({ tensorLen: n, format, policy: { fixedBits: bits } })
  const segments = c.pushMany(values, 0)
  const last = c.flush()
  if (last) segments.push(last)
  c.free()
  const out = new Float32Array(values.length)
  let at = 0
  for (const seg of segments) {
    const d = decodeSegment(seg)
    out.set(d, at)
    at += d.length
  }
  return out
}

describe('the budget is needed: a naive re-encoding breaks the bound on some frames', () => {
  // Independent uniform values: no prediction helps, so the colder encoding's rounding errors
  // reach its full bound and add to the hot encoding's.
  for (const [format, warmBits, target, count] of [
    ['coded', 5, 3, 300],
    ['coded', 5, 5, 300],
    ['packed', 7, 7, 2000],
  ] as const) {
    it(`${format}, hot → ${target} bits`, async () => {
      const n = 16
      const originals = frames('uniform', n, count, 42)
      const store = await hotStore(format, originals, { maxSegmentFrames: 128, warmBits })
      const hot = (await store.read('x', 0, Number.MAX_SAFE_INTEGER)).frames
      const naive = roundTrip(hot, n, format, target)
      let over = 0
      for (const [k, original] of originals.entries()) {
        if (!(relativeError(original, naive.subarray(k * n, (k + 1) * n)) < BOUNDS[target])) over++
      }
      expect(over).toBeGreaterThan(0)

      await retierAll(store, target === 3 ? COLD_TS : WARM_TS)
      const worst = await expectWithinBounds(store, originals, BOUNDS[target])
      const narrowed = store.lineage('x').filter((s) => s.bits === target).length
      if (format === 'coded') expect(narrowed).toBe(store.lineage('x').length)
      console.log(`${format} hot → ${target} bits: naive re-encoding ${over}/${count} frames over ${BOUNDS[target]}; ` +
        `budgeted: ${narrowed}/${store.lineage('x').length} segments narrowed, worst ${worst.toFixed(4)}`)
      await store.close()
    })
  }
})
