// `npm run bench:store`: the store on each backend (memory, LMDB, Redis, Redis Cluster of 3
// masters, PostgreSQL), against throwaway servers on 127.0.0.1 (scripts/servers.mjs):
// - appends/s with 1, 4 and 16 writer processes (one tensor each, 256-dim frames; memory and
//   LMDB are single-process stores: 1 writer);
// - range-read latency: 10 s windows (100 frames) and `readAt`, from a reader process that does
//   not write (on Redis and PostgreSQL its reads go to the server);
// - resident bytes per tier on the synthetic 1-hour trace of bin/trace.mjs at 1 fps (six 512-dim
//   tensors, two read every second, two every 16 s, two never; 21,600 frames), with the bytes the
//   backend itself holds for it.
// Redis runs with `appendfsync always` (each acknowledged write on disk); one more Redis with
// `appendfsync everysec` shows what that costs. Figures are printed, never asserted (shared,
// noisy machines). `--quick`: fewer frames; `--no-trace`: appends and reads only.
import { fork, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { root, step } from './lib.mjs'
import { setup } from './setup.mjs'
import { startPostgres, startRedis, startRedisCluster } from './servers.mjs'

const QUICK = process.argv.includes('--quick')
const TOTAL_FRAMES = QUICK ? 800 : 4800
const DIM = 256
const READS = QUICK ? 50 : 300
const TRACE_SECONDS = QUICK ? 300 : 3600
const TRACE = !process.argv.includes('--no-trace')

setup({ needs: ['js', 'servers'] })
const { TensorStreamStore } = await import(join(root, 'dist', 'index.mjs'))
const { TRACE_STORE_OPTIONS, runTrace } = await import(join(root, 'bin', 'trace.mjs'))

step('Starting Redis, a Redis Cluster of 3 masters and PostgreSQL on 127.0.0.1')
const [redis, redisEverysec, cluster, postgres] = await Promise.all([
  startRedis({ appendfsync: 'always' }),
  startRedis({ appendfsync: 'everysec' }),
  startRedisCluster(3),
  startPostgres(),
])
const tmp = mkdtempSync(join(os.tmpdir(), 'tt-bench-store-'))
let counter = 0
/** A fresh store location on `backend`. */
function fresh(backend) {
  const name = `bench_${counter++}`
  switch (backend) {
    case 'memory':
      return { kind: 'memory' }
    case 'lmdb':
      return { kind: 'lmdb', path: join(tmp, name) }
    case 'redis':
      return { kind: 'redis', url: redis.url, name }
    case 'redis-everysec':
      return { kind: 'redis', url: redisEverysec.url, name }
    case 'redis-cluster':
      return { kind: 'redis', cluster: cluster.nodes, name }
    case 'postgres':
      return { kind: 'postgres', connectionString: postgres.connectionString, name }
  }
}

/** Runs `n` writer processes at once; resolves with the wall time from 'go' to the last 'done'. */
async function writers(persistence, n, frames) {
  const script = join(root, 'benches', 'node', 'store-writer.mjs')
  const children = Array.from({ length: n }, (_, i) =>
    fork(script, [JSON.stringify(persistence), `w${i}`, String(frames), String(DIM)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  )
  const message = (c, key) => new Promise((resolve, reject) => {
    c.on('message', (m) => m[key] && resolve(m))
    c.on('exit', (code) => code !== 0 && reject(new Error(`bench writer exited with ${code}`)))
  })
  await Promise.all(children.map((c) => message(c, 'ready')))
  const t0 = performance.now()
  const done = children.map((c) => message(c, 'done'))
  for (const c of children) c.send('go')
  const results = await Promise.all(done)
  return { wallMs: performance.now() - t0, appendMs: results.reduce((s, r) => s + r.ms / frames, 0) / n }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/** Latencies (ms) of random 100-frame range reads and readAt calls on tensor w0. */
async function reads(store, frames) {
  let seed = 12345
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const range = []
  const at = []
  for (let i = 0; i < READS; i++) {
    const from = Math.floor(rand() * Math.max(1, frames - 100)) * 100
    let t = performance.now()
    const r = await store.read('w0', from, from + 99 * 100)
    range.push(performance.now() - t)
    if (r.timestamps.length !== Math.min(100, frames)) throw new Error(`read ${r.timestamps.length} frames, expected 100`)
    t = performance.now()
    await store.readAt('w0', Math.floor(rand() * frames) * 100 + 50)
    at.push(performance.now() - t)
  }
  return { p50: quantile(range, 0.5), p95: quantile(range, 0.95), at50: quantile(at, 0.5) }
}

const rows = []
step(`Appends and reads: ${TOTAL_FRAMES} frames of ${DIM} values per run, split over the writers`)
for (const backend of ['memory', 'lmdb', 'redis', 'redis-everysec', 'redis-cluster', 'postgres']) {
  for (const n of backend === 'memory' || backend === 'lmdb' ? [1] : [1, 4, 16]) {
    const frames = Math.ceil(TOTAL_FRAMES / n)
    const persistence = fresh(backend)
    let r
    let lat
    if (backend === 'memory') {
      // A memory store lives in one process: written and read here.
      const store = await TensorStreamStore.open({ retier: false })
      const { embeddingStream } = await import(join(root, 'bin', 'trace.mjs'))
      const next = embeddingStream(DIM, 1)
      const data = Array.from({ length: frames }, () => next())
      const t0 = performance.now()
      for (let k = 0; k < frames; k++) await store.append('w0', data[k], k * 100)
      const ms = performance.now() - t0
      r = { wallMs: ms, appendMs: ms / frames }
      lat = await reads(store, frames)
      await store.close()
    } else {
      r = await writers(persistence, n, frames)
      const reader = await TensorStreamStore.open({ persistence, retier: false })
      lat = await reads(reader, frames)
      await reader.close()
    }
    const row = {
      backend,
      writers: n,
      appendsPerS: Math.round((frames * n) / (r.wallMs / 1000)),
      appendMs: r.appendMs,
      readP50: lat.p50,
      readP95: lat.p95,
      readAtP50: lat.at50,
    }
    rows.push(row)
    console.log(
      `${backend.padEnd(14)} ${String(n).padStart(2)} writer(s): ${String(row.appendsPerS).padStart(7)} appends/s ` +
        `(${row.appendMs.toFixed(3)} ms each), 100-frame read p50 ${row.readP50.toFixed(2)} ms p95 ${row.readP95.toFixed(2)} ms, readAt p50 ${row.readAtP50.toFixed(2)} ms`,
    )
  }
}

/** Bytes the backend holds for store `persistence` (what its server or files report). */
async function backendBytes(backend, persistence) {
  if (backend === 'lmdb') return statSync(join(persistence.path, 'data.mdb')).blocks * 512
  if (backend === 'postgres') {
    const sql = ['_tensors', '_segments', '_wal'].map((t) => `pg_total_relation_size('${persistence.name}${t}')`).join(' + ')
    const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', String(postgres.port), '-U', 'postgres', '-d', 'postgres', '-Atc', `SELECT ${sql}`], { encoding: 'utf8' })
    return Number(r.stdout.trim())
  }
  if (backend === 'redis' || backend === 'redis-cluster') {
    let sum = 0
    for (const port of backend === 'redis' ? [redis.port] : cluster.nodes.map((n) => n.port)) {
      const info = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'memory'], { encoding: 'utf8' }).stdout
      sum += Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) - (baseline.get(port) ?? 0)
    }
    return sum
  }
  return null
}
const baseline = new Map()
const mb = (b) => (b / 1e6).toFixed(2)

if (TRACE) step(`The trace of bin/trace.mjs over ${TRACE_SECONDS} s at 1 fps (${TRACE_SECONDS * 6} frames of 512 values, six tensors) on each backend`)
const traceRows = []
for (const backend of TRACE ? ['memory', 'lmdb', 'redis', 'redis-cluster', 'postgres'] : []) {
  const persistence = fresh(backend)
  for (const port of [redis.port, ...cluster.nodes.map((n) => n.port)]) {
    const info = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'memory'], { encoding: 'utf8' }).stdout
    baseline.set(port, Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0))
  }
  const store = await TensorStreamStore.open({ ...TRACE_STORE_OPTIONS, persistence })
  const t0 = performance.now()
  await runTrace(store, { seconds: TRACE_SECONDS, fps: 1 })
  const seconds = (performance.now() - t0) / 1000
  const stats = store.stats()
  await store.close()
  const bytes = await backendBytes(backend, persistence)
  traceRows.push({ backend, seconds, stats, bytes })
  console.log(
    `${backend.padEnd(14)} ${seconds.toFixed(1)} s; ` +
      ['hot', 'warm', 'cold', 'total'].map((t) => `${t} ${stats[t].frames} frames ${mb(stats[t].residentBytes)} MB ${stats[t].ratio.toFixed(1)}x`).join(', ') +
      (bytes !== null ? `; the backend holds ${mb(bytes)} MB` : ''),
  )
}

