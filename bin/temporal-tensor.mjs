#!/usr/bin/env node
// temporal-tensor: command-line front end of @ruvector/temporal-tensor.
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { TRACE_STORE_OPTIONS, TRACE_TENSORS, relativeError, runTrace } from './trace.mjs'

/** The help text; `defaultFormat` is the library's `DEFAULT_FORMAT` when it loaded. */
const help = (defaultFormat) => `temporal-tensor — compress streams of f32 tensor frames with bounded error

Usage:
  temporal-tensor compress <in.f32|in.npy> [--dim N] [--bits 8|7|5|3 | --tier hot|warm|cold]
                           [--format coded|packed] [--group-len G] [-o out.tqtc]
      Frames from raw little-endian f32 (needs --dim) or a 2-D float32 .npy, into segments
      back to back (default: <in>.tqtc). Default width: 8 bits (hot). Every frame decodes
      within its width's bound on max|v-v'|/max|v|: 0.8 % (8 bits), 1.6 % (7), 6.5 % (5),
      30 % (3).
      --format coded   TQTC v3: steps sized to each frame's bound, prediction from the previous
                       frame, entropy coding; the smallest output
      --format packed  TQTC v1/v2: the ADR's fixed-width groups (--group-len values each)
      Default format: ${defaultFormat}.
  temporal-tensor decompress <in.tqtc> [-o out.f32]
      Every frame, as raw little-endian f32 (default: <in>.f32); either format.
  temporal-tensor inspect <in.tqtc> [--source in.f32|in.npy]
      Per segment: format, version, bits, tier, the bound its frames keep, keyframe interval,
      frames, bytes and ratio. With --source, the worst error per frame, checked against
      each segment's own bound (exit 1 if a frame is over it).
  temporal-tensor demo [--seconds S] [--trace file.npy]
      The built-in example, coded and packed side by side: a 1-hour, 10 fps trace of 512-dim
      agent embeddings (hot, warm and cold tensors) through TensorStreamStore, a real
      embedding trace at every width, and every backend.
  temporal-tensor <command> --help

Environment:
  TEMPORAL_TENSOR_BACKEND=native|wasm     force a backend (default: native when available)
`

const FORMATS = ['coded', 'packed']

async function printHelp() {
  let defaultFormat = "the library's DEFAULT_FORMAT"
  try {
    defaultFormat = (await api()).DEFAULT_FORMAT
  } catch {
    // The help does not need the library.
  }
  console.log(help(defaultFormat))
}

class HelpRequested extends Error {}

class UsageError extends Error {}

function fail(message) {
  throw new UsageError(message)
}

/** Parses `args` against `spec` ({ '--dim': 'int', '-o': 'string', ... }); returns positionals and options. */
function parseArgs(args, spec) {
  const positional = []
  const options = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--help' || arg === '-h') throw new HelpRequested()
    if (!arg.startsWith('-')) {
      positional.push(arg)
      continue
    }
    const kind = spec[arg]
    if (kind === undefined) fail(`unknown option ${arg} (see --help)`)
    const value = args[++i]
    if (value === undefined) fail(`${arg} needs a value`)
    if (kind === 'int') {
      const n = Number(value)
      if (!Number.isInteger(n) || n <= 0) fail(`${arg} needs a positive integer, got "${value}"`)
      options[arg] = n
    } else {
      options[arg] = value
    }
  }
  return { positional, options }
}

function readInput(path) {
  if (!existsSync(path)) fail(`no such file: ${path}`)
  try {
    return readFileSync(path)
  } catch (e) {
    fail(`cannot read ${path}: ${e.message}`)
  }
}

