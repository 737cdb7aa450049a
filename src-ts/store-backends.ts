/**
 * Chooses and opens a store's persistence backend from its `persistence` option. Internal.
 */
import { TemporalTensorError } from './errors.js'
import { openPersistence } from './store-lmdb.js'
import type { Persistence } from './store-persistence.js'
import { memoryPersistence } from './store-persistence.js'
import type { PersistenceOptions } from './store-types.js'

/** The options each backend accepts besides `kind`. */
const BACKEND_OPTIONS: Record<string, readonly string[]> = {
  memory: [],
  lmdb: ['path'],
  redis: ['url', 'cluster', 'name', 'leaseMs', 'timeoutMs'],
  postgres: ['connectionString', 'poolSize', 'name', 'leaseMs', 'timeoutMs'],
}

const bad = (message: string): TemporalTensorError => new TemporalTensorError('INVALID_ARGUMENT', message)

/** Checks a `persistence` option; throws `INVALID_ARGUMENT` for anything it does not accept. */
export function checkPersistenceOptions(p: unknown): asserts p is PersistenceOptions {
  if (typeof p !== 'object' || p === null) throw bad('persistence must be an object with a kind')
  const o = p as Record<string, unknown>
  const kind = o.kind
  if (typeof kind !== 'string' || !Object.hasOwn(BACKEND_OPTIONS, kind)) {
    throw bad(`persistence.kind must be one of ${Object.keys(BACKEND_OPTIONS).join(', ')}, got ${String(kind)}`)
  }
  for (const key of Object.keys(o)) {
    if (key !== 'kind' && !BACKEND_OPTIONS[kind].includes(key)) throw bad(`unknown ${kind} persistence option "${key}"`)
  }
  if (kind === 'lmdb' && (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\0'))) {
    throw bad('persistence.path must be a non-empty string')
  }
  const str = (key: string) => {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || (o[key] as string).length === 0)) throw bad(`persistence.${key} must be a non-empty string`)
  }
  const int = (key: string, min: number) => {
    const v = o[key]
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) throw bad(`persistence.${key} must be an integer >= ${min}, got ${String(v)}`)
  }
  str('url')
  str('connectionString')
  int('leaseMs', 100)
  int('timeoutMs', 100)
  int('poolSize', 1)
  if (o.name !== undefined && !(typeof o.name === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(o.name))) {
    throw bad(`persistence.name must be 1 to 40 letters, digits, '_' or '-', got ${String(o.name)}`)
  }
  if (o.cluster !== undefined) {
    const ok =
      Array.isArray(o.cluster) &&
      o.cluster.length > 0 &&
      o.cluster.every((n) => typeof n === 'object' && n !== null && typeof n.host === 'string' && Number.isSafeInteger(n.port) && n.port > 0 && n.port < 65536)
    if (!ok) throw bad('persistence.cluster must be a non-empty array of { host, port }')
    if (o.url !== undefined) throw bad('give either persistence.url or persistence.cluster, not both')
  }
}

/** Opens the backend `p` selects (checked by `checkPersistenceOptions`). */
export async function openBackend(p: PersistenceOptions): Promise<Persistence> {
  switch (p.kind) {
    case 'memory':
      return memoryPersistence()
    case 'lmdb':
      return openPersistence(p.path)
    case 'redis':
      return (await import('./store-redis.js')).openRedisPersistence(p)
    case 'postgres':
      return (await import('./store-postgres.js')).openPostgresPersistence(p)
    default:
      throw bad(`unknown persistence kind ${String((p as { kind: unknown }).kind)}`)
  }
}
