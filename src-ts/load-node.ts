/**
 * Node loader: the native addon when one matches this platform, else the bundled WebAssembly
 * build. `TEMPORAL_TENSOR_BACKEND=native|wasm` forces one. Internal.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Backend } from './backend.js'
import { TemporalTensorError } from './errors.js'
import { type NativeBinding, nativeBackend } from './native.js'
import { wasmBackend, wasmFileName, wasmSimdSupported } from './wasm.js'
import type { WorkerHandle } from './wasm-async.js'

/** The package's `dist/` folder (where this bundle and the `.wasm` live). */
const distDir = dirname(fileURLToPath(import.meta.url))
const packageRoot = dirname(distDir)
const require = createRequire(import.meta.url)

/** True on musl-based Linux (Alpine). `process.report` first, then the loader's fallbacks. */
export function isMusl(): boolean {
  try {
    const report = process.report?.getReport() as
      | { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] }
      | undefined
    if (report?.header?.glibcVersionRuntime) return false
    if (report?.sharedObjects?.some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))) return true
  } catch {
    // fall through to the file check
  }
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    return false
  }
}

/** The napi-rs platform suffix of this process (`linux-x64-gnu`, `darwin-arm64`, ...). */
export function platformSuffix(): string {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** Tries every place a native binary may be; returns it, or throws with each failure as cause. */
function loadNative(): NativeBinding {
  const suffix = platformSuffix()
  const candidates = [
    join(packageRoot, 'native', `temporal-tensor.${suffix}.node`),
    `@ruvector/temporal-tensor-${suffix}`,
  ]
  const errors: Error[] = []
  for (const candidate of candidates) {
    if (candidate.endsWith('.node') && !existsSync(candidate)) {
      errors.push(new Error(`no local build at ${candidate}`))
      continue
    }
    try {
      return require(candidate) as NativeBinding
    } catch (e) {
      errors.push(e instanceof Error ? e : new Error(String(e)))
    }
  }
  throw new TemporalTensorError(
    'BACKEND_UNAVAILABLE',
    `no native binary loaded for ${suffix}: ${errors.map((e) => e.message.split('\n')[0]).join('; ')}`,
    { cause: new AggregateError(errors, `native load attempts for ${suffix}`) },
  )
}

/**
 * Instantiates the bundled module synchronously: `temporal_tensor_simd.wasm` where the runtime
 * supports simd128 (unless `TEMPORAL_TENSOR_WASM_SIMD=0`), else `temporal_tensor.wasm`. After a
 * trap, new work runs on a fresh instance of the same module.
 */
export function loadWasm(): Backend {
  const simd = process.env.TEMPORAL_TENSOR_WASM_SIMD !== '0' && wasmSimdSupported()
  const path = join(distDir, wasmFileName(simd))
  const module = new WebAssembly.Module(readFileSync(path))
  const instantiate = () => new WebAssembly.Instance(module, {})
  return wasmBackend(instantiate(), instantiate, { module, spawn: spawnNodeWorker })
}

/**
 * A `worker_threads` worker running the bundled worker source (evaluated as a script; it talks
 * through `parentPort`). Unreferenced while idle, so it never keeps the process alive by itself.
 */
export function spawnNodeWorker(source: string): WorkerHandle {
  const boot = `${source}
;(() => {
  const { parentPort } = require('node:worker_threads')
  __ttWorker.serve((m, t) => parentPort.postMessage(m, t), (f) => parentPort.on('message', f))
})()`
  const worker = new Worker(boot, { eval: true })
  worker.unref()
  let failed = false
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    onMessage: (listener) => worker.on('message', listener),
    onError: (listener) => {
      const once = (error: unknown) => {
        if (!failed) listener(error)
        failed = true
      }
      worker.on('error', once)
      worker.on('exit', (code) => once(new Error(`the worker exited with code ${code}`)))
    },
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    terminate: () => void worker.terminate(),
  }
}

/** What `chooseBackend` settled on, with the native failure (if any) kept for inspection. */
export interface BackendChoice {
  backend: Backend
  /** Why the native backend is not in use (`undefined` when it is, or when WASM was forced). */
  nativeError?: TemporalTensorError
}

/** Picks the backend per `TEMPORAL_TENSOR_BACKEND` (or `native` then `wasm`). */
export function chooseBackend(): BackendChoice {
  const forced = process.env.TEMPORAL_TENSOR_BACKEND?.trim().toLowerCase() || undefined
  if (forced !== undefined && forced !== 'native' && forced !== 'wasm') {
    throw new TemporalTensorError(
      'INVALID_ARGUMENT',
      `TEMPORAL_TENSOR_BACKEND must be "native" or "wasm", got "${forced}"`,
    )
  }
  let nativeError: TemporalTensorError | undefined
  if (forced !== 'wasm') {
    try {
      return { backend: nativeBackend(loadNative()) }
    } catch (e) {
      nativeError = e as TemporalTensorError
      if (forced === 'native') throw nativeError
    }
  }
  try {
    return { backend: loadWasm(), nativeError }
  } catch (e) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', `no backend could be loaded: ${String(e)}`, {
      cause: new AggregateError(nativeError ? [nativeError, e] : [e], 'backend load attempts'),
    })
  }
}
