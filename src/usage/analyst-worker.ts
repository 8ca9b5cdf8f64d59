import Sqlite from 'better-sqlite3'
import pg from 'pg'
import { parentPort, workerData } from 'node:worker_threads'
import { splitSchema } from '../store/database.js'
import { toUsageRecord } from '../store/rows.js'
import { ANALYSES, type AnalysisEnv, type AnalysisName } from '../tools/analyses.js'
import { snapshotCache } from '../tools/analyst.js'
import type { UsageRecord } from '../tools/usage-data.js'

/** What the pool sends a worker: one analysis of one run's snapshot. */
export interface WorkerTask { id: number, user_id: string, run_id: string, name: AnalysisName, args: Record<string, unknown> }
export type WorkerReply = { id: number, result: unknown, records: number } | { id: number, error: string }
export interface WorkerInit { databaseUrl: string, env: AnalysisEnv }

const SELECT = 'select * from usage_records where user_id = $1 order by timestamp, request_id'

/** A reader of one user's records, on a connection of this worker's own. */
function reader (databaseUrl: string): (userId: string) => Promise<UsageRecord[]> {
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new Sqlite(databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true })
    db.pragma('busy_timeout = 5000')
    const stmt = db.prepare(SELECT.replace('$1', '?'))
    return async (userId) => (stmt.all(userId) as Array<Parameters<typeof toUsageRecord>[0]>).map(toUsageRecord)
  }
  const { connectionString, schema } = splitSchema(databaseUrl)
  const pool = new pg.Pool({ connectionString, max: 2, options: schema && `-c search_path=${schema}` })
  pool.on('error', () => {})
  return async (userId) => (await pool.query(SELECT, [userId])).rows.map(toUsageRecord)
}

const init = workerData as WorkerInit
const read = reader(init.databaseUrl)
// one snapshot per run: every tool of a run reads the same records, read once
const snapshots = snapshotCache(async (ctx: { user_id: string, run_id: string }) => await read(ctx.user_id))

parentPort!.on('message', (task: WorkerTask) => {
  snapshots.get(task).then((records) => {
    const result = ANALYSES[task.name](records, task.args, init.env)
    parentPort!.postMessage({ id: task.id, result, records: records.length } satisfies WorkerReply)
  }).catch((err: unknown) => {
    parentPort!.postMessage({ id: task.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply)
  })
})
