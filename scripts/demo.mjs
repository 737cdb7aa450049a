// `npm run demo`: installs and builds what is missing, then runs the demo (bin/demo.mjs).
import { run, step } from './lib.mjs'
import { setup } from './setup.mjs'

setup({ needs: ['js', 'wasm'] })
step('temporal-tensor demo')
run(process.execPath, ['bin/demo.mjs', ...process.argv.slice(2)])
