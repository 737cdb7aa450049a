// The npm package as consumers get it: the tarball `npm pack` makes (from the built dist/) passes
// arethetypeswrong (.attw.json) and publint --strict, its .d.cts types are tsc's .d.ts with CommonJS
// specifiers, and two tiny consumer projects (CommonJS and ESM, `module: node16`) type-check
// against it with strict settings and run.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs build script, without declarations
import { cjsDeclaration } from '../scripts/build-ts.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const bin = (name: string) => join(root, 'node_modules', '.bin', name)
const dir = mkdtempSync(join(tmpdir(), 'tt-package-'))
let tarball = ''
afterAll(() => rmSync(dir, { recursive: true, force: true }))

beforeAll(() => {
  // --ignore-scripts: pack dist/ as built (prepack would rebuild everything).
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  tarball = join(dir, JSON.parse(out)[0].filename)
})

/** A consumer project in dir/name: `files`, the tarball unpacked as node_modules/<package>, Node's types. */
function consumer(name: string, files: Record<string, string>): string {
  const project = join(dir, name)
  const installed = join(project, 'node_modules', pkg.name)
  mkdirSync(installed, { recursive: true })
  execFileSync('tar', ['xzf', tarball, '-C', installed, '--strip-components=1'])
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true })
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir')
  for (const [file, text] of Object.entries(files)) writeFileSync(join(project, file), text)
  return project
}

const tsconfig = (extra: object = {}) => JSON.stringify({
  compilerOptions: {
    module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022'], types: ['node'],
    strict: true, skipLibCheck: false, outDir: 'out', ...extra,
  },
  include: ['src'],
})

function tsc(project: string) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' })
  return { code: r.status, out: r.stdout + r.stderr }
}

/** Code both consumers compile: every export they use, with its type. */
const usage = `
const c = new TemporalTensorCompressor({ tensorLen: 8, policy: { fixedBits: 8 } })
c.push(new Float32Array(8).fill(1), 0)
const seg: Uint8Array | null = c.flush()
c.free()
if (seg === null) throw new Error('no segment')
{
  using disposed = new TemporalTensorCompressor({ tensorLen: 8 })
  disposed.push(new Float32Array(8), 0)
}
const info: SegmentInfo = segmentInfo(seg)
const values: Float32Array = decodeSegment(seg)
try {
  decodeSegment(new Uint8Array(4))
} catch (e) {
  if (!(e instanceof TemporalTensorError)) throw e
  const code: string = e.code
  console.log(JSON.stringify({ backend, format: info.format, frames: info.frameCount, values: values.length, code }))
}
`

