/** The contract each backend (native addon, WebAssembly) implements. Internal. */
import { TemporalTensorError } from './errors.js'
import { isCodedVersion } from './limits.js'

/** Resolved tier policy, every field present (see `TierPolicyOptions`). */
export interface ResolvedPolicy {
  hotMinScore: number
  warmMinScore: number
  warmBits: number
  driftPctQ8: number
  groupLen: number
  maxSegmentFrames: number
  /** 0: the tiers decide; else 8, 7, 5 or 3 for every frame. */
  fixedBits: number
}

/** Segment format: `'coded'` (TQTC v5; v3 and v4 read too) or `'packed'` (v1/v2, the ADR's fixed-width layout). */
export type SegmentFormat = 'coded' | 'packed'

/** How a compressor writes segments, every field present. */
export interface ResolvedCoding {
  format: SegmentFormat
  /** Frames per keyframe block of coded segments, 1..=65535. */
  keyframeInterval: number
  /** A bound coded segments keep instead of the tiers' (0: the tiers'). */
  bound: number
}

/** Snapshot of a compressor's state. */
export interface CompressorState {
  tensorLen: number
  /** 0 when no segment is open. */
  activeBits: number
  activeFrames: number
  pendingBytes: number
  accessCount: number
  lastAccessTs: number
}

/** Header fields of a segment. */
export interface SegmentInfo {
  /** `'packed'` (versions 1 and 2) or `'coded'` (versions 3 to 5). */
  format: SegmentFormat
  /** Format version: 1 (packed, f16 scales), 2 (packed, f32 scales), 3 or 4 (coded; 4 is written). */
  version: number
  /** Bits per code, 1..=8 (this library writes 8, 7, 5 or 3); for coded segments the packed
   * width whose bound they keep. */
  bits: number
  /** The bound on max|v − v'| / max|v| every frame of the segment keeps (0.008 for 8 bits...). */
  bound: number
  /** Values per quantization group (0 for coded segments). */
  groupLen: number
  /** Values per frame. */
  tensorLen: number
  /** Frames in the segment. */
  frameCount: number
  /** Number of group scales (0 for coded segments). */
  scaleCount: number
  /** Most frames decoding one frame touches: 1 for packed, the keyframe interval for coded. */
  keyframeInterval: number
  /** Length of the segment in bytes (bytes after it are not part of it). */
  byteLength: number
}

/** One compressor inside a backend. Arguments are already validated by the facade. */
export interface BackendCompressor {
  push(frame: Float32Array, nowTs: number): Uint8Array | null
  pushMany(frames: Float32Array, nowTs: number): Uint8Array[]
  /** `pushMany` writing the segments into `out` back to back from its start: each one's end
   * offset in `out`, or `null` (nothing consumed) when `out` is shorter than
   * `maxBatchOutputLength` of the batch. Backends that cannot leave it out. */
  pushManyInto?(frames: Float32Array, nowTs: number, out: Uint8Array): number[] | null
  /** The core's bound on the bytes a batch of `frameCount` frames can emit now (with
   * `pushManyInto`). */
  maxBatchOutputLength?(frameCount: number): number
  flush(): Uint8Array | null
  peek(): Uint8Array | null
  touch(nowTs: number): void
  setAccess(accessCount: number, lastAccessTs: number): void
  /** Bits per code a frame pushed at `nowTs` would get (the core's `bits_at`). */
  bitsAt(nowTs: number): number
  state(): CompressorState
  free(): void
  /** `pushMany` off the JS thread where the backend can (on a copy of `frames`); `ABORTED`
   * when `signal` has fired before the work starts. */
  pushManyAsync(frames: Float32Array, nowTs: number, signal: AbortSignalLike | undefined): Promise<Uint8Array[]>
  /** `flush`, likewise. */
  flushAsync(signal: AbortSignalLike | undefined): Promise<Uint8Array | null>
}

/** What the async calls read of an `AbortSignal` (a DOM or Node `AbortSignal` fits). */
export interface AbortSignalLike {
  /** True once the signal has fired. */
  readonly aborted: boolean
  /** Why it fired (becomes the `cause` of the `ABORTED` error). */
  readonly reason?: unknown
}

