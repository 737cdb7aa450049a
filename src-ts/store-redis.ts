/**
 * Redis (and Redis Cluster) persistence for `TensorStreamStore`, through the optional `ioredis`
 * package. Internal.
 *
 * Keys of store `name` (prefix `tt:<name>`), tensor `id` written as `{<id, URI-encoded>}` so that
 * every key of one tensor hashes to one Cluster slot:
 * - `tt:<name>:tensors`: set of tensor ids;
 * - `…:{id}:meta`: the tensor's description (a checksummed record, `store-records.ts`);
 * - `…:{id}:seg`: hash, 16-digit sequence number of a segment's first frame → segment record (its
 *   ADR-017 §5.2 key, tags and §5.4 lineage link in the header, frame timestamps and TQTC bytes in
 *   the payload);
 * - `…:{id}:start`, `…:{id}:end`: sorted sets of the same members scored by the segment's first
 *   and last timestamp: the time index (both orders equal sequence order, so a rank found in one
 *   is the rank in the other: a range read is O(log n + k));
 * - `…:{id}:wal`: hash, sequence number → frame of the open segment;
 * - `…:{id}:next`, `…:{id}:nonce`: the sequence number the next frame gets and the id of the write
 *   that stored the last one (a write retried after a lost reply is recognised, not repeated);
 * - `…:{id}:lease`: the token of the store writing the tensor, expiring after `leaseMs`.
 *
 * Every change is one Lua script over one tensor's keys: atomic, and refused (`STORE_LOCKED`)
 * unless this store holds the tensor's lease (or the lease is free and nobody wrote since).
 * Durability is Redis's: with `appendonly yes` and `appendfsync always` an acknowledged write is
 * on disk before the reply; with `everysec`, it survives the server process being killed but up to
 * a second of writes can be lost with the machine.
 */
import { randomBytes } from 'node:crypto'
import { TemporalTensorError } from './errors.js'
import type { Damage, Loaded, Persistence, TensorMeta, TensorView, WalFrame } from './store-persistence.js'
import { decodeTensor, encodeRow, segmentRow, walRow } from './store-records.js'
import type { StoredSegment } from './store-types.js'

/** Options of the Redis backend (checked by `store-backends.ts`). */
export interface RedisBackendOptions {
  url?: string
  cluster?: { host: string; port: number }[]
  name?: string
  leaseMs?: number
  timeoutMs?: number
}

/* Minimal typing of the parts of ioredis used here. */
type Reply = Buffer | string | number | null | Reply[]
interface Client {
  connect(): Promise<void>
  quit(): Promise<unknown>
  disconnect(): void
  defineCommand(name: string, definition: { lua: string; numberOfKeys: number }): void
  on(event: string, listener: (...args: unknown[]) => void): void
  sadd(key: string, member: string): Promise<number>
  smembers(key: string): Promise<string[]>
  set(key: string, value: Uint8Array): Promise<unknown>
  [script: string]: unknown
}
interface IoRedis {
  Redis: new (url: string, options: object) => Client
  Cluster: new (nodes: { host: string; port: number }[], options: object) => Client
}

