// Shared test helpers: golden vectors of the Rust core, seeded streams, error assertions.
import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
// @ts-expect-error: plain ESM module without types
import { relativeError as relativeErrorJs, rng as rngJs } from '../bin/trace.mjs'

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32, shared with the CLI's trace). */
export const rng: (seed: number) => () => number = rngJs

/** ADR-017 §8.2: max|v - v'| / max|v| of one frame. */
export const relativeError: (original: Float32Array, decoded: Float32Array) => number = relativeErrorJs

export const vectorsDir = new URL('../crates/ruvector-temporal-tensor/tests/vectors/', import.meta.url)

export interface GoldenCase {
  name: string
  bits: number
  tensorLen: number
  frames: number
  format: 'coded' | 'packed'
  keyframeInterval: number
  segments: number
  policy: {
    hotMinScore: number
    warmMinScore: number
    warmBits: 5 | 7
    driftPctQ8: number
    groupLen: number
    maxSegmentFrames: number
  }
  accessCount: number
  lastAccessTs: number
  nowTs: number
  input: string
  tqtc: string
  decoded: string
}

/** The cases of `tests/vectors/<folder>manifest.json` (the main folder unless told). */
export function goldenCases(folder = ''): GoldenCase[] {
  return JSON.parse(readFileSync(new URL(`${folder}manifest.json`, vectorsDir), 'utf8')).cases
}

export function readBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, vectorsDir)))
}

export function readFloats(name: string): Float32Array {
  const bytes = readBytes(name)
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
}

/** `count` frames of `n` values: a random walk with occasional jumps in magnitude. */
export function stream(n: number, count: number, seed = 1): Float32Array {
  const next = rng(seed)
  const out = new Float32Array(n * count)
  const state = Float32Array.from({ length: n }, () => next() * 2 - 1)
  let scale = 1
  for (let t = 0; t < count; t++) {
    if (t % 17 === 16) scale *= next() < 0.5 ? 0.1 : 10
    for (let i = 0; i < n; i++) {
      state[i] += (next() - 0.5) * 0.1
      out[t * n + i] = state[i] * scale
    }
  }
  return out
}

/** ADR-017 §8.2's bound per width, from the core (the facade test pins its values). */
export { ERROR_BOUNDS as BOUNDS } from '../dist/index.mjs'

/** Asserts `f` throws a TemporalTensorError with `code`. */
export function expectCode(f: () => unknown, code: string): void {
  let thrown: unknown
  try {
    f()
  } catch (e) {
    thrown = e
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(Error)
  expect((thrown as Error).name).toBe('TemporalTensorError')
  expect((thrown as { code?: string }).code).toBe(code)
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
