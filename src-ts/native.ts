/** The native (napi-rs) backend: a thin adapter over the addon's exports. Internal. */
import { abortedError, policyArgs, segmentInfoFrom, stateFrom } from './backend.js'
import type { AbortSignalLike, Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy } from './backend.js'
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

/**
 * Awaits an async call of the addon: a `TaskFailure` becomes the `TemporalTensorError` of its
 * code, the addon's `AbortError` (the task was cancelled before it started) `ABORTED`.
 */
async function settle<T extends object>(
  start: () => Promise<T | Addon.TaskFailure>,
  isResult: (value: T | Addon.TaskFailure) => value is T,
  signal: AbortSignalLike | undefined,
): Promise<T> {
  let value: T | Addon.TaskFailure
  try {
    value = await call(start)
  } catch (e) {
    if (signal !== undefined && (e as { name?: unknown } | null)?.name === 'AbortError') throw abortedError(signal)
    throw e instanceof TemporalTensorError ? e : new TemporalTensorError('INTERNAL', String(e), { cause: e })
  }
  if (isResult(value)) return value
  const code = isErrorCode(value.code) ? value.code : 'INTERNAL'
  throw new TemporalTensorError(code, value.message)
}

const isSegments = (v: Uint8Array[] | Addon.TaskFailure): v is Uint8Array[] => Array.isArray(v)
const isFloats = (v: Float32Array | Addon.TaskFailure): v is Float32Array => v instanceof Float32Array
/**
 * The addon takes a real `AbortSignal` (it sets the signal's `onabort`); the facade passes one it
 * made itself. Anything else is not passed: the facade checks it before the work starts.
 */
const asSignal = (signal: AbortSignalLike | undefined): AbortSignal | undefined =>
  typeof AbortSignal === 'function' && signal instanceof AbortSignal ? signal : undefined

/** Values `pushManyAsync` copies into the addon per event-loop turn (4 MiB). */
const STAGE_VALUES = 1 << 20

/** Wraps a loaded addon as a `Backend`. */
export function nativeBackend(binding: NativeBinding): Backend {
  return {
    name: 'native',
    kernels: binding.kernels(),
    kernelsReason: binding.kernelsReason(),
    createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding): BackendCompressor {
      const inner = call(() => new binding.NativeCompressor(tensorLen, nowTs, ...policyArgs(policy, coding)))
      return {
        push: (frame, ts) => call(() => inner.push(frame, ts)),
        pushMany: (frames, ts) => call(() => inner.pushMany(frames, ts)),
        pushManyInto: (frames, ts, out) => call(() => inner.pushManyInto(frames, ts, out)),
        maxBatchOutputLength: (count) => call(() => inner.maxBatchOutputLength(count)),
        flush: () => call(() => inner.flush()),
        peek: () => call(() => inner.peek()),
        touch: (ts) => call(() => inner.touch(ts)),
        setAccess: (count, last) => call(() => inner.setAccess(count, last)),
        bitsAt: (ts) => call(() => inner.bitsAt(ts)),
        state: () => stateFrom(call(() => inner.info())),
        free: () => inner.free(),
        pushManyAsync: async (frames, ts, signal) => {
          // Copied into the addon in slices of STAGE_VALUES, one per event-loop turn (one large
          // copy would block the loop about as long as compressing), the last with the call.
          const last = frames.length <= STAGE_VALUES ? 0 : Math.floor((frames.length - 1) / STAGE_VALUES) * STAGE_VALUES
          try {
            for (let at = 0; at < last; at += STAGE_VALUES) {
              call(() => inner.stageFrames(frames.subarray(at, at + STAGE_VALUES), frames.length))
              await new Promise((resolve) => setImmediate(resolve))
              if (signal?.aborted) throw abortedError(signal)
            }
          } catch (e) {
            inner.clearStaged()
            throw e
          }
          return settle(() => inner.pushManyAsync(frames.subarray(last), ts, asSignal(signal)), isSegments, signal)
        },
        flushAsync: async (signal) => {
          const segments = await settle(() => inner.flushAsync(asSignal(signal)), isSegments, signal)
          return segments[0] ?? null
        },
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
    decodeSegmentAsync: (segment, maxValues, signal) =>
      settle(
        () => {
          if (maxValues < MAX_DECODE_VALUES) {
            const info = segmentInfoFrom(binding.segmentInfo(segment))
            const values = info.frameCount * info.tensorLen
            if (values > maxValues) throw limitExceeded(values, maxValues)
          }
          return binding.decodeSegmentAsync(segment, asSignal(signal))
        },
        isFloats,
        signal,
      ),
    decodeSegmentInto: (segment, out) => call(() => binding.decodeSegmentInto(segment, out)),
    decodeFrame: (segment, index) => call(() => binding.decodeFrame(segment, index)),
    segmentInfo: (segment) => segmentInfoFrom(call(() => binding.segmentInfo(segment))),
    errorBound: (bits) => call(() => binding.errorBound(bits)),
  }
}
