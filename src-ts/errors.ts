/**
 * Errors thrown by every function of this package, from either backend.
 *
 * `code` is stable and matches the Rust core's `Error::code()` (see `ERROR_CODES`), plus the
 * codes of the JS layer itself (`JS_ERROR_CODES`).
 */

/** Core error codes with the status the `ttc_*` ABI returns for each (pinned by a test). */
export const ERROR_CODES = {
  /** A frame (or output buffer) of the wrong number of values. */
  LENGTH_MISMATCH: -1,
  /** A NaN or infinite value in a frame; nothing was compressed. */
  NON_FINITE: -2,
  /** A policy or option out of range. */
  INVALID_CONFIG: -3,
  /** A size past a limit (`MAX_DECODE_VALUES`, `WASM_LIMITS`, tensor length), refused before allocating. */
  LIMIT_EXCEEDED: -4,
  /** Segment bytes that end before the segment does. */
  TRUNCATED: -5,
  /** Bytes that do not start with the TQTC magic. */
  BAD_MAGIC: -6,
  /** A TQTC version this build does not read. */
  UNSUPPORTED_VERSION: -7,
  /** A segment whose fields or checksum do not hold together. */
  CORRUPT_SEGMENT: -8,
  /** A frame index at or past the segment's frame count. */
  FRAME_OUT_OF_RANGE: -9,
  /** An output buffer too small for the result; nothing was written. */
  BUFFER_TOO_SMALL: -10,
  /** C ABI: a null pointer where one is required. */
  NULL_POINTER: -11,
  /** C ABI: a pointer not aligned for its type. */
  MISALIGNED: -12,
  /** A compressor that was freed (or a stale C handle). */
  INVALID_HANDLE: -13,
  /** C ABI: freeing memory the library did not allocate. */
  UNKNOWN_ALLOCATION: -14,
  /** An allocation failed. */
  OUT_OF_MEMORY: -15,
  /** A bug: an invariant of the library did not hold. */
  INTERNAL: -16,
  /** An argument of the wrong type or out of range. */
  INVALID_ARGUMENT: -17,
} as const

/** A core error code. */
export type CoreErrorCode = keyof typeof ERROR_CODES

/**
 * Codes of the JS layer itself (no `ttc_*` status):
 * - `BUSY`: a compressor was used while one of its async calls (`pushManyAsync`, `flushAsync`)
 *   had not settled; nothing was done.
 * - `ABORTED`: an async call's `AbortSignal` fired before the work started; nothing was done.
 * - `BACKEND_UNAVAILABLE`: a forced or required backend could not load.
 * - `NOT_INITIALIZED`: the browser entry was used before `await init()`.
 * - `BACKEND_FAILED`: the WebAssembly instance trapped; its compressors are gone (every call on
 *   them throws this), while new compressors and decodes run on a fresh instance.
 * - `STORAGE_FULL`: a persistent store's disk (or database map) is full; nothing was written.
 * - `IO_ERROR`: a persistent store's file system failed (read-only, permissions, I/O error);
 *   nothing was written.
 * - `STORE_LOCKED`: another process (or another open store in this one) has the LMDB store
 *   open; on Redis and PostgreSQL, another store writes the tensor (holds its lease, or wrote
 *   the frame first).
 * - `IO_ERROR` also covers a Redis or PostgreSQL server that cannot be reached within the
 *   store's `timeoutMs`.
 * - `STORE_CORRUPT`: a persistent store's files are damaged; `TensorStreamStore.verify` tells
 *   what, `TensorStreamStore.repair` keeps what is intact.
 */
export const JS_ERROR_CODES = [
  'BUSY',
  'ABORTED',
  'BACKEND_UNAVAILABLE',
  'NOT_INITIALIZED',
  'BACKEND_FAILED',
  'STORAGE_FULL',
  'IO_ERROR',
  'STORE_LOCKED',
  'STORE_CORRUPT',
] as const

/** Every `code` a `TemporalTensorError` can carry: the core's and the JS layer's. */
export type ErrorCode = CoreErrorCode | (typeof JS_ERROR_CODES)[number]

