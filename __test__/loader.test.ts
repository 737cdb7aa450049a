// The Node loader: forced backends, the fallback to WASM with every native failure kept as the
// cause, musl detection, and the CommonJS entry. Each case runs in a fresh child process.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_KEYFRAME_INTERVAL, DEFAULT_POLICY, ERROR_CODES, MAX_DECODE_VALUES, defaultMaxSegmentFrames } from '../dist/index.mjs'
import { isCodedVersion } from '../src-ts/limits.js'
import { vectorsDir } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Imports the package at `pkg` in a child process and prints what the loader chose. */
function probe(pkg: string, env: Record<string, string | undefined> = {}) {
  const script = `
    try {
      const t = await import(${JSON.stringify(join(pkg, 'dist/index.mjs'))})
      const e = t.nativeLoadError
      const causes = e?.cause?.errors?.map((x) => String(x.message ?? x)) ?? []
      console.log(JSON.stringify({ backend: t.backend, code: e?.code, causes }))
    } catch (e) {
      console.log(JSON.stringify({ thrown: e.code, message: e.message, causes: e.cause?.errors?.map((x) => String(x.message)) ?? [] }))
    }`
  const childEnv = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k]
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: childEnv, encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').pop()!)
}

const copies: string[] = []
/** A copy of the package without any native binary (as if no platform package matched). */
function packageWithoutNative(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-loader-'))
  copies.push(dir)
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true })
  cpSync(join(root, 'package.json'), join(dir, 'package.json'))
  return dir
}
afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('backend selection', () => {
  it('prefers the native addon on this platform', () => {
    expect(probe(root, { TEMPORAL_TENSOR_BACKEND: undefined })).toEqual({ backend: 'native', causes: [] })
  })

  it('TEMPORAL_TENSOR_BACKEND=wasm forces WebAssembly', () => {
    expect(probe(root, { TEMPORAL_TENSOR_BACKEND: 'wasm' })).toEqual({ backend: 'wasm', causes: [] })
  })

  it('TEMPORAL_TENSOR_BACKEND=native forces the addon', () => {
    expect(probe(root, { TEMPORAL_TENSOR_BACKEND: 'native' }).backend).toBe('native')
  })

  it('rejects an unknown TEMPORAL_TENSOR_BACKEND', () => {
    expect(probe(root, { TEMPORAL_TENSOR_BACKEND: 'gpu' }).thrown).toBe('INVALID_ARGUMENT')
  })

  it('falls back to WASM when no platform package is installed, keeping each failure', () => {
    const pkg = packageWithoutNative()
    const result = probe(pkg, { TEMPORAL_TENSOR_BACKEND: undefined })
    expect(result.backend).toBe('wasm')
    expect(result.code).toBe('BACKEND_UNAVAILABLE')
    expect(result.causes).toHaveLength(2)
    expect(result.causes[0]).toContain('no local build')
    expect(result.causes[1]).toContain('@ruvector/temporal-tensor-linux-x64-gnu')
  })

  it('a broken binary is not hidden: its load error is in the cause chain', () => {
    const pkg = packageWithoutNative()
    mkdirSync(join(pkg, 'native'))
    writeFileSync(join(pkg, 'native', 'temporal-tensor.linux-x64-gnu.node'), 'not a shared object')
    const result = probe(pkg, { TEMPORAL_TENSOR_BACKEND: undefined })
    expect(result.backend).toBe('wasm')
    expect(result.causes[0]).toMatch(/invalid ELF header|too short|file too short/)
  })

  it('forcing native without a binary fails loudly with the causes', () => {
    const pkg = packageWithoutNative()
    const result = probe(pkg, { TEMPORAL_TENSOR_BACKEND: 'native' })
    expect(result.thrown).toBe('BACKEND_UNAVAILABLE')
    expect(result.causes).toHaveLength(2)
  })

  it('the store engines\' packages are optional: without lmdb, ioredis or pg, open() is BACKEND_UNAVAILABLE', () => {
    const pkg = packageWithoutNative()
    const script = `
      const { TensorStreamStore } = await import(${JSON.stringify('PKG')})
      const codes = []
      for (const persistence of [{ kind: 'lmdb', path: ${JSON.stringify(join(pkg, 'db'))} }, { kind: 'redis', url: 'redis://127.0.0.1:1' }, { kind: 'postgres', connectionString: 'postgres://127.0.0.1:1/x' }]) {
        try { await TensorStreamStore.open({ persistence }); codes.push('opened') } catch (e) { codes.push(e.code) }
      }
      console.log(JSON.stringify(codes))`.replace('PKG', join(pkg, 'dist/index.mjs'))
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, TEMPORAL_TENSOR_BACKEND: 'wasm' } })
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual(['BACKEND_UNAVAILABLE', 'BACKEND_UNAVAILABLE', 'BACKEND_UNAVAILABLE'])
  })

  it('the CommonJS entry loads too', () => {
    const out = spawnSync(
      process.execPath,
      ['-e', `const t = require(${JSON.stringify(join(root, 'dist/index.cjs'))}); console.log(t.backend, typeof t.TemporalTensorCompressor)`],
      { encoding: 'utf8', env: { ...process.env, TEMPORAL_TENSOR_BACKEND: 'wasm' } },
    )
    expect(out.stdout.trim()).toBe('wasm function')
  })

  it('detects glibc on this machine and names the platform package', async () => {
    const { platformSuffix } = await import('../dist/index.mjs')
    expect(platformSuffix()).toBe('linux-x64-gnu')
  })
})

describe('one error table', () => {
  it('the TypeScript codes equal the Rust core codes', () => {
    const rust = JSON.parse(readFileSync(new URL('error_codes.json', vectorsDir), 'utf8'))
    expect(ERROR_CODES).toEqual(rust)
  })
})

describe('one set of defaults', () => {
  it("the facade's default policy and keyframe interval are the Rust core's", () => {
    const rust = JSON.parse(readFileSync(new URL('defaults.json', vectorsDir), 'utf8'))
    expect({ ...DEFAULT_POLICY }).toEqual(rust.policy)
    expect(DEFAULT_KEYFRAME_INTERVAL).toBe(rust.keyframeInterval)
  })

  it("the facade's coded segment lengths are the Rust core's", () => {
    const rust = JSON.parse(readFileSync(new URL('defaults.json', vectorsDir), 'utf8'))
    const lengths = Object.keys(rust.codedSegmentFrames)
    expect(lengths.length).toBeGreaterThan(5)
    for (const n of lengths) expect([n, defaultMaxSegmentFrames('coded', Number(n))]).toEqual([n, rust.codedSegmentFrames[n]])
    expect(defaultMaxSegmentFrames('packed', 64)).toBe(rust.policy.maxSegmentFrames)
  })

  it("the facade's decode limit and coded versions are the Rust core's", () => {
    const rust = JSON.parse(readFileSync(new URL('defaults.json', vectorsDir), 'utf8'))
    expect(MAX_DECODE_VALUES).toBe(rust.maxDecodeValues)
    const coded = Array.from({ length: 256 }, (_, v) => v).filter((v) => isCodedVersion(v))
    expect(coded).toEqual(rust.codedVersions)
  })
})
