// The WebAssembly glue under faults (issue 11 items 1-2), in child processes: segments that
// decode to 2^28+ values and to 4 GiB, and a module that runs out of memory mid-call.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const fixture = fileURLToPath(new URL('./fixtures/wasm-faults.mjs', import.meta.url))
const wasmFile = fileURLToPath(new URL('../dist/temporal_tensor.wasm', import.meta.url))

function child(args: string[], env: Record<string, string>, nodeFlags: string[] = []): any {
  const r = spawnSync(process.execPath, [...nodeFlags, fixture, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
    maxBuffer: 16 << 20,
  })
  if (r.status !== 0) throw new Error(`child ${args[0]} exited with ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`)
  return JSON.parse(r.stdout)
}

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-wasm-faults-'))
  // Made on the native backend: the WebAssembly one refuses such compressors (WASM_LIMITS).
  child(['make-big', dir], { TEMPORAL_TENSOR_BACKEND: 'native' })
}, 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe.each(['native', 'wasm'])('segments that decode to more than MAX_DECODE_VALUES (%s)', (backend) => {
  it('are LIMIT_EXCEEDED (or BUFFER_TOO_SMALL into a small buffer) before allocating, and the backend stays intact', () => {
    // Before (WASM): the 1-bit segment (128 MiB) decodes to 2^30 values, 2^32 bytes; ttc_alloc
    // got the size wrapped to 0, the glue recorded 4 GiB, and the decode wrote over the module's
    // heap: later decodes returned wrong values and flushes trapped or looped forever.
    const r = child(['decode-big', dir], { TEMPORAL_TENSOR_BACKEND: backend })
    expect(r.backend).toBe(backend)
    expect(r.info285m).toMatchObject({ tensorLen: 2 ** 24, frameCount: 17, format: 'coded' })
    expect(r.info1g).toMatchObject({ tensorLen: 2 ** 24, frameCount: 64, bits: 1, format: 'packed' })
    expect(r.decode285m).toMatchObject({ ok: false, code: 'LIMIT_EXCEEDED' })
    expect(r.decode1g).toMatchObject({ ok: false, code: 'LIMIT_EXCEEDED' })
    expect(r.decode1gCapped).toMatchObject({ ok: false, code: 'LIMIT_EXCEEDED' })
    expect(r.into1g).toMatchObject({ ok: false, code: 'BUFFER_TOO_SMALL' })
    expect(r.frame1g).toEqual({ ok: true, value: 2 ** 24 })
    expect(r.roundTripSame).toBe(true)
    expect(r.rssMiB).toBeLessThan(1024) // nothing near the decoded sizes was allocated
  }, 120_000)
})

const LONG = process.env.TT_FAULTS === 'long'

describe('a trap inside the WebAssembly module (out of memory)', () => {
  // Memory caps (64 KiB pages) that make the trap come at different pushes: one in npm test.
  it.each(LONG ? [300, 600, 1000, 1700] : [1000])('fails the call with BACKEND_FAILED; the compressors it held fail fast; new work runs on a fresh instance (%i pages)', (pages) => {
    // --wasm-max-mem-pages caps the module's memory (1000 pages: 62.5 MiB): the 64-frame packed
    // segment of 2^20 values outgrows it and Rust's allocator aborts (an `unreachable` trap)
    // while the ABI lock is held. Before: every later call on any compressor spun forever.
    const r = child(['trap'], { TEMPORAL_TENSOR_BACKEND: 'wasm' }, [`--wasm-max-mem-pages=${pages}`])
    expect(r.backend).toBe('wasm')
    expect(r.trap).toMatchObject({ ok: false, code: 'BACKEND_FAILED' })
    expect(r.trap.message).toMatch(/RuntimeError/)
    for (const name of ['bigFlush', 'bigPush', 'otherPeek', 'otherTouch', 'otherState']) {
      expect(r.after[name], name).toMatchObject({ ok: false, code: 'BACKEND_FAILED' })
    }
    expect(r.after.bigFree).toMatchObject({ ok: true })
    expect(r.after.otherFree).toMatchObject({ ok: true })
    expect(r.freshRoundTripSame).toBe(true)
    console.log(`wasm trap (${pages} pages) after ${r.pushes} pushes; later calls on its compressors took ${r.oldCallsMs} ms in all`)
  }, 120_000)

  it('in the async calls\' worker: the call in flight fails with BACKEND_FAILED; compressors the worker held are rebuilt from their journals, with the same bytes', () => {
    const r = child(['worker-trap'], { TEMPORAL_TENSOR_BACKEND: 'wasm' }, ['--wasm-max-mem-pages=1000'])
    expect(r.backend).toBe('wasm')
    expect(r.trap).toMatchObject({ ok: false, code: 'BACKEND_FAILED' })
    expect(r.pushes).toBeLessThan(64)
    expect(r.bigFree).toMatchObject({ ok: true })
    expect(r.otherNext).toMatchObject({ ok: true })
    expect(r.same).toBe(true)
    expect(r.segments).toBeGreaterThan(1)
    expect(r.decoded).toMatchObject({ ok: true, value: 16 * 64 })
    expect(r.freshRoundTripSame).toBe(true)
  }, 120_000)

  it('the raw ttc_* ABI traps again instead of spinning when its lock was left held', () => {
    const r = child(['raw-lock', wasmFile], {}, ['--wasm-max-mem-pages=1000'])
    expect(r.trapped).toMatch(/RuntimeError/)
    expect(r.next.threw).toMatch(/RuntimeError/)
  }, 120_000)
})
