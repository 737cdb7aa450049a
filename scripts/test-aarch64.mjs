// `node scripts/test-aarch64.mjs`: the core's kernel, golden-vector, bound and C-ABI tests on
// aarch64 (NEON kernels) under qemu-user (recipe: scripts/toolchain.mjs).
import { join } from 'node:path'
import { root, run, step } from './lib.mjs'
import { aarch64Test } from './toolchain.mjs'

export function testAarch64() {
  step('aarch64 (NEON) tests under qemu-user')
  const { cmd, args, env } = aarch64Test({
    testArgs: ['-p', 'ruvector-temporal-tensor', '--all-features', '--lib', '--test', 'golden_vectors', '--test', 'adversarial_bounds', '--test', 'ffi_c_abi'],
    targetDir: join(root, 'target', 'aarch64-build'),
  })
  run(cmd, args, { env })
}

if (import.meta.url === `file://${process.argv[1]}`) testAarch64()
