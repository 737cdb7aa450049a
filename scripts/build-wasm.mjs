// Builds crates/ruvector-temporal-tensor-wasm for wasm32-unknown-unknown with Debian's rustc-web
// (-Zbuild-std; rustup has no wasm32 std here), twice: a baseline module and one with the
// simd128 kernels. Shrinks both with wasm-opt into wasm/temporal_tensor.wasm and
// wasm/temporal_tensor_simd.wasm (the loaders pick the SIMD one where the runtime supports it).
// See ../shared/spec/TOOLCHAIN.md and scripts/setup.mjs.
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { probe, root, run, step } from './lib.mjs'

const VARIANTS = [
  { file: 'temporal_tensor.wasm', dir: 'wasm-build', flags: '', opt: [] },
  { file: 'temporal_tensor_simd.wasm', dir: 'wasm-simd-build', flags: ' -C target-feature=+simd128', opt: ['--enable-simd'] },
]

export function buildWasm() {
  const sysroot = probe('rustc', ['--print', 'sysroot'])
  const lld = join(sysroot, 'lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld')
  mkdirSync(join(root, 'wasm'), { recursive: true })
  for (const v of VARIANTS) {
    step(`Building the WebAssembly module ${v.file}`)
    const targetDir = join(root, 'target', v.dir)
    run('/usr/bin/cargo', [
      'build', '--profile', 'wasm', '--target', 'wasm32-unknown-unknown',
      '-p', 'ruvector-temporal-tensor-wasm', '-Zbuild-std=std,panic_abort',
      '--target-dir', targetDir,
    ], {
      env: { ...process.env, RUSTC: '/usr/bin/rustc', RUSTC_BOOTSTRAP: '1', RUSTFLAGS: `-C linker=${lld}${v.flags}` },
    })
    const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm', 'ruvector_temporal_tensor_wasm.wasm')
    const out = join(root, 'wasm', v.file)
    run('wasm-opt', [
      '-Oz', ...v.opt, '--enable-bulk-memory', '--enable-sign-ext', '--enable-nontrapping-float-to-int',
      '--enable-mutable-globals', '--strip-debug', built, '-o', out,
    ])
    console.log(`wasm/${v.file}: ${statSync(out).size} bytes`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) buildWasm()
