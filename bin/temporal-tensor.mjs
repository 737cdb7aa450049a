#!/usr/bin/env node
// temporal-tensor: command-line front end of @ruvector/temporal-tensor: compress, decompress and
// inspect .tqtc files; `demo` runs bin/demo.mjs.
import { closeSync, openSync, writeSync } from 'node:fs'
import { demo } from './demo.mjs'
import {
  FORMATS, HelpRequested, UsageError, api, decodeChunks, fail, formatPercent, measure, parseArgs, pinnedCompressor,
  printTable, readFrames, readInput,
} from './common.mjs'

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

async function printHelp() {
  let defaultFormat = "the library's DEFAULT_FORMAT"
  try {
    defaultFormat = (await api()).DEFAULT_FORMAT
  } catch {
    // The help does not need the library.
  }
  console.log(help(defaultFormat))
}

/** The segment format from `--format` (default: the library's `DEFAULT_FORMAT`). */
function formatFrom(options, tt) {
  const format = options['--format'] ?? tt.DEFAULT_FORMAT
  if (!FORMATS.includes(format)) fail(`--format must be coded or packed, got "${format}"`)
  return format
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

const COMMANDS = { compress, decompress, inspect, demo }

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
