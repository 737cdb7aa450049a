// Builds what the npm package ships (the .wasm and the TypeScript bundle); used by `prepack`.
import { buildTs } from './build-ts.mjs'
import { buildWasm } from './build-wasm.mjs'

buildWasm()
buildTs()
