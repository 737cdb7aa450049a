/**
 * The runtime-neutral parts of the streaming API: options, the compressor a stream drives, and
 * the splitter that cuts a byte stream into whole segments with bounded memory. Used by the Web
 * streams (`web-streams.ts`) and the Node streams (`streams.ts`). Internal.
 */
import { TemporalTensorCompressor, decodeFrame, decodeSegment, segmentInfo } from './api.js'
import type { CompressorOptions } from './api.js'
import { TemporalTensorError, checkBytes, checkU32 } from './errors.js'
import { toFloat32 } from './frames.js'
import type { FrameInput } from './frames.js'
import { MAX_DECODE_VALUES, isCodedVersion } from './limits.js'

/** Options of the compress streams: the compressor's, plus the access statistics to start from. */
export interface CompressStreamOptions extends CompressorOptions {
  /** Passed to `setAccess` before the first frame (with `lastAccessTs`); picks the tier. Default 0. */
  accessCount?: number
  /** See `accessCount`. Default 0. */
  lastAccessTs?: number
}

/**
 * Segments of at most this many values (16 MiB of f32) are decoded in one call; larger ones
 * frame by frame.
 */
const WHOLE_SEGMENT_VALUES = 2 ** 22

/** Options of the decompress streams. */
export interface DecompressStreamOptions {
  /**
   * A segment that decodes to more values is `LIMIT_EXCEEDED`. Default and maximum
   * `MAX_DECODE_VALUES`. Segments over 2^22 values are decoded a frame at a time, so the
   * decoded values held stay below 16 MiB (or one frame) whatever this is.
   */
  maxValues?: number
  /**
   * A segment whose header announces more bytes is `LIMIT_EXCEEDED` before they are buffered:
   * the most memory the stream holds for one segment. Default `4 × maxValues + 1 MiB`.
   */
  maxSegmentBytes?: number
}

/**
 * One compressor driven by a stream: `write` compresses a chunk of whole frames (any
 * `FrameInput`), `end` flushes the last segment; both return the finished segments. `free` is
 * idempotent. Internal.
 */
export class StreamCompressor {
  readonly #c: TemporalTensorCompressor
  readonly #nowTs: number

  constructor(options: CompressStreamOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object with tensorLen')
    }
    const { accessCount, lastAccessTs, ...rest } = options
    const count = checkU32(accessCount ?? 0, 'accessCount')
    const last = checkU32(lastAccessTs ?? 0, 'lastAccessTs')
    this.#nowTs = checkU32(options.nowTs ?? 0, 'nowTs')
    this.#c = new TemporalTensorCompressor(rest)
    if (count !== 0 || last !== 0) {
      try {
        this.#c.setAccess(count, last)
      } catch (e) {
        this.#c.free()
        throw e
      }
    }
  }

  /** Compresses `chunk` (whole frames: its value count a multiple of `tensorLen`). */
  write(chunk: FrameInput): Uint8Array[] {
    const values = toFloat32(chunk, 'chunk')
    if (values.length % this.#c.tensorLen !== 0) {
      throw new TemporalTensorError(
        'LENGTH_MISMATCH',
        `a chunk holds ${values.length} values, not a whole number of frames of ${this.#c.tensorLen}`,
      )
    }
    return this.#c.pushMany(values, this.#nowTs)
  }

  /** Finishes the open segment: `[segment]`, or `[]` when none is open. */
  end(): Uint8Array[] {
    const last = this.#c.flush()
    return last === null ? [] : [last]
  }

  /** Releases the compressor (idempotent). */
  free(): void {
    this.#c.free()
  }

  /** True once freed. */
  get freed(): boolean {
    return this.#c.freed
  }
}

const FIXED_PACKED = 22
const FIXED_CODED = 28

/**
 * Bytes the segment starting with `head` takes, or the number of leading bytes needed to tell
 * (larger than `head.length`). Reads only the length fields of the layouts in `docs/format.md`;
 * the core validates everything else when the segment is complete.
 */
function segmentLength(head: Uint8Array): number | { need: number } {
  if (head.length < 5) return { need: 5 }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const version = head[4]
  if (isCodedVersion(version)) {
    if (head.length < FIXED_CODED) return { need: FIXED_CODED }
    return view.getUint32(24, true)
  }
  if (head.length < FIXED_PACKED) return { need: FIXED_PACKED }
  const width = version === 1 ? 2 : 4 // another version: the core rejects the fixed header
  const scalesEnd = FIXED_PACKED + width * view.getUint32(18, true)
  if (head.length < scalesEnd + 4) return { need: scalesEnd + 4 }
  return scalesEnd + 4 + view.getUint32(scalesEnd, true)
}

