/**
 * LMDB persistence for `TensorStreamStore` (the optional `lmdb` package). Internal.
 *
 * Three tables: `segments` keyed `[tensorId, startTs]` (ordered keys: the time-range index on
 * disk), `wal` keyed `[tensorId, ts]` holding raw frames of open segments, and `tensors` keyed
 * by id. An append writes its WAL entry, any segment it finished, the WAL deletions for that
 * segment's frames and the tensor's metadata in one transaction.
 */
import { TemporalTensorError } from './errors.js'
import type { StoredSegment, TensorMeta } from './store.js'

/** The store's view of its database. */
export interface Persistence {
  writeAppend(meta: TensorMeta, frame: Float32Array, ts: number, finished: StoredSegment[]): Promise<void>
  writeSegments(meta: TensorMeta, added: StoredSegment[], removed: StoredSegment[]): Promise<void>
  writeMeta(meta: TensorMeta): Promise<void>
  load(): Promise<{
    tensors: TensorMeta[]
    segments: Map<string, StoredSegment[]>
    wal: Map<string, { ts: number; frame: Float32Array }[]>
  }>
  close(): Promise<void>
}

/* Minimal typing of the parts of lmdb-js used here. */
interface Db {
  put(key: unknown, value: unknown): Promise<boolean>
  remove(key: unknown): Promise<boolean>
  getRange(options?: { start?: unknown; end?: unknown }): Iterable<{ key: unknown; value: unknown }>
  transaction<T>(action: () => T): Promise<T>
  openDB(name: string, options?: object): Db
  close(): Promise<void>
}

type SegmentRow = Omit<StoredSegment, 'bytes' | 'timestamps'> & { bytes: Uint8Array; timestamps: Uint8Array }

const bytesOf = (a: Float32Array | Float64Array): Uint8Array =>
  new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))

function toRow(s: StoredSegment): SegmentRow {
  return { ...s, timestamps: bytesOf(s.timestamps) }
}

function fromRow(r: SegmentRow): StoredSegment {
  const ts = new Uint8Array(r.timestamps)
  return { ...r, bytes: new Uint8Array(r.bytes), timestamps: new Float64Array(ts.buffer, ts.byteOffset, ts.byteLength / 8) }
}

/** Opens (creating if needed) the database at `path`. */
export async function openPersistence(path: string): Promise<Persistence> {
  let lmdb: { open(options: object): Db }
  try {
    lmdb = (await import('lmdb')) as unknown as { open(options: object): Db }
  } catch (e) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'persistence needs the `lmdb` package: npm install lmdb', { cause: e })
  }
  const root = lmdb.open({ path, compression: false })
  const segments = root.openDB('segments')
  const wal = root.openDB('wal')
  const tensors = root.openDB('tensors')

  const walKeysOf = (s: StoredSegment) => Array.from(s.timestamps, (ts) => [s.tensorId, ts])

  return {
    async writeAppend(meta, frame, ts, finished) {
      await root.transaction(() => {
        wal.put([meta.id, ts], bytesOf(frame))
        for (const s of finished) {
          segments.put([s.tensorId, s.startTs], toRow(s))
          for (const key of walKeysOf(s)) wal.remove(key)
        }
        tensors.put(meta.id, meta)
      })
    },
    async writeSegments(meta, added, removed) {
      await root.transaction(() => {
        for (const s of removed) segments.remove([s.tensorId, s.startTs])
        for (const s of added) {
          segments.put([s.tensorId, s.startTs], toRow(s))
          for (const key of walKeysOf(s)) wal.remove(key)
        }
        tensors.put(meta.id, meta)
      })
    },
    async writeMeta(meta) {
      await tensors.put(meta.id, meta)
    },
    async load() {
      const metas = [...tensors.getRange()].map(({ value }) => value as TensorMeta)
      const bySegment = new Map<string, StoredSegment[]>()
      for (const { value } of segments.getRange()) {
        const s = fromRow(value as SegmentRow)
        const list = bySegment.get(s.tensorId) ?? []
        list.push(s)
        bySegment.set(s.tensorId, list)
      }
      const byWal = new Map<string, { ts: number; frame: Float32Array }[]>()
      for (const { key, value } of wal.getRange()) {
        const [id, ts] = key as [string, number]
        const bytes = new Uint8Array(value as Uint8Array)
        const list = byWal.get(id) ?? []
        list.push({ ts, frame: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) })
        byWal.set(id, list)
      }
      return { tensors: metas, segments: bySegment, wal: byWal }
    },
    async close() {
      await root.close()
    },
  }
}