/** Frames from a .npy (2-D float32) or raw .f32 file: { frames: Float32Array, dim }. */
function readFrames(path, dim) {
  const bytes = readInput(path)
  if (path.endsWith('.npy')) return parseNpy(bytes, path)
  if (dim === undefined) fail(`${path}: raw f32 input needs --dim`)
  if (bytes.byteLength % (4 * dim) !== 0) {
    fail(`${path}: ${bytes.byteLength} bytes is not a whole number of ${dim}-value f32 frames`)
  }
  const frames = new Float32Array(bytes.byteLength / 4)
  new Uint8Array(frames.buffer).set(bytes)
  return { frames, dim }
}

function parseNpy(bytes, path) {
  const magic = '\x93NUMPY'
  if (bytes.toString('latin1', 0, 6) !== magic) fail(`${path}: not a .npy file`)
  const major = bytes[6]
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = bytes.toString('latin1', start, start + headerLen)
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1]
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr !== '<f4') fail(`${path}: dtype ${descr}, expected little-endian float32 ('<f4')`)
  if (fortran !== 'False') fail(`${path}: Fortran-ordered arrays are not supported`)
  const dims = (shape ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (dims.length !== 2) fail(`${path}: expected a 2-D array (frames × values), got shape (${shape})`)
  const [n, dim] = dims
  const offset = start + headerLen
  if (bytes.byteLength - offset < n * dim * 4) fail(`${path}: truncated data`)
  const frames = new Float32Array(n * dim)
  new Uint8Array(frames.buffer).set(bytes.subarray(offset, offset + n * dim * 4))
  return { frames, dim }
}

/** The segment format from `--format` (default: the library's `DEFAULT_FORMAT`). */
function formatFrom(options, tt) {
  const format = options['--format'] ?? tt.DEFAULT_FORMAT
  if (!FORMATS.includes(format)) fail(`--format must be coded or packed, got "${format}"`)
  return format
}

/** A compressor writing every frame at `bits` in `format`. */
function pinnedCompressor(tt, tensorLen, bits, format, groupLen) {
  return new tt.TemporalTensorCompressor({
    tensorLen,
    format,
    policy: { fixedBits: bits, ...(groupLen !== undefined ? { groupLen } : {}) },
  })
}

/** Frames `values` back to back at `bits` in `format`: the segments, their bytes and encode time. */
function encodeAll(tt, values, dim, bits, format) {
  const c = pinnedCompressor(tt, dim, bits, format)
  const t0 = process.hrtime.bigint()
  const segments = c.pushMany(values, 0)
  const last = c.flush()
  if (last) segments.push(last)
  const ns = Number(process.hrtime.bigint() - t0)
  c.free()
  return { segments, bytes: segments.reduce((n, s) => n + s.byteLength, 0), ns }
}

/**
 * Decodes a segment read from a file, in chunks of whole frames, calling `onValues(values)` for
 * each: all at once when it holds at most CLI_DECODE_VALUES values (the cap given to
 * decodeSegment), else frame by frame, so a few bytes describing 2^28 values cannot make the CLI
 * allocate gigabytes.
 */
const CLI_DECODE_VALUES = 2 ** 24

function decodeChunks(tt, seg, onValues) {
  const { frameCount, tensorLen } = tt.segmentInfo(seg)
  if (frameCount * tensorLen <= CLI_DECODE_VALUES) {
    onValues(tt.decodeSegment(seg, { maxValues: CLI_DECODE_VALUES }))
    return
  }
  for (let f = 0; f < frameCount; f++) onValues(tt.decodeFrame(seg, f))
}

/**
 * Decodes `segments` and measures every frame against `original` (frames back to back):
 * the worst error, the worst error as a fraction of its segment's own bound, and the frames
 * at or over their segment's bound.
 */
function measure(tt, segments, original, dim) {
  let worst = 0
  let worstOfBound = 0
  let over = 0
  let t = 0
  for (const seg of segments) {
    const { bound } = tt.segmentInfo(seg)
    decodeChunks(tt, seg, (values) => {
      for (let f = 0; f < values.length / dim; f++, t++) {
        const err = relativeError(original.subarray(t * dim, (t + 1) * dim), values.subarray(f * dim, (f + 1) * dim))
        worst = Math.max(worst, err)
        worstOfBound = Math.max(worstOfBound, err / bound)
        if (!(err < bound)) over++
      }
    })
  }
  return { worst, worstOfBound, over, frames: t }
}

