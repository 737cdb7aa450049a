// The browser entries' init() on what a misconfigured server or bundler hands back, run in Node
// (which has fetch and WebAssembly.instantiateStreaming): every failure is BACKEND_UNAVAILABLE
// naming the URL and what came back, changes nothing, and a later init() may still succeed.
import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const wasm = readFileSync(fileURLToPath(new URL('../dist/temporal_tensor_simd.wasm', import.meta.url)))

/** Path -> [status, content-type, body]. */
const ROUTES: Record<string, [number, string, Uint8Array | string]> = {
  '/html/temporal_tensor_simd.wasm': [200, 'text/html; charset=utf-8', '<!doctype html>\n<html><body>app</body></html>'],
  '/missing/temporal_tensor_simd.wasm': [404, 'text/plain', 'not found'],
  '/garbage/temporal_tensor_simd.wasm': [200, 'application/octet-stream', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
  '/bad-wasm/temporal_tensor_simd.wasm': [200, 'application/wasm', new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9, 9, 9])],
  '/octet/temporal_tensor_simd.wasm': [200, 'application/octet-stream', wasm],
}

let server: Server
let base = ''
beforeAll(async () => {
  server = createServer((req, res) => {
    const [status, type, body] = ROUTES[req.url ?? ''] ?? [404, 'text/plain', 'not found']
    res.writeHead(status, { 'content-type': type })
    res.end(body)
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections?.()
  await new Promise<void>((done) => server.close(() => done()))
})

describe('browser entry init(): coded errors that name the URL', () => {
  it('rejects the default URL unfetched, an HTML page, a 404, other bytes and a broken module; then loads a good one', async () => {
    // @ts-ignore -- plain ESM build output
    const api = await import('../dist/browser.mjs')
    const failure = async (path: string) => {
      const e = await api.init(`${base}${path}`).then(() => null, (err: unknown) => err)
      expect(e, path).toBeInstanceOf(api.TemporalTensorError)
      expect(e.code, e.message).toBe('BACKEND_UNAVAILABLE')
      expect(e.message).toContain(`${base}${path}`)
      return e.message as string
    }
    // The default URL (in Node import.meta.url is a file: URL, which fetch refuses): the message
    // says what to do about a bundler that did not emit the file.
    const byDefault = await api.init().then(() => null, (err: unknown) => err)
    expect(byDefault?.code).toBe('BACKEND_UNAVAILABLE')
    expect(byDefault.message).toMatch(/could not fetch the WebAssembly module from file:\/\/\S+\/dist\/temporal_tensor(_simd)?\.wasm/)
    expect(byDefault.message).toMatch(/import @ruvector\/temporal-tensor\/inline/)
    expect(await failure('/html/temporal_tensor_simd.wasm')).toMatch(/returned an HTML page, not WebAssembly/)
    expect(await failure('/missing/temporal_tensor_simd.wasm')).toMatch(/failed: HTTP 404/)
    expect(await failure('/garbage/temporal_tensor_simd.wasm')).toMatch(
      /8 bytes that are not WebAssembly \(application\/octet-stream, first bytes 01 02 03 04\)/,
    )
    expect(await failure('/bad-wasm/temporal_tensor_simd.wasm')).toMatch(/could not compile the WebAssembly module fetched from/)
    // An explicit URL is the caller's choice: no bundler advice in the message.
    expect(await failure('/missing/temporal_tensor_simd.wasm')).not.toMatch(/\/inline/)
    // Still not initialised: the failures changed nothing.
    expect(() => new api.TemporalTensorCompressor({ tensorLen: 8 })).toThrow(expect.objectContaining({ code: 'NOT_INITIALIZED' }))
    // A module served as application/octet-stream (no streaming compile) still loads.
    await api.init(`${base}/octet/temporal_tensor_simd.wasm`)
    expect(api.kernels).toBe('simd128')
    const c = new api.TemporalTensorCompressor({ tensorLen: 8, policy: { fixedBits: 8 } })
    c.push(new Float32Array(8).fill(1), 0)
    expect(api.segmentInfo(c.flush()!).frameCount).toBe(1)
    c.free()
  })

  it('the inline entry loads with no argument and nothing to fetch', async () => {
    // @ts-ignore -- plain ESM build output
    const api = await import('../dist/inline.mjs')
    await api.init()
    expect(api.kernels).toBe('simd128')
    expect(api.backend).toBe('wasm')
  })
})
