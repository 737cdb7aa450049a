/**
 * `TensorStreamStore`: many tensor streams by id, each with its own compressor and access
 * statistics, kept as TQTC segments with a time-range index (ADR-017 §5), in memory or
 * persisted in LMDB (an embedded, crash-safe key-value store; install the optional `lmdb`
 * package).
 */
import { DEFAULT_FORMAT, ERROR_BOUNDS, TemporalTensorCompressor, decodeFrame, decodeSegment, resolvePolicy, segmentInfo } from './api.js'
import type { SegmentFormat, TierPolicyOptions } from './api.js'
import { TemporalTensorError, checkFloat32Array } from './errors.js'
import {
  type Damage,
  type Loaded,
  type Persistence,
  type TensorMeta,
  type WalFrame,
  checkStoreFiles,
  isStore,
  openPersistence,
} from './store-lmdb.js'

/** A tier name; derived from the bits a segment is stored at (8 hot, 7/5 warm, 3 cold). */
export type TierName = 'hot' | 'warm' | 'cold'

/** The tier a width belongs to. */
export function tierOfBits(bits: number): TierName {
  return bits >= 8 ? 'hot' : bits >= 5 ? 'warm' : 'cold'
}

/** ADR-017 §8.2's per-frame bound on max|v − v'| / max|v| for a width (from the core: `errorBound`). */
export { ERROR_BOUNDS }

/** What the store records about each segment (ADR-017 §5.2 key and tags, §5.4 lineage). */
export interface SegmentRecord {
  /**
   * `${tensorId}:${startTs}:${endTs}` (ADR-017 §5.2). Frames may share a timestamp, so two
   * segments can share this key; `seq` is unique.
   */
  key: string
  tensorId: string
  /**
   * Sequence number of the segment's first frame: a tensor's frames are numbered from 0 in the
   * order they were appended, so `(tensorId, seq)` names a segment uniquely.
   */
  seq: number
  /** Timestamp of the first frame. */
  startTs: number
  /** Timestamp of the last frame. */
  endTs: number
  tier: TierName
  /** The width of the segment's tier (for coded segments, the width whose bound it keeps). */
  bits: number
  /** `'packed'` (TQTC v1/v2) or `'coded'` (v3), from the segment's header. */
  format: SegmentFormat
  /**
   * The bound every frame keeps against the frames that were appended: max|v − v'| / max|v|
   * below it. The segment's own header bound for segments written from appended frames; the
   * destination tier's bound for segments re-tiering wrote (their header holds the smaller
   * bound they were encoded at, relative to the frames they were re-encoded from).
   */
  bound: number
  frames: number
  /** Bytes of the TQTC segment. */
  byteLength: number
  /** Key of the segment before this one in the tensor's chain, or `null` for the first. */
  prevKey: string | null
  /** Producer metadata given to `append` (or the store's default). */
  producer: string | null
  /** Bits the frames had before re-tiering re-encoded them, if it did. */
  reencodedFrom?: number
}

/** A stored segment: its record, bytes and frame timestamps. */
export interface StoredSegment extends SegmentRecord {
  bytes: Uint8Array
  timestamps: Float64Array
}

/** Figures for one tier (or the total) in `stats()`. */
export interface TierStats {
  /** Tensors whose current (latest) width is in this tier. */
  tensors: number
  /** Segments stored at this tier's widths (the open segment of a tensor counts as one). */
  segments: number
  frames: number
  /** Bytes the frames would take as f32. */
  rawBytes: number
  /** Bytes of segments (finished and open) holding them. */
  residentBytes: number
  /** `rawBytes / residentBytes` (0 when empty). */
  ratio: number
}

/** `stats()` result. */
export interface StoreStats {
  hot: TierStats
  warm: TierStats
  cold: TierStats
  total: TierStats
  /** Bytes of the frame timestamps index (8 per frame), not included in `residentBytes`. */
  indexBytes: number
}

