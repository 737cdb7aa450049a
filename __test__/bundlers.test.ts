// The browser entry in real bundlers, with no configuration: a tiny app importing the package by
// its bare name (the tarball `npm pack` makes, installed into a temp project) is built with Vite
// 6, 7 and 8 (production build and dev server), webpack 5, Rollup + node-resolve and esbuild,
// served on 127.0.0.1 and run in headless Chromium. Each must load a WebAssembly module (simd128,
// and the baseline one where simd128 is missing), compress the shared test stream to the same
// bytes as the Node build (and equal bytes from the async calls, which run in a Worker), and pick the entry the package's `exports` promise: the .wasm fetched
// beside the bundle where the bundler copies `new URL(..., import.meta.url)` files (Vite builds,
// webpack), the modules inlined elsewhere. Where the URL entry is forced on a bundler that does
// not copy the file, init() must reject with a coded error naming the URL and what came back.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-ignore -- plain ESM build output
import * as nodeApi from '../dist/index.mjs'
// @ts-ignore -- plain ESM helper shared with the page
import { runAll } from './browser/stream.mjs'
import { launchChromium, startServer, stopServer } from './browser/harness'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const TIMEOUT = 120_000
const PKG = '@ruvector/temporal-tensor'

/** A running app: where to open it, and how to stop what serves it. */
interface Served {
  base: string
  close(): Promise<void>
}

/** The app's files: a page per entry (bare name, and the URL-only `/browser` subpath). */
const APP: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'bundler-app', private: true, type: 'module' }),
  'index.html': '<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./main.js"></script></head><body></body></html>\n',
  'url.html': '<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./url-main.js"></script></head><body></body></html>\n',
  'main.js': `import * as api from '${PKG}'
import { FRAME_COUNT, TENSOR_LEN, makeFrame, runAll, toHex } from './stream.mjs'

// pushManyAsync + flushAsync (run in a Worker made from a blob: URL) against pushMany + flush.
async function asyncMatches() {
  const frames = new Float32Array(FRAME_COUNT * TENSOR_LEN)
  for (let t = 0; t < FRAME_COUNT; t++) frames.set(makeFrame(t), t * TENSOR_LEN)
  const run = async (useAsync) => {
    const c = new api.TemporalTensorCompressor({ tensorLen: TENSOR_LEN })
    c.setAccess(1000, 0)
    const segments = useAsync ? await c.pushManyAsync(frames, 0) : c.pushMany(frames, 0)
    const last = useAsync ? await c.flushAsync() : c.flush()
    if (last) segments.push(last)
    c.free()
    return segments.map(toHex).join('|')
  }
  const [viaWorker, direct] = [await run(true), await run(false)]
  return direct.length > 0 && viaWorker === direct
}

async function run() {
  let notInitialized = null
  try {
    new api.TemporalTensorCompressor({ tensorLen: 8 })
  } catch (e) {
    notInitialized = e instanceof api.TemporalTensorError ? e.code : String(e)
  }
  await api.init()
  return { ok: true, backend: api.backend, kernels: api.kernels, notInitialized, asyncMatches: await asyncMatches(), ...runAll(api) }
}

run().then(
  (r) => { window.__result = r },
  (e) => { window.__result = { ok: false, code: e && e.code, message: String(e && e.message || e) } },
)
`,
  'url-main.js': `import { init, kernels, TemporalTensorError } from '${PKG}/browser'

init().then(
  () => { window.__result = { ok: true, kernels } },
  (e) => { window.__result = { ok: false, typed: e instanceof TemporalTensorError, code: e.code, message: String(e.message) } },
)
`,
}

interface PageResult {
  ok: boolean
  backend?: string
  kernels?: string
  notInitialized?: string
  asyncMatches?: boolean
  code?: string
  typed?: boolean
  message?: string
  segmentsHex?: Record<string, string[]>
  bits?: Record<string, number[]>
  decodedFrames?: Record<string, number>
  decodedChecksum?: string
}

/** A free TCP port on 127.0.0.1 (for dev servers that want a port number up front). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => ok(port))
    })
  })
}

/** Serves a static build directory. */
async function serveDir(dir: string): Promise<Served> {
  const server = await startServer(dir)
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => stopServer(server) }
}

