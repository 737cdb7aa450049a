/**
 * The frame inputs the API accepts, turned into the `Float32Array` every layer below the facade
 * takes. Internal (the `FrameInput` type is public).
 *
 * Where a copy happens:
 * - `Float32Array`: none (a fresh view on the same memory; see `checkFloat32Array`).
 * - `Float64Array`, `number[]`: always one copy, each value rounded to the nearest f32 (a value
 *   beyond f32's range becomes ±Infinity, then `NON_FINITE` as a NaN does).
 * - `Uint8Array` (and Node's `Buffer`), `DataView`: bytes of little-endian f32 values. None when
 *   the view starts on a 4-byte boundary of its buffer (a `Float32Array` view on the same
 *   memory, on a little-endian host); one copy when it does not (or on a big-endian host).
 *
 * The WebAssembly backend copies every frame into the module's memory on top of this.
 */
import { TemporalTensorError, checkBytes, checkFloat32Array } from './errors.js'

/**
 * Frames as a user may already hold them: f32 values (`Float32Array`), f64 values
 * (`Float64Array`, `number[]`), or the bytes of little-endian f32 values (`Uint8Array`, Node's
 * `Buffer`, `DataView`). Frames given together are stored back to back.
 */
export type FrameInput = Float32Array | Float64Array | readonly number[] | Uint8Array | DataView

/** True when this host stores f32 values little-endian (every host Node and browsers run on). */
const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f

const dataViewBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer')!.get!
const dataViewOffset = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset')!.get!
const dataViewLength = Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength')!.get!

const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedGetter = (key: string) => Object.getOwnPropertyDescriptor(TYPED_ARRAY, key)!.get!

/**
 * A fresh `Float64Array` on `value`'s memory, from the intrinsic getters (own properties cannot
 * change what is read); `INVALID_ARGUMENT` for a detached buffer or a fake typed array.
 */
function float64View(value: Float64Array, name: string): Float64Array {
  let view: Float64Array
  try {
    const buffer = typedGetter('buffer').call(value) as ArrayBufferLike
    view = new Float64Array(buffer, typedGetter('byteOffset').call(value) as number, typedGetter('length').call(value) as number)
    if (view.length === 0) new Uint8Array(buffer) // throws when detached
  } catch {
    throw new TemporalTensorError('INVALID_ARGUMENT', `${name} must be a Float64Array on a live (not detached) ArrayBuffer`)
  }
  return view
}

/** `bytes` (little-endian f32 values) as a `Float32Array`: a view when aligned, else a copy. */
function fromBytes(bytes: Uint8Array, name: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new TemporalTensorError(
      'LENGTH_MISMATCH',
      `${name} holds ${bytes.byteLength} bytes, not a whole number of f32 values (4 bytes each)`,
    )
  }
  const n = bytes.byteLength / 4
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n)
  if (LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/**
 * `value` as a `Float32Array` (see the module comment for when it is a copy). Throws
 * `INVALID_ARGUMENT` for another type, a detached buffer, or an array element that is not a
 * number; `LENGTH_MISMATCH` for bytes that are not a multiple of 4.
 */
export function toFloat32(value: unknown, name: string): Float32Array {
  if (value instanceof Float32Array) return checkFloat32Array(value, name)
  if (value instanceof Uint8Array) return fromBytes(checkBytes(value, name), name)
  if (value instanceof Float64Array) return Float32Array.from(float64View(value, name))
  if (value instanceof DataView) {
    let bytes: Uint8Array
    try {
      const buffer = dataViewBuffer.call(value) as ArrayBufferLike
      bytes = new Uint8Array(buffer, dataViewOffset.call(value) as number, dataViewLength.call(value) as number)
    } catch {
      throw new TemporalTensorError('INVALID_ARGUMENT', `${name} is a DataView on a detached ArrayBuffer`)
    }
    return fromBytes(checkBytes(bytes, name), name)
  }
  if (Array.isArray(value)) {
    const out = new Float32Array(value.length)
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      if (typeof v !== 'number') {
        throw new TemporalTensorError('INVALID_ARGUMENT', `${name}[${i}] must be a number, got ${typeof v}`)
      }
      out[i] = v
    }
    return out
  }
  throw new TemporalTensorError(
    'INVALID_ARGUMENT',
    `${name} must be a Float32Array, Float64Array, number[], or a Uint8Array, Buffer or DataView of little-endian f32 bytes`,
  )
}
