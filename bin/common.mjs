// Pieces shared by the temporal-tensor CLI (bin/temporal-tensor.mjs) and its demo (bin/demo.mjs):
// argument parsing with usage errors, reading .f32/.npy frames, pinned compressors, decoding in
// bounded chunks, measuring every frame against its segment's bound, and plain-text tables.
import { closeSync, createReadStream, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { isatty } from 'node:tty'
import { relativeError } from './trace.mjs'

/** The path that means standard input (as an input) or standard output (as `-o`). */
export const STDIO = '-'

/** The segment formats, as the library names them. */
export const FORMATS = ['coded', 'packed']

/** The library (the built bundle), loaded on first use so that --help works without it. */
export async function api() {
  return import('../dist/index.mjs')
}

export class HelpRequested extends Error {}

export class UsageError extends Error {}

export function fail(message) {
  throw new UsageError(message)
}

/**
 * Parses `args` against `spec` ({ '--dim': 'int', '-o': 'string', '--json': 'flag', ... }); returns
 * positionals (`-` is one: standard input) and options (a flag takes no value and is `true`).
 */
export function parseArgs(args, spec) {
  const positional = []
  const options = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--help' || arg === '-h') throw new HelpRequested()
    if (arg === STDIO || !arg.startsWith('-')) {
      positional.push(arg)
      continue
    }
    const kind = spec[arg]
    if (kind === undefined) fail(`unknown option ${arg} (see --help)`)
    if (kind === 'flag') {
      options[arg] = true
      continue
    }
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

/**
 * One line for an error: `CODE: message`, the code left out when the message already starts
 * with it (Node's system errors read `ENOENT: no such file or directory, open 'x'`).
 */
export function errorText(e) {
  const message = String(e?.message ?? e)
  const code = typeof e?.code === 'string' ? e.code : undefined
  return code && !message.startsWith(code) ? `${code}: ${message}` : message
}

/**
 * A system error without the temporary path in Node's message: `no such file or directory (ENOENT)`.
 */
function systemReason(e) {
  const reason = /^[A-Z]+: ([^,]+)/.exec(String(e?.message))?.[1]
  return reason && e.code ? `${reason} (${e.code})` : errorText(e)
}

/** The bytes of `path`, or of standard input when it is `-`. Usage errors for missing or unreadable files. */
export function readInput(path) {
  if (path === STDIO) {
    try {
      return readFileSync(0)
    } catch (e) {
      fail(`cannot read standard input: ${errorText(e)}`)
    }
  }
  if (!existsSync(path)) fail(`no such file: ${path}`)
  try {
    return readFileSync(path)
  } catch (e) {
    fail(`cannot read ${path}: ${errorText(e)}`)
  }
}

/** Writes all of `bytes` to `fd`, through partial writes and EAGAIN on a non-blocking pipe. */
function writeAll(fd, bytes) {
  let at = 0
  while (at < bytes.byteLength) {
    try {
      at += writeSync(fd, bytes, at, bytes.byteLength - at)
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
    }
  }
}

/**
 * Where a command writes its binary output: standard output for `-` (refused when it is a
 * terminal), else a temporary file beside `path` that `commit()` renames onto `path`; `abort()`
 * (also run on SIGINT/SIGTERM) removes it, so a failed run leaves no output file behind and an
 * existing `path` untouched. `toStdout` says whether messages must stay off standard output.
 */
export function openOutput(path) {
  if (path === STDIO) {
    if (isatty(1)) fail('will not write binary data to a terminal: give -o FILE or pipe the output')
    return { toStdout: true, write: (bytes) => writeAll(1, bytes), commit() {}, abort() {} }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  let fd
  try {
    fd = openSync(tmp, 'wx')
  } catch (e) {
    fail(`cannot write ${path}: ${systemReason(e)}`)
  }
  let open = true
  const close = () => {
    if (open) closeSync(fd)
    open = false
  }
  const onSignal = (signal) => {
    abort()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  const stopWatching = () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  function abort() {
    stopWatching()
    close()
    rmSync(tmp, { force: true })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    toStdout: false,
    write: (bytes) => writeAll(fd, bytes),
    /** Writes `bytes` at byte `position` of the file (a header known only at the end). */
    writeAt(position, bytes) {
      for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at, position + at)
    },
    commit() {
      close()
      try {
        renameSync(tmp, path)
      } catch (e) {
        abort()
        fail(`cannot write ${path}: ${systemReason(e)}`)
      }
      stopWatching()
    },
    abort,
  }
}

/** Runs `body(out)` with `out = openOutput(path)`: commits when it returns, aborts when it throws. */
export async function withOutput(path, body) {
  const out = openOutput(path)
  try {
    const result = await body(out)
    out.commit()
    return result
  } catch (e) {
    out.abort()
    throw e
  }
}

/**
 * Progress of a long run on standard error, only when it is a terminal (never in pipes, logs or
 * captured output): `update(done, total)` redraws one line, `end()` clears it.
 */
export function progress(label) {
  if (!isatty(2)) return { update() {}, end() {} }
  let shown = false
  return {
    update(done, total) {
      shown = true
      process.stderr.write(`\r${label}: ${Math.floor((100 * done) / Math.max(total, 1))} % (${done} of ${total})`)
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[K')
    },
  }
}

/** How messages name `path`: `standard input` for `-`. */
export const displayName = (path) => (path === STDIO ? 'standard input' : path)

/** Bytes of the .npy header `npyHeaderBytes` writes: room for any shape, a multiple of 64. */
export const NPY_HEADER_BYTES = 128

/**
 * The header of a 2-D little-endian float32 .npy file (version 1.0) of `frames` rows of `dim`
 * values, padded to exactly `NPY_HEADER_BYTES`, so a placeholder written first can be replaced
 * in place once the row count is known.
 */
export function npyHeaderBytes(frames, dim) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${frames}, ${dim}), }`
  const headerLen = NPY_HEADER_BYTES - 10
  const out = Buffer.alloc(NPY_HEADER_BYTES, 0x20)
  out.write('\x93NUMPY', 0, 'latin1')
  out[6] = 1
  out[7] = 0
  out.writeUInt16LE(headerLen, 8)
  out.write(dict, 10, 'latin1')
  out[NPY_HEADER_BYTES - 1] = 0x0a
  return out
}

/** Whether `bytes` start with the .npy magic string. */
const isNpy = (bytes) => bytes.byteLength >= 6 && bytes.toString('latin1', 0, 6) === '\x93NUMPY'

/**
 * Frames from a .npy (2-D float32) or raw .f32 file, or standard input for `-` (.npy when it
 * starts with the .npy magic string): { frames: Float32Array, dim }.
 */
export function readFrames(path, dim) {
  const bytes = readInput(path)
  const name = displayName(path)
  if (path.endsWith('.npy') || (path === STDIO && isNpy(bytes))) return parseNpy(bytes, name)
  if (dim === undefined) fail(`${name}: raw f32 input needs --dim`)
  if (bytes.byteLength % (4 * dim) !== 0) {
    fail(`${name}: ${bytes.byteLength} bytes is not a whole number of ${dim}-value f32 frames`)
  }
  const frames = new Float32Array(bytes.byteLength / 4)
  new Uint8Array(frames.buffer).set(bytes)
  return { frames, dim }
}

export function parseNpy(bytes, path) {
  const { offset, n, dim } = npyHeader(bytes, path)
  if (bytes.byteLength - offset < n * dim * 4) fail(`${path}: truncated data`)
  const frames = new Float32Array(n * dim)
  new Uint8Array(frames.buffer).set(bytes.subarray(offset, offset + n * dim * 4))
  return { frames, dim }
}

/**
 * The header of a .npy file (2-D little-endian float32, C order): where its data starts, its
 * frames and values per frame; `null` when `bytes` do not hold the whole header yet (unless
 * `complete`, then a usage error), a usage error for any other kind of file.
 */
function npyHeader(bytes, path, complete = true) {
  const magic = '\x93NUMPY'
  const short = () => (complete ? fail(`${path}: not a .npy file`) : null)
  if (bytes.byteLength < 12) return short()
  if (bytes.toString('latin1', 0, 6) !== magic) fail(`${path}: not a .npy file`)
  const major = bytes[6]
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  if (bytes.byteLength < start + headerLen) return short()
  const header = bytes.toString('latin1', start, start + headerLen)
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1]
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr !== '<f4') fail(`${path}: dtype ${descr}, expected little-endian float32 ('<f4')`)
  if (fortran !== 'False') fail(`${path}: Fortran-ordered arrays are not supported`)
  const dims = (shape ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (dims.length !== 2) fail(`${path}: expected a 2-D array (frames × values), got shape (${shape})`)
  const [n, dim] = dims
  return { offset: start + headerLen, n, dim }
}

/**
 * Frames from a .npy or raw .f32 file (or standard input for `-`), read as a stream so memory
 * stays bounded whatever the file's size: `{ dim, frames, totalFrames }`, where `frames` yields
 * Buffers of whole frames (little-endian f32, at most `chunkBytes` each, or one frame) and
 * `totalFrames` is the file's frame count (undefined for standard input), for progress. The same usage errors as
 * `readFrames`, the ones about the data (truncated, not whole frames) when the stream ends.
 */
export async function streamFrames(path, dim, chunkBytes = 1 << 22) {
  const name = displayName(path)
  let source
  let totalBytes
  if (path === STDIO) {
    source = process.stdin
  } else {
    if (!existsSync(path)) fail(`no such file: ${path}`)
    source = createReadStream(path, { highWaterMark: 1 << 20 })
    try {
      totalBytes = statSync(path).size
    } catch (e) {
      fail(`cannot read ${path}: ${errorText(e)}`)
    }
  }
  const reader = source[Symbol.asyncIterator]()
  let done = false
  const next = async () => {
    try {
      const r = await reader.next()
      if (r.done) done = true
      return r.done ? null : r.value
    } catch (e) {
      fail(path === STDIO ? `cannot read standard input: ${errorText(e)}` : `cannot read ${path}: ${errorText(e)}`)
    }
  }
  // The head: enough bytes to tell .npy from raw f32 and to read a .npy header.
  let head = Buffer.alloc(0)
  let npy = null
  const wantNpy = path.endsWith('.npy')
  for (;;) {
    const sniffed = path === STDIO && head.byteLength >= 6 ? isNpy(head) : wantNpy
    if (!sniffed && (path !== STDIO || head.byteLength >= 6 || done)) break
    if (sniffed && (npy = npyHeader(head, name, done)) !== null) break
    const chunk = await next()
    if (chunk !== null) head = Buffer.concat([head, chunk])
  }
  let left = Infinity // data bytes still wanted (a .npy file says; raw f32 takes all)
  if (npy) {
    dim = npy.dim
    left = npy.n * npy.dim * 4
    head = head.subarray(npy.offset)
  } else if (dim === undefined) {
    fail(`${name}: raw f32 input needs --dim`)
  }
  const frameBytes = 4 * dim
  async function* frames() {
    let pending = [head]
    let held = head.byteLength
    let seen = 0
    const take = () => {
      const all = pending.length === 1 ? pending[0] : Buffer.concat(pending)
      const cap = Math.max(frameBytes, chunkBytes - (chunkBytes % frameBytes))
      const whole = Math.min(all.byteLength - (all.byteLength % frameBytes), left, cap)
      pending = [all.subarray(whole)]
      held = all.byteLength - whole
      left -= whole
      return all.subarray(0, whole)
    }
    for (;;) {
      while (left > 0 && (held >= chunkBytes || (done && held >= frameBytes))) {
        const out = take()
        if (out.byteLength === 0) break
        yield out
      }
      if (left === 0 || done) break
      const chunk = await next()
      if (chunk !== null) {
        seen += chunk.byteLength
        pending.push(chunk)
        held += chunk.byteLength
      }
    }
    if (npy && left > 0) fail(`${name}: truncated data`)
    if (!npy && held > 0) {
      fail(`${name}: ${head.byteLength + seen} bytes is not a whole number of ${dim}-value f32 frames`)
    }
    source.destroy?.()
  }
  const totalFrames = npy ? npy.n : totalBytes === undefined ? undefined : Math.floor(totalBytes / frameBytes)
  return { dim, frames: frames(), totalFrames }
}

/** A compressor writing every frame at `bits` in `format`. */
export function pinnedCompressor(tt, tensorLen, bits, format, groupLen) {
  return new tt.TemporalTensorCompressor({
    tensorLen,
    format,
    policy: { fixedBits: bits, ...(groupLen !== undefined ? { groupLen } : {}) },
  })
}

/** Frames `values` back to back at `bits` in `format`: the segments, their bytes and encode time. */
export function encodeAll(tt, values, dim, bits, format) {
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

export function decodeChunks(tt, seg, onValues) {
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
export function measure(tt, segments, original, dim) {
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

/** A bound as a percentage: 0.8, 6.5, 30, or more digits when it needs them (0.0123 -> 1.23). */
export function formatPercent(bound) {
  return Number((bound * 100).toPrecision(4)).toString()
}

export function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ').trimEnd()
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
}