/** The page that loads `script` (a bundle written by webpack, Rollup or esbuild). */
function writePage(out: string, script: string, module: boolean, name = 'index.html'): void {
  const tag = module ? `<script type="module" src="./${script}"></script>` : `<script src="./${script}"></script>`
  writeFileSync(join(out, name), `<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,">${tag}</head><body></body></html>\n`)
}

type Vite = typeof import('vite')

/** `vite build` of the app into `out` through Vite's JS API, served statically. */
async function viteBuild(vite: Vite, app: string, out: string, cacheDir: string): Promise<Served> {
  await vite.build({ root: app, configFile: false, logLevel: 'error', cacheDir, build: { outDir: out, emptyOutDir: true } })
  return serveDir(out)
}

/** Vite's dev server on the app (dependency pre-bundling and all), on 127.0.0.1. */
async function viteDev(vite: Vite, app: string, cacheDir: string): Promise<Served> {
  const port = await freePort()
  const server = await vite.createServer({
    root: app,
    configFile: false,
    logLevel: 'error',
    cacheDir,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
  })
  await server.listen()
  return { base: `http://127.0.0.1:${port}`, close: () => server.close() }
}

/** An app that loads a WebAssembly module must fetch a .wasm (`url`) or not (`inline`). */
type Entry = 'url' | 'inline'

interface Setup {
  name: string
  /** How the default import loads the module in this setup. */
  entry: Entry
  /** Builds (or starts serving) the app; `urlPage` also has the `/browser` page served, if any. */
  start(app: string, out: string): Promise<Served>
  /**
   * The `/browser` (fetch-only) page, where served: `works`, or fails with a coded error whose
   * message names the URL and says this about what came back.
   */
  urlPage?: 'works' | RegExp
}

const viteSetups = (label: string, pkg: string, urlPage: Setup['urlPage']): Setup[] => [
  {
    name: `${label} build`,
    entry: 'url',
    start: async (app, out) => viteBuild((await import(pkg)) as Vite, app, out, join(app, 'node_modules', `.vite-${label}`)),
  },
  {
    name: `${label} dev server`,
    entry: 'inline',
    urlPage,
    start: async (app) => viteDev((await import(pkg)) as Vite, app, join(app, 'node_modules', `.vite-${label}-dev`)),
  },
]

const SETUPS: Setup[] = [
  // Vite 6 and 7 pre-bundle with esbuild, which leaves `new URL` pointing into .vite/deps,
  // where the dev server answers with index.html; Vite 8 (8.3.8; Rolldown pre-bundling) keeps it right.
  ...viteSetups('vite6', 'vite6', /returned an HTML page/),
  ...viteSetups('vite7', 'vite7', /returned an HTML page/),
  ...viteSetups('vite8', 'vite8', 'works'),
  {
    name: 'webpack 5',
    entry: 'url',
    start: async (app, out) => {
      const { default: webpack } = await import('webpack')
      const stats = await new Promise<import('webpack').Stats>((ok, fail) =>
        webpack(
          {
            mode: 'production',
            context: app,
            entry: './main.js',
            output: { path: out, filename: 'main.js', clean: true },
            performance: { hints: false },
          },
          (err, s) => (err || !s ? fail(err ?? new Error('webpack gave no stats')) : ok(s)),
        ),
      )
      expect(stats.hasErrors(), stats.toString('errors-warnings')).toBe(false)
      writePage(out, 'main.js', false)
      return serveDir(out)
    },
  },
  {
    name: 'Rollup + node-resolve',
    entry: 'inline',
    start: async (app, out) => {
      const { rollup } = await import('rollup')
      const { nodeResolve } = await import('@rollup/plugin-node-resolve')
      const warnings: string[] = []
      const bundle = await rollup({ input: join(app, 'main.js'), plugins: [nodeResolve()], onwarn: (w) => void warnings.push(`${w.code}: ${w.message}`) })
      await bundle.write({ file: join(out, 'main.js'), format: 'es' })
      await bundle.close()
      expect(warnings).toEqual([])
      writePage(out, 'main.js', true)
      return serveDir(out)
    },
  },
  {
    name: 'Rollup + node-resolve (browser: true)',
    entry: 'inline',
    start: async (app, out) => {
      const { rollup } = await import('rollup')
      const { nodeResolve } = await import('@rollup/plugin-node-resolve')
      const warnings: string[] = []
      const bundle = await rollup({ input: join(app, 'main.js'), plugins: [nodeResolve({ browser: true })], onwarn: (w) => void warnings.push(`${w.code}: ${w.message}`) })
      await bundle.write({ file: join(out, 'main.js'), format: 'es' })
      await bundle.close()
      expect(warnings).toEqual([])
      writePage(out, 'main.js', true)
      return serveDir(out)
    },
  },
  {
    name: 'esbuild',
    entry: 'inline',
    urlPage: /failed: HTTP 404/,
    start: async (app, out) => {
      const esbuild = await import('esbuild')
      for (const [entry, file] of [['main.js', 'main.js'], ['url-main.js', 'url-main.js']]) {
        const r = await esbuild.build({
          entryPoints: [join(app, entry)],
          bundle: true,
          format: 'esm',
          platform: 'browser',
          outfile: join(out, file),
          logLevel: 'silent',
        })
        expect(r.errors).toEqual([])
      }
      writePage(out, 'main.js', true)
      writePage(out, 'url-main.js', true, 'url.html')
      return serveDir(out)
    },
  },
]

