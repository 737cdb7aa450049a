/**
 * A structural check of an LMDB `data.mdb` before LMDB maps it. Internal.
 *
 * LMDB trusts its file: a page number past the end of a truncated file, a node offset outside
 * its page or a free-list count larger than its record make it read outside the map (SIGSEGV,
 * SIGBUS) or fail an assertion (abort). So before a store opens its database, every page that
 * LMDB can reach from the meta page it will pick is read here and checked: page numbers inside
 * the file and the map, each page's own number in its header, page kinds, node offsets and sizes
 * inside their page, overflow runs inside the file, sub-database records well formed, no page
 * reached twice, tree depths as recorded, free-list records as long as their counts say, and
 * entry counts as recorded. A file that passes cannot take LMDB outside its pages; damage to
 * record contents is caught by the store's own checksums.
 *
 * The layout is that of the LMDB lmdb-js 3 embeds (0.9.90 with lmdb-js changes: 24-byte page
 * headers, 64-bit page numbers, an extra "flushed" meta in the second half of page 0).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

const MDB_MAGIC = 0xbeefc0de
const MDB_DATA_VERSION = 2
const PAGEHDRSZ = 24
const NODESIZE = 8
const P_BRANCH = 0x01
const P_LEAF = 0x02
const P_OVERFLOW = 0x04
const P_META = 0x08
const F_BIGDATA = 0x01
const F_SUBDATA = 0x02
const F_DUPDATA = 0x04
const MDB_DB_SIZE = 48
/** An F_BIGDATA node's data: page number, transaction id, page count (8 bytes each). */
const OVPAGE_SIZE = 24
const P_INVALID = 2n ** 64n - 1n

/** What `checkLmdbFile` found. */
export interface LmdbCheck {
  /** True when nothing is wrong. */
  ok: boolean
  /** One line per problem, naming the page. */
  problems: string[]
  pageSize: number
  /** Pages read. */
  pagesChecked: number
  /** Names of the sub-databases found. */
  tables: string[]
}

/** A meta record read from the file. */
interface Meta {
  magic: number
  version: number
  mapSize: bigint
  pageSize: number
  free: DbRecord
  main: DbRecord
  lastPage: bigint
  txnId: bigint
}

interface DbRecord {
  flags: number
  depth: number
  branchPages: bigint
  leafPages: bigint
  overflowPages: bigint
  entries: bigint
  root: bigint
}

function readDb(view: DataView, at: number): DbRecord {
  return {
    flags: view.getUint16(at + 4, true),
    depth: view.getUint16(at + 6, true),
    branchPages: view.getBigUint64(at + 8, true),
    leafPages: view.getBigUint64(at + 16, true),
    overflowPages: view.getBigUint64(at + 24, true),
    entries: view.getBigUint64(at + 32, true),
    root: view.getBigUint64(at + 40, true),
  }
}

/** LMDB's default key order: bytes compared as unsigned, a prefix first. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

/** MDB_INTEGERKEY order (the free table's transaction ids): native-endian unsigned integers. */
function compareIntegerKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== 8 || b.length !== 8) return compareBytes(a, b)
  const x = new DataView(a.buffer, a.byteOffset, 8).getBigUint64(0, true)
  const y = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true)
  return x < y ? -1 : x > y ? 1 : 0
}

/** The MDB_meta at `at` (the page header before it is not read). */
function readMeta(view: DataView, at: number): Meta {
  return {
    magic: view.getUint32(at, true),
    version: view.getUint32(at + 4, true) & 0xffff,
    mapSize: view.getBigUint64(at + 16, true),
    pageSize: view.getUint32(at + 24, true),
    free: readDb(view, at + 24),
    main: readDb(view, at + 24 + MDB_DB_SIZE),
    lastPage: view.getBigUint64(at + 24 + 2 * MDB_DB_SIZE, true),
    txnId: view.getBigUint64(at + 24 + 2 * MDB_DB_SIZE + 8, true),
  }
}

const META_BYTES = PAGEHDRSZ + 24 + 2 * MDB_DB_SIZE + 24

