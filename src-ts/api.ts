/**
 * The public API, written once over whichever backend is active (see `index.ts` for Node and
 * `browser.ts` for browsers).
 */
import { shortestF32 } from './backend.js'
import { abortedError } from './backend.js'
import type { AbortSignalLike, Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy, SegmentFormat, SegmentInfo } from './backend.js'
import { TemporalTensorError, checkBytes, checkFloat32Array, checkU32 } from './errors.js'
import { toFloat32 } from './frames.js'
import type { FrameInput } from './frames.js'
import { MAX_DECODE_VALUES } from './limits.js'

export type { AbortSignalLike, SegmentFormat, SegmentInfo } from './backend.js'
export type { FrameInput } from './frames.js'

// Explicit resource management (TypeScript 5.2's `Disposable`), declared here as well (the same
// declarations as TypeScript's `esnext.disposable` lib and @types/node, which merge with these)
// so that consumers compiling with `lib: ["ES2022"]` and no Node types can use these
// declarations.
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol
    readonly asyncDispose: unique symbol
  }
  interface Disposable {
    [Symbol.dispose](): void
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>
  }
}

/** Tier policy (ADR-017 §3.4); every field optional, defaults shown. */
export interface TierPolicyOptions {
  /** Minimum access score for the hot tier (8-bit). Default 512. */
  hotMinScore?: number
  /** Minimum access score for the warm tier; at most `hotMinScore`. Default 64. */
  warmMinScore?: number
  /** Bits of the warm tier: 7 (default) or 5. */
  warmBits?: 5 | 7
  /** Drift tolerance in 1/256ths, 0..=256. Default 26 (≈ 10 %). */
  driftPctQ8?: number
  /** Values per quantization group, ≥ 1. Default 64. */
  groupLen?: number
  /**
   * A segment holds at most this many frames, 1..=65536. Default: 128 for `'packed'`; for
   * `'coded'`, `defaultMaxSegmentFrames('coded', tensorLen)` (about 2^17 values per segment).
   */
  maxSegmentFrames?: number
  /** Store every frame at this width and its bound (8, 7, 5 or 3) whatever the access
   * statistics say; 0 (default) lets the tiers decide. */
  fixedBits?: 0 | 3 | 5 | 7 | 8
}

/** Options of `new TemporalTensorCompressor(...)`. */
export interface CompressorOptions {
  /**
   * Values per frame, 1..=2^24. On the WebAssembly backend `tensorLen × policy.maxSegmentFrames`
   * is at most `WASM_LIMITS.maxSegmentValues` (2^26; `LIMIT_EXCEEDED` otherwise).
   */
  tensorLen: number
  /** Timestamp (u32 ticks) at creation; the access age starts here. Default 0. */
  nowTs?: number
  /** Tier policy overrides. */
  policy?: TierPolicyOptions
  /**
   * Segment format. `'coded'` (TQTC v5): steps sized to each frame's bound, prediction from the
   * previous frame and entropy coding; the smallest output. `'packed'` (v1/v2): the ADR's
   * fixed-width layout that other TQTC implementations read. Default: `DEFAULT_FORMAT`.
   */
  format?: SegmentFormat
  /** Frames per keyframe block of coded segments (decoding one frame decodes at most this
   * many), 1..=65535. Default 32. */
  keyframeInterval?: number
  /**
   * Coded segments only: keep every frame within this bound on max|v − v'| / max|v|, in (0, 1),
   * instead of its tier's (0.008, 0.016 or 0.065, 0.30). Segments keep the tier's width label.
   * Throws `INVALID_CONFIG` outside (0, 1) or with `format: 'packed'`.
   */
  bound?: number
}

/** The format a compressor writes unless told otherwise. */
export const DEFAULT_FORMAT: SegmentFormat = 'coded'

/** Frames per keyframe block of coded segments unless told otherwise. */
export const DEFAULT_KEYFRAME_INTERVAL = 32

/** Values (frames × tensorLen) a coded segment holds unless `maxSegmentFrames` is given. */
const CODED_SEGMENT_VALUES = 2 ** 17
/** Most frames a coded segment holds unless `maxSegmentFrames` is given. */
const CODED_SEGMENT_MAX_DEFAULT_FRAMES = 2 ** 14

