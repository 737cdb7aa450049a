/**
 * The binary records every persistent backend stores (LMDB values, Redis strings and hash
 * fields, PostgreSQL `bytea`): a CRC-32C of the rest, the length of a JSON header, the header,
 * padding to 8 bytes, then the payload. A record that does not read back exactly as written is
 * reported as damage, never returned. Internal.
 */
import { crc32c } from './crc32c.js'
import type { Damage, TensorMeta, TensorView, WalFrame } from './store-persistence.js'
import type { StoredSegment } from './store-types.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** `[crc32c u32][header length u32][header JSON][pad to 8][payloads...]`, CRC over the rest. */
export function encodeRow(header: object, payloads: Uint8Array[] = []): Uint8Array {
  const head = encoder.encode(JSON.stringify(header))
  const start = (8 + head.length + 7) & ~7
  const total = payloads.reduce((n, p) => n + p.byteLength, start)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(4, head.length, true)
  out.set(head, 8)
  let at = start
  for (const p of payloads) {
    out.set(p, at)
    at += p.byteLength
  }
  view.setUint32(0, crc32c(out.subarray(4)), true)
  return out
}

/** The header and payload of a record, or a description of the damage. */
export function decodeRow(value: unknown): { header: Record<string, unknown>; payload: Uint8Array } | string {
  if (!(value instanceof Uint8Array)) return 'not a binary record'
  if (value.byteLength < 8) return `${value.byteLength} bytes, shorter than a record header`
  const bytes = new Uint8Array(value) // a copy: aligned, and ours to keep
  const view = new DataView(bytes.buffer)
  if (crc32c(bytes.subarray(4)) !== view.getUint32(0, true)) return 'checksum mismatch'
  const headLen = view.getUint32(4, true)
  const start = (8 + headLen + 7) & ~7
  if (start > bytes.length) return 'header length past the record'
  let header: unknown
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(8, 8 + headLen)))
  } catch {
    return 'unreadable header'
  }
  if (typeof header !== 'object' || header === null) return 'unreadable header'
  return { header: header as Record<string, unknown>, payload: bytes.subarray(start) }
}

const bytesOf = (a: Float32Array | Float64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isTs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
const isProducer = (v: unknown): v is string | null => v === null || typeof v === 'string'

export function segmentRow(s: StoredSegment): Uint8Array {
  const { bytes, timestamps, ...record } = s
  return encodeRow(record, [bytesOf(timestamps), bytes])
}

/** A segment from its record, or the damage. The segment's own checks run later (`segmentInfo`). */
export function segmentFromRow(key: [string, number], value: unknown): StoredSegment | string {
  const row = decodeRow(value)
  if (typeof row === 'string') return row
  const h = row.header
  if (h.tensorId !== key[0] || h.seq !== key[1]) return 'record does not match its key'
  if (!isCount(h.frames) || h.frames < 1 || !isCount(h.byteLength) || !isTs(h.startTs) || !isTs(h.endTs)) {
    return 'malformed record'
  }
  if (row.payload.length !== h.frames * 8 + h.byteLength) return 'payload length does not match the record'
  const timestamps = new Float64Array(row.payload.buffer.slice(row.payload.byteOffset, row.payload.byteOffset + h.frames * 8))
  const bytes = row.payload.subarray(h.frames * 8)
  if (timestamps[0] !== h.startTs || timestamps[h.frames - 1] !== h.endTs) return 'timestamps do not match the record'
  for (let i = 1; i < timestamps.length; i++) if (!(timestamps[i] >= timestamps[i - 1])) return 'timestamps out of order'
  return { ...(h as unknown as StoredSegment), bytes, timestamps }
}

export function walRow(id: string, f: WalFrame): Uint8Array {
  return encodeRow({ id, seq: f.seq, ts: f.ts, producer: f.producer, boundary: f.boundary }, [bytesOf(f.frame)])
}

export function walFromRow(key: [string, number], value: unknown): WalFrame | string {
  const row = decodeRow(value)
  if (typeof row === 'string') return row
  const h = row.header
  if (h.id !== key[0] || h.seq !== key[1]) return 'record does not match its key'
  if (!isTs(h.ts) || !isProducer(h.producer) || typeof h.boundary !== 'boolean' || row.payload.length % 4 !== 0) {
    return 'malformed record'
  }
  const frame = new Float32Array(row.payload.buffer, row.payload.byteOffset, row.payload.length / 4)
  return { seq: key[1], ts: h.ts, producer: h.producer, boundary: h.boundary, frame }
}

export function metaFromRow(key: string, value: unknown): TensorMeta | string {
  const row = decodeRow(value)
  if (typeof row === 'string') return row
  const h = row.header
  if (h.id !== key) return 'record does not match its key'
  if (!isCount(h.tensorLen) || h.tensorLen < 1 || typeof h.accessCount !== 'number' || !isCount(h.accessTick)) {
    return 'malformed record'
  }
  return h as unknown as TensorMeta
}

export const isKey = (k: unknown): k is [string, number] =>
  Array.isArray(k) && k.length === 2 && typeof k[0] === 'string' && isCount(k[1])

/**
 * A tensor's records as a shared backend read them (its description, segments and write-ahead
 * frames by sequence number), decoded and in sequence order; records that do not read back are
 * reported in `damage`. `null` for an id without any record.
 */
export function decodeTensor(
  id: string,
  metaRow: Uint8Array | null,
  segs: [number, Uint8Array][],
  frames: [number, Uint8Array][],
): TensorView | null {
  const damage: Damage[] = []
  if (metaRow === null && segs.length === 0 && frames.length === 0) return null
  let meta: TensorMeta = { id, tensorLen: 0, accessCount: 0, accessTick: 0 }
  if (metaRow !== null) {
    const m = metaFromRow(id, metaRow)
    if (typeof m === 'string') damage.push({ table: 'tensors', tensorId: id, seq: null, problem: m })
    else meta = m
  }
  const segments: StoredSegment[] = []
  for (const [seq, row] of segs) {
    const s = segmentFromRow([id, seq], row)
    if (typeof s === 'string') damage.push({ table: 'segments', tensorId: id, seq, problem: s })
    else segments.push(s)
  }
  segments.sort((a, b) => a.seq - b.seq)
  const wal: WalFrame[] = []
  for (const [seq, row] of frames) {
    const f = walFromRow([id, seq], row)
    if (typeof f === 'string') damage.push({ table: 'wal', tensorId: id, seq, problem: f })
    else wal.push(f)
  }
  wal.sort((a, b) => a.seq - b.seq)
  return { meta, segments, wal, damage }
}