function widthFrom(options) {
  if (options['--bits'] !== undefined && options['--tier'] !== undefined) fail('give --bits or --tier, not both')
  if (options['--tier'] !== undefined) {
    const bits = { hot: 8, warm: 7, cold: 3 }[options['--tier']]
    if (bits === undefined) fail(`--tier must be hot, warm or cold, got "${options['--tier']}"`)
    return bits
  }
  const bits = Number(options['--bits'] ?? 8)
  if (![8, 7, 5, 3].includes(bits)) fail(`--bits must be 8, 7, 5 or 3, got "${options['--bits']}"`)
  return bits
}

async function api() {
  return import('../dist/index.mjs')
}

async function compress(args) {
  const { positional, options } = parseArgs(args, {
    '--dim': 'int', '--bits': 'string', '--tier': 'string', '--format': 'string', '--group-len': 'int', '-o': 'string',
  })
  if (positional.length !== 1) fail('compress needs one input file (see --help)')
  const [input] = positional
  const bits = widthFrom(options)
  const tt = await api()
  const format = formatFrom(options, tt)
  if (format !== 'packed' && options['--group-len'] !== undefined) fail('--group-len applies to --format packed only')
  const { frames, dim } = readFrames(input, options['--dim'])
  const out = options['-o'] ?? `${input.replace(/\.(f32|npy)$/, '')}.tqtc`
  const c = pinnedCompressor(tt, dim, bits, format, options['--group-len'])
  const fd = openSync(out, 'w')
  let bytes = 0
  let segments = 0
  try {
    const batch = Math.max(1, Math.floor((1 << 20) / dim))
    const write = (seg) => {
      writeSync(fd, seg)
      bytes += seg.byteLength
      segments++
    }
    for (let at = 0; at < frames.length; at += batch * dim) {
      for (const seg of c.pushMany(frames.subarray(at, Math.min(frames.length, at + batch * dim)), 0)) write(seg)
    }
    const last = c.flush()
    if (last) write(last)
  } catch (e) {
    closeSync(fd)
    fail(`${input}: ${e.code ? `${e.code}: ` : ''}${e.message}`)
  } finally {
    c.free()
  }
  closeSync(fd)
  const count = frames.length / dim
  console.log(
    `${out}: ${count} frames of ${dim} values at ${bits} bits (${format}) in ${segments} segments, ` +
      `${bytes} bytes (${((frames.length * 4) / Math.max(bytes, 1)).toFixed(2)}x smaller than f32)`,
  )
}

/** Every segment of a .tqtc file with its decoded values. */
async function readSegments(path) {
  const bytes = new Uint8Array(readInput(path))
  const tt = await api()
  try {
    return { tt, segments: tt.splitSegments(bytes) }
  } catch (e) {
    fail(`${path}: ${e.message} (${e.code})`)
  }
}

async function decompress(args) {
  const { positional, options } = parseArgs(args, { '-o': 'string' })
  if (positional.length !== 1) fail('decompress needs one .tqtc file (see --help)')
  const [input] = positional
  const { tt, segments } = await readSegments(input)
  const out = options['-o'] ?? `${input.replace(/\.tqtc$/, '')}.f32`
  const fd = openSync(out, 'w')
  let frames = 0
  let dim = 0
  for (const seg of segments) {
    const info = tt.segmentInfo(seg)
    if (dim !== 0 && info.tensorLen !== dim) {
      closeSync(fd)
      fail(`${input}: segments of different tensor lengths (${dim} and ${info.tensorLen})`)
    }
    dim = info.tensorLen
    frames += info.frameCount
    decodeChunks(tt, seg, (values) => writeSync(fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength)))
  }
  closeSync(fd)
  console.log(`${out}: ${frames} frames of ${dim} values (${frames * dim * 4} bytes of f32)`)
}