/**
 * The `maxSegmentFrames` a compressor of `format` with `tensorLen` values per frame uses when
 * the policy does not give one: 128 for `'packed'` (ADR-017's segment length); for `'coded'`,
 * ⌈2^17 / tensorLen⌉ kept within 128..=16384, because a coded segment's fixed bytes (header,
 * tables, checksum, one keyframe per block) weigh on short frames at low rates. 64-value frames
 * get 2048, 384-value frames 342, frames of 1024 values or more 128.
 */
export function defaultMaxSegmentFrames(format: SegmentFormat, tensorLen: number): number {
  const packed = DEFAULT_POLICY.maxSegmentFrames
  if (format === 'packed') return packed
  const frames = Math.ceil(CODED_SEGMENT_VALUES / Math.max(1, tensorLen))
  return Math.min(Math.max(frames, packed), CODED_SEGMENT_MAX_DEFAULT_FRAMES)
}

/** Options of the async calls (`pushManyAsync`, `flushAsync`, `decodeSegmentAsync`). */
export interface AsyncOptions {
  /**
   * Cancels the call if it fires before the work starts: the promise rejects with `ABORTED` and
   * nothing changed. Once the work runs it completes (the promise resolves with its result).
   */
  signal?: AbortSignalLike
}

/**
 * The signal the backend gets: a fresh one following `options.signal` (so the caller's signal
 * object is never handed to the addon), or `undefined`. Throws `INVALID_ARGUMENT` for a bad
 * option, `ABORTED` when the caller's signal has already fired. `unlink` stops following it.
 */
function linkSignal(options: AsyncOptions | undefined): { signal: AbortSignalLike | undefined; unlink: () => void } {
  if (options === undefined) return { signal: undefined, unlink: () => {} }
  if (typeof options !== 'object' || options === null) throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object')
  const outer = Object.hasOwn(options, 'signal') ? options.signal : undefined
  if (outer === undefined) return { signal: undefined, unlink: () => {} }
  if (typeof outer !== 'object' || outer === null || typeof outer.aborted !== 'boolean') {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'options.signal must be an AbortSignal')
  }
  if (outer.aborted) throw abortedError(outer)
  const events = outer as Partial<Pick<AbortSignal, 'addEventListener' | 'removeEventListener'>>
  if (typeof AbortController !== 'function' || typeof events.addEventListener !== 'function') {
    return { signal: outer, unlink: () => {} }
  }
  const inner = new AbortController()
  const follow = () => inner.abort(outer.reason)
  events.addEventListener('abort', follow, { once: true })
  return { signal: inner.signal, unlink: () => events.removeEventListener?.('abort', follow) }
}

/** The defaults of ADR-017 §3.4, plus packed segments' frame cap (coded ones: `defaultMaxSegmentFrames`). */
export const DEFAULT_POLICY: Readonly<Required<TierPolicyOptions>> = Object.freeze({
  hotMinScore: 512,
  warmMinScore: 64,
  warmBits: 7,
  driftPctQ8: 26,
  groupLen: 64,
  maxSegmentFrames: 128,
  fixedBits: 0,
})

let active: Backend | null = null
let notReady = 'the backend is not loaded'

/** Installs the backend every function below uses. Internal. */
export function setBackend(backend: Backend): void {
  active = backend
}

/** Sets the message used before a backend is installed. Internal. */
export function setNotReadyMessage(message: string): void {
  notReady = message
}

/** The active backend, or `NOT_INITIALIZED`. Internal. */
export function currentBackend(): Backend {
  if (active === null) throw new TemporalTensorError('NOT_INITIALIZED', notReady)
  return active
}

function resolveCoding(options: CompressorOptions): ResolvedCoding {
  const format = options.format ?? DEFAULT_FORMAT
  if (format !== 'coded' && format !== 'packed') {
    throw new TemporalTensorError('INVALID_ARGUMENT', `format must be 'coded' or 'packed', got ${String(format)}`)
  }
  const keyframeInterval = checkU32(options.keyframeInterval ?? DEFAULT_KEYFRAME_INTERVAL, 'keyframeInterval')
  const bound = options.bound ?? 0
  if (typeof bound !== 'number' || Number.isNaN(bound)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'bound must be a number in (0, 1)')
  }
  if (options.bound !== undefined && !(bound > 0 && bound < 1)) {
    throw new TemporalTensorError('INVALID_CONFIG', `bound must be in (0, 1), got ${bound}`)
  }
  return { format, keyframeInterval, bound }
}

/**
 * Checks policy options (own properties only) and fills in the defaults, `maxSegmentFrames` by
 * `defaultMaxSegmentFrames(format, tensorLen)`. Internal.
 */
