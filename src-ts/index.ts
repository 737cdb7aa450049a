/**
 * `@ruvector/temporal-tensor` for Node: compress streams of `Float32Array` frames with bounded
 * error. Loads the native addon for this platform, or falls back to the bundled WebAssembly
 * build (`backend` tells which).
 *
 * @packageDocumentation
 */
import { setBackend } from './api.js'
import { chooseBackend } from './load-node.js'
import type { TemporalTensorError } from './errors.js'

const choice = chooseBackend()
setBackend(choice.backend)

/** The backend in use: `'native'` (napi-rs addon) or `'wasm'`. */
export const backend: 'native' | 'wasm' = choice.backend.name

/** The kernel set in use: `'avx2+bmi2'`, `'neon'`, `'simd128'`, `'scalar'`, ... */
export const kernels: string = choice.backend.kernels

/**
 * Why that kernel set is in use: on native, the CPU rule that chose it (e.g. pdep/pext avoided
 * on AMD before Zen 3) or the variable that forced it (`TEMPORAL_TENSOR_KERNELS`,
 * `TEMPORAL_TENSOR_FORCE_SCALAR`); on WebAssembly, which module was loaded and why.
 */
export const kernelsReason: string = choice.backend.kernelsReason

/**
 * Why the native addon is not in use, with every load attempt in its `cause` chain
 * (`undefined` when it is in use, or when `TEMPORAL_TENSOR_BACKEND=wasm`).
 */
export const nativeLoadError: TemporalTensorError | undefined = choice.nativeError

/**
 * Resolves at once: on Node the backend loads when this module is imported. It is here so that
 * code written for the browser entries (`await init()` first) runs unchanged on Node, where the
 * bare package name under `moduleResolution: "bundler"` is typed as the browser entry; the
 * argument is ignored.
 */
export function init(_input?: unknown): Promise<void> {
  return Promise.resolve()
}

export * from './public.js'
export { platformSuffix } from './load-node.js'
export { createCompressStream, createDecompressStream } from './streams.js'
export { ERROR_BOUNDS, TensorStreamStore, tierOfBits } from './store.js'
export type {
  PersistenceOptions,
  ReadResult,
  SegmentRecord,
  StoreOptions,
  StoreReport,
  StoreStats,
  StoredSegment,
  TierName,
  TierStats,
} from './store.js'
