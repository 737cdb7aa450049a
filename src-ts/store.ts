/**
 * `TensorStreamStore`: many tensor streams by id, each with its own compressor and access
 * statistics, kept as TQTC segments with a time-range index (ADR-017 §5), in memory or
 * persisted in LMDB (an embedded, crash-safe key-value store; install the optional `lmdb`
 * package).
 */
import { DEFAULT_FORMAT, TemporalTensorCompressor, decodeFrame, decodeSegment, segmentInfo } from './api.js'
import type { SegmentFormat, TierPolicyOptions } from './api.js'
import { TemporalTensorError, checkFloat32Array } from './errors.js'
import { type Persistence, openPersistence } from './store-lmdb.js'

/** A tier name; derived from the bits a segment is stored at (8 hot, 7/5 warm, 3 cold). */
export type TierName = 'hot' | 'warm' | 'cold'

/** The tier a width belongs to. */
export function tierOfBits(bits: number): TierName {
  return bits >= 8 ? 'hot' : bits >= 5 ? 'warm' : 'cold'
}

/** ADR-017 §8.2's per-frame bound on max|v − v'| / max|v| for a width. */
export const ERROR_BOUNDS: Readonly<Record<number, number>> = Object.freeze({ 8: 0.008, 7: 0.016, 5: 0.065, 3: 0.3 })

/** What the store records about each segment (ADR-017 §5.2 key and tags, §5.4 lineage). */
export interface SegmentRecord {
  /** `${tensorId}:${startTs}:${endTs}` */
  key: string
  tensorId: string
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
  /** Snapshot of the open segment, cached until the next append. */
  peekCache: Uint8Array | null
  /** Decayed access count and the tick it was last updated. */
  accessCount: number
  accessTick: number
  lastTs: number
  producer: string | null
}

/** The persisted description of a tensor (for reopening). */
export interface TensorMeta {
  id: string
  tensorLen: number
  accessCount: number
  accessTick: number
  lastTs: number
  producer: string | null
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
 * write-ahead table until their segment is written.
 */
export class TensorStreamStore {
  readonly #options: StoreOptions
  readonly #format: SegmentFormat
  readonly #tensors = new Map<string, TensorState>()
  /** Accesses recorded for tensors whose first frame has not arrived. */
  readonly #earlyAccess = new Map<string, { accessCount: number; accessTick: number }>()
  #persistence: Persistence | null = null
  #appendsSinceRetier = 0
  /** Segments that could not be re-encoded, with the widest width that failed for them. */
  readonly #kept = new WeakMap<StoredSegment, number>()
  #closed = false