export function resolvePolicy(options: TierPolicyOptions | undefined, format: SegmentFormat, tensorLen: number): ResolvedPolicy {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'policy must be an object')
  }
  for (const key of Object.keys(options ?? {})) {
    if (!Object.hasOwn(DEFAULT_POLICY, key)) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `unknown policy option "${key}"`)
    }
  }
  const merged = { ...DEFAULT_POLICY, maxSegmentFrames: defaultMaxSegmentFrames(format, tensorLen), ...options }
  for (const key of Object.keys(DEFAULT_POLICY) as (keyof TierPolicyOptions)[]) {
    if (merged[key] === undefined) merged[key] = (key === 'maxSegmentFrames' ? defaultMaxSegmentFrames(format, tensorLen) : DEFAULT_POLICY[key]) as never
    checkU32(merged[key], `policy.${key}`)
  }
  return merged as ResolvedPolicy
}

/**
 * Compresses a stream of equal-length `Float32Array` frames into TQTC segments.
 *
 * Each frame is stored at the width of its tensor's tier (hot 8 bits, warm 7 or 5, cold 3, from
 * the access statistics) and decodes within that width's error bound (max|v − v'| / max|v| below
 * 0.8 %, 1.6 %, 6.5 %, 30 %). A call that throws changes nothing.
 *
 * ```ts
 * const c = new TemporalTensorCompressor({ tensorLen: 512 })
 * c.setAccess(100, 0)
 * const segments = c.pushMany(frames, 1)   // frames: Float32Array(n * 512)
 * const last = c.flush()
 * ```
 */
export class TemporalTensorCompressor implements Disposable {
  #impl: BackendCompressor | null
  /** True while an async call has not settled. */
  #busy = false
  /** Freed during an async call: released when it settles. */
  #freeLater: BackendCompressor | null = null
  readonly #tensorLen: number
  readonly #format: ResolvedCoding

