// The temporal-tensor CLI: file round trips, inspect, the demo, and bad input.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
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

/** Runs the CLI with `stdin` as its standard input; standard output as bytes. */
function runBinary(stdin: Uint8Array | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, input: stdin ?? new Uint8Array(0), maxBuffer: 1 << 28 })
  return { code: r.status, out: new Uint8Array(r.stdout), err: r.stderr.toString('utf8') }
}

const bytesOf = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)

/** Files in the work directory left by an output that was never committed. */
const leftovers = () => readdirSync(dir).filter((f) => f.endsWith('.tmp'))

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
          expect(r).toMatchObject({ format, version: format === 'coded' ? 'v5' : 'v1', bits: String(bits), bound: boundText(bits) })
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

  it('--version prints package.json\'s version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    const r = run('--version')
    expect(r.code).toBe(0)
    expect(r.out).toBe(`${version}\n`)
    expect(run('--help').out).toMatch(/temporal-tensor --version/)
  })

  it('- is standard input and standard output: compress, inspect and decompress in a pipe', () => {
    const c = runBinary(bytesOf(frames), 'compress', '-', '--dim', '96', '--tier', 'warm')
    expect(c.code, c.err).toBe(0)
    expect(Buffer.from(c.out.subarray(0, 4)).toString('latin1')).toBe('TQTC')
    // The summary goes to standard error, so standard output is the segments and nothing else.
    expect(c.err).toMatch(/^standard output: 50 frames of 96 values at 7 bits/)
    const viaFile = run('compress', writeF32('pipe.f32', frames), '--dim', '96', '--tier', 'warm', '-o', join(dir, 'pipe.tqtc'))
    expect(viaFile.code, viaFile.err).toBe(0)
    expect(Buffer.from(c.out).equals(readFileSync(join(dir, 'pipe.tqtc')))).toBe(true)
    const toStdout = runBinary(undefined, 'compress', join(dir, 'pipe.f32'), '--dim', '96', '--tier', 'warm', '-o', '-')
    expect(Buffer.from(toStdout.out).equals(Buffer.from(c.out))).toBe(true)

    const i = runBinary(c.out, 'inspect', '-', '--json')
    expect(i.code, i.err).toBe(0)
    expect(JSON.parse(Buffer.from(i.out).toString('utf8')).total.frames).toBe(50)

    const d = runBinary(c.out, 'decompress', '-')
    expect(d.code, d.err).toBe(0)
    expect(d.err).toMatch(/^standard output: 50 frames of 96 values/)
    const back = new Float32Array(d.out.buffer, d.out.byteOffset, d.out.byteLength / 4)
    expect(back.length).toBe(frames.length)
    for (let t = 0; t < 50; t++) {
      expect(relativeError(frames.subarray(t * 96, (t + 1) * 96), back.subarray(t * 96, (t + 1) * 96))).toBeLessThan(BOUNDS[7])
    }
    // A .npy on standard input is recognised by its magic string.
    const npy = runBinary(readFileSync(writeNpy('pipe.npy', frames, 50, 96)), 'compress', '-', '--tier', 'warm')
    expect(npy.code, npy.err).toBe(0)
    expect(Buffer.from(npy.out).equals(Buffer.from(c.out))).toBe(true)
  })

  it('inspect --json: one object per segment with segmentInfo\'s fields, totals, and the --source check', () => {
    const src = writeF32('json.f32', frames)
    expect(run('compress', src, '--dim', '96', '--format', 'packed', '--tier', 'cold', '-o', join(dir, 'json.tqtc')).code).toBe(0)
    const table = segmentRows(run('inspect', join(dir, 'json.tqtc')).out)
    const r = run('inspect', join(dir, 'json.tqtc'), '--json', '--source', src)
    expect(r.code, r.err).toBe(0)
    const doc = JSON.parse(r.out)
    expect(doc.file).toBe(join(dir, 'json.tqtc'))
    expect(doc.segments).toHaveLength(table.length)
    for (const [k, seg] of doc.segments.entries()) {
      expect(seg).toMatchObject({ index: k, format: 'packed', version: 1, bits: 3, tier: 'cold', bound: BOUNDS[3], tensorLen: 96 })
      expect(String(seg.frameCount)).toBe(table[k].frames)
      expect(String(seg.byteLength)).toBe(table[k].bytes)
      expect(seg.ratio).toBeCloseTo((seg.frameCount * 96 * 4) / seg.byteLength, 10)
    }
    const bytes = readFileSync(join(dir, 'json.tqtc')).byteLength
    expect(doc.total).toMatchObject({ segments: table.length, frames: 50, bytes, rawBytes: 50 * 96 * 4 })
    expect(doc.source.framesOverBound).toBe(0)
    expect(doc.source.worst).toBeLessThan(BOUNDS[3])
    expect(JSON.parse(run('inspect', join(dir, 'json.tqtc'), '--json').out)).not.toHaveProperty('source')
    // A source 80 % off in one value: over the cold bound, reported in the JSON and the exit status.
    const off = frames.slice()
    off[5 * 96 + 2] += 0.8 * off.subarray(5 * 96, 6 * 96).reduce((m, v) => Math.max(m, Math.abs(v)), 0)
    const bad = run('inspect', join(dir, 'json.tqtc'), '--json', '--source', writeF32('json-off.f32', off))
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.out).source.framesOverBound).toBe(1)
  })

  it('error messages name the code once', () => {
    const src = writeF32('prefix.f32', frames)
    mkdirSync(join(dir, 'a-directory'), { recursive: true })
    const cases: [string[], RegExp][] = [
      [['compress', src, '--dim', '96', '-o', join(dir, 'missing-dir', 'x.tqtc')], /cannot write .*x\.tqtc: no such file or directory \(ENOENT\)$/],
      [['compress', src, '--dim', '96', '-o', join(dir, 'a-directory')], /cannot write .*a-directory: .*\(EISDIR\)$/],
      [['decompress', join(dir, 'a-directory')], /cannot read .*a-directory: EISDIR: /],
      [['inspect', writeF32('junk2.tqtc', new Float32Array(10))], /junk2\.tqtc: BAD_MAGIC: /],
      [['compress', writeF32('nan.f32', Float32Array.of(1, NaN, 0, 0)), '--dim', '4'], /nan\.f32: NON_FINITE: /],
    ]
    for (const [args, message] of cases) {
      const r = run(...args)
      expect(r.code, args.join(' ')).not.toBe(0)
      expect(r.err.trim().split('\n'), r.err).toHaveLength(1)
      expect(r.err.trim()).toMatch(message)
      expect(r.err, 'a doubled prefix').not.toMatch(/\b([A-Z][A-Z_]+): \1\b/)
    }
  })

  it('a failed compress or decompress leaves no output file, and an existing one untouched', () => {
    const nan = writeF32('fails.f32', (() => { const f = frames.slice(); f[30 * 96 + 4] = NaN; return f })())
    const r = run('compress', nan, '--dim', '96', '-o', join(dir, 'fails.tqtc'))
    expect(r.err).toMatch(/NON_FINITE/)
    expect(existsSync(join(dir, 'fails.tqtc'))).toBe(false)
    writeFileSync(join(dir, 'kept.tqtc'), 'the previous contents')
    expect(run('compress', nan, '--dim', '96', '-o', join(dir, 'kept.tqtc')).code).not.toBe(0)
    expect(readFileSync(join(dir, 'kept.tqtc'), 'utf8')).toBe('the previous contents')
    // Segments of two tensor lengths cannot be one .f32 stream: decompress fails half-way.
    expect(run('compress', writeF32('d96.f32', frames), '--dim', '96', '-o', join(dir, 'd96.tqtc')).code).toBe(0)
    expect(run('compress', writeF32('d48.f32', frames), '--dim', '48', '-o', join(dir, 'd48.tqtc')).code).toBe(0)
    writeFileSync(join(dir, 'two.tqtc'), Buffer.concat([readFileSync(join(dir, 'd96.tqtc')), readFileSync(join(dir, 'd48.tqtc'))]))
    const d = run('decompress', join(dir, 'two.tqtc'), '-o', join(dir, 'two.f32'))
    expect(d.err).toMatch(/segments of different tensor lengths/)
    expect(existsSync(join(dir, 'two.f32'))).toBe(false)
    expect(leftovers()).toEqual([])
  })

  it('compress streams its input: the .tqtc equals pushMany + flush, .npy and raw, any read size', async () => {
    // @ts-expect-error: plain ESM module without types
    const { streamFrames } = await import('../bin/common.mjs')
    const { TemporalTensorCompressor } = await import('../dist/index.mjs')
    const values = stream(48, 300, 8)
    const npy = writeNpy('streamed.npy', values, 300, 48)
    // trailing bytes after a .npy's data are ignored, as when the file is read whole
    writeFileSync(npy, Buffer.concat([readFileSync(npy), Buffer.alloc(7)]))
    for (const chunkBytes of [1, 4 * 48 - 1, 1000, 1 << 22]) {
      const { dim, frames, totalFrames } = await streamFrames(npy, undefined, chunkBytes)
      expect([dim, totalFrames]).toEqual([48, 300])
      const parts: Buffer[] = []
      for await (const part of frames) {
        expect(part.byteLength % (4 * 48)).toBe(0)
        expect(part.byteLength).toBeLessThanOrEqual(Math.max(4 * 48, chunkBytes))
        parts.push(part)
      }
      expect(Buffer.concat(parts).equals(Buffer.from(values.buffer))).toBe(true)
    }
    const r = run('compress', npy, '--tier', 'warm', '-o', join(dir, 'streamed.tqtc'))
    expect(r.code, r.err).toBe(0)
    const c = new TemporalTensorCompressor({ tensorLen: 48, policy: { fixedBits: 7 } })
    const want = [...c.pushMany(values, 0), c.flush()!]
    c.free()
    expect(readFileSync(join(dir, 'streamed.tqtc')).equals(Buffer.concat(want))).toBe(true)
    const cut = writeNpy('cut.npy', values, 300, 48)
    writeFileSync(cut, readFileSync(cut).subarray(0, -5))
    const t = run('compress', cut, '-o', join(dir, 'cut.tqtc'))
    expect(t.code).not.toBe(0)
    expect(t.err).toMatch(/truncated data/)
    expect(existsSync(join(dir, 'cut.tqtc'))).toBe(false)
  })

  it('decompress streams: frames come out while the input is still coming in; -o x.npy writes a .npy', async () => {
    const values = stream(64, 600, 12)
    expect(run('compress', writeF32('flow.f32', values), '--dim', '64', '-o', join(dir, 'flow.tqtc')).code).toBe(0)
    const tqtc = readFileSync(join(dir, 'flow.tqtc'))
    const whole = runBinary(tqtc, 'decompress', '-')
    expect(whole.code, whole.err).toBe(0)
    expect(whole.out.byteLength).toBe(600 * 64 * 4)
    // The first segment only, then wait until frames arrive on standard output: a command that
    // read its whole input first would never write before the input ended.
    const first = (await import('../dist/index.mjs')).segmentInfo(tqtc).byteLength
    const child = spawn(process.execPath, [cli, 'decompress', '-'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const firstOutput = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stdin.write(tqtc.subarray(0, first))
    await firstOutput
    expect(Buffer.concat(out).byteLength).toBeGreaterThan(0)
    child.stdin.end(tqtc.subarray(first))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, err).toBe(0)
    expect(Buffer.concat(out).equals(Buffer.from(whole.out))).toBe(true)

    const n = run('decompress', join(dir, 'flow.tqtc'), '-o', join(dir, 'flow-back.npy'))
    expect(n.code, n.err).toBe(0)
    expect(n.out).toMatch(/flow-back\.npy: 600 frames of 64 values .*\.npy/)
    const npy = readFileSync(join(dir, 'flow-back.npy'))
    expect(npy.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY')
    const headerLen = npy.readUInt16LE(8)
    expect((10 + headerLen) % 64).toBe(0)
    expect(npy.toString('latin1', 10, 10 + headerLen)).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(600, 64\), \} *\n$/)
    expect(npy.subarray(10 + headerLen).equals(Buffer.from(whole.out))).toBe(true)
    // The CLI reads its own .npy back: compressing it again gives the same frames' segments.
    const again = run('compress', join(dir, 'flow-back.npy'), '-o', join(dir, 'flow-again.tqtc'))
    expect(again.code, again.err).toBe(0)
    expect(again.out).toMatch(/600 frames of 64 values/)

    // A cut file: the frames before the cut are not left behind, and the code is named once.
    writeFileSync(join(dir, 'flow-cut.tqtc'), tqtc.subarray(0, tqtc.byteLength - 3))
    for (const target of ['flow-cut.f32', 'flow-cut.npy']) {
      const t = run('decompress', join(dir, 'flow-cut.tqtc'), '-o', join(dir, target))
      expect(t.code).not.toBe(0)
      expect(t.err.trim().split('\n')).toHaveLength(1)
      expect(t.err).toMatch(/flow-cut\.tqtc: (TRUNCATED|CORRUPT_SEGMENT): /)
      expect(existsSync(join(dir, target))).toBe(false)
    }
    expect(leftovers()).toEqual([])
  })

  describe('progress of a long run', () => {
    // 12000 frames of 256 values: three batches of pushMany.
    const long = new Float32Array(12000 * 256).map((_, i) => Math.sin(i / 9))

    it('nothing on standard error when it is not a terminal', () => {
      const r = run('compress', writeF32('long.f32', long), '--dim', '256', '-o', join(dir, 'long.tqtc'))
      expect(r.code, r.err).toBe(0)
      expect(r.err).toBe('')
      const d = run('decompress', join(dir, 'long.tqtc'), '-o', join(dir, 'long-back.f32'))
      expect(d.code, d.err).toBe(0)
      expect(d.err).toBe('')
    })

    it.skipIf(process.platform !== 'linux')('a line redrawn on standard error when it is a terminal (util-linux script)', () => {
      const src = writeF32('long-tty.f32', long)
      const command = [process.execPath, cli, 'compress', src, '--dim', '256', '-o', join(dir, 'long-tty.tqtc')]
        .map((a) => `'${a}'`).join(' ')
      // script(1) runs the command on a pseudo-terminal and copies what it printed to its own output.
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir, encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/\rcompressing .*long-tty\.f32: \d+ % \(4096 of 12000\)/)
      expect(r.stdout).toMatch(/\(12000 of 12000\)\r\x1b\[K.*long-tty\.tqtc: 12000 frames of 256 values/)
    })
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
