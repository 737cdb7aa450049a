// `npm run demo`: installs and builds what is missing, then runs the CLI demo.
import { run, step } from './lib.mjs'
import { setup } from './setup.mjs'

setup({ needs: ['js', 'wasm'] })
step('temporal-tensor demo')
run(process.execPath, ['bin/temporal-tensor.mjs', 'demo', ...process.argv.slice(2)])
