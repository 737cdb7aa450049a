// The store's backends for tests: throwaway servers (scripts/servers.mjs) started once per test
// file, and a fresh store location per call, so one suite runs unchanged on every backend.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import type { PersistenceOptions } from '../dist/index.mjs'
// @ts-expect-error: plain ESM module without types
import { startPostgres, startRedis, startRedisCluster } from '../scripts/servers.mjs'

/** Every backend the store suite runs on. */
export const BACKENDS = ['memory', 'lmdb', 'redis', 'redis-cluster', 'postgres'] as const
export type BackendName = (typeof BACKENDS)[number]
/** The backends other processes can share. */
export const SHARED_BACKENDS = ['redis', 'redis-cluster', 'postgres'] as const

interface Server {
  stop(): Promise<void>
  kill(): Promise<void>
  restart(): Promise<void>
}

/**
 * Starts the servers `names` need before the file's tests (and stops them after); `fresh(name)`
 * is then a new, empty store location on that backend.
 */
export function useBackends(names: readonly BackendName[]) {
  const servers: {
    redis?: Server & { url: string }
    cluster?: { nodes: { host: string; port: number }[]; stop(): Promise<void> }
    postgres?: Server & { connectionString: string }
  } = {}
  const dirs: string[] = []
  let counter = 0
  beforeAll(async () => {
    const jobs: Promise<void>[] = []
    if (names.includes('redis')) jobs.push(startRedis().then((s: Server & { url: string }) => void (servers.redis = s)))
    if (names.includes('redis-cluster')) jobs.push(startRedisCluster(3).then((s: NonNullable<typeof servers.cluster>) => void (servers.cluster = s)))
    if (names.includes('postgres')) jobs.push(startPostgres().then((s: Server & { connectionString: string }) => void (servers.postgres = s)))
    await Promise.all(jobs)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([servers.redis?.stop(), servers.cluster?.stop(), servers.postgres?.stop()])
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const tag = `t${process.pid}_${Math.random().toString(36).slice(2, 7)}`
  return {
    servers,
    /** A new, empty store on backend `name`. */
    fresh(name: BackendName, extra: { leaseMs?: number; timeoutMs?: number } = {}): PersistenceOptions {
      const storeName = `${tag}_${counter++}`
      switch (name) {
        case 'memory':
          return { kind: 'memory' }
        case 'lmdb': {
          const dir = mkdtempSync(join(tmpdir(), 'tt-store-'))
          dirs.push(dir)
          return { kind: 'lmdb', path: dir }
        }
        case 'redis':
          return { kind: 'redis', url: servers.redis!.url, name: storeName, ...extra }
        case 'redis-cluster':
          return { kind: 'redis', cluster: servers.cluster!.nodes, name: storeName, ...extra }
        case 'postgres':
          return { kind: 'postgres', connectionString: servers.postgres!.connectionString, name: storeName, ...extra }
      }
    },
  }
}