/** Options of a store. */
export interface StoreOptions {
  /** Directory of an LMDB database for persistence (use `TensorStreamStore.open`). */
  path?: string
  /** Policy for every tensor's compressor (ADR-017 §3.4). `fixedBits` pins every tensor to one
   * width (re-tiering then has nothing to do). */
  policy?: TierPolicyOptions
  /**
   * Format of the segments every tensor's compressor (and re-tiering) writes: `'coded'` or
   * `'packed'`. Default: `DEFAULT_FORMAT`. Segments already stored keep their own format and
   * are read whatever this says.
   */
  format?: SegmentFormat
  /**
   * Maps a timestamp to the policy's integer tick (u32); default `Math.floor(ts)`. Access
   * scores are `count · 1024 / (ticks since last access + 1)` (ADR-017 §3.4), where `count`
   * is the tensor's access count at its last access, decayed with `accessHalfLife`.
   */
  tick?: (ts: number) => number
  /** Half-life, in ticks, of the access count (so tensors that stop being read cool). Default 60. */
  accessHalfLife?: number
  /**
   * Consulted on every append (ADR-017 §5.3): returning `false` forces a segment boundary
   * before the frame, so new scales are calibrated from it.
   */
  coherence?: (tensorId: string, frame: Float32Array, ts: number) => boolean
  /** Default producer metadata recorded with each segment. */
  producer?: string
  /**
   * Re-tiering in bounded steps: every `everyAppends` appends, re-encode at most
   * `maxSegments` older segments of tensors that cooled. `false` turns it off (call
   * `retier()` yourself). Default `{ everyAppends: 256, maxSegments: 4 }`.
   */
  retier?: { everyAppends?: number; maxSegments?: number } | false
}

/** Frames of one tensor between two timestamps. */
export interface ReadResult {
  /** Timestamp of each frame, ascending. */
  timestamps: Float64Array
  /** The frames back to back: `timestamps.length * tensorLen` values. */
  frames: Float32Array
}

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
}

/** What `TensorStreamStore.verify` and `TensorStreamStore.repair` found. */
export interface StoreReport {
  /** True when nothing is damaged. */
  ok: boolean
  path: string
  /**
   * Problems of the database file's structure (`data.mdb`: truncated, pages overwritten), one
   * line each. When there are any, no record was read (reading would not be safe).
   */
  fileProblems: string[]
  /** Records that fail their checksum or their checks, with the problem. */
  damaged: { table: 'segments' | 'wal' | 'tensors'; tensorId: string | null; seq: number | null; problem: string }[]
  /**
   * Per tensor: frames intact, and frames lost as ranges of sequence numbers (`[first, last]`,
   * frames numbered from 0 in append order; a damaged record at the end of a tensor counts as
   * one frame lost, as its length cannot be read).
   */
  tensors: { id: string; frames: number; lost: [number, number][] }[]
  /** `repair` only: records removed. */
  removed?: number
}

