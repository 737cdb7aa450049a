// `npm run build:wasm [-- --enforce-budget]`: builds crates/ruvector-temporal-tensor-wasm for
// wasm32-unknown-unknown twice (toolchain: scripts/toolchain.mjs), a baseline module and one with
// the simd128 kernels, and shrinks both with wasm-opt into wasm/temporal_tensor.wasm and
// wasm/temporal_tensor_simd.wasm (the loaders pick the SIMD one where the runtime supports it).
// Prints each module's size; over WASM_BUDGET_BYTES it warns, or fails with --enforce-budget (CI).
// Used by scripts/setup.mjs when the modules are stale, and by the CI workflow.
import { spawnSync } from 'node:child_process'
import { appendFileSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { root, run, step } from './lib.mjs'
import { ensureSystem } from './setup.mjs'
import { wasmBuild } from './toolchain.mjs'

/** What each module may weigh after wasm-opt (ADR-017 §8.3: < 100 KB). */
export const WASM_BUDGET_BYTES = 100 * 1024

const VARIANTS = [
  { file: 'temporal_tensor.wasm', dir: 'wasm-build', rustflags: '', opt: [] },
  { file: 'temporal_tensor_simd.wasm', dir: 'wasm-simd-build', rustflags: '-C target-feature=+simd128', opt: ['--enable-simd'] },
]

/** Builds both modules; returns false when one is over the budget (and exits when enforced). */
export function buildWasm({ enforceBudget = false } = {}) {
  if (!ensureSystem('wasm')) {
    console.error('✖ cannot build the WebAssembly modules without their toolchain (see above)')
    process.exit(1)
  }
  mkdirSync(join(root, 'wasm'), { recursive: true })
  let within = true
  for (const v of VARIANTS) {
    step(`Building the WebAssembly module ${v.file}`)
    const targetDir = join(root, 'target', v.dir)
    // Panics trap without a message (the shipped modules have nowhere to print one).
    const { cmd, args, env } = wasmBuild({ targetDir, rustflags: v.rustflags, immediateAbort: true })
    run(cmd, args, { env })
    const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm', 'ruvector_temporal_tensor_wasm.wasm')
    const out = join(root, 'wasm', v.file)
    run('wasm-opt', [
      // --converge: repeat the passes while they still shrink the module (≈ 0.1 KB, 3 s).
      '-Oz', '--converge', ...v.opt, '--enable-bulk-memory', '--enable-sign-ext', '--enable-nontrapping-float-to-int',
      '--enable-mutable-globals', '--strip-debug', built, '-o', out,
    ])
    const size = statSync(out).size
    const over = size >= WASM_BUDGET_BYTES
    within &&= !over
    const line = `wasm/${v.file}: ${size} bytes${over ? ` — over the ${WASM_BUDGET_BYTES}-byte budget` : ''}`
    console.log(over ? `⚠ ${line}` : line)
    if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${line}\n`)
  }
  if (!within && enforceBudget) {
    console.error(`✖ a WebAssembly module reached the ${WASM_BUDGET_BYTES}-byte budget`)
    process.exit(1)
  }
  return within
}

/**
 * Builds the simd128 test module with the `kernel-check` feature (`ttc_kernel_check`: every
 * kernel set against the scalar one) into target/wasm-check-build, unoptimized by wasm-opt;
 * returns its path. Used by __test__/wasm-kernels.test.ts, never shipped.
 */
export function buildWasmKernelCheck() {
  if (!ensureSystem('wasm')) throw new Error('cannot build the WebAssembly kernel-check module without its toolchain')
  const targetDir = join(root, 'target', 'wasm-check-build')
  const { cmd, args, env } = wasmBuild({ targetDir, rustflags: VARIANTS[1].rustflags, features: ['kernel-check'] })
  // Not run(): a failure is thrown to the caller (a test), not the end of the process.
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 26 })
  if (r.error || r.status !== 0) {
    throw new Error(`building the kernel-check module failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stderr ?? '').slice(-4000)}`)
  }
  return join(targetDir, 'wasm32-unknown-unknown', 'wasm', 'ruvector_temporal_tensor_wasm.wasm')
}

if (import.meta.url === `file://${process.argv[1]}`) buildWasm({ enforceBudget: process.argv.includes('--enforce-budget') })