async function inspect(args) {
  const { positional, options } = parseArgs(args, { '--source': 'string', '--dim': 'int' })
  if (positional.length !== 1) fail('inspect needs one .tqtc file (see --help)')
  const [input] = positional
  const { tt, segments } = await readSegments(input)
  const rows = []
  let total = 0
  let raw = 0
  let frames = 0
  for (const [i, seg] of segments.entries()) {
    const h = tt.segmentInfo(seg)
    total += h.byteLength
    raw += h.frameCount * h.tensorLen * 4
    frames += h.frameCount
    rows.push([i, h.format, `v${h.version}`, h.bits, tt.tierOfBits(h.bits), `${formatPercent(h.bound)} %`, h.keyframeInterval,
      h.frameCount, h.tensorLen, h.format === 'packed' ? h.groupLen : '-', h.byteLength,
      `${((h.frameCount * h.tensorLen * 4) / h.byteLength).toFixed(2)}x`])
  }
  printTable(['segment', 'format', 'version', 'bits', 'tier', 'bound', 'keyframes', 'frames', 'tensorLen', 'groupLen', 'bytes', 'ratio'], rows)
  console.log(`\n${segments.length} segments, ${frames} frames, ${total} bytes; ${(raw / Math.max(total, 1)).toFixed(2)}x smaller than f32`)
  if (options['--source'] === undefined) return
  const dim = segments.length > 0 ? tt.segmentInfo(segments[0]).tensorLen : 0
  if (segments.some((seg) => tt.segmentInfo(seg).tensorLen !== dim)) fail(`${input}: segments of different tensor lengths`)
  const source = readFrames(options['--source'], options['--dim'] ?? dim)
  if (source.dim !== dim || source.frames.length !== frames * dim) {
    fail(`--source holds ${source.frames.length / source.dim} frames of ${source.dim}, the segments ${frames} of ${dim}`)
  }
  const { worst, worstOfBound, over } = measure(tt, segments, source.frames, dim)
  console.log(
    `worst error max|v-v'|/max|v| over ${frames} frames: ${(worst * 100).toFixed(4)} % ` +
      `(${(worstOfBound * 100).toFixed(1)} % of its segment's bound); frames over their bound: ${over}`,
  )
  if (over > 0) process.exitCode = 1
}

/** A bound as a percentage: 0.8, 6.5, 30, or more digits when it needs them (0.0123 -> 1.23). */
function formatPercent(bound) {
  return Number((bound * 100).toPrecision(4)).toString()
}

function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ').trimEnd()
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}