/** Options a store accepts (own properties only). */
const STORE_OPTIONS = new Set(['path', 'policy', 'format', 'tick', 'accessHalfLife', 'coherence', 'producer', 'retier'])

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
  const policy = own('policy')
  const resolved = resolvePolicy(policy) // INVALID_ARGUMENT for unknown keys and non-integers
  return {
    ...Object.fromEntries(Object.keys(options).map((k) => [k, options[k as keyof StoreOptions]])),
    ...(policy !== undefined ? { policy: { ...resolved } as TierPolicyOptions } : {}),
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

const u32 = (n: number): number => Math.min(0xffffffff, Math.max(0, Math.round(n)))

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
 * await store.append('agent-1', frame, 0.1)        // tensor length from its first frame
 * const { timestamps, frames } = await store.read('agent-1', 0, 60)
 * const latest = await store.readAt('agent-1', 60) // latest frame at or before t = 60
 * ```
 *
 * Every method that can fail throws `TemporalTensorError` and leaves the store unchanged.
 * With persistence (`await TensorStreamStore.open({ path })`), an `append` whose promise
 * resolved survives a crash of the process: frames of a tensor's open segment are kept in a
 * write-ahead table until their segment is written. An append is acknowledged and stored, or
 * rejected and absent (also around `close()` and on a full disk: `STORAGE_FULL`); one process
 * opens a store at a time (`STORE_LOCKED`); damaged files are `STORE_CORRUPT` at open, never a
 * crash (`verify` and `repair` tell and keep what is intact). See docs/reliability.md.
 */
export class TensorStreamStore {
  readonly #options: StoreOptions
  readonly #format: SegmentFormat
  readonly #tensors = new Map<string, TensorState>()
  /** Accesses recorded for tensors whose first frame has not arrived. */
  readonly #earlyAccess = new Map<string, { accessCount: number; accessTick: number }>()
  #persistence: Persistence | null = null
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
    if (checked.path !== undefined) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'a persistent store is opened with `await TensorStreamStore.open({ path })`')
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
   * Opens (or creates) a store; with `path`, persisted in LMDB and recovered from it.
   *
   * Errors: `INVALID_ARGUMENT` (options), `STORE_LOCKED` (another process, or another open store
   * in this one, has `path` open), `STORE_CORRUPT` (the files are damaged: see `verify` and
   * `repair`), `IO_ERROR` (the directory cannot be created or written: read-only, permissions),
   * `STORAGE_FULL`, `BACKEND_UNAVAILABLE` (no `lmdb` package).
   */
  static async open(options: StoreOptions = {}): Promise<TensorStreamStore> {
    const checked = checkStoreOptions(options)
    const { path, ...rest } = checked
    const store = new TensorStreamStore(rest)
    if (path !== undefined) {
      const persistence = await openPersistence(path)
      try {
        store.#persistence = persistence
        store.#recover(path, persistence.load())
      } catch (e) {
        for (const t of store.#tensors.values()) t.compressor.free()
        await persistence.close().catch(() => {})
        throw e
      }
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
      const loaded = persistence.load()
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
        report.removed = persistence.rebuild((table, [id, seq]) => kept.has(`${table}\0${id}\0${seq}`))
        const after = examineLoaded(persistence.load())
        persistence.writeMetas(
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
    const tick = this.#options.tick ? this.#options.tick(ts) : Math.floor(ts)
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
    }
  }

  /** The access count decayed to `tick` (used when a new access is added). */
  #decayedCount(t: { accessCount: number; accessTick: number }, tick: number): number {
    const halfLife = this.#options.accessHalfLife ?? 60
    return t.accessCount * 2 ** (-Math.max(0, tick - t.accessTick) / halfLife)
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
    if (this.#persistence === null) return
    t.unsaved.push(segment)
    this.#unsavedCount++
  }

  /**
   * Writes the segments that finished without being written (their frames are safe in the
   * write-ahead table meanwhile). With `strict`, a failure is thrown; else they wait for the next try.
   */
  #saveUnsaved(strict = false): void {
    const p = this.#persistence
    if (p === null || this.#unsavedCount === 0) return
    for (const t of this.#tensors.values()) {
      if (t.unsaved.length === 0) continue
      try {
        p.writeSegments(null, t.unsaved, [], true)
      } catch (e) {
        if (strict) throw e
        return
      }
      this.#unsavedCount -= t.unsaved.length
      t.unsaved = []
    }
  }

  /**
   * Compresses `frame` (the tensor's next frame, taken at `ts`) into tensor `tensorId`'s
   * stream. The first frame of a tensor fixes its length. Timestamps of a tensor must not
   * decrease (frames may share one). Resolves once the frame is stored: with persistence, once
   * it is written to the database, so it survives the process being killed. A rejected append
   * changed nothing and wrote nothing; retrying it is safe.
   *
   * Errors (nothing changed): `INVALID_ARGUMENT` (types, a decreasing timestamp),
   * `LENGTH_MISMATCH`, `NON_FINITE`, the compressor's configuration errors, `INVALID_HANDLE`
   * (the store was closed, or close() had begun), and with persistence `STORAGE_FULL` and
   * `IO_ERROR`.
   */
  async append(tensorId: string, frame: Float32Array, ts: number, meta: { producer?: string } = {}): Promise<void> {
    this.#live()
    if (typeof tensorId !== 'string' || tensorId.length === 0 || tensorId.includes(':')) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'tensorId must be a non-empty string without ":"')
    }
    frame = checkFloat32Array(frame, 'frame') // a view of its own memory: lengths from the buffer
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `ts must be a finite number >= 0, got ${String(ts)}`)
    }
    if (typeof meta !== 'object' || meta === null) throw new TemporalTensorError('INVALID_ARGUMENT', 'meta must be an object')
    const given = Object.hasOwn(meta, 'producer') ? meta.producer : undefined
    if (given !== undefined && typeof given !== 'string') {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'meta.producer must be a string')
    }
    const tick = this.#tick(ts)
    const producer = given ?? this.#options.producer ?? null
    const existing = this.#tensors.get(tensorId)
    if (existing && ts < existing.lastTs) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `ts ${ts} is before the tensor's last frame (${existing.lastTs})`)
    }
    if (existing && frame.length !== existing.tensorLen) {
      throw new TemporalTensorError('LENGTH_MISMATCH', `tensor "${tensorId}" has ${existing.tensorLen} values per frame, got ${frame.length}`)
    }
    // Validated before anything is written, so a bad frame changes nothing.
    for (let i = 0; i < frame.length; i++) {
      if (!Number.isFinite(frame[i])) throw new TemporalTensorError('NON_FINITE', `frame value at index ${i} is NaN or infinite`)
    }
    const t = existing ?? this.#newTensor(tensorId, frame.length, producer)
    const refresh =
      this.#options.coherence !== undefined &&
      t.pendingTs.length > 0 &&
      this.#options.coherence(tensorId, frame, ts) === false
    this.#live() // the callback may have closed the store
    const seq = t.nextSeq
    const p = this.#persistence
    if (p !== null) {
      try {
        this.#saveUnsaved()
        p.writeFrame(tensorId, { seq, ts, producer, boundary: refresh, frame }, existing ? null : this.#meta(t))
      } catch (e) {
        if (!existing) t.compressor.free()
        throw e
      }
    }
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
      this.#undoFrame(t, seq, !existing)
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
    if (finished !== null) this.#saveUnsaved()
    if (this.#options.retier !== false) {
      const every = this.#options.retier?.everyAppends ?? 256
      if (++this.#appendsSinceRetier >= every) {
        this.#appendsSinceRetier = 0
        try {
          this.#retier(ts, this.#options.retier?.maxSegments ?? 4)
        } catch {
          // Re-tiering is housekeeping: the frame is stored; the segments wait for the next round.
        }
      }
    }
  }

  /** After a backend failure while applying frame `seq`: takes the frame back out of the database. */
  #undoFrame(t: TensorState, seq: number, created: boolean): void {
    if (created) t.compressor.free()
    if (this.#persistence === null) return
    try {
      this.#persistence.removeFrame(t.id, seq)
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
    const tick = this.#tick(ts)
    const t = this.#tensors.get(tensorId)
    if (!t) {
      const early = this.#earlyAccess.get(tensorId) ?? { accessCount: 0, accessTick: 0 }
      this.#earlyAccess.set(tensorId, { accessCount: this.#decayedCount(early, tick) + 1, accessTick: Math.max(early.accessTick, tick) })
      return
    }
    const access = { accessCount: this.#decayedCount(t, tick) + 1, accessTick: Math.max(t.accessTick, tick) }
    this.#persistence?.writeMeta(this.#meta(t, access))
    t.accessCount = access.accessCount
    t.accessTick = access.accessTick
  }

  /**
   * Forces a segment boundary now (ADR-017 §5.3 coherence-gated refresh). With persistence the
   * segment is written before the open one is closed (`STORAGE_FULL`, `IO_ERROR`: nothing changed).
   */
  async refresh(tensorId: string): Promise<void> {
    this.#live()
    const t = this.#tensor(tensorId)
    if (t.pendingTs.length === 0) return
    const p = this.#persistence
    if (p === null) {
      const bytes = t.compressor.flush()
      if (bytes !== null) this.#finishOpen(t, bytes)
      return
    }
    this.#saveUnsaved()
    // The segment the flush will give (a peek is that segment), written before anything changes.
    const snapshot = this.#peek(t)!
    const seq = t.nextSeq - t.pendingTs.length
    const segment = this.#segment(t, snapshot, t.pendingTs, seq, t.producer, t.segments[t.segments.length - 1] ?? null)
    p.writeSegments(null, [segment], [], true)
    const bytes = t.compressor.flush()
    if (bytes === null || bytes.byteLength !== snapshot.byteLength || !bytes.every((b, i) => b === snapshot[i])) {
      throw new TemporalTensorError('INTERNAL', 'a flushed segment differs from its snapshot')
    }
    t.segments.push(segment)
    t.pendingTs = []
    t.peekCache = null
  }

  /** Finishes every open segment (e.g. before closing, to keep the WAL empty). */
  async flushAll(): Promise<void> {
    for (const id of this.#tensors.keys()) await this.refresh(id)
  }

  /** The open segment's snapshot (cached until the next append). */
  #peek(t: TensorState): Uint8Array | null {
    if (t.pendingTs.length === 0) return null
    t.peekCache ??= t.compressor.peek()
    return t.peekCache
  }

  /** Index of the first segment whose `endTs >= ts` (binary search, O(log n)). */
  #firstEndingAtOrAfter(segments: StoredSegment[], ts: number): number {
    let lo = 0
    let hi = segments.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (segments[mid].endTs < ts) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Frames of `tensorId` with `fromTs <= ts <= toTs`, in time order, with their exact
   * timestamps (finished segments and the open one alike).
   */
  async read(tensorId: string, fromTs: number, toTs: number): Promise<ReadResult> {
    this.#live()
    const t = this.#tensor(tensorId)
    const n = t.tensorLen
    const stamps: number[] = []
    const parts: Float32Array[] = []
    const take = (bytes: Uint8Array, timestamps: ArrayLike<number>): void => {
      let first = -1
      let last = -1
      for (let i = 0; i < timestamps.length; i++) {
        if (timestamps[i] >= fromTs && timestamps[i] <= toTs) {
          if (first < 0) first = i
          last = i
        }
      }
      if (first < 0) return
      const count = last - first + 1
      if (count <= 2) {
        for (let i = first; i <= last; i++) parts.push(decodeFrame(bytes, i))
      } else {
        // Capped at what the segment must hold: a damaged one claiming more is refused.
        parts.push(decodeSegment(bytes, { maxValues: timestamps.length * n }).subarray(first * n, (last + 1) * n))
      }
      for (let i = first; i <= last; i++) stamps.push(timestamps[i])
    }
    for (let s = this.#firstEndingAtOrAfter(t.segments, fromTs); s < t.segments.length; s++) {
      const seg = t.segments[s]
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
  async readAt(tensorId: string, ts: number): Promise<{ ts: number; frame: Float32Array } | null> {
    this.#live()
    const t = this.#tensor(tensorId)
    const lastIndexAtOrBefore = (stamps: ArrayLike<number>): number => {
      let lo = 0
      let hi = stamps.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (stamps[mid] <= ts) lo = mid + 1
        else hi = mid
      }
      return lo - 1
    }
    const pending = this.#peek(t)
    if (pending) {
      const i = lastIndexAtOrBefore(t.pendingTs)
      if (i >= 0) return { ts: t.pendingTs[i], frame: decodeFrame(pending, i) }
    }
    // The last segment starting at or before ts holds the answer (segments do not overlap).
    let lo = 0
    let hi = t.segments.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (t.segments[mid].startTs <= ts) lo = mid + 1
      else hi = mid
    }
    if (lo === 0) return null
    const seg = t.segments[lo - 1]
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

  /** The width a tensor's frames would get now (as its compressor's policy picks it). */
  #currentBits(t: TensorState, tick: number): number {
    // Every push sets the same statistics first, so this changes nothing the tensor relies on.
    t.compressor.setAccess(...accessArgs(t))
    return t.compressor.bitsAt(tick)
  }

  /**
   * Re-encodes up to `maxSegments` finished segments of tensors that cooled at `ts` to their
   * current (narrower) width, oldest first, in the store's format. Every frame of a re-encoded
   * segment stays within the new width's bound (`ERROR_BOUNDS`) against the frames that were
   * appended, not only against the decoded frames it was re-encoded from: the error those
   * already carry is budgeted (see `#reencode`). A segment that cannot be narrowed within that
   * budget is left as it is (only packed re-encoding can fail). Returns the number of segments
   * tried, re-encoded or left.
   */
  async retier(ts: number, maxSegments = 4): Promise<number> {
    this.#live()
    if (!(typeof maxSegments === 'number' && Number.isSafeInteger(maxSegments) && maxSegments >= 0)) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `maxSegments must be an integer >= 0, got ${String(maxSegments)}`)
    }
    return this.#retier(ts, maxSegments)
  }

  /**
   * `retier`'s work. Each segment is replaced in the database (one transaction) before it is
   * replaced in memory, so a failed write changes nothing.
   */
  #retier(ts: number, maxSegments: number): number {
    const tick = this.#tick(ts)
    this.#saveUnsaved()
    let done = 0
    for (const t of this.#tensors.values()) {
      if (done >= maxSegments) break
      const target = this.#currentBits(t, tick)
      for (let s = 0; s < t.segments.length && done < maxSegments; s++) {
        const old = t.segments[s]
        if (old.bits <= target) continue
        // A width that failed rules out every narrower one; a wider target is worth a try.
        const failed = this.#kept.get(old)
        if (failed !== undefined && target <= failed) continue
        const replacement = this.#reencode(t, old, target)
        done++
        if (replacement === null) {
          // Cannot be narrowed to this width within the bound: not tried again for it.
          this.#kept.set(old, Math.max(failed ?? 0, target))
          continue
        }
        // A segment not written yet still has its frames in the write-ahead table: they go now.
        const unsaved = t.unsaved.indexOf(old)
        this.#persistence?.writeSegments(null, replacement, [old], unsaved >= 0)
        if (unsaved >= 0) {
          t.unsaved.splice(unsaved, 1)
          this.#unsavedCount--
        }
        t.segments.splice(s, 1, ...replacement)
        for (let k = s; k < t.segments.length; k++) t.segments[k].prevKey = k > 0 ? t.segments[k - 1].key : null
        s += replacement.length - 1
      }
    }
    return done
  }

  /**
   * `old` re-encoded at `bits`, or `null` if that would break the bound.
   *
   * The frames of `old` are within `bSrc = old.bound` of the appended ones (`|v − v'| < bSrc·M`
   * with `M = max|v|`, so `M' = max|v'| < (1 + bSrc)·M`). Re-encoding `v'` into `v''` with
   * `|v' − v''| ≤ b'·M'` and `b' = (bDst − bSrc) / (1 + bSrc)` gives
   * `|v − v''| < bSrc·M + b'·(1 + bSrc)·M = bDst·M`: the destination bound against the
   * appended frames. A naive re-encoding at `bDst` could reach `bSrc + bDst·(1 + bSrc)`.
   *
   * Coded: the compressor is given `b'` as its bound (and the width pinned with `fixedBits`),
   * so it keeps it by construction. Packed: widths have fixed steps, so the frames are encoded
   * at the pinned width and each is checked against `b'·M'`; one frame over it keeps `old`.
   * Both are checked here before anything changes.
   */
  #reencode(t: TensorState, old: StoredSegment, bits: number): StoredSegment[] | null {
    const n = t.tensorLen
    const bSrc = old.bound
    const bDst = ERROR_BOUNDS[bits]
    if (bDst === undefined || !(bDst > bSrc)) return null
    const budget = (bDst - bSrc) / (1 + bSrc)
    const decoded = decodeSegment(old.bytes, { maxValues: old.frames * n })
    const c = new TemporalTensorCompressor({
      tensorLen: n,
      policy: { ...this.#options.policy, fixedBits: bits as 3 | 5 | 7 | 8 },
      format: this.#format,
      ...(this.#format === 'coded' ? { bound: budget } : {}),
    })
    let parts: Uint8Array[]
    try {
      parts = c.pushMany(decoded, 0)
      const last = c.flush()
      if (last) parts.push(last)
    } finally {
      c.free()
    }
    // Every frame within the budget of the frames it was re-encoded from.
    let frame = 0
    for (const part of parts) {
      const values = decodeSegment(part, { maxValues: old.frames * n })
      for (let f = 0; f < values.length / n; f++, frame++) {
        let maxAbs = 0
        let maxErr = 0
        for (let i = 0; i < n; i++) {
          const d = decoded[frame * n + i]
          maxAbs = Math.max(maxAbs, Math.abs(d))
          maxErr = Math.max(maxErr, Math.abs(d - values[f * n + i]))
        }
        if (maxErr > budget * maxAbs) return null
      }
    }
    if (frame !== old.frames) {
      throw new TemporalTensorError('INTERNAL', `re-encoding ${old.frames} frames gave ${frame}`)
    }
    const reencoded = { from: old.reencodedFrom ?? old.bits, bound: bDst }
    let prev = t.segments[t.segments.indexOf(old) - 1] ?? null
    let at = 0
    return parts.map((part) => {
      const frames = segmentInfo(part).frameCount
      const stamps = old.timestamps.subarray(at, at + frames)
      const segment = this.#segment(t, part, stamps, old.seq + at, old.producer, prev, reencoded)
      at += frames
      prev = segment
      return segment
    })
  }

  /**
   * Rebuilds the store from what `load` read: finished segments as they are, and the frames of
   * each open segment replayed from the write-ahead table into a fresh compressor (segment
   * boundaries a coherence refresh made are kept). Throws `STORE_CORRUPT` for damage.
   */
  #recover(path: string, loaded: Loaded): void {
    const { damage, tensors } = examineLoaded(loaded)
    if (damage.length > 0) {
      const first = damage.slice(0, 3).map((d) => `${d.table} ${d.tensorId ?? '?'}${d.seq !== null ? `#${d.seq}` : ''}: ${d.problem}`)
      throw new TemporalTensorError(
        'STORE_CORRUPT',
        `the store at ${path} has ${damage.length} damaged record(s) (${first.join('; ')}). ` +
          'TensorStreamStore.verify({ path }) lists them; TensorStreamStore.repair({ path }) removes them and keeps the rest',
      )
    }
    for (const { meta, segments, wal, lost } of tensors.values()) {
      const t = this.#newTensor(meta.id, meta.tensorLen, null)
      this.#tensors.set(meta.id, t)
      t.accessCount = meta.accessCount
      t.accessTick = meta.accessTick
      t.lost = lost
      t.segments = segments.map(withFormatAndBound)
      const last = t.segments[t.segments.length - 1]
      t.nextSeq = last ? last.seq + last.frames : 0
      t.lastTs = last ? last.endTs : -Infinity
      t.producer = last?.producer ?? null
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
    }
    // On a full disk the segments wait in memory (their frames are in the write-ahead table).
    this.#saveUnsaved()
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
    try {
      this.#saveUnsaved(true)
    } catch (e) {
      error = e
    }
    for (const t of this.#tensors.values()) t.compressor.free()
    try {
      await this.#persistence?.close()
    } catch (e) {
      error ??= e
    }
    if (error !== null) throw error
  }
}

/** A tensor as read back: its description, intact segments and frames in order, and frames lost. */
interface ExaminedTensor {
  meta: TensorMeta
  segments: StoredSegment[]
  wal: WalFrame[]
  frames: number
  lost: [number, number][]
}

/**
 * Checks what was read beyond record checksums: each segment parses and holds what its record
 * says, each frame has its tensor's length, and each tensor's frames follow on from each other
 * (sequence numbers without gaps, except those a repair recorded; timestamps not decreasing).
 * Returns the damage found (a record that fails is left out) and each tensor's frames lost.
 */
function examineLoaded(loaded: Loaded): { damage: Damage[]; tensors: Map<string, ExaminedTensor> } {
  const damage = [...loaded.damage]
  const tensors = new Map<string, ExaminedTensor>()
  const ids = new Set([...loaded.tensors.map((m) => m.id), ...loaded.segments.keys(), ...loaded.wal.keys()])
  const metas = new Map(loaded.tensors.map((m) => [m.id, m]))
  for (const id of ids) {
    const segments = loaded.segments.get(id) ?? []
    const wal = loaded.wal.get(id) ?? []
    let meta = metas.get(id)
    if (meta === undefined) {
      // Its description was lost (and reported); the frames tell its length.
      const tensorLen = wal[0]?.frame.length ?? (segments[0] ? segmentInfoOrNull(segments[0].bytes)?.tensorLen : undefined)
      if (tensorLen === undefined || tensorLen < 1) continue
      if (!damage.some((d) => d.table === 'tensors' && d.tensorId === id)) {
        damage.push({ table: 'tensors', tensorId: id, seq: null, problem: 'the tensor has frames but no description' })
      }
      meta = { id, tensorLen, accessCount: 0, accessTick: 0 }
    }
    const known = (meta.lost ?? []).map(([a, b]) => [a, b] as [number, number])
    const covered = (from: number, to: number) => known.some(([a, b]) => a <= from && to <= b)
    type Item = { seq: number; frames: number; firstTs: number; lastTs: number; segment?: StoredSegment; frame?: WalFrame }
    const items: Item[] = []
    for (const s of segments) {
      const info = segmentInfoOrNull(s.bytes)
      const problem =
        info === null
          ? 'the segment does not parse'
          : info.frameCount !== s.frames || info.byteLength !== s.bytes.byteLength || info.tensorLen !== meta.tensorLen
            ? 'the segment does not match its record'
            : null
      if (problem !== null) damage.push({ table: 'segments', tensorId: id, seq: s.seq, problem })
      else items.push({ seq: s.seq, frames: s.frames, firstTs: s.startTs, lastTs: s.endTs, segment: s })
    }
    for (const f of wal) {
      if (f.frame.length !== meta.tensorLen) damage.push({ table: 'wal', tensorId: id, seq: f.seq, problem: `a frame of ${f.frame.length} values, not ${meta.tensorLen}` })
      else items.push({ seq: f.seq, frames: 1, firstTs: f.ts, lastTs: f.ts, frame: f })
    }
    items.sort((a, b) => a.seq - b.seq)
    const kept: Item[] = []
    const lost: [number, number][] = []
    let expected = 0
    let lastTs = -Infinity
    for (const item of items) {
      if (item.seq < expected) {
        damage.push({ table: item.segment ? 'segments' : 'wal', tensorId: id, seq: item.seq, problem: 'frames overlap the ones before' })
        continue
      }
      if (item.firstTs < lastTs) {
        damage.push({ table: item.segment ? 'segments' : 'wal', tensorId: id, seq: item.seq, problem: 'timestamps before the frames before' })
        continue
      }
      if (item.seq > expected && !covered(expected, item.seq - 1)) lost.push([expected, item.seq - 1])
      kept.push(item)
      expected = item.seq + item.frames
      lastTs = item.lastTs
    }
    // Damaged records after the last intact one: one frame each at least.
    for (const d of damage) {
      if (d.tensorId === id && d.seq !== null && d.seq >= expected && !covered(d.seq, d.seq)) lost.push([d.seq, d.seq])
    }
    // A gap no damaged record explains: records vanished.
    for (const [a, b] of lost) {
      if (!damage.some((d) => d.tensorId === id && d.seq !== null && d.seq >= a && d.seq <= b)) {
        damage.push({ table: 'segments', tensorId: id, seq: a, problem: `frames ${a}..${b} are missing` })
      }
    }
    // Write-ahead frames must follow the last segment: a segment after them would mean frames
    // were kept twice or lost.
    const firstWal = kept.findIndex((k) => k.frame !== undefined)
    const segmentsKept = kept.filter((k) => k.segment !== undefined)
    const walKept = kept.filter((k) => k.frame !== undefined)
    if (firstWal >= 0 && kept.slice(firstWal).some((k) => k.segment !== undefined)) {
      damage.push({ table: 'wal', tensorId: id, seq: kept[firstWal].seq, problem: 'frames of the write-ahead table come before a segment' })
    }
    tensors.set(id, {
      meta,
      segments: segmentsKept.map((k) => k.segment!),
      wal: walKept.map((k) => k.frame!),
      frames: kept.reduce((n, k) => n + k.frames, 0),
      lost: [...known, ...lost],
    })
  }
  return { damage, tensors }
}

function segmentInfoOrNull(bytes: Uint8Array): ReturnType<typeof segmentInfo> | null {
  try {
    return segmentInfo(bytes)
  } catch {
    return null
  }
}
