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

/** The segment table of `inspect`'s output, one object per row keyed by the header. */
function segmentRows(out: string): Record<string, string>[] {
  const lines = out.split('\n')
  const at = lines.findIndex((l) => l.startsWith('segment '))
  const header = lines[at].split(/\s+/)
  const rows: Record<string, string>[] = []
  for (const line of lines.slice(at + 2)) {
    if (line.trim() === '') break
    const cells = line.split(/\s{2,}/)
    rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i]])))
  }
  return rows
}

/** How `inspect` prints the bound of a width. */
const boundText = (bits: number): string => `${Number((BOUNDS[bits] * 100).toPrecision(4))} %`

function readF32(path: string): Float32Array {
  const b = readFileSync(path)
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)
}

describe('temporal-tensor CLI', () => {
  const frames = stream(96, 50, 3)

  const cases = [
    ['--tier', 'hot', 8],
    ['--tier', 'warm', 7],
    ['--bits', '5', 5],
    ['--tier', 'cold', 3],
  ] as const
  for (const format of ['coded', 'packed'] as const) {
    for (const [flag, value, bits] of cases) {
      it(`compress --format ${format} ${flag} ${value}, decompress, inspect: every frame within the ${bits}-bit bound`, () => {
        const name = `${format}-${value}`
        const src = writeF32(`in-${name}.f32`, frames)
        const c = run('compress', src, '--dim', '96', '--format', format, flag, value, '-o', join(dir, `out-${name}.tqtc`))
        expect(c.code, c.err).toBe(0)
        expect(c.out).toMatch(new RegExp(`50 frames of 96 values at ${bits} bits \\(${format}\\)`))
        const d = run('decompress', join(dir, `out-${name}.tqtc`), '-o', join(dir, `back-${name}.f32`))
        expect(d.code, d.err).toBe(0)
        const back = readF32(join(dir, `back-${name}.f32`))
        expect(back.length).toBe(frames.length)
        for (let t = 0; t < 50; t++) {
          expect(relativeError(frames.subarray(t * 96, (t + 1) * 96), back.subarray(t * 96, (t + 1) * 96))).toBeLessThan(BOUNDS[bits])
        }
        const i = run('inspect', join(dir, `out-${name}.tqtc`), '--source', src)
        expect(i.code, i.err).toBe(0)
        const rows = segmentRows(i.out)
        expect(rows.length).toBeGreaterThan(0)
        for (const r of rows) {
          expect(r).toMatchObject({ format, version: format === 'coded' ? 'v3' : 'v1', bits: String(bits), bound: boundText(bits) })
          expect(r.keyframes).toBe(format === 'coded' ? '32' : '1')
        }
        expect(i.out).toMatch(/frames over their bound: 0/)
      })
    }
  }

  it('compress defaults to the library\'s DEFAULT_FORMAT; --group-len only with packed', async () => {
    const { DEFAULT_FORMAT } = await import('../dist/index.mjs')
    const src = writeF32('in-default.f32', frames)
    expect(run('compress', src, '--dim', '96', '-o', join(dir, 'default.tqtc')).out).toMatch(`(${DEFAULT_FORMAT})`)
    expect(segmentRows(run('inspect', join(dir, 'default.tqtc')).out)[0].format).toBe(DEFAULT_FORMAT)
    expect(run('--help').out).toMatch(`Default format: ${DEFAULT_FORMAT}.`)
    const g = run('compress', src, '--dim', '96', '--format', 'packed', '--group-len', '32', '-o', join(dir, 'g32.tqtc'))
    expect(g.code, g.err).toBe(0)
    expect(segmentRows(run('inspect', join(dir, 'g32.tqtc')).out)[0].groupLen).toBe('32')
  })

  it('inspect checks every frame against its own segment\'s bound', () => {
    // The first 25 frames hot and coded (0.8 %), the last 25 cold and packed (30 %), in one file.
    const src = writeF32('mixed.f32', frames)
    const first = writeF32('first.f32', frames.subarray(0, 25 * 96))
    const last = writeF32('last.f32', frames.subarray(25 * 96))
    expect(run('compress', first, '--dim', '96', '--format', 'coded', '--tier', 'hot', '-o', join(dir, 'first.tqtc')).code).toBe(0)
    expect(run('compress', last, '--dim', '96', '--format', 'packed', '--tier', 'cold', '-o', join(dir, 'last.tqtc')).code).toBe(0)
    const mixed = join(dir, 'mixed.tqtc')
    writeFileSync(mixed, Buffer.concat([readFileSync(join(dir, 'first.tqtc')), readFileSync(join(dir, 'last.tqtc'))]))
    const ok = run('inspect', mixed, '--source', src)
    expect(ok.code, ok.err).toBe(0)
    const rows = segmentRows(ok.out)
    expect(rows[0]).toMatchObject({ format: 'coded', bound: '0.8 %' })
    expect(rows[rows.length - 1]).toMatchObject({ format: 'packed', bound: '30 %' })
    expect(ok.out).toMatch(/frames over their bound: 0/)
    // Off by 2 % of its largest value: over the hot bound in frame 3, within the cold bound in frame 40.
    const off = frames.slice()
    for (const t of [3, 40]) {
      const f = off.subarray(t * 96, (t + 1) * 96)
      const max = f.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
      f[7] += 0.02 * max
    }
    const bad = run('inspect', mixed, '--source', writeF32('mixed-off.f32', off))
    expect(bad.code).toBe(1)
    expect(bad.out).toMatch(/frames over their bound: 1$/m)
  })

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
      [['compress', writeF32('f.f32', new Float32Array(8)), '--dim', '4', '--format', 'zstd'], /--format must be coded or packed, got "zstd"/],
      [['compress', writeF32('f.f32', new Float32Array(8)), '--dim', '4', '--format'], /--format needs a value/],
      [['compress', writeF32('f.f32', new Float32Array(8)), '--dim', '4', '--format', 'coded', '--group-len', '8'], /--group-len applies to --format packed only/],
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

  it('demo runs the store trace, the real trace and every backend, coded and packed', () => {
    const r = run('demo', '--seconds', '60')
    expect(r.code, r.err).toBe(0)
    for (const format of ['coded', 'packed']) {
      expect(r.out).toMatch(new RegExp(`${format}\\s+hot\\s+2\\s+\\d+`))
      expect(r.out).toMatch(new RegExp(`${format}\\s+warm\\s+\\d+`))
      expect(r.out).toMatch(new RegExp(`cold\\s+3\\s+${format}\\s+\\d+\\s+[\\d.]+x`)) // real trace
      expect(r.out).toMatch(new RegExp(`wasm\\s+simd128\\s+${format}`))
    }
    expect(r.out).toMatch(/resident bytes, packed \/ coded: hot [\d.]+x/)
    expect(r.out).toMatch(/Real trace: 1200 sentence embeddings/)
    expect(r.out).toMatch(/coded\/packed\s+[\d.]+x/)
    expect(r.out).toMatch(/Every frame decoded within its segment's error bound/)
  }, 120_000)
})
