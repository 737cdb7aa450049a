#!/usr/bin/env node
// temporal-tensor: command-line front end of @ruvector/temporal-tensor: compress, decompress and
// inspect .tqtc files; `demo` runs bin/demo.mjs.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { demo } from './demo.mjs'
import {
  FORMATS, HelpRequested, STDIO, UsageError, api, displayName, errorText, fail, formatPercent, measure,
  npyHeaderBytes, parseArgs, printTable, progress, readFrames, readInput, streamFrames, withOutput,
} from './common.mjs'

/** The package's version, from its package.json. */
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

/** The help text; `defaultFormat` is the library's `DEFAULT_FORMAT` when it loaded. */
const help = (defaultFormat) => `temporal-tensor — compress streams of f32 tensor frames with bounded error

Usage:
  temporal-tensor compress <in.f32|in.npy|-> [--dim N] [--bits 8|7|5|3 | --tier hot|warm|cold]
                           [--format coded|packed] [--group-len G] [-o out.tqtc|-]
      Frames from raw little-endian f32 (needs --dim) or a 2-D float32 .npy, into segments
      back to back (default: <in>.tqtc; standard output when the input is -). The output
      file appears only when the whole input compressed. Default width: 8 bits (hot). Every frame decodes
      within its width's bound on max|v-v'|/max|v|: 0.8 % (8 bits), 1.6 % (7), 6.5 % (5),
      30 % (3).
      --format coded   TQTC v5: steps sized to each frame's bound, prediction from the previous
                       frame, entropy coding; the smallest output
      --format packed  TQTC v1/v2: the ADR's fixed-width groups (--group-len values each)
      Default format: ${defaultFormat}.
  temporal-tensor decompress <in.tqtc|-> [-o out.f32|out.npy|-]
      Every frame, as raw little-endian f32 (default: <in>.f32; standard output when the
      input is -), or as a 2-D float32 .npy when -o names a .npy file; either format. The
      input is read as a stream: memory stays bounded whatever its size.
  temporal-tensor inspect <in.tqtc|-> [--source in.f32|in.npy] [--json]
      Per segment: format, version, bits, tier, the bound its frames keep, keyframe interval,
      frames, bytes and ratio. With --source, the worst error per frame, checked against
      each segment's own bound (exit 1 if a frame is over it). --json prints one JSON object
      ({ file, segments: [...], total, source? }) instead of the table.
  temporal-tensor demo [--seconds S] [--trace file.npy]
      The built-in example, coded and packed side by side: a 1-hour, 10 fps trace of 512-dim
      agent embeddings (hot, warm and cold tensors) through TensorStreamStore, a real
      embedding trace at every width, and every backend.
  temporal-tensor <command> --help
  temporal-tensor --version

A - for a file means standard input or standard output. Progress of long runs goes to
standard error when it is a terminal.

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
  // The input is read as a stream through createCompressStream: memory stays bounded (about a
  // few MiB of frames and one open segment) whatever the file's size.
  const { dim, frames, totalFrames } = await streamFrames(input, options['--dim'])
  const out = options['-o'] ?? (input === STDIO ? STDIO : `${input.replace(/\.(f32|npy)$/, '')}.tqtc`)
  const { bytes, segments, count, toStdout } = await withOutput(out, async (sink) => {
    const policy = { fixedBits: bits, ...(options['--group-len'] !== undefined ? { groupLen: options['--group-len'] } : {}) }
    const stream = tt.createCompressStream({ tensorLen: dim, format, policy })
    const shown = progress(`compressing ${displayName(input)}`)
    let bytes = 0
    let segments = 0
    let count = 0
    async function* counted() {
      for await (const chunk of frames) {
        count += chunk.byteLength / (4 * dim)
        if (totalFrames !== undefined && totalFrames * 4 * dim > 1 << 22) shown.update(count, totalFrames)
        yield chunk
      }
    }
    const sinkStream = new Writable({
      objectMode: true,
      write(seg, _encoding, done) {
        sink.write(seg)
        bytes += seg.byteLength
        segments++
        done()
      },
    })
    try {
      await pipeline(counted(), stream, sinkStream)
    } catch (e) {
      if (e instanceof UsageError) throw e
      fail(`${displayName(input)}: ${errorText(e)}`)
    } finally {
      shown.end()
    }
    return { bytes, segments, count, toStdout: sink.toStdout }
  })
  const report = toStdout ? console.error : console.log
  report(
    `${out === STDIO ? 'standard output' : out}: ${count} frames of ${dim} values at ${bits} bits (${format}) in ${segments} segments, ` +
      `${bytes} bytes (${((count * dim * 4) / Math.max(bytes, 1)).toFixed(2)}x smaller than f32)`,
  )
}

/** Every segment of a .tqtc file with its decoded values. */
async function readSegments(path) {
  const bytes = new Uint8Array(readInput(path))
  const tt = await api()
  try {
    return { tt, segments: tt.splitSegments(bytes) }
  } catch (e) {
    fail(`${displayName(path)}: ${errorText(e)}`)
  }
}

/** Bytes of decoded frames gathered before one write (4 MiB). */
const WRITE_BYTES = 1 << 22

async function decompress(args) {
  const { positional, options } = parseArgs(args, { '-o': 'string' })
  if (positional.length !== 1) fail('decompress needs one .tqtc file (see --help)')
  const [input] = positional
  const out = options['-o'] ?? (input === STDIO ? STDIO : `${input.replace(/\.tqtc$/, '')}.f32`)
  const npy = out !== STDIO && out.endsWith('.npy')
  let source
  let totalBytes
  if (input === STDIO) {
    source = process.stdin
  } else {
    if (!existsSync(input)) fail(`no such file: ${input}`)
    try {
      totalBytes = statSync(input).size
    } catch (e) {
      fail(`cannot read ${input}: ${errorText(e)}`)
    }
    source = createReadStream(input, { highWaterMark: 1 << 20 })
  }
  const tt = await api()
  // Segments are read as a stream through createDecompressStream (at most one segment's bytes
  // held, large segments decoded a frame at a time) and frames written as they decode.
  const { frames, dim, toStdout } = await withOutput(out, async (sink) => {
    if (npy) sink.write(npyHeaderBytes(0, 0)) // rewritten with the shape at the end
    const shown = progress(`decompressing ${displayName(input)}`)
    let frames = 0
    let dim = 0
    let read = 0
    // Frames are gathered into writes of up to WRITE_BYTES, and what is gathered is written
    // whenever the event loop turns (before more input is awaited), so output keeps pace.
    let pending = []
    let pendingBytes = 0
    let scheduled = false
    let writeError = null
    const drain = () => {
      if (pendingBytes === 0) return
      const bytes = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes)
      pending = []
      pendingBytes = 0
      sink.write(bytes)
    }
    const drainLater = () => {
      scheduled = false
      try {
        drain()
      } catch (e) {
        writeError ??= e
      }
    }
    async function* counted() {
      try {
        for await (const chunk of source) {
          read += chunk.byteLength
          if (totalBytes !== undefined && totalBytes > 1 << 22) shown.update(read, totalBytes)
          yield chunk
        }
      } catch (e) {
        fail(input === STDIO ? `cannot read standard input: ${errorText(e)}` : `cannot read ${input}: ${errorText(e)}`)
      }
    }
    const sinkStream = new Writable({
      objectMode: true,
      write(frame, _encoding, done) {
        if (writeError !== null) {
          done(writeError)
          return
        }
        if (dim !== 0 && frame.length !== dim) {
          done(new UsageError(`${displayName(input)}: segments of different tensor lengths (${dim} and ${frame.length})`))
          return
        }
        dim = frame.length
        frames++
        pending.push(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength))
        pendingBytes += frame.byteLength
        try {
          if (pendingBytes >= WRITE_BYTES) drain()
          else if (!scheduled) {
            scheduled = true
            setImmediate(drainLater)
          }
        } catch (e) {
          done(e)
          return
        }
        done()
      },
      final(done) {
        try {
          drain()
        } catch (e) {
          writeError ??= e
        }
        done(writeError)
      },
    })
    try {
      await pipeline(counted(), tt.createDecompressStream(), sinkStream)
    } catch (e) {
      if (e instanceof UsageError) throw e
      fail(`${displayName(input)}: ${errorText(e)}`)
    } finally {
      shown.end()
    }
    if (npy) sink.writeAt(0, npyHeaderBytes(frames, dim))
    return { frames, dim, toStdout: sink.toStdout }
  })
  const report = toStdout ? console.error : console.log
  report(`${out === STDIO ? 'standard output' : out}: ${frames} frames of ${dim} values (${frames * dim * 4} bytes of f32${npy ? ', .npy' : ''})`)
}

async function inspect(args) {
  const { positional, options } = parseArgs(args, { '--source': 'string', '--dim': 'int', '--json': 'flag' })
  if (positional.length !== 1) fail('inspect needs one .tqtc file (see --help)')
  const [input] = positional
  const { tt, segments } = await readSegments(input)
  // One record per segment: segmentInfo's fields, its index, tier and ratio (raw f32 bytes / bytes).
  const infos = segments.map((seg, index) => {
    const h = tt.segmentInfo(seg)
    return { index, ...h, tier: tt.tierOfBits(h.bits), ratio: (h.frameCount * h.tensorLen * 4) / h.byteLength }
  })
  const bytes = infos.reduce((n, h) => n + h.byteLength, 0)
  const rawBytes = infos.reduce((n, h) => n + h.frameCount * h.tensorLen * 4, 0)
  const frames = infos.reduce((n, h) => n + h.frameCount, 0)
  const total = { segments: infos.length, frames, bytes, rawBytes, ratio: rawBytes / Math.max(bytes, 1) }
  let source
  if (options['--source'] !== undefined) {
    const dim = infos.length > 0 ? infos[0].tensorLen : 0
    if (infos.some((h) => h.tensorLen !== dim)) fail(`${displayName(input)}: segments of different tensor lengths`)
    const src = readFrames(options['--source'], options['--dim'] ?? dim)
    if (src.dim !== dim || src.frames.length !== frames * dim) {
      fail(`--source holds ${src.frames.length / src.dim} frames of ${src.dim}, the segments ${frames} of ${dim}`)
    }
    const { worst, worstOfBound, over } = measure(tt, segments, src.frames, dim)
    source = { worst, worstOfBound, framesOverBound: over }
    if (over > 0) process.exitCode = 1
  }
  if (options['--json']) {
    console.log(JSON.stringify({ file: input, segments: infos, total, ...(source ? { source } : {}) }, null, 2))
    return
  }
  const rows = infos.map((h) => [h.index, h.format, `v${h.version}`, h.bits, h.tier, `${formatPercent(h.bound)} %`, h.keyframeInterval,
    h.frameCount, h.tensorLen, h.format === 'packed' ? h.groupLen : '-', h.byteLength, `${h.ratio.toFixed(2)}x`])
  printTable(['segment', 'format', 'version', 'bits', 'tier', 'bound', 'keyframes', 'frames', 'tensorLen', 'groupLen', 'bytes', 'ratio'], rows)
  console.log(`\n${total.segments} segments, ${frames} frames, ${bytes} bytes; ${total.ratio.toFixed(2)}x smaller than f32`)
  if (source) {
    console.log(
      `worst error max|v-v'|/max|v| over ${frames} frames: ${(source.worst * 100).toFixed(4)} % ` +
        `(${(source.worstOfBound * 100).toFixed(1)} % of its segment's bound); frames over their bound: ${source.framesOverBound}`,
    )
  }
}

const COMMANDS = { compress, decompress, inspect, demo }

const [command, ...rest] = process.argv.slice(2)
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  await printHelp()
  process.exit(command === undefined ? 2 : 0)
}
if (command === '--version') {
  console.log(VERSION)
  process.exit(0)
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
  console.error(`temporal-tensor ${command}: ${errorText(e)}`)
  process.exit(1)
}