async function demo(args) {
  const { options } = parseArgs(args, { '--seconds': 'int', '--trace': 'string' })
  const seconds = options['--seconds'] ?? 3600
  const tt = await api()
  let ok = true

  console.log(`1. Synthetic trace: ${seconds} s at 10 fps of 512-dim agent embeddings, ${TRACE_TENSORS.length} tensors`)
  console.log(`   (read every second: hot; every 16 s: warm; never: cold) through TensorStreamStore,`)
  console.log(`   once per segment format; backend ${tt.backend} (${tt.kernels})\n`)
  const storeRows = []
  const timing = []
  const ratios = {}
  for (const format of FORMATS) {
    const store = new tt.TensorStreamStore({ ...TRACE_STORE_OPTIONS, format })
    const originals = new Map()
    const started = process.hrtime.bigint()
    await runTrace(store, {
      seconds,
      onFrame: (id, _ts, frame) => {
        const list = originals.get(id) ?? []
        list.push(frame)
        originals.set(id, list)
      },
      onProgress: (f) => {
        if (process.stderr.isTTY) process.stderr.write(`\r   ${format}: ${(f * 100).toFixed(0).padStart(3)} % of the trace`)
      },
    })
    const appendNs = Number(process.hrtime.bigint() - started)
    if (process.stderr.isTTY) process.stderr.write('\r                                        \r')
    const frameCount = [...originals.values()].reduce((n, l) => n + l.length, 0)
    const stats = store.stats() // before flushing: open segments at the bytes they will take
    await store.flushAll()
    const worst = { hot: 0, warm: 0, cold: 0 }
    for (const [id, frames] of originals) {
      const read = await store.read(id, 0, Number.MAX_SAFE_INTEGER)
      // Each segment's record holds the bound its frames keep against the appended frames.
      const at = store.lineage(id).flatMap((s) => Array(s.frames).fill(s))
      for (let k = 0; k < frames.length; k++) {
        const err = relativeError(frames[k], read.frames.subarray(k * 512, (k + 1) * 512))
        worst[at[k].tier] = Math.max(worst[at[k].tier], err)
        ok &&= err < at[k].bound
      }
    }
    for (const tier of ['hot', 'warm', 'cold', 'total']) {
      const s = stats[tier]
      storeRows.push([format, tier, s.tensors, s.frames, s.segments, (s.rawBytes / 1e6).toFixed(2), (s.residentBytes / 1e6).toFixed(2),
        `${s.ratio.toFixed(2)}x`, tier === 'total' ? '' : `${(worst[tier] * 100).toFixed(3)} %`])
    }
    ratios[format] = stats
    timing.push(`   ${format}: ${frameCount} frames appended in ${(appendNs / 1e9).toFixed(2)} s: ` +
      `${Math.round(frameCount / (appendNs / 1e9))} frames/s, ${(appendNs / frameCount / 1000).toFixed(2)} µs per append`)
    await store.close()
  }
  printTable(['format', 'tier', 'tensors', 'frames', 'segments', 'raw MB', 'resident MB', 'ratio', 'worst error'], storeRows)
  console.log(`\n${timing.join('\n')}`)
  const factor = (tier) => ratios.packed[tier].residentBytes / Math.max(ratios.coded[tier].residentBytes, 1)
  console.log(`   resident bytes, packed / coded: ${['hot', 'warm', 'cold', 'total'].map((t) => `${t} ${factor(t).toFixed(2)}x`).join(', ')}`)
  if (seconds >= 3600) {
    for (const format of FORMATS) {
      const s = ratios[format]
      const targets = s.warm.ratio >= 6 && s.cold.ratio >= 10
      console.log(`   ADR-017 §8.1 target (>= 6x warm, >= 10x cold in resident bytes), ${format}: ${targets ? 'met' : 'NOT met'}`)
      ok &&= targets
    }
  }

  const tracePath = options['--trace'] ?? fileURLToPath(new URL('../traces/minilm-stdlib-384.npy', import.meta.url))
  if (existsSync(tracePath)) {
    const { frames, dim } = parseNpy(readFileSync(tracePath), tracePath)
    const count = frames.length / dim
    console.log(`\n2. Real trace: ${count} sentence embeddings (${dim}-dim) from ${tracePath.split('/').slice(-2).join('/')}, every width\n`)
    const realRows = []
    for (const bits of [8, 7, 5, 3]) {
      const results = {}
      for (const format of FORMATS) {
        const { segments, bytes, ns } = encodeAll(tt, frames, dim, bits, format)
        const m = measure(tt, segments, frames, dim)
        ok &&= m.over === 0
        results[format] = (frames.length * 4) / bytes
        realRows.push([tt.tierOfBits(bits), bits, format, segments.length, `${results[format].toFixed(2)}x`,
          `${(m.worst * 100).toFixed(3)} %`, `${formatPercent(tt.segmentInfo(segments[0]).bound)} %`, (ns / count).toFixed(0)])
      }
      realRows.push(['', '', 'coded/packed', '', `${(results.coded / results.packed).toFixed(2)}x`, '', '', ''])
    }
    printTable(['tier', 'bits', 'format', 'segments', 'ratio', 'worst error', 'bound', 'encode ns/frame'], realRows)
  }

  console.log('\n3. Every backend on the synthetic stream (600 frames of 512 values)\n')
  const backendRows = []
  for (const [label, env] of [
    ['native', { TEMPORAL_TENSOR_BACKEND: 'native' }],
    ['wasm', { TEMPORAL_TENSOR_BACKEND: 'wasm' }],
    ['wasm', { TEMPORAL_TENSOR_BACKEND: 'wasm', TEMPORAL_TENSOR_WASM_SIMD: '0' }],
  ]) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'demo-backend'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    })
    if (child.status !== 0) {
      backendRows.push([label, 'unavailable'])
      if (label === 'wasm') ok = false
      continue
    }
    for (const line of child.stdout.trim().split('\n')) {
      const r = JSON.parse(line)
      ok &&= r.over === 0
      backendRows.push([r.backend, r.kernels, r.format, r.tier, r.bits, `${r.ratio.toFixed(2)}x`, `${(r.worst * 100).toFixed(3)} %`,
        r.encodeNsPerFrame.toFixed(0), r.decodeNsPerFrame.toFixed(0)])
    }
  }
  printTable(['backend', 'kernels', 'format', 'tier', 'bits', 'ratio', 'worst error', 'encode ns/frame', 'decode ns/frame'], backendRows)
  console.log(ok ? '\nEvery frame decoded within its segment\'s error bound.' : '\nFAILED: a bound or target was missed.')
  if (!ok) process.exitCode = 1
}

