/**
 * `TensorStreamStore`: many tensor streams by id, each with its own compressor and access
 * statistics, kept as TQTC segments with a time-range index (ADR-017 §5), in memory or in a
 * persistence backend (`store-persistence.ts`: LMDB, Redis, PostgreSQL). The row types live in
 * `store-types.ts`, re-tiering's re-encoding in `store-retier.ts`, the checks of what a backend
 * read back in `store-examine.ts`.
 */
import { DEFAULT_FORMAT, TemporalTensorCompressor, decodeFrame, defineDispose, decodeSegment, resolvePolicy, segmentInfo } from './api.js'
import type { FrameInput, SegmentFormat, TierPolicyOptions } from './api.js'
import { toFloat32 } from './frames.js'
import { TemporalTensorError } from './errors.js'
import { examineLoaded } from './store-examine.js'
import { checkPersistenceOptions, openBackend } from './store-backends.js'
import { checkStoreFiles, isStore, openPersistence } from './store-lmdb.js'
import { type Damage, type Loaded, type Persistence, type TensorMeta, type TensorView, type WalFrame, memoryPersistence } from './store-persistence.js'
import { currentBits, frameCounts, reencode, u32 } from './store-retier.js'
import {
  ERROR_BOUNDS,
  type PersistenceOptions,
  type ReadResult,
  type SegmentRecord,
  type StoreOptions,
  type StoreReport,
  type StoreStats,
  type StoredSegment,
  type TierName,
  type TierStats,
  checkTs,
  decayedCount,
  defaultTick,
  partitionPoint,
  tierOfBits,
} from './store-types.js'

export { ERROR_BOUNDS, tierOfBits } from './store-types.js'
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
} from './store-types.js'

interface TensorState {
  id: string
  tensorLen: number
  compressor: TemporalTensorCompressor
  segments: StoredSegment[]
  /** Timestamps of the frames in the open segment. */
  pendingTs: number[]
  /** Sequence number the next frame gets (the open segment's frames end just before it). */
  nextSeq: number
  /** Finished segments not yet written to the database (their frames are in its write-ahead table). */
  unsaved: StoredSegment[]
  /** Frames a repair gave up, as `[firstSeq, lastSeq]` ranges. */
  lost: [number, number][]
  /** Snapshot of the open segment, cached until the next append. */
  peekCache: Uint8Array | null
  /** Decayed access count and the tick it was last updated. */
  accessCount: number
  accessTick: number
  lastTs: number
  producer: string | null
  /** Shared backends: this store wrote the tensor (holds or held its lease). */
  owned: boolean
}

/** Options a store accepts (own properties only). */
const STORE_OPTIONS = new Set(['persistence', 'path', 'policy', 'format', 'tick', 'accessHalfLife', 'coherence', 'producer', 'retier'])

/** Checks store options; returns them with the policy resolved. Throws `INVALID_ARGUMENT`/`INVALID_CONFIG`. */
function checkStoreOptions(options: StoreOptions): StoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object')
  }
  for (const key of Object.keys(options)) {
    if (!STORE_OPTIONS.has(key)) throw new TemporalTensorError('INVALID_ARGUMENT', `unknown store option "${key}"`)
  }
  const own = <K extends keyof StoreOptions>(key: K): StoreOptions[K] =>
    Object.hasOwn(options, key) ? options[key] : undefined
  const fn = (key: 'tick' | 'coherence') => {
    const v = own(key)
    if (v !== undefined && typeof v !== 'function') throw new TemporalTensorError('INVALID_ARGUMENT', `${key} must be a function`)
  }
  fn('tick')
  fn('coherence')
  const producer = own('producer')
  if (producer !== undefined && typeof producer !== 'string') {
    throw new TemporalTensorError('INVALID_ARGUMENT', 'producer must be a string')
  }
  const halfLife = own('accessHalfLife')
  if (halfLife !== undefined && !(typeof halfLife === 'number' && Number.isFinite(halfLife) && halfLife > 0)) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `accessHalfLife must be a finite number > 0, got ${String(halfLife)}`)
  }
  const retier = own('retier')
  if (retier !== undefined && retier !== false) {
    if (typeof retier !== 'object' || retier === null) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'retier must be false or { everyAppends, maxSegments }')
    }
    for (const key of Object.keys(retier)) {
      if (key !== 'everyAppends' && key !== 'maxSegments') throw new TemporalTensorError('INVALID_ARGUMENT', `unknown retier option "${key}"`)
      const v = (retier as Record<string, unknown>)[key]
      if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 1)) {
        throw new TemporalTensorError('INVALID_ARGUMENT', `retier.${key} must be an integer >= 1, got ${String(v)}`)
      }
    }
  }
  const path = own('path')
  if (path !== undefined && (typeof path !== 'string' || path.length === 0 || path.includes('\0'))) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `path must be a non-empty string, got ${typeof path === 'string' ? JSON.stringify(path) : String(path)}`)
  }
  const persistence = own('persistence')
  if (persistence !== undefined) {
    checkPersistenceOptions(persistence)
    if (path !== undefined) throw new TemporalTensorError('INVALID_ARGUMENT', 'give either path or persistence, not both')
  }
  const policy = own('policy')
  resolvePolicy(policy, 'packed', 1) // INVALID_ARGUMENT for unknown keys and non-integers
  return {
    ...Object.fromEntries(Object.keys(options).map((k) => [k, options[k as keyof StoreOptions]])),
    // The options given (checked), copied: compressors fill in the defaults for their format and
    // tensor length.
    ...(policy !== undefined ? { policy: { ...policy } as TierPolicyOptions } : {}),
    ...(retier !== undefined && retier !== false ? { retier: { ...retier } } : {}),
  }
}

