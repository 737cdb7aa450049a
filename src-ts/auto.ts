/**
 * The browser entry the bare package name gives under the `browser` + `production` conditions,
 * which Vite's build and Rollup's node-resolve (`browser: true`) both set. Vite copies the files
 * named by `new URL(..., import.meta.url)` and replaces `import.meta.env?.PROD` with `true`, so
 * there the module is fetched and the inlined copies are dropped from the bundle as dead code;
 * anywhere else (Rollup does not copy those files) the inlined bytes are used. Same API and
 * types as `browser.ts`.
 *
 * @packageDocumentation
 */
import { initWith, type InitInput } from './browser-init.js'
import { inlineModule } from './inline-modules.js'
import { wasmSimdSupported } from './wasm.js'

export { kernels, kernelsReason } from './browser-init.js'
export type { InitInput } from './browser-init.js'

/** Always `'wasm'` here; typed as the Node entry's `backend` (see `browser.ts`). */
export const backend: 'native' | 'wasm' = 'wasm'

/**
 * Loads the WebAssembly module (once; later calls return the same promise): in a Vite build the
 * simd128 (or baseline) file Vite emitted, elsewhere the inlined bytes. Rejects with
 * `BACKEND_UNAVAILABLE`, naming the URL when a fetch failed.
 */
export function init(input?: InitInput): Promise<void> {
  return initWith(input, () => {
    const simd = wasmSimdSupported()
    // Written exactly so: Vite's build defines `import.meta.env.PROD`, and folds this to `true`.
    if ((import.meta as { env?: { PROD?: boolean } }).env?.PROD === true) {
      return simd ? new URL('./temporal_tensor_simd.wasm', import.meta.url) : new URL('./temporal_tensor.wasm', import.meta.url)
    }
    return inlineModule(simd)
  })
}

export * from './public.js'
