/**
 * The store's row types (segment records, statistics, options, reports) and the small helpers
 * the store and its re-tiering share. Records follow ADR-017 §5.2 (keys and tags) and §5.4
 * (lineage).
 */
import { ERROR_BOUNDS } from './api.js'
import type { SegmentFormat, TierPolicyOptions } from './api.js'
import { TemporalTensorError } from './errors.js'

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
  /** The tensor (stream) the segment belongs to. */
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
  /** The tier of `bits` (`tierOfBits`). */
  tier: TierName
  /** The width of the segment's tier (for coded segments, the width whose bound it keeps). */
  bits: number
  /** `'packed'` (TQTC v1/v2) or `'coded'` (v3 to v5), from the segment's header. */
  format: SegmentFormat
  /**
   * The bound every frame keeps against the frames that were appended: max|v − v'| / max|v|
   * below it. The segment's own header bound for segments written from appended frames; the
   * destination tier's bound for segments re-tiering wrote (their header holds the smaller
   * bound they were encoded at, relative to the frames they were re-encoded from).
   */
  bound: number
  /** Frames in the segment. */
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
  /** The TQTC segment. */
  bytes: Uint8Array
  /** Each frame's timestamp, in order (`frames` of them). */
  timestamps: Float64Array
}

/** Figures for one tier (or the total) in `stats()`. */
export interface TierStats {
  /** Tensors whose current (latest) width is in this tier. */
  tensors: number
  /** Segments stored at this tier's widths (the open segment of a tensor counts as one). */
  segments: number
  /** Frames stored at this tier's widths. */
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
  /** Segments at 8 bits. */
  hot: TierStats
  /** Segments at 7 or 5 bits. */
  warm: TierStats
  /** Segments at 3 bits. */
  cold: TierStats
  /** All tiers together. */
  total: TierStats
  /** Bytes of the frame timestamps index (8 per frame), not included in `residentBytes`. */
  indexBytes: number
}

/**
 * Where a store keeps its segments (`TensorStreamStore.open({ persistence })`); see the README's
 * store section for what each engine guarantees.
 * - `memory`: nothing persisted (the default).
 * - `lmdb`: an embedded database in directory `path`, one process at a time (optional `lmdb`
 *   package).
 * - `redis`: a Redis server (`url`, default `redis://127.0.0.1:6379`) or a Redis Cluster (`cluster`:
 *   its seed nodes); every key of a tensor carries the hash tag `{tensorId}`, so one tensor lives
 *   in one slot (optional `ioredis` package).
 * - `postgres`: a PostgreSQL database (`connectionString`), through a pool of at most `poolSize`
 *   connections (optional `pg` package).
 *
 * Redis and PostgreSQL stores are shared: `name` (letters, digits, `_`, `-`; default `tt`)
 * tells stores on one server apart; any number of processes read; one process writes a tensor
 * at a time, holding a lease on it renewed by each write and lost after `leaseMs` (default
 * 10000) without one; another writer gets `STORE_LOCKED`. A call waits for an unreachable
 * server (reconnecting every 100 ms) for `timeoutMs` (default 10000), then fails with `IO_ERROR`.
 */
export type PersistenceOptions =
  | {
      /** Nothing persisted. */
      kind: 'memory'
    }
  | {
      /** An embedded LMDB database. */
      kind: 'lmdb'
      /** Its directory (created if missing). */
      path: string
    }
  | {
      /** A Redis server or cluster. */
      kind: 'redis'
      /** The server, default `redis://127.0.0.1:6379` (not with `cluster`). */
      url?: string
      /** Seed nodes of a Redis Cluster, instead of `url`. */
      cluster?: {
        /** Host name or address of a node. */
        host: string
        /** Its port. */
        port: number
      }[]
      /** Namespace of the store's keys (letters, digits, `_`, `-`); default `tt`. */
      name?: string
      /** Milliseconds a writer's lease on a tensor lasts without a write (default 10000). */
      leaseMs?: number
      /** Milliseconds to wait for an unreachable server before `IO_ERROR` (default 10000). */
      timeoutMs?: number
    }
  | {
      /** A PostgreSQL database. */
      kind: 'postgres'
      /** libpq connection string (default: the `PG*` environment variables). */
      connectionString?: string
      /** Most connections the store's pool opens. */
      poolSize?: number
      /** Namespace of the store's tables (letters, digits, `_`, `-`); default `tt`. */
      name?: string
      /** Milliseconds a writer's lease on a tensor lasts without a write (default 10000). */
      leaseMs?: number
      /** Milliseconds to wait for an unreachable server before `IO_ERROR` (default 10000). */
      timeoutMs?: number
    }

