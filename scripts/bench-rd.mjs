// `npm run bench:rd`: rate–distortion of our compressor against SZ3 and ZFP on real traces
// (issue 9).
//
// 1. scripts/rd/make_traces.py makes (or reuses) the venv and the traces in traces/generated/.
// 2. scripts/rd/baselines.py runs SZ3 (pysz) and ZFP (zfpy) on each trace, bisecting their
//    absolute error parameter to the largest value that keeps every frame below each tier bound.
// 3. This script runs our compressor through the built package (dist/index.mjs) at each tier's
//    width: 'packed' (the fixed-width format) and, when the facade accepts `format`, 'coded'.
//
// Error of a frame (ADR-017 §8.2): max|v − v'| / max|v|; every frame must be strictly below the
// bound. Ratio = raw f32 bytes / compressed bytes. SNR = 10·log10(Σv² / Σ(v − v')²). Encode and
// decode MB/s are of raw f32 bytes, best of --repeats runs (default 3).
//
//   npm run bench:rd                          all traces, full length
//   node scripts/bench-rd.mjs --max-frames N  only the first N frames of each trace (quicker)
//   node scripts/bench-rd.mjs --traces a,b    only these traces (names in traces/generated/)
//   node scripts/bench-rd.mjs --no-baselines  our compressor only
//   node scripts/bench-rd.mjs --repeats N     timing runs per measurement, best kept (default 3)
//
// Writes bench-results/rd.json, rd.md and rd.svg. Figures are reported, never asserted, except that
// a frame of ours at or above its bound is reported as a violation and makes the exit status 1.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, relative } from 'node:path'
import { performance } from 'node:perf_hooks'
import { probe, root, run, step } from './lib.mjs'

const argv = process.argv.slice(2)
function option(name) {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const MAX_FRAMES = option('--max-frames') ? Number(option('--max-frames')) : 0
const ONLY = option('--traces')?.split(',').filter(Boolean) ?? null
const REPEATS = Number(option('--repeats') ?? 3)
const BASELINES = !argv.includes('--no-baselines')
// Internal: the run of the coded format on the WebAssembly backend, in a child process started
// with TEMPORAL_TENSOR_BACKEND=wasm; it writes its measurements to this file and nothing else.
const WASM_CHILD_OUT = option('--wasm-child-out')
const PYTHON = process.env.PYTHON ?? 'python3'

const TIERS = [
  { tier: 'hot', bits: 8, bound: 0.008 },
  { tier: 'warm7', bits: 7, bound: 0.016 },
  { tier: 'warm5', bits: 5, bound: 0.065 },
  { tier: 'cold', bits: 3, bound: 0.3 },
]
const outDir = join(root, 'bench-results')
const workDir = join(root, 'target', 'bench-rd')
mkdirSync(outDir, { recursive: true })
mkdirSync(workDir, { recursive: true })
const started = performance.now()
const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100)

// ---------------------------------------------------------------------------------------------
// Traces and baselines (Python).

function python(args, what) {
  const r = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 })
  if (r.error || r.status !== 0) {
    console.error(`\n✖ ${what} failed (${r.error?.message ?? `exit ${r.status}`})`)
    process.exit(1)
  }
  return JSON.parse(r.stdout)
}

step('Traces (scripts/rd/make_traces.py)')
const made = python(['scripts/rd/make_traces.py'], 'make_traces.py')
let traces = made.traces
if (ONLY) traces = traces.filter((t) => ONLY.includes(t.name))
if (traces.length === 0) {
  console.error('no traces to run')
  process.exit(1)
}
for (const t of traces) console.log(`  ${t.name}  ${t.shape.join(' × ')}  ${t.file}`)

