/**
 * Both WebAssembly modules, inlined as base64 strings by the bundle step (esbuild's `base64`
 * loader, scripts/build-ts.mjs), decoded only when asked for. Plain string constants, so a
 * bundler that sees `inlineModule` unused drops them. Internal.
 */
import baselineBase64 from '../wasm/temporal_tensor.wasm'
import simdBase64 from '../wasm/temporal_tensor_simd.wasm'

/** Decodes standard base64 (what esbuild writes) into bytes. */
function fromBase64(text: string): Uint8Array {
  const native = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64
  if (typeof native === 'function') return native(text)
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** The bytes of the simd128 module (`simd`) or the baseline one, decoded afresh each call. */
export function inlineModule(simd: boolean): Uint8Array {
  return fromBase64(simd ? simdBase64 : baselineBase64)
}
