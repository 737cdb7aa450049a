/**
 * Examination of what a backend read back: the checks beyond record checksums that recovery,
 * `verify` and `repair` share (segments parse and match their records, frames follow on from
 * each other). Internal.
 */
import { segmentInfo } from './api.js'
import type { Damage, Loaded, TensorMeta, WalFrame } from './store-persistence.js'
import type { StoredSegment } from './store-types.js'

/** A tensor as read back: its description, intact segments and frames in order, and frames lost. */
export interface ExaminedTensor {
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
export function examineLoaded(loaded: Loaded): { damage: Damage[]; tensors: Map<string, ExaminedTensor> } {
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