await Promise.all([redis.stop(), redisEverysec.stop(), cluster.stop(), postgres.stop()])
rmSync(tmp, { recursive: true, force: true })

console.log(
  `\nCPU: ${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores), Node ${process.version}; Redis with appendonly yes, ` +
    'appendfsync always (redis-everysec: everysec); PostgreSQL with fsync and synchronous_commit on.',
)
console.log('\n| backend | writers | appends/s | ms per append | 100-frame read p50 / p95 (ms) | readAt p50 (ms) |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(`| ${r.backend} | ${r.writers} | ${r.appendsPerS} | ${r.appendMs.toFixed(3)} | ${r.readP50.toFixed(2)} / ${r.readP95.toFixed(2)} | ${r.readAtP50.toFixed(2)} |`)
}
if (TRACE) console.log('\n| backend | trace time (s) | hot MB | warm MB | cold MB | total MB (ratio) | backend holds (MB) |')
if (TRACE) console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of traceRows) {
  const s = r.stats
  console.log(
    `| ${r.backend} | ${r.seconds.toFixed(1)} | ${mb(s.hot.residentBytes)} | ${mb(s.warm.residentBytes)} | ${mb(s.cold.residentBytes)} | ${mb(s.total.residentBytes)} (${s.total.ratio.toFixed(1)}x) | ${r.bytes === null ? '–' : mb(r.bytes)} |`,
  )
}
