/**
 * The WebAssembly backend's worker (see `wasm-async.ts`): its own instance of the module the JS
 * thread compiled, and the compressors whose home is here, by key. Bundled on its own by
 * `scripts/build-ts.mjs` (an IIFE whose global `__ttWorker` has `serve`), started from that
 * source by the Node or browser entry. Internal.
 */
import type { CompressorState } from './backend.js'
import { TemporalTensorError } from './errors.js'
import { Glue } from './wasm.js'
import type { GlueCompressor } from './wasm.js'
import { rebuild } from './wasm-async.js'
import type { ServeWorker, WorkerReply, WorkerRequest } from './wasm-async.js'

/** Answers requests until the worker is terminated. */
export const serve: ServeWorker = (post, listen) => {
  let module: WebAssembly.Module | null = null
  let glue: Glue | null = null
  const compressors = new Map<number, GlueCompressor>()
  /** The instance each compressor was made on (a trapped one has lost them). */
  const madeOn = new Map<number, Glue>()

  /** The instance, fresh after a trap (the compressors made on the old one are gone). */
  const live = (): Glue => {
    if (module === null) throw new TemporalTensorError('INTERNAL', 'the worker has no module')
    if (glue === null || glue.broken !== null) {
      try {
        glue = new Glue(new WebAssembly.Instance(module, {}))
      } catch (e) {
        if (e instanceof TemporalTensorError) throw e
        throw new TemporalTensorError('BACKEND_FAILED', `the worker could not instantiate the module: ${String(e)}`, { cause: e })
      }
    }
    return glue
  }

  /** The state of compressor `key`, or `undefined` when the worker no longer holds it. */
  const stateOf = (key: number): CompressorState | undefined => {
    try {
      return compressors.get(key)?.state()
    } catch {
      compressors.delete(key)
      madeOn.delete(key)
      return undefined
    }
  }

  const handle = (request: WorkerRequest): void => {
    if (request.op === 'free') {
      const c = compressors.get(request.key)
      compressors.delete(request.key)
      madeOn.delete(request.key)
      try {
        c?.free()
      } catch {
        // a broken instance: nothing to free
      }
      return
    }
    const { id } = request
    let key: number | undefined
    try {
      switch (request.op) {
        case 'init': {
          module = request.module as WebAssembly.Module
          live()
          post({ id, ok: true, value: null }, [])
          return
        }
        case 'decode': {
          const values = live().decodeSegment(request.segment, request.maxValues)
          post({ id, ok: true, value: values }, [values.buffer as ArrayBuffer])
          return
        }
        case 'push':
        case 'flush': {
          key = request.key
          const home = madeOn.get(key)
          if (request.rebuild === null && (home === undefined || home.broken !== null)) {
            compressors.delete(key)
            madeOn.delete(key)
            const error = 'the worker no longer holds this compressor (its instance trapped)'
            post({ id, ok: false, code: 'BACKEND_FAILED', message: error, resend: request.parts }, request.parts.map((p) => p.buffer as ArrayBuffer))
            return
          }
          if (request.rebuild !== null) {
            compressors.get(key)?.free()
            compressors.delete(key)
            const g = live()
            const made = rebuild((...args) => g.createCompressor(...args), request.rebuild, request.access)
            compressors.set(key, made)
            madeOn.set(key, g)
          }
          const c = compressors.get(key)
          if (c === undefined) throw new TemporalTensorError('BACKEND_FAILED', 'the worker no longer holds this compressor')
          c.setAccess(request.access[0], request.access[1])
          if (request.op === 'flush') {
            const segment = c.flush()
            post({ id, ok: true, value: segment, state: c.state() }, segment === null ? [] : [segment.buffer as ArrayBuffer])
            return
          }
          const segments = c.pushManyParts(request.parts, request.nowTs)
          const state = c.state()
          const tail = lastFrames(request.parts, Math.min(state.activeFrames, framesIn(request.parts, state.tensorLen)) * state.tensorLen)
          const reply: WorkerReply = { id, ok: true, value: segments, state, tail }
          post(reply, [...segments.map((s) => s.buffer as ArrayBuffer), tail.buffer as ArrayBuffer])
          return
        }
      }
    } catch (e) {
      const error =
        e instanceof TemporalTensorError ? e : new TemporalTensorError('INTERNAL', `the worker failed: ${String(e)}`, { cause: e })
      const state = key === undefined ? undefined : stateOf(key)
      post({ id, ok: false, code: error.code, message: error.message, ...(state ? { state } : {}) }, [])
    }
  }
  listen(handle)
}

function framesIn(parts: readonly Float32Array[], tensorLen: number): number {
  let values = 0
  for (const p of parts) values += p.length
  return values / tensorLen
}

/** A copy of the last `values` values of the pieces, back to back. */
function lastFrames(parts: readonly Float32Array[], values: number): Float32Array {
  const out = new Float32Array(values)
  let need = values
  for (let i = parts.length - 1; i >= 0 && need > 0; i--) {
    const take = Math.min(need, parts[i].length)
    out.set(parts[i].subarray(parts[i].length - take), need - take)
    need -= take
  }
  return out
}