/** Options of a store. */
export interface StoreOptions {
  /** Where segments are kept (`TensorStreamStore.open`); default in memory. */
  persistence?: PersistenceOptions
  /** Directory of an LMDB database: the same as `persistence: { kind: 'lmdb', path }`. */
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
   * Maps a timestamp to the policy's integer tick (the compressor's u32 tier clock); default
   * `defaultTick`: timestamps in milliseconds to whole seconds, `floor(ts / 1000)`. Access
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
  retier?:
    | {
        /** Appends between two re-tiering steps (default 256). */
        everyAppends?: number
        /** Most segments one step re-encodes (default 4). */
        maxSegments?: number
      }
    | false
}

/** Frames of one tensor between two timestamps. */
export interface ReadResult {
  /** Timestamp of each frame, ascending. */
  timestamps: Float64Array
  /** The frames back to back: `timestamps.length * tensorLen` values. */
  frames: Float32Array
}

/** What `TensorStreamStore.verify` and `TensorStreamStore.repair` found. */
export interface StoreReport {
  /** True when nothing is damaged. */
  ok: boolean
  /** The store's directory. */
  path: string
  /**
   * Problems of the database file's structure (`data.mdb`: truncated, pages overwritten), one
   * line each. When there are any, no record was read (reading would not be safe).
   */
  fileProblems: string[]
  /** Records that fail their checksum or their checks, with the problem. */
  damaged: {
    /** The table holding the record. */
    table: 'segments' | 'wal' | 'tensors'
    /** The tensor, when the record's key could be read. */
    tensorId: string | null
    /** The record's sequence number, when its key could be read. */
    seq: number | null
    /** What is wrong with it. */
    problem: string
  }[]
  /**
   * Per tensor: frames intact, and frames lost as ranges of sequence numbers (`[first, last]`,
   * frames numbered from 0 in append order; a damaged record at the end of a tensor counts as
   * one frame lost, as its length cannot be read).
   */
  tensors: {
    /** The tensor. */
    id: string
    /** Frames intact. */
    frames: number
    /** Ranges `[first, last]` of sequence numbers of the frames lost. */
    lost: [number, number][]
  }[]
  /** `repair` only: records removed. */
  removed?: number
}


/**
 * The first index `i` in `[0, length)` for which `below(i)` is false, given that `below` is
 * true for a prefix of the indices and false after it (binary search: O(log length) calls).
 * Returns `length` when `below` holds everywhere.
 */
export function partitionPoint(length: number, below: (i: number) => boolean): number {
  let lo = 0
  let hi = length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (below(mid)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * An access count last updated at tick `since`, decayed to tick `tick` with a half-life of
 * `halfLife` ticks (> 0). Never grows; ticks before `since` leave it as it is.
 */
export function decayedCount(count: number, since: number, tick: number, halfLife: number): number {
  return count * 2 ** (-Math.max(0, tick - since) / halfLife)
}

/**
 * Checks a frame timestamp given to the store: an integer from 0 to `Number.MAX_SAFE_INTEGER`
 * (such as JavaScript milliseconds, `Date.now()`). The store keeps it exactly (as a float64,
 * in memory and in every backend) and reads return it unchanged. Throws `INVALID_ARGUMENT`
 * for anything else (negative, fractional, NaN, infinite, not a number).
 */
export function checkTs(ts: unknown, name: string): asserts ts is number {
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
    throw new TemporalTensorError('INVALID_ARGUMENT', `${name} must be an integer from 0 to 2^53-1 (e.g. Date.now()), got ${String(ts)}`)
  }
}

/** Largest tick of the compressor's tier clock (a u32). */
export const MAX_TICK = 0xffffffff

/**
 * The store's default map from a timestamp in milliseconds to the compressor's tier clock
 * (`TemporalTensorCompressor.push(frame, nowTs)`, a u32 tick): whole seconds, `floor(ts / 1000)`,
 * saturating at `MAX_TICK` (the year 2106 for Unix-epoch milliseconds). Access scores and the
 * access half-life are counted in these ticks.
 */
export function defaultTick(ts: number): number {
  return Math.min(MAX_TICK, Math.floor(ts / 1000))
}
