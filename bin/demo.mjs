#!/usr/bin/env node
// The temporal-tensor demo (`temporal-tensor demo`, `npm run demo`, or `node bin/demo.mjs`), coded
// and packed side by side: a synthetic 1-hour, 10 fps trace of 512-dim agent embeddings through
// TensorStreamStore (resident bytes, ratio and worst error per tier, the ADR-017 §8.1 targets),
// a real embedding trace at every width, and every backend (each in a child process:
// `node bin/demo.mjs --one-backend` prints its rows as JSON lines). Exit status 1 when a frame
// misses its bound or a target is missed.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { FORMATS, HelpRequested, UsageError, api, encodeAll, formatPercent, measure, parseArgs, parseNpy, printTable } from './common.mjs'
import { TRACE_STORE_OPTIONS, TRACE_TENSORS, embeddingStream, relativeError, runTrace } from './trace.mjs'

/** Runs the demo; `args`: [--seconds S] [--trace file.npy]. */
export async function demo(args) {
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
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one-backend'], {
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
async function oneBackend() {
  const tt = await api()
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2)
  try {
    await (args[0] === '--one-backend' ? oneBackend() : demo(args))
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log('usage: node bin/demo.mjs [--seconds S] [--trace file.npy]   (default: 3600 s, traces/minilm-stdlib-384.npy)')
      process.exit(0)
    }
    console.error(`demo: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`)
    process.exit(e instanceof UsageError ? 2 : 1)
  }
}
