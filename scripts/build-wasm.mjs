// Builds crates/ruvector-temporal-tensor-wasm for wasm32-unknown-unknown with Debian's rustc-web
// (-Zbuild-std; rustup has no wasm32 std here), shrinks it with wasm-opt, and writes
// wasm/temporal_tensor.wasm. See ../shared/spec/TOOLCHAIN.md and scripts/setup.mjs.
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { probe, root, run, step } from './lib.mjs'

export function buildWasm() {
  step('Building the WebAssembly module')
  const sysroot = probe('rustc', ['--print', 'sysroot'])
  const lld = join(sysroot, 'lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld')
  const targetDir = join(root, 'target', 'wasm-build')
  run('/usr/bin/cargo', [
    'build', '--profile', 'wasm', '--target', 'wasm32-unknown-unknown',
    '-p', 'ruvector-temporal-tensor-wasm', '-Zbuild-std=std,panic_abort',
    '--target-dir', targetDir,
  ], {
    env: { ...process.env, RUSTC: '/usr/bin/rustc', RUSTC_BOOTSTRAP: '1', RUSTFLAGS: `-C linker=${lld}` },
  })
  const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm', 'ruvector_temporal_tensor_wasm.wasm')
  mkdirSync(join(root, 'wasm'), { recursive: true })
  const out = join(root, 'wasm', 'temporal_tensor.wasm')
  run('wasm-opt', [
    '-Oz', '--enable-bulk-memory', '--enable-sign-ext', '--enable-nontrapping-float-to-int',
    '--enable-mutable-globals', '--strip-debug', built, '-o', out,
  ])
  console.log(`wasm/temporal_tensor.wasm: ${statSync(out).size} bytes`)
}

if (import.meta.url === `file://${process.argv[1]}`) buildWasm()
