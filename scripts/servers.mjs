// Throwaway Redis and PostgreSQL servers for the store's tests and bench: each on a free port of
// 127.0.0.1, with its data in a temporary directory, stopped (and the directory removed) by
// `stop()`. The Debian packages (redis-server, redis-tools, postgresql) are installed by
// scripts/setup.mjs when missing. Commands run as root here, so PostgreSQL runs as the `postgres`
// user (`runuser -u postgres`).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer, createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A port nobody listens on now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Resolves once something accepts connections on `port` (rejects after `ms`). */
async function waitForPort(port, ms = 20_000) {
  const until = Date.now() + ms
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' })
      c.once('connect', () => {
        c.destroy()
        resolve(true)
      })
      c.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`)
    await sleep(50)
  }
}

function waitExit(child, ms = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/**
 * A Redis server with append-only persistence (`appendfsync` as given, default `always`).
 * `kill()` SIGKILLs it, `restart()` starts it again on the same port and data.
 */
export async function startRedis({ appendfsync = 'always', cluster = false, port } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tt-redis-'))
  port ??= await freePort()
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
    '--appendfsync', appendfsync, '--protected-mode', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
  ]
  if (cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000')
  let child = null
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' })
    await waitForPort(port)
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: () => child.pid,
    async kill() {
      child.kill('SIGKILL')
      await waitExit(child)
    },
    async restart() {
      await launch()
    },
    async stop() {
      child.kill('SIGTERM')
      await waitExit(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A Redis Cluster of `masters` masters (no replicas), every slot assigned. */
export async function startRedisCluster(masters = 3) {
  const nodes = []
  for (let i = 0; i < masters; i++) nodes.push(await startRedis({ cluster: true }))
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'ignore',
  })
  // Every node agrees the cluster is up before it is used.
  for (const n of nodes) {
    for (let k = 0; ; k++) {
      const info = spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout
      if (info.includes('cluster_state:ok')) break
      if (k > 200) throw new Error(`the cluster node on port ${n.port} did not come up`)
      await sleep(50)
    }
  }
  return {
    nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    servers: nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
}

/** The directory of PostgreSQL's server programs (Debian: /usr/lib/postgresql/<version>/bin). */
function pgBin() {
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return join(root, versions[0], 'bin')
  }
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
  if (config.status === 0) return config.stdout.trim()
  throw new Error('PostgreSQL server programs not found: install the Debian package postgresql (npm run setup does)')
}

/**
 * A PostgreSQL server (fsync and synchronous commit on, the defaults), reached by
 * `connectionString` as its superuser without password (trust on 127.0.0.1 only). `kill()`
 * stops it in immediate mode (as a crash), `restart()` starts it again.
 */
export async function startPostgres() {
  const bin = pgBin()
  const asRoot = process.getuid?.() === 0
  const run = (program, args, opts = {}) => {
    const cmd = asRoot ? 'runuser' : join(bin, program)
    const full = asRoot ? ['-u', 'postgres', '--', join(bin, program), ...args] : args
    const r = spawnSync(cmd, full, { encoding: 'utf8', ...opts })
    if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed: ${r.stderr || r.stdout}`)
    return r.stdout
  }
  const dir = mkdtempSync(join(tmpdir(), 'tt-pg-'))
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(dir, uid, gid)
  }
  chmodSync(dir, 0o700)
  const data = join(dir, 'data')
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-instructions', '-E', 'UTF8'])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=32MB`
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])
  start()
  return {
    port,
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    async kill() {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    },
    async restart() {
      start()
    },
    async stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
