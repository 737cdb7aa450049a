/**
 * The WebAssembly backend's async calls, off the JS thread: one worker (Node `worker_threads`,
 * or a browser module `Worker`) holds its own instance of the same compiled module and runs
 * `pushManyAsync`, `flushAsync` and `decodeSegmentAsync` there. Internal.
 *
 * A compressor's state lives in one instance at a time, its *home*: the JS thread's or the
 * worker's. It moves by replay: the compressor keeps a journal of the frames of its open segment
 * (each piece with the timestamp and access statistics it was pushed with), which is everything
 * the core's state depends on besides the options and the access statistics (a new segment
 * starts from its first frame alone). A compressor made again from its options and fed the
 * journal is the same compressor, byte for byte. So an async call on a compressor at home on
 * this thread sends the journal along and the worker rebuilds it; a synchronous call on one at
 * home in the worker rebuilds it here (at most one open segment of frames). Back-to-back async
 * calls never rebuild anything. The journal costs a copy of the open segment's frames (at most
 * `maxSegmentFrames × tensorLen` values); synchronous batches no longer than a segment are not
 * copied for it: they stay in the compressor's region of module memory, where they were copied
 * for the push (up to twice that many values), until an async call copies them out.
 *
 * If the worker cannot be started (no `Worker`, a content security policy refusing it) the
 * async calls run on this thread one event-loop turn later, as before. If it dies or traps, the
 * call in flight rejects with `BACKEND_FAILED` (nothing changed: its compressors are rebuilt
 * from their journals on the next call) and the next call starts a fresh worker.
 */
import { abortedError, nextTurn } from './backend.js'
import type { AbortSignalLike, BackendCompressor, CompressorState, ResolvedCoding, ResolvedPolicy } from './backend.js'
import { TemporalTensorError, isErrorCode } from './errors.js'
import type { Glue, GlueCompressor } from './wasm.js'

/** A worker as the pool sees it, whatever the platform. */
export interface WorkerHandle {
  /** Posts `message`, transferring the buffers in `transfer`. */
  post(message: WorkerRequest, transfer: ArrayBuffer[]): void
  /** Calls `listener` with each message the worker posts. */
  onMessage(listener: (message: WorkerReply) => void): void
  /** Calls `listener` once if the worker fails to start, throws, or exits. */
  onError(listener: (error: unknown) => void): void
  /** Keeps the process alive while work is in flight (Node; no-op in browsers). */
  ref(): void
  /** Lets the process exit while idle (Node; no-op in browsers). */
  unref(): void
  terminate(): void
}

/** Starts a worker running `source` (the bundled `wasm-worker.ts`); throws if it cannot. */
export type SpawnWorker = (source: string) => WorkerHandle

/**
 * A browser module `Worker` running the bundled worker source from a `blob:` URL (so no file has
 * to be served or bundled beside this module). Throws where `Worker` is missing; a content
 * security policy that refuses it surfaces as an error event, and the pool then runs the async
 * calls on this thread.
 */
export function spawnWebWorker(source: string): WorkerHandle {
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL.createObjectURL !== 'function') {
    throw new Error('no Worker in this runtime')
  }
  const boot = `${source}\n__ttWorker.serve((m, t) => self.postMessage(m, t), (f) => self.addEventListener('message', (e) => f(e.data)))`
  const url = URL.createObjectURL(new Blob([boot], { type: 'text/javascript' }))
  const worker = new Worker(url, { type: 'module', name: 'temporal-tensor' })
  let failed = false
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    onMessage: (listener) => worker.addEventListener('message', (e) => listener(e.data as WorkerReply)),
    onError: (listener) =>
      worker.addEventListener('error', (e) => {
        if (!failed) listener(new Error(e.message || 'the worker failed'))
        failed = true
      }),
    ref: () => {},
    unref: () => {},
    terminate: () => {
      worker.terminate()
      URL.revokeObjectURL(url)
    },
  }
}

