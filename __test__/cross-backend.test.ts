// Native and WASM give byte-identical segments and decoded values for the same input.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const entry = fileURLToPath(new URL('../dist/index.mjs', import.meta.url))
const helpers = fileURLToPath(new URL('./stream-digest.mjs', import.meta.url))

function digest(backendName: string): Record<string, string> {
  const out = execFileSync(process.execPath, [helpers, entry], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_TENSOR_BACKEND: backendName },
  })
  return JSON.parse(out)
}

describe('native and wasm agree', () => {
  it('byte for byte at every tier and dimension', () => {
    const native = digest('native')
    const wasm = digest('wasm')
    expect(native.backend).toBe('native')
    expect(wasm.backend).toBe('wasm')
    delete native.backend
    delete wasm.backend
    expect(Object.keys(native).length).toBeGreaterThanOrEqual(12)
    expect(wasm).toEqual(native)
  })
})
