/**
 * The WebAssembly backend: drives the `ttc_*` exports of `temporal_tensor.wasm` (the same Rust
 * core as the native addon). Internal.
 *
 * The glue guards what the module cannot: wasm32 sizes are 32-bit, so every size is checked
 * against `WASM_LIMITS` before anything is allocated (a larger one would wrap); lengths come from
 * the arrays' own buffers (the facade passes views it made itself); and a trap inside the module
 * (out of memory, a bug) is caught at the boundary: the instance is marked broken, its
 * compressors fail fast with `BACKEND_FAILED` from then on, and new work runs on a fresh
 * instance where the loader can make one.
 */
import { abortedError, nextTurn, policyArgs, segmentInfoFrom, stateFrom } from './backend.js'
import type { AbortSignalLike, Backend, BackendCompressor, ResolvedCoding, ResolvedPolicy } from './backend.js'
import { ERROR_CODES, TemporalTensorError, codeForStatus } from './errors.js'
import { limitExceeded } from './limits.js'
import { MovableCompressor, WorkerPool, decodeInWorker } from './wasm-async.js'
import type { MakeLocal, SpawnWorker } from './wasm-async.js'

/** The module's exports (see `crates/ruvector-temporal-tensor-wasm`). */
interface Exports {
  /** The linear memory (structural, so the declarations need no WebAssembly lib). */
  memory: { readonly buffer: ArrayBuffer }
  ttc_abi_version(): number
  ttc_scratch_ptr(): number
  ttc_alloc(size: number, outPtr: number): number
  ttc_dealloc(ptr: number, cap: number): number
  ttc_create_with_options(len: number, nowTs: number, ...rest: number[]): number
  ttc_free(handle: number): number
  ttc_touch(handle: number, nowTs: number): number
  ttc_set_access(handle: number, count: number, lastTs: number): number
  ttc_bits_at(handle: number, nowTs: number, outBits: number): number
  ttc_error_bound(bits: number, outBound: number): number
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

/** Why a module's kernel set is in use (the module is chosen by the loader, not by the CPU). */
export function wasmKernelsReason(kernels: string): string {
  return kernels === 'simd128'
    ? 'the WebAssembly simd128 module: this runtime supports simd128'
    : 'the baseline WebAssembly module: this runtime lacks simd128, or TEMPORAL_TENSOR_WASM_SIMD=0 (Node) asked for it'
}

/** The module file for this runtime: the simd128 build where supported. */
export function wasmFileName(simd = wasmSimdSupported()): string {
  return simd ? 'temporal_tensor_simd.wasm' : 'temporal_tensor.wasm'
}

/** The ABI version this facade speaks (`ttc_abi_version`). */
export const WASM_ABI_VERSION = 3

/**
 * Limits of the WebAssembly backend, beyond the core's (`MAX_DECODE_VALUES`, tensor lengths):
 * its memory is one wasm32 linear memory of at most 4 GiB, shared by every compressor.
 * Exceeding one is `LIMIT_EXCEEDED`, before anything is allocated.
 */
export const WASM_LIMITS: Readonly<{
  /** Bytes of any one buffer in the module's memory (see the value below). */
  maxBufferBytes: number
  /** Most values of one compressor's open segment (see the value below). */
  maxSegmentValues: number
}> = Object.freeze({
  /**
   * Bytes of any one buffer placed in the module's memory: the frames of a `push`/`pushMany`,
   * a segment to decode, the segments a call returns, decoded values (1 GiB).
   */
  maxBufferBytes: 2 ** 30,
  /**
   * `tensorLen × maxSegmentFrames` of a compressor (2^26): what its open segment may hold, so
   * that one compressor's working memory (a few bytes per value) stays well inside 4 GiB. With
   * `tensorLen` 2^24 that allows 4 frames per segment.
   */
  maxSegmentValues: 2 ** 26,
})

const TOO_SMALL = ERROR_CODES.BUFFER_TOO_SMALL

/** A growable region of the module's memory. */
interface Region {
  ptr: number
  cap: number
}

const limitError = (what: string, requested: number, max: number): TemporalTensorError =>
  new TemporalTensorError(
    'LIMIT_EXCEEDED',
    `${what} (${requested}) exceeds the WebAssembly backend's maximum (${max}); see WASM_LIMITS`,
  )

/** A compressor made by `Glue`: the backend contract plus `pushManyParts` and its kept region. Internal. */
export interface GlueCompressor extends BackendCompressor {
  /** `pushMany` on frames given in pieces (each a whole number of frames), copied in turn. */
  pushManyParts(parts: readonly Float32Array[], nowTs: number): Uint8Array[]
  /**
   * `pushMany` of `frames` copied to value `at` of this compressor's own region of module
   * memory (grown as needed, keeping values `[0, at)`), where they stay until a later call
   * writes over them: a journal can refer to them there instead of copying them again.
   */
  pushManyKept(frames: Float32Array, nowTs: number, at: number): Uint8Array[]
  /** `pushMany` writing the segments into `out` (see `BackendCompressor.pushManyInto`). */
  pushManyInto(frames: Float32Array, nowTs: number, out: Uint8Array): number[] | null
  /** `pushManyKept` writing the segments into `out` (see `BackendCompressor.pushManyInto`). */
  pushManyKeptInto(frames: Float32Array, nowTs: number, at: number, out: Uint8Array): number[] | null
  /** A copy of values `[at, at + length)` of the region (in bounds: what `pushManyKept` wrote). */
  kept(at: number, length: number): Float32Array
  /** Moves values `[from, from + length)` of the region to value `to` (overlap allowed). */
  keptMove(from: number, length: number, to: number): void
  /** Values the region holds now (`pushManyKept` grows it). */
  keptCapacity(): number
}

/** What a compressor holds in the module: its handle and its kept region. */
interface Held {
  handle: number
  kept: Region
}

/** One instance of the module and the glue's state in it (the worker makes its own). Internal. */
export class Glue {
  readonly ex: Exports
  /** Set by a trap: every later call on this instance throws it. */
  broken: TemporalTensorError | null = null
  readonly #out: number
  readonly #info: number
  readonly #msg: Region = { ptr: 0, cap: 0 }
  readonly #input: Region = { ptr: 0, cap: 0 }
  readonly #output: Region = { ptr: 0, cap: 0 }
  readonly #handles: FinalizationRegistry<Held>
  readonly kernels: string