  constructor(options: CompressorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object with tensorLen')
    }
    this.#tensorLen = checkU32(options.tensorLen, 'tensorLen')
    const nowTs = checkU32(options.nowTs ?? 0, 'nowTs')
    this.#format = resolveCoding(options)
    this.#impl = currentBackend().createCompressor(this.#tensorLen, nowTs, resolvePolicy(options.policy, this.#format.format, this.#tensorLen), this.#format)
  }

  #live(): BackendCompressor {
    if (this.#impl === null) {
      throw new TemporalTensorError('INVALID_HANDLE', 'this compressor was freed')
    }
    if (this.#busy) {
      throw new TemporalTensorError('BUSY', 'an async call on this compressor has not settled yet')
    }
    return this.#impl
  }

  /** Runs an async call: the compressor is `BUSY` until it settles. */
  async #async<T>(options: AsyncOptions | undefined, check: () => void, start: (impl: BackendCompressor, signal: AbortSignalLike | undefined) => Promise<T>): Promise<T> {
    const impl = this.#live()
    check()
    const { signal, unlink } = linkSignal(options)
    this.#busy = true
    try {
      return await start(impl, signal)
    } finally {
      unlink()
      this.#busy = false
      const later = this.#freeLater
      this.#freeLater = null
      later?.free()
    }
  }

  /**
   * `pushMany` without blocking the event loop: the frames are copied (4 MiB per event-loop
   * turn, the first at the call) and compressed off this thread: on the native backend on the
   * libuv thread pool, on WebAssembly in the backend's worker (Node `worker_threads` or a
   * browser `Worker`, with its own instance; where no worker can start, on this thread one
   * event-loop turn later). Resolves with what
   * `pushMany` returns, byte for byte; rejects with its errors (nothing changed), `ABORTED`
   * when `options.signal` fires before the work starts. Until it settles every other call on
   * this compressor throws (or rejects with) `BUSY`; `free()` releases it after it settles.
   */
  pushManyAsync(frames: FrameInput, nowTs: number, options?: AsyncOptions): Promise<Uint8Array[]> {
    let values: Float32Array
    return this.#async(
      options,
      () => {
        values = toFloat32(frames, 'frames')
        checkU32(nowTs, 'nowTs')
      },
      (impl, signal) => impl.pushManyAsync(values, nowTs, signal),
    )
  }

  /** `flush` as `pushManyAsync` runs `pushMany`: resolves with the segment, or `null`. */
  flushAsync(options?: AsyncOptions): Promise<Uint8Array | null> {
    return this.#async(options, () => {}, (impl, signal) => impl.flushAsync(signal))
  }

  /**
   * Compresses one frame (`tensorLen` values) taken at `nowTs`: a tick of the tier clock, an
   * integer 0..2^32-1 (u32) in a unit the caller chooses (seconds, say; `TensorStreamStore`
   * passes whole seconds of its millisecond timestamps). Access ages and the policy's
   * thresholds count these ticks. Returns the segment this finished (when the frame starts a new one), else `null`. The frame may be a `Float32Array`,
   * a `Float64Array` or `number[]` (copied, rounded to f32), or a `Uint8Array`/`Buffer`/`DataView`
   * of little-endian f32 bytes (see `FrameInput`). Throws `LENGTH_MISMATCH` (also for bytes not a
   * multiple of 4), `NON_FINITE` (also for an f64 beyond f32's range), `INVALID_ARGUMENT`,
   * `INVALID_HANDLE`.
   */
  push(frame: FrameInput, nowTs: number): Uint8Array | null {
    const impl = this.#live()
    return impl.push(toFloat32(frame, 'frame'), checkU32(nowTs, 'nowTs'))
  }

  /**
   * Compresses frames stored back to back (their value count a multiple of `tensorLen`; any
   * `FrameInput`), all at `nowTs`, in one call; returns the segments finished, in order. All or
   * nothing: a NaN anywhere throws `NON_FINITE` before any frame is compressed.
   */
  pushMany(frames: FrameInput, nowTs: number): Uint8Array[] {
    const impl = this.#live()
    return impl.pushMany(toFloat32(frames, 'frames'), checkU32(nowTs, 'nowTs'))
  }

  /**
   * `pushMany` writing the segments into `out`, back to back from its start, instead of a new
   * buffer each: returns views of `out` holding the bytes `pushMany` would return, valid until
   * `out` is written again. Reusing one `out` from call to call, the native backend allocates
   * nothing per segment and writes each segment once (on WebAssembly each is copied once, from
   * the module's memory into `out`, with no buffer of its own). `out` should hold `maxBatchOutputLength(frameCount)` bytes;
   * when it is shorter, the segments come back in buffers of their own, as from `pushMany`
   * (nothing is lost). Throws as `pushMany`, and `INVALID_ARGUMENT` when `out` is not a
   * `Uint8Array` or overlaps the frames.
   *
   * ```ts
   * const out = new Uint8Array(c.maxBatchOutputLength(64))
   * for (const batch of batches) store(c.pushManyInto(batch, now, out))  // copy what you keep
   * ```
   */
  pushManyInto(frames: FrameInput, nowTs: number, out: Uint8Array): Uint8Array[] {
    const impl = this.#live()
    const values = toFloat32(frames, 'frames')
    const ts = checkU32(nowTs, 'nowTs')
    const dst = checkBytes(out, 'out')
    if (
      values.buffer === dst.buffer &&
      values.byteOffset < dst.byteOffset + dst.byteLength &&
      dst.byteOffset < values.byteOffset + values.byteLength
    ) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'out must not overlap frames')
    }
    const ends = impl.pushManyInto?.(values, ts, dst)
    if (ends) return ends.map((end, i) => dst.subarray(i === 0 ? 0 : ends[i - 1], end))
    let at = 0
    return impl.pushMany(values, ts).map((segment) => {
      if (at + segment.length > dst.length) {
        at = Infinity
        return segment
      }
      dst.set(segment, at)
      at += segment.length
      return dst.subarray(at - segment.length, at)
    })
  }

  /**
   * Bytes of `out` that let `pushManyInto` write a batch of `frameCount` frames now: the open
   * segment plus, per frame, its codes at 8 bits and a header (the core's bound on what a
   * batch emits). On WebAssembly, a larger estimate (`8 · tensorLen + 2048` bytes per frame
   * plus 4 KiB besides the open segment).
   */
  maxBatchOutputLength(frameCount: number): number {
    const impl = this.#live()
    const count = checkU32(frameCount, 'frameCount')
    return impl.maxBatchOutputLength?.(count) ?? impl.state().pendingBytes + count * (8 * this.#tensorLen + 2048) + 4096
  }

  /** Finishes the open segment and returns it (`null` when none is open). */
  flush(): Uint8Array | null {
    return this.#live().flush()
  }

  /**
   * The open segment as it would be if flushed now, without closing it (`null` when none is
   * open): a valid segment, so the latest frames can be read before the segment is finished.
   */
  peek(): Uint8Array | null {
    return this.#live().peek()
  }

  /** Records one access at `nowTs`. */
  touch(nowTs: number): void {
    this.#live().touch(checkU32(nowTs, 'nowTs'))
  }

  /** Replaces the access statistics that choose the tier. */
  setAccess(accessCount: number, lastAccessTs: number): void {
    this.#live().setAccess(checkU32(accessCount, 'accessCount'), checkU32(lastAccessTs, 'lastAccessTs'))
  }

  /**
   * Bits per code (8, 7, 5 or 3) a frame pushed at `nowTs` would be stored with: the width the
   * tier policy picks from the access statistics now (or `policy.fixedBits`). Changes nothing.
   */
  bitsAt(nowTs: number): number {
    return this.#live().bitsAt(checkU32(nowTs, 'nowTs'))
  }

  /** Bits of the open segment (8, 7, 5 or 3), or `null` when none is open. */
  get activeBits(): number | null {
    const bits = this.#live().state().activeBits
    return bits === 0 ? null : bits
  }

  /** Frames in the open segment. */
  get activeFrames(): number {
    return this.#live().state().activeFrames
  }

  /** Bytes the open segment would take if flushed now. */
  get pendingBytes(): number {
    return this.#live().state().pendingBytes
  }

  /** Values per frame. */
  get tensorLen(): number {
    return this.#tensorLen
  }

  /** The format of the segments this compressor writes. */
  get format(): SegmentFormat {
    return this.#format.format
  }

  /** True once `free()` was called. */
  get freed(): boolean {
    return this.#impl === null
  }

  /**
   * Releases the compressor and its memory now (on both backends); its open segment is
   * discarded (flush first to keep it). Calling it again does nothing; any other method
   * afterwards throws `INVALID_HANDLE`. A compressor that is never freed is released when it is
   * collected, which on the native backend happens only once the event loop turns: free
   * compressors made in a synchronous loop.
   */
  free(): void {
    const impl = this.#impl
    this.#impl = null
    if (this.#busy) this.#freeLater ??= impl
    else impl?.free()
  }

  /**
   * `free()`, for `using c = new TemporalTensorCompressor(...)` (TypeScript 5.2+, or a runtime
   * with explicit resource management): the compressor is freed when the scope ends. Idempotent.
   * On runtimes without `Symbol.dispose` the method is keyed by `Symbol.for('Symbol.dispose')`,
   * the symbol transpilers' `using` helpers fall back to.
   */
  declare [Symbol.dispose]: () => void
}
defineDispose(TemporalTensorCompressor.prototype, 'dispose', function (this: TemporalTensorCompressor) {
  this.free()
})

/**
 * Installs `method` on `proto` under `Symbol.dispose` or `Symbol.asyncDispose` (which), or,
 * where the runtime lacks that symbol, under `Symbol.for('Symbol.dispose')` /
 * `Symbol.for('Symbol.asyncDispose')`. Non-enumerable, like a class method. Internal.
 */
export function defineDispose(proto: object, which: 'dispose' | 'asyncDispose', method: (this: never) => unknown): void {
  const known = (Symbol as unknown as Record<string, unknown>)[which]
  const key = typeof known === 'symbol' ? known : Symbol.for(`Symbol.${which}`)
  Object.defineProperty(proto, key, { value: method, writable: true, configurable: true, enumerable: false })
}

export { MAX_DECODE_VALUES } from './limits.js'

/** Options of `decodeSegment`. */
export interface DecodeOptions {
  /**
   * Refuse (`LIMIT_EXCEEDED`, before allocating) a segment that decodes to more than this many
   * values. Default and maximum: `MAX_DECODE_VALUES`. Give one when the bytes come from
   * elsewhere: a segment of a few bytes can describe 2^28 values.
   */
  maxValues?: number
}

/**
 * Decodes every frame of a segment: `Float32Array(frameCount * tensorLen)`, frame after frame.
 * Throws the segment errors, and `LIMIT_EXCEEDED` for a segment of more than
 * `options.maxValues` (default `MAX_DECODE_VALUES`) values.
 */
export function decodeSegment(segment: Uint8Array, options: DecodeOptions = {}): Float32Array {
  const bytes = checkBytes(segment, 'segment')
  return currentBackend().decodeSegment(bytes, checkMaxValues(options))
}

/** `options.maxValues` checked, capped at `MAX_DECODE_VALUES`. */
function checkMaxValues(options: DecodeOptions): number {
  if (typeof options !== 'object' || options === null) throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object')
  const given = Object.hasOwn(options, 'maxValues') ? options.maxValues : undefined
  if (given !== undefined && !(typeof given === 'number' && Number.isSafeInteger(given) && given >= 0)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `maxValues must be an integer >= 0, got ${String(given)}`)
  }
  return Math.min(given ?? MAX_DECODE_VALUES, MAX_DECODE_VALUES)
}

