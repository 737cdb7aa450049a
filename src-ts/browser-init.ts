/**
 * What the two browser entries share: loading the WebAssembly module once, from wherever the
 * entry says its default is (a URL beside the module in `browser.ts`, bytes inlined in
 * `inline.ts`), and the exports that describe the loaded module. Internal.
 */
import { setBackend, setNotReadyMessage } from './api.js'
import { TemporalTensorError } from './errors.js'
import { wasmBackend } from './wasm.js'
import { spawnWebWorker } from './wasm-async.js'

setNotReadyMessage('call `await init()` before using @ruvector/temporal-tensor in the browser')

/** What `init` accepts: where the `.wasm` is, its bytes, or a compiled module. */
export type InitInput = string | URL | Response | BufferSource | WebAssembly.Module

/** The kernel set of the loaded module (`'simd128'` or `'scalar'`); `''` before `init()`. */
export let kernels = ''

/** Why that module's kernels are in use; `''` before `init()`. */
export let kernelsReason = ''

/** What to tell someone whose default URL did not give the module. */
const REMEDY =
  'the bundler did not emit the .wasm file beside the module; import @ruvector/temporal-tensor/inline ' +
  '(the modules inlined, nothing to fetch), or serve dist/temporal_tensor_simd.wasm and dist/temporal_tensor.wasm ' +
  'and pass the URL to init(url) (see "Bundlers" in the README)'

const unavailable = (message: string, cause?: unknown): TemporalTensorError =>
  new TemporalTensorError('BACKEND_UNAVAILABLE', message, cause === undefined ? undefined : { cause })

/** The first bytes of every WebAssembly binary: `\0asm`. */
const MAGIC = [0x00, 0x61, 0x73, 0x6d]

/** What `bytes` are, for an error message, when they are not a WebAssembly module. */
function notWasm(bytes: Uint8Array, contentType: string): string | null {
  if (MAGIC.every((b, i) => bytes[i] === b)) return null
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().toLowerCase()
  if (head.startsWith('<') || contentType.includes('html')) {
    return 'an HTML page, not WebAssembly (a dev server answers unknown paths with its index page)'
  }
  const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
  return `${bytes.byteLength} bytes that are not WebAssembly (${contentType || 'no content-type'}, first bytes ${hex || 'none'})`
}

/** Fetches `url` and returns the module's bytes, or throws a coded error naming the URL. */
async function fetchModule(url: string | URL, isDefault: boolean): Promise<Response | ArrayBuffer> {
  const where = String(url)
  const hint = isDefault ? `: ${REMEDY}` : ''
  let response: Response
  try {
    response = await fetch(url)
  } catch (e) {
    throw unavailable(`could not fetch the WebAssembly module from ${where} (${String(e)})${hint}`, e)
  }
  if (!response.ok) {
    throw unavailable(`fetching the WebAssembly module from ${where} failed: HTTP ${response.status} ${response.statusText}${hint}`)
  }
  const contentType = response.headers.get('content-type') ?? ''
  // The streaming path needs the right MIME type; it checks the bytes itself.
  if (contentType.split(';')[0]!.trim() === 'application/wasm' && typeof WebAssembly.instantiateStreaming === 'function') {
    return response
  }
  const bytes = await response.arrayBuffer()
  const wrong = notWasm(new Uint8Array(bytes), contentType)
  if (wrong !== null) throw unavailable(`fetching the WebAssembly module from ${where} returned ${wrong}${hint}`)
  return bytes
}

/** Compiles and instantiates `input`; `where` names it in errors. */
async function instantiate(
  input: InitInput,
  isDefault: boolean,
): Promise<WebAssembly.WebAssemblyInstantiatedSource> {
  if (input instanceof WebAssembly.Module) return { module: input, instance: await WebAssembly.instantiate(input, {}) }
  const where = typeof input === 'string' || input instanceof URL ? String(input) : null
  if (where !== null) input = await fetchModule(input as string | URL, isDefault)
  if (typeof Response !== 'undefined' && input instanceof Response) {
    const response = input
    if (where === null && !response.ok) {
      throw unavailable(`the Response passed to init() is HTTP ${response.status} ${response.statusText} (${response.url || 'no URL'})`)
    }
    if (typeof WebAssembly.instantiateStreaming === 'function') {
      try {
        return await WebAssembly.instantiateStreaming(response.clone(), {})
      } catch {
        // Wrong MIME type, or not a module: the bytes below say which.
      }
    }
    const bytes = await response.arrayBuffer()
    const wrong = notWasm(new Uint8Array(bytes), response.headers.get('content-type') ?? '')
    if (wrong !== null) throw unavailable(`${where ?? response.url ?? 'the Response passed to init()'} is ${wrong}`)
    input = bytes
  }
  try {
    return await WebAssembly.instantiate(input as BufferSource, {})
  } catch (e) {
    throw unavailable(`could not compile the WebAssembly module${where === null ? '' : ` fetched from ${where}`}: ${String(e)}`, e)
  }
}

let ready: Promise<void> | null = null

/**
 * Loads the module once (later calls return the same promise; a failed load may be retried).
 * `fallback` gives what to load when the caller passes nothing. Rejects with
 * `BACKEND_UNAVAILABLE`, whose message names the URL fetched and what came back.
 */
export function initWith(input: InitInput | undefined, fallback: () => InitInput): Promise<void> {
  ready ??= (async () => {
    try {
      const { module, instance } = await instantiate(input ?? fallback(), input === undefined)
      // After a trap, new work runs on a fresh instance (synchronous instantiation of a compiled
      // module this small is allowed on a browser's main thread).
      // Async calls run in a module Worker with its own instance (see wasm-async.ts).
      const loaded = wasmBackend(instance, () => new WebAssembly.Instance(module, {}), { module, spawn: spawnWebWorker })
      setBackend(loaded)
      kernels = loaded.kernels
      kernelsReason = loaded.kernelsReason
    } catch (e) {
      ready = null
      throw e instanceof TemporalTensorError ? e : unavailable(`could not load the WebAssembly module: ${String(e)}`, e)
    }
  })()
  return ready
}