const BY_STATUS = new Map<number, CoreErrorCode>(
  Object.entries(ERROR_CODES).map(([code, status]) => [status, code as CoreErrorCode]),
)

/** The core error code for a negative `ttc_*` status (`INTERNAL` for an unknown one). */
export function codeForStatus(status: number): CoreErrorCode {
  return BY_STATUS.get(status) ?? 'INTERNAL'
}

/** True when `value` is one of the codes above. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return (
    typeof value === 'string' &&
    (Object.hasOwn(ERROR_CODES, value) || (JS_ERROR_CODES as readonly string[]).includes(value))
  )
}

/** The one error class of this package. Check `err.code`, never the message. */
export class TemporalTensorError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TemporalTensorError'
    this.code = code
  }
}

/** Throws `INVALID_ARGUMENT` unless `value` is an integer in `[0, 2^32)`. */
export function checkU32(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new TemporalTensorError(
      'INVALID_ARGUMENT',
      `${name} must be an integer from 0 to 4294967295, got ${String(value)}`,
    )
  }
  return value
}

/**
 * The intrinsic `buffer`, `byteOffset` and `length` getters of typed arrays: an array's own
 * properties (`Object.defineProperty(frame, 'length', ...)`) or a subclass cannot change what
 * they return.
 */
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object
const intrinsic = (name: string) => Object.getOwnPropertyDescriptor(TYPED_ARRAY, name)!.get! as (this: ArrayBufferView) => number
const bufferOf = intrinsic('buffer') as unknown as (this: ArrayBufferView) => ArrayBufferLike
const byteOffsetOf = intrinsic('byteOffset')
const lengthOf = intrinsic('length')

/**
 * A fresh view on the same memory as `value`, built from the intrinsic getters: what every layer
 * below the facade sees, so lengths always come from the underlying buffer. `'detached'` when
 * the buffer was transferred; `'fake'` when `value` only pretends to be a typed array (an object
 * with a typed array's prototype).
 */
function cleanView<T extends Float32Array | Uint8Array>(
  value: T,
  make: (b: ArrayBufferLike, o: number, n: number) => T,
): T | 'detached' | 'fake' {
  let buffer: ArrayBufferLike
  let offset: number
  let length: number
  try {
    buffer = bufferOf.call(value)
    offset = byteOffsetOf.call(value)
    length = lengthOf.call(value)
  } catch {
    return 'fake'
  }
  try {
    const view = make(buffer, offset, length)
    return isDetached(view) ? 'detached' : view
  } catch {
    return 'detached' // a detached buffer reads as empty, and a view on it cannot be made
  }
}

function checkedView<T extends Float32Array | Uint8Array>(
  value: T,
  name: string,
  type: string,
  make: (b: ArrayBufferLike, o: number, n: number) => T,
): T {
  const view = cleanView(value, make)
  if (view === 'fake') throw new TemporalTensorError('INVALID_ARGUMENT', `${name} must be a ${type}`)
  if (view === 'detached') throw new TemporalTensorError('INVALID_ARGUMENT', `${name} is a view on a detached ArrayBuffer`)
  return view
}

/**
 * `value` as a `Float32Array` view of its own memory (see `cleanView`); throws
 * `INVALID_ARGUMENT` unless it is a `Float32Array` on a live (not detached) buffer.
 */
export function checkFloat32Array(value: unknown, name: string): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `${name} must be a Float32Array`)
  }
  return checkedView(value, name, 'Float32Array', (b, o, n) => new Float32Array(b, o, n))
}

/**
 * `value` as a `Uint8Array` view of its own memory (a Node `Buffer` is accepted); throws
 * `INVALID_ARGUMENT` unless it is a `Uint8Array` on a live buffer.
 */
export function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `${name} must be a Uint8Array`)
  }
  return checkedView(value, name, 'Uint8Array', (b, o, n) => new Uint8Array(b, o, n))
}

/** True when `view`'s ArrayBuffer was detached (it then reads as empty). */
function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false
  try {
    new Uint8Array(view.buffer) // throws on a detached buffer (Node < 22 has no `.detached`)
    return false
  } catch {
    return true
  }
}
