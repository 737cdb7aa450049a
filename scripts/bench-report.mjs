// The report of `npm run bench` (scripts/bench.mjs runs the benches and collects their rows):
// derived figures (GB/s, ratios to Rust's default kernels, to a memcpy of the frame and to the
// TypeScript baseline; sets slower than scalar), per-width summaries, the goals (reported, never
// asserted), the memory table and the chart; printed, and written as results.json, results.md
// and chart.svg.
//
// A row is { backend, kernels, op, bits, dim, nsPerFrame, nsPerFrameBest?, stream?, api? } from any
// run. A new backend's rows appear in the full table as they are; give it a name in series() and
// a place in BACKEND_ORDER (and SUMMARY_SERIES for the per-width summary) to read well.
import { writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { root } from './lib.mjs'

const WIDTHS = [8, 7, 5, 3]
const BACKEND_ORDER = ['rust', 'native', 'wasm', 'python', 'ts-baseline', 'memcpy-js']
const OP_ORDER = ['copy', 'encode', 'push', 'decode']

const fmtNs = (ns) => (ns >= 100_000 ? ns.toFixed(0) : ns >= 100 ? ns.toFixed(0) : ns.toFixed(1))
const fmtX = (x) => (x == null ? '—' : `${x < 10 ? x.toFixed(2) : x.toFixed(1)}×`)
const fmtGb = (g) => (g >= 10 ? g.toFixed(1) : g.toFixed(2))
const HEAD = ['dim', 'op', 'bits', 'backend / kernels', 'ns/frame', 'GB/s f32', '× memcpy', '÷ Rust best', '÷ TS int8', 'note']

function textTable(head, body, right = new Set()) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)))
  const line = (row) => row.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  ')]
  let prev
  for (const row of body) {
    if (prev !== undefined && prev !== row[0]) out.push('')
    prev = row[0]
    out.push(line(row))
  }
  return out.join('\n')
}
function mdTable(head, body, right = new Set()) {
  const esc = (c) => c.replace(/\|/g, '\\|')
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, i) => (right.has(i) ? '---:' : '---')).join(' | ')} |`,
    ...body.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n')
}
const RIGHT = new Set([0, 2, 4, 5, 6, 7, 8])

/** Whether a row is of the coded format (`coded`: the default kernel set; `coded/<set>`: another). */
const isCoded = (r) => r.kernels === 'coded' || r.kernels.startsWith('coded/')

/** A readable name per backend/kernels. */
function series(r) {
  if (r.backend === 'rust') return r.kernels === 'memcpy' ? 'Rust memcpy (copy_from_slice)' : `Rust ${r.kernels}${r.stream === 'drifting' ? ' (drifting stream)' : ''}`
  if (r.backend === 'native') return `Node native ${r.kernels}`
  if (r.backend === 'wasm') return r.kernels === 'simd128' ? 'Node WASM simd128' : `Node WASM baseline (${r.kernels})`
  if (r.backend === 'python') return `Python (numpy) ${r.kernels}`
  if (r.backend === 'ts-baseline') return 'Node TypeScript int8'
  if (r.backend === 'memcpy-js') return r.kernels === 'slice()' ? 'Node Float32Array slice()' : 'Node Float32Array set()'
  return `${r.backend} ${r.kernels}`
}
const opName = (r) =>
  r.op === 'encode' ? (r.backend === 'rust' ? 'encode' : r.api ? `encode (${r.api})` : 'encode') : r.op === 'push' ? 'encode (push ×1)' : r.op === 'decode' && r.api ? `decode (${r.api})` : r.op

/**
 * Adds the derived figures to `rows` (in place: gbps, vsRust, vsTs, vsMemcpy, vsScalar, the CPU
 * fields) and sorts them; returns the lookups the report is made of.
 */
function derive(rows, machine) {
  // The set the library picks on this CPU (the bench marks its rows), else the first SIMD one.
  const rustBest =
    rows.find((r) => r.backend === 'rust' && r.isDefault && r.kernels !== 'memcpy' && !isCoded(r))?.kernels ??
    rows.find((r) => r.backend === 'rust' && !['scalar', 'memcpy'].includes(r.kernels) && !isCoded(r))?.kernels ??
    'scalar'
  const nativeBest = rows.find((r) => r.backend === 'native' && r.kernels !== 'scalar' && !r.forced)?.kernels
  const pythonKernels = rows.find((r) => r.backend === 'python')?.kernels
  const refOp = (op) => (op === 'push' ? 'encode' : op)
  /** The first row matching `q`; Rust rows of the stable stream unless `q` names a stream. */
  const find = (q) => rows.find((r) => Object.entries(q).every(([k, v]) => r[k] === v) && (q.stream !== undefined || (r.stream ?? 'stable') === 'stable'))
  const cpuId = `${machine.cpuVendor ?? '?'} family ${machine.cpuFamily ?? '?'} model ${machine.cpuModelNumber ?? '?'}`

  for (const r of rows) {
    r.gbps = +((r.dim * 4) / r.nsPerFrame).toFixed(3)
    const rust =
      r.op === 'copy'
        ? find({ backend: 'rust', kernels: 'memcpy', op: 'copy', dim: r.dim })
        : find({ backend: 'rust', kernels: rustBest, op: refOp(r.op), bits: r.bits, dim: r.dim })
    r.vsRust = rust ? +(r.nsPerFrame / rust.nsPerFrame).toFixed(3) : null
    const ts = r.op === 'copy' ? undefined : find({ backend: 'ts-baseline', op: refOp(r.op), dim: r.dim })
    r.vsTs = ts ? +(r.nsPerFrame / ts.nsPerFrame).toFixed(3) : null
    // Ratio to a memcpy of the frame's bytes (Rust copy_from_slice of dim × 4 bytes).
    const memcpy = find({ backend: 'rust', kernels: 'memcpy', op: 'copy', dim: r.dim })
    r.vsMemcpy = memcpy ? +(r.nsPerFrame / memcpy.nsPerFrame).toFixed(3) : null
    // Every result carries the CPU it ran on.
    r.cpuVendor ??= machine.cpuVendor
    r.cpuFamily ??= machine.cpuFamily
    r.cpuModel ??= machine.cpuModelNumber
    r.cpuModelName ??= machine.cpu
  }
  // Any set slower than scalar for the same backend, format, op, width, dim and stream.
  const slowerThanScalar = rows.filter((r) => {
    if (['scalar', 'coded/scalar', 'memcpy', 'js', 'slice()', 'TypedArray.set'].includes(r.kernels) || r.op === 'copy') return false
    const scalar = isCoded(r) ? 'coded/scalar' : 'scalar' // the coded rows' own reference
    const s = rows.find((x) => x.backend === r.backend && x.kernels === scalar && x.op === r.op && x.bits === r.bits && x.dim === r.dim && (x.stream ?? 'stable') === (r.stream ?? 'stable') && x.api === r.api)
    if (s) r.vsScalar = +(r.nsPerFrame / s.nsPerFrame).toFixed(3)
    // Slower in the median and, where both have one, in the best round or call (not just noise).
    const best = r.nsPerFrameBest != null && s?.nsPerFrameBest != null ? r.nsPerFrameBest > s.nsPerFrameBest : true
    return s && r.nsPerFrame > s.nsPerFrame && best
  })

  const kernelRank = (r) => (r.kernels === 'scalar' ? 0 : r.kernels === 'avx2' ? 1 : r.kernels === 'slice()' ? 3 : 2)
  rows.sort(
    (a, b) =>
      a.dim - b.dim ||
      OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) ||
      b.bits - a.bits ||
      BACKEND_ORDER.indexOf(a.backend) - BACKEND_ORDER.indexOf(b.backend) ||
      (a.stream === 'drifting') - (b.stream === 'drifting') ||
      kernelRank(a) - kernelRank(b),
  )
  const SUMMARY_SERIES = [
    { backend: 'rust', kernels: 'scalar' },
    ...(rows.some((r) => r.backend === 'rust' && r.kernels === 'avx2') ? [{ backend: 'rust', kernels: 'avx2' }] : []),
    { backend: 'rust', kernels: rustBest },
    { backend: 'native', kernels: 'scalar' },
    ...(nativeBest ? [{ backend: 'native', kernels: nativeBest }] : []),
    { backend: 'wasm', kernels: 'scalar' },
    { backend: 'wasm', kernels: 'simd128' },
    ...(pythonKernels ? [{ backend: 'python', kernels: pythonKernels }] : []),
  ].filter((s, i, all) => all.findIndex((t) => t.backend === s.backend && t.kernels === s.kernels) === i)
  const dims = [...new Set(rows.map((r) => r.dim))].sort((a, b) => a - b)
  return { rustBest, nativeBest, pythonKernels, find, cpuId, slowerThanScalar, summarySeries: SUMMARY_SERIES, dims }
}

/** Per-width encode/decode ns for one dim: { head, body, floor }. */
function summary({ find, nativeBest, pythonKernels, summarySeries: SUMMARY_SERIES }, dim) {
  const head = ['backend / kernels', ...WIDTHS.map((b) => `enc ${b}b`), ...WIDTHS.map((b) => `dec ${b}b`)]
  const body = []
  for (const s of SUMMARY_SERIES) {
    const cells = [...WIDTHS.map((b) => find({ ...s, op: 'encode', bits: b, dim })), ...WIDTHS.map((b) => find({ ...s, op: 'decode', bits: b, dim }))]
    if (cells.every((c) => !c)) continue
    body.push([series(s), ...cells.map((c) => (c ? fmtNs(c.nsPerFrame) : '—'))])
  }
  for (const backend of ['native', 'wasm']) {
    const kernels = backend === 'native' ? nativeBest : 'simd128'
    const into = WIDTHS.map((b) => find({ backend, kernels, op: 'encode', api: 'pushManyInto', bits: b, dim }))
    if (into.some(Boolean)) body.push([`${series({ backend, kernels })}, pushManyInto (reused out)`, ...into.map((c) => (c ? fmtNs(c.nsPerFrame) : '—')), '', '', '', ''])
  }
  const push = WIDTHS.map((b) => find({ backend: 'native', kernels: nativeBest, op: 'push', bits: b, dim }))
  if (push.some(Boolean)) body.push([`${series({ backend: 'native', kernels: nativeBest })}, push() ×1`, ...push.map((c) => (c ? fmtNs(c.nsPerFrame) : '—')), '', '', '', ''])
  const pushW = WIDTHS.map((b) => find({ backend: 'wasm', kernels: 'simd128', op: 'push', bits: b, dim }))
  if (pushW.some(Boolean)) body.push(['Node WASM simd128, push() ×1', ...pushW.map((c) => (c ? fmtNs(c.nsPerFrame) : '—')), '', '', '', ''])
  const pushPy = WIDTHS.map((b) => find({ backend: 'python', kernels: pythonKernels, op: 'push', bits: b, dim }))
  if (pushPy.some(Boolean)) body.push([`${series({ backend: 'python', kernels: pythonKernels })}, push() ×1`, ...pushPy.map((c) => (c ? fmtNs(c.nsPerFrame) : '—')), '', '', '', ''])
  const tsE = find({ backend: 'ts-baseline', op: 'encode', dim })
  const tsD = find({ backend: 'ts-baseline', op: 'decode', dim })
  if (tsE || tsD) body.push(['Node TypeScript int8 (8-bit only)', tsE ? fmtNs(tsE.nsPerFrame) : '—', '', '', '', tsD ? fmtNs(tsD.nsPerFrame) : '—', '', '', ''])
  const copies = [
    find({ backend: 'rust', kernels: 'memcpy', op: 'copy', dim }),
    find({ backend: 'memcpy-js', kernels: 'TypedArray.set', op: 'copy', dim }),
    find({ backend: 'memcpy-js', kernels: 'slice()', op: 'copy', dim }),
  ]
  const floor = copies
    .filter(Boolean)
    .map((c) => `${series(c)} ${fmtNs(c.nsPerFrame)} ns`)
    .join(', ')
  return { head, body, floor }
}

/** The goals, each { goal, result, verdict } ('met', 'partly met', 'not met'). */
function goalsOf({ find, rustBest, nativeBest, pythonKernels, slowerThanScalar, dims }, rows) {
  const goals = []
  const at = (q) => find({ dim: 512, ...q })
  const list = (f) => WIDTHS.map((b) => f(b)).filter((x) => x)
  const rustEnc = list((b) => at({ backend: 'rust', kernels: rustBest, op: 'encode', bits: b }))
  const rustDec = list((b) => at({ backend: 'rust', kernels: rustBest, op: 'decode', bits: b }))
  const memcpy = at({ backend: 'rust', kernels: 'memcpy', op: 'copy' })
  const floorNote = memcpy ? ` (memcpy of 2 KiB here: ${fmtNs(memcpy.nsPerFrame)} ns; 18 ns where the goals were set)` : ''
  const verdict = (vals, limit) => (vals.length && vals.every((v) => v <= limit) ? 'met' : vals.some((v) => v <= limit) ? 'partly met' : 'not met')
  const show = (rs) => rs.map((r) => `${r.bits}b ${fmtNs(r.nsPerFrame)}`).join(', ')
  goals.push({ goal: `Rust ${rustBest} encode ≤ 100 ns per 512-value frame`, result: show(rustEnc) + floorNote, verdict: verdict(rustEnc.map((r) => r.nsPerFrame), 100) })
  goals.push({ goal: `Rust ${rustBest} decode ≤ 60 ns per 512-value frame`, result: show(rustDec), verdict: verdict(rustDec.map((r) => r.nsPerFrame), 60) })
  // Issue 10: every set at least 2× scalar; 512-value encode ≤ 4× and decode ≤ 1.5× a memcpy of
  // the frame's bytes, with the default set and with avx2 (no BMI2).
  const rustSets = [...new Set(rows.filter((r) => r.backend === 'rust' && !['scalar', 'memcpy'].includes(r.kernels) && !isCoded(r)).map((r) => r.kernels))]
  for (const kernels of rustSets) {
    const ratios = rows
      .filter((r) => r.backend === 'rust' && r.kernels === kernels && r.vsScalar != null && (r.op === 'encode' || r.op === 'decode') && r.dim <= 4096)
      .map((r) => ({ r, x: 1 / r.vsScalar }))
    if (ratios.length) {
      const worst = ratios.reduce((a, b) => (b.x < a.x ? b : a))
      goals.push({
        goal: `Rust ${kernels}: ≥ 2× faster than scalar (every width, 512 and 4096, both streams)`,
        result: `slowest: ${worst.x.toFixed(2)}× (${worst.r.op} ${worst.r.bits}b ${worst.r.dim} ${worst.r.stream})`,
        verdict: ratios.every((q) => q.x >= 2) ? 'met' : ratios.some((q) => q.x >= 2) ? 'partly met' : 'not met',
      })
    }
    for (const [op, limit] of [['encode', 4], ['decode', 1.5]]) {
      const rs = list((b) => at({ backend: 'rust', kernels, op, bits: b }))
      goals.push({
        goal: `Rust ${kernels} ${op} ≤ ${limit}× memcpy of the frame's bytes (512, stable stream)`,
        result: rs.map((r) => `${r.bits}b ${fmtX(r.vsMemcpy)}`).join(', '),
        verdict: verdict(rs.map((r) => r.vsMemcpy), limit),
      })
    }
  }
  goals.push({
    goal: 'No kernel set slower than scalar (Rust and Node, every row)',
    result: slowerThanScalar.length ? slowerThanScalar.map((r) => `${series(r)} ${r.op} ${r.bits}b ${r.dim}`).join('; ') : 'none',
    verdict: slowerThanScalar.length ? 'not met' : 'met',
  })
  if (nativeBest) {
    const nat = list((b) => at({ backend: 'native', kernels: nativeBest, op: 'encode', bits: b }))
    goals.push({
      goal: 'Node native pushMany within 1.3× of Rust (512)',
      result: nat.map((r) => `${r.bits}b ${fmtX(r.vsRust)}`).join(', '),
      verdict: verdict(nat.map((r) => r.vsRust), 1.3),
    })
    const natInto = list((b) => at({ backend: 'native', kernels: nativeBest, op: 'encode', bits: b, api: 'pushManyInto' }))
    if (natInto.length) {
      goals.push({
        goal: 'Node native pushManyInto (one reused output buffer) within 1.3× of Rust (512)',
        result: natInto.map((r) => `${r.bits}b ${fmtX(r.vsRust)}`).join(', '),
        verdict: verdict(natInto.map((r) => r.vsRust), 1.3),
      })
    }
    const natDec = list((b) => at({ backend: 'native', kernels: nativeBest, op: 'decode', bits: b }))
    goals.push({
      goal: '(for reference) Node native decodeSegmentInto vs Rust (512)',
      result: natDec.map((r) => `${r.bits}b ${fmtX(r.vsRust)}`).join(', '),
      verdict: verdict(natDec.map((r) => r.vsRust), 1.5),
    })
  }
  if (pythonKernels) {
    for (const [op, api] of [['encode', 'push_many'], ['decode', 'decode_segment_into']]) {
      const py = list((b) => at({ backend: 'python', kernels: pythonKernels, op, bits: b }))
      goals.push({
        goal: `(for reference) Python ${api} vs Rust (512)`,
        result: py.map((r) => `${r.bits}b ${fmtX(r.vsRust)}`).join(', '),
        verdict: verdict(py.map((r) => r.vsRust), 1.5),
      })
    }
  }
  const wasmE = list((b) => at({ backend: 'wasm', kernels: 'simd128', op: 'encode', bits: b }))
  const wasmD = list((b) => at({ backend: 'wasm', kernels: 'simd128', op: 'decode', bits: b }))
  goals.push({ goal: 'WASM simd128 encode ≤ 300 ns in Node (512, pushMany)', result: show(wasmE), verdict: verdict(wasmE.map((r) => r.nsPerFrame), 300) })
  goals.push({ goal: 'WASM simd128 decode ≤ 300 ns in Node (512, decodeSegmentInto)', result: show(wasmD), verdict: verdict(wasmD.map((r) => r.nsPerFrame), 300) })
  for (const [backend, kernels] of [['rust', rustBest], ['native', nativeBest]]) {
    if (!kernels) continue
    const per = []
    for (const op of ['encode', 'decode']) {
      for (const dim of dims.filter((d) => d !== 512)) {
        const ratios = WIDTHS.map((b) => {
          const small = at({ backend, kernels, op, bits: b })
          const big = find({ backend, kernels, op, bits: b, dim })
          return small && big ? big.nsPerFrame / dim / (small.nsPerFrame / 512) : null
        }).filter((x) => x != null)
        if (ratios.length) per.push({ op, dim, min: Math.min(...ratios), max: Math.max(...ratios) })
      }
    }
    if (!per.length) continue
    goals.push({
      goal: `${series({ backend, kernels })}: cost linear in length (ns per value vs 512; 1.00 = linear)`,
      result: per.map((p) => `${p.op} ${p.dim}: ${p.min.toFixed(2)}–${p.max.toFixed(2)}`).join('; '),
      verdict: per.every((p) => p.max <= 1.3) ? 'met' : per.some((p) => p.max <= 1.3) ? 'partly met' : 'not met',
    })
  }
  return goals
}

