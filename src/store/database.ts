import Sqlite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql, type ColumnType } from 'kysely'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'

/** pg hands int8 back as a string */
type BigInt8 = ColumnType<number | string, number, number>

export interface Database {
  threads: {
    thread_id: string
    user_id: string
    title: string
    created_at: string
    updated_at: string
    active_run_id: string | null
    message_count: number
  }
  messages: {
    message_id: string
    thread_id: string
    user_id: string
    role: 'user' | 'assistant'
    content: string
    run_id: string | null
    created_at: string
    position: number
  }
  runs: {
    run_id: string
    thread_id: string
    user_id: string
    agent: string
    status: string
    input: string | null
    created_at: string
    started_at: string | null
    finished_at: string | null
    result: string | null
    error: string | null
    last_seq: number
    epoch: ColumnType<number, number | undefined, number>
    lease_owner: string | null
    lease_expires_at: ColumnType<number | string | null, number | null, number | null>
    cancel_requested: ColumnType<number, number | undefined, number>
    user_seq: ColumnType<number | string, number | undefined, number>
  }
  run_users: {
    user_id: string
    last_claim: ColumnType<number | string, number | undefined, number>
    next_seq: ColumnType<number | string, number | undefined, number>
  }
  events: {
    run_id: string
    seq: number
    user_id: string
    type: string
    data: string
    created_at: string
  }
  run_inputs: {
    interrupt_id: string
    run_id: string
    by: string
    body: string
    created_at: string
  }
  ws_tickets: {
    ticket: string
    user_id: string
    expires_at: number
    token_exp: BigInt8
  }
  usage_records: {
    user_id: string
    request_id: string
    timestamp: string
    provider: string
    model: string
    input_tokens: BigInt8
    output_tokens: BigInt8
    cached_tokens: ColumnType<number | string | null, number | null, number | null>
    cost_usd: number
    latency_ms: number | null
    feature: string | null
    prompt_hash: string | null
    requests: number | null
  }
}

export type Dialect = 'sqlite' | 'postgres'

export interface Opened {
  db: Kysely<Database>
  dialect: Dialect
  /** SQLite: the connection itself, for the one statement the hot path runs without Kysely */
  sqlite?: Sqlite.Database
  /** the Postgres schema the tables live in */
  schema?: string
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** A `postgres://` url without its `schema` query parameter, and that schema. */
export function splitSchema (databaseUrl: string): { connectionString: string, schema?: string } {
  const url = new URL(databaseUrl)
  const schema = url.searchParams.get('schema') ?? undefined
  if (schema === undefined) return { connectionString: databaseUrl }
  if (!SCHEMA_NAME.test(schema)) throw new Error(`DATABASE_URL: invalid schema name "${schema}"`)
  url.searchParams.delete('schema')
  return { connectionString: url.toString(), schema }
}

export async function openDatabase (databaseUrl: string): Promise<Opened> {
  if (databaseUrl.startsWith('sqlite:')) {
    const sqlite = openSqlite(databaseUrl.slice('sqlite:'.length))
    return { db: new Kysely({ dialect: new SqliteDialect({ database: sqlite }) }), dialect: 'sqlite', sqlite }
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return await openPostgres(databaseUrl)
  throw new Error('DATABASE_URL: expected sqlite:<path>, sqlite::memory: or postgres://…')
}

function openSqlite (file: string): Sqlite.Database {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true })
  const db = new Sqlite(file)
  db.pragma('journal_mode = WAL')
  // every commit reaches the disk before a client sees its events, also after a power loss (better-sqlite3
  // would use NORMAL on a file reopened in WAL mode: a power cut could then take back events already seen)
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  // another process (a backup, a CLI) may hold the write lock for a moment
  db.pragma('busy_timeout = 5000')
  cachePrepared(db)
  return db
}

/** Statements kept prepared, by SQL text; the hot inserts and updates repeat a few shapes. */
const PREPARED_CACHE = 256

/**
 * Kysely's SQLite driver prepares every query anew; preparing is a tenth of the time of a
 * flat-out event stream. A prepared statement is reusable once it has run, so the same SQL
 * reuses one (the driver runs a query to its end before the next one).
 */
function cachePrepared (db: Sqlite.Database) {
  const prepare = db.prepare.bind(db)
  const cache = new Map<string, Sqlite.Statement>()
  db.prepare = ((source: string) => {
    let stmt = cache.get(source)
    if (stmt) {
      cache.delete(source)
    } else {
      stmt = prepare(source)
      if (cache.size >= PREPARED_CACHE) cache.delete(cache.keys().next().value!)
    }
    cache.set(source, stmt)
    return stmt
  }) as typeof db.prepare
}

async function openPostgres (databaseUrl: string): Promise<Opened> {
  const { connectionString, schema } = splitSchema(databaseUrl)
  const pool = new pg.Pool({ connectionString, options: schema && `-c search_path=${schema}` })
  // an idle client that dies is dropped by the pool; without a listener it would crash the process
  pool.on('error', () => {})
  // so would one that dies while checked out between two queries (a transaction's): its query fails anyway
  pool.on('connect', (client) => { client.on('error', () => {}) })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  if (schema) return { db, dialect: 'postgres', schema }
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)
  return { db, dialect: 'postgres', schema: rows[0]?.schema ?? undefined }
}
