/**
 * The WebAssembly backend: drives the `ttc_*` exports of `temporal_tensor.wasm` (the same Rust
 * core as the native addon). Internal.
 */
import { policyArgs, segmentInfoFrom, stateFrom } from './backend.js'
import type { Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy } from './backend.js'
import { ERROR_CODES, TemporalTensorError, codeForStatus } from './errors.js'

/** The module's exports (see `crates/ruvector-temporal-tensor-wasm`). */
interface Exports {
  memory: WebAssembly.Memory
  ttc_abi_version(): number
  ttc_scratch_ptr(): number
  ttc_alloc(size: number, outPtr: number): number
  ttc_dealloc(ptr: number, cap: number): number
  ttc_create_with_options(len: number, nowTs: number, ...rest: number[]): number
  ttc_free(handle: number): number
  ttc_touch(handle: number, nowTs: number): number
  ttc_set_access(handle: number, count: number, lastTs: number): number
  ttc_push_frame(h: number, ts: number, inPtr: number, len: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_push_frames(h: number, ts: number, inPtr: number, len: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_flush(h: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_peek(h: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_compressor_info(h: number, outInfo: number): number
  ttc_decode_segment(segPtr: number, segLen: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_decode_frame(segPtr: number, segLen: number, index: number, outPtr: number, outCap: number, outWritten: number): number
  ttc_segment_info(segPtr: number, segLen: number, outInfo: number): number
  ttc_last_error(outPtr: number, outCap: number, outWritten: number): number
  ttc_kernels(outPtr: number, outCap: number, outWritten: number): number
}

/**
 * A minimal module using one SIMD instruction: `WebAssembly.validate` on it tells whether the
 * runtime supports simd128 (and so `temporal_tensor_simd.wasm`).
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11,
])

/** True when this runtime supports WebAssembly simd128. */
export function wasmSimdSupported(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE)
  } catch {
    return false
  }
}

/** The module file for this runtime: the simd128 build where supported. */
export function wasmFileName(simd = wasmSimdSupported()): string {
  return simd ? 'temporal_tensor_simd.wasm' : 'temporal_tensor.wasm'
}

/** The ABI version this facade speaks (`ttc_abi_version`). */
export const WASM_ABI_VERSION = 2

const TOO_SMALL = ERROR_CODES.BUFFER_TOO_SMALL

/** A growable region of the module's memory. */
interface Region {
  ptr: number
  cap: number
}

/** Wraps an instantiated module as a `Backend`. */
export function wasmBackend(instance: WebAssembly.Instance): Backend {
  const ex = instance.exports as unknown as Exports
  if (typeof ex.ttc_abi_version !== 'function' || ex.ttc_abi_version() !== WASM_ABI_VERSION) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'temporal_tensor.wasm has an unexpected ABI version')
  }
  const scratch = ex.ttc_scratch_ptr() >>> 0
  const OUT = scratch // a u32/usize out-parameter
  const INFO = scratch + 16 // an info struct (up to 9 words)
  const u32 = (ptr: number): number => new DataView(ex.memory.buffer).getUint32(ptr, true)

  function fail(status: number): never {
    const msgRegion = ensure(scratchMsg, 256)
    ex.ttc_last_error(msgRegion.ptr, msgRegion.cap, OUT)
    const len = Math.min(u32(OUT), msgRegion.cap)
    const message = new TextDecoder().decode(new Uint8Array(ex.memory.buffer, msgRegion.ptr, len).slice())
    throw new TemporalTensorError(codeForStatus(status), message || codeForStatus(status))
  }
  const check = (status: number): void => {
    if (status !== 0) fail(status)
  }

  function ensure(region: Region, size: number): Region {
    if (region.cap >= size) return region
    if (region.cap > 0) check(ex.ttc_dealloc(region.ptr, region.cap))
    const cap = Math.max(size, region.cap * 2, 256)
    check(ex.ttc_alloc(cap, OUT))
    region.ptr = u32(OUT)
    region.cap = cap
    return region
  }
  const scratchMsg: Region = { ptr: 0, cap: 0 }
  const input: Region = { ptr: 0, cap: 0 }
  const output: Region = { ptr: 0, cap: 0 }

  function putBytes(bytes: Uint8Array): number {
    ensure(input, bytes.byteLength)
    new Uint8Array(ex.memory.buffer, input.ptr, bytes.byteLength).set(bytes)
    return input.ptr
  }
  function putFloats(values: Float32Array): number {
    ensure(input, values.byteLength)
    new Float32Array(ex.memory.buffer, input.ptr, values.length).set(values)
    return input.ptr
  }
  /** Calls `f(outPtr, outCap)` and grows the output to the reported size until it fits. */
  function withOutput(unit: number, f: (ptr: number, cap: number) => number): number {
    for (;;) {
      const status = f(output.ptr, output.cap / unit)
      if (status !== TOO_SMALL) {
        check(status)
        return u32(OUT)
      }
      ensure(output, u32(OUT) * unit)
    }
  }
  const bytesAt = (ptr: number, len: number): Uint8Array => new Uint8Array(ex.memory.buffer, ptr, len).slice()

  /** Splits back-to-back segments written by the core. */
  function splitSegments(ptr: number, total: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let at = 0; at < total; ) {
      check(ex.ttc_segment_info(ptr + at, total - at, INFO))
      const len = u32(INFO + 24)
      out.push(bytesAt(ptr + at, len))
      at += len
    }
    return out
  }