/**
 * A record persisted before records held `format` and `bound`, completed: the header's format
 * and bound, or for a segment re-tiering wrote, its width's bound (what was checked then).
 */
function withFormatAndBound(s: StoredSegment): StoredSegment {
  if (s.format !== undefined && s.bound !== undefined) return s
  const info = segmentInfo(s.bytes)
  const bound = s.reencodedFrom !== undefined ? (ERROR_BOUNDS[info.bits] ?? info.bound) : info.bound
  return { ...s, format: info.format, bound }
}

/**
 * The compressor's access statistics for a tensor: its count as of its last access (the
 * policy's score then divides by the age), and that access's tick.
 */
const accessArgs = (t: TensorState): [number, number] => [u32(t.accessCount), u32(t.accessTick)]

/**
 * Many tensor streams, compressed as they arrive, readable by time range.
 *
 * ```ts
 * const store = new TensorStreamStore()            // in memory
 * const now = Date.now()
 * await store.append('agent-1', frame, now)        // tensor length from its first frame
 * const { timestamps, frames } = await store.read('agent-1', now - 60_000, now)
 * const latest = await store.readAt('agent-1', now) // latest frame at or before `now`
 * ```
 *
 * Timestamps are integers from 0 to 2^53-1, by default JavaScript milliseconds (`Date.now()`);
 * reads return them exactly. The tier policy runs on a u32 tick the store derives from them
 * (`StoreOptions.tick`; default whole seconds).
 *
 * Every method that can fail throws `TemporalTensorError` and leaves the store unchanged.
 * With persistence (`await TensorStreamStore.open({ persistence })`: LMDB, Redis or PostgreSQL),
 * an `append` whose promise resolved survives a crash of the process: frames of a tensor's open segment are kept in a
 * write-ahead table until their segment is written. An append is acknowledged and stored, or
 * rejected and absent (also around `close()` and on a full disk: `STORAGE_FULL`); one process
 * opens an LMDB store at a time, and one store writes a tensor of a Redis or PostgreSQL store at a
 * time (`STORE_LOCKED`); damaged files are `STORE_CORRUPT` at open, never a
 * crash (`verify` and `repair` tell and keep what is intact). See docs/reliability.md.
 */
export class TensorStreamStore implements AsyncDisposable {
  readonly #options: StoreOptions
  readonly #format: SegmentFormat
  readonly #tensors = new Map<string, TensorState>()
  /** Accesses recorded for tensors whose first frame has not arrived. */
  readonly #earlyAccess = new Map<string, { accessCount: number; accessTick: number }>()
  #persistence: Persistence = memoryPersistence()
  /** Tail of the chain that runs the calls that change the store one at a time. */
  #queue: Promise<unknown> = Promise.resolve()
  #appendsSinceRetier = 0
  /** Segments finished but not yet written (frames safe in the write-ahead table meanwhile). */
  #unsavedCount = 0
  /** Set when the store cannot keep its promises any more: every call throws it. */
  #failure: TemporalTensorError | null = null
  /** Segments that could not be re-encoded, with the widest width that failed for them. */
  readonly #kept = new WeakMap<StoredSegment, number>()
  #closed = false

