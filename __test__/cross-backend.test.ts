// Native and WASM give byte-identical segments and decoded values for the same input.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const entry = fileURLToPath(new URL('../dist/index.mjs', import.meta.url))
const helpers = fileURLToPath(new URL('./stream-digest.mjs', import.meta.url))

function digest(env: Record<string, string>): Record<string, string> {
  const out = execFileSync(process.execPath, [helpers, entry], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return JSON.parse(out)
}

describe('every backend and kernel set agrees', () => {
  it('byte for byte at every tier and dimension', () => {
    const runs = [
      digest({ TEMPORAL_TENSOR_BACKEND: 'native' }),
      digest({ TEMPORAL_TENSOR_BACKEND: 'native', TEMPORAL_TENSOR_FORCE_SCALAR: '1' }),
      digest({ TEMPORAL_TENSOR_BACKEND: 'wasm' }),
      digest({ TEMPORAL_TENSOR_BACKEND: 'wasm', TEMPORAL_TENSOR_WASM_SIMD: '0' }),
    ]
    expect(runs.map((r) => `${r.backend}/${r.kernels}`)).toEqual([
      `native/${runs[0].kernels}`,
      'native/scalar',
      'wasm/simd128',
      'wasm/scalar',
    ])
    for (const r of runs) {
      delete r.backend
      delete r.kernels
    }
    expect(Object.keys(runs[0]).length).toBeGreaterThanOrEqual(40)
    for (const r of runs.slice(1)) expect(r).toEqual(runs[0])
  })
})
