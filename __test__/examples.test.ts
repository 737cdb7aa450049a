// examples/: the Node ones run (the ingest server over loopback, the store range read, the CLI on
// a .npy), and all of them type-check (examples/tsconfig.json, checkJs).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
// @ts-expect-error: plain ESM example without types
import { startIngestServer } from '../examples/node/server-ingest.mjs'
// @ts-expect-error: plain ESM example without types
import { rangeExample } from '../examples/node/store-range.mjs'
// @ts-expect-error: plain ESM example without types
import { makeNpy } from '../examples/cli-numpy/make-npy.mjs'
import { BOUNDS, relativeError } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('examples', () => {
  it('server-ingest: frames POSTed over loopback are stored and read back by time range', async () => {
    const server = await startIngestServer({ port: 0 })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const t0 = 1_764_000_000_000 // Date.now()-like milliseconds
      const frames = Array.from({ length: 5 }, (_, k) => Float32Array.from({ length: 32 }, (_, i) => Math.sin(i / 4 + k)))
      for (const [k, frame] of frames.entries()) {
        const res = await fetch(`${server.url}/tensors/cam-1?ts=${t0 + k * 40}`, { method: 'POST', body: new Uint8Array(frame.buffer) })
        expect(res.status).toBe(204)
      }
      const res = await fetch(`${server.url}/tensors/cam-1?from=${t0 + 40}&to=${t0 + 120}`)
      expect(res.status).toBe(200)
      const got = (await res.json()) as { timestamps: number[]; frames: number[][] }
      expect(got.timestamps).toEqual([t0 + 40, t0 + 80, t0 + 120])
      got.frames.forEach((f, j) => expect(relativeError(frames[j + 1], Float32Array.from(f))).toBeLessThan(BOUNDS[3])) // an untouched tensor is cold: 3 bits
      // Bad input is a 400 with the store's code, and stores nothing.
      const bad = await fetch(`${server.url}/tensors/cam-1?ts=1.5`, { method: 'POST', body: new Uint8Array(frames[0].buffer) })
      expect(bad.status).toBe(400)
      expect(await bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' })
      const short = await fetch(`${server.url}/tensors/cam-1?ts=${t0 + 999}`, { method: 'POST', body: new Uint8Array(6) })
      expect(short.status).toBe(400)
      expect((await server.store.read('cam-1', 0, Number.MAX_SAFE_INTEGER)).timestamps.length).toBe(5)
    } finally {
      await server.close()
    }
  })

  it('store-range: the last 5 s and one instant, by millisecond timestamps', async () => {
    const start = 1_764_000_000_000
    const { end, last5s, at, segments } = await rangeExample({ start, seconds: 20, dim: 16 })
    expect(end).toBe(start + 199 * 100)
    expect(Array.from(last5s.timestamps)).toEqual(Array.from({ length: 51 }, (_, k) => end - 5000 + k * 100))
    expect(last5s.frames.length).toBe(51 * 16)
    expect(at.ts).toBe(start + 12_300)
    expect(segments).toBeGreaterThanOrEqual(1)
  })

  it('cli-numpy: make-npy writes a float32 .npy the CLI compresses, inspects and decompresses', () => {
    const work = mkdtempSync(join(tmpdir(), 'tt-examples-'))
    dirs.push(work)
    const npy = makeNpy(3, 5) as Uint8Array
    expect(Array.from(npy.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
    expect((npy.length - 15 * 4) % 64).toBe(0) // header padded to 64 bytes
    const out = execFileSync('bash', [join(root, 'examples/cli-numpy/run.sh'), work], {
      encoding: 'utf8',
      env: { ...process.env, TT: `node ${join(root, 'bin/temporal-tensor.mjs')}` },
    })
    expect(out).toContain('frames.tqtc')
    expect(statSync(join(work, 'frames.f32')).size).toBe(100 * 128 * 4)
    const tqtc = readFileSync(join(work, 'frames.tqtc'))
    expect(tqtc.length).toBeLessThan(statSync(join(work, 'frames.npy')).size / 3)
  })

  it('type-check (examples/tsconfig.json: checkJs, strict), the browser module included', () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    expect(() => execFileSync(process.execPath, [tsc, '-p', join(root, 'examples/tsconfig.json')], { encoding: 'utf8' })).not.toThrow()
    const html = readFileSync(join(root, 'examples/browser/index.html'), 'utf8')
    expect(html).toContain('"@ruvector/temporal-tensor/browser": "/dist/browser.mjs"')
    expect(html).toContain('src="./main.mjs"')
  })

  // The browser suite (__test__/browser.test.ts) installs Chromium; here the page runs when it is there.
  it.skipIf(!existsSync(CHROMIUM))('browser: the page compresses and decodes within every bound (headless Chromium)', async () => {
    const types: Record<string, string> = { '.html': 'text/html', '.mjs': 'text/javascript', '.wasm': 'application/wasm' }
    const server = createServer((req, res) => {
      const path = normalize(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)
      const file = join(root, path)
      if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage()
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/examples/browser/index.html`)
      await page.waitForFunction(() => !document.getElementById('out')?.textContent?.startsWith('loading'), null, { timeout: 30_000 })
      const lines = (await page.textContent('#out'))!.split('\n')
      expect(lines[0]).toMatch(/^WebAssembly kernels: /)
      const rows = lines.slice(1).map((l) => /^(\d) bits: \d+ bytes .*worst error ([\d.]+) % \(bound ([\d.]+) %\)$/.exec(l))
      expect(rows.map((m) => Number(m?.[1]))).toEqual([8, 7, 5, 3])
      for (const m of rows) expect(Number(m![2])).toBeLessThanOrEqual(Number(m![3]))
    } finally {
      await browser.close()
      server.close()
    }
  })
})
