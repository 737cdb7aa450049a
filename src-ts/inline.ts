/**
 * `@ruvector/temporal-tensor/inline`: the browser entry with both WebAssembly modules inside
 * as base64 (an app bundled with it is 320-350 KB of JavaScript, 135-143 KB gzipped), so
 * `init()` fetches nothing and works in any bundler with no configuration. The bare package name
 * resolves here for bundlers that do not copy `new URL(..., import.meta.url)` files (esbuild,
 * Rollup, Vite's dev server; see "Bundlers" in the README). Same API and types as `browser.ts`.
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
 * Loads the WebAssembly module (once; later calls return the same promise). With no argument it
 * compiles the inlined simd128 module (or, where the runtime lacks simd128, the baseline one);
 * an argument is loaded instead, as in `browser.ts`. Rejects with `BACKEND_UNAVAILABLE`.
 */
export function init(input?: InitInput): Promise<void> {
  return initWith(input, () => inlineModule(wasmSimdSupported()))
}

export * from './public.js'
