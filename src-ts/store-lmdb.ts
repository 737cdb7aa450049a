/**
 * LMDB persistence for `TensorStreamStore` (the optional `lmdb` package). Internal.
 *
 * Layout (schema 2). Every record is binary: a CRC-32C of the rest, the length of a JSON header,
 * the header, padding to 8 bytes, then the payload. Frames of a tensor are numbered from 0 in the
 * order they were appended (`seq`), so keys are unique whatever the timestamps:
 * - `tt-wal` `[tensorId, seq]`: one frame of an open segment (header `{ id, seq, ts, producer,
 *   boundary }`, payload the f32 values), written before the frame is compressed;
 * - `tt-segments` `[tensorId, seq of its first frame]`: a finished segment (header the record,
 *   payload the frame timestamps as f64 then the TQTC bytes); written in one transaction with
 *   the deletion of its frames from `tt-wal`;
 * - `tt-tensors` `tensorId`: length and access statistics (and frames a repair gave up).
 *
 * Every write is one synchronous LMDB transaction: it commits or throws (`STORAGE_FULL`,
 * `IO_ERROR`) having written nothing, and a committed transaction survives the process being
 * killed. One process (one open store) owns a directory at a time, through the lock file
 * `tt-store.lock`. `data.mdb` is checked page by page (`lmdb-check.ts`) before LMDB maps it, and
 * every record by its checksum when it is read. Stores written by the first layout (tables
 * `segments`, `wal`, `tensors` keyed by timestamp) are converted when opened.
 */
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  statfsSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { threadId } from 'node:worker_threads'
import { TemporalTensorError } from './errors.js'
import { checkLmdbFile } from './lmdb-check.js'
import type { Damage, Persistence, TensorMeta, WalFrame } from './store-persistence.js'
import { encodeRow, isKey, metaFromRow, segmentFromRow, segmentRow, walFromRow, walRow } from './store-records.js'
import type { StoredSegment } from './store-types.js'

/* Minimal typing of the parts of lmdb-js used here. */
interface Db {
  get(key: unknown): unknown
  putSync(key: unknown, value: unknown): boolean
  removeSync(key: unknown): boolean
  clearSync(): void
  getRange(options?: { start?: unknown; end?: unknown }): Iterable<{ key: unknown; value: unknown }>
  transactionSync<T>(action: () => T, flags?: number): T
  openDB(name: string, options?: object): Db | undefined
  close(): Promise<void>
}

/** Flags lmdb-js itself uses for a synchronous write (commit now, flush to disk in the background). */
const SYNC_TXN_FLAGS = process.platform === 'win32' ? 2 : 0x10002

const LOCK_FILE = 'tt-store.lock'
const MANIFEST_FILE = 'tt-store.json'
const SCHEMA = 2

/* ---------------------------------------------------------------------------------------------
 * Errors
 */

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 5: 'EIO', 13: 'EACCES', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT' }
const MDB_MAP_FULL = -30792
// CORRUPTED, PAGE_NOTFOUND, INVALID, VERSION_MISMATCH, PANIC, INCOMPATIBLE, BAD_VALSIZE
const MDB_CORRUPT = new Set([-30796, -30797, -30793, -30794, -30795, -30784, -30781])

/** Bytes free for this process on the file system of `path` (Infinity when unknown). */
function freeBytes(path: string): number {
  try {
    const s = statfsSync(path)
    return s.bavail * s.bsize
  } catch {
    return Infinity
  }
}

/**
 * The coded error for a failure of the file system or LMDB while doing `what`. LMDB reports a
 * full disk as a failed write (`EIO`): it is `STORAGE_FULL` when the file system has (almost)
 * no room left.
 */
export function storageError(e: unknown, path: string, what: string): TemporalTensorError {
  if (e instanceof TemporalTensorError) return e
  const err = e as { code?: unknown; message?: unknown }
  const raw = err?.code
  const name = typeof raw === 'number' ? (ERRNO_NAMES[raw] ?? raw) : raw
  const message = `${what} failed: ${String(err?.message ?? e)}`
  const has = (s: string) => String(err?.message ?? '').includes(s)
  if (name === 'ENOSPC' || name === 'EDQUOT' || raw === MDB_MAP_FULL || has('MDB_MAP_FULL')) {
    return new TemporalTensorError('STORAGE_FULL', `${message} (the disk or database map is full; nothing was written)`, { cause: e })
  }
  if (typeof raw === 'number' && MDB_CORRUPT.has(raw)) {
    return new TemporalTensorError('STORE_CORRUPT', message, { cause: e })
  }
  if (name === 'EIO' && freeBytes(path) < 1 << 20) {
    return new TemporalTensorError('STORAGE_FULL', `${message} (the disk is full; nothing was written)`, { cause: e })
  }
  return new TemporalTensorError('IO_ERROR', message, { cause: e })
}