/** Reads a 2-D little-endian float32 C-order NPY file (v1 to v3 headers). */
function readNpy(path) {
  const buf = readFileSync(path)
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not an NPY file`)
  const major = buf[6]
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = buf.toString('latin1', start, start + headerLen)
  const descr = header.match(/'descr':\s*'([^']+)'/)?.[1]
  const fortran = header.match(/'fortran_order':\s*(True|False)/)?.[1]
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)?.[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  if (descr !== '<f4' || fortran !== 'False' || shape?.length !== 2) {
    throw new Error(`${path}: expected '<f4', C order, 2-D; got ${descr}, fortran ${fortran}, shape ${shape}`)
  }
  const [frames, dim] = shape
  const offset = start + headerLen
  const data = new Float32Array(frames * dim)
  new Uint8Array(data.buffer).set(buf.subarray(offset, offset + frames * dim * 4))
  return { frames, dim, data }
}

// ---------------------------------------------------------------------------------------------
// Our compressor.

if (!process.env.BENCH_RD_MODULE && !existsSync(join(root, 'dist', 'index.mjs'))) {
  step('dist/ is missing: node scripts/setup.mjs')
  run(process.execPath, ['scripts/setup.mjs'])
}
/** Which build was measured: the checkout's commit, whether the library sources differ from it,
 * and when the loaded bundle was built. */
function buildInfo() {
  const modulePath = process.env.BENCH_RD_MODULE ?? join(root, 'dist', 'index.mjs')
  const changed = probe('git', ['status', '--porcelain', '--', 'crates', 'src-ts'])
  return {
    module: relative(root, modulePath) || modulePath,
    moduleBuilt: existsSync(modulePath) ? statSync(modulePath).mtime.toISOString() : null,
    commit: probe('git', ['rev-parse', '--short', 'HEAD']),
    uncommittedLibraryFiles: changed === null ? null : changed.split('\n').filter(Boolean).length,
  }
}

const build = buildInfo() // before the import, so that it describes the bundle loaded
// BENCH_RD_MODULE: another build of the package to measure (default: this checkout's dist/).
const lib = process.env.BENCH_RD_MODULE
  ? await import(new URL(process.env.BENCH_RD_MODULE, `file://${process.cwd()}/`).href)
  : await import('../dist/index.mjs')
const { TemporalTensorCompressor, TemporalTensorError, decodeSegment, segmentInfo } = lib

/** True when the facade refuses these options (INVALID_ARGUMENT, or INVALID_CONFIG from the core). */
function rejectsAsInvalid(options) {
  try {
    new TemporalTensorCompressor(options).free()
    return false
  } catch (e) {
    if (e instanceof TemporalTensorError && (e.code === 'INVALID_ARGUMENT' || e.code === 'INVALID_CONFIG')) return true
    throw e
  }
}
// `format`: the facade knows it if it rejects a value that is not a format (today's facade ignores
// unknown top-level options, so accepting 'coded' alone proves nothing), and then 'coded' must build.
const formatKnown = rejectsAsInvalid({ tensorLen: 4, nowTs: 0, format: 'no-such-format' })
const codedAvailable = formatKnown && !rejectsAsInvalid({ tensorLen: 4, nowTs: 0, format: 'coded' })
// `policy.fixedBits`: today's facade rejects unknown policy keys with INVALID_ARGUMENT.
const fixedBits = !rejectsAsInvalid({ tensorLen: 4, nowTs: 0, policy: { fixedBits: 8 } })
const CODECS = WASM_CHILD_OUT ? ['coded'] : codedAvailable ? ['packed', 'coded'] : ['packed']
/** The row name of the coded format run on the WebAssembly backend (same bytes, other speed). */
const CODED_WASM = 'coded (WASM)'

/** Policy pinning one width: policy.fixedBits when there is one, else access-score thresholds
 * (no access recorded, so the score is 0: hot when hotMinScore is 0, cold when both are 2^32 − 1). */
function policyFor(bits) {
  if (fixedBits) return { fixedBits: bits }
  const never = 0xffffffff
  switch (bits) {
    case 8: return { hotMinScore: 0, warmMinScore: 0 }
    case 7: return { hotMinScore: never, warmMinScore: 0, warmBits: 7 }
    case 5: return { hotMinScore: never, warmMinScore: 0, warmBits: 5 }
    case 3: return { hotMinScore: never, warmMinScore: never }
    default: throw new Error(`no policy for ${bits} bits`)
  }
}

function options(codec, dim, bits) {
  const o = { tensorLen: dim, nowTs: 0, policy: policyFor(bits) }
  if (formatKnown) o.format = codec
  return o
}

function encodeOnce(codec, trace, bits) {
  const c = new TemporalTensorCompressor(options(codec, trace.dim, bits))
  try {
    const t0 = performance.now()
    const segments = c.pushMany(trace.data, 0)
    const last = c.flush()
    const ms = performance.now() - t0
    if (last !== null) segments.push(last)
    return { segments, ms }
  } finally {
    c.free()
  }
}

function decodeOnce(segments) {
  const t0 = performance.now()
  const parts = segments.map((s) => decodeSegment(s))
  return { parts, ms: performance.now() - t0 }
}

/** Worst frame error, SNR and the frames at or above `bound`. */
function distortion(trace, decoded, bound) {
  const { frames, dim, data } = trace
  let worst = 0
  let worstFrame = -1
  let violations = 0
  let signal = 0
  let noise = 0
  for (let f = 0; f < frames; f++) {
    let maxAbs = 0
    let maxErr = 0
    const base = f * dim
    for (let i = 0; i < dim; i++) {
      const v = data[base + i]
      const d = v - decoded[base + i]
      const a = Math.abs(v)
      if (a > maxAbs) maxAbs = a
      const e = Math.abs(d)
      if (e > maxErr) maxErr = e
      signal += v * v
      noise += d * d
    }
    const rel = maxAbs > 0 ? maxErr / maxAbs : maxErr > 0 ? Infinity : 0
    if (rel >= bound) violations++
    if (rel > worst) {
      worst = rel
      worstFrame = f
    }
  }
  return { worst, worstFrame, violations, snrDb: noise > 0 ? 10 * Math.log10(signal / noise) : null }
}

function measureOurs(codec, trace, { tier, bits, bound }) {
  const rawBytes = trace.frames * trace.dim * 4
  let enc = Infinity
  let segments
  // WebAssembly code is compiled in tiers while it runs: one untimed pass first, so that the
  // timed ones measure the optimised code (native code needs none).
  if (WASM_CHILD_OUT) decodeOnce(encodeOnce(codec, trace, bits).segments)
  for (let r = 0; r < REPEATS; r++) {
    const run = encodeOnce(codec, trace, bits)
    enc = Math.min(enc, run.ms)
    segments = run.segments
  }
  let dec = Infinity
  let parts
  for (let r = 0; r < REPEATS; r++) {
    const run = decodeOnce(segments)
    dec = Math.min(dec, run.ms)
    parts = run.parts
  }
  const decoded = new Float32Array(trace.frames * trace.dim)
  let at = 0
  for (const p of parts) {
    decoded.set(p, at)
    at += p.length
  }
  if (at !== decoded.length) throw new Error(`${codec} ${tier}: decoded ${at} values, expected ${decoded.length}`)
  const bytes = segments.reduce((n, s) => n + s.byteLength, 0)
  const digest = createHash('sha256')
  for (const s of segments) digest.update(s)
  const widths = {}
  const versions = new Set()
  for (const s of segments) {
    let info = null
    try {
      info = segmentInfo(s)
    } catch {
      // a segment kind segmentInfo does not describe: widths unknown
    }
    const bitsKey = info ? info.bits : '?'
    widths[bitsKey] = (widths[bitsKey] ?? 0) + (info ? info.frameCount : 0)
    versions.add(info ? info.version : null)
  }
  const d = distortion(trace, decoded, bound)
  return {
    bound,
    bits,
    ratio: rawBytes / bytes,
    bytes,
    worstRelErr: d.worst,
    worstFrame: d.worstFrame,
    violations: d.violations,
    snrDb: d.snrDb,
    encMBps: rawBytes / (enc / 1000) / 1e6,
    decMBps: rawBytes / (dec / 1000) / 1e6,
    segments: segments.length,
    framesByBits: widths,
    segmentVersions: [...versions],
    sha256: digest.digest('hex'),
  }
}

// ---------------------------------------------------------------------------------------------
// Runs.

const results = []
let anyViolation = false
for (const t of traces) {
  const full = readNpy(join(root, t.file))
  let trace = full
  let npyForBaselines = join(root, t.file)
  if (MAX_FRAMES > 0 && full.frames > MAX_FRAMES) {
    trace = { frames: MAX_FRAMES, dim: full.dim, data: full.data.subarray(0, MAX_FRAMES * full.dim) }
    npyForBaselines = join(workDir, `${t.name}.first${MAX_FRAMES}.npy`)
    writeNpy(npyForBaselines, trace)
  }
  step(`${t.name}: ${trace.frames} × ${trace.dim}${trace.frames < full.frames ? ` (first ${trace.frames} of ${full.frames} frames)` : ''}`)
  let baselines = null
  if (BASELINES && !WASM_CHILD_OUT) {
    const bounds = TIERS.map(({ tier, bound }) => `${tier}=${bound}`).join(',')
    baselines = python(['scripts/rd/baselines.py', npyForBaselines, '--bounds', bounds, '--repeats', String(REPEATS)], `baselines.py ${t.name}`)
  }
  const ours = {}
  for (const codec of CODECS) {
    ours[codec] = {}
    for (const tierSpec of TIERS) {
      const r = measureOurs(codec, trace, tierSpec)
      ours[codec][tierSpec.tier] = r
      if (r.violations > 0) {
        anyViolation = true
        console.error(`\x1b[1;31m✖ BOUND VIOLATION: ${t.name} ${codec} ${tierSpec.tier}: ${r.violations} frame(s) at or above ${tierSpec.bound}; worst ${r.worstRelErr} at frame ${r.worstFrame}\x1b[0m`)
      }
      const wrong = Object.keys(r.framesByBits).filter((b) => Number(b) !== tierSpec.bits)
      if (wrong.length > 0) console.error(`! ${t.name} ${codec} ${tierSpec.tier}: frames stored at ${JSON.stringify(r.framesByBits)} bits, expected ${tierSpec.bits}`)
    }
  }
  const entry = {
    name: t.name,
    file: t.file,
    sha256: t.sha256,
    description: t.description,
    shapeFull: [full.frames, full.dim],
    shapeUsed: [trace.frames, trace.dim],
    validationMaxAbsDiff: t.validation_max_abs_diff ?? null,
    baselines,
    ours,
  }
  results.push(entry)
  if (!WASM_CHILD_OUT) console.log(table(entry).text)
}

if (WASM_CHILD_OUT) {
  // The child's whole job: its coded measurements, for the parent to merge.
  const out = { backend: lib.backend, kernels: lib.kernels, traces: results.map((e) => ({ name: e.name, coded: e.ours.coded })) }
  writeFileSync(WASM_CHILD_OUT, JSON.stringify(out))
  process.exit(anyViolation ? 1 : 0)
}

// The coded format again on the WebAssembly backend (the facade's fallback, forced with
// TEMPORAL_TENSOR_BACKEND=wasm in a child process): its speed, and a check that its segments are
// byte for byte the native ones.
let wasmRun = null
if (codedAvailable && !process.env.BENCH_RD_MODULE) {
  step(`${CODED_WASM}: the same traces and tiers on the WebAssembly backend`)
  const childOut = join(workDir, 'wasm-coded.json')
  const args = [process.argv[1], '--no-baselines', '--wasm-child-out', childOut, '--repeats', String(REPEATS)]
  if (MAX_FRAMES > 0) args.push('--max-frames', String(MAX_FRAMES))
  if (ONLY) args.push('--traces', ONLY.join(','))
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, TEMPORAL_TENSOR_BACKEND: 'wasm' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (r.status !== 0 || !existsSync(childOut)) {
    console.error(`\x1b[1;31m✖ ${CODED_WASM} run failed (exit ${r.status})\x1b[0m`)
    anyViolation = true
  } else {
    wasmRun = JSON.parse(readFileSync(childOut, 'utf8'))
    for (const entry of results) {
      const coded = wasmRun.traces.find((t) => t.name === entry.name)?.coded
      if (!coded) continue
      entry.ours[CODED_WASM] = coded
      for (const { tier } of TIERS) {
        const same = coded[tier].sha256 === entry.ours.coded[tier].sha256
        coded[tier].sameBytesAsNative = same
        if (!same) {
          anyViolation = true
          console.error(`\x1b[1;31m✖ ${entry.name} ${tier}: WebAssembly segments differ from the native ones\x1b[0m`)
        }
      }
      const rows = TIERS.map(({ tier }) => `${tier} enc ${fmt(coded[tier].encMBps, 0)} dec ${fmt(coded[tier].decMBps, 0)} MB/s`)
      console.log(`  ${entry.name} (${wasmRun.backend}, ${wasmRun.kernels}): ${rows.join('; ')}; same bytes as native: ${TIERS.every(({ tier }) => coded[tier].sameBytesAsNative) ? 'yes' : 'NO'}`)
    }
  }
}

function writeNpy(path, trace) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${trace.frames}, ${trace.dim}), }`
  const pad = (64 - ((10 + header.length + 1) % 64)) % 64
  header = header + ' '.repeat(pad) + '\n'
  const head = Buffer.alloc(10 + header.length)
  head.write('\x93NUMPY', 0, 'latin1')
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(header.length, 8)
  head.write(header, 10, 'latin1')
  writeFileSync(path, Buffer.concat([head, Buffer.from(trace.data.buffer, trace.data.byteOffset, trace.data.byteLength)]))
}

// ---------------------------------------------------------------------------------------------
// Report.

/** An error, cut (not rounded) to 6 decimals, so that a value below a bound never prints as the bound. */
function fmtErr(x) {
  if (x === null || x === undefined) return '—'
  if (!Number.isFinite(x)) return String(x)
  return (Math.floor(x * 1e6) / 1e6).toFixed(6)
}

function fmt(x, digits) {
  if (x === null || x === undefined) return '—'
  if (!Number.isFinite(x)) return String(x)
  return x.toFixed(digits)
}

/** Rows of one trace: SZ3, ZFP, then ours, each at every tier. */
function rowsOf(entry) {
  const rows = []
  const sz3 = entry.baselines?.codecs?.sz3?.results ?? {}
  for (const [codec, label] of [['sz3', 'SZ3'], ['zfp', 'ZFP']]) {
    const res = entry.baselines?.codecs?.[codec]?.results
    if (!res) continue
    for (const { tier, bound } of TIERS) {
      const r = res[tier]
      rows.push({ codec: label, tier, bound, r: r?.feasible ? r : null, param: r?.feasible ? `${entry.baselines.codecs[codec].parameter}=${r[entry.baselines.codecs[codec].parameter].toPrecision(4)}` : 'none meets the bound' })
    }
  }
  for (const codec of Object.keys(entry.ours)) {
    for (const { tier, bound, bits } of TIERS) {
      const r = entry.ours[codec][tier]
      rows.push({ codec, tier, bound, r, param: `${bits} bits${r.violations ? `, ${r.violations} VIOLATIONS` : ''}` })
    }
  }
  for (const row of rows) {
    const s = sz3[row.tier]
    row.vsSz3 = row.r && s?.feasible ? row.r.ratio / s.ratio : null
  }
  return rows
}

function table(entry) {
  const head = ['codec', 'tier', 'bound', 'ratio', 'worst err', 'SNR dB', 'enc MB/s', 'dec MB/s', '÷SZ3', 'setting']
  const body = rowsOf(entry).map((row) => [
    row.codec,
    row.tier,
    String(row.bound),
    fmt(row.r?.ratio, 2),
    fmtErr(row.r?.worstRelErr),
    fmt(row.r?.snrDb, 1),
    fmt(row.r?.encMBps, 0),
    fmt(row.r?.decMBps, 0),
    fmt(row.vsSz3, 2),
    row.param,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (cells) => cells.map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  const text = [`\n${entry.name}  (${entry.shapeUsed.join(' × ')})`, line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)].join('\n')
  const md = [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i < 2 || i === head.length - 1 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
  return { text, md }
}

function cpu() {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
  const block = info.split(/\n\s*\n/)[0] ?? ''
  const field = (name) => block.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? null
  return {
    vendor: field('vendor_id'),
    family: field('cpu family'),
    model: field('model'),
    modelName: field('model name') ?? os.cpus()[0]?.model ?? null,
    cores: os.cpus().length,
  }
}

const machine = cpu()
const date = new Date().toISOString()
const report = {
  date,
  cpu: machine,
  node: process.version,
  backend: lib.backend,
  kernels: lib.kernels,
  build,
  facade: { format: formatKnown, coded: codedAvailable, fixedBits },
  wasm: wasmRun ? { backend: wasmRun.backend, kernels: wasmRun.kernels } : null,
  codecs: CODECS,
  loadAverageAtStart: loadAtStart,
  repeats: REPEATS,
  maxFrames: MAX_FRAMES || null,
  tiers: TIERS,
  metric: 'frame error = max|v − v′| / max|v|; a setting meets a bound when every frame is strictly below it; ratio = raw f32 bytes / compressed bytes; SNR = 10·log10(Σv² / Σ(v − v′)²); MB/s of raw f32 bytes, best of repeats',
  validation: made.validation ?? null,
  traces: results,
  seconds: Math.round((performance.now() - started) / 100) / 10,
}
writeFileSync(join(outDir, 'rd.json'), JSON.stringify(report, null, 2) + '\n')
writeFileSync(join(outDir, 'rd.md'), markdown(report))
writeFileSync(join(outDir, 'rd.svg'), chart(report))
console.log(`\nwrote ${['rd.json', 'rd.md', 'rd.svg'].map((f) => relative(root, join(outDir, f))).join(', ')} (${report.seconds} s)`)
if (anyViolation) {
  console.error('\x1b[1;31m✖ at least one frame of ours was at or above its bound (see above)\x1b[0m')
  process.exitCode = 1
}

function markdown(rep) {
  const cpuLine = `${rep.cpu.modelName} (vendor ${rep.cpu.vendor}, family ${rep.cpu.family}, model ${rep.cpu.model}), ${rep.cpu.cores} cores`
  const out = [
    '# Rate–distortion at the tier bounds (issue 9)',
    '',
    `Run ${rep.date} on ${cpuLine}; Node ${rep.node}, backend ${rep.backend} (${rep.kernels}); ` +
      `our codecs: ${rep.codecs.join(', ')}${rep.facade.coded ? '' : ' (the facade has no `format` option yet, so only the packed format)'}; ` +
      `widths pinned with ${rep.facade.fixedBits ? '`policy.fixedBits`' : 'access-score thresholds (no `policy.fixedBits` yet)'}. ` +
      `Load average at the start: ${rep.loadAverageAtStart.join(', ')} (the machine may be shared: MB/s are indicative).` +
      (rep.wasm
        ? ` Rows "${CODED_WASM}": the coded format on the WebAssembly backend (${rep.wasm.backend}, ${rep.wasm.kernels}; TEMPORAL_TENSOR_BACKEND=wasm), whose segments are byte for byte the native ones (checked by SHA-256).`
        : ''),
    '',
    `Build measured: ${rep.build.module} built ${rep.build.moduleBuilt}, checkout at ${rep.build.commit}` +
      (rep.build.uncommittedLibraryFiles ? ` with ${rep.build.uncommittedLibraryFiles} uncommitted file(s) under crates/ and src-ts/ (the bundle may include them).` : '.'),
    '',
    'Frame error = max|v − v′| / max|v| (ADR-017 §8.2). A setting meets a bound when every frame is strictly below it. ' +
      'Ratio = raw f32 bytes / compressed bytes. SNR = 10·log10(Σv² / Σ(v − v′)²). MB/s are of raw f32 bytes, best of ' +
      `${rep.repeats} runs, one thread. SZ3 (pysz, ABS mode) and ZFP (zfpy, fixed accuracy) compress the whole 2-D array; ` +
      'their absolute error parameter is bisected (log scale, 25 steps) to the largest value that meets the bound. ' +
      '÷SZ3 is the row\'s ratio over SZ3\'s at the same bound.',
    '',
  ]
  if (rep.validation) {
    out.push(`The numpy BERT that made the text traces reproduces traces/minilm-stdlib-384.npy (sentence-transformers + torch) to a max abs difference of ${rep.validation.max_abs_diff.toExponential(2)} over ${rep.validation.sentences} sentences.`, '')
  }
  for (const e of rep.traces) {
    out.push(`## ${e.name} (${e.shapeUsed.join(' × ')}${e.shapeUsed[0] < e.shapeFull[0] ? `, first ${e.shapeUsed[0]} of ${e.shapeFull[0]} frames` : ''})`, '', e.description, '', table(e).md, '')
  }
  out.push('![ratio per tier](rd.svg)', '', 'Regenerate: `npm run bench:rd` (traces: `npm run traces`; see scripts/rd/README.md).', '')
  return out.join('\n')
}

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Grouped bars of ratio (log scale) per tier and codec, one panel per trace. */
function chart(rep) {
  const series = [
    { key: 'SZ3', color: '#4e79a7' },
    { key: 'ZFP', color: '#59a14f' },
    { key: 'packed', color: '#f28e2b' },
    { key: 'coded', color: '#e15759' },
  ].filter((s) => rep.traces.some((e) => rowsOf(e).some((r) => r.codec === s.key)))
  const panelW = 460
  const panelH = 300
  const cols = Math.min(2, rep.traces.length)
  const rowsN = Math.ceil(rep.traces.length / cols)
  const W = cols * panelW + 20
  const H = rowsN * panelH + 90
  const all = rep.traces.flatMap((e) => rowsOf(e).map((r) => r.r?.ratio).filter((x) => x > 0))
  const top = 2 ** Math.ceil(Math.log2(Math.max(2, ...all)))
  const bottom = 1
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">Compression ratio at each tier's error bound (every frame below it; log scale)</text>`,
  ]
  series.forEach((s, i) => {
    const x = 20 + i * 110
    parts.push(`<rect x="${x}" y="32" width="12" height="12" fill="${s.color}"/><text x="${x + 17}" y="42">${esc(s.key)}</text>`)
  })
  parts.push(`<text x="${W - 10}" y="42" text-anchor="end" fill="#555">${esc(rep.date.slice(0, 10))} · ${esc(rep.cpu.modelName ?? '')}</text>`)
  rep.traces.forEach((e, idx) => {
    const ox = 10 + (idx % cols) * panelW
    const oy = 60 + Math.floor(idx / cols) * panelH
    const left = ox + 50
    const right = ox + panelW - 15
    const y0 = oy + panelH - 45
    const y1 = oy + 30
    const y = (v) => y0 - ((Math.log2(v) - Math.log2(bottom)) / (Math.log2(top) - Math.log2(bottom))) * (y0 - y1)
    parts.push(`<text x="${(left + right) / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${esc(e.name)} (${e.shapeUsed.join('×')})</text>`)
    for (let v = bottom; v <= top; v *= 2) {
      parts.push(`<line x1="${left}" x2="${right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`)
      parts.push(`<text x="${left - 5}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${v}</text>`)
    }
    parts.push(`<line x1="${left}" x2="${left}" y1="${y1}" y2="${y0}" stroke="#888"/><line x1="${left}" x2="${right}" y1="${y0}" y2="${y0}" stroke="#888"/>`)
    parts.push(`<text transform="translate(${ox + 14},${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle" fill="#555">ratio</text>`)
    const rows = rowsOf(e)
    const groupW = (right - left) / TIERS.length
    const barW = Math.min(22, (groupW - 14) / series.length)
    TIERS.forEach(({ tier, bound }, ti) => {
      const gx = left + ti * groupW + (groupW - barW * series.length) / 2
      series.forEach((s, si) => {
        const row = rows.find((r) => r.codec === s.key && r.tier === tier)
        const v = row?.r?.ratio
        if (!(v > 0)) return
        const bx = gx + si * barW
        const by = y(Math.max(v, bottom))
        parts.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 - by).toFixed(1)}" fill="${s.color}"><title>${esc(`${e.name} ${s.key} ${tier}: ratio ${v.toFixed(2)}, worst ${fmtErr(row.r.worstRelErr)}`)}</title></rect>`)
        parts.push(`<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(by - 3).toFixed(1)}" text-anchor="middle" font-size="8" fill="#333">${v < 10 ? v.toFixed(1) : v.toFixed(0)}</text>`)
      })
      parts.push(`<text x="${(left + ti * groupW + groupW / 2).toFixed(1)}" y="${y0 + 15}" text-anchor="middle">${tier}</text>`)
      parts.push(`<text x="${(left + ti * groupW + groupW / 2).toFixed(1)}" y="${y0 + 28}" text-anchor="middle" fill="#777" font-size="9">&lt; ${bound}</text>`)
    })
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
