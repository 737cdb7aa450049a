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
}

/** Opens the backend `p` selects (checked by `checkPersistenceOptions`). */
export async function openBackend(p: PersistenceOptions): Promise<Persistence> {
  switch (p.kind) {
    case 'memory':
      return memoryPersistence()
    case 'lmdb':
      return openPersistence(p.path)
    default:
      throw bad(`unknown persistence kind ${String((p as { kind: unknown }).kind)}`)
  }
}
