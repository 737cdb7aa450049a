// src-ts/native-binding.d.ts is the addon's declarations as napi-rs generates them
// (`npm run build:native` writes native/native.d.ts): the facade types the addon from it, so it
// must be the current output. `TTC_BLESS=1` refreshes it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const generated = new URL('../native/native.d.ts', import.meta.url)
const tracked = new URL('../src-ts/native-binding.d.ts', import.meta.url)

describe('native addon types', () => {
  it.skipIf(!existsSync(generated))('src-ts/native-binding.d.ts is the generated native/native.d.ts', () => {
    const current = readFileSync(generated, 'utf8')
    if (process.env.TTC_BLESS) writeFileSync(tracked, current)
    expect(readFileSync(tracked, 'utf8')).toBe(current)
    // Spot checks that the file is the addon's declarations.
    expect(current).toContain('export declare class NativeCompressor')
    expect(current).toContain('export declare function errorBound(')
  })
})
