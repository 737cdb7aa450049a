// Frame-padded packed segments (every frame on a byte boundary, as some other TQTC writers
// produce; docs/format.md): the golden vectors of tests/vectors/padded/ decode bit for bit on
// every backend, through every decoding entry point.
import { describe, expect, it } from 'vitest'
import { backend, decodeFrame, decodeSegment, decodeSegmentInto, segmentInfo } from '../../dist/index.mjs'
import { readBytes, readFloats, vectorsDir } from '../helpers.js'
import { readFileSync } from 'node:fs'

interface PaddedCase {
  name: string
  bits: number
  tensorLen: number
  groupLen: number
  frames: number
  tqtc: string
  decoded: string
}

const cases: PaddedCase[] = JSON.parse(readFileSync(new URL('padded/manifest.json', vectorsDir), 'utf8')).cases
const u32 = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

describe(`frame-padded packed segments (${backend})`, () => {
  it('covers 3/5/7-bit, one and several frames', () => {
    expect(new Set(cases.map((c) => c.bits))).toEqual(new Set([3, 5, 7]))
    expect(cases.some((c) => c.frames > 1)).toBe(true)
  })

  for (const c of cases) {
    it(`${c.name}: decodeSegment, decodeSegmentInto, decodeFrame, segmentInfo`, () => {
      const seg = readBytes(`padded/${c.tqtc}`)
      const expected = readFloats(`padded/${c.decoded}`)
      const info = segmentInfo(seg)
      expect([info.bits, info.tensorLen, info.frameCount, info.byteLength]).toEqual([c.bits, c.tensorLen, c.frames, seg.byteLength])
      expect(u32(decodeSegment(seg))).toEqual(u32(expected))
      const out = new Float32Array(expected.length)
      expect(decodeSegmentInto(seg, out)).toBe(expected.length)
      expect(u32(out)).toEqual(u32(expected))
      const last = c.frames - 1
      expect(u32(decodeFrame(seg, last))).toEqual(u32(expected.subarray(last * c.tensorLen)))
    })
  }
})
