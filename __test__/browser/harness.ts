// What the browser tests share: a static file server on 127.0.0.1 (free port) and headless
// Chromium (/usr/bin/chromium, or CHROMIUM_PATH).
import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { extname, resolve, sep } from 'node:path'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

/** Serves the files under `root` (and nothing outside it) on 127.0.0.1, on a free port. */
export function startServer(root: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(body)
    }
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed')
      // Use the raw request target (not `new URL`, which would silently normalise "..").
      const target = (req.url ?? '/').split(/[?#]/, 1)[0]!
      if (!target.startsWith('/')) return send(400, 'bad path')
      let rel: string
      try {
        rel = decodeURIComponent(target)
      } catch {
        return send(400, 'bad path')
      }
      if (rel.includes('\0')) return send(400, 'bad path')
      const file = resolve(root, '.' + rel)
      if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden')
      const info = await stat(file).catch(() => null)
      if (!info || !info.isFile()) return send(404, 'not found')
      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': body.byteLength,
        'cache-control': 'no-store',
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    } catch (e) {
      send(500, String(e))
    }
  })
  return new Promise((ok, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => ok(server))
  })
}

/** Closes `server` and every connection it holds. */
export async function stopServer(server: Server | undefined): Promise<void> {
  if (!server) return
  server.closeAllConnections?.()
  await new Promise<void>((done) => server.close(() => done()))
}

/** Headless Chromium, or an error saying how to get it. */
export async function launchChromium(timeout: number): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (e.g. apt-get install chromium) or set CHROMIUM_PATH`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
    timeout,
  })
}