  constructor(instance: WasmInstance) {
    const ex = instance.exports as unknown as Exports
    if (typeof ex.ttc_abi_version !== 'function' || ex.ttc_abi_version() !== WASM_ABI_VERSION) {
      throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'temporal_tensor.wasm has an unexpected ABI version')
    }
    this.ex = ex
    const scratch = ex.ttc_scratch_ptr() >>> 0
    this.#out = scratch // a u32/usize out-parameter
    this.#info = scratch + 16 // an info struct (up to 9 words)
    this.#handles = new FinalizationRegistry<Held>((held) => {
      if (this.broken === null) {
        try {
          this.ex.ttc_free(held.handle)
          this.#release(held.kept)
        } catch (e) {
          this.#trapped(e)
        }
      }
    })
    this.kernels = this.run(() => {
      const region = this.#ensure(this.#msg, 64)
      this.#check(ex.ttc_kernels(region.ptr, region.cap, this.#out))
      return new TextDecoder().decode(this.#bytesAt(region.ptr, this.#u32(this.#out)))
    })
  }

  #trapped(e: unknown): TemporalTensorError {
    this.broken ??= new TemporalTensorError(
      'BACKEND_FAILED',
      `the WebAssembly instance trapped (${String(e)}); compressors made on it are gone`,
      { cause: e },
    )
    return this.broken
  }

  /**
   * Runs `f`, which calls into the module. Anything but a coded error from it is a trap (or a
   * glue error about the module's memory): the instance is marked broken, so nothing ever calls
   * into it again (a trap can leave its lock held and its heap inconsistent).
   */
  run<T>(f: () => T): T {
    if (this.broken !== null) throw this.broken
    try {
      return f()
    } catch (e) {
      if (e instanceof TemporalTensorError) throw e
      throw this.#trapped(e)
    }
  }

  /** A view of the module's memory, made again only when the memory has grown. */
  #dataView: DataView | null = null

  #u32(ptr: number): number {
    const buffer = this.ex.memory.buffer
    if (this.#dataView?.buffer !== buffer) this.#dataView = new DataView(buffer)
    return this.#dataView.getUint32(ptr, true)
  }

  #bytesAt(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.ex.memory.buffer, ptr, len).slice()
  }

  #fail(status: number): never {
    const msgRegion = this.#ensure(this.#msg, 256)
    this.ex.ttc_last_error(msgRegion.ptr, msgRegion.cap, this.#out)
    const len = Math.min(this.#u32(this.#out), msgRegion.cap)
    const message = new TextDecoder().decode(this.#bytesAt(msgRegion.ptr, len))
    throw new TemporalTensorError(codeForStatus(status), message || codeForStatus(status))
  }

  #check(status: number): void {
    if (status !== 0) this.#fail(status)
  }

  /** `region` with room for `size` bytes; sizes past `WASM_LIMITS.maxBufferBytes` are refused. */
  #ensure(region: Region, size: number): Region {
    if (!Number.isSafeInteger(size) || size < 0 || size > WASM_LIMITS.maxBufferBytes) {
      throw limitError('a buffer in WebAssembly memory, in bytes,', size, WASM_LIMITS.maxBufferBytes)
    }
    if (region.cap >= size) return region
    if (region.cap > 0) {
      this.#check(this.ex.ttc_dealloc(region.ptr, region.cap))
      region.ptr = 0
      region.cap = 0
    }
    const cap = Math.min(Math.max(size, region.cap * 2, 256), WASM_LIMITS.maxBufferBytes)
    this.#check(this.ex.ttc_alloc(cap, this.#out))
    region.ptr = this.#u32(this.#out)
    region.cap = cap
    return region
  }

  /** Frees `region` (if allocated) and leaves it empty. */
  #release(region: Region): void {
    if (region.cap > 0) this.#check(this.ex.ttc_dealloc(region.ptr, region.cap))
    region.ptr = 0
    region.cap = 0
  }

  /** `region` with room for `size` bytes, its first `keep` bytes kept when it moves. */
  #grow(region: Region, size: number, keep: number): Region {
    if (region.cap >= size) return region
    const old = { ...region }
    region.ptr = 0
    region.cap = 0
    // Exactly `size` (a compressor's region never needs more than twice its segment).
    this.#ensure(region, size)
    if (keep > 0) new Uint8Array(this.ex.memory.buffer).copyWithin(region.ptr, old.ptr, old.ptr + keep)
    this.#release(old)
    return region
  }

  #putBytes(bytes: Uint8Array): number {
    this.#ensure(this.#input, bytes.byteLength)
    new Uint8Array(this.ex.memory.buffer, this.#input.ptr, bytes.byteLength).set(bytes)
    return this.#input.ptr
  }

  #putFloats(values: Float32Array): number {
    this.#ensure(this.#input, values.byteLength)
    new Float32Array(this.ex.memory.buffer, this.#input.ptr, values.length).set(values)
    return this.#input.ptr
  }

  /** Pieces copied back to back into the input region (`bytes`: their total). */
  #putFloatParts(parts: readonly Float32Array[], bytes: number): number {
    this.#ensure(this.#input, bytes)
    let at = this.#input.ptr
    for (const part of parts) {
      new Float32Array(this.ex.memory.buffer, at, part.length).set(part)
      at += part.byteLength
    }
    return this.#input.ptr
  }

  /**
   * Calls `f(outPtr, outCap)` and grows the output to the size the core reports until it fits.
   * A report that does not grow the buffer is a bug, not a reason to loop.
   */
  #withOutput(unit: number, f: (ptr: number, cap: number) => number): number {
    return this.#withOutputWithin(unit, Infinity, f) as number
  }

  /**
   * `#withOutput`, offering `f` at most `limit` units: `null` when the core needs more than
   * that (it checks before doing anything, so nothing changed).
   */
  #withOutputWithin(unit: number, limit: number, f: (ptr: number, cap: number) => number): number | null {
    for (let attempt = 0; ; attempt++) {
      const cap = Math.min(Math.floor(this.#output.cap / unit), limit)
      const status = f(this.#output.ptr, cap)
      if (status !== TOO_SMALL) {
        this.#check(status)
        return this.#u32(this.#out)
      }
      const needed = this.#u32(this.#out)
      if (needed > limit) return null
      if (needed <= cap || attempt > 2) {
        throw new TemporalTensorError('INTERNAL', `the core asked for ${needed} units of output with ${cap} available`)
      }
      this.#ensure(this.#output, needed * unit)
    }
  }

  /** Splits back-to-back segments written by the core. */
  #splitSegments(ptr: number, total: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let at = 0; at < total; ) {
      this.#check(this.ex.ttc_segment_info(ptr + at, total - at, this.#info))
      const len = this.#u32(this.#info + 24)
      out.push(this.#bytesAt(ptr + at, len))
      at += len
    }
    return out
  }

  /**
   * Copies back-to-back segments written by the core (`total` bytes at `ptr`, `total` at most
   * `out.length`) to the start of `out` in one copy; returns each one's end offset.
   */
  #segmentsInto(ptr: number, total: number, out: Uint8Array): number[] {
    out.set(new Uint8Array(this.ex.memory.buffer, ptr, total))
    const ends: number[] = []
    for (let at = 0; at < total; ) {
      this.#check(this.ex.ttc_segment_info(ptr + at, total - at, this.#info))
      at += this.#u32(this.#info + 24)
      ends.push(at)
    }
    return ends
  }

  createCompressor(tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding): GlueCompressor {
    const values = tensorLen * policy.maxSegmentFrames
    if (values > WASM_LIMITS.maxSegmentValues) {
      throw limitError(
        `tensorLen × maxSegmentFrames (${tensorLen} × ${policy.maxSegmentFrames})`,
        values,
        WASM_LIMITS.maxSegmentValues,
      )
    }
    const ex = this.ex
    const handle = this.run(() => {
      this.#check(ex.ttc_create_with_options(tensorLen, nowTs, ...policyArgs(policy, coding), this.#out))
      return this.#u32(this.#out)
    })
    const token = {}
    const held: Held = { handle, kept: { ptr: 0, cap: 0 } }
    const framesLimit = (bytes: number) => {
      if (bytes > WASM_LIMITS.maxBufferBytes) {
        throw limitError('frames in one call, in bytes,', bytes, WASM_LIMITS.maxBufferBytes)
      }
    }
    const pushParts = (parts: readonly Float32Array[], ts: number) =>
      this.run(() => {
        let values = 0
        for (const part of parts) values += part.length
        framesLimit(values * 4)
        const inPtr = this.#putFloatParts(parts, values * 4)
        const n = this.#withOutput(1, (ptr, cap) => ex.ttc_push_frames(handle, ts, inPtr, values, ptr, cap, this.#out))
        return this.#splitSegments(this.#output.ptr, n)
      })
    /** Copies `frames` to value `at` of the kept region (grown as needed); returns their address. */
    const putKept = (frames: Float32Array, at: number): number => {
      framesLimit((at + frames.length) * 4)
      this.#grow(held.kept, (at + frames.length) * 4, at * 4)
      const inPtr = held.kept.ptr + at * 4
      new Float32Array(ex.memory.buffer, inPtr, frames.length).set(frames)
      return inPtr
    }
    /** `ttc_push_frames` of `values` floats at `inPtr` with `out` as the limit (see `pushManyInto`). */
    const pushInto = (inPtr: number, values: number, ts: number, out: Uint8Array): number[] | null => {
      const n = this.#withOutputWithin(1, out.length, (ptr, cap) => ex.ttc_push_frames(handle, ts, inPtr, values, ptr, cap, this.#out))
      return n === null ? null : this.#segmentsInto(this.#output.ptr, n, out)
    }
    const compressor: GlueCompressor = {
      push: (frame, ts) =>
        this.run(() => {
          framesLimit(frame.byteLength)
          const inPtr = this.#putFloats(frame)
          const n = this.#withOutput(1, (ptr, cap) => ex.ttc_push_frame(handle, ts, inPtr, frame.length, ptr, cap, this.#out))
          return n > 0 ? this.#bytesAt(this.#output.ptr, n) : null
        }),
      pushMany: (frames, ts) => pushParts([frames], ts),
      // The segments go from module memory straight into `out`: one copy, no buffer of their own.
      pushManyInto: (frames, ts, out) =>
        this.run(() => {
          framesLimit(frames.byteLength)
          return pushInto(this.#putFloats(frames), frames.length, ts, out)
        }),
      pushManyParts: pushParts,
      pushManyKept: (frames, ts, at) =>
        this.run(() => {
          const inPtr = putKept(frames, at)
          const n = this.#withOutput(1, (ptr, cap) => ex.ttc_push_frames(handle, ts, inPtr, frames.length, ptr, cap, this.#out))
          return this.#splitSegments(this.#output.ptr, n)
        }),
      pushManyKeptInto: (frames, ts, at, out) => this.run(() => pushInto(putKept(frames, at), frames.length, ts, out)),
      // Reads only: usable on a broken instance too (its memory is still there).
      kept: (at, length) => new Float32Array(ex.memory.buffer, held.kept.ptr + at * 4, length).slice(),
      keptMove: (from, length, to) => {
        const base = held.kept.ptr / 4
        new Float32Array(ex.memory.buffer).copyWithin(base + to, base + from, base + from + length)
      },
      keptCapacity: () => held.kept.cap / 4,
      flush: () =>
        this.run(() => {
          const n = this.#withOutput(1, (ptr, cap) => ex.ttc_flush(handle, ptr, cap, this.#out))
          return n > 0 ? this.#bytesAt(this.#output.ptr, n) : null
        }),
      peek: () =>
        this.run(() => {
          const n = this.#withOutput(1, (ptr, cap) => ex.ttc_peek(handle, ptr, cap, this.#out))
          return n > 0 ? this.#bytesAt(this.#output.ptr, n) : null
        }),
      touch: (ts) => this.run(() => this.#check(ex.ttc_touch(handle, ts))),
      setAccess: (count, last) => this.run(() => this.#check(ex.ttc_set_access(handle, count, last))),
      bitsAt: (ts) =>
        this.run(() => {
          this.#check(ex.ttc_bits_at(handle, ts, this.#out))
          return this.#u32(this.#out)
        }),
      state: () =>
        this.run(() => {
          this.#check(ex.ttc_compressor_info(handle, this.#info))
          const w = new Uint32Array(ex.memory.buffer, this.#info, 6)
          // `TtcCompressorInfo`, field by field.
          return stateFrom({
            tensorLen: w[0],
            activeBits: w[1],
            activeFrames: w[2],
            pendingLen: w[3],
            accessCount: w[4],
            lastAccessTs: w[5],
          })
        }),
      // Without a worker (see `wasm-async.ts` for the worker path): the work runs on this
      // thread, one event-loop turn after the call, on a copy of the frames taken at the call.
      pushManyAsync: async (frames, ts, signal) => {
        const copy = frames.slice()
        await nextTurn()
        if (signal?.aborted) throw abortedError(signal)
        return compressor.pushMany(copy, ts)
      },
      flushAsync: async (signal) => {
        await nextTurn()
        if (signal?.aborted) throw abortedError(signal)
        return compressor.flush()
      },
      free: () => {
        this.#handles.unregister(token)
        // On a broken instance there is nothing to free (and nothing may be called).
        if (this.broken === null) {
          this.run(() => {
            this.#check(ex.ttc_free(handle))
            this.#release(held.kept)
          })
        }
      },
    }
    this.#handles.register(compressor, held, token)
    return compressor
  }

  /** Values a segment decodes to, from its header (after the size checks on its bytes). */
  #valueCount(segPtr: number, segment: Uint8Array): number {
    this.#check(this.ex.ttc_segment_info(segPtr, segment.byteLength, this.#info))
    return this.#u32(this.#info + 12) * this.#u32(this.#info + 16)
  }

  decodeSegment(segment: Uint8Array, maxValues: number): Float32Array {
    return this.run(() => {
      const segPtr = this.#putBytes(segment)
      const values = this.#valueCount(segPtr, segment)
      if (values > maxValues) throw limitExceeded(values, maxValues)
      this.#ensure(this.#output, values * 4)
      const n = this.#withOutput(4, (ptr, cap) => this.ex.ttc_decode_segment(segPtr, segment.byteLength, ptr, cap, this.#out))
      return new Float32Array(this.ex.memory.buffer, this.#output.ptr, n).slice()
    })
  }

  decodeSegmentInto(segment: Uint8Array, out: Float32Array): number {
    return this.run(() => {
      const ex = this.ex
      const segPtr = this.#putBytes(segment)
      // One call when the output region is large enough (the usual case): the core checks the
      // header, and reports a segment larger than `out` or the region, with the values it holds.
      const cap = Math.min(out.length, Math.floor(this.#output.cap / 4))
      let status = ex.ttc_decode_segment(segPtr, segment.byteLength, this.#output.ptr, cap, this.#out)
      if (status === TOO_SMALL) {
        const values = this.#u32(this.#out)
        if (values > out.length) {
          throw new TemporalTensorError('BUFFER_TOO_SMALL', `output holds ${out.length} values, the segment ${values}`)
        }
        if (values <= cap) throw new TemporalTensorError('INTERNAL', `the core asked for ${values} values of output with ${cap} available`)
        this.#ensure(this.#output, values * 4)
        status = ex.ttc_decode_segment(segPtr, segment.byteLength, this.#output.ptr, values, this.#out)
      }
      this.#check(status)
      const n = this.#u32(this.#out)
      out.set(new Float32Array(ex.memory.buffer, this.#output.ptr, n))
      return n
    })
  }

  decodeFrame(segment: Uint8Array, index: number): Float32Array {
    return this.run(() => {
      const segPtr = this.#putBytes(segment)
      const n = this.#withOutput(4, (ptr, cap) => this.ex.ttc_decode_frame(segPtr, segment.byteLength, index, ptr, cap, this.#out))
      return new Float32Array(this.ex.memory.buffer, this.#output.ptr, n).slice()
    })
  }

  errorBound(bits: number): number {
    return this.run(() => {
      this.#check(this.ex.ttc_error_bound(bits, this.#out))
      return new DataView(this.ex.memory.buffer).getFloat32(this.#out, true)
    })
  }

  segmentInfo(segment: Uint8Array) {
    return this.run(() => {
      const segPtr = this.#putBytes(segment)
      this.#check(this.ex.ttc_segment_info(segPtr, segment.byteLength, this.#info))
      const w = new Uint32Array(this.ex.memory.buffer, this.#info, 9)
      // `TtcSegmentInfo`, field by field (`bound` is its one f32).
      return segmentInfoFrom({
        version: w[0],
        bits: w[1],
        groupLen: w[2],
        tensorLen: w[3],
        frameCount: w[4],
        scaleCount: w[5],
        byteLength: w[6],
        bound: new Float32Array(this.ex.memory.buffer, this.#info + 28, 1)[0],
        keyframeInterval: w[8],
      })
    })
  }
}

/**
 * What the glue needs of a `WebAssembly.Instance`: its exports. Written structurally so that the
 * published declarations need neither the DOM nor a WebAssembly lib: a Node project compiling
 * with `lib: ["ES2022"]` and `skipLibCheck: false` type-checks against them.
 */
export interface WasmInstance {
  readonly exports: object
}

/**
 * The bundled source of `wasm-worker.ts`, put in by `scripts/build-ts.mjs` (esbuild `--inject`);
 * absent when this file is used unbundled.
 */
declare const __TT_WORKER_SOURCE__: string | undefined

/** The worker source of this bundle, or `undefined`. */
function workerSource(): string | undefined {
  try {
    return typeof __TT_WORKER_SOURCE__ === 'string' ? __TT_WORKER_SOURCE__ : undefined
  } catch {
    return undefined
  }
}

/** What the async calls need to run in a worker: the compiled module and how to start one. */
export interface WasmWorkerOptions {
  /** The `WebAssembly.Module` the instance came from (the worker instantiates it again). */
  module: unknown
  /** Starts a worker from source text (Node: `worker_threads`; browsers: a module `Worker`). */
  spawn: SpawnWorker
}

/**
 * Wraps an instantiated module as a `Backend`. With `reinstantiate`, work after a trap runs on a
 * fresh instance (compressors made before the trap stay `BACKEND_FAILED`); without it, every
 * call after a trap throws `BACKEND_FAILED`. With `worker` (and a bundled worker source), the
 * async calls run in a worker with its own instance (see `wasm-async.ts`); without, on this
 * thread one event-loop turn after the call.
 */
export function wasmBackend(instance: WasmInstance, reinstantiate?: () => WasmInstance, worker?: WasmWorkerOptions): Backend {
  let current = new Glue(instance)
  const live = (): Glue => {
    if (current.broken !== null && reinstantiate !== undefined) {
      try {
        current = new Glue(reinstantiate())
      } catch (e) {
        throw new TemporalTensorError('BACKEND_FAILED', `the WebAssembly module could not be instantiated again: ${String(e)}`, {
          cause: e,
        })
      }
    }
    return current
  }
  const source = workerSource()
  const pool = worker !== undefined && source !== undefined ? new WorkerPool(worker.spawn, source, worker.module) : null
  let nextKey = 1
  const make: MakeLocal = (tensorLen, nowTs, policy, coding) => live().createCompressor(tensorLen, nowTs, policy, coding)
  return {
    name: 'wasm',
    kernels: current.kernels,
    kernelsReason: wasmKernelsReason(current.kernels),
    createCompressor: (tensorLen, nowTs, policy, coding) =>
      pool === null ? make(tensorLen, nowTs, policy, coding) : new MovableCompressor(make, pool, nextKey++, tensorLen, nowTs, policy, coding),
    decodeSegment: (segment, maxValues) => live().decodeSegment(segment, maxValues),
    decodeSegmentAsync: async (segment: Uint8Array, maxValues: number, signal: AbortSignalLike | undefined) => {
      if (pool !== null) return decodeInWorker(pool, (s, m) => live().decodeSegment(s, m), segment, maxValues, signal)
      const copy = segment.slice()
      await nextTurn()
      if (signal?.aborted) throw abortedError(signal)
      return live().decodeSegment(copy, maxValues)
    },
    decodeSegmentInto: (segment, out) => live().decodeSegmentInto(segment, out),
    decodeFrame: (segment, index) => live().decodeFrame(segment, index),
    segmentInfo: (segment) => live().segmentInfo(segment),
    errorBound: (bits) => live().errorBound(bits),
  }
}
