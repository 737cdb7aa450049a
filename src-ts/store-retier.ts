/**
 * Re-tiering of stored segments: the width a tensor's frames get now (from its access
 * statistics, through the same tier policy that picks the width of appended frames), and the
 * re-encoding of a finished segment to a narrower width within the destination tier's bound
 * against the frames that were appended (ADR-017 §3.4, §8.2). Internal.
 */
import { TemporalTensorCompressor, decodeSegment, segmentInfo } from './api.js'
import type { SegmentFormat, TierPolicyOptions } from './api.js'
import { TemporalTensorError } from './errors.js'
import { ERROR_BOUNDS, type StoredSegment } from './store-types.js'

/** A count or tick clamped to the u32 range the compressor takes. */
export const u32 = (n: number): number => Math.min(0xffffffff, Math.max(0, Math.round(n)))

/**
 * The width a tensor's frames would get at `tick`, as its own compressor's policy picks it,
 * given its access count as of its last access and that access's tick. Every push sets the same
 * statistics first, so asking changes nothing the tensor relies on.
 */
export function currentBits(compressor: TemporalTensorCompressor, accessCount: number, accessTick: number, tick: number): number {
  compressor.setAccess(u32(accessCount), u32(accessTick))
  return compressor.bitsAt(tick)
}

/**
 * `old` (a segment of a tensor of `tensorLen` values per frame) re-encoded at `bits` in
 * `format`: the new segments' bytes in order, with the bound they keep against the appended
 * frames, or `null` if that would break the bound.
 *
 * The frames of `old` are within `bSrc = old.bound` of the appended ones (`|v − v'| < bSrc·M`
 * with `M = max|v|`, so `M' = max|v'| < (1 + bSrc)·M`). Re-encoding `v'` into `v''` with
 * `|v' − v''| ≤ b'·M'` and `b' = (bDst − bSrc) / (1 + bSrc)` gives
 * `|v − v''| < bSrc·M + b'·(1 + bSrc)·M = bDst·M`: the destination bound against the
 * appended frames. A naive re-encoding at `bDst` could reach `bSrc + bDst·(1 + bSrc)`.
 *
 * Coded: the compressor is given `b'` as its bound (and the width pinned with `fixedBits`),
 * so it keeps it by construction. Packed: widths have fixed steps, so the frames are encoded
 * at the pinned width and each is checked against `b'·M'`; one frame over it keeps `old`.
 * Both are checked here before anything changes.
 */
export function reencode(
  tensorLen: number,
  old: StoredSegment,
  bits: number,
  format: SegmentFormat,
  policy: TierPolicyOptions | undefined,
): { parts: Uint8Array[]; bound: number } | null {
  const n = tensorLen
  const bSrc = old.bound
  const bDst = ERROR_BOUNDS[bits]
  if (bDst === undefined || !(bDst > bSrc)) return null
  const budget = (bDst - bSrc) / (1 + bSrc)
  const decoded = decodeSegment(old.bytes, { maxValues: old.frames * n })
  const c = new TemporalTensorCompressor({
    tensorLen: n,
    policy: { ...policy, fixedBits: bits as 3 | 5 | 7 | 8 },
    format,
    ...(format === 'coded' ? { bound: budget } : {}),
  })
  let parts: Uint8Array[]
  try {
    parts = c.pushMany(decoded, 0)
    const last = c.flush()
    if (last) parts.push(last)
  } finally {
    c.free()
  }
  // Every frame within the budget of the frames it was re-encoded from.
  let frame = 0
  for (const part of parts) {
    const values = decodeSegment(part, { maxValues: old.frames * n })
    for (let f = 0; f < values.length / n; f++, frame++) {
      let maxAbs = 0
      let maxErr = 0
      for (let i = 0; i < n; i++) {
        const d = decoded[frame * n + i]
        maxAbs = Math.max(maxAbs, Math.abs(d))
        maxErr = Math.max(maxErr, Math.abs(d - values[f * n + i]))
      }
      if (maxErr > budget * maxAbs) return null
    }
  }
  if (frame !== old.frames) {
    throw new TemporalTensorError('INTERNAL', `re-encoding ${old.frames} frames gave ${frame}`)
  }
  return { parts, bound: bDst }
}

/** Frames in each of `parts` (segments just written, so their headers are sound). */
export const frameCounts = (parts: Uint8Array[]): number[] => parts.map((p) => segmentInfo(p).frameCount)