/* ---------------------------------------------------------------------------------------------
 * The lock file
 */

interface Owner {
  pid: number
  /** Start time of the process (Linux: field 22 of /proc/<pid>/stat), to tell a reused pid. */
  start: string | null
  host: string
  thread: number
  token: string
}

/** Tokens of the stores open in this thread (shared by every copy of this module). */
const liveTokens: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('temporal-tensor.store-locks')] ??=
  new Set<string>()) as Set<string>

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

/** True unless `owner` is certainly gone (its process has exited, or it is this thread's and closed). */
function ownerAlive(owner: Owner): boolean {
  if (owner.host !== hostname()) return true // another machine sharing the directory: cannot tell
  if (owner.pid === process.pid) return owner.thread !== threadId || liveTokens.has(owner.token)
  try {
    process.kill(owner.pid, 0)
  } catch (e) {
    if ((e as { code?: string }).code === 'ESRCH') return false
  }
  const start = processStart(owner.pid)
  return owner.start === null || start === null || start === owner.start
}

function readOwner(file: string): Owner | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Owner
    return typeof o === 'object' && o !== null && typeof o.pid === 'number' && typeof o.token === 'string' ? o : null
  } catch {
    return null
  }
}

const lockedError = (path: string, owner: Owner | null): TemporalTensorError =>
  new TemporalTensorError(
    'STORE_LOCKED',
    `the store at ${path} is open in another ${owner?.pid === process.pid ? 'store of this process' : `process (pid ${owner?.pid ?? 'unknown'})`}; close it first`,
  )

/**
 * Takes the directory's lock file, atomically: the file appears complete (`link` of a written
 * temporary file) or not at all. A lock left by a process that is gone is replaced, one taker at
 * a time (the `.takeover` file). Returns the token to release it with.
 */