/** A loaded backend. */
export interface Backend {
  readonly name: 'native' | 'wasm'
  /** Kernel set in use (`'avx2+bmi2'`, `'neon'`, `'simd128'`, `'scalar'`, ...). */
  readonly kernels: string
  /** Why that kernel set is in use (the CPU rule, or the setting that forced it). */
  readonly kernelsReason: string
  createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding): BackendCompressor
  /** Decodes a segment of at most `maxValues` values (`LIMIT_EXCEEDED` before allocating otherwise). */
  decodeSegment(segment: Uint8Array, maxValues: number): Float32Array
  /** `decodeSegment` off the JS thread where the backend can (on a copy of `segment`). */
  decodeSegmentAsync(segment: Uint8Array, maxValues: number, signal: AbortSignalLike | undefined): Promise<Float32Array>
  decodeSegmentInto(segment: Uint8Array, out: Float32Array): number
  decodeFrame(segment: Uint8Array, index: number): Float32Array
  segmentInfo(segment: Uint8Array): SegmentInfo
  /** The core's bound for a width (8, 7, 5 or 3; checked by the facade), as its f32 widened. */
  errorBound(bits: number): number
}

/** The arguments after `(tensorLen, nowTs)` of both backends' constructors, in order. */
export type PolicyArgs = [
  hotMinScore: number,
  warmMinScore: number,
  warmBits: number,
  driftPctQ8: number,
  groupLen: number,
  maxSegmentFrames: number,
  fixedBits: number,
  format: number,
  keyframeInterval: number,
  bound: number,
]

/** The arguments after `(tensorLen, nowTs)` of both backends' constructors, in order. */
export function policyArgs(p: ResolvedPolicy, c: ResolvedCoding): PolicyArgs {
  return [
    p.hotMinScore,
    p.warmMinScore,
    p.warmBits,
    p.driftPctQ8,
    p.groupLen,
    p.maxSegmentFrames,
    p.fixedBits,
    c.format === 'coded' ? 1 : 0,
    c.keyframeInterval,
    c.bound,
  ]
}

/** The `ABORTED` error for a signal that fired before the work started. */
export function abortedError(signal: AbortSignalLike): TemporalTensorError {
  return new TemporalTensorError('ABORTED', 'the operation was aborted before it started', { cause: signal.reason })
}

/** A turn of the event loop (a macrotask), so that a call returns before its work runs. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

/** An f32 as the shortest decimal that names it (0.008, not 0.00800000037997961). */
export function shortestF32(x: number): number {
  return Number(Math.fround(x).toPrecision(7))
}

/** A segment's header fields as both backends report them (`bound`: the stored f32, widened). */
export interface RawSegmentInfo {
  version: number
  bits: number
  groupLen: number
  tensorLen: number
  frameCount: number
  scaleCount: number
  byteLength: number
  bound: number
  keyframeInterval: number
}

/** `SegmentInfo` from what a backend reports. */
export function segmentInfoFrom(r: RawSegmentInfo): SegmentInfo {
  return {
    format: isCodedVersion(r.version) ? 'coded' : 'packed',
    version: r.version,
    bits: r.bits,
    bound: shortestF32(r.bound),
    groupLen: r.groupLen,
    tensorLen: r.tensorLen,
    frameCount: r.frameCount,
    scaleCount: r.scaleCount,
    keyframeInterval: r.keyframeInterval,
    byteLength: r.byteLength,
  }
}

/** A compressor's state as both backends report it. */
export interface RawCompressorInfo {
  tensorLen: number
  activeBits: number
  activeFrames: number
  pendingLen: number
  accessCount: number
  lastAccessTs: number
}

/** `CompressorState` from what a backend reports. */
export function stateFrom(r: RawCompressorInfo): CompressorState {
  return {
    tensorLen: r.tensorLen,
    activeBits: r.activeBits,
    activeFrames: r.activeFrames,
    pendingBytes: r.pendingLen,
    accessCount: r.accessCount,
    lastAccessTs: r.lastAccessTs,
  }
}