  /** An in-memory store. For persistence use `TensorStreamStore.open({ path })`. */
  constructor(options: StoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'options must be an object')
    }
    if (options.path !== undefined) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'a persistent store is opened with `await TensorStreamStore.open({ path })`')
    }
    const format = options.format ?? DEFAULT_FORMAT
    if (format !== 'coded' && format !== 'packed') {
      throw new TemporalTensorError('INVALID_ARGUMENT', `format must be 'coded' or 'packed', got ${String(format)}`)
    }
    this.#options = options
    this.#format = format
  }

  /** The format new segments are written in. */
  get format(): SegmentFormat {
    return this.#format
  }

  /** Opens (or creates) a store; with `path`, persisted in LMDB and recovered from it. */
  static async open(options: StoreOptions = {}): Promise<TensorStreamStore> {
    const { path, ...rest } = options
    const store = new TensorStreamStore(rest)
    if (path !== undefined) {
      store.#persistence = await openPersistence(path)
      await store.#recover()
    }
    return store
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
      peekCache: null,
      accessCount: early?.accessCount ?? 0,
      accessTick: early?.accessTick ?? 0,
      lastTs: -Infinity,
      producer,
    }
  }

  /** The access count decayed to `tick` (used when a new access is added). */
  #decayedCount(t: TensorState, tick: number): number {
    const halfLife = this.#options.accessHalfLife ?? 60
    return t.accessCount * 2 ** (-Math.max(0, tick - t.accessTick) / halfLife)
  }

  /**
   * Records a finished segment (bytes from the compressor) in memory; returns it. `reencoded`
   * is given for segments re-tiering wrote: the width the frames had and the bound the new
   * segment keeps against the appended frames.
   */
  #commitSegment(
    t: TensorState,
    bytes: Uint8Array,
    timestamps: number[],
    producer: string | null,
    reencoded?: { from: number; bound: number },
  ): StoredSegment {
    const info = segmentInfo(bytes)
    if (info.frameCount !== timestamps.length) {
      throw new TemporalTensorError('INTERNAL', `segment holds ${info.frameCount} frames, ${timestamps.length} timestamps`)
    }
    const startTs = timestamps[0]
    const endTs = timestamps[timestamps.length - 1]
    const prev = t.segments.length > 0 ? t.segments[t.segments.length - 1] : null
    const segment: StoredSegment = {
      key: `${t.id}:${startTs}:${endTs}`,
      tensorId: t.id,
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
    t.segments.push(segment)
    return segment
  }

  /**
   * Compresses `frame` (the tensor's next frame, taken at `ts`) into tensor `tensorId`'s
   * stream. The first frame of a tensor fixes its length. Timestamps of a tensor must not
   * decrease. Resolves once the frame is stored (durably, with persistence).
   *
   * Errors (nothing changed): `INVALID_ARGUMENT` (types, a decreasing timestamp),
   * `LENGTH_MISMATCH`, `NON_FINITE`, and the compressor's configuration errors.
   */
  async append(tensorId: string, frame: Float32Array, ts: number, meta: { producer?: string } = {}): Promise<void> {
    this.#live()
    if (typeof tensorId !== 'string' || tensorId.length === 0 || tensorId.includes(':')) {
      throw new TemporalTensorError('INVALID_ARGUMENT', 'tensorId must be a non-empty string without ":"')
    }
    checkFloat32Array(frame, 'frame')
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `ts must be a finite number >= 0, got ${String(ts)}`)
    }
    const tick = this.#tick(ts)
    const producer = meta.producer ?? this.#options.producer ?? null
    const existing = this.#tensors.get(tensorId)
    if (existing && ts < existing.lastTs) {
      throw new TemporalTensorError('INVALID_ARGUMENT', `ts ${ts} is before the tensor's last frame (${existing.lastTs})`)
    }
    const t = existing ?? this.#newTensor(tensorId, frame.length, producer)
    if (frame.length !== t.tensorLen) {
      throw new TemporalTensorError('LENGTH_MISMATCH', `tensor "${tensorId}" has ${t.tensorLen} values per frame, got ${frame.length}`)
    }
    const refresh =
      this.#options.coherence !== undefined &&
      t.pendingTs.length > 0 &&
      this.#options.coherence(tensorId, frame, ts) === false
    if (refresh) {
      // Validate before flushing, so a bad frame still changes nothing.
      const bad = frame.findIndex((v) => !Number.isFinite(v))
      if (bad >= 0) throw new TemporalTensorError('NON_FINITE', `frame value at index ${bad} is NaN or infinite`)
    }
    t.compressor.setAccess(...accessArgs(t))
    const refreshed = refresh ? t.compressor.flush() : null
    // The push validates the frame; if it throws, nothing has changed.
    const finished = t.compressor.push(frame, tick)
    if (!existing) {
      this.#tensors.set(tensorId, t)
      this.#earlyAccess.delete(tensorId)
    }
    const done = refreshed ?? finished
    const committed: StoredSegment[] = []
    if (done !== null) {
      committed.push(this.#commitSegment(t, done, t.pendingTs, t.producer))
      t.pendingTs = []
    }
    t.pendingTs.push(ts)
    t.lastTs = ts
    t.producer = producer
    t.peekCache = null
    if (this.#persistence) {
      await this.#persistence.writeAppend(this.#meta(t), frame, ts, committed)
    }
    if (this.#options.retier !== false) {
      const every = this.#options.retier?.everyAppends ?? 256
      if (++this.#appendsSinceRetier >= every) {
        this.#appendsSinceRetier = 0
        await this.retier(ts, this.#options.retier?.maxSegments ?? 4)
      }
    }
  }

  #meta(t: TensorState): TensorMeta {
    return {
      id: t.id,
      tensorLen: t.tensorLen,
      accessCount: t.accessCount,
      accessTick: t.accessTick,
      lastTs: t.lastTs,
      producer: t.producer,
    }
  }

  /**
   * Records one read access of `tensorId` at `ts` (drives its tier). Accesses to a tensor with
   * no frame yet are kept for when its first frame arrives.
   */
  async touch(tensorId: string, ts: number): Promise<void> {
    this.#live()
    const tick = this.#tick(ts)
    let t = this.#tensors.get(tensorId)
    if (!t) {
      const early = this.#earlyAccess.get(tensorId) ?? { accessCount: 0, accessTick: 0 }
      const decayed = early.accessCount * 2 ** (-Math.max(0, tick - early.accessTick) / (this.#options.accessHalfLife ?? 60))
      this.#earlyAccess.set(tensorId, { accessCount: decayed + 1, accessTick: Math.max(early.accessTick, tick) })
      return
    }
    t.accessCount = this.#decayedCount(t, tick) + 1
    t.accessTick = Math.max(t.accessTick, tick)
    if (this.#persistence) await this.#persistence.writeMeta(this.#meta(t!))
  }

  /** Forces a segment boundary now (ADR-017 §5.3 coherence-gated refresh). */
  async refresh(tensorId: string): Promise<void> {
    this.#live()
    const t = this.#tensor(tensorId)
    const bytes = t.compressor.flush()
    if (bytes === null) return
    const segment = this.#commitSegment(t, bytes, t.pendingTs, t.producer)
    t.pendingTs = []
    t.peekCache = null
    if (this.#persistence) await this.#persistence.writeSegments(this.#meta(t), [segment], [])
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
        parts.push(decodeSegment(bytes).subarray(first * n, (last + 1) * n))
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

  /** The width a tensor's frames would get now. */
  #currentBits(t: TensorState, tick: number): number {
    const fixed = this.#options.policy?.fixedBits ?? 0
    if (fixed !== 0) return fixed
    // The tiers decide: ask a one-value compressor with the tensor's access statistics, so the
    // policy is evaluated by the same code that chooses the width of appended frames.
    const probe = new TemporalTensorCompressor({ tensorLen: 1, policy: this.#options.policy, format: 'packed' })
    try {
      probe.setAccess(...accessArgs(t))
      probe.push(new Float32Array(1), tick)
      return probe.activeBits ?? 3
    } finally {
      probe.free()
    }
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
    const tick = this.#tick(ts)
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
        t.segments.splice(s, 1, ...replacement)
        for (let k = s; k < t.segments.length; k++) t.segments[k].prevKey = k > 0 ? t.segments[k - 1].key : null
        if (this.#persistence) await this.#persistence.writeSegments(this.#meta(t), replacement, [old])
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
    const decoded = decodeSegment(old.bytes)
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
      const values = decodeSegment(part)
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
    const scratch: TensorState = { ...t, segments: t.segments.slice(0, t.segments.indexOf(old)) }
    const reencoded = { from: old.reencodedFrom ?? old.bits, bound: bDst }
    let at = 0
    return parts.map((part) => {
      const frames = segmentInfo(part).frameCount
      const stamps = Array.from(old.timestamps.subarray(at, at + frames))
      at += frames
      return this.#commitSegment(scratch, part, stamps, old.producer, reencoded)
    })
  }

  /** Replays the write-ahead table into fresh compressors after a restart. */
  async #recover(): Promise<void> {
    const p = this.#persistence!
    const { tensors, segments, wal } = await p.load()
    for (const meta of tensors) {
      const t = this.#newTensor(meta.id, meta.tensorLen, meta.producer)
      t.accessCount = meta.accessCount
      t.accessTick = meta.accessTick
      t.lastTs = meta.lastTs
      t.segments = (segments.get(meta.id) ?? []).map(withFormatAndBound)
      this.#tensors.set(meta.id, t)
    }
    for (const [id, frames] of wal) {
      const t = this.#tensors.get(id)
      if (!t) continue
      for (const { ts, frame } of frames) {
        const finished = t.compressor.push(frame, this.#tick(ts))
        if (finished !== null) {
          const segment = this.#commitSegment(t, finished, t.pendingTs, t.producer)
          t.pendingTs = []
          await p.writeSegments(this.#meta(t), [segment], [])
        }
        t.pendingTs.push(ts)
      }
    }
  }

  /** Closes the store (and its database); later calls throw `INVALID_HANDLE`. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#tensors.values()) t.compressor.free()
    await this.#persistence?.close()
  }
}
