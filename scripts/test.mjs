// `npm test`: installs and builds what is missing (scripts/setup.mjs), then runs every suite:
// the Rust workspace tests, the C header check and C example, the Python wheel's pytest suite in
// a fresh venv, a short run of every fuzz target, the core's tests on aarch64 (NEON) under qemu,
// and vitest (the facade on native and WASM with SIMD and scalar kernels, property tests, store,
// CLI, loader, cross-backend, robustness, browser, workflow files).
import { run, step } from './lib.mjs'
import { setup } from './setup.mjs'
import { fuzzShort } from './fuzz.mjs'
import { testAarch64 } from './test-aarch64.mjs'
import { checkHeader, runExample } from './c-abi.mjs'
import { testPython } from './python.mjs'

setup()
step('Rust tests (cargo test --workspace --all-features)')
run('cargo', ['test', '--workspace', '--all-features'])
step('C ABI (the generated header is current; examples/c/roundtrip.c built with cc and run)')
checkHeader()
runExample()
step('Python binding (abi3 wheel installed in a fresh venv; pytest)')
await testPython()
fuzzShort()
testAarch64()
step('JavaScript tests (vitest)')
run('npx', ['vitest', 'run'])