/** Frames of a compressor's open segment pushed in one call: the piece and how it was pushed. */
export interface JournalPiece {
  frames: Float32Array
  nowTs: number
  accessCount: number
  lastAccessTs: number
}

/**
 * A journal piece whose frames are values `[at, at + length)` of the kept region of the
 * compressor at home on this thread (`GlueCompressor.pushManyKept`): frames pushed
 * synchronously stay where they were copied for the push instead of being copied again.
 * Copied out (into a `JournalPiece`) before that compressor goes.
 */
interface KeptPiece {
  at: number
  length: number
  nowTs: number
  accessCount: number
  lastAccessTs: number
}

/** A piece of a `MovableCompressor`'s journal. */
type LocalPiece = JournalPiece | KeptPiece

/** Values a journal piece holds. */
const pieceValues = (p: LocalPiece): number => ('frames' in p ? p.frames.length : p.length)

/** How the worker (or this thread) rebuilds a compressor: its options and its journal. */
export interface RebuildSpec {
  tensorLen: number
  nowTs: number
  policy: ResolvedPolicy
  coding: ResolvedCoding
  journal: JournalPiece[]
}

/** Messages to the worker. `id` pairs a request with its reply (`free` has none). */
export type WorkerRequest =
  | { op: 'init'; id: number; module: unknown }
  | {
      op: 'push' | 'flush'
      id: number
      key: number
      rebuild: RebuildSpec | null
      access: [count: number, lastTs: number]
      parts: Float32Array[]
      nowTs: number
    }
  | { op: 'decode'; id: number; segment: Uint8Array; maxValues: number }
  | { op: 'free'; key: number }

/**
 * A reply. `state` is present exactly when the worker holds the compressor after the call;
 * `tail` (push) is the last `min(activeFrames, frames pushed)` frames of the call.
 */
export type WorkerReply =
  | { id: number; ok: true; value: unknown; state?: CompressorState; tail?: Float32Array }
  | {
      id: number
      ok: false
      code: string
      message: string
      state?: CompressorState
      /** The frames, handed back: the worker no longer holds the compressor (send the journal). */
      resend?: Float32Array[]
    }

/** Values copied per event-loop turn when an async push copies its frames (4 MiB). */
const STAGE_VALUES = 1 << 20

/** Thrown by the pool when no worker can run: the caller runs the work on this thread. */
class NoWorker extends Error {}

interface Task {
  /** The request, or a function making it when it is sent. */
  request: WorkerRequest | (() => WorkerRequest)
  id: number
  transfer: ArrayBuffer[]
  signal: AbortSignalLike | undefined
  resolve: (reply: WorkerReply) => void
  reject: (error: unknown) => void
}

/** One worker, started on first use, running one request at a time in call order. */
export class WorkerPool {
  readonly #spawn: SpawnWorker
  readonly #source: string
  readonly #module: unknown
  #worker: WorkerHandle | null = null
  /** Bumped when a worker dies: compressors at home in an older one are rebuilt. */
  generation = 0
  #unavailable = false
  /** True once the current worker has replied to anything. */
  #started = false
  #queue: Task[] = []
  #running: Task | null = null
  #nextId = 1

  constructor(spawn: SpawnWorker, source: string, module: unknown) {
    this.#spawn = spawn
    this.#source = source
    this.#module = module
  }

  /** False once a worker failed to start: async calls then run on this thread. */
  get available(): boolean {
    return !this.#unavailable
  }