  /**
   * An in-memory store. For persistence use `TensorStreamStore.open({ path })`. Throws
   * `INVALID_ARGUMENT` for an unknown option or a value of the wrong type, `INVALID_CONFIG` for a
   * policy the compressor refuses.
   */
  constructor(options: StoreOptions = {}) {
    const checked = checkStoreOptions(options)
    if (checked.path !== undefined || (checked.persistence !== undefined && checked.persistence.kind !== 'memory')) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'a persistent store is opened with `await TensorStreamStore.open({ persistence })`')
    }
    const format = checked.format ?? DEFAULT_FORMAT
    if (format !== 'coded' && format !== 'packed') {
      throw new TemporalTensorError('INVALID_ARGUMENT', `format must be 'coded' or 'packed', got ${String(format)}`)
    }
    // The policy as a compressor sees it: INVALID_CONFIG now rather than at the first append.
    new TemporalTensorCompressor({ tensorLen: 1, policy: checked.policy, format }).free()
    this.#options = checked
    this.#format = format
  }

  /** The format new segments are written in. */
  get format(): SegmentFormat {
    return this.#format
  }

  /**
   * Opens (or creates) a store in the backend `persistence` selects (`path` alone is LMDB in
   * that directory) and recovers it from what is there.
   *
   * Errors: `INVALID_ARGUMENT` (options), `STORE_LOCKED` (LMDB: another process, or another open
   * store in this one, has `path` open), `STORE_CORRUPT` (damaged records: see `verify` and
   * `repair`), `IO_ERROR` (LMDB: the directory cannot be created or written; Redis, PostgreSQL:
   * the server cannot be reached or refuses), `STORAGE_FULL`, `BACKEND_UNAVAILABLE` (the
   * backend's package, `lmdb`, `ioredis` or `pg`, is not installed).
   */
  static async open(options: StoreOptions = {}): Promise<TensorStreamStore> {
    const checked = checkStoreOptions(options)
    const { path, persistence: chosen, ...rest } = checked
    const store = new TensorStreamStore(rest)
    const kind = path !== undefined ? { kind: 'lmdb' as const, path } : (chosen ?? { kind: 'memory' as const })
    if (kind.kind === 'memory') return store
    const persistence = await openBackend(kind)
    try {
      store.#persistence = persistence
      store.#recover(describe(kind), await persistence.load())
      await store.#saveUnsaved()
    } catch (e) {
      for (const t of store.#tensors.values()) t.compressor.free()
      await persistence.close().catch(() => {})
      throw e
    }
    return store
  }

  /**
   * Checks the store at `path` without changing it: the database file page by page, every
   * record's checksum, every segment, and that each tensor's frames follow on from each other.
   * Throws `STORE_LOCKED` when the store is open, `IO_ERROR` when it cannot be read.
   */
  static async verify(options: { path: string }): Promise<StoreReport> {
    return TensorStreamStore.#examine(options, false)
  }

  /**
   * Removes what `verify` finds damaged, so the store opens with everything else, and records
   * the frames lost with their tensors (reads skip them). Returns what it found. The database
   * file's own structure cannot be repaired (`fileProblems`: restore `data.mdb` from a copy);
   * then it throws `STORE_CORRUPT`.
   */
  static async repair(options: { path: string }): Promise<StoreReport> {
    return TensorStreamStore.#examine(options, true)
  }

  static async #examine(options: { path: string }, repair: boolean): Promise<StoreReport> {
    if (typeof options !== 'object' || options === null) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object with path')
    }
    const { path } = checkStoreOptions({ path: options.path })
    if (path === undefined) throw new TemporalTensorError('INVALID_ARGUMENT', 'path is required')
    // Not openPersistence's "create if missing": there is nothing to check, and nothing to make.
    if (!isStore(path)) throw new TemporalTensorError('INVALID_ARGUMENT', `there is no store at ${path}`)
    const fileProblems = checkStoreFiles(path)
    if (fileProblems.length > 0) {
      if (repair) {
        throw new TemporalTensorError(
          'STORE_CORRUPT',
          `the database file of ${path} is damaged (${fileProblems[0]}); restore data.mdb from a copy`,
        )
      }
      return { ok: false, path, fileProblems, damaged: [], tensors: [] }
    }
    const persistence = await openPersistence(path)
    try {
      const loaded = await persistence.load()
      const { damage, tensors } = examineLoaded(loaded)
      const report: StoreReport = {
        ok: damage.length === 0,
        path,
        fileProblems: [],
        damaged: damage.map((d) => ({ ...d })),
        tensors: [...tensors.values()].map((t) => ({ id: t.meta.id, frames: t.frames, lost: t.lost })),
      }
      if (repair && damage.length > 0) {
        // Keep what the examination kept; then record the frames now missing with their tensors.
        const kept = new Set<string>()
        for (const t of tensors.values()) {
          for (const seg of t.segments) kept.add(`segments\0${t.meta.id}\0${seg.seq}`)
          for (const f of t.wal) kept.add(`wal\0${t.meta.id}\0${f.seq}`)
        }
        report.removed = await persistence.rebuild!((table, [id, seq]) => kept.has(`${table}\0${id}\0${seq}`))
        const after = examineLoaded(await persistence.load())
        await persistence.writeMetas!(
          [...after.tensors.values()].map(({ meta, lost }) => {
            const { lost: _old, ...rest } = meta
            return lost.length > 0 ? { ...rest, lost } : rest
          }),
        )
      }
      return report
    } finally {
      await persistence.close()
    }
  }

  #tick(ts: number): number {
    const tick = this.#options.tick ? this.#options.tick(ts) : defaultTick(ts)
    if (!Number.isInteger(tick) || tick < 0 || tick > 0xffffffff) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `timestamp ${ts} maps to tick ${tick}, outside 0..2^32-1`)
    }
    return tick
  }

  #live(): void {
    if (this.#closed) throw new TemporalTensorError('INVALID_HANDLE', 'this store was closed')
    if (this.#failure !== null) throw this.#failure
  }

  #tensor(id: string): TensorState {
    const t = this.#tensors.get(id)
    if (!t) throw new TemporalTensorError('INVALID_ARGUMENT', `unknown tensor "${id}"`)
    return t
  }

  #newTensor(id: string, tensorLen: number, producer: string | null): TensorState {
    const early = this.#earlyAccess.get(id)
    return {
      id,
      tensorLen,
      compressor: new TemporalTensorCompressor({ tensorLen, policy: this.#options.policy, format: this.#format }),
      segments: [],
      pendingTs: [],
      nextSeq: 0,
      unsaved: [],
      lost: [],
      peekCache: null,
      accessCount: early?.accessCount ?? 0,
      accessTick: early?.accessTick ?? 0,
      lastTs: -Infinity,
      producer,
      owned: false,
    }
  }

  /** The access count decayed to `tick` (used when a new access is added). */
  #decayedCount(t: { accessCount: number; accessTick: number }, tick: number): number {
    return decayedCount(t.accessCount, t.accessTick, tick, this.#options.accessHalfLife ?? 60)
  }

  /**
   * The record of a finished segment (bytes from the compressor) whose first frame is frame
   * `seq` of its tensor, to follow the tensor's last segment. `reencoded` is given for segments
   * re-tiering wrote: the width the frames had and the bound the new segment keeps against the
   * appended frames.
   */
  #segment(
    t: TensorState,
    bytes: Uint8Array,
    timestamps: ArrayLike<number>,
    seq: number,
    producer: string | null,
    prev: StoredSegment | null,
    reencoded?: { from: number; bound: number },
  ): StoredSegment {
    const info = segmentInfo(bytes)
    if (info.frameCount !== timestamps.length) {
      throw new TemporalTensorError('INTERNAL', `segment holds ${info.frameCount} frames, ${timestamps.length} timestamps`)
    }
    const startTs = timestamps[0]
    const endTs = timestamps[timestamps.length - 1]
    return {
      key: `${t.id}:${startTs}:${endTs}`,
      tensorId: t.id,
      seq,
      startTs,
      endTs,
      tier: tierOfBits(info.bits),
      bits: info.bits,
      format: info.format,
      bound: reencoded?.bound ?? info.bound,
      frames: info.frameCount,
      byteLength: bytes.byteLength,
      prevKey: prev?.key ?? null,
      producer,
      ...(reencoded !== undefined ? { reencodedFrom: reencoded.from } : {}),
      bytes,
      timestamps: Float64Array.from(timestamps),
    }
  }

  /** Closes the tensor's open segment in memory with `bytes` (what its compressor finished). */
  #finishOpen(t: TensorState, bytes: Uint8Array): StoredSegment {
    const seq = t.nextSeq - t.pendingTs.length
    const segment = this.#segment(t, bytes, t.pendingTs, seq, t.producer, t.segments[t.segments.length - 1] ?? null)
    t.segments.push(segment)
    t.pendingTs = []
    t.peekCache = null
    return segment
  }

  /** Marks a segment the compressor finished as still to be written (with persistence). */
  #keep(t: TensorState, segment: StoredSegment): void {
    // Not in memory; and on a shared backend, only the tensor's writer writes its segments.
    if (!this.#persistence.durable || (this.#persistence.shared && !t.owned)) return
    t.unsaved.push(segment)
    this.#unsavedCount++
  }

  /**
   * Writes the segments that finished without being written (their frames are safe in the
   * write-ahead table meanwhile). With `strict`, a failure is thrown; else they wait for the next try.
   */
  async #saveUnsaved(strict = false): Promise<void> {
    const p = this.#persistence
    if (this.#unsavedCount === 0) return
    for (const t of this.#tensors.values()) {
      if (t.unsaved.length === 0) continue
      const batch = t.unsaved
      try {
        await p.writeSegments(null, batch, [], true)
      } catch (e) {
        if (strict) throw e
        return
      }
      this.#unsavedCount -= batch.length
      t.unsaved = t.unsaved.filter((s) => !batch.includes(s))
    }
  }

  /**
   * Compresses `input` (the tensor's next frame, taken at `ts`; any `FrameInput`, as
   * `TemporalTensorCompressor.push` takes) into tensor `tensorId`'s stream. The first frame of a tensor fixes its length. Timestamps of a tensor must not
   * decrease (frames may share one). Resolves once the frame is stored: with persistence, once
   * it is written to the database, so it survives the process being killed. A rejected append
   * changed nothing and wrote nothing; retrying it is safe.
   *
   * `ts` is an integer from 0 to 2^53-1 (by default milliseconds, such as `Date.now()`).
   *
   * Errors (nothing changed): `INVALID_ARGUMENT` (types, a negative, fractional or non-finite
   * timestamp, a decreasing timestamp),
   * `LENGTH_MISMATCH`, `NON_FINITE`, the compressor's configuration errors, `INVALID_HANDLE`
   * (the store was closed, or close() had begun), and with persistence `STORAGE_FULL` and
   * `IO_ERROR`.
   */
  async append(tensorId: string, input: FrameInput, ts: number, meta: { producer?: string } = {}): Promise<void> {
    this.#live()
    if (typeof tensorId !== 'string' || tensorId.length === 0 || tensorId.includes(':')) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'tensorId must be a non-empty string without ":"')
    }
    const frame = toFloat32(input, 'frame') // any FrameInput; lengths from the buffer
    checkTs(ts, 'ts')
    if (typeof meta !== 'object' || meta === null) throw new TemporalTensorError('INVALID_ARGUMENT', 'meta must be an object')
    const given = Object.hasOwn(meta, 'producer') ? meta.producer : undefined
    if (given !== undefined && typeof given !== 'string') {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'meta.producer must be a string')
    }
    const tick = this.#tick(ts)
    // Validated before anything is written, so a bad frame changes nothing.
    for (let i = 0; i < frame.length; i++) {
      if (!Number.isFinite(frame[i])) throw new TemporalTensorError('NON_FINITE', `frame value at index ${i} is NaN or infinite`)
    }
    const copy = frame.slice() // the caller may reuse its buffer while the append waits its turn
    return this.#serial(() => this.#append(tensorId, copy, ts, tick, given ?? this.#options.producer ?? null))
  }

  /**
   * Runs `body` after every change called before it has settled: changes apply one at a time,
   * in call order, whatever their backend waits for.
   */
  #serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#live()
      return body()
    })
    this.#queue = run.catch(() => {})
    return run
  }

  async #append(tensorId: string, frame: Float32Array, ts: number, tick: number, producer: string | null): Promise<void> {
    const p = this.#persistence
    if (p.shared && !this.#tensors.get(tensorId)?.owned) await this.#claim(tensorId)
    const existing = this.#tensors.get(tensorId)
    if (existing && ts < existing.lastTs) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `ts ${ts} is before the tensor's last frame (${existing.lastTs})`)
    }
    if (existing && frame.length !== existing.tensorLen) {
      throw new TemporalTensorError('LENGTH_MISMATCH', `tensor "${tensorId}" has ${existing.tensorLen} values per frame, got ${frame.length}`)
    }
    const t = existing ?? this.#newTensor(tensorId, frame.length, producer)
    const refresh =
      this.#options.coherence !== undefined &&
      t.pendingTs.length > 0 &&
      this.#options.coherence(tensorId, frame, ts) === false
    this.#live() // the callback may have closed the store
    const seq = t.nextSeq
    try {
      await this.#saveUnsaved()
      await p.writeFrame(tensorId, { seq, ts, producer, boundary: refresh, frame }, existing ? null : this.#meta(t))
    } catch (e) {
      if (!existing) t.compressor.free()
      else if (p.shared && (e as TemporalTensorError).code === 'STORE_LOCKED') {
        // Another store writes this tensor: its segments are that store's to write, and reads go to the backend.
        this.#unsavedCount -= t.unsaved.length
        t.unsaved = []
        t.owned = false
      }
      throw e
    }
    t.owned = true
    // The frame is durable: from here on it is applied, or removed again if the backend fails.
    let finished: Uint8Array | null
    try {
      t.compressor.setAccess(...accessArgs(t))
      if (refresh) {
        const bytes = t.compressor.flush()
        if (bytes !== null) this.#keep(t, this.#finishOpen(t, bytes))
      }
      finished = t.compressor.push(frame, tick)
    } catch (e) {
      await this.#undoFrame(t, seq, !existing)
      throw e
    }
    if (finished !== null) this.#keep(t, this.#finishOpen(t, finished))
    t.pendingTs.push(ts)
    t.nextSeq = seq + 1
    t.lastTs = ts
    t.producer = producer
    t.peekCache = null
    if (!existing) {
      this.#tensors.set(tensorId, t)
      this.#earlyAccess.delete(tensorId)
    }
    if (finished !== null) await this.#saveUnsaved()
    if (this.#options.retier !== false) {
      const every = this.#options.retier?.everyAppends ?? 256
      if (++this.#appendsSinceRetier >= every) {
        this.#appendsSinceRetier = 0
        try {
          await this.#retier(ts, this.#options.retier?.maxSegments ?? 4)
        } catch {
          // Re-tiering is housekeeping: the frame is stored; the segments wait for the next round.
        }
      }
    }
  }

  /**
   * Shared backends, before this store first writes `tensorId`: its state is read again from
   * the backend (another process may have written it since this store read it), so the next
   * frame follows the last one stored. The write itself then takes the tensor's lease.
   */
  async #claim(tensorId: string): Promise<void> {
    const view = await this.#persistence.view!(tensorId, 0, Infinity, false)
    if (view === null) return
    const fresh = this.#fromView(view, true)
    const old = this.#tensors.get(tensorId)
    if (old) {
      this.#unsavedCount -= old.unsaved.length
      old.compressor.free()
    }
    this.#tensors.set(tensorId, fresh)
    this.#unsavedCount += fresh.unsaved.length
  }

  /** After a backend failure while applying frame `seq`: takes the frame back out of the database. */
  async #undoFrame(t: TensorState, seq: number, created: boolean): Promise<void> {
    if (created) t.compressor.free()
    if (!this.#persistence.durable) return
    try {
      await this.#persistence.removeFrame(t.id, seq)
    } catch (e) {
      // Neither applied nor removed: the store cannot keep its promise any more.
      this.#failure = new TemporalTensorError('INTERNAL', 'a frame could not be applied nor removed; reopen the store', { cause: e })
    }
  }

  #meta(t: TensorState, access?: { accessCount: number; accessTick: number }): TensorMeta {
    return {
      id: t.id,
      tensorLen: t.tensorLen,
      accessCount: access?.accessCount ?? t.accessCount,
      accessTick: access?.accessTick ?? t.accessTick,
      ...(t.lost.length > 0 ? { lost: t.lost } : {}),
    }
  }

  /**
   * Records one read access of `tensorId` at `ts` (drives its tier). Accesses to a tensor with
   * no frame yet are kept for when its first frame arrives. With persistence, the statistics
   * are written before they change (`STORAGE_FULL`, `IO_ERROR`: nothing changed).
   */
  async touch(tensorId: string, ts: number): Promise<void> {
    this.#live()
    if (typeof tensorId !== 'string' || tensorId.length === 0) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'tensorId must be a non-empty string')
    }
    checkTs(ts, 'ts')
    const tick = this.#tick(ts)
    return this.#serial(() => this.#touch(tensorId, tick))
  }

  async #touch(tensorId: string, tick: number): Promise<void> {
    const t = this.#tensors.get(tensorId)
    if (!t) {
      const early = this.#earlyAccess.get(tensorId) ?? { accessCount: 0, accessTick: 0 }
      this.#earlyAccess.set(tensorId, { accessCount: this.#decayedCount(early, tick) + 1, accessTick: Math.max(early.accessTick, tick) })
      return
    }
    const access = { accessCount: this.#decayedCount(t, tick) + 1, accessTick: Math.max(t.accessTick, tick) }
    await this.#persistence.writeMeta(this.#meta(t, access))
    t.accessCount = access.accessCount
    t.accessTick = access.accessTick
  }

  /**
   * Forces a segment boundary now (ADR-017 §5.3 coherence-gated refresh). With persistence the
   * segment is written before the open one is closed (`STORAGE_FULL`, `IO_ERROR`: nothing changed).
   */
  async refresh(tensorId: string): Promise<void> {
    this.#live()
    this.#tensor(tensorId)
    return this.#serial(() => this.#refresh(tensorId))
  }

  async #refresh(tensorId: string): Promise<void> {
    const t = this.#tensor(tensorId)
    if (t.pendingTs.length === 0) return
    const p = this.#persistence
    if (!p.durable) {
      const bytes = t.compressor.flush()
      if (bytes !== null) this.#finishOpen(t, bytes)
      return
    }
    await this.#saveUnsaved()
    // The segment the flush will give (a peek is that segment), written before anything changes.
    const snapshot = this.#peek(t)!
    const seq = t.nextSeq - t.pendingTs.length
    const segment = this.#segment(t, snapshot, t.pendingTs, seq, t.producer, t.segments[t.segments.length - 1] ?? null)
    await p.writeSegments(null, [segment], [], true)
    const bytes = t.compressor.flush()
    if (bytes === null || bytes.byteLength !== snapshot.byteLength || !bytes.every((b, i) => b === snapshot[i])) {
      throw new TemporalTensorError('INTERNAL', 'a flushed segment differs from its snapshot')
    }
    t.segments.push(segment)
    t.pendingTs = []
    t.peekCache = null
  }

  /**
   * Finishes every open segment (e.g. before closing, to keep the WAL empty). On a shared backend,
   * those of the tensors this store writes.
   */
  async flushAll(): Promise<void> {
    this.#live()
    return this.#serial(async () => {
      for (const t of this.#tensors.values()) if (!this.#persistence.shared || t.owned) await this.#refresh(t.id)
    })
  }

  /** The open segment's snapshot (cached until the next append). */
  #peek(t: TensorState): Uint8Array | null {
    if (t.pendingTs.length === 0) return null
    t.peekCache ??= t.compressor.peek()
    return t.peekCache
  }

  /**
   * The state to read `tensorId` from: this store's own, or on a shared backend for a tensor this
   * store does not write, the tensor as the backend holds it now (the segments overlapping
   * `[fromTs, toTs]`, or with `latest` the last one starting at or before `toTs`, and its open
   * frames). `release` frees what was made for the read.
   */
  async #readable(tensorId: string, fromTs: number, toTs: number, latest: boolean): Promise<{ t: TensorState; release: () => void }> {
    const p = this.#persistence
    const own = this.#tensors.get(tensorId)
    if (!p.shared || own?.owned) return { t: this.#tensor(tensorId), release: () => {} }
    if (typeof tensorId !== 'string' || tensorId.length === 0) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'tensorId must be a non-empty string')
    }
    const view = await p.view!(tensorId, fromTs, toTs, latest)
    this.#live()
    if (view === null) throw new TemporalTensorError('INVALID_ARGUMENT', `unknown tensor "${tensorId}"`)
    const t = this.#fromView(view, false)
    return { t, release: () => t.compressor.free() }
  }

  /**
   * Frames of `tensorId` with `fromTs <= ts <= toTs`, in time order, with their exact
   * timestamps (finished segments and the open one alike). On a shared backend, a tensor another
   * process writes is read from the backend: what its writer's acknowledged appends stored.
   */
  async read(tensorId: string, fromTs: number, toTs: number): Promise<ReadResult> {
    this.#live()
    const { t, release } = await this.#readable(tensorId, fromTs, toTs, false)
    try {
      this.#live()
      return this.#readFrom(t, fromTs, toTs)
    } finally {
      release()
    }
  }

  #readFrom(t: TensorState, fromTs: number, toTs: number): ReadResult {
    const n = t.tensorLen
    const stamps: number[] = []
    const parts: Float32Array[] = []
    const take = (bytes: Uint8Array, timestamps: ArrayLike<number>): void => {
      const first = partitionPoint(timestamps.length, (i) => timestamps[i] < fromTs)
      const end = partitionPoint(timestamps.length, (i) => timestamps[i] <= toTs)
      if (first >= end) return
      const last = end - 1
      const count = last - first + 1
      if (count <= 2) {
        for (let i = first; i <= last; i++) parts.push(decodeFrame(bytes, i))
      } else {
        // Capped at what the segment must hold: a damaged one claiming more is refused.
        parts.push(decodeSegment(bytes, { maxValues: timestamps.length * n }).subarray(first * n, (last + 1) * n))
      }
      for (let i = first; i <= last; i++) stamps.push(timestamps[i])
    }
    const segments = t.segments
    for (let s = partitionPoint(segments.length, (i) => segments[i].endTs < fromTs); s < segments.length; s++) {
      const seg = segments[s]
      if (seg.startTs > toTs) break
      take(seg.bytes, seg.timestamps)
    }
    const pending = this.#peek(t)
    if (pending) take(pending, t.pendingTs)
    const frames = new Float32Array(stamps.length * n)
    let at = 0
    for (const p of parts) {
      frames.set(p, at)
      at += p.length
    }
    return { timestamps: Float64Array.from(stamps), frames }
  }

  /** The latest frame of `tensorId` at or before `ts` (random access), or `null`. */
  async readAt(
    tensorId: string,
    ts: number,
  ): Promise<{
    /** The frame's timestamp (at or before the one asked for). */
    ts: number
    /** Its `tensorLen` values. */
    frame: Float32Array
  } | null> {
    this.#live()
    const { t, release } = await this.#readable(tensorId, 0, ts, true)
    try {
      this.#live()
      return this.#readAtFrom(t, ts)
    } finally {
      release()
    }
  }

  #readAtFrom(t: TensorState, ts: number): { ts: number; frame: Float32Array } | null {
    const lastIndexAtOrBefore = (stamps: ArrayLike<number>): number => partitionPoint(stamps.length, (i) => stamps[i] <= ts) - 1
    const pending = this.#peek(t)
    if (pending) {
      const i = lastIndexAtOrBefore(t.pendingTs)
      if (i >= 0) return { ts: t.pendingTs[i], frame: decodeFrame(pending, i) }
    }
    // The last segment starting at or before ts holds the answer (segments do not overlap).
    const segments = t.segments
    const after = partitionPoint(segments.length, (i) => segments[i].startTs <= ts)
    if (after === 0) return null
    const seg = segments[after - 1]
    const i = lastIndexAtOrBefore(seg.timestamps)
    return { ts: seg.timestamps[i], frame: decodeFrame(seg.bytes, i) }
  }

  /** Records of `tensorId`'s segments in time order: its lineage chain (ADR-017 §5.4). */
  lineage(tensorId: string): SegmentRecord[] {
    this.#live()
    return this.#tensor(tensorId).segments.map(({ bytes: _b, timestamps: _t, ...record }) => record)
  }

  /** The ids of all tensors. */
  tensorIds(): string[] {
    return [...this.#tensors.keys()]
  }

  /** Resident bytes, frames and ratios per tier and in total. */
  stats(): StoreStats {
    const empty = (): TierStats => ({ tensors: 0, segments: 0, frames: 0, rawBytes: 0, residentBytes: 0, ratio: 0 })
    const result: StoreStats = { hot: empty(), warm: empty(), cold: empty(), total: empty(), indexBytes: 0 }
    const add = (tier: TierName, frames: number, n: number, bytes: number): void => {
      for (const s of [result[tier], result.total]) {
        s.segments += 1
        s.frames += frames
        s.rawBytes += frames * n * 4
        s.residentBytes += bytes
      }
      result.indexBytes += frames * 8
    }
    for (const t of this.#tensors.values()) {
      for (const seg of t.segments) add(seg.tier, seg.frames, t.tensorLen, seg.byteLength)
      const bits = t.compressor.activeBits
      if (bits !== null) add(tierOfBits(bits), t.pendingTs.length, t.tensorLen, this.#openBytes(t))
      const latest = bits ?? t.segments[t.segments.length - 1]?.bits
      if (latest !== undefined) {
        result[tierOfBits(latest)].tensors += 1
        result.total.tensors += 1
      }
    }
    for (const s of [result.hot, result.warm, result.cold, result.total]) {
      s.ratio = s.residentBytes > 0 ? s.rawBytes / s.residentBytes : 0
    }
    return result
  }

  /**
   * Bytes of a tensor's open segment if it were finished now. A packed compressor knows it
   * exactly; a coded one only bounds it (`pendingBytes` is the most its entropy coder could
   * need), so its snapshot is measured (and cached until the next append, like reads do).
   */
  #openBytes(t: TensorState): number {
    if (t.compressor.format === 'packed') return t.compressor.pendingBytes
    return this.#peek(t)?.byteLength ?? 0
  }

  /**
   * Re-encodes up to `maxSegments` finished segments of tensors that cooled at `ts` to their
   * current (narrower) width, oldest first, in the store's format. Every frame of a re-encoded
   * segment stays within the new width's bound (`ERROR_BOUNDS`) against the frames that were
   * appended, not only against the decoded frames it was re-encoded from: the error those
   * already carry is budgeted (see `reencode` in store-retier.ts). A segment that cannot be
   * narrowed within that budget is left as it is (only packed re-encoding can fail). On a shared
   * backend, only tensors this store writes are re-tiered. Returns the number of segments tried,
   * re-encoded or left.
   */
  async retier(ts: number, maxSegments = 4): Promise<number> {
    this.#live()
    if (!(typeof maxSegments === 'number' && Number.isSafeInteger(maxSegments) && maxSegments >= 0)) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `maxSegments must be an integer >= 0, got ${String(maxSegments)}`)
    }
    checkTs(ts, 'ts')
    this.#tick(ts)
    return this.#serial(() => this.#retier(ts, maxSegments))
  }

  /**
   * `retier`'s work. Each segment is replaced in the database (one transaction) before it is
   * replaced in memory, so a failed write changes nothing.
   */
  async #retier(ts: number, maxSegments: number): Promise<number> {
    const tick = this.#tick(ts)
    await this.#saveUnsaved()
    let done = 0
    for (const t of this.#tensors.values()) {
      if (done >= maxSegments) break
      if (this.#persistence.shared && !t.owned) continue
      const target = currentBits(t.compressor, t.accessCount, t.accessTick, tick)
      for (let s = 0; s < t.segments.length && done < maxSegments; s++) {
        const old = t.segments[s]
        if (old.bits <= target) continue
        // A width that failed rules out every narrower one; a wider target is worth a try.
        const failed = this.#kept.get(old)
        if (failed !== undefined && target <= failed) continue
        const result = reencode(t.tensorLen, old, target, this.#format, this.#options.policy)
        done++
        if (result === null) {
          // Cannot be narrowed to this width within the bound: not tried again for it.
          this.#kept.set(old, Math.max(failed ?? 0, target))
          continue
        }
        const replacement = this.#replacements(t, old, result.parts, { from: old.reencodedFrom ?? old.bits, bound: result.bound })
        // A segment not written yet still has its frames in the write-ahead table: they go now.
        const unsaved = t.unsaved.indexOf(old)
        await this.#persistence.writeSegments(null, replacement, [old], unsaved >= 0)
        if (unsaved >= 0) {
          t.unsaved.splice(unsaved, 1)
          this.#unsavedCount--
        }
        const at = t.segments.indexOf(old)
        t.segments.splice(at, 1, ...replacement)
        for (let k = at; k < t.segments.length; k++) t.segments[k].prevKey = k > 0 ? t.segments[k - 1].key : null
        s = at + replacement.length - 1
      }
    }
    return done
  }

  /** The records of `parts`, `old` re-encoded, chained where `old` was. */
  #replacements(t: TensorState, old: StoredSegment, parts: Uint8Array[], reencoded: { from: number; bound: number }): StoredSegment[] {
    let prev = t.segments[t.segments.indexOf(old) - 1] ?? null
    let at = 0
    const counts = frameCounts(parts)
    return parts.map((part, i) => {
      const stamps = old.timestamps.subarray(at, at + counts[i])
      const segment = this.#segment(t, part, stamps, old.seq + at, old.producer, prev, reencoded)
      at += counts[i]
      prev = segment
      return segment
    })
  }

  /**
   * Rebuilds the store from what `load` read: finished segments as they are, and the frames of
   * each open segment replayed from the write-ahead table into a fresh compressor (segment
   * boundaries a coherence refresh made are kept). Throws `STORE_CORRUPT` for damage.
   */
  #recover(where: string, loaded: Loaded): void {
    const { damage, tensors } = examineLoaded(loaded)
    if (damage.length > 0) throw corruptError(where, damage)
    for (const { meta, segments, wal, lost } of tensors.values()) {
      this.#tensors.set(meta.id, this.#rebuild(meta, segments, wal, lost, false))
    }
  }

  /** A tensor's state from a shared backend's view of it (`STORE_CORRUPT` for damage). */
  #fromView(view: TensorView, owned: boolean): TensorState {
    if (view.damage.length > 0) throw corruptError(`${this.#persistence.kind} store`, view.damage)
    return this.#rebuild(view.meta, view.segments, view.wal, view.meta.lost ?? [], owned)
  }

  /**
   * A tensor's state from its description, finished segments and write-ahead frames (replayed
   * into a fresh compressor; segments that finish on the way wait to be written if `owned`).
   */
  #rebuild(meta: TensorMeta, segments: StoredSegment[], wal: WalFrame[], lost: [number, number][], owned: boolean): TensorState {
    const t = this.#newTensor(meta.id, meta.tensorLen, null)
    t.owned = owned
    t.accessCount = meta.accessCount
    t.accessTick = meta.accessTick
    t.lost = lost
    t.segments = segments.map(withFormatAndBound)
    const last = t.segments[t.segments.length - 1]
    t.nextSeq = last ? last.seq + last.frames : 0
    t.lastTs = last ? last.endTs : -Infinity
    t.producer = last?.producer ?? null
    try {
      for (const f of wal) {
        // A boundary where a refresh made one, and where frames were lost (a segment's frames
        // always have consecutive sequence numbers).
        if ((f.boundary || f.seq !== t.nextSeq) && t.pendingTs.length > 0) {
          const bytes = t.compressor.flush()
          if (bytes !== null) this.#keep(t, this.#finishOpen(t, bytes))
        }
        t.nextSeq = f.seq
        t.compressor.setAccess(...accessArgs(t))
        const finished = t.compressor.push(f.frame, this.#tick(f.ts))
        if (finished !== null) this.#keep(t, this.#finishOpen(t, finished))
        t.pendingTs.push(f.ts)
        t.nextSeq = f.seq + 1
        t.lastTs = f.ts
        t.producer = f.producer
      }
    } catch (e) {
      t.compressor.free()
      throw e
    }
    return t
  }

  /**
   * Closes the store (and its database); later calls throw `INVALID_HANDLE`. Every append that
   * resolved is stored; every append called after `close()` rejects with `INVALID_HANDLE` and
   * writes nothing. Segments that could not be written yet are written now; if that fails
   * (`STORAGE_FULL`, `IO_ERROR`) the store is closed all the same, and their frames, still in the
   * write-ahead table, are replayed at the next open.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    let error: unknown = null
    await this.#queue // changes called before close() settle first (those queued behind it reject)
    try {
      await this.#saveUnsaved(true)
    } catch (e) {
      error = e
    }
    for (const t of this.#tensors.values()) t.compressor.free()
    try {
      await this.#persistence.close()
    } catch (e) {
      error ??= e
    }
    if (error !== null) throw error
  }

  /** `close()`, for `await using store = await TensorStreamStore.open(...)`. Idempotent. */
  declare [Symbol.asyncDispose]: () => Promise<void>
}
defineDispose(TensorStreamStore.prototype, 'asyncDispose', function (this: TensorStreamStore) {
  return this.close()
})

/** `STORE_CORRUPT` for records of the store at `where` that do not read back as written. */
function corruptError(where: string, damage: Damage[]): TemporalTensorError {
  const first = damage.slice(0, 3).map((d) => `${d.table} ${d.tensorId ?? '?'}${d.seq !== null ? `#${d.seq}` : ''}: ${d.problem}`)
  return new TemporalTensorError(
    'STORE_CORRUPT',
    `the store at ${where} has ${damage.length} damaged record(s) (${first.join('; ')}). ` +
      'TensorStreamStore.verify({ path }) lists them; TensorStreamStore.repair({ path }) removes them and keeps the rest',
  )
}

/** Where a backend keeps a store, for messages. */
function describe(p: PersistenceOptions): string {
  switch (p.kind) {
    case 'lmdb':
      return p.path
    case 'redis':
      return p.cluster ? `Redis Cluster store "${p.name ?? 'tt'}"` : `Redis store "${p.name ?? 'tt'}" at ${p.url ?? 'redis://127.0.0.1:6379'}`
    case 'postgres':
      return `PostgreSQL store "${p.name ?? 'tt'}"`
    default:
      return 'memory'
  }
}
