// The WebAssembly simd128 kernels against the scalar reference, bit for bit, inside the module:
// `cargo test` cannot run on wasm32 here, so a test build of the module (feature
// `kernel-check`, never shipped) runs the core's kernel checks (`kernels::check`: every kernel on
// ties, clamping, vanishing groups, non-finite values, every group-length remainder) on each of
// its kernel sets, and this test calls it under Node.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { buildWasmKernelCheck } from '../scripts/build-wasm.mjs'

interface CheckExports {
  memory: WebAssembly.Memory
  ttc_scratch_ptr(): number
  ttc_alloc(size: number, outPtr: number): number
  ttc_kernel_check(out: number, cap: number): number
  ttc_kernel_check_message(out: number, cap: number): number
}

describe('WebAssembly kernels', () => {
  it('simd128 agrees with scalar bit for bit', { timeout: 900_000 }, () => {
    const path = buildWasmKernelCheck()
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), {})
    const ex = instance.exports as unknown as CheckExports
    const cap = 4096
    const scratch = ex.ttc_scratch_ptr()
    expect(ex.ttc_alloc(cap, scratch)).toBe(0)
    const ptr = new DataView(ex.memory.buffer).getUint32(scratch, true)
    const text = (len: number) => new TextDecoder().decode(new Uint8Array(ex.memory.buffer, ptr, Math.min(len, cap)))
    let sets: number
    try {
      sets = ex.ttc_kernel_check(ptr, cap)
    } catch (e) {
      // A difference panics inside the module (a trap); its message says what differed.
      throw new Error(`kernel check failed: ${text(ex.ttc_kernel_check_message(ptr, cap))} (${String(e)})`)
    }
    expect(sets).toBe(2)
    expect(text('scalar,simd128'.length)).toBe('scalar,simd128')
  })
})