  /**
   * Queues `request`; resolves with its reply. Rejects with `ABORTED` when `signal` fired before
   * the request reached the worker, `BACKEND_FAILED` when the worker died meanwhile, `NoWorker`
   * when no worker can be started.
   */
  run(request: WorkerRequest | (() => WorkerRequest), transfer: ArrayBuffer[], signal: AbortSignalLike | undefined): Promise<WorkerReply> {
    if (this.#unavailable) return Promise.reject(new NoWorker())
    return new Promise((resolve, reject) => {
      const task: Task = { request, id: this.#nextId++, transfer, signal, resolve, reject }
      this.#queue.push(task)
      this.#pump()
    })
  }

  /** Tells the worker to drop compressor `key` (if this generation's worker holds it). */
  free(key: number, generation: number): void {
    if (this.#worker !== null && generation === this.generation) this.#worker.post({ op: 'free', key }, [])
  }

  #ensureWorker(): WorkerHandle | null {
    if (this.#worker !== null) return this.#worker
    let worker: WorkerHandle
    try {
      worker = this.#spawn(this.#source)
    } catch {
      this.#giveUp()
      return null
    }
    this.#worker = worker
    this.#started = false
    worker.onMessage((reply) => this.#onReply(worker, reply))
    worker.onError((error) => this.#onDeath(worker, error))
    // The first request: the worker instantiates the module the JS thread compiled.
    const init: WorkerRequest = { op: 'init', id: 0, module: this.#module }
    this.#running = { request: init, id: 0, transfer: [], signal: undefined, resolve: () => {}, reject: () => {} }
    worker.ref()
    try {
      worker.post(init, [])
    } catch {
      this.#giveUp()
      return null
    }
    return worker
  }

  #pump(): void {
    while (this.#running === null && this.#queue.length > 0) {
      const worker = this.#ensureWorker()
      if (worker === null) return
      if (this.#running !== null) return // the init request went first
      const task = this.#queue.shift()!
      if (task.signal?.aborted) {
        task.reject(abortedError(task.signal))
        continue
      }
      this.#running = task
      worker.ref()
      try {
        const request = typeof task.request === 'function' ? task.request() : task.request
        worker.post({ ...request, id: task.id } as WorkerRequest, task.transfer)
      } catch (e) {
        this.#running = null
        task.reject(new TemporalTensorError('INTERNAL', `could not post to the worker: ${String(e)}`, { cause: e }))
      }
    }
    if (this.#running === null) this.#worker?.unref()
  }

  #onReply(worker: WorkerHandle, reply: WorkerReply): void {
    if (worker !== this.#worker) return
    this.#started = true
    const task = this.#running
    if (task === null || task.id !== reply.id) return
    this.#running = null
    if (reply.id === 0 && !reply.ok) {
      // The worker could not instantiate the module: no worker for this backend.
      this.#giveUp()
      return
    }
    task.resolve(reply)
    this.#pump()
  }

  #onDeath(worker: WorkerHandle, error: unknown): void {
    if (worker !== this.#worker) return
    this.#worker = null
    this.generation++
    try {
      worker.terminate()
    } catch {
      // already gone
    }
    if (!this.#started) {
      this.#giveUp()
      return
    }
    const task = this.#running
    this.#running = null
    task?.reject(new TemporalTensorError('BACKEND_FAILED', `the WebAssembly worker stopped (${String(error)})`, { cause: error }))
    this.#pump()
  }

  /** No worker can run here: every queued request runs on this thread instead. */
  #giveUp(): void {
    this.#unavailable = true
    this.#worker = null
    this.#running = null
    for (const task of this.#queue.splice(0)) task.reject(new NoWorker())
  }
}

/** A reply's failure as the error the JS thread throws. */
function replyError(reply: WorkerReply & { ok: false }): TemporalTensorError {
  return new TemporalTensorError(isErrorCode(reply.code) ? reply.code : 'INTERNAL', reply.message)
}

/** The pieces of `copyInStages` as one array again (the rare path without a worker). */
function joinParts(parts: readonly Float32Array[], length: number): Float32Array {
  if (parts.length === 1) return parts[0]
  const out = new Float32Array(length)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** A copy of `frames` in pieces of at most `STAGE_VALUES`, one per event-loop turn. */
async function copyInStages(frames: Float32Array, signal: AbortSignalLike | undefined): Promise<Float32Array[]> {
  const parts: Float32Array[] = []
  for (let at = 0; ; at += STAGE_VALUES) {
    parts.push(frames.slice(at, at + STAGE_VALUES))
    if (at + STAGE_VALUES >= frames.length) break
    await nextTurn()
    if (signal?.aborted) throw abortedError(signal)
  }
  return parts
}

/** Makes compressors of this thread's instance (`live()` may replace it after a trap). */
export type MakeLocal = (tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding) => GlueCompressor

/** Rebuilds a compressor from its options and journal on `make`'s instance; `INTERNAL` if the
 * journal does not replay as one open segment. */
export function rebuild(make: MakeLocal, spec: RebuildSpec, access: readonly [number, number]): GlueCompressor {
  const c = make(spec.tensorLen, spec.nowTs, spec.policy, spec.coding)
  try {
    for (const piece of spec.journal) {
      c.setAccess(piece.accessCount, piece.lastAccessTs)
      if (c.pushMany(piece.frames, piece.nowTs).length !== 0) {
        throw new TemporalTensorError('INTERNAL', 'replaying a compressor journal finished a segment')
      }
    }
    c.setAccess(access[0], access[1])
    return c
  } catch (e) {
    c.free()
    throw e
  }
}

const U32_MAX = 0xffff_ffff

/**
 * A WebAssembly compressor whose async calls run in the pool's worker (see the module comment).
 * Synchronous calls run on this thread's instance, rebuilding the compressor there first when
 * its home is the worker.
 */
export class MovableCompressor implements BackendCompressor {
  readonly #make: MakeLocal
  readonly #pool: WorkerPool
  readonly #options: Omit<RebuildSpec, 'journal'>
  readonly #key: number
  /** The compressor on this thread's instance, when its home is here. */
  #local: GlueCompressor | null
  /** The worker generation holding it, when its home is the worker (`#local` is then null). */
  #workerGeneration = -1
  /** The worker's last report, when its home is the worker. */
  #workerState: CompressorState | null = null
  #journal: LocalPiece[] = []
  #journalFrames = 0
  /**
   * Where the journal's copies of pushed frames live: pieces are views of it, appended one after
   * another (`#storeUsed` values so far) and rewritten from the start when the journal restarts,
   * so a synchronous push copies its frames once (no array allocated per call: a `slice()` per
   * call cost more than encoding them). A store outgrown is replaced; the pieces already in it
   * keep viewing it until the journal restarts.
   */
  #store = new Float32Array(0)
  #storeUsed = 0
  /** Access statistics (the core's rules: `touch` saturates the count). */
  #access: [number, number]

  constructor(make: MakeLocal, pool: WorkerPool, key: number, tensorLen: number, nowTs: number, policy: ResolvedPolicy, coding: ResolvedCoding) {
    this.#make = make
    this.#pool = pool
    this.#key = key
    this.#options = { tensorLen, nowTs, policy, coding }
    this.#local = make(tensorLen, nowTs, policy, coding)
    this.#access = [0, nowTs]
  }

  #atWorker(): boolean {
    return this.#local === null && this.#workerGeneration === this.#pool.generation
  }

  /** The compressor on this thread, rebuilt from the journal when its home is elsewhere. */
  #here(): GlueCompressor {
    if (this.#local !== null) return this.#local
    // Without a local compressor every piece is a copy (see `#materialize`).
    const local = rebuild(this.#make, { ...this.#options, journal: this.#journal as JournalPiece[] }, this.#access)
    if (this.#atWorker()) this.#pool.free(this.#key, this.#workerGeneration)
    this.#local = local
    this.#workerGeneration = -1
    this.#workerState = null
    return local
  }

  /**
   * Records that `frames` (whole frames, pushed at `nowTs` with the access statistics now)
   * left `activeFrames` frames open: the journal keeps exactly the open segment's frames.
   */
  #record(frames: Float32Array, nowTs: number, activeFrames: number, copy: boolean): void {
    const len = this.#options.tensorLen
    const n = frames.length / len
    const piece = (values: Float32Array): JournalPiece => ({
      frames: values,
      nowTs,
      accessCount: this.#access[0],
      lastAccessTs: this.#access[1],
    })
    if (activeFrames <= n) {
      // The journal restarts: nothing views the store or the kept region any more.
      this.#storeUsed = 0
      const tail = frames.subarray((n - activeFrames) * len)
      this.#journal = activeFrames === 0 ? [] : [piece(copy ? this.#keep(tail) : tail)]
    } else {
      this.#keepLast(activeFrames - n)
      this.#journal.push(piece(copy ? this.#keep(frames) : frames))
    }
    this.#journalFrames = activeFrames
  }

  /**
   * As `#record`, for frames that `pushManyKept` left at value `at` of the local compressor's
   * kept region (`values` of them): the journal refers to them there.
   */
  #recordKept(at: number, values: number, nowTs: number, activeFrames: number): void {
    const len = this.#options.tensorLen
    const n = values / len
    const piece = (from: number, length: number): KeptPiece => ({
      at: from,
      length,
      nowTs,
      accessCount: this.#access[0],
      lastAccessTs: this.#access[1],
    })
    if (activeFrames <= n) {
      // The open tail stays where it is (the next batch goes around it: see `#keptPlace`).
      this.#storeUsed = 0
      const tail = activeFrames * len
      this.#journal = tail === 0 ? [] : [piece(at + values - tail, tail)]
    } else {
      this.#keepLast(activeFrames - n)
      this.#journal.push(piece(at, values))
    }
    this.#journalFrames = activeFrames
  }

  /**
   * Where in `local`'s kept region the next `values` go, clear of the pieces the journal refers
   * to: after the last one, else at the start, when that fits in the region as it is; else the
   * pieces are moved together to its start and the values go after them (the region grows only
   * then, so it never holds more than the journal plus one batch).
   */
  #keptPlace(local: GlueCompressor, values: number): number {
    const kept = this.#journal.filter((p): p is KeptPiece => !('frames' in p))
    if (kept.length === 0) return 0
    const cap = local.keptCapacity()
    const clear = (at: number) => at + values <= cap && kept.every((p) => at + values <= p.at || p.at + p.length <= at)
    const last = kept[kept.length - 1]
    if (clear(last.at + last.length)) return last.at + last.length
    if (clear(0)) return 0
    // In order of place, each moves down to the end of the ones before it: nothing is overwritten.
    let end = 0
    for (const p of [...kept].sort((a, b) => a.at - b.at)) {
      if (p.at !== end) local.keptMove(p.at, p.length, end)
      p.at = end
      end += p.length
    }
    return end
  }

  /** The journal with every piece a copy of its own (`frames` sliced, kept pieces copied out). */
  #materialize(): JournalPiece[] {
    return this.#journal.map((p) => {
      if ('frames' in p) return { ...p, frames: p.frames.slice() }
      const { at, length, ...rest } = p
      return { ...rest, frames: this.#local!.kept(at, length) }
    })
  }

  /** A copy of `values` in the store (grown as needed), after what the journal holds there. */
  #keep(values: Float32Array): Float32Array {
    const end = this.#storeUsed + values.length
    if (end > this.#store.length) {
      this.#store = new Float32Array(Math.max(end, 2 * this.#store.length, 4 * this.#options.tensorLen))
      this.#storeUsed = 0
    }
    const at = this.#storeUsed
    this.#store.set(values, at)
    this.#storeUsed = at + values.length
    return this.#store.subarray(at, at + values.length)
  }

  /** Drops journal frames from the front until `frames` remain. */
  #keepLast(frames: number): void {
    const len = this.#options.tensorLen
    let drop = this.#journalFrames - frames
    while (drop > 0 && this.#journal.length > 0) {
      const first = this.#journal[0]
      const count = pieceValues(first) / len
      if (count <= drop) {
        this.#journal.shift()
        drop -= count
      } else {
        this.#journal[0] =
          'frames' in first
            ? { ...first, frames: first.frames.subarray(drop * len) }
            : { ...first, at: first.at + drop * len, length: first.length - drop * len }
        drop = 0
      }
    }
    this.#journalFrames = frames
  }

  push(frame: Float32Array, nowTs: number): Uint8Array | null {
    const out = this.#here().push(frame, nowTs)
    this.#record(frame, nowTs, out === null ? this.#journalFrames + 1 : 1, true)
    return out
  }

  pushMany(frames: Float32Array, nowTs: number): Uint8Array[] {
    // Never null: `pushMany` grows its output to whatever the batch needs.
    return this.#pushBatch(
      frames,
      nowTs,
      (c, at) => c.pushManyKept(frames, nowTs, at),
      (c) => c.pushMany(frames, nowTs),
    ) as Uint8Array[]
  }

  pushManyInto(frames: Float32Array, nowTs: number, out: Uint8Array): number[] | null {
    return this.#pushBatch(
      frames,
      nowTs,
      (c, at) => c.pushManyKeptInto(frames, nowTs, at, out),
      (c) => c.pushManyInto(frames, nowTs, out),
    )
  }