/** One backend's part of the demo: prints a JSON line per format and width (used by `demo`). */
async function demoBackend() {
  const tt = await api()
  const { embeddingStream } = await import('./trace.mjs')
  const next = embeddingStream(512, 99)
  const stream = new Float32Array(512 * 600)
  for (let t = 0; t < 600; t++) stream.set(next(), t * 512)
  for (const format of FORMATS) {
    for (const [tier, bits] of [['hot', 8], ['warm', 7], ['warm', 5], ['cold', 3]]) {
      // Best of three runs: the first also pays for compiling the module's code paths.
      let encodeNs = Infinity
      let decodeNs = Infinity
      let segments = []
      let bytes = 0
      for (let run = 0; run < 3; run++) {
        const encoded = encodeAll(tt, stream, 512, bits, format)
        ;({ segments, bytes } = encoded)
        encodeNs = Math.min(encodeNs, encoded.ns)
        const t1 = process.hrtime.bigint()
        for (const s of segments) tt.decodeSegment(s)
        decodeNs = Math.min(decodeNs, Number(process.hrtime.bigint() - t1))
      }
      const { worst, over } = measure(tt, segments, stream, 512)
      console.log(JSON.stringify({ backend: tt.backend, kernels: tt.kernels, format, tier, bits, ratio: stream.byteLength / bytes,
        worst, over, encodeNsPerFrame: encodeNs / 600, decodeNsPerFrame: decodeNs / 600 }))
    }
  }
}

const COMMANDS = { compress, decompress, inspect, demo, 'demo-backend': demoBackend }

const [command, ...rest] = process.argv.slice(2)
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  await printHelp()
  process.exit(command === undefined ? 2 : 0)
}
const run = COMMANDS[command]
if (!run) {
  console.error(`temporal-tensor: unknown command "${command}" (see --help)`)
  process.exit(2)
}
try {
  await run(rest)
} catch (e) {
  if (e instanceof HelpRequested) {
    await printHelp()
    process.exit(0)
  }
  if (e instanceof UsageError) {
    console.error(`temporal-tensor ${command}: ${e.message}`)
    process.exit(2)
  }
  console.error(`temporal-tensor ${command}: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`)
  process.exit(1)
}
