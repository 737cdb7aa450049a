/**
 * PostgreSQL persistence for `TensorStreamStore`, through the optional `pg` package and a
 * connection pool. Internal.
 *
 * Tables of store `name` (created, and migrated from older schema versions, by the store; the
 * version is kept in `tt_schema`):
 * - `<name>_tensors (tensor_id PK, meta bytea, next_seq, nonce, lease_token, lease_until)`: the
 *   tensor's description (a checksummed record, `store-records.ts`), the sequence number its next
 *   frame gets, the id of the write that stored the last frame (a write retried after a lost reply
 *   is recognised, not repeated) and the writer's lease;
 * - `<name>_segments (tensor_id, seq, start_ts, end_ts, key, tier, bits, frames, prev_key, row
 *   bytea)`, primary key `(tensor_id, seq)`, B-tree indexes on `(tensor_id, end_ts)` and
 *   `(tensor_id, start_ts)` for time ranges: a finished segment, with its ADR-017 §5.2 key and tags
 *   and §5.4 lineage link as columns, and its record (timestamps and TQTC bytes) as `row`;
 * - `<name>_wal (tensor_id, seq, row bytea)`, primary key `(tensor_id, seq)`: frames of open
 *   segments.
 *
 * Every change is one transaction that locks the tensor's row first, and is refused
 * (`STORE_LOCKED`) unless this store holds the tensor's lease (or the lease is free and nobody
 * wrote since). A commit is durable as the server's settings make it (`synchronous_commit = on`,
 * the default, with `fsync = on`: on disk before the reply).
 */
import { randomBytes } from 'node:crypto'
import { TemporalTensorError } from './errors.js'
import type { Damage, Loaded, Persistence, TensorMeta, TensorView, WalFrame } from './store-persistence.js'
import { decodeTensor, encodeRow, segmentRow, walRow } from './store-records.js'
import type { StoredSegment } from './store-types.js'

/** Options of the PostgreSQL backend (checked by `store-backends.ts`). */
export interface PostgresBackendOptions {
  connectionString?: string
  poolSize?: number
  name?: string
  leaseMs?: number
  timeoutMs?: number
}

/* Minimal typing of the parts of pg used here. */
interface QueryResult {
  rows: Record<string, unknown>[]
  rowCount: number | null
}
interface PoolClient {
  query(text: string, values?: unknown[]): Promise<QueryResult>
  release(destroy?: boolean | Error): void
  on(event: string, listener: (...args: unknown[]) => void): void
}
interface Pool {
  connect(): Promise<PoolClient>
  query(text: string, values?: unknown[]): Promise<QueryResult>
  end(): Promise<void>
  on(event: string, listener: (...args: unknown[]) => void): void
}
interface Pg {
  Pool: new (options: object) => Pool
}

/** The schema, one step per version: step `i` migrates version `i` to `i + 1`. */
const MIGRATIONS: ((t: string) => string[])[] = [
  (t) => [
    `CREATE TABLE IF NOT EXISTS ${t}_tensors (tensor_id text PRIMARY KEY, meta bytea NOT NULL, next_seq bigint NOT NULL,
       nonce text, lease_token text, lease_until timestamptz)`,
    `CREATE TABLE IF NOT EXISTS ${t}_segments (tensor_id text NOT NULL, seq bigint NOT NULL, start_ts float8 NOT NULL,
       end_ts float8 NOT NULL, key text NOT NULL, tier text NOT NULL, bits int NOT NULL, frames int NOT NULL, prev_key text,
       row bytea NOT NULL, PRIMARY KEY (tensor_id, seq))`,
    `CREATE INDEX IF NOT EXISTS ${t}_segments_end ON ${t}_segments (tensor_id, end_ts)`,
    `CREATE INDEX IF NOT EXISTS ${t}_segments_start ON ${t}_segments (tensor_id, start_ts)`,
    `CREATE TABLE IF NOT EXISTS ${t}_wal (tensor_id text NOT NULL, seq bigint NOT NULL, row bytea NOT NULL, PRIMARY KEY (tensor_id, seq))`,
  ],
]

