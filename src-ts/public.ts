/** The API both entries (Node `index.ts`, browser `browser.ts`) export unchanged. */
export {
  DEFAULT_FORMAT,
  DEFAULT_KEYFRAME_INTERVAL,
  DEFAULT_POLICY,
  ERROR_BOUNDS,
  MAX_DECODE_VALUES,
  TemporalTensorCompressor,
  decodeFrame,
  decodeSegment,
  decodeSegmentAsync,
  decodeSegmentInto,
  defaultMaxSegmentFrames,
  errorBound,
  segmentInfo,
  splitSegments,
} from './api.js'
export type { AbortSignalLike, AsyncOptions, CompressorOptions, DecodeOptions, FrameInput, SegmentFormat, SegmentInfo, TierPolicyOptions } from './api.js'
export { WASM_LIMITS } from './wasm.js'
export { ERROR_CODES, JS_ERROR_CODES, TemporalTensorError } from './errors.js'
export type { CoreErrorCode, ErrorCode } from './errors.js'
export { TensorCompressionStream, TensorDecompressionStream } from './web-streams.js'
export type { CompressStreamOptions, DecompressStreamOptions } from './web-streams.js'