/**
 * `decodeSegment` without blocking the event loop: a copy of the segment is decoded on the libuv
 * thread pool (native) or in the WebAssembly backend's worker. Resolves with the same values; rejects with the same errors, and
 * `ABORTED` when `options.signal` fires before the work starts.
 */
export async function decodeSegmentAsync(segment: Uint8Array, options: DecodeOptions & AsyncOptions = {}): Promise<Float32Array> {
  const bytes = checkBytes(segment, 'segment')
  const maxValues = checkMaxValues(options)
  const { signal, unlink } = linkSignal(options)
  try {
    return await currentBackend().decodeSegmentAsync(bytes, maxValues, signal)
  } finally {
    unlink()
  }
}

/**
 * Decodes every frame of a segment into `out` (no allocation on the native backend); returns
 * the number of values written. Throws `BUFFER_TOO_SMALL` (writing nothing) when `out` holds
 * fewer than `frameCount * tensorLen` values.
 */
export function decodeSegmentInto(segment: Uint8Array, out: Float32Array): number {
  return currentBackend().decodeSegmentInto(checkBytes(segment, 'segment'), checkFloat32Array(out, 'out'))
}

/** Decodes frame `index` of a segment alone (random access): `Float32Array(tensorLen)`. */
export function decodeFrame(segment: Uint8Array, index: number): Float32Array {
  return currentBackend().decodeFrame(checkBytes(segment, 'segment'), checkU32(index, 'index'))
}

