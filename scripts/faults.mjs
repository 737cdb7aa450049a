// `npm run faults`: the fault-injection suites at length (TT_FAULTS=long): killed writers (30
// SIGKILLs, two frames per timestamp), processes racing for one store, a full disk (small tmpfs,
// several frame sizes; needs `mount`, so root or a user namespace), corrupted and truncated
// database files, and the WebAssembly glue's limits and traps. `npm test` runs the same suites
// in their short form.
import { run, step } from './lib.mjs'
import { setup } from './setup.mjs'

export const FAULT_SUITES = ['__test__/store-faults.test.ts', '__test__/wasm-faults.test.ts']

setup({ needs: ['js', 'wasm'] })
step('Fault injection, long form (TT_FAULTS=long)')
run('npx', ['vitest', 'run', '--project', 'node', ...FAULT_SUITES], { env: { ...process.env, TT_FAULTS: 'long' } })