describe('the packed npm package', () => {
  it('arethetypeswrong: no problem but ./browser and ./inline being ESM-only (ignored in .attw.json); require gets the .d.cts types', () => {
    const r = spawnSync(bin('attw'), [tarball, '--format', 'json'], { cwd: root, encoding: 'utf8' })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const { analysis, problems } = JSON.parse(r.stdout)
    const all = Object.values(problems as Record<string, { kind: string, entrypoint: string }[]>).flat()
    expect(all.map((p) => `${p.kind} ${p.entrypoint}`).sort()).toEqual(['CJSResolvesToESM ./browser', 'CJSResolvesToESM ./inline'])
    expect(JSON.parse(readFileSync(join(root, '.attw.json'), 'utf8')).ignoreRules).toEqual(['cjs-resolves-to-esm'])
    const root_ = analysis.entrypoints['.'].resolutions
    expect(root_['node16-cjs'].resolution.fileName).toMatch(/\/dist\/index\.d\.cts$/)
    expect(root_['node16-esm'].resolution.fileName).toMatch(/\/dist\/index\.d\.ts$/)
    // `moduleResolution: bundler` has no `node` condition: the browser types, as bundlers load
    // a browser entry there.
    expect(root_.bundler.resolution.fileName).toMatch(/\/dist\/browser\.d\.ts$/)
    expect(analysis.entrypoints['./node'].resolutions.bundler.resolution.fileName).toMatch(/\/dist\/index\.d\.ts$/)
  })

  it('publint --strict: no error and no warning', () => {
    const r = spawnSync(bin('publint'), ['run', tarball, '--strict'], { cwd: root, encoding: 'utf8' })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout + r.stderr).not.toMatch(/^(Errors|Warnings):/m)
  })

  it('every dist/*.d.ts has its .d.cts twin: the same text with ./x.cjs specifiers', () => {
    const dist = join(root, 'dist')
    const dts = readdirSync(dist).filter((f) => f.endsWith('.d.ts'))
    expect(dts).toContain('index.d.ts')
    for (const f of dts) {
      const twin = readFileSync(join(dist, f.replace(/\.d\.ts$/, '.d.cts')), 'utf8')
      expect(twin, f).toBe(cjsDeclaration(readFileSync(join(dist, f), 'utf8')))
      expect(twin, f).not.toMatch(/from '\.\.?\/[^']*\.js'/)
    }
    expect(cjsDeclaration(`export * from './public.js';\nimport type { A } from "../x.js";\ntype B = import('./store.js').C;\nimport 'node:fs';\nfrom 'pkg/a.js'`))
      .toBe(`export * from './public.cjs';\nimport type { A } from "../x.cjs";\ntype B = import('./store.cjs').C;\nimport 'node:fs';\nfrom 'pkg/a.js'`)
  })

  it('a CommonJS consumer (module node16, require) type-checks strictly and runs', () => {
    const project = consumer('cjs', {
      'package.json': JSON.stringify({ name: 'cjs-consumer', private: true, type: 'commonjs' }),
      'tsconfig.json': tsconfig(),
    })
    mkdirSync(join(project, 'src'))
    writeFileSync(join(project, 'src', 'index.ts'), `import { TemporalTensorCompressor, TemporalTensorError, backend, decodeSegment, segmentInfo, type SegmentInfo } from '${pkg.name}'\n${usage}`)
    writeFileSync(join(project, 'src', 'required.cts'), `import tt = require('${pkg.name}')\nconst b: 'native' | 'wasm' = tt.backend\nexport = b\n`)
    const r = tsc(project)
    expect(r.code, r.out).toBe(0)
    expect(readFileSync(join(project, 'out', 'index.js'), 'utf8')).toMatch(`require("${pkg.name}")`)
    const run = spawnSync(process.execPath, ['out/index.js'], { cwd: project, encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ format: 'coded', frames: 1, values: 8, code: 'TRUNCATED' })
  })

  it('moduleResolution bundler: the bare name has the browser types (bundlers load a browser entry) unless customConditions has "node"; /node always the Node types', () => {
    const project = consumer('bundler', { 'package.json': JSON.stringify({ name: 'bundler-consumer', private: true, type: 'module' }) })
    mkdirSync(join(project, 'src'))
    writeFileSync(join(project, 'src', 'app.ts'), `import { init, kernels, backend, TemporalTensorCompressor, type InitInput } from '${pkg.name}'
import * as inline from '${pkg.name}/inline'
const input: InitInput = new URL('https://example.test/t.wasm')
await init(input)
await inline.init()
const c = new TemporalTensorCompressor({ tensorLen: 8 })
const b: 'native' | 'wasm' = backend
console.log(kernels, b, c.tensorLen, inline.kernelsReason)
`)
    writeFileSync(join(project, 'src', 'store.ts'), `import { TensorStreamStore } from '${pkg.name}'
export const store = TensorStreamStore
`)
    writeFileSync(join(project, 'src', 'node.ts'), `import { TensorStreamStore, init, createCompressStream } from '${pkg.name}/node'
await init()
export const both = [TensorStreamStore, createCompressStream]
`)
    writeFileSync(join(project, 'src', 'node-app.ts'), `import { init, TensorStreamStore, nativeLoadError } from '${pkg.name}'\nawait init()\nexport const both = [TensorStreamStore, nativeLoadError]\n`)
    const config = (files: string[], customConditions?: string[]) => JSON.stringify({
      compilerOptions: {
        module: 'preserve', moduleResolution: 'bundler', target: 'ES2022', lib: ['ES2022', 'DOM'], types: ['node'],
        strict: true, skipLibCheck: true, noEmit: true, ...(customConditions ? { customConditions } : {}),
      },
      files: files.map((f) => `src/${f}`),
    })
    for (const conditions of [undefined, ['browser']]) {
      writeFileSync(join(project, 'tsconfig.json'), config(['app.ts', 'store.ts', 'node.ts'], conditions))
      const r = tsc(project)
      // The one error: a Node-only export, which the bundle would not have either.
      expect(r.out.trim().split('\n'), `customConditions ${JSON.stringify(conditions)}`).toEqual([
        `src/store.ts(1,10): error TS2305: Module '"${pkg.name}"' has no exported member 'TensorStreamStore'.`,
      ])
    }
    writeFileSync(join(project, 'tsconfig.json'), config(['store.ts', 'node.ts', 'node-app.ts'], ['node']))
    const r = tsc(project)
    expect(r.code, r.out).toBe(0)
  })

  it('every export of the browser entries is also an export of the Node entry, so code typed by the browser types runs on Node', async () => {
    const names = async (file: string) => Object.keys(await import(join(root, 'dist', file))).sort()
    const [browser, inline, node] = await Promise.all([names('browser.mjs'), names('inline.mjs'), names('index.mjs')])
    expect(inline).toEqual(browser)
    expect(browser).toContain('init')
    expect(browser.filter((n) => !node.includes(n))).toEqual([])
    const nodeApi = await import(join(root, 'dist', 'index.mjs'))
    await expect(nodeApi.init()).resolves.toBeUndefined()
  })

  it('an ESM consumer (module node16, import) type-checks strictly, with the /browser types, and runs', () => {
    const project = consumer('esm', {
      'package.json': JSON.stringify({ name: 'esm-consumer', private: true, type: 'module' }),
      'tsconfig.json': tsconfig({ lib: ['ES2022', 'DOM'] }),
    })
    mkdirSync(join(project, 'src'))
    writeFileSync(join(project, 'src', 'index.ts'), `import { TemporalTensorCompressor, TemporalTensorError, backend, decodeSegment, segmentInfo, type SegmentInfo } from '${pkg.name}'\nimport type { init } from '${pkg.name}/browser'\nexport type Init = typeof init\n${usage}`)
    const r = tsc(project)
    expect(r.code, r.out).toBe(0)
    const run = spawnSync(process.execPath, ['out/index.js'], { cwd: project, encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ format: 'coded', frames: 1, values: 8, code: 'TRUNCATED' })
  })
})
