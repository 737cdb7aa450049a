/** The contract each backend (native addon, WebAssembly) implements. Internal. */

/** Resolved tier policy, every field present (see `TierPolicyOptions`). */
export interface ResolvedPolicy {
  hotMinScore: number
  warmMinScore: number
  warmBits: number
  driftPctQ8: number
  groupLen: number
  maxSegmentFrames: number
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
  /** Format version: 1 (f16 scales) or 2 (f32 scales). */
  version: number
  /** Bits per code, 1..=8 (this library writes 8, 7, 5 or 3). */
  bits: number
  /** Values per quantization group. */
  groupLen: number
  /** Values per frame. */
  tensorLen: number
  /** Frames in the segment. */
  frameCount: number
  /** Number of group scales. */
  scaleCount: number
  /** Length of the segment in bytes (bytes after it are not part of it). */
  byteLength: number
}

/** One compressor inside a backend. Arguments are already validated by the facade. */
export interface BackendCompressor {
  push(frame: Float32Array, nowTs: number): Uint8Array | null
  pushMany(frames: Float32Array, nowTs: number): Uint8Array[]
  flush(): Uint8Array | null
  peek(): Uint8Array | null
  touch(nowTs: number): void
  setAccess(accessCount: number, lastAccessTs: number): void
  state(): CompressorState
  free(): void
}

/** A loaded backend. */
export interface Backend {
  readonly name: 'native' | 'wasm'
  /** Kernel set in use (`'avx2+bmi2'`, `'neon'`, `'simd128'`, `'scalar'`, ...). */
  readonly kernels: string
  createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy): BackendCompressor
  decodeSegment(segment: Uint8Array): Float32Array
  decodeSegmentInto(segment: Uint8Array, out: Float32Array): number
  decodeFrame(segment: Uint8Array, index: number): Float32Array
  segmentInfo(segment: Uint8Array): SegmentInfo
}

/** Field order of the policy arguments in both backends' constructors. */
export function policyArgs(p: ResolvedPolicy): number[] {
  return [p.hotMinScore, p.warmMinScore, p.warmBits, p.driftPctQ8, p.groupLen, p.maxSegmentFrames]
}

/** `SegmentInfo` from the 7 numbers both backends return. */
export function segmentInfoFrom(v: ArrayLike<number>): SegmentInfo {
  return {
    version: v[0],
    bits: v[1],
    groupLen: v[2],
    tensorLen: v[3],
    frameCount: v[4],
    scaleCount: v[5],
    byteLength: v[6],
  }
}

/** `CompressorState` from the 6 numbers both backends return. */
export function stateFrom(v: ArrayLike<number>): CompressorState {
  return {
    tensorLen: v[0],
    activeBits: v[1],
    activeFrames: v[2],
    pendingBytes: v[3],
    accessCount: v[4],
    lastAccessTs: v[5],
  }
}
