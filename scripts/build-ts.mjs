// Bundles the TypeScript facade (src-ts/) into dist/: ESM and CJS for Node, ESM for browsers,
// .d.ts declarations with their .d.cts twins for `require`, and a copy of the WebAssembly module.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root, run, step } from './lib.mjs'

/**
 * Bundles src-ts/ into dist/. A missing .wasm module exits with a message, or with
 * `requireWasm: false` (a checkout that cannot build them) is left out with a warning: the bundle
 * then has the native backend only.
 */
export function buildTs({ requireWasm = true } = {}) {
  step('Bundling the TypeScript facade')
  const dist = join(root, 'dist')
  rmSync(dist, { recursive: true, force: true })
  mkdirSync(dist, { recursive: true })
  const esbuild = join(root, 'node_modules', '.bin', 'esbuild')
  // The WebAssembly backend's worker (src-ts/wasm-worker.ts), bundled on its own as a script and
  // handed to every bundle as the string __TT_WORKER_SOURCE__ (see src-ts/wasm.ts).
  const workerJs = join(dist, '.wasm-worker.js')
  run(esbuild, ['src-ts/wasm-worker.ts', '--bundle', '--target=es2022', '--log-level=warning', '--legal-comments=none',
    '--platform=browser', '--format=iife', '--global-name=__ttWorker', '--minify', `--outfile=${workerJs}`])
  const workerShim = join(dist, '.wasm-worker-shim.js')
  writeFileSync(workerShim, `export const __TT_WORKER_SOURCE__ = ${JSON.stringify(readFileSync(workerJs, 'utf8'))}\n`)
  rmSync(workerJs)
  const common = ['--bundle', '--target=es2022', '--log-level=warning', '--legal-comments=none', '--external:lmdb', '--external:ioredis', '--external:pg', `--inject:${workerShim}`]
  run(esbuild, ['src-ts/index.ts', ...common, '--platform=node', '--format=esm', '--outfile=dist/index.mjs'])
  // CommonJS: import.meta.url comes from a shim that derives it from __filename.
  const shim = join(dist, '.cjs-shim.js')
  writeFileSync(shim, "export const importMetaUrl = require('node:url').pathToFileURL(__filename).href\n")
  run(esbuild, [
    'src-ts/index.ts', ...common, '--platform=node', '--format=cjs', '--outfile=dist/index.cjs',
    `--inject:${shim}`, '--define:import.meta.url=importMetaUrl',
  ])
  rmSync(shim)
  run(esbuild, ['src-ts/browser.ts', ...common, '--platform=browser', '--format=esm', '--outfile=dist/browser.mjs'])
  // The same browser API with both .wasm modules inside (base64), for bundlers that do not copy
  // `new URL('./x.wasm', import.meta.url)` files (inline.mjs), and the one that fetches in Vite
  // builds and uses the inlined bytes elsewhere (auto.mjs); both need the modules.
  const wasmThere = ['temporal_tensor.wasm', 'temporal_tensor_simd.wasm'].every((f) => existsSync(join(root, 'wasm', f)))
  if (wasmThere) {
    for (const name of ['inline', 'auto']) {
      run(esbuild, [`src-ts/${name}.ts`, ...common, '--platform=browser', '--format=esm', '--loader:.wasm=base64', `--outfile=dist/${name}.mjs`])
    }
  }
  rmSync(workerShim)
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--emitDeclarationOnly'])
  writeCjsDeclarations(dist)
  for (const file of ['temporal_tensor.wasm', 'temporal_tensor_simd.wasm']) {
    const wasm = join(root, 'wasm', file)
    if (!existsSync(wasm)) {
      if (!requireWasm) {
        console.warn(`⚠ wasm/${file} is missing: dist/ is built without it (native backend only)`)
        continue
      }
      console.error(`wasm/${file} is missing: run \`npm run build:wasm\` first`)
      process.exit(1)
    }
    copyFileSync(wasm, join(dist, file))
  }
}

/**
 * The CommonJS twin of a declaration file's text: relative specifiers `./x.js` (in `from '...'`
 * and `import('...')`) become `./x.cjs`, so they resolve to the other .d.cts files. Nothing else
 * changes.
 */
export function cjsDeclaration(text) {
  return text.replace(/(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]*?)\.js\2/g, '$1$2$3.cjs$2')
}

/**
 * Writes dist/X.d.cts beside every dist/X.d.ts (tsc's output, the one source): in a
 * `"type": "module"` package TypeScript reads a .d.ts as ESM, so the `require` condition of
 * package.json's `exports` needs .d.cts types or CommonJS consumers get TS1479.
 */
export function writeCjsDeclarations(dist) {
  for (const file of readdirSync(dist).filter((f) => f.endsWith('.d.ts'))) {
    writeFileSync(join(dist, file.replace(/\.d\.ts$/, '.d.cts')), cjsDeclaration(readFileSync(join(dist, file), 'utf8')))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) buildTs()