/** The memory table from the memory bench's results. */
function memoryTable(memory) {
  const mib = (b) => (b / 2 ** 20).toFixed(1)
  const memHead = ['backend', 'bits', 'B/compressor (empty)', 'B/compressor (1 frame)', 'of which V8 heap', 'segments', 'segment MiB', 'ratio', 'RSS start MiB', 'peak RSS MiB', 'peak − start MiB', 'push ms / hour']
  const memBody = []
  for (const m of memory) {
    for (const s of m.stream) {
      const pc = m.perCompressor.find((p) => p.bits === s.bits)
      memBody.push([
        `${m.backend} ${m.kernels}`,
        String(s.bits),
        pc ? pc.emptyRssBytes.toFixed(0) : '—',
        pc ? pc.oneFrameRssBytes.toFixed(0) : '—',
        pc ? pc.oneFrameHeapBytes.toFixed(0) : '—',
        String(s.segments),
        mib(s.segmentBytes),
        `${s.ratio.toFixed(2)}×`,
        mib(s.rssBeforeBytes),
        mib(s.peakRssBytes),
        mib(s.peakOverStartBytes),
        s.pushMsTotal.toFixed(0),
      ])
    }
  }
  const MEM_RIGHT = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  const memNote =
    'Bytes per compressor: RSS delta over 10,000 compressors of 512 values after a full GC (JS wrapper, backend handle, Rust compressor, ' +
    'open segment with one frame, allocator overhead; WASM: linear-memory growth), "of which V8 heap" the heapUsed part. ' +
    'Stream: 1 hour at 10 fps of 512 values (36,000 frames, raw f32 70.3 MiB) pushed one by one through one compressor per tier, every segment kept; ' +
    'peak RSS is the process maximum (Node itself included), measured in its own process.'
  return { memHead, memBody, MEM_RIGHT, memNote }
}