/** Checks the decompress options; fills in the defaults. */
export function decompressLimits(options: DecompressStreamOptions | undefined): { maxValues: number; maxSegmentBytes: number } {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object')
  }
  const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  const maxValues = options?.maxValues ?? MAX_DECODE_VALUES
  if (!isCount(maxValues)) throw new TemporalTensorError('INVALID_ARGUMENT', `maxValues must be an integer >= 0, got ${String(maxValues)}`)
  const maxSegmentBytes = options?.maxSegmentBytes ?? 4 * Math.min(maxValues, MAX_DECODE_VALUES) + 2 ** 20
  if (!isCount(maxSegmentBytes)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `maxSegmentBytes must be an integer >= 0, got ${String(maxSegmentBytes)}`)
  }
  return { maxValues: Math.min(maxValues, MAX_DECODE_VALUES), maxSegmentBytes }
}

/**
 * Cuts bytes arriving in arbitrary chunks into whole segments and decodes each into its frames.
 * Holds at most one segment's bytes plus the chunk being read. Errors are coded
 * `TemporalTensorError`s: the core's for a bad segment, `TRUNCATED` for bytes left at the end,
 * `LIMIT_EXCEEDED` for a segment over the limits. Internal.
 */
export class SegmentSplitter {
  readonly #chunks: Uint8Array[] = []
  #buffered = 0
  /** Length of the segment at the head of the queue, once its header was read. */
  #length: number | null = null
  readonly #maxValues: number
  readonly #maxBytes: number

  constructor(options: DecompressStreamOptions | undefined) {
    const limits = decompressLimits(options)
    this.#maxValues = limits.maxValues
    this.#maxBytes = limits.maxSegmentBytes
  }

  /**
   * Takes `chunk` and hands `emit` the frames (`Float32Array` of `tensorLen` values each) of
   * every segment it completes, in order. A bad segment throws after the frames of the segments
   * before it were emitted.
   */
  write(chunk: Uint8Array, emit: (frame: Float32Array) => void): void {
    const bytes = checkBytes(chunk, 'chunk')
    if (bytes.byteLength > 0) {
      this.#chunks.push(bytes)
      this.#buffered += bytes.byteLength
    }
    for (;;) {
      const segment = this.#next()
      if (segment === null) return
      const info = segmentInfo(segment)
      const count = info.frameCount * info.tensorLen
      if (count <= WHOLE_SEGMENT_VALUES || count > this.#maxValues) {
        const values = decodeSegment(segment, { maxValues: this.#maxValues })
        for (let f = 0; f < info.frameCount; f++) emit(values.subarray(f * info.tensorLen, (f + 1) * info.tensorLen))
      } else {
        // A large segment (a few bytes may describe 2^28 values) is decoded frame by frame, so
        // the stream holds one frame of it at a time, not the whole decoded segment.
        for (let f = 0; f < info.frameCount; f++) emit(decodeFrame(segment, f))
      }
    }
  }

  /** The end of the input: throws `TRUNCATED` (or the core's error for the bytes) if a segment is incomplete. */
  end(): void {
    if (this.#buffered === 0) return
    segmentInfo(this.#peek(this.#buffered)) // throws the core's error for the partial segment
    throw new TemporalTensorError('TRUNCATED', `the stream ended inside a segment (${this.#buffered} bytes left)`)
  }

  /** Bytes held (less than one segment, between calls). */
  get buffered(): number {
    return this.#buffered
  }

  /** The next whole segment, taken off the queue, or `null` when more bytes are needed. */
  #next(): Uint8Array | null {
    let length: number | { need: number } = this.#length ?? { need: 5 }
    while (typeof length !== 'number') {
      if (this.#buffered < length.need) return null
      const head = this.#peek(length.need)
      // The core checks the header as soon as it is here (magic, version, fields).
      checkHeader(head)
      length = segmentLength(head)
    }
    if (length > this.#maxBytes) {
      throw new TemporalTensorError('LIMIT_EXCEEDED', `a segment of ${length} bytes exceeds maxSegmentBytes ${this.#maxBytes}`)
    }
    this.#length = length
    if (this.#buffered < length) return null
    this.#length = null
    return this.#take(length)
  }

  /** The first `n` buffered bytes (a view when they are in one chunk, else a copy), left in place. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]
    if (first.byteLength >= n) return first.subarray(0, n)
    const out = new Uint8Array(n)
    let at = 0
    for (const c of this.#chunks) {
      const part = c.subarray(0, n - at)
      out.set(part, at)
      at += part.byteLength
      if (at === n) break
    }
    return out
  }

  /** The first `n` buffered bytes, removed from the queue. */
  #take(n: number): Uint8Array {
    const out = this.#peek(n)
    let left = n
    while (left > 0) {
      const first = this.#chunks[0]
      if (first.byteLength <= left) {
        this.#chunks.shift()
        left -= first.byteLength
      } else {
        this.#chunks[0] = first.subarray(left)
        left = 0
      }
    }
    this.#buffered -= n
    return out
  }
}

/** Throws the core's error for a segment header, unless the only fault is that bytes are missing. */
function checkHeader(head: Uint8Array): void {
  try {
    segmentInfo(head)
  } catch (e) {
    if (e instanceof TemporalTensorError && e.code === 'TRUNCATED') return
    throw e
  }
}
