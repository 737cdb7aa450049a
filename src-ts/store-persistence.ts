/**
 * The persistence-backend interface of `TensorStreamStore`: what the store asks of wherever it
 * keeps its records (memory, LMDB, Redis, PostgreSQL), and the in-memory backend. Internal.
 *
 * Every backend keeps, per tensor: its description (`TensorMeta`), its finished segments keyed by
 * the sequence number of their first frame, and the frames of its open segment (the write-ahead
 * frames), one per sequence number. Writes resolve once durable (as durable as the backend is)
 * and reject with a coded error having written nothing.
 */
import type { StoredSegment } from './store-types.js'

/** The persisted description of a tensor. */
export interface TensorMeta {
  id: string
  tensorLen: number
  accessCount: number
  accessTick: number
  /** Frames `repair` could not keep: `[firstSeq, lastSeq]` ranges (absent when none). */
  lost?: [number, number][]
}

/** A frame of an open segment, as the write-ahead table keeps it. */
export interface WalFrame {
  seq: number
  ts: number
  producer: string | null
  /** The frame starts a new segment (a coherence refresh before it). */
  boundary: boolean
  frame: Float32Array
}

/** A record that could not be read back as it was written. */
export interface Damage {
  table: 'segments' | 'wal' | 'tensors'
  tensorId: string | null
  /** Sequence number of the record's first frame (from its key), if readable. */
  seq: number | null
  problem: string
}

/** What was read from a backend. */
export interface Loaded {
  tensors: TensorMeta[]
  segments: Map<string, StoredSegment[]>
  wal: Map<string, WalFrame[]>
  damage: Damage[]
}

/**
 * Part of one tensor as a shared backend holds it now: its description, the segments a range
 * read needs (in sequence order) and every frame of its open segment.
 */
export interface TensorView {
  meta: TensorMeta
  segments: StoredSegment[]
  wal: WalFrame[]
  damage: Damage[]
}

/**
 * A store's view of where it keeps its records. Every write resolves once stored and rejects with
 * a coded error (`STORAGE_FULL`, `IO_ERROR`, `STORE_LOCKED`, `BACKEND_UNAVAILABLE`) having
 * written nothing.
 */
export interface Persistence {
  /** `'memory'`, `'lmdb'`, `'redis'` or `'postgres'`. */
  readonly kind: string
  /** True when records outlive the process (the store then keeps a write-ahead copy of open frames). */
  readonly durable: boolean
  /**
   * True when other processes may use the same records at once: then a tensor is written by one
   * store at a time (`writeFrame` takes or renews its lease) and reads of tensors this store does
   * not write go to the backend (`view`).
   */
  readonly shared: boolean
  /**
   * Writes one frame to the write-ahead table (and the tensor's description, if given). On a
   * shared backend it also takes or renews the tensor's lease, and fails with `STORE_LOCKED` if
   * another store holds it or wrote frame `frame.seq` first.
   */
  writeFrame(id: string, frame: WalFrame, meta: TensorMeta | null): Promise<void>
  /** Removes a frame from the write-ahead table. */
  removeFrame(id: string, seq: number): Promise<void>
  /**
   * Writes finished segments and removes replaced ones, in one transaction. With `fromWal`,
   * also removes the frames of `added` from the write-ahead table. On a shared backend, only
   * while this store holds the tensor's lease (`STORE_LOCKED` otherwise).
   */
  writeSegments(meta: TensorMeta | null, added: StoredSegment[], removed: StoredSegment[], fromWal: boolean): Promise<void>
  /** Writes a tensor's description (access statistics). */
  writeMeta(meta: TensorMeta): Promise<void>
  /** Reads everything; damaged records are reported in `damage`, not returned. */
  load(): Promise<Loaded>
  /**
   * Shared backends: tensor `id` as it is now, with the segments overlapping `[fromTs, toTs]` (or,
   * with `latest`, the last segment starting at or before `toTs`), found through a time index in
   * O(log n); `null` when the tensor does not exist.
   */
  view?(id: string, fromTs: number, toTs: number, latest: boolean): Promise<TensorView | null>
  /** Shared backends: the ids of every tensor. */
  tensorIds?(): Promise<string[]>
  /**
   * LMDB: rebuilds the segment and write-ahead tables from the records that read back intact and
   * that `keep` accepts. Returns how many records were dropped.
   */
  rebuild?(keep: (table: 'segments' | 'wal', key: [string, number]) => boolean): Promise<number>
  /** LMDB: replaces every tensor's description. */
  writeMetas?(metas: TensorMeta[]): Promise<void>
  /** Releases what the backend holds (connections, locks, leases). */
  close(): Promise<void>
}

/** The in-memory backend: nothing outlives the process, so nothing is written. */
export function memoryPersistence(): Persistence {
  const done = async (): Promise<void> => {}
  return {
    kind: 'memory',
    durable: false,
    shared: false,
    writeFrame: done,
    removeFrame: done,
    writeSegments: done,
    writeMeta: done,
    load: async () => ({ tensors: [], segments: new Map(), wal: new Map(), damage: [] }),
    close: done,
  }
}
