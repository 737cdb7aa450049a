/** The native (napi-rs) backend: a thin adapter over the addon's exports. Internal. */
import { policyArgs, segmentInfoFrom, stateFrom } from './backend.js'
import type { Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy } from './backend.js'
import { TemporalTensorError, isErrorCode } from './errors.js'
import { MAX_DECODE_VALUES, limitExceeded } from './limits.js'

/** What the addon exports (`crates/ruvector-temporal-tensor-node`). */
export interface NativeBinding {
  NativeCompressor: new (tensorLen: number, nowTs: number, ...policy: number[]) => NativeCompressor
  decodeSegment(segment: Uint8Array): Float32Array
  decodeSegmentInto(segment: Uint8Array, out: Float32Array): number
  decodeFrame(segment: Uint8Array, index: number): Float32Array
  segmentInfo(segment: Uint8Array): number[]
  errorBound(bits: number): number
  kernels(): string
}

interface NativeCompressor {
  push(frame: Float32Array, nowTs: number): Uint8Array | null
  pushMany(frames: Float32Array, nowTs: number): Uint8Array[]
  flush(): Uint8Array | null
  peek(): Uint8Array | null
  touch(nowTs: number): void
  setAccess(accessCount: number, lastAccessTs: number): void
  bitsAt(nowTs: number): number
  info(): number[]
  /** Drops the Rust state now (not when the object is collected). */
  free(): void
}

/** Runs `f`, re-throwing the addon's errors as `TemporalTensorError` with the same code. */
function call<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof TemporalTensorError) throw e
    const err = e as { code?: unknown; message?: string }
    const code = isErrorCode(err.code) ? err.code : 'INVALID_ARGUMENT'
    throw new TemporalTensorError(code, String(err.message ?? e), { cause: e })
  }
}

/** Wraps a loaded addon as a `Backend`. */
export function nativeBackend(binding: NativeBinding): Backend {
  return {
    name: 'native',
    kernels: binding.kernels(),
    createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding): BackendCompressor {
      const inner = call(() => new binding.NativeCompressor(tensorLen, nowTs, ...policyArgs(policy, coding)))
      return {
        push: (frame, ts) => call(() => inner.push(frame, ts)),
        pushMany: (frames, ts) => call(() => inner.pushMany(frames, ts)),
        flush: () => call(() => inner.flush()),
        peek: () => call(() => inner.peek()),
        touch: (ts) => call(() => inner.touch(ts)),
        setAccess: (count, last) => call(() => inner.setAccess(count, last)),
        bitsAt: (ts) => call(() => inner.bitsAt(ts)),
        state: () => stateFrom(call(() => inner.info())),
        free: () => inner.free(),
      }
    },
    decodeSegment: (segment, maxValues) =>
      call(() => {
        // The core refuses more than MAX_DECODE_VALUES itself; a smaller cap is checked here.
        if (maxValues < MAX_DECODE_VALUES) {
          const info = segmentInfoFrom(binding.segmentInfo(segment))
          const values = info.frameCount * info.tensorLen
          if (values > maxValues) throw limitExceeded(values, maxValues)
        }
        return binding.decodeSegment(segment)
      }),
    decodeSegmentInto: (segment, out) => call(() => binding.decodeSegmentInto(segment, out)),
    decodeFrame: (segment, index) => call(() => binding.decodeFrame(segment, index)),
    segmentInfo: (segment) => segmentInfoFrom(call(() => binding.segmentInfo(segment))),
    errorBound: (bits) => call(() => binding.errorBound(bits)),
  }
}