function acquireLock(dir: string): string {
  const lock = join(dir, LOCK_FILE)
  const token = `${process.pid}-${threadId}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
  const me: Owner = { pid: process.pid, start: processStart(process.pid), host: hostname(), thread: threadId, token }
  const temp = join(dir, `${LOCK_FILE}.${token}`)
  writeFileSync(temp, JSON.stringify(me))
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        linkSync(temp, lock)
        return token
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST') throw e
      }
      const holder = readOwner(lock)
      if (holder === null) {
        // Unreadable: damaged, or being replaced right now. Replace it if it stays unreadable.
        if (attempt < 10) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
          continue
        }
      } else if (ownerAlive(holder)) {
        throw lockedError(dir, holder)
      }
      const takeover = `${lock}.takeover`
      try {
        linkSync(temp, takeover)
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST') throw e
        const other = readOwner(takeover)
        if (other !== null && ownerAlive(other)) throw lockedError(dir, other)
        unlinkSync(takeover) // left by a taker that is gone
        continue
      }
      try {
        const again = readOwner(lock)
        if (again?.token === holder?.token) {
          renameSync(temp, lock) // atomic replace of the stale lock
          writeFileSync(temp, '') // recreated so the cleanup below has something to remove
          return token
        }
      } finally {
        unlinkSync(takeover)
      }
    }
    throw lockedError(dir, readOwner(lock))
  } finally {
    try {
      unlinkSync(temp)
    } catch {
      // already renamed into place
    }
  }
}

function releaseLock(dir: string, token: string): void {
  liveTokens.delete(token)
  const lock = join(dir, LOCK_FILE)
  if (readOwner(lock)?.token === token) {
    try {
      unlinkSync(lock)
    } catch {
      // gone already
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * Opening
 */

/** Creates `path` if needed and checks it is a writable directory; coded errors otherwise. */
function prepareDirectory(path: string): void {
  // Not `mkdirSync(path, { recursive: true })`: it loops forever where a file system refuses a
  // directory with ENOENT (under /proc), and so did lmdb's own attempt.
  const missing: string[] = []
  for (let dir = resolve(path); !existsSync(dir); dir = dirname(dir)) {
    missing.unshift(dir)
    if (dirname(dir) === dir) break
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir)
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw storageError(e, path, `creating the store directory ${path}`)
    }
  }
  let isDir: boolean
  try {
    isDir = statSync(path).isDirectory()
  } catch (e) {
    throw storageError(e, path, `reading the store directory ${path}`)
  }
  if (!isDir) throw new TemporalTensorError('IO_ERROR', `the store path ${path} is not a directory`)
  try {
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK)
  } catch (e) {
    throw storageError(e, path, `opening the store directory ${path} for writing`)
  }
}

/** Problems of the files before LMDB opens them (none for a new store). */
function checkFiles(path: string): string[] {
  const data = join(path, 'data.mdb')
  const hasManifest = existsSync(join(path, MANIFEST_FILE))
  if (!existsSync(data)) return hasManifest ? ['data.mdb is missing'] : []
  const size = statSync(data).size
  if (size === 0) return ['data.mdb is empty (truncated to 0 bytes)']
  return checkLmdbFile(data).problems
}

const corrupt = (path: string, problems: string[]): TemporalTensorError =>
  new TemporalTensorError(
    'STORE_CORRUPT',
    `the store at ${path} is damaged: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}. ` +
      'TensorStreamStore.verify({ path }) lists what; TensorStreamStore.repair({ path }) keeps what is intact',
  )

/** True when `path` holds a store (its database file or its manifest), damaged or not. */
export function isStore(path: string): boolean {
  return existsSync(join(path, 'data.mdb')) || existsSync(join(path, MANIFEST_FILE))
}

/** The structural problems of the store's `data.mdb` (empty when it is sound). */
export function checkStoreFiles(path: string): string[] {
  try {
    return checkFiles(path)
  } catch (e) {
    throw storageError(e, path, `reading ${path}`)
  }
}

/**
 * The store's LMDB environment at `path`, always a directory (`noSubdir: false`: lmdb-js would
 * take a path with a dot, such as `tensors.lmdb`, for the data file itself).
 */
function openRoot(lmdb: { open(options: object): Db }, path: string): Db {
  return lmdb.open({ path, compression: false, noSubdir: false })
}

async function importLmdb(): Promise<{ open(options: object): Db }> {
  try {
    return (await import('lmdb')) as unknown as { open(options: object): Db }
  } catch (e) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'persistence needs the `lmdb` package: npm install lmdb', { cause: e })
  }
}

/**
 * Opens (creating if needed) the database at `path` for this process alone. Throws
 * `STORE_LOCKED`, `STORE_CORRUPT` (the files are damaged), `IO_ERROR`, `STORAGE_FULL`,
 * `BACKEND_UNAVAILABLE`.
 */
export async function openPersistence(path: string): Promise<Persistence> {
  const lmdb = await importLmdb()
  prepareDirectory(path)
  let token: string
  try {
    token = acquireLock(path)
  } catch (e) {
    throw storageError(e, path, `locking the store at ${path}`)
  }
  liveTokens.add(token)
  try {
    const problems = checkStoreFiles(path)
    if (problems.length > 0) throw corrupt(path, problems)
    let root: Db
    try {
      root = openRoot(lmdb, path)
    } catch (e) {
      throw storageError(e, path, `opening the database at ${path}`)
    }
    try {
      const persistence = withDatabase(path, root, token, lmdb)
      if (!existsSync(join(path, MANIFEST_FILE))) {
        writeFileSync(join(path, MANIFEST_FILE), JSON.stringify({ format: 'temporal-tensor-store', schema: SCHEMA }) + '\n')
      }
      return persistence
    } catch (e) {
      await root.close().catch(() => {})
      throw storageError(e, path, `opening the database at ${path}`)
    }
  } catch (e) {
    releaseLock(path, token)
    throw e
  }
}

/**
 * Bytes a write leaves free on the file system at least: a write that would go below is refused
 * with `STORAGE_FULL` before LMDB sees it. LMDB must not meet a full disk: when a write fails,
 * lmdb-js 3.5.6's mdb.c formats a message into `malloc(100)` with `sprintf`, overflowing it
 * (seen as "malloc(): invalid next size" and SIGSEGV after one failed commit). The reserve
 * makes that need another process filling the disk between the check and the write.
 * `TEMPORAL_TENSOR_STORE_RESERVE` (bytes) sets it; 0 turns the check off.
 */
function reserveBytes(): number {
  const v = Number(process.env.TEMPORAL_TENSOR_STORE_RESERVE)
  return Number.isFinite(v) && v >= 0 ? v : 256 * 1024
}

function withDatabase(path: string, firstRoot: Db, token: string, lmdb: { open(options: object): Db }): Persistence {
  let root = firstRoot
  const open = (name: string, options: object = { encoding: 'binary' }): Db => {
    const db = root.openDB(name, options)
    if (db === undefined) throw new TemporalTensorError('INTERNAL', `could not open table ${name}`)
    return db
  }
  let segments = open('tt-segments')
  let wal = open('tt-wal')
  let tensors = open('tt-tensors')
  const reserve = reserveBytes()
  /**
   * After a failed commit the environment is closed and opened again (from the last committed
   * state on disk) before anything else is written: until then writes fail at once.
   */
  let failed: TemporalTensorError | null = null
  let reopening: Promise<void> | null = null
  const reopen = (): Promise<void> =>
    (async () => {
      try {
        await root.close()
      } catch {
        // closing a failed environment may report the failure again
      }
      try {
        root = openRoot(lmdb, path)
        segments = open('tt-segments')
        wal = open('tt-wal')
        tensors = open('tt-tensors')
        failed = null
      } catch (e) {
        failed = storageError(e, path, 'reopening the database after a failed write')
      }
    })()
  const txn = (what: string, body: () => void, bytes = 0): void => {
    if (failed !== null) {
      throw new TemporalTensorError(failed.code, `${what} failed: the database is reopening after a failed write (${failed.message})`, { cause: failed })
    }
    if (reserve > 0 && freeBytes(path) < reserve + 2 * bytes) {
      throw new TemporalTensorError('STORAGE_FULL', `${what} failed: less than ${reserve + 2 * bytes} bytes free on the disk of ${path}; nothing was written`)
    }
    try {
      root.transactionSync(body, SYNC_TXN_FLAGS)
    } catch (e) {
      const error = storageError(e, path, what)
      if (error.code === 'STORAGE_FULL' || error.code === 'IO_ERROR' || error.code === 'STORE_CORRUPT') {
        failed = error
        reopening = reopen().finally(() => {
          reopening = null
        })
      }
      throw error
    }
  }
  migrateLegacy(root, txn, segments, wal, tensors)
  let closed = false

  return {
    kind: 'lmdb',
    durable: true,
    shared: false,
    async writeFrame(id, frame, meta) {
      const row = walRow(id, frame)
      txn(
        'writing a frame',
        () => {
          wal.putSync([id, frame.seq], row)
          if (meta) tensors.putSync(meta.id, encodeRow(meta))
        },
        row.byteLength,
      )
    },
    async removeFrame(id, seq) {
      txn('removing a frame', () => {
        wal.removeSync([id, seq])
      })
    },
    async writeSegments(meta, added, removed, fromWal) {
      const rows = added.map(segmentRow)
      txn(
        'writing segments',
        () => {
          for (const s of removed) segments.removeSync([s.tensorId, s.seq])
          added.forEach((s, i) => {
            segments.putSync([s.tensorId, s.seq], rows[i])
            if (fromWal) for (let q = s.seq; q < s.seq + s.frames; q++) wal.removeSync([s.tensorId, q])
          })
          if (meta) tensors.putSync(meta.id, encodeRow(meta))
        },
        rows.reduce((n, r) => n + r.byteLength, 0),
      )
    },
    async writeMeta(meta) {
      txn('writing access statistics', () => {
        tensors.putSync(meta.id, encodeRow(meta))
      })
    },
    async load() {
      const damage: Damage[] = []
      const read = <T>(db: Db, table: Damage['table'], keyOk: (k: unknown) => boolean, decode: (k: never, v: unknown) => T | string, keep: (k: never, v: T) => void) => {
        try {
          for (const { key, value } of db.getRange()) {
            if (!keyOk(key)) {
              damage.push({ table, tensorId: null, seq: null, problem: 'unreadable key' })
              continue
            }
            const decoded = decode(key as never, value)
            if (typeof decoded === 'string') {
              const [tensorId, seq] = Array.isArray(key) ? (key as [string, number]) : [key as string, null]
              damage.push({ table, tensorId, seq, problem: decoded })
            } else keep(key as never, decoded)
          }
        } catch (e) {
          throw storageError(e, path, `reading table ${table}`)
        }
      }
      const metas: TensorMeta[] = []
      read(tensors, 'tensors', (k) => typeof k === 'string', metaFromRow, (_k, m) => metas.push(m))
      const bySegment = new Map<string, StoredSegment[]>()
      read(segments, 'segments', isKey, segmentFromRow, (k: [string, number], s) => {
        const list = bySegment.get(k[0]) ?? []
        list.push(s)
        bySegment.set(k[0], list)
      })
      const byWal = new Map<string, WalFrame[]>()
      read(wal, 'wal', isKey, walFromRow, (k: [string, number], f) => {
        const list = byWal.get(k[0]) ?? []
        list.push(f)
        byWal.set(k[0], list)
      })
      return { tensors: metas, segments: bySegment, wal: byWal, damage }
    },
    async rebuild(keep) {
      let dropped = 0
      txn('repairing the store', () => {
        for (const [db, table, decode] of [
          [segments, 'segments', segmentFromRow],
          [wal, 'wal', walFromRow],
        ] as const) {
          const kept: [unknown, unknown][] = []
          for (const { key, value } of db.getRange()) {
            if (isKey(key) && typeof decode(key, value) !== 'string' && keep(table, key)) kept.push([key, value])
            else dropped++
          }
          db.clearSync()
          for (const [key, value] of kept) db.putSync(key, value)
        }
      })
      return dropped
    },
    async writeMetas(metas) {
      txn('writing tensor descriptions', () => {
        tensors.clearSync()
        for (const meta of metas) tensors.putSync(meta.id, encodeRow(meta))
      })
    },
    async close() {
      if (closed) return
      closed = true
      try {
        await reopening
        await root.close()
      } finally {
        releaseLock(path, token)
      }
    },
  }
}

/**
 * Converts a store of the first layout (tables `segments` keyed `[id, startTs]`, `wal` keyed
 * `[id, ts]`, `tensors`; msgpack values without checksums) in one transaction: frames are
 * numbered in key order, segments first.
 */
function migrateLegacy(root: Db, txn: (what: string, body: () => void) => void, segments: Db, wal: Db, tensors: Db): void {
  const legacySegments = root.openDB('segments', { create: false })
  const legacyWal = root.openDB('wal', { create: false })
  const legacyTensors = root.openDB('tensors', { create: false })
  if (!legacyTensors) return
  const metas = [...legacyTensors.getRange()].map(({ value }) => value as Record<string, unknown>)
  if (metas.length === 0) return
  txn('converting the store to schema 2', () => {
    const next = new Map<string, number>()
    const producers = new Map(metas.map((m) => [String(m.id), typeof m.producer === 'string' ? m.producer : null]))
    for (const m of metas) {
      const id = String(m.id)
      tensors.putSync(id, encodeRow({ id, tensorLen: m.tensorLen, accessCount: m.accessCount ?? 0, accessTick: m.accessTick ?? 0 }))
      next.set(id, 0)
    }
    for (const { key, value } of legacySegments?.getRange() ?? []) {
      const r = value as Record<string, unknown> & { bytes: Uint8Array; timestamps: Uint8Array; tensorId: string; frames: number }
      const seq = next.get(r.tensorId)
      if (seq === undefined) continue
      const ts = new Uint8Array(r.timestamps)
      const s = { ...r, seq, bytes: new Uint8Array(r.bytes), timestamps: new Float64Array(ts.buffer, 0, ts.byteLength / 8) } as unknown as StoredSegment
      segments.putSync([r.tensorId, seq], segmentRow(s))
      next.set(r.tensorId, seq + r.frames)
      legacySegments!.removeSync(key)
    }
    for (const { key, value } of legacyWal?.getRange() ?? []) {
      const [id, ts] = key as [string, number]
      const seq = next.get(id)
      if (seq === undefined) continue
      const bytes = new Uint8Array(value as Uint8Array)
      const frame = new Float32Array(bytes.buffer, 0, bytes.byteLength / 4)
      wal.putSync([id, seq], walRow(id, { seq, ts, producer: producers.get(id) ?? null, boundary: false, frame }))
      next.set(id, seq + 1)
      legacyWal!.removeSync(key)
    }
    for (const m of metas) legacyTensors.removeSync(m.id)
  })
}
