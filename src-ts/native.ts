/** The native (napi-rs) backend: a thin adapter over the addon's exports. Internal. */
import { policyArgs, segmentInfoFrom, stateFrom } from './backend.js'
import type { Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy } from './backend.js'
import { TemporalTensorError, isErrorCode } from './errors.js'
import { MAX_DECODE_VALUES, limitExceeded } from './limits.js'
import type * as Addon from './native-binding.js'

/**
 * What the addon exports (`crates/ruvector-temporal-tensor-node`): the declarations napi-rs
 * generates (`npm run build:native` writes `native/native.d.ts`; `native-binding.d.ts` is that
 * file, kept current by `__test__/native-types.test.ts`).
 */
export type NativeBinding = typeof Addon

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