  /**
   * A batch pushed on this thread with `kept` (frames placed at value `at` of the compressor's
   * kept region) or `plain`, each returning its segments (or their ends), or `null` when
   * nothing was pushed; the journal then records the frames the open segment holds.
   */
  #pushBatch<T extends unknown[]>(
    frames: Float32Array,
    nowTs: number,
    kept: (c: GlueCompressor, at: number) => T | null,
    plain: (c: GlueCompressor) => T | null,
  ): T | null {
    const c = this.#here()
    const { tensorLen, policy } = this.#options
    // Frames go to the compressor's kept region, where the journal refers to them, unless the
    // batch is longer than a segment (the region would stay that large).
    const toKept = frames.length <= tensorLen * policy.maxSegmentFrames
    const at = toKept ? this.#keptPlace(c, frames.length) : 0
    const out = toKept ? kept(c, at) : plain(c)
    if (out === null) return null
    const open = out.length === 0 ? this.#journalFrames + frames.length / tensorLen : c.state().activeFrames
    if (toKept) this.#recordKept(at, frames.length, nowTs, open)
    else this.#record(frames, nowTs, open, true)
    return out
  }

  flush(): Uint8Array | null {
    const out = this.#here().flush()
    this.#journal = []
    this.#journalFrames = 0
    this.#storeUsed = 0
    return out
  }

  peek(): Uint8Array | null {
    return this.#here().peek()
  }

  touch(nowTs: number): void {
    this.#local?.touch(nowTs)
    this.#access = [Math.min(this.#access[0] + 1, U32_MAX), nowTs]
  }

  setAccess(accessCount: number, lastAccessTs: number): void {
    this.#local?.setAccess(accessCount, lastAccessTs)
    this.#access = [accessCount, lastAccessTs]
  }

  bitsAt(nowTs: number): number {
    return this.#here().bitsAt(nowTs)
  }

  state(): CompressorState {
    if (this.#atWorker() && this.#workerState !== null) {
      return { ...this.#workerState, accessCount: this.#access[0], lastAccessTs: this.#access[1] }
    }
    return this.#here().state()
  }

  free(): void {
    if (this.#local !== null) this.#local.free()
    else if (this.#atWorker()) this.#pool.free(this.#key, this.#workerGeneration)
    this.#local = null
    this.#workerGeneration = -1
    this.#journal = []
    this.#journalFrames = 0
    this.#storeUsed = 0
    this.#store = new Float32Array(0)
  }

  /**
   * Runs `op` in the worker (sending the journal when the compressor's home is not the worker
   * yet); on a reply that says the worker holds it, its home becomes the worker.
   */
  async #inWorker(op: 'push' | 'flush', parts: Float32Array[], nowTs: number, signal: AbortSignalLike | undefined): Promise<WorkerReply & { ok: true }> {
    // Built when sent (whether the worker holds the compressor is known only then).
    const request = (): WorkerRequest => ({
      op,
      id: 0,
      key: this.#key,
      // Each piece in an array of its own (a view of the store would be posted to the worker
      // with the whole store).
      rebuild: this.#atWorker() ? null : { ...this.#options, journal: this.#materialize() },
      access: [this.#access[0], this.#access[1]],
      parts,
      nowTs,
    })
    let reply = await this.#pool.run(request, parts.map((p) => p.buffer as ArrayBuffer), signal)
    if (!reply.ok && reply.resend !== undefined) {
      // The worker had lost it (its instance trapped since): sent again with the journal, on
      // the frames the worker handed back, so a trap costs only the call it happened in.
      this.#workerGeneration = -1
      parts = reply.resend
      reply = await this.#pool.run(request, parts.map((p) => p.buffer as ArrayBuffer), undefined)
    }
    if (reply.state !== undefined) {
      if (this.#local !== null) {
        // The kept region goes with the local compressor: the journal keeps copies.
        this.#journal = this.#materialize()
            this.#local.free()
      }
      this.#local = null
      this.#workerGeneration = this.#pool.generation
      this.#workerState = reply.state
    } else if (this.#local === null) {
      // The worker lost it (a trap): its home is the journal until the next call rebuilds it.
      this.#workerGeneration = -1
      this.#workerState = null
    }
    if (!reply.ok) throw replyError(reply)
    return reply
  }

  async pushManyAsync(frames: Float32Array, nowTs: number, signal: AbortSignalLike | undefined): Promise<Uint8Array[]> {
    const parts = await copyInStages(frames, signal)
    await nextTurn()
    if (signal?.aborted) throw abortedError(signal)
    let reply: WorkerReply & { ok: true }
    try {
      reply = await this.#inWorker('push', parts, nowTs, signal)
    } catch (e) {
      if (e instanceof NoWorker) return this.pushMany(joinParts(parts, frames.length), nowTs)
      throw e
    }
    // The tail holds min(open, n) frames: all of this call's frames when the segment goes on.
    this.#record(reply.tail ?? new Float32Array(0), nowTs, reply.state!.activeFrames, false)
    return reply.value as Uint8Array[]
  }

  async flushAsync(signal: AbortSignalLike | undefined): Promise<Uint8Array | null> {
    await nextTurn()
    if (signal?.aborted) throw abortedError(signal)
    let reply: WorkerReply & { ok: true }
    try {
      reply = await this.#inWorker('flush', [], 0, signal)
    } catch (e) {
      if (e instanceof NoWorker) return this.flush()
      throw e
    }
    this.#journal = []
    this.#journalFrames = 0
    this.#storeUsed = 0
    return reply.value as Uint8Array | null
  }
}

/** `decodeSegment` in the pool's worker, or on this thread (`local`) when there is none. */
export async function decodeInWorker(
  pool: WorkerPool,
  local: (segment: Uint8Array, maxValues: number) => Float32Array,
  segment: Uint8Array,
  maxValues: number,
  signal: AbortSignalLike | undefined,
): Promise<Float32Array> {
  const copy = segment.slice()
  await nextTurn()
  if (signal?.aborted) throw abortedError(signal)
  if (pool.available) {
    try {
      const reply = await pool.run({ op: 'decode', id: 0, segment: copy, maxValues }, [copy.buffer as ArrayBuffer], signal)
      if (!reply.ok) throw replyError(reply)
      return reply.value as Float32Array
    } catch (e) {
      if (!(e instanceof NoWorker)) throw e
    }
  }
  return local(copy, maxValues)
}

/** The worker's entry point: answers `WorkerRequest`s with `WorkerReply`s. Internal. */
export type ServeWorker = (
  post: (reply: WorkerReply, transfer: ArrayBuffer[]) => void,
  listen: (handler: (request: WorkerRequest) => void) => void,
) => void

/** The glue the worker uses (kept as a type so this module does not import it at run time). */
export type GlueClass = typeof Glue
