/** Limits shared by the facade and both backends. Internal (re-exported by the API). */
import { TemporalTensorError } from './errors.js'

/**
 * Most values `decodeSegment` returns from one segment: 2^28 (1 GiB of f32), on every backend
 * (the core's `limits::MAX_DECODE_VALUES`). A coded segment can describe far more values than it
 * has bytes (71 bytes can hold 17 frames of 2^24 zeros), so a larger one is `LIMIT_EXCEEDED`
 * before anything is allocated; decode it frame by frame (`decodeFrame`) or into your own buffer
 * (`decodeSegmentInto`, native backend).
 */
export const MAX_DECODE_VALUES = 2 ** 28

/**
 * Whether a segment's version byte names the coded layout (3, 4 or 5; `docs/format.md`);
 * versions 1 and 2 are packed. Every coded version keeps the segment's length at byte 24. The
 * core's list is pinned in `tests/vectors/defaults.json`, and a test checks this one against it.
 */
export function isCodedVersion(version: number): boolean {
  return version >= 3 && version <= 5
}

/** The `LIMIT_EXCEEDED` error of a segment that decodes to too many values. */
export function limitExceeded(values: number, max: number): TemporalTensorError {
  return new TemporalTensorError('LIMIT_EXCEEDED', `decoded values ${values} exceeds the maximum ${max}`)
}
