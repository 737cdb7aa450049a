/**
 * Node streams over the compressor (Node entry only; the Web `TransformStream`s are in
 * `web-streams.ts`). Backpressure is Node's: a transform runs only when the readable side has
 * room, so a slow consumer holds the writer back instead of letting output pile up.
 */
import { Transform } from 'node:stream'
import type { TransformCallback } from 'node:stream'
import type { FrameInput } from './frames.js'
import { SegmentSplitter, StreamCompressor } from './stream-parts.js'
import type { CompressStreamOptions, DecompressStreamOptions } from './stream-parts.js'

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * A Node `Transform` from frames to segments. Writable side in object mode: each chunk is one
 * or more whole frames back to back (any `FrameInput`: a `Float32Array` of `k × tensorLen`
 * values, a `Buffer` of little-endian f32 bytes, ...), all compressed at `options.nowTs`.
 * Readable side: one `Buffer` per finished segment; `end()` flushes the last one. A bad chunk
 * destroys the stream with its coded `TemporalTensorError` (`LENGTH_MISMATCH`, `NON_FINITE`,
 * `INVALID_ARGUMENT`). The compressor is freed when the stream ends or is destroyed. Throws the
 * compressor's errors (`INVALID_ARGUMENT`, `INVALID_CONFIG`, ...) for bad options.
 *
 * ```ts
 * await pipeline(frames, createCompressStream({ tensorLen: 512 }), createWriteStream('x.tqtc'))
 * ```
 */
export function createCompressStream(options: CompressStreamOptions): Transform {
  const c = new StreamCompressor(options)
  return new Transform({
    objectMode: true,
    transform(chunk: FrameInput, _encoding: BufferEncoding, callback: TransformCallback) {
      let segments: Uint8Array[]
      try {
        segments = c.write(chunk)
      } catch (e) {
        callback(e as Error)
        return
      }
      for (const s of segments) this.push(asBuffer(s))
      callback()
    },
    flush(callback: TransformCallback) {
      let last: Uint8Array[]
      try {
        last = c.end()
      } catch (e) {
        callback(e as Error)
        return
      }
      c.free()
      for (const s of last) this.push(asBuffer(s))
      callback()
    },
    destroy(error: Error | null, callback: (error: Error | null) => void) {
      c.free()
      callback(error)
    },
  })
}

/**
 * A Node `Transform` from segment bytes to frames: the inverse of `createCompressStream`.
 * Writable side: bytes (`Buffer`/`Uint8Array`) of segments back to back, split anywhere (a
 * `.tqtc` file from `createReadStream`). Readable side, object mode: one `Float32Array` of
 * `tensorLen` values per frame. Holds at most one segment's bytes (`maxSegmentBytes`). A corrupt
 * segment destroys the stream with the core's coded error (`CORRUPT_SEGMENT`, `BAD_MAGIC`,
 * ...), bytes left at the end with `TRUNCATED`, a segment over the limits with `LIMIT_EXCEEDED`.
 */
export function createDecompressStream(options?: DecompressStreamOptions): Transform {
  const splitter = new SegmentSplitter(options)
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      try {
        splitter.write(chunk, (frame) => this.push(frame))
      } catch (e) {
        callback(e as Error)
        return
      }
      callback()
    },
    flush(callback: TransformCallback) {
      try {
        splitter.end()
      } catch (e) {
        callback(e as Error)
        return
      }
      callback()
    },
  })
}