const SCRIPTS = {
  /** KEYS next nonce lease wal meta; ARGV seq row token ttl nonce replaceNonce metaRow. */
  ttWriteFrame: {
    keys: 5,
    lua: `
local seq = tonumber(ARGV[1])
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[3] then return redis.error_reply('TTLOCKED another store holds the lease') end
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = redis.call('GET', KEYS[2])
if nxt == seq + 1 and last == ARGV[5] then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
  return 'DONE'
end
if not (nxt == seq + 1 and ARGV[6] ~= '' and last == ARGV[6]) and nxt ~= seq then
  return redis.error_reply('TTLOCKED frame ' .. seq .. ' was written by another store (the tensor has ' .. nxt .. ' frames)')
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
redis.call('SET', KEYS[1], seq + 1)
redis.call('SET', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
if ARGV[7] ~= '' then redis.call('SET', KEYS[5], ARGV[7]) end
return 'OK'`,
  },
  /** KEYS next nonce lease wal; ARGV seq token nonce: removes frame seq if it is the last one written, by nonce. */
  ttRemoveFrame: {
    keys: 4,
    lua: `
local seq = tonumber(ARGV[1])
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return redis.error_reply('TTLOCKED another store holds the lease') end
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt ~= seq + 1 or redis.call('GET', KEYS[2]) ~= ARGV[3] then return 'GONE' end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('SET', KEYS[1], seq)
redis.call('SET', KEYS[2], '')
return 'OK'`,
  },
  /**
   * KEYS lease next seg start end wal meta; ARGV token ttl expectedNext metaRow fromWal nRemoved
   * removed... nAdded then (member startTs endTs row firstSeq frames) per added segment.
   */
  ttWriteSegments: {
    keys: 7,
    lua: `
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  if holder or tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[3]) then
    return redis.error_reply('TTLOCKED another store writes this tensor')
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local i = 6
local nRemoved = tonumber(ARGV[i])
for k = 1, nRemoved do
  local m = ARGV[i + k]
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZREM', KEYS[4], m)
  redis.call('ZREM', KEYS[5], m)
end
i = i + nRemoved + 1
local nAdded = tonumber(ARGV[i])
for k = 0, nAdded - 1 do
  local b = i + 1 + k * 6
  local m = ARGV[b]
  redis.call('HSET', KEYS[3], m, ARGV[b + 3])
  redis.call('ZADD', KEYS[4], ARGV[b + 1], m)
  redis.call('ZADD', KEYS[5], ARGV[b + 2], m)
  if ARGV[5] == '1' then
    local first = tonumber(ARGV[b + 4])
    for q = first, first + tonumber(ARGV[b + 5]) - 1 do redis.call('HDEL', KEYS[6], tostring(q)) end
  end
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[7], ARGV[4]) end
return 'OK'`,
  },
  /** KEYS meta seg start end wal; ARGV fromTs toTs latest: { meta, members, rows, wal fields and values }. */
  ttView: {
    keys: 5,
    lua: `
local meta = redis.call('GET', KEYS[1])
if not meta then return false end
local members = {}
if ARGV[3] == '1' then
  members = redis.call('ZREVRANGEBYSCORE', KEYS[3], ARGV[2], '-inf', 'LIMIT', 0, 1)
else
  local first = redis.call('ZRANGEBYSCORE', KEYS[4], ARGV[1], '+inf', 'LIMIT', 0, 1)
  if #first > 0 then
    local lo = redis.call('ZRANK', KEYS[3], first[1])
    local hi = redis.call('ZCOUNT', KEYS[3], '-inf', ARGV[2]) - 1
    if hi >= lo then members = redis.call('ZRANGE', KEYS[3], lo, hi) end
  end
end
local rows = {}
for k = 1, #members do rows[k] = redis.call('HGET', KEYS[2], members[k]) or '' end
return { meta, members, rows, redis.call('HGETALL', KEYS[5]) }`,
  },
  /** KEYS lease; ARGV token: releases the lease if this store holds it. */
  ttRelease: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 'OK'`,
  },
} as const

const pad = (seq: number): string => String(seq).padStart(16, '0')
const score = (ts: number): string => (ts === Infinity ? '+inf' : ts === -Infinity ? '-inf' : String(ts))

async function importIoredis(): Promise<IoRedis> {
  try {
    const m = (await import('ioredis')) as unknown as IoRedis & { default?: IoRedis }
    return m.Redis ? m : (m.default as IoRedis)
  } catch (e) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'Redis persistence needs the `ioredis` package: npm install ioredis', { cause: e })
  }
}

/** The coded error for a failure of Redis while doing `what`. */
function redisError(e: unknown, what: string): TemporalTensorError {
  if (e instanceof TemporalTensorError) return e
  const message = String((e as { message?: unknown })?.message ?? e)
  if (message.includes('TTLOCKED')) {
    return new TemporalTensorError('STORE_LOCKED', `${what} refused: ${message.slice(message.indexOf('TTLOCKED') + 9)}`, { cause: e })
  }
  if (message.startsWith('OOM') || message.includes('MISCONF')) {
    return new TemporalTensorError('STORAGE_FULL', `${what} failed: ${message} (nothing was written)`, { cause: e })
  }
  return new TemporalTensorError('IO_ERROR', `${what} failed: ${message}`, { cause: e })
}

/**
 * Connects to Redis (or a Redis Cluster) for store `name`. Throws `BACKEND_UNAVAILABLE` (no
 * `ioredis`), `IO_ERROR` (the server cannot be reached).
 */
export async function openRedisPersistence(options: RedisBackendOptions): Promise<Persistence> {
  const io = await importIoredis()
  const name = options.name ?? 'tt'
  const leaseMs = options.leaseMs ?? 10_000
  const timeoutMs = options.timeoutMs ?? 10_000
  // A command waits for a connection through reconnections every 100 ms for `timeoutMs`, then
  // fails (IO_ERROR); commands whose reply was lost are sent again after a reconnection (the
  // scripts recognise a repeated write by its nonce).
  const retries = Math.max(1, Math.ceil(timeoutMs / 100))
  // A command without a reply for `timeoutMs` (a stalled connection) fails too; its write then
  // has an unknown outcome, handled as one whose reply was lost.
  const common = {
    lazyConnect: true,
    maxRetriesPerRequest: retries,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    autoResendUnfulfilledCommands: true,
  }
  const client: Client = options.cluster
    ? new io.Cluster(options.cluster, {
        lazyConnect: true,
        clusterRetryStrategy: () => 100,
        redisOptions: { ...common, retryStrategy: () => 100 },
      })
    : new io.Redis(options.url ?? 'redis://127.0.0.1:6379', { ...common, retryStrategy: () => 100 })
  client.on('error', () => {}) // reported through the commands that fail
  for (const [command, { keys, lua }] of Object.entries(SCRIPTS)) client.defineCommand(command, { lua, numberOfKeys: keys })
  try {
    await client.connect()
  } catch (e) {
    client.disconnect()
    throw redisError(e, `connecting to Redis (${options.cluster ? 'cluster' : (options.url ?? 'redis://127.0.0.1:6379')})`)
  }
  const prefix = `tt:${name}`
  const keysOf = (id: string) => {
    const base = `${prefix}:{${encodeURIComponent(id)}}`
    return {
      meta: `${base}:meta`,
      seg: `${base}:seg`,
      start: `${base}:start`,
      end: `${base}:end`,
      wal: `${base}:wal`,
      next: `${base}:next`,
      nonce: `${base}:nonce`,
      lease: `${base}:lease`,
    }
  }
  const token = randomBytes(12).toString('hex')
  /** Per tensor this store wrote: the next sequence number, and a write whose reply was lost. */
  const written = new Map<string, number>()
  const uncertain = new Map<string, { seq: number; nonce: string }>()
  /** Per tensor: the nonce of the last frame this store wrote (to take it back). */
  const nonces = new Map<string, string>()
  const call = async (what: string, command: keyof typeof SCRIPTS, keys: string[], args: (string | Uint8Array)[]): Promise<Reply> => {
    const fn = client[`${command}Buffer`] as (...a: unknown[]) => Promise<Reply>
    try {
      return await fn.call(client, ...keys, ...args.map((a) => (a instanceof Uint8Array ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : a)))
    } catch (e) {
      throw redisError(e, what)
    }
  }
  /** Tensor `id` as `view` describes it, read by one script (`null` when it has no description). */
  const readTensor = async (id: string, fromTs: number, toTs: number, latest: boolean): Promise<TensorView | null> => {
    const k = keysOf(id)
    const reply = await call('reading a tensor', 'ttView', [k.meta, k.seg, k.start, k.end, k.wal], [score(fromTs), score(toTs), latest ? '1' : '0'])
    if (reply === null || !Array.isArray(reply)) return null
    const [meta, members, rows, flat] = reply as [Buffer, Buffer[], Buffer[], Buffer[]]
    const segs = members.map((m, i) => [Number(m.toString()), rows[i]] as [number, Buffer])
    const frames: [number, Buffer][] = []
    for (let i = 0; i + 1 < flat.length; i += 2) frames.push([Number(flat[i].toString()), flat[i + 1]])
    return decodeTensor(id, meta, segs, frames)
  }
  let closed = false
  const live = () => {
    if (closed) throw new TemporalTensorError('INVALID_HANDLE', 'this store was closed')
  }

  return {
    kind: 'redis',
    durable: true,
    shared: true,
    async writeFrame(id, frame, meta) {
      live()
      const k = keysOf(id)
      if (meta) {
        try {
          await client.sadd(`${prefix}:tensors`, id)
        } catch (e) {
          throw redisError(e, 'registering a tensor')
        }
      }
      const nonce = randomBytes(8).toString('hex')
      const before = uncertain.get(id)
      const replace = before !== undefined && before.seq === frame.seq ? before.nonce : ''
      try {
        await call('writing a frame', 'ttWriteFrame', [k.next, k.nonce, k.lease, k.wal, k.meta], [
          String(frame.seq),
          walRow(id, frame),
          token,
          String(leaseMs),
          nonce,
          replace,
          meta ? encodeRow(meta) : '',
        ])
      } catch (e) {
        // Unknown outcome: the next write at this sequence number replaces it, close() removes it.
        if ((e as TemporalTensorError).code === 'IO_ERROR') uncertain.set(id, { seq: frame.seq, nonce })
        throw e
      }
      uncertain.delete(id)
      nonces.set(id, nonce)
      written.set(id, frame.seq + 1)
    },
    async removeFrame(id, seq) {
      live()
      const k = keysOf(id)
      // Only the frame this store wrote last can be taken back.
      await call('removing a frame', 'ttRemoveFrame', [k.next, k.nonce, k.lease, k.wal], [String(seq), token, nonces.get(id) ?? ''])
      written.set(id, seq)
    },
    async writeSegments(meta, added, removed, fromWal) {
      live()
      const id = (added[0] ?? removed[0])?.tensorId ?? meta?.id
      if (id === undefined) return
      const k = keysOf(id)
      const args: (string | Uint8Array)[] = [token, String(leaseMs), String(written.get(id) ?? -1), meta ? encodeRow(meta) : '', fromWal ? '1' : '0']
      args.push(String(removed.length), ...removed.map((s) => pad(s.seq)))
      args.push(String(added.length))
      for (const s of added) args.push(pad(s.seq), score(s.startTs), score(s.endTs), segmentRow(s), String(s.seq), String(s.frames))
      await call('writing segments', 'ttWriteSegments', [k.lease, k.next, k.seg, k.start, k.end, k.wal, k.meta], args)
    },
    async writeMeta(meta) {
      live()
      try {
        await client.set(keysOf(meta.id).meta, encodeRow(meta))
      } catch (e) {
        throw redisError(e, 'writing access statistics')
      }
    },
    async load() {
      live()
      const damage: Damage[] = []
      const tensors: TensorMeta[] = []
      const segments = new Map<string, StoredSegment[]>()
      const wal = new Map<string, WalFrame[]>()
      let ids: string[]
      try {
        ids = await client.smembers(`${prefix}:tensors`)
      } catch (e) {
        throw redisError(e, 'listing tensors')
      }
      // Each tensor in one script: its segments and write-ahead frames from one moment, even
      // while another process moves frames from the one to the other.
      await Promise.all(
        ids.map(async (id) => {
          const view = await readTensor(id, -Infinity, Infinity, false)
          if (view === null) return
          damage.push(...view.damage)
          if (!view.damage.some((d) => d.table === 'tensors')) tensors.push(view.meta)
          segments.set(id, view.segments)
          wal.set(id, view.wal)
        }),
      )
      return { tensors, segments, wal, damage } satisfies Loaded
    },
    async view(id, fromTs, toTs, latest) {
      live()
      return readTensor(id, fromTs, toTs, latest)
    },
    async tensorIds() {
      live()
      try {
        return await client.smembers(`${prefix}:tensors`)
      } catch (e) {
        throw redisError(e, 'listing tensors')
      }
    },
    async close() {
      if (closed) return
      closed = true
      try {
        // Frames whose write had an unknown outcome are taken back; leases are handed back.
        for (const [id, { seq, nonce }] of uncertain) {
          const k = keysOf(id)
          await call('removing a frame', 'ttRemoveFrame', [k.next, k.nonce, k.lease, k.wal], [String(seq), token, nonce]).catch(() => {})
        }
        for (const id of written.keys()) await call('releasing a lease', 'ttRelease', [keysOf(id).lease], [token]).catch(() => {})
        await client.quit()
      } catch {
        client.disconnect()
      }
    },
  }

}