describe('the browser entry in bundlers, zero configuration, in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-bundlers-'))
  const app = join(dir, 'app')
  let browser: Browser | undefined
  let expected: ReturnType<typeof runAll>
  // Vitest sets NODE_ENV=test; a user's shell has none, and the bundlers then take the
  // `production` condition (Vite's build, node-resolve) as they would for them.
  const nodeEnv = process.env.NODE_ENV

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'inline.mjs')) || !existsSync(join(ROOT, 'dist', 'temporal_tensor_simd.wasm'))) {
      throw new Error('dist/inline.mjs or dist/temporal_tensor_simd.wasm is missing: run `node scripts/setup.mjs` first')
    }
    // The package as npm would install it: packed (dist/ as built), then installed from the
    // tarball into the app (no registry needed: it has no dependencies).
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    const tarball = join(dir, JSON.parse(packed)[0].filename)
    mkdirSync(app)
    for (const [file, text] of Object.entries(APP)) writeFileSync(join(app, file), text)
    copyFileSync(join(ROOT, '__test__', 'browser', 'stream.mjs'), join(app, 'stream.mjs'))
    execFileSync('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--loglevel=error'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
    expected = runAll(nodeApi)
    browser = await launchChromium(TIMEOUT)
  }, TIMEOUT)

  afterAll(async () => {
    if (nodeEnv !== undefined) process.env.NODE_ENV = nodeEnv
    await browser?.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }, TIMEOUT)

  /** Opens `url`; `baseline` hides simd128 from the page (WebAssembly.validate says no). */
  async function open(url: string, baseline: boolean): Promise<{ result: PageResult; wasmFetched: string[]; log: string }> {
    const page = await browser!.newPage()
    const log: string[] = []
    const wasmFetched: string[] = []
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`))
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`))
    page.on('response', (r) => {
      if (r.url().split(/[?#]/)[0]!.endsWith('.wasm')) wasmFetched.push(r.url())
      if (r.status() >= 400) log.push(`HTTP ${r.status()}: ${r.url()}`)
    })
    if (baseline) await page.addInitScript(() => { WebAssembly.validate = () => false })
    try {
      await page.goto(url, { timeout: TIMEOUT })
      await page.waitForFunction(() => (window as any).__result !== undefined, null, { timeout: TIMEOUT }).catch((e) => {
        throw new Error(`${url} never set window.__result (${String(e)})\n${log.join('\n')}`)
      })
      const result = (await page.evaluate(() => (window as any).__result)) as PageResult
      return { result, wasmFetched, log: log.join('\n') }
    } finally {
      await page.close().catch(() => {})
    }
  }

  for (const setup of SETUPS) {
    it(`${setup.name}: builds, loads the ${setup.entry === 'url' ? 'fetched' : 'inlined'} module (simd128 and baseline), same bytes as Node, async calls too`, async () => {
      const out = join(dir, `out-${setup.name.replace(/[^a-z0-9]+/gi, '-')}`)
      mkdirSync(out, { recursive: true })
      delete process.env.NODE_ENV // a fresh shell's (Vite's build sets it to production)
      const served = await setup.start(app, out)
      try {
        for (const baseline of [false, true]) {
          const { result, wasmFetched, log } = await open(`${served.base}/index.html`, baseline)
          const what = `${setup.name}${baseline ? ' (no simd128)' : ''}`
          expect(result.ok, `${what}: ${result.code ?? ''} ${result.message ?? ''}\n${log}`).toBe(true)
          expect(result.backend).toBe('wasm')
          expect(result.notInitialized, what).toBe('NOT_INITIALIZED')
          expect(result.kernels, what).toBe(baseline ? 'scalar' : 'simd128')
          expect(result.asyncMatches, `${what}: async calls (in a Worker) equal sync ones`).toBe(true)
          // The module came from where this bundler's entry takes it.
          if (setup.entry === 'url') expect(wasmFetched, `${what}\n${log}`).toHaveLength(1)
          else expect(wasmFetched, what).toEqual([])
          // Byte for byte what the Node build writes, at every tier, and the same decoded values.
          expect(Object.keys(result.segmentsHex!).sort(), what).toEqual(Object.keys(expected.segmentsHex).sort())
          for (const [tier, want] of Object.entries(expected.segmentsHex as Record<string, string[]>)) {
            expect(want.length, `${tier}: Node wrote no segment`).toBeGreaterThan(0)
            expect(result.segmentsHex![tier]!.length, `${what} ${tier}: segment count`).toBe(want.length)
            want.forEach((hex, i) => expect(result.segmentsHex![tier]![i] === hex, `${what} ${tier} segment ${i} differs from Node`).toBe(true))
          }
          expect(result.bits, what).toEqual(expected.bits)
          expect(result.decodedFrames, what).toEqual(expected.decodedFrames)
          expect(result.decodedChecksum, what).toBe(expected.decodedChecksum)
        }
        if (setup.entry === 'url') {
          // Both modules were emitted beside the bundle (the simd128 one and the baseline one).
          const wasm = readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.wasm'))
          expect(wasm, setup.name).toHaveLength(2)
          expect(wasm.map((f) => statSync(join(out, f)).size).sort(), setup.name).toEqual(
            ['temporal_tensor.wasm', 'temporal_tensor_simd.wasm'].map((f) => statSync(join(ROOT, 'dist', f)).size).sort(),
          )
          // ... and the inlined copies are not in the JavaScript (under 100 KB; they are 290 KB).
          const js = readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.js'))
          const jsBytes = js.reduce((sum, f) => sum + statSync(join(out, f)).size, 0)
          expect(jsBytes, `${setup.name}: ${js.join(', ')}`).toBeLessThan(100_000)
        }
        if (setup.urlPage) {
          // The fetch-only entry where the file may not be where import.meta.url says.
          const { result, wasmFetched, log } = await open(`${served.base}/url.html`, false)
          if (setup.urlPage === 'works') {
            expect(result.ok, `${setup.name} /browser: ${result.message}\n${log}`).toBe(true)
            expect(result.kernels).toBe('simd128')
            expect(wasmFetched).toHaveLength(1)
          } else {
            expect(result.ok, `${setup.name} /browser: ${log}`).toBe(false)
            expect(result.typed, result.message).toBe(true)
            expect(result.code, result.message).toBe('BACKEND_UNAVAILABLE')
            expect(result.message).toMatch(/ from http:\/\/127\.0\.0\.1:\d+\/\S*temporal_tensor_simd\.wasm /)
            expect(result.message).toMatch(setup.urlPage)
            expect(result.message).toMatch(/import @ruvector\/temporal-tensor\/inline/)
          }
        }
      } finally {
        await served.close()
      }
    }, TIMEOUT)
  }
})