/** Validates a segment and returns its header fields. */
export function segmentInfo(segment: Uint8Array): SegmentInfo {
  return currentBackend().segmentInfo(checkBytes(segment, 'segment'))
}

/** Splits bytes holding segments back to back (a `.tqtc` file) into one array per segment. */
export function splitSegments(bytes: Uint8Array): Uint8Array[] {
  checkBytes(bytes, 'bytes')
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.byteLength; ) {
    const rest = bytes.subarray(at)
    const { byteLength } = segmentInfo(rest)
    out.push(rest.subarray(0, byteLength))
    at += byteLength
  }
  return out
}

/** Bits of each tier under the default policy. */
const TIER_BITS: Readonly<Record<'hot' | 'warm' | 'cold', number>> = Object.freeze({
  hot: 8,
  warm: DEFAULT_POLICY.warmBits,
  cold: 3,
})

const bounds = new Map<number, number>()

/**
 * ADR-017 §8.2's bound on max|v − v'| / max|v| that every frame stored at `bits` (8, 7, 5 or 3)
 * keeps, or in a tier under the default policy (`'hot'`: 8 bits, `'warm'`: 7, `'cold'`: 3):
 * 0.008, 0.016, 0.065, 0.3. Read from the core, the one table every backend uses. Throws
 * `INVALID_ARGUMENT` for another width or name.
 */
export function errorBound(bitsOrTier: number | 'hot' | 'warm' | 'cold'): number {
  const bits =
    typeof bitsOrTier === 'string' && Object.hasOwn(TIER_BITS, bitsOrTier) ? TIER_BITS[bitsOrTier] : bitsOrTier
  if (bits !== 8 && bits !== 7 && bits !== 5 && bits !== 3) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `no error bound for ${String(bitsOrTier)}: use 8, 7, 5, 3 or a tier name`)
  }
  let bound = bounds.get(bits)
  if (bound === undefined) {
    bound = shortestF32(currentBackend().errorBound(bits))
    bounds.set(bits, bound)
  }
  return bound
}

/**
 * `errorBound` of each width, by bits: `{ 3: 0.3, 5: 0.065, 7: 0.016, 8: 0.008 }`. Each value is
 * read from the core when first used (so, in browsers, after `init()`).
 */
export const ERROR_BOUNDS: Readonly<Record<number, number>> = Object.freeze(
  Object.defineProperties(
    {},
    Object.fromEntries([3, 5, 7, 8].map((bits) => [bits, { enumerable: true, get: () => errorBound(bits) }])),
  ),
)