function chart({ find, summarySeries: SUMMARY_SERIES }, rows, { machine, date, quick: QUICK }) {
  const dim = 512
  const S = SUMMARY_SERIES.map((s, i) => ({ ...s, name: series(s), color: ['#9aa5b1', '#1f4e9c', '#f0a35e', '#c0392b', '#a6d49f', '#2e8b57'][i % 6] }))
  const panels = [
    { op: 'encode', title: `encode (pushMany), ${dim} values`, goal: 100 },
    { op: 'decode', title: `decode (decodeSegmentInto), ${dim} values`, goal: 60 },
  ]
  const refLines = (p) => [
    { v: find({ backend: 'rust', kernels: 'memcpy', op: 'copy', dim })?.nsPerFrame, label: 'memcpy floor (Rust, 2 KiB)', color: '#444', dash: '6 3', same: true },
    { v: find({ backend: 'ts-baseline', op: p.op, dim })?.nsPerFrame, label: 'TypeScript int8 baseline (8-bit)', color: '#8e44ad', dash: '2 3' },
    { v: p.goal, label: 'goal, Rust AVX2', color: '#1f4e9c', dash: '10 4' },
    { v: 300, label: 'goal, WASM simd128 in Node', color: '#2e8b57', dash: '1 4', same: true },
  ]
  const values = rows.filter((r) => r.dim === dim).map((r) => r.nsPerFrame)
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 10)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 300)))
  const W = 1180
  const H = 572
  const pw = 520
  const ph = 340
  const top = 70
  const left0 = 80
  const gap = 60
  const y = (v) => top + ph - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">temporal-tensor: ns per ${dim}-value frame by width and backend (log scale, lower is better)</text>`)
  out.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">${esc(machine.cpu)}, ${machine.cores} cores, Node ${machine.node}, ${esc(machine.rustc.split(' ').slice(0, 2).join(' '))}, ${date.slice(0, 10)}${QUICK ? ' (quick run)' : ''}</text>`)
  panels.forEach((p, pi) => {
    const x0 = left0 + pi * (pw + gap)
    out.push(`<text x="${x0 + pw / 2}" y="${top - 10}" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`)
    for (let d = Math.log10(lo); d <= Math.log10(hi) + 1e-9; d++) {
      const v = 10 ** d
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`)
      out.push(`<text x="${x0 - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${v >= 1000 ? `${v / 1000} µs` : `${v} ns`}</text>`)
      for (const m of [2, 5]) {
        if (v * m < hi) out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y(v * m).toFixed(1)}" y2="${y(v * m).toFixed(1)}" stroke="#f2f2f2"/>`)
      }
    }
    out.push(`<line x1="${x0}" x2="${x0}" y1="${top}" y2="${top + ph}" stroke="#333"/>`)
    out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${top + ph}" y2="${top + ph}" stroke="#333"/>`)
    const gw = pw / WIDTHS.length
    const bw = (gw - 16) / S.length
    WIDTHS.forEach((bits, gi) => {
      const gx = x0 + gi * gw + 8
      out.push(`<text x="${(x0 + gi * gw + gw / 2).toFixed(1)}" y="${top + ph + 18}" text-anchor="middle" font-weight="bold">${bits}-bit</text>`)
      S.forEach((s, si) => {
        const r = find({ backend: s.backend, kernels: s.kernels, op: p.op, bits, dim })
        if (!r) return
        const bx = gx + si * bw
        const by = y(r.nsPerFrame)
        out.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(top + ph - by).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name} ${p.op} ${bits}-bit: ${fmtNs(r.nsPerFrame)} ns/frame`)}</title></rect>`)
        const tx = bx + (bw - 2) / 2 + 3
        out.push(`<text x="${tx.toFixed(1)}" y="${(by - 4).toFixed(1)}" transform="rotate(-90 ${tx.toFixed(1)} ${(by - 4).toFixed(1)})" font-size="9" fill="#333">${fmtNs(r.nsPerFrame)}</text>`)
      })
    })
    refLines(p).forEach(({ v, color, dash }) => {
      if (v == null || v < lo || v > hi) return
      const ly = y(v).toFixed(1)
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`)
    })
  })
  const ly = top + ph + 46
  const cols = 3
  S.forEach((s, i) => {
    const lx = left0 + (i % cols) * 360
    const yy = ly + Math.floor(i / cols) * 20
    out.push(`<rect x="${lx}" y="${yy - 10}" width="14" height="12" fill="${s.color}"/>`)
    out.push(`<text x="${lx + 20}" y="${yy}">${esc(s.name)}</text>`)
  })
  const [enc, dec] = panels.map(refLines)
  const ry = ly + Math.ceil(S.length / cols) * 20 + 6
  enc.forEach((ref, i) => {
    const lx = left0 + (i % 2) * 540
    const yy = ry + Math.floor(i / 2) * 20
    const val = (r) => (r.v == null ? '—' : `${fmtNs(r.v)} ns`)
    out.push(`<line x1="${lx}" x2="${lx + 30}" y1="${yy - 4}" y2="${yy - 4}" stroke="${ref.color}" stroke-width="2" stroke-dasharray="${ref.dash}"/>`)
    out.push(`<text x="${lx + 38}" y="${yy}">${esc(ref.label)}: ${ref.same ? val(ref) : `encode ${val(ref)}, decode ${val(dec[i])}`}</text>`)
  })
  out.push(`<text x="${left0}" y="${H - 14}" fill="#555" font-size="11">Rust: cargo bench (cache-resident frames). Node: tinybench medians, batches of 64 frames per call. Bars start at ${lo} ns. Regenerate with npm run bench.</text>`)
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/**
 * Derives, prints and writes the report of one bench run into `outDir`: `rows` and `memory` as
 * the benches wrote them, `machine` and `date` of the run, `quick` for a smoke run, `skipped` the
 * runs that could not be made.
 */
export function report({ rows, memory, machine, date, quick: QUICK, skipped, outDir }) {
  const d = derive(rows, machine)
  const { rustBest, cpuId, slowerThanScalar, dims } = d
  const tableRows = rows.map((r) => [
    String(r.dim),
    opName(r),
    String(r.bits),
    series(r),
    fmtNs(r.nsPerFrame),
    fmtGb(r.gbps),
    fmtX(r.vsMemcpy),
    fmtX(r.vsRust),
    fmtX(r.vsTs),
    slowerThanScalar.includes(r) ? 'SLOWER THAN SCALAR' : '',
  ])
  const goals = goalsOf(d, rows)
  const { memHead, memBody, MEM_RIGHT, memNote } = memoryTable(memory)

  const machineLine = `${machine.cpu} (${cpuId}; default kernels ${rustBest}), ${machine.cores} cores${machine.simd ? ` (${machine.simd})` : ''}, ${machine.os}, Node ${machine.node}, ${machine.rustc}; commit ${machine.commit}; load ${machine.loadAtStart.join('/')} → ${machine.loadAtEnd.join('/')}`
  const notes = [
    `ns/frame: Rust = median of 7 timed rounds over 8 cache-resident frames; Node = tinybench median of calls over a batch (64 frames at 512, 16 at 4096, 4 at 65536) ÷ frames. Encode = pushMany (Rust: push_frame), decode = decodeSegmentInto (a reused, caller-provided Float32Array) of a segment holding the batch (Rust: decode_into a reused buffer).`,
    'Python rows: the temporal_tensor wheel on the Node workload (same frames, batches and settings): push_many of a 2-D float32 numpy array (read in place), decode_segment_into a reused numpy array; median of perf_counter_ns samples over the batch ÷ frames.',
    `"× memcpy" = ns ÷ Rust memcpy (copy_from_slice) of the frame's dim × 4 bytes. Rust rows: every kernel set the CPU supports (default ${rustBest}), stable stream unless marked drifting (a random walk: packed segments are recalibrated often). CPU: ${cpuId}.`,
    `GB/s = f32 input bytes (dim × 4) per ns. "÷ Rust best" = ns ÷ Rust ${rustBest} for the same op, width and dim (copy rows: ÷ Rust memcpy). "÷ TS int8" = ns ÷ the TypeScript int8 baseline for the same op and dim (> 1 is slower than it).`,
    'TypeScript int8 baseline: group 64, scale = max|v| / 127, Math.round, into preallocated Int8Array + Float32Array scales (best case for it: no allocation, no bit packing).',
  ]

  console.log(`\n\x1b[1mtemporal-tensor bench — ${date}${QUICK ? ' (quick)' : ''}\x1b[0m`)
  console.log(machineLine)
  console.log('')
  console.log(textTable(HEAD, tableRows, RIGHT))
  for (const n of notes) console.log(`\n${n}`)
  console.log('\nMemory')
  console.log(textTable(memHead, memBody, MEM_RIGHT))
  console.log(memNote)
  console.log('\nGoals (reported, not asserted)')
  for (const g of goals) console.log(`  [${g.verdict}] ${g.goal}: ${g.result}`)
  if (skipped.length) console.log(`\nSkipped: ${skipped.join(', ')}`)

  const md = []
  md.push(`# temporal-tensor benchmarks${QUICK ? ' (quick run)' : ''}`)
  md.push('')
  md.push(`${date} — ${machineLine}`)
  md.push('')
  md.push(`Reproduce: \`npm run bench\`${QUICK ? ' (this was `node scripts/bench.mjs --quick`)' : ''}. Lower ns is better. ${notes.join(' ')}`)
  md.push('')
  md.push('## Goals (reported, not asserted)')
  md.push('')
  md.push(mdTable(['goal', 'result', 'verdict'], goals.map((g) => [g.goal, g.result, g.verdict])))
  for (const dim of dims) {
    const s = summary(d, dim)
    md.push('')
    md.push(`## ns per frame, ${dim} values`)
    md.push('')
    md.push(mdTable(s.head, s.body, new Set(s.head.map((_, i) => i).filter((i) => i > 0))))
    md.push('')
    md.push(`Copy floor: ${s.floor}.`)
  }
  md.push('')
  md.push('## Memory')
  md.push('')
  md.push(mdTable(memHead, memBody, MEM_RIGHT))
  md.push('')
  md.push(memNote)
  md.push('')
  md.push('## All rows')
  md.push('')
  md.push(mdTable(HEAD, tableRows, RIGHT))
  md.push('')
  md.push('![ns per frame at 512 values](chart.svg)')
  if (skipped.length) md.push(`\nSkipped: ${skipped.join(', ')}`)

  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify({ date, quick: QUICK, machine, rustBest, notes, goals, rows, memory, skipped }, null, 1)}\n`)
  writeFileSync(join(outDir, 'results.md'), `${md.join('\n')}\n`)
  writeFileSync(join(outDir, 'chart.svg'), chart(d, rows, { machine, date, quick: QUICK }))
  console.log(`\nWrote ${['results.json', 'results.md', 'chart.svg'].map((f) => relative(root, join(outDir, f))).join(', ')}`)
}