/**
 * Checks `data.mdb` at `file` as described above. Never throws for a damaged file (only for one
 * that cannot be read at all, with the file system's error).
 */
export function checkLmdbFile(file: string): LmdbCheck {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    try {
      return check(fd, size)
    } catch (e) {
      // A value this check did not foresee (it reads nothing but the file): damage.
      if ((e as { code?: unknown }).code !== undefined) throw e
      return { ok: false, problems: [`the file cannot be checked: ${String(e)}`], pageSize: 0, pagesChecked: 0, tables: [] }
    }
  } finally {
    closeSync(fd)
  }
}

function check(fd: number, size: number): LmdbCheck {
  const problems: string[] = []
  const result = (pageSize: number, pagesChecked: number, tables: string[]): LmdbCheck => ({
    ok: problems.length === 0,
    problems,
    pageSize,
    pagesChecked,
    tables,
  })
  const read = (at: number, length: number): Uint8Array | null => {
    if (at < 0 || at + length > size) return null
    const buf = new Uint8Array(length)
    let done = 0
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, at + done)
      if (n <= 0) return null
      done += n
    }
    return buf
  }
  const head = read(0, META_BYTES)
  if (head === null) {
    problems.push(`the file is truncated: ${size} bytes, shorter than a meta page`)
    return result(0, 0, [])
  }
  const headView = new DataView(head.buffer)
  const meta0 = readMeta(headView, PAGEHDRSZ)
  if (!(headView.getUint16(18, true) & P_META)) problems.push('page 0 is not a meta page')
  if (meta0.magic !== MDB_MAGIC) problems.push('page 0 has no LMDB magic')
  if (meta0.version !== MDB_DATA_VERSION) problems.push(`page 0 has data version ${meta0.version}, not ${MDB_DATA_VERSION}`)
  const psize = meta0.pageSize
  if (!(psize >= 512 && psize <= 65536 && (psize & (psize - 1)) === 0)) {
    problems.push(`page 0 gives a page size of ${psize}`)
    return result(psize, 1, [])
  }
  if (problems.length > 0) return result(psize, 1, [])
  const page1 = read(psize, META_BYTES)
  const flushed = read(psize >> 1, META_BYTES)
  if (page1 === null || flushed === null) {
    problems.push(`the file is truncated: ${size} bytes, shorter than its two meta pages`)
    return result(psize, 1, [])
  }
  const view1 = new DataView(page1.buffer)
  const meta1 = readMeta(view1, PAGEHDRSZ)
  if (!(view1.getUint16(18, true) & P_META)) problems.push('page 1 is not a meta page')
  if (meta1.magic !== MDB_MAGIC) problems.push('page 1 has no LMDB magic')
  if (meta1.version !== MDB_DATA_VERSION) problems.push(`page 1 has data version ${meta1.version}`)
  if (meta1.pageSize !== psize) problems.push(`page 1 gives a page size of ${meta1.pageSize}, page 0 ${psize}`)
  // The environment flags kept in the free table's record: integer keys for it, and the flags
  // LMDB persists from lmdb-js's options (overlapping sync; metrics, safe restore). Others
  // (fixed map, encryption, no subdirectory) would change how LMDB maps and reads the file.
  for (const [name, m] of [['page 0', meta0], ['page 1', meta1]] as const) {
    if (!(m.free.flags & 0x08) || m.free.flags & ~(0x08 | 0x400 | 0x800 | 0x1000)) {
      problems.push(`${name} has environment flags 0x${m.free.flags.toString(16)}`)
    }
  }
  // LMDB writes commit n's meta to page n % 2, so the two metas hold consecutive transaction ids
  // (or 0 before the first commits). A damaged id would make LMDB pick the older snapshot and
  // silently drop the last commit.
  for (const [i, m] of [meta0, meta1].entries()) {
    if (m.txnId !== 0n && m.txnId % 2n !== BigInt(i)) problems.push(`page ${i} holds the meta of transaction ${m.txnId}`)
  }
  if (meta0.txnId > 0n && meta1.txnId > 0n && meta0.txnId - meta1.txnId !== 1n && meta1.txnId - meta0.txnId !== 1n) {
    problems.push(`the metas hold transactions ${meta0.txnId} and ${meta1.txnId}, not consecutive ones`)
  }
  // LMDB picks the meta with the larger transaction id (page 0 on a tie).
  const meta = meta0.txnId >= meta1.txnId ? meta0 : meta1
  const metaName = meta === meta0 ? 'page 0' : 'page 1'
  // The "flushed" meta lmdb-js keeps in the second half of page 0 is read at open, and would be
  // picked for the map and page sizes if its transaction id were the largest: it never is.
  const flushedMeta = readMeta(new DataView(flushed.buffer), PAGEHDRSZ)
  if (flushedMeta.txnId > meta.txnId) problems.push(`the flushed meta in page 0 is ahead of ${metaName}`)
  if (problems.length > 0) return result(psize, 2, [])

  const filePages = BigInt(Math.floor(size / psize))
  const mapPages = meta.mapSize / BigInt(psize)
  if (meta.mapSize > 2n ** 48n || meta.lastPage + 1n > mapPages) {
    problems.push(`${metaName} has its last page (${meta.lastPage}) beyond its map size (${meta.mapSize} bytes)`)
    return result(psize, 2, [])
  }
  const visited = new Set<bigint>()
  let pagesChecked = 2
  const tables: string[] = []

  /** A page's bytes after checking its number is inside the file and not seen before. */
  const pageAt = (pgno: bigint, what: string): Uint8Array | null => {
    if (pgno < 2n || pgno > meta.lastPage) {
      problems.push(`${what} points to page ${pgno}, outside 2..${meta.lastPage}`)
      return null
    }
    if (pgno >= filePages) {
      problems.push(`${what} points to page ${pgno}, past the end of the file (${filePages} pages): truncated`)
      return null
    }
    if (visited.has(pgno)) {
      problems.push(`${what} points to page ${pgno}, which another page already uses`)
      return null
    }
    visited.add(pgno)
    pagesChecked++
    const bytes = read(Number(pgno) * psize, psize)
    if (bytes === null) {
      problems.push(`page ${pgno} cannot be read`)
      return null
    }
    const view = new DataView(bytes.buffer)
    const recorded = view.getBigUint64(0, true)
    if (recorded !== pgno) {
      problems.push(`page ${pgno} says it is page ${recorded}`)
      return null
    }
    // A page's transaction id is that of the commit that wrote it. One from the future would
    // make LMDB take the page for one it is writing and change it in place, in a read-only map.
    const txnId = view.getBigUint64(8, true)
    if (txnId > meta.txnId) {
      problems.push(`page ${pgno} was written by transaction ${txnId}, after the last commit (${meta.txnId})`)
      return null
    }
    return bytes
  }

  interface Counts {
    branch: bigint
    leaf: bigint
    overflow: bigint
    entries: bigint
  }

  /** Walks one B-tree; returns its counts (partial when damaged). */
  const walk = (
    db: DbRecord,
    name: string,
    onLeafNode?: (key: Uint8Array, data: Uint8Array, flags: number, page: Uint8Array) => void,
    integerKeys = false,
  ): Counts => {
    const cmp = integerKeys ? compareIntegerKeys : compareBytes
    const counts: Counts = { branch: 0n, leaf: 0n, overflow: 0n, entries: 0n }
    if (db.root === P_INVALID) {
      if (db.entries !== 0n || db.depth !== 0) problems.push(`table ${name} is empty but records ${db.entries} entries`)
      return counts
    }
    if (db.depth < 1 || db.depth > 64) {
      problems.push(`table ${name} records a depth of ${db.depth}`)
      return counts
    }
    type Visit = { pgno: bigint; depth: number; from: string; low: Uint8Array | null; high: Uint8Array | null }
    const stack: Visit[] = [{ pgno: db.root, depth: db.depth, from: `table ${name}`, low: null, high: null }]
    while (stack.length > 0) {
      const { pgno, depth, from, low, high } = stack.pop()!
      const bytes = pageAt(pgno, from)
      if (bytes === null) continue
      const view = new DataView(bytes.buffer)
      const flags = view.getUint16(18, true)
      const lower = view.getUint16(20, true)
      const upper = view.getUint16(22, true)
      const kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META | 0x20 | 0x40)
      const here = `page ${pgno} (table ${name})`
      const expected = depth > 1 ? P_BRANCH : P_LEAF
      if (kind !== expected) {
        problems.push(`${here} has flags 0x${flags.toString(16)}, expected a ${depth > 1 ? 'branch' : 'leaf'} page`)
        continue
      }
      if (lower % 2 !== 0 || lower > upper || PAGEHDRSZ + upper > psize) {
        problems.push(`${here} has free-space bounds ${lower}..${upper}`)
        continue
      }
      const keys = lower >> 1
      if (keys === 0) {
        problems.push(`${here} has no nodes`)
        continue
      }
      if (depth > 1) counts.branch++
      else counts.leaf++
      // Nodes must not overlap, and keys must be in order and inside the range the parent page
      // gives: LMDB's searches depend on both, and a damaged key size or key would send its
      // writes to the wrong page.
      const nodes: { at: number; end: number; key: Uint8Array }[] = []
      for (let i = 0; i < keys; i++) {
        const at = view.getUint16(PAGEHDRSZ + 2 * i, true) + PAGEHDRSZ
        if (at < PAGEHDRSZ + upper || at + NODESIZE > psize) break
        const nodeFlags = view.getUint16(at + 4, true)
        const keyEnd = at + NODESIZE + view.getUint16(at + 6, true)
        const dataSize = view.getUint16(at, true) + view.getUint16(at + 2, true) * 0x10000
        const end = depth > 1 ? keyEnd : keyEnd + (nodeFlags & F_BIGDATA ? OVPAGE_SIZE : dataSize)
        if (end > psize) break
        nodes.push({ at, end, key: bytes.subarray(at + NODESIZE, keyEnd) })
      }
      if (nodes.length === keys) {
        const byOffset = [...nodes].sort((a, b) => a.at - b.at)
        const overlap = byOffset.findIndex((n, k) => k > 0 && n.at < byOffset[k - 1].end)
        if (overlap >= 0) {
          problems.push(`${here}: nodes overlap at offset ${byOffset[overlap].at}`)
          continue
        }
        const first = depth > 1 ? 1 : 0 // a branch page's first key is not used
        let unordered = false
        for (let k = first; k < keys && !unordered; k++) {
          const key = nodes[k].key
          unordered =
            (k > first && cmp(nodes[k - 1].key, key) >= 0) ||
            (k === first && low !== null && cmp(key, low) < 0) ||
            (k === keys - 1 && high !== null && cmp(key, high) >= 0)
        }
        if (unordered) {
          problems.push(`${here}: keys out of order`)
          continue
        }
      }
      for (let i = 0; i < keys; i++) {
        const at = view.getUint16(PAGEHDRSZ + 2 * i, true) + PAGEHDRSZ
        if (at < PAGEHDRSZ + upper || at + NODESIZE > psize) {
          problems.push(`${here}: node ${i} at offset ${at} lies outside the page's node area`)
          continue
        }
        const lo = view.getUint16(at, true)
        const hi = view.getUint16(at + 2, true)
        const nodeFlags = view.getUint16(at + 4, true)
        const keySize = view.getUint16(at + 6, true)
        const keyEnd = at + NODESIZE + keySize
        if (keyEnd > psize) {
          problems.push(`${here}: node ${i}'s key runs past the page`)
          continue
        }
        if (depth > 1) {
          const child = BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n)
          const childLow = i === 0 ? low : nodes[i]?.key ?? null
          const childHigh = i === keys - 1 ? high : nodes[i + 1]?.key ?? null
          stack.push({ pgno: child, depth: depth - 1, from: `${here} node ${i}`, low: childLow, high: childHigh })
          continue
        }
        const dataSize = lo + hi * 0x10000 // not `lo | (hi << 16)`: that is negative from 2^31
        if (nodeFlags & ~(F_BIGDATA | F_SUBDATA | F_DUPDATA)) {
          problems.push(`${here}: node ${i} has unknown flags 0x${nodeFlags.toString(16)}`)
          continue
        }
        if (nodeFlags & F_DUPDATA) {
          problems.push(`${here}: node ${i} holds duplicates, which no table of this store has`)
          continue
        }
        counts.entries++
        let data: Uint8Array
        if (nodeFlags & F_BIGDATA) {
          // The node holds an MDB_ovpage: first page, its transaction id, and the run's length,
          // which LMDB uses as it is (freeing a table frees that many pages).
          if (keyEnd + OVPAGE_SIZE > psize) {
            problems.push(`${here}: node ${i}'s overflow reference runs past the page`)
            continue
          }
          const first = view.getBigUint64(keyEnd, true)
          const refTxn = view.getBigUint64(keyEnd + 8, true)
          const refPages = view.getBigUint64(keyEnd + 16, true)
          if (refTxn > meta.txnId) {
            problems.push(`${here}: node ${i}'s overflow run was written by transaction ${refTxn}, after the last commit`)
            continue
          }
          const head = pageAt(first, `${here} node ${i}`)
          if (head === null) continue
          const headView = new DataView(head.buffer)
          const count = headView.getUint32(20, true)
          if (!(headView.getUint16(18, true) & P_OVERFLOW) || count < 1 || PAGEHDRSZ + dataSize > count * psize) {
            problems.push(`page ${first} (table ${name}) is not an overflow run holding ${dataSize} bytes`)
            continue
          }
          if (BigInt(count) !== refPages) {
            problems.push(`${here}: node ${i} says its overflow run has ${refPages} pages, page ${first} says ${count}`)
            continue
          }
          const last = first + BigInt(count) - 1n
          if (last > meta.lastPage || last >= filePages) {
            problems.push(`overflow pages ${first}..${last} (table ${name}) run past the end of the file: truncated`)
            continue
          }
          for (let p = first + 1n; p <= last; p++) {
            if (visited.has(p)) problems.push(`overflow page ${p} (table ${name}) is used twice`)
            visited.add(p)
          }
          counts.overflow += BigInt(count)
          pagesChecked += count - 1
          if (onLeafNode === undefined) continue
          const rest = count > 1 ? read(Number(first) * psize + psize, (count - 1) * psize) : new Uint8Array(0)
          if (rest === null) {
            problems.push(`overflow pages ${first}..${last} (table ${name}) cannot be read`)
            continue
          }
          data = new Uint8Array(psize * count)
          data.set(head, 0)
          data.set(rest, psize)
          data = data.subarray(PAGEHDRSZ, PAGEHDRSZ + dataSize)
        } else {
          if (keyEnd + dataSize > psize) {
            problems.push(`${here}: node ${i}'s data (${dataSize} bytes) runs past the page`)
            continue
          }
          data = bytes.subarray(keyEnd, keyEnd + dataSize)
        }
        onLeafNode?.(bytes.subarray(at + NODESIZE, keyEnd), data, nodeFlags, bytes)
      }
    }
    for (const [field, found] of [
      ['entries', counts.entries],
      ['branch pages', counts.branch],
      ['leaf pages', counts.leaf],
      ['overflow pages', counts.overflow],
    ] as const) {
      const recorded = { entries: db.entries, 'branch pages': db.branchPages, 'leaf pages': db.leafPages, 'overflow pages': db.overflowPages }[field]
      if (recorded !== found) problems.push(`table ${name} records ${recorded} ${field}, its pages hold ${found}`)
    }
    return counts
  }

  // The free list: records keyed by transaction id, each a count and that many entries (the
  // sparse lists of lmdb-js: 0 is an empty slot, a negative entry -n is followed by the first of
  // n consecutive pages, anything else is one page). LMDB copies `count` entries without looking
  // at the record's size, and writes its next pages where they say: a page outside 2..last page
  // (a meta page, past the map) or one a tree still uses would have it overwrite what it keeps.
  const free: [bigint, bigint][] = []
  // Records are keyed by the transaction that freed their pages: one that has happened, each
  // once, in order within a page (LMDB's reuse of pages follows that order).
  const freeKeys = new Set<bigint>()
  let previousKey: { page: Uint8Array; key: bigint } | null = null
  walk(meta.free, '(free pages)', (key, data, _flags, page) => {
    if (key.length !== 8 || data.length < 8) {
      problems.push(`a free-list record has a ${key.length}-byte key and ${data.length} bytes`)
      return
    }
    const txn = new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0, true)
    if (txn < 1n || txn > meta.txnId) problems.push(`a free-list record is keyed by transaction ${txn}, not one that happened`)
    if (freeKeys.has(txn)) problems.push(`two free-list records are keyed by transaction ${txn}`)
    if (previousKey !== null && previousKey.page === page && previousKey.key >= txn) {
      problems.push(`free-list records out of order (transaction ${previousKey.key} before ${txn})`)
    }
    freeKeys.add(txn)
    previousKey = { page, key: txn }
    const view = new DataView(data.buffer, data.byteOffset, data.length)
    const count = view.getBigUint64(0, true)
    // LMDB writes a count, the entries and at most one more word.
    const words = BigInt(Math.floor(data.length / 8))
    if (data.length % 8 !== 0 || count + 1n > words || count + 2n < words) {
      problems.push(`a free-list record counts ${count} pages in ${data.length} bytes`)
      return
    }
    for (let i = 1; i <= Number(count); i++) {
      const entry = view.getBigInt64(8 * i, true)
      if (entry === 0n) continue
      if (entry > 0n) free.push([entry, 1n])
      else if (i === Number(count)) problems.push(`a free-list record ends with a block length`)
      else free.push([view.getBigInt64(8 * ++i, true), -entry])
    }
  }, true)
  // The main table: the sub-databases (tables) by name.
  const subs: { name: string; db: DbRecord }[] = []
  // Key and duplicate flags change how LMDB reads pages: no table of this store has any.
  if (meta.main.flags & 0x7e) problems.push(`the main table has flags 0x${meta.main.flags.toString(16)}`)
  walk(meta.main, '(main)', (key, data, flags) => {
    const name = new TextDecoder().decode(key).replace(/\0$/, '')
    if (!(flags & F_SUBDATA)) return // a plain record in the main table: nothing to follow
    if (data.length !== MDB_DB_SIZE) {
      problems.push(`table ${name}'s record has ${data.length} bytes, not ${MDB_DB_SIZE}`)
      return
    }
    const db = readDb(new DataView(data.buffer, data.byteOffset, MDB_DB_SIZE), 0)
    if (db.flags & 0x7e) problems.push(`table ${name} has flags 0x${db.flags.toString(16)}`)
    else subs.push({ name, db })
  })
  for (const { name, db } of subs) {
    tables.push(name)
    walk(db, name)
  }
  const freeSet = new Set<bigint>()
  let beyondFile = 0n
  for (const [first, n] of free) {
    const last = first + n - 1n
    if (first < 2n || last > meta.lastPage) {
      problems.push(`the free list holds pages ${first}..${last}, outside 2..${meta.lastPage}`)
      continue
    }
    for (let pgno = first; pgno <= last; pgno++) {
      if (visited.has(pgno)) problems.push(`the free list holds page ${pgno}, which a table uses`)
      else if (freeSet.has(pgno)) problems.push(`the free list holds page ${pgno} twice`)
      else {
        freeSet.add(pgno)
        if (pgno >= filePages) beyondFile++
      }
    }
  }
  // Pages past the end of the file can only be free ones; LMDB writes its next page after the last.
  if (meta.lastPage + 1n > filePages + beyondFile) {
    problems.push(`${metaName} has its last page at ${meta.lastPage}, past the end of the file (${filePages} pages): truncated or damaged`)
  }
  return result(psize, pagesChecked, tables)
}
