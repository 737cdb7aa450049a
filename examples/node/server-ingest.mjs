// @ts-check
// A small ingest server: frames arrive over HTTP on 127.0.0.1 and are compressed into a
// TensorStreamStore as they come; a GET reads a time range back.
//
//   POST /tensors/<id>?ts=<ms>   body: one frame as little-endian f32 bytes (ts defaults to Date.now())
//   GET  /tensors/<id>?from=<ms>&to=<ms>   → { timestamps: number[], frames: number[][] }
//
// Run: node examples/node/server-ingest.mjs [--lmdb ./ingest-db]   (PORT=8080 by default)
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { TemporalTensorError, TensorStreamStore } from '@ruvector/temporal-tensor'

/** Largest request body accepted (one frame of up to 1 Mi f32 values). */
const MAX_BODY = 4 << 20

/**
 * Reads a request's body, at most `MAX_BODY` bytes (413 beyond).
 * @param {import('node:http').IncomingMessage} req
 * @returns {Promise<Buffer>}
 */
async function body(req) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 })
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * A millisecond timestamp from a query parameter (`fallback` when absent); the store itself
 * rejects anything that is not an integer 0..2^53-1.
 * @param {string | null} value
 * @param {number} fallback
 */
const msParam = (value, fallback) => (value === null ? fallback : Number(value))

/**
 * Starts the ingest server on 127.0.0.1 (`port` 0: a free port). Resolves once it listens.
 * `close()` stops the server, then closes the store.
 * @param {{ port?: number, store?: TensorStreamStore }} [options]
 * @returns {Promise<{ url: string, store: TensorStreamStore, close: () => Promise<void> }>}
 */
export async function startIngestServer(options = {}) {
  const store = options.store ?? new TensorStreamStore()
  const server = createServer(async (req, res) => {
    const reply = (/** @type {number} */ status, /** @type {unknown} */ value) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(value))
    }
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const match = /^\/tensors\/([^/:]+)$/.exec(url.pathname)
      if (!match) return reply(404, { error: 'use /tensors/<id>' })
      const id = decodeURIComponent(match[1])
      if (req.method === 'POST') {
        const frame = await body(req) // little-endian f32 bytes: the store reads them as they are
        await store.append(id, frame, msParam(url.searchParams.get('ts'), Date.now()))
        return reply(204, null)
      }
      if (req.method === 'GET') {
        const { timestamps, frames } = await store.read(id, msParam(url.searchParams.get('from'), 0), msParam(url.searchParams.get('to'), Number.MAX_SAFE_INTEGER))
        const dim = timestamps.length ? frames.length / timestamps.length : 0
        return reply(200, {
          timestamps: Array.from(timestamps),
          frames: Array.from(timestamps, (_, i) => Array.from(frames.subarray(i * dim, (i + 1) * dim))),
        })
      }
      return reply(405, { error: 'POST or GET' })
    } catch (e) {
      // Bad input is a coded TemporalTensorError (INVALID_ARGUMENT, LENGTH_MISMATCH, NON_FINITE...).
      if (e instanceof TemporalTensorError) return reply(400, { error: e.message, code: e.code })
      const status = /** @type {{ status?: number }} */ (e).status ?? 500
      return reply(status, { error: String(e) })
    }
  })
  await new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined)))
  const address = /** @type {import('node:net').AddressInfo} */ (server.address())
  return {
    url: `http://127.0.0.1:${address.port}`,
    store,
    close: async () => {
      await new Promise((resolve) => server.close(() => resolve(undefined)))
      await store.close()
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lmdb = process.argv.indexOf('--lmdb')
  const store = lmdb > 0 ? await TensorStreamStore.open({ path: process.argv[lmdb + 1] }) : new TensorStreamStore()
  const { url, close } = await startIngestServer({ port: Number(process.env.PORT ?? 8080), store })
  console.log(`ingesting on ${url}/tensors/<id> (Ctrl-C stops)`)
  process.once('SIGINT', () => void close())
}
