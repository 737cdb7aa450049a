/**
 * Web Streams (`TransformStream`, like the platform's `CompressionStream`) over the compressor:
 * for browsers, Deno, workers and Node 18+. Exported by both entries.
 */
import type { FrameInput } from './frames.js'
import { SegmentSplitter, StreamCompressor } from './stream-parts.js'
import type { CompressStreamOptions, DecompressStreamOptions } from './stream-parts.js'

export type { CompressStreamOptions, DecompressStreamOptions } from './stream-parts.js'

/**
 * A `TransformStream` from frames to segments. Each chunk written is one or more whole frames
 * stored back to back (any `FrameInput`: a `Float32Array` of `k × tensorLen` values, or the
 * bytes of little-endian f32 values); each chunk read is one segment's bytes. Closing the
 * writable side flushes the last segment. A bad chunk (`LENGTH_MISMATCH`, `NON_FINITE`,
 * `INVALID_ARGUMENT`) errors the stream with that coded `TemporalTensorError`. The compressor
 * is freed when the stream closes, errors, or is cancelled (on runtimes that call a
 * transformer's `cancel`; elsewhere when it is collected). The constructor throws the
 * compressor's errors for bad options.
 *
 * ```ts
 * const segments = frameStream.pipeThrough(new TensorCompressionStream({ tensorLen: 512 }))
 * ```
 */
export class TensorCompressionStream extends TransformStream<FrameInput, Uint8Array> {
  constructor(options: CompressStreamOptions) {
    const c = new StreamCompressor(options)
    const guard = <T>(f: () => T): T => {
      try {
        return f()
      } catch (e) {
        c.free()
        throw e
      }
    }
    super({
      transform(chunk, controller) {
        for (const segment of guard(() => c.write(chunk))) controller.enqueue(segment)
      },
      flush(controller) {
        const last = guard(() => c.end())
        c.free()
        for (const segment of last) controller.enqueue(segment)
      },
      cancel() {
        c.free()
      },
    } as Transformer<FrameInput, Uint8Array>)
  }
}

/**
 * A `TransformStream` from segment bytes to frames: the inverse of `TensorCompressionStream`.
 * Chunks written are bytes of segments back to back, cut anywhere (a `.tqtc` file read in any
 * chunk size); each chunk read is one frame (a `Float32Array` of its `tensorLen` values). Holds
 * at most one segment's bytes (`maxSegmentBytes`). A corrupt segment errors the stream with the
 * core's coded error (`CORRUPT_SEGMENT`, `BAD_MAGIC`, ...), bytes left at the end with `TRUNCATED`.
 */
export class TensorDecompressionStream extends TransformStream<Uint8Array, Float32Array> {
  constructor(options?: DecompressStreamOptions) {
    const splitter = new SegmentSplitter(options)
    super({
      transform(chunk, controller) {
        splitter.write(chunk, (frame) => controller.enqueue(frame))
      },
      flush() {
        splitter.end()
      },
    })
  }
}
