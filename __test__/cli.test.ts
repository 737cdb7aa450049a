// The temporal-tensor CLI: file round trips, inspect, the demo, and bad input.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { BOUNDS, relativeError, stream } from './helpers.js'

const cli = fileURLToPath(new URL('../bin/temporal-tensor.mjs', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'tt-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function writeF32(name: string, values: Float32Array): string {
  const path = join(dir, name)
  writeFileSync(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  return path
}

function writeNpy(name: string, values: Float32Array, rows: number, cols: number): string {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n'
  const head = Buffer.alloc(10)
  head.write('\x93NUMPY', 0, 'latin1')
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(header.length, 8)
  const path = join(dir, name)
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]))
  return path
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path)
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
}

describe('temporal-tensor CLI', () => {
  const frames = stream(96, 50, 3)

  for (const [flag, value, bits] of [['--bits', '5', 5], ['--tier', 'cold', 3], ['--tier', 'hot', 8]] as const) {
    it(`compress ${flag} ${value}, decompress: every frame within the ${bits}-bit bound`, () => {
      const src = writeF32(`in-${value}.f32`, frames)
      const c = run('compress', src, '--dim', '96', flag, value, '-o', join(dir, `out-${value}.tqtc`))
      expect(c.code, c.err).toBe(0)
      expect(c.out).toMatch(/50 frames of 96 values at \d bits/)
      const d = run('decompress', join(dir, `out-${value}.tqtc`), '-o', join(dir, `back-${value}.f32`))
      expect(d.code, d.err).toBe(0)
      const back = readF32(join(dir, `back-${value}.f32`))
      expect(back.length).toBe(frames.length)
      for (let t = 0; t < 50; t++) {
        expect(relativeError(frames.subarray(t * 96, (t + 1) * 96), back.subarray(t * 96, (t + 1) * 96))).toBeLessThan(BOUNDS[bits])
      }
      const i = run('inspect', join(dir, `out-${value}.tqtc`), '--source', src)
      expect(i.code, i.err).toBe(0)
      expect(i.out).toMatch(new RegExp(`\\b${bits}\\b`))
      expect(i.out).toMatch(/frames over their bound: 0/)
    })
  }

  it('reads 2-D float32 .npy input', () => {
    const src = writeNpy('in.npy', frames, 50, 96)
    const c = run('compress', src)
    expect(c.code, c.err).toBe(0)
    expect(readFileSync(join(dir, 'in.tqtc')).subarray(0, 4).toString('latin1')).toBe('TQTC')
    const i = run('inspect', join(dir, 'in.tqtc'), '--source', src)
    expect(i.out).toMatch(/frames over their bound: 0/)
  })

  it('bad input: a non-zero exit and a one-line message', () => {
    const cases: [string[], RegExp][] = [
      [['compress', 'missing.f32', '--dim', '4'], /no such file/],
      [['compress', writeF32('odd.f32', new Float32Array(5)), '--dim', '4'], /not a whole number of 4-value/],
      [['compress', writeF32('x.f32', new Float32Array(8))], /needs --dim/],
      [['compress', writeF32('y.f32', new Float32Array(8)), '--dim', '4', '--bits', '4'], /--bits must be 8, 7, 5 or 3/],
      [['compress', writeF32('z.f32', new Float32Array(8)), '--dim', '-1'], /positive integer/],
      [['compress', writeF32('w.f32', Float32Array.of(1, NaN, 0, 0)), '--dim', '4'], /NON_FINITE/],
      [['inspect', writeF32('junk.tqtc', new Float32Array(10))], /BAD_MAGIC/],
      [['decompress', join(dir, 'none.tqtc')], /no such file/],
      [['frobnicate'], /unknown command/],
      [['inspect', 'a.tqtc', '--colour', 'red'], /unknown option --colour/],
    ]
    for (const [args, message] of cases) {
      const r = run(...args)
      expect(r.code, args.join(' ')).not.toBe(0)
      expect(r.err.trim().split('\n')).toHaveLength(1)
      expect(r.err).toMatch(message)
    }
    expect(run('--help').out).toMatch(/Usage:/)
    expect(run('compress', '--help').code).toBe(0)
  })

  it('demo runs the store trace, the real trace and every backend', () => {
    const r = run('demo', '--seconds', '60')
    expect(r.code, r.err).toBe(0)
    expect(r.out).toMatch(/hot\s+2\s+\d+/)
    expect(r.out).toMatch(/warm\s+\d+/)
    expect(r.out).toMatch(/Real trace: 1200 sentence embeddings/)
    expect(r.out).toMatch(/wasm\s+simd128/)
    expect(r.out).toMatch(/Every frame decoded within its width's error bound/)
  }, 120_000)
})
