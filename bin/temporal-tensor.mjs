#!/usr/bin/env node
// temporal-tensor: command-line front end of @ruvector/temporal-tensor.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const HELP = `temporal-tensor — compress streams of f32 tensor frames with bounded error

Usage:
  temporal-tensor demo [--dim N] [--frames N]   compress a built-in example stream at every
                                                tier on each backend; print ratio, worst
                                                error and speed
  temporal-tensor --help                        this text

Environment:
  TEMPORAL_TENSOR_BACKEND=native|wasm           force a backend (default: native if available)
`

function fail(message) {
  console.error(`temporal-tensor: ${message}`)
  process.exit(2)
}

function parseOptions(args, allowed) {
  const options = {}
  for (let i = 0; i < args.length; i++) {
    const name = args[i]
    if (name === '--help' || name === '-h') {
      console.log(HELP)
      process.exit(0)
    }
    if (!allowed.includes(name)) fail(`unknown option ${name} (see --help)`)
    const value = Number(args[++i])
    if (!Number.isInteger(value) || value <= 0) fail(`${name} needs a positive integer`)
    options[name.slice(2)] = value
  }
  return options
}

/** A synthetic stream of agent embeddings: slow drift plus occasional topic shifts. */
function exampleStream(dim, frames) {
  let seed = 12345
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 4294967296
  }
  const state = Float32Array.from({ length: dim }, () => next() * 2 - 1)
  const out = new Float32Array(dim * frames)
  for (let t = 0; t < frames; t++) {
    if (t % 150 === 149) for (let i = 0; i < dim; i++) state[i] = next() * 2 - 1
    let norm = 0
    for (let i = 0; i < dim; i++) {
      state[i] += (next() - 0.5) * 0.02
      norm += state[i] * state[i]
    }
    norm = Math.sqrt(norm)
    for (let i = 0; i < dim; i++) out[t * dim + i] = state[i] / norm
  }
  return out
}

const TIERS = [
  { tier: 'hot', bits: 8, bound: 0.008, access: 1000, policy: {} },
  { tier: 'warm', bits: 7, bound: 0.016, access: 0, policy: { hotMinScore: 0xffffffff, warmMinScore: 0 } },
  { tier: 'warm', bits: 5, bound: 0.065, access: 0, policy: { hotMinScore: 0xffffffff, warmMinScore: 0, warmBits: 5 } },
  { tier: 'cold', bits: 3, bound: 0.3, access: 0, policy: {} },
]

/** Runs the demo on the backend this process loaded; prints one JSON line per tier. */
async function demoBackend(dim, frames) {
  const tt = await import('../dist/index.mjs')
  const stream = exampleStream(dim, frames)
  for (const { tier, bits, bound, access, policy } of TIERS) {
    const c = new tt.TemporalTensorCompressor({ tensorLen: dim, policy })
    c.setAccess(access, 0)
    const start = process.hrtime.bigint()
    const segments = c.pushMany(stream, 0)
    const last = c.flush()
    if (last) segments.push(last)
    const encodeNs = Number(process.hrtime.bigint() - start)
    let bytes = 0
    let worst = 0
    let t = 0
    const decodeStart = process.hrtime.bigint()
    const decoded = segments.map((s) => tt.decodeSegment(s))
    const decodeNs = Number(process.hrtime.bigint() - decodeStart)
    for (let s = 0; s < segments.length; s++) {
      bytes += segments[s].byteLength
      for (let f = 0; f < decoded[s].length / dim; f++, t++) {
        let maxAbs = 0
        let maxErr = 0
        for (let i = 0; i < dim; i++) {
          const v = stream[t * dim + i]
          maxAbs = Math.max(maxAbs, Math.abs(v))
          maxErr = Math.max(maxErr, Math.abs(v - decoded[s][f * dim + i]))
        }
        worst = Math.max(worst, maxAbs === 0 ? 0 : maxErr / maxAbs)
      }
    }
    console.log(JSON.stringify({
      backend: tt.backend, tier, bits, frames: t, segments: segments.length,
      ratio: (stream.byteLength / bytes), worst, bound,
      encodeNsPerFrame: encodeNs / frames, decodeNsPerFrame: decodeNs / frames,
    }))
  }
}

function demo(dim, frames) {
  console.log(`Example stream: ${frames} frames of ${dim}-dim agent embeddings (${(dim * frames * 4 / 1e6).toFixed(2)} MB as f32)\n`)
  const header = ['backend', 'tier', 'bits', 'segments', 'ratio', 'worst error', 'bound', 'encode ns/frame', 'decode ns/frame']
  const rows = []
  let ok = true
  for (const backend of ['native', 'wasm']) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'demo-backend', '--dim', String(dim), '--frames', String(frames)], {
      encoding: 'utf8', env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backend },
    })
    if (child.status !== 0) {
      rows.push([backend, `unavailable: ${(child.stderr || '').trim().split('\n').find((l) => l.includes('Error')) ?? 'failed'}`])
      if (backend === 'wasm') ok = false
      continue
    }
    for (const line of child.stdout.trim().split('\n')) {
      const r = JSON.parse(line)
      ok &&= r.worst < r.bound
      rows.push([r.backend, r.tier, r.bits, r.segments, `${r.ratio.toFixed(2)}x`, `${(r.worst * 100).toFixed(3)} %`,
        `${(r.bound * 100).toFixed(1)} %`, r.encodeNsPerFrame.toFixed(0), r.decodeNsPerFrame.toFixed(0)])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join('  ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  rows.forEach((r) => console.log(line(r)))
  console.log(ok ? '\nEvery frame decoded within its tier\'s error bound.' : '\nFAILED: a bound was exceeded or no backend ran.')
  process.exit(ok ? 0 : 1)
}

const [command, ...rest] = process.argv.slice(2)
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  console.log(HELP)
  process.exit(command === undefined ? 2 : 0)
}
if (command === 'demo') {
  const { dim = 512, frames = 600 } = parseOptions(rest, ['--dim', '--frames'])
  demo(dim, frames)
} else if (command === 'demo-backend') {
  const { dim = 512, frames = 600 } = parseOptions(rest, ['--dim', '--frames'])
  await demoBackend(dim, frames)
} else {
  fail(`unknown command "${command}" (see --help)`)
}