async function importPg(): Promise<Pg> {
  try {
    const m = (await import('pg')) as unknown as Pg & { default?: Pg }
    return m.Pool ? m : (m.default as Pg)
  } catch (e) {
    throw new TemporalTensorError('BACKEND_UNAVAILABLE', 'PostgreSQL persistence needs the `pg` package: npm install pg', { cause: e })
  }
}

/** SQLSTATE classes and client errors where the connection, not the request, failed. */
const isConnectionError = (e: unknown): boolean => {
  const err = e as { code?: unknown; message?: unknown }
  const code = typeof err?.code === 'string' ? err.code : ''
  const message = String(err?.message ?? '')
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('57P') || // operator intervention: admin shutdown, crash shutdown, cannot connect now
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|Query read timeout/i.test(message)
  )
}

class Locked extends Error {}

/** The coded error for a failure of PostgreSQL while doing `what`. */
function pgError(e: unknown, what: string): TemporalTensorError {
  if (e instanceof TemporalTensorError) return e
  const err = e as { code?: unknown; message?: unknown }
  const message = `${what} failed: ${String(err?.message ?? e)}`
  if (e instanceof Locked) return new TemporalTensorError('STORE_LOCKED', `${what} refused: ${err.message}`)
  if (err?.code === '53100' || err?.code === '53200') {
    return new TemporalTensorError('STORAGE_FULL', `${message} (nothing was written)`, { cause: e })
  }
  return new TemporalTensorError('IO_ERROR', message, { cause: e })
}

const NAME = /^[a-z_][a-z0-9_]{0,40}$/

/**
 * Connects to PostgreSQL for store `name`, creating or migrating its tables. Throws
 * `BACKEND_UNAVAILABLE` (no `pg`), `IO_ERROR` (the server cannot be reached or refuses).
 */