  const handles = new FinalizationRegistry<number>((handle) => {
    ex.ttc_free(handle)
  })

  const kernels = ((): string => {
    const region = ensure(scratchMsg, 64)
    check(ex.ttc_kernels(region.ptr, region.cap, OUT))
    return new TextDecoder().decode(bytesAt(region.ptr, u32(OUT)))
  })()

  return {
    name: 'wasm',
    kernels,
    createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding): BackendCompressor {
      check(ex.ttc_create_with_options(tensorLen, nowTs, ...policyArgs(policy, coding), OUT))
      const handle = u32(OUT)
      const token = {}
      const compressor: BackendCompressor = {
        push(frame, ts) {
          const inPtr = putFloats(frame)
          const n = withOutput(1, (ptr, cap) => ex.ttc_push_frame(handle, ts, inPtr, frame.length, ptr, cap, OUT))
          return n > 0 ? bytesAt(output.ptr, n) : null
        },
        pushMany(frames, ts) {
          const inPtr = putFloats(frames)
          const n = withOutput(1, (ptr, cap) => ex.ttc_push_frames(handle, ts, inPtr, frames.length, ptr, cap, OUT))
          return splitSegments(output.ptr, n)
        },
        flush() {
          const n = withOutput(1, (ptr, cap) => ex.ttc_flush(handle, ptr, cap, OUT))
          return n > 0 ? bytesAt(output.ptr, n) : null
        },
        peek() {
          const n = withOutput(1, (ptr, cap) => ex.ttc_peek(handle, ptr, cap, OUT))
          return n > 0 ? bytesAt(output.ptr, n) : null
        },
        touch: (ts) => check(ex.ttc_touch(handle, ts)),
        setAccess: (count, last) => check(ex.ttc_set_access(handle, count, last)),
        state() {
          check(ex.ttc_compressor_info(handle, INFO))
          return stateFrom(new Uint32Array(ex.memory.buffer, INFO, 6).slice())
        },
        free() {
          handles.unregister(token)
          check(ex.ttc_free(handle))
        },
      }
      handles.register(compressor, handle, token)
      return compressor
    },
    decodeSegment(segment) {
      const segPtr = putBytes(segment)
      const n = withOutput(4, (ptr, cap) => ex.ttc_decode_segment(segPtr, segment.byteLength, ptr, cap, OUT))
      return new Float32Array(ex.memory.buffer, output.ptr, n).slice()
    },
    decodeSegmentInto(segment, out) {
      const segPtr = putBytes(segment)
      const n = withOutput(4, (ptr, cap) => ex.ttc_decode_segment(segPtr, segment.byteLength, ptr, cap, OUT))
      if (n > out.length) {
        throw new TemporalTensorError('BUFFER_TOO_SMALL', `output holds ${out.length} values, the segment ${n}`)
      }
      out.set(new Float32Array(ex.memory.buffer, output.ptr, n))
      return n
    },
    decodeFrame(segment, index) {
      const segPtr = putBytes(segment)
      const n = withOutput(4, (ptr, cap) =>
        ex.ttc_decode_frame(segPtr, segment.byteLength, index, ptr, cap, OUT),
      )
      return new Float32Array(ex.memory.buffer, output.ptr, n).slice()
    },
    segmentInfo(segment) {
      const segPtr = putBytes(segment)
      check(ex.ttc_segment_info(segPtr, segment.byteLength, INFO))
      const words = Array.from(new Uint32Array(ex.memory.buffer, INFO, 9))
      words[7] = new Float32Array(ex.memory.buffer, INFO + 28, 1)[0]
      return segmentInfoFrom(words)
    },
  }
}
