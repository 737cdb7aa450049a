/**
 * `@ruvector/temporal-tensor` for browsers (and any runtime without Node's `fs`): the
 * WebAssembly build only, fetched beside this module. Call `await init()` once before anything
 * else.
 *
 * ```ts
 * import { init, TemporalTensorCompressor } from '@ruvector/temporal-tensor'
 * await init() // fetches temporal_tensor_simd.wasm (or temporal_tensor.wasm) next to this module
 * ```
 *
 * Bundlers that copy files named by `new URL('./x.wasm', import.meta.url)` (Vite builds,
 * webpack 5, Parcel) get this entry for the bare package name; the others get `inline.ts`, the
 * same API with the modules' bytes inside (see "Bundlers" in the README). Or pass the URL, a
 * `Response`, the bytes, or a compiled `WebAssembly.Module` to `init(...)` yourself.
 *
 * @packageDocumentation
 */
import { initWith, type InitInput } from './browser-init.js'
import { wasmFileName } from './wasm.js'

export { kernels, kernelsReason } from './browser-init.js'
export type { InitInput } from './browser-init.js'

/**
 * Always `'wasm'` in the browser entries; typed as the Node entry's `backend` so that code
 * written against these types (the bare name under `moduleResolution: "bundler"`) also holds
 * when it runs on Node.
 */
export const backend: 'native' | 'wasm' = 'wasm'

/**
 * Loads the WebAssembly module (once; later calls return the same promise). With no argument it
 * fetches `temporal_tensor_simd.wasm` (or, where the browser lacks simd128,
 * `temporal_tensor.wasm`) beside this module. Rejects with `BACKEND_UNAVAILABLE`, whose message
 * names the URL fetched and what came back (an HTTP status, an HTML page, ...).
 */
export function init(input?: InitInput): Promise<void> {
  // Both URLs are written out so bundlers see (and copy) both files.
  return initWith(input, () =>
    wasmFileName() === 'temporal_tensor_simd.wasm'
      ? new URL('./temporal_tensor_simd.wasm', import.meta.url)
      : new URL('./temporal_tensor.wasm', import.meta.url),
  )
}

export * from './public.js'
