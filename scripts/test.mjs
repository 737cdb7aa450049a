// `npm test`: installs and builds what is missing (scripts/setup.mjs), then runs every suite:
// the Rust workspace tests, and vitest (facade on the native and WASM backends, loader,
// cross-backend, browser, workflow files).
import { run, step } from './lib.mjs'
import { setup } from './setup.mjs'

setup()
step('Rust tests (cargo test --workspace --all-features)')
run('cargo', ['test', '--workspace', '--all-features'])
step('JavaScript tests (vitest: native, wasm, node projects)')
run('npx', ['vitest', 'run'])
