/**
 * `@ruvector/temporal-tensor` for browsers (and any runtime without Node's `fs`): the
 * WebAssembly build only. Call `await init()` once before anything else.
 *
 * ```ts
 * import { init, TemporalTensorCompressor } from '@ruvector/temporal-tensor'
 * await init() // fetches temporal_tensor.wasm next to this module
 * ```
 *
 * Bundlers: the default `init()` resolves the file with
 * `new URL('./temporal_tensor.wasm', import.meta.url)`, which Vite, webpack 5, Rollup and esbuild
 * (with the file loader) understand. Or pass the URL, a `Response`, the bytes, or a compiled
 * `WebAssembly.Module` to `init(...)` yourself.
 *
 * @packageDocumentation
 */
import { setBackend, setNotReadyMessage } from './api.js'
import { TemporalTensorError } from './errors.js'
import { wasmBackend, wasmFileName } from './wasm.js'

setNotReadyMessage('call `await init()` before using @ruvector/temporal-tensor in the browser')

/** Always `'wasm'` in this entry. */
export const backend = 'wasm' as const

/** The kernel set of the loaded module (`'simd128'` or `'scalar'`); `''` before `init()`. */
export let kernels = ''

/** Why that module's kernels are in use; `''` before `init()`. */
export let kernelsReason = ''

/** What `init` accepts: where the `.wasm` is, its bytes, or a compiled module. */
export type InitInput = string | URL | Response | BufferSource | WebAssembly.Module

let ready: Promise<void> | null = null

/** The compiled module (kept to instantiate it again after a trap) and a first instance. */
async function instantiate(input: InitInput): Promise<WebAssembly.WebAssemblyInstantiatedSource> {
  if (input instanceof WebAssembly.Module) return { module: input, instance: await WebAssembly.instantiate(input, {}) }
  if (typeof input === 'string' || input instanceof URL) input = await fetch(input)
  if (typeof Response !== 'undefined' && input instanceof Response) {
    if (!input.ok) throw new Error(`fetching temporal_tensor.wasm failed: HTTP ${input.status}`)
    if (typeof WebAssembly.instantiateStreaming === 'function') {
      try {
        return await WebAssembly.instantiateStreaming(input.clone(), {})
      } catch {
        // Wrong MIME type (not application/wasm): fall back to the bytes.
      }
    }
    input = await input.arrayBuffer()
  }
  return WebAssembly.instantiate(input as BufferSource, {})
}

/**
 * Loads the WebAssembly module (once; later calls return the same promise). With no argument it
 * fetches `temporal_tensor_simd.wasm` (or, where the browser lacks simd128,
 * `temporal_tensor.wasm`) beside this module. Rejects with `BACKEND_UNAVAILABLE`.
 */
export function init(input?: InitInput): Promise<void> {
  ready ??= (async () => {
    try {
      // Both URLs are written out so bundlers see (and copy) both files.
      const url =
        wasmFileName() === 'temporal_tensor_simd.wasm'
          ? new URL('./temporal_tensor_simd.wasm', import.meta.url)
          : new URL('./temporal_tensor.wasm', import.meta.url)
      const { module, instance } = await instantiate(input ?? url)
      // After a trap, new work runs on a fresh instance (synchronous instantiation of a compiled
      // module this small is allowed on a browser's main thread).
      const loaded = wasmBackend(instance, () => new WebAssembly.Instance(module, {}))
      setBackend(loaded)
      kernels = loaded.kernels
      kernelsReason = loaded.kernelsReason
    } catch (e) {
      ready = null
      throw e instanceof TemporalTensorError
        ? e
        : new TemporalTensorError('BACKEND_UNAVAILABLE', `could not load temporal_tensor.wasm: ${String(e)}`, {
            cause: e,
          })
    }
  })()
  return ready
}

export * from './public.js'