export async function openPostgresPersistence(options: PostgresBackendOptions): Promise<Persistence> {
  const pg = await importPg()
  const t = (options.name ?? 'tt').toLowerCase().replace(/-/g, '_')
  if (!NAME.test(t)) throw new TemporalTensorError('INVALID_ARGUMENT', `persistence.name ${JSON.stringify(options.name)} is not a usable table prefix`)
  const leaseMs = options.leaseMs ?? 10_000
  const timeoutMs = options.timeoutMs ?? 10_000
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: Math.min(timeoutMs, 5000),
    // A query without a reply for `timeoutMs` (a stalled connection) fails; its connection is
    // then dropped, and the transaction retried on another until `timeoutMs` has passed.
    query_timeout: timeoutMs,
  })
  pool.on('error', () => {}) // an idle connection dropped: the pool replaces it
  const deadline = () => Date.now() + timeoutMs
  const watched = new WeakSet<PoolClient>()

  /**
   * Runs `body` in a transaction on a pooled connection. A failure of the connection is retried
   * (every 100 ms, until `timeoutMs`): `body` must be idempotent across a lost commit reply.
   */
  const transaction = async <T>(what: string, body: (c: PoolClient) => Promise<T>, isolation = ''): Promise<T> => {
    const until = deadline()
    for (;;) {
      let client: PoolClient | null = null
      try {
        client = await pool.connect()
        if (!watched.has(client)) {
          // A connection that dies while checked out fails the query running on it; without a
          // listener its 'error' event would also end the process.
          watched.add(client)
          client.on('error', () => {})
        }
        await client.query(`BEGIN${isolation}`)
        const result = await body(client)
        await client.query('COMMIT')
        client.release()
        return result
      } catch (e) {
        if (client !== null) {
          // A broken connection is dropped (the server rolls its transaction back); a sound one
          // is rolled back and reused.
          if (isConnectionError(e)) client.release(e as Error)
          else {
            await client.query('ROLLBACK').catch(() => {})
            client.release()
          }
        }
        const serialization = (e as { code?: unknown })?.code === '40001' || (e as { code?: unknown })?.code === '40P01'
        if ((isConnectionError(e) || serialization) && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 100))
          continue
        }
        throw pgError(e, what)
      }
    }
  }

  // Schema: created or migrated under a transaction-level advisory lock, one process at a time.
  await transaction('creating the store tables', async (c) => {
    await c.query("SELECT pg_advisory_xact_lock(hashtext('temporal-tensor-schema'))")
    await c.query('CREATE TABLE IF NOT EXISTS tt_schema (store text PRIMARY KEY, version int NOT NULL)')
    const row = (await c.query('SELECT version FROM tt_schema WHERE store = $1', [t])).rows[0]
    let version = row ? Number(row.version) : 0
    if (version > MIGRATIONS.length) {
      throw new TemporalTensorError('STORE_CORRUPT', `store ${t} has schema ${version}, newer than this version of the library (${MIGRATIONS.length})`)
    }
    for (; version < MIGRATIONS.length; version++) for (const sql of MIGRATIONS[version](t)) await c.query(sql)
    await c.query('INSERT INTO tt_schema (store, version) VALUES ($1, $2) ON CONFLICT (store) DO UPDATE SET version = $2', [t, version])
  })

  const token = randomBytes(12).toString('hex')
  const written = new Map<string, number>()
  const nonces = new Map<string, string>()
  const uncertain = new Map<string, { seq: number; nonce: string }>()
  const lease = `clock_timestamp() + ${Math.round(leaseMs)} * interval '1 millisecond'`
  /** The tensor's row, locked; `held` when another store's lease is in force. */
  const lockRow = async (c: PoolClient, id: string) =>
    (
      await c.query(
        `SELECT next_seq::float8 AS next, nonce, lease_token AS holder, (lease_until > clock_timestamp()) AS live
           FROM ${t}_tensors WHERE tensor_id = $1 FOR UPDATE`,
        [id],
      )
    ).rows[0] as { next: number; nonce: string | null; holder: string | null; live: boolean } | undefined
  const heldByOther = (r: { holder: string | null; live: boolean }) => r.live && r.holder !== null && r.holder !== token

  let closed = false
  const live = () => {
    if (closed) throw new TemporalTensorError('INVALID_HANDLE', 'this store was closed')
  }

  const readView = async (c: PoolClient, id: string, segmentsSql: string, values: unknown[]): Promise<TensorView | null> => {
    const meta = (await c.query(`SELECT meta FROM ${t}_tensors WHERE tensor_id = $1`, [id])).rows[0]
    if (!meta) return null
    const segs = (await c.query(segmentsSql, values)).rows.map((r) => [Number(r.seq), r.row as Buffer] as [number, Buffer])
    const frames = (await c.query(`SELECT seq::float8 AS seq, row FROM ${t}_wal WHERE tensor_id = $1 ORDER BY seq`, [id])).rows.map(
      (r) => [Number(r.seq), r.row as Buffer] as [number, Buffer],
    )
    return decodeTensor(id, meta.meta as Buffer, segs, frames)
  }

  return {
    kind: 'postgres',
    durable: true,
    shared: true,
    async writeFrame(id, frame, meta) {
      live()
      const nonce = randomBytes(8).toString('hex')
      const before = uncertain.get(id)
      const replace = before !== undefined && before.seq === frame.seq ? before.nonce : null
      const row = walRow(id, frame)
      try {
        await transaction('writing a frame', async (c) => {
          let r = await lockRow(c, id)
          if (r === undefined) {
            if (frame.seq !== 0 || meta === null) throw new Locked(`tensor ${id} is not in the store`)
            const inserted = await c.query(
              `INSERT INTO ${t}_tensors (tensor_id, meta, next_seq, nonce, lease_token, lease_until)
                 VALUES ($1, $2, 0, NULL, $3, ${lease}) ON CONFLICT (tensor_id) DO NOTHING`,
              [id, encodeRow(meta), token],
            )
            if (inserted.rowCount !== 1) throw new Locked(`tensor ${id} was created by another store`)
            r = await lockRow(c, id)
            if (r === undefined) throw new Locked(`tensor ${id} vanished`)
          }
          if (heldByOther(r)) throw new Locked(`another store holds the lease of tensor ${id}`)
          if (r.next === frame.seq + 1 && r.nonce === nonce) return // this very write, retried after a lost reply
          const replacing = r.next === frame.seq + 1 && replace !== null && r.nonce === replace
          if (!replacing && r.next !== frame.seq) {
            throw new Locked(`frame ${frame.seq} of tensor ${id} was written by another store (it has ${r.next} frames)`)
          }
          await c.query(
            `INSERT INTO ${t}_wal (tensor_id, seq, row) VALUES ($1, $2, $3) ON CONFLICT (tensor_id, seq) DO UPDATE SET row = EXCLUDED.row`,
            [id, frame.seq, row],
          )
          await c.query(
            `UPDATE ${t}_tensors SET next_seq = $2, nonce = $3, lease_token = $4, lease_until = ${lease}${meta ? ', meta = $5' : ''} WHERE tensor_id = $1`,
            meta ? [id, frame.seq + 1, nonce, token, encodeRow(meta)] : [id, frame.seq + 1, nonce, token],
          )
        })
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
      await removeLast(id, seq, nonces.get(id) ?? '')
      written.set(id, seq)
    },
    async writeSegments(meta, added, removed, fromWal) {
      live()
      const id = (added[0] ?? removed[0])?.tensorId ?? meta?.id
      if (id === undefined) return
      await transaction('writing segments', async (c) => {
        const r = await lockRow(c, id)
        if (r === undefined) throw new Locked(`tensor ${id} is not in the store`)
        if (r.holder !== token && (heldByOther(r) || r.next !== (written.get(id) ?? -1))) {
          throw new Locked(`another store writes tensor ${id}`)
        }
        if (removed.length > 0) {
          await c.query(`DELETE FROM ${t}_segments WHERE tensor_id = $1 AND seq = ANY($2::bigint[])`, [id, removed.map((s) => s.seq)])
        }
        for (const s of added) {
          await c.query(
            `INSERT INTO ${t}_segments (tensor_id, seq, start_ts, end_ts, key, tier, bits, frames, prev_key, row)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (tensor_id, seq) DO UPDATE SET start_ts = EXCLUDED.start_ts, end_ts = EXCLUDED.end_ts, key = EXCLUDED.key,
                 tier = EXCLUDED.tier, bits = EXCLUDED.bits, frames = EXCLUDED.frames, prev_key = EXCLUDED.prev_key, row = EXCLUDED.row`,
            [id, s.seq, s.startTs, s.endTs, s.key, s.tier, s.bits, s.frames, s.prevKey, segmentRow(s)],
          )
          if (fromWal) await c.query(`DELETE FROM ${t}_wal WHERE tensor_id = $1 AND seq >= $2 AND seq < $3`, [id, s.seq, s.seq + s.frames])
        }
        await c.query(
          `UPDATE ${t}_tensors SET lease_token = $2, lease_until = ${lease}${meta ? ', meta = $3' : ''} WHERE tensor_id = $1`,
          meta ? [id, token, encodeRow(meta)] : [id, token],
        )
      })
    },
    async writeMeta(meta) {
      live()
      await transaction('writing access statistics', async (c) => {
        await c.query(`UPDATE ${t}_tensors SET meta = $2 WHERE tensor_id = $1`, [meta.id, encodeRow(meta)])
      })
    },
    async load() {
      live()
      return transaction(
        'reading the store',
        async (c) => {
          const damage: Damage[] = []
          const tensors: TensorMeta[] = []
          const segments = new Map<string, StoredSegment[]>()
          const wal = new Map<string, WalFrame[]>()
          const group = <T>(rows: Record<string, unknown>[]) => {
            const by = new Map<string, [number, Buffer][]>()
            for (const r of rows) {
              const list = by.get(r.tensor_id as string) ?? []
              list.push([Number(r.seq), r.row as Buffer])
              by.set(r.tensor_id as string, list)
            }
            return by as Map<string, [number, Buffer][]> & T
          }
          const metas = (await c.query(`SELECT tensor_id, meta FROM ${t}_tensors`)).rows
          const segs = group((await c.query(`SELECT tensor_id, seq::float8 AS seq, row FROM ${t}_segments ORDER BY tensor_id, seq`)).rows)
          const frames = group((await c.query(`SELECT tensor_id, seq::float8 AS seq, row FROM ${t}_wal ORDER BY tensor_id, seq`)).rows)
          const ids = new Set<string>([...metas.map((m) => m.tensor_id as string), ...segs.keys(), ...frames.keys()])
          const metaOf = new Map(metas.map((m) => [m.tensor_id as string, m.meta as Buffer]))
          for (const id of ids) {
            const view = decodeTensor(id, metaOf.get(id) ?? null, segs.get(id) ?? [], frames.get(id) ?? [])
            if (view === null) continue
            damage.push(...view.damage)
            if (metaOf.has(id) && !view.damage.some((d) => d.table === 'tensors')) tensors.push(view.meta)
            segments.set(id, view.segments)
            wal.set(id, view.wal)
          }
          return { tensors, segments, wal, damage } satisfies Loaded
        },
        ' ISOLATION LEVEL REPEATABLE READ READ ONLY',
      )
    },
    async view(id, fromTs, toTs, latest) {
      live()
      return transaction(
        'reading a tensor',
        (c) =>
          latest
            ? readView(
                c,
                id,
                `SELECT seq::float8 AS seq, row FROM ${t}_segments WHERE tensor_id = $1 AND start_ts <= $2 ORDER BY start_ts DESC, seq DESC LIMIT 1`,
                [id, toTs],
              )
            : readView(
                c,
                id,
                `SELECT seq::float8 AS seq, row FROM ${t}_segments WHERE tensor_id = $1 AND end_ts >= $2 AND start_ts <= $3 ORDER BY seq`,
                [id, fromTs, toTs],
              ),
        ' ISOLATION LEVEL REPEATABLE READ READ ONLY',
      )
    },
    async tensorIds() {
      live()
      return transaction('listing tensors', async (c) => (await c.query(`SELECT tensor_id FROM ${t}_tensors`)).rows.map((r) => r.tensor_id as string))
    },
    async close() {
      if (closed) return
      closed = true
      try {
        for (const [id, { seq, nonce }] of uncertain) await removeLast(id, seq, nonce).catch(() => {})
        if (written.size > 0) {
          await pool
            .query(`UPDATE ${t}_tensors SET lease_token = NULL, lease_until = NULL WHERE lease_token = $1`, [token])
            .catch(() => {})
        }
      } finally {
        await pool.end().catch(() => {})
      }
    },
  }

  /** Takes back frame `seq` of `id` if it is the last one written, by the write `nonce`. */
  async function removeLast(id: string, seq: number, nonce: string): Promise<void> {
    await transaction('removing a frame', async (c) => {
      const r = await lockRow(c, id)
      if (r === undefined || heldByOther(r) || r.next !== seq + 1 || r.nonce !== nonce) return
      await c.query(`DELETE FROM ${t}_wal WHERE tensor_id = $1 AND seq = $2`, [id, seq])
      await c.query(`UPDATE ${t}_tensors SET next_seq = $2, nonce = NULL WHERE tensor_id = $1`, [id, seq])
    })
  }
}
