// Runs the core's kernel, golden-vector, bound and C-ABI tests on aarch64 (NEON kernels) under
// qemu-user, cross-built with Debian's rustc-web and -Zbuild-std (../shared/spec/TOOLCHAIN.md).
import { join } from 'node:path'
import { root, run, step } from './lib.mjs'

export function testAarch64() {
  step('aarch64 (NEON) tests under qemu-user')
  const target = 'aarch64-unknown-linux-gnu'
  run('/usr/bin/cargo', [
    'test', '--target', target, '-p', 'ruvector-temporal-tensor', '--all-features',
    '--lib', '--test', 'golden_vectors', '--test', 'adversarial_bounds', '--test', 'ffi_c_abi',
    '-Zbuild-std=std,panic_abort,panic_unwind,test',
    '--target-dir', join(root, 'target', 'aarch64-build'),
    '--config', `target.${target}.linker="aarch64-linux-gnu-gcc"`,
    '--config', `target.${target}.runner="qemu-aarch64-static -L /usr/aarch64-linux-gnu"`,
  ], { env: { ...process.env, RUSTC: '/usr/bin/rustc', RUSTC_BOOTSTRAP: '1' } })
}

if (import.meta.url === `file://${process.argv[1]}`) testAarch64()
