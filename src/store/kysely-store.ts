import { Migrator, sql, type ExpressionBuilder, type Insertable, type Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import type { RunEvent } from '../core/events.js'
import { Errors } from '../errors.js'
import { openDatabase, type Database, type Dialect } from './database.js'
import { createHousekeeping } from './housekeeping.js'
import { migrationProvider } from './migrations/index.js'
import { decodeCursor, encodeCursor, threadTitle, toJson, toMessage, toRun, toThread, toUsageRecord, toUsageRow } from './rows.js'
import { ACTIVE_STATUSES, FencedError, type ClaimedRun, type EventBatch, type RunStatus, type Store, type UsageGroup, type UsageRange } from './types.js'

export interface StoreOptions {
  /** the clock of resource timestamps; tests pin it */
  now?: () => Date
}

/** A write transaction waiting for the next SQLite group commit. */
interface QueuedTx { fn: (trx: Kysely<Database>) => Promise<unknown>, resolve (value: unknown): void, reject (err: unknown): void }

/** Rows per insert statement, well under SQLite's and Postgres' bound-parameter limits. */
const INSERT_CHUNK = 1000

/**
 * The one Store: SQLite (better-sqlite3) for `sqlite:<path>` and `sqlite::memory:`, Postgres (pg)
 * for `postgres://…[?schema=name]`. Migrates to the latest schema before it resolves.
 */
export async function createStore (databaseUrl: string, opts: StoreOptions = {}): Promise<Store> {
  const now = opts.now ?? (() => new Date())
  const { db, dialect, schema, sqlite } = await openDatabase(databaseUrl)
  try {
    await migrate(db, schema)
  } catch (err) {
    await db.destroy()
    throw err
  }
  const iso = () => now().toISOString()
  const { runMs, toolStatus } = dialectSql(dialect)
  const usageIn = (userId: string, { from, to }: UsageRange) => {
    let query = db.selectFrom('usage_records').where('user_id', '=', userId)
    if (from !== undefined) query = query.where('timestamp', '>=', from)
    if (to !== undefined) query = query.where('timestamp', '<', to)
    return query
  }

  /**
   * A write transaction. On Postgres, its own. On SQLite, a member of a group commit: the write
   * transactions asked for in one tick run one after another in one transaction, each in a
   * savepoint of its own (one that throws is rolled back alone), and resolve once that one commit
   * is durable: one fsync for them all, not one each. SQLite takes the write lock at BEGIN
   * (IMMEDIATE), so a transaction that reads before it writes cannot fail on a lock upgrade when
   * another process writes the file.
   */
  const writeTx = <T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> => {
    if (dialect === 'postgres') return db.transaction().execute(fn)
    return new Promise<T>((resolve, reject) => {
      txQueue.push({ fn, resolve: resolve as (value: unknown) => void, reject })
      txDrain ??= drainTx()
    })
  }
  let txQueue: QueuedTx[] = []
  let txDrain: Promise<void> | undefined
  const drainTx = async () => {
    // every request of this tick asks first
    await new Promise((resolve) => setImmediate(resolve))
    while (txQueue.length) {
      const group = txQueue
      txQueue = []
      await commitGroup(group)
    }
    txDrain = undefined
  }
  const commitGroup = async (group: QueuedTx[]) => {
    const outcomes: Array<{ ok: true, value: unknown } | { ok: false, err: unknown }> = []
    try {
      await db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn)
        try {
          for (const tx of group) {
            await sql`savepoint member`.execute(conn)
            try {
              outcomes.push({ ok: true, value: await tx.fn(conn) })
              await sql`release member`.execute(conn)
            } catch (err) {
              await sql`rollback to member`.execute(conn)
              await sql`release member`.execute(conn)
              outcomes.push({ ok: false, err })
            }
          }
          await sql`commit`.execute(conn)
        } catch (err) {
          await sql`rollback`.execute(conn).catch(() => {})
          throw err
        }
      })
    } catch (err) {
      // nothing of the group was committed
      for (const tx of group) tx.reject(err)
      return
    }
    group.forEach((tx, i) => {
      const o = outcomes[i]
      if (o.ok) tx.resolve(o.value)
      else tx.reject(o.err)
    })
  }
  /**
   * The fence for several runs in one statement (one round trip): only each epoch's holder
   * appends, and only right after the run's last stored seq. Resolves with the runs it let through.
   */
  const fence = async (trx: Kysely<Database>, batches: readonly EventBatch[]): Promise<Set<string>> => {
    if (sqlite) {
      // SQLite is in-process: one prepared update per run is cheaper than planning one statement
      // over a VALUES list of every run of the commit (this runs inside the transaction, on its connection)
      const advance = sqlite.prepare('update runs set last_seq = ? where run_id = ? and epoch = ? and last_seq = ?')
      const kept = new Set<string>()
      for (const b of batches) {
        if (advance.run(b.events[b.events.length - 1].seq, b.run_id, b.epoch, b.events[0].seq - 1).changes === 1) kept.add(b.run_id)
      }
      return kept
    }
    const values = sql.join(batches.map((b) => sql`(${b.run_id}, cast(${b.epoch} as integer), cast(${b.events[0].seq} as integer), cast(${b.events[b.events.length - 1].seq} as integer))`))
    const { rows } = await sql<{ run_id: string }>`with v(run_id, epoch, first_seq, last_seq) as (values ${values})
      update runs set last_seq = (select v.last_seq from v where v.run_id = runs.run_id)
      where runs.run_id in (select v.run_id from v) and exists (select 1 from v where v.run_id = runs.run_id and v.epoch = runs.epoch and v.first_seq - 1 = runs.last_seq)
      returning run_id`.execute(trx)
    return new Set(rows.map((r) => r.run_id))
  }
  // Postgres locks the rows it picks and skips those another process holds; SQLite has one writer
  const forUpdate = <Q extends { forUpdate: () => Q, skipLocked: () => Q }>(q: Q): Q => dialect === 'postgres' ? q.forUpdate().skipLocked() : q
  const lockUser = async (trx: Kysely<Database>, userId: string) => {
    let q = trx.selectFrom('run_users').selectAll().where('user_id', '=', userId)
    if (dialect === 'postgres') q = q.forUpdate()
    return await q.executeTakeFirstOrThrow()
  }

  const store: Store = {
    dialect,
    ...createHousekeeping(db),

    async createRun (r) {
      return await writeTx(async (trx) => {
        const at = iso()
        const runId = randomUUID()
        // the user's row serialises their submissions and claims across processes
        await trx.insertInto('run_users').values({ user_id: r.user_id }).onConflict((oc) => oc.column('user_id').doNothing()).execute()
        const user = await lockUser(trx, r.user_id)
        const counts = await trx.selectFrom('runs').select((eb) => ['status', eb.fn.countAll().as('n')])
          .where('user_id', '=', r.user_id).where('status', 'in', ACTIVE_STATUSES).groupBy('status').execute()
        const count = (s: RunStatus) => Number(counts.find((c) => c.status === s)?.n ?? 0)
        let thread
        let turnNow = true
        if (r.thread_id === undefined) {
          thread = await trx.insertInto('threads').values({
            thread_id: randomUUID(),
            user_id: r.user_id,
            title: threadTitle(r.content),
            created_at: at,
            updated_at: at,
            active_run_id: runId,
            message_count: 1
          }).returningAll().executeTakeFirstOrThrow()
        } else {
          let find = trx.selectFrom('threads').select('active_run_id')
            .where('thread_id', '=', r.thread_id).where('user_id', '=', r.user_id)
          // the row stays until this run is in it: a delete meanwhile waits, then finds the thread busy
          if (dialect === 'postgres') find = find.forUpdate()
          const existing = await find.executeTakeFirst()
          if (!existing) throw new Errors.NotFound('thread')
          turnNow = existing.active_run_id === null
          let update = trx.updateTable('threads')
            // a run already active stays the thread's active run; a later one waits its turn
            .set((eb) => ({ updated_at: at, active_run_id: eb.fn.coalesce('active_run_id', eb.val(runId)), message_count: eb('message_count', '+', 1) }))
            .where('thread_id', '=', r.thread_id).where('user_id', '=', r.user_id)
          // the database, not a read before it, decides that a `reject` finds the thread free
          if (r.multitask === 'reject') update = update.where('active_run_id', 'is', null)
          thread = await update.returningAll().executeTakeFirst()
          if (!thread) throw new Errors.ThreadBusy()
        }
        const queued = count('queued')
        if ((!turnNow || queued > 0 || count('running') >= r.limits.perUser) && queued >= r.limits.queuedPerUser) {
          throw new Errors.RateLimited(`at most ${r.limits.perUser} runs at once and ${r.limits.queuedPerUser} waiting`)
        }
        const userSeq = Number(user.next_seq)
        await trx.updateTable('run_users').set({ next_seq: userSeq + 1 }).where('user_id', '=', r.user_id).execute()
        const run = await trx.insertInto('runs').values({
          run_id: runId,
          thread_id: thread.thread_id,
          user_id: r.user_id,
          agent: r.agent,
          status: 'queued',
          input: toJson(r.input),
          created_at: at,
          last_seq: 0,
          user_seq: userSeq
        }).returningAll().executeTakeFirstOrThrow()
        const message = await trx.insertInto('messages').values({
          message_id: randomUUID(),
          thread_id: thread.thread_id,
          user_id: r.user_id,
          role: 'user',
          content: r.content,
          run_id: runId,
          created_at: at,
          position: thread.message_count
        }).returningAll().executeTakeFirstOrThrow()
        return { thread: toThread(thread), message: toMessage(message), run: toRun(run), position: queued + 1 }
      })
    },

    async getThread (userId, threadId) {
      const row = await db.selectFrom('threads').selectAll()
        .where('thread_id', '=', threadId).where('user_id', '=', userId).executeTakeFirst()
      return row && toThread(row)
    },

    async listThreads (userId, { limit, cursor }) {
      let query = db.selectFrom('threads').selectAll().where('user_id', '=', userId)
      if (cursor !== undefined) {
        const [updatedAt, threadId] = decodeCursor(cursor)
        query = query.where(({ eb, refTuple, tuple }) =>
          eb(refTuple('updated_at', 'thread_id'), '<', tuple(updatedAt, threadId)))
      }
      const rows = await query.orderBy('updated_at', 'desc').orderBy('thread_id', 'desc').limit(limit + 1).execute()
      const items = rows.slice(0, limit).map(toThread)
      const last = items.at(-1)
      return { items, next_cursor: rows.length > limit && last ? encodeCursor(last) : null }
    },

    async renameThread (userId, threadId, title) {
      const row = await db.updateTable('threads').set({ title })
        .where('thread_id', '=', threadId).where('user_id', '=', userId).returningAll().executeTakeFirst()
      return row && toThread(row)
    },

    async deleteThread (userId, threadId) {
      // one statement decides, so a run created meanwhile either blocks the delete or finds no thread;
      // runs, messages, events and answers go with the thread (on delete cascade)
      const deleted = await db.deleteFrom('threads')
        .where('thread_id', '=', threadId).where('user_id', '=', userId).where('active_run_id', 'is', null)
        .executeTakeFirst()
      if (Number(deleted.numDeletedRows) === 1) return
      if (await store.getThread(userId, threadId)) throw new Errors.ThreadBusy()
      throw new Errors.NotFound('thread')
    },

    async listMessages (userId, threadId) {
      const thread = await db.selectFrom('threads').select('thread_id')
        .where('thread_id', '=', threadId).where('user_id', '=', userId).executeTakeFirst()
      if (!thread) return undefined
      const rows = await db.selectFrom('messages').selectAll()
        .where('thread_id', '=', threadId).where('user_id', '=', userId).orderBy('position').execute()
      return rows.map(toMessage)
    },

    async getRun (userId, runId) {
      const row = await db.selectFrom('runs').selectAll()
        .where('run_id', '=', runId).where('user_id', '=', userId).executeTakeFirst()
      return row && toRun(row)
    },

    async listEvents (userId, runId, afterSeq, limit) {
      const run = await db.selectFrom('runs').select('thread_id')
        .where('run_id', '=', runId).where('user_id', '=', userId).executeTakeFirst()
      if (!run) return undefined
      let query = db.selectFrom('events').select(['type', 'seq', 'user_id', 'data'])
        .where('run_id', '=', runId).where('seq', '>', afterSeq).orderBy('seq')
      if (limit !== undefined) query = query.limit(limit)
      const rows = await query.execute()
      return rows.map((e) => ({
        type: e.type,
        seq: e.seq,
        run_id: runId,
        thread_id: run.thread_id,
        user_id: e.user_id,
        data: JSON.parse(e.data)
      }) as RunEvent)
    },

    async stats (userId) {
      const [byStatus, tools, durations] = await Promise.all([
        db.selectFrom('runs').select((eb) => ['status', eb.fn.countAll().as('n')])
          .where('user_id', '=', userId).groupBy('status').execute(),
        db.selectFrom('events')
          .select((eb) => [
            eb.fn.countAll().as('calls'),
            eb.fn.sum(sql`case when ${toolStatus} = 'success' then 0 else 1 end`).as('errors')
          ])
          .where('user_id', '=', userId).where('type', '=', 'tool_completed').executeTakeFirstOrThrow(),
        db.selectFrom('runs').select((eb) => eb.fn.avg(runMs).as('mean'))
          .where('user_id', '=', userId).where('started_at', 'is not', null).where('finished_at', 'is not', null)
          .executeTakeFirstOrThrow()
      ])
      const runs: Record<RunStatus, number> = { queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 }
      for (const { status, n } of byStatus) runs[status as RunStatus] = Number(n)
      return {
        runs,
        tool_calls: Number(tools.calls),
        tool_errors: Number(tools.errors ?? 0),
        mean_run_ms: durations.mean === null ? null : Number(durations.mean)
      }
    },

    async appendEvents (runId, epoch, events) {
      const fenced = await store.appendBatches([{ run_id: runId, epoch, events }])
      if (fenced.size) throw new FencedError(`run ${runId}: epoch ${epoch} no longer holds seq ${events[0]?.seq}`)
    },

    async appendBatches (batches) {
      const fenced = new Set<EventBatch>()
      const rows: Array<Insertable<Database['events']>> = []
      const at = iso()
      for (const { run_id: runId, events } of batches) {
        const first = events[0]?.seq
        if (events.some((e, i) => e.run_id !== runId || e.seq !== first + i)) throw new Error(`run ${runId}: a batch of events must be one run's consecutive seqs`)
      }
      const live = batches.filter((b) => b.events.length > 0)
      if (live.length === 0) return fenced
      await writeTx(async (trx) => {
        // a run named twice (two holders' writes in one commit) is fenced in a round of its own
        for (let round = live; round.length > 0;) {
          const once = new Map<string, EventBatch>()
          const again: EventBatch[] = []
          for (const b of round) {
            if (once.has(b.run_id)) again.push(b)
            else once.set(b.run_id, b)
          }
          const kept = await fence(trx, [...once.values()])
          for (const b of once.values()) {
            if (!kept.has(b.run_id)) { fenced.add(b); continue }
            b.events.forEach((e, i) => rows.push({ run_id: e.run_id, seq: e.seq, user_id: e.user_id, type: e.type, data: b.data?.[i] ?? JSON.stringify(e.data), created_at: at }))
          }
          round = again
        }
        if (sqlite) {
          // one prepared statement run per row: building a Kysely insert of a commit's rows cost
          // more than SQLite inserting them (this runs inside the transaction, on its connection)
          const insert = sqlite.prepare('insert into events (run_id, seq, user_id, type, data, created_at) values (?, ?, ?, ?, ?, ?)')
          for (const r of rows) insert.run(r.run_id, r.seq, r.user_id, r.type, r.data, r.created_at)
        } else {
          for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx.insertInto('events').values(rows.slice(i, i + INSERT_CHUNK)).execute()
        }
      })
      return fenced
    },

    async finishRun (runId, epoch, f) {
      await writeTx(async (trx) => {
        const at = iso()
        const run = await trx.updateTable('runs')
          .set({ status: f.status, result: toJson(f.result), error: toJson(f.error), finished_at: at, lease_owner: null, lease_expires_at: null })
          .where('run_id', '=', runId).where('epoch', '=', epoch).where('status', 'in', ACTIVE_STATUSES)
          .returning(['thread_id', 'user_id']).executeTakeFirst()
        if (!run) throw new FencedError(`run ${runId}: epoch ${epoch} cannot finish it`)
        const thread = await trx.updateTable('threads')
          .set((eb) => ({
            updated_at: at,
            // the next unfinished run of the thread (an enqueued one) becomes the active one
            // (ordered by their user messages' positions: timestamps can tie)
            active_run_id: eb.selectFrom('runs')
              .innerJoin('messages', (j) => j.onRef('messages.run_id', '=', 'runs.run_id').on('messages.role', '=', 'user'))
              .select('runs.run_id')
              .where('messages.thread_id', '=', run.thread_id).where('runs.thread_id', '=', run.thread_id)
              .where('runs.status', 'in', ACTIVE_STATUSES)
              .orderBy('messages.position').limit(1),
            message_count: eb('message_count', '+', f.answer === undefined ? 0 : 1)
          }))
          .where('thread_id', '=', run.thread_id).returning('message_count').executeTakeFirstOrThrow()
        if (f.answer === undefined) return
        await trx.insertInto('messages').values({
          message_id: randomUUID(),
          thread_id: run.thread_id,
          user_id: run.user_id,
          role: 'assistant',
          content: f.answer,
          run_id: runId,
          created_at: at,
          position: thread.message_count
        }).execute()
      })
    },

    async claimRuns (o) {
      return await writeTx(async (trx) => {
        const claimed: ClaimedRun[] = []
        const take = async (runId: string, wasQueued: boolean, cancel: boolean) => {
          const row = await trx.updateTable('runs')
            .set((eb) => ({
              epoch: eb('epoch', '+', 1),
              lease_owner: o.owner,
              lease_expires_at: o.now + o.leaseMs,
              // a run asked to cancel is ended by its claimer without starting
              ...(wasQueued && !cancel ? { status: 'running', started_at: eb.fn.coalesce('started_at', eb.val(iso())) } : {})
            }))
            .where('run_id', '=', runId).returningAll().executeTakeFirstOrThrow()
          // by its thread first: messages have no index of their own on run_id
          const message = await trx.selectFrom('messages').select('content')
            .where('thread_id', '=', row.thread_id).where('run_id', '=', runId).where('role', '=', 'user').executeTakeFirst()
          claimed.push({ run: toRun(row), content: message?.content ?? '', epoch: row.epoch, cancel_requested: row.cancel_requested === 1 })
        }

        if (o.runId !== undefined) {
          const row = await forUpdate(trx.selectFrom('runs').select(['run_id', 'cancel_requested'])
            .where('run_id', '=', o.runId).where('status', '=', 'queued')
            .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', o.now)]))).executeTakeFirst()
          if (row) await take(row.run_id, true, row.cancel_requested === 1)
          return claimed
        }

        // runs whose holder is gone (lease lapsed, or handed over): any process takes them over
        const lapsed = await forUpdate(trx.selectFrom('runs').select(['run_id', 'status', 'cancel_requested'])
          .where('status', 'in', ACTIVE_STATUSES).where('lease_owner', 'is not', null).where('lease_expires_at', '<', o.now)
          .orderBy('lease_expires_at').orderBy('run_id').limit(o.limit)).execute()
        for (const r of lapsed) await take(r.run_id, false, r.cancel_requested === 1)

        // queued runs whose thread turn has come, one per user per round, oldest claim first
        // (each join names the thread too, so it goes through the queued runs, not every thread)
        const turnCome = (eb: ExpressionBuilder<Database, 'run_users'>) => eb.selectFrom('runs')
          .innerJoin('threads', (j) => j.onRef('threads.thread_id', '=', 'runs.thread_id').onRef('threads.active_run_id', '=', 'runs.run_id'))
          .select('runs.user_id')
          .where('runs.status', '=', 'queued').where('runs.lease_owner', 'is', null)
        let lastClaim: number | undefined
        let progressed = true
        while (progressed && claimed.length < o.limit) {
          progressed = false
          // users with a run whose turn has come and a free slot: one at their cap blocks no one
          const users = await forUpdate(trx.selectFrom('run_users').select('user_id')
            .where((eb) => eb('user_id', 'in', turnCome(eb)))
            .where((eb) => eb(eb.selectFrom('runs').select(eb.fn.countAll().as('n'))
              .whereRef('runs.user_id', '=', 'run_users.user_id').where('runs.status', '=', 'running'), '<', o.perUser))
            .orderBy('last_claim').orderBy('user_id').limit(o.limit)).execute()
          for (const { user_id } of users) {
            if (claimed.length >= o.limit) break
            const running = await trx.selectFrom('runs').select((eb) => eb.fn.countAll().as('n'))
              .where('user_id', '=', user_id).where('status', '=', 'running').executeTakeFirstOrThrow()
            if (Number(running.n) >= o.perUser) continue
            const next = await trx.selectFrom('runs')
              .innerJoin('threads', (j) => j.onRef('threads.thread_id', '=', 'runs.thread_id').onRef('threads.active_run_id', '=', 'runs.run_id'))
              .select(['runs.run_id', 'runs.cancel_requested'])
              .where('runs.user_id', '=', user_id).where('runs.status', '=', 'queued').where('runs.lease_owner', 'is', null)
              .orderBy('runs.user_seq').limit(1).executeTakeFirst()
            if (!next) continue
            if (lastClaim === undefined) {
              const top = await trx.selectFrom('run_users').select((eb) => eb.fn.max('last_claim').as('m')).executeTakeFirstOrThrow()
              lastClaim = Number(top.m ?? 0)
            }
            await trx.updateTable('run_users').set({ last_claim: ++lastClaim }).where('user_id', '=', user_id).execute()
            await take(next.run_id, true, next.cancel_requested === 1)
            progressed = true
          }
        }
        return claimed
      })
    },

    async renewLeases (owner, runIds, nowMs, leaseMs) {
      if (runIds.length === 0) return []
      // only runs the owner still runs: one it let go of (a handover, expiry 0) lapses, whatever the owner column says
      const rows = await db.updateTable('runs').set({ lease_expires_at: nowMs + leaseMs })
        .where('lease_owner', '=', owner).where('run_id', 'in', runIds).where('status', 'in', ACTIVE_STATUSES).where('lease_expires_at', '>', 0)
        .returning(['run_id', 'epoch', 'cancel_requested']).execute()
      return rows.map((r) => ({ run_id: r.run_id, epoch: r.epoch, cancel_requested: r.cancel_requested === 1 }))
    },

    async releaseRun (runId, epoch) {
      const result = await db.updateTable('runs').set({ lease_expires_at: 0 })
        .where('run_id', '=', runId).where('epoch', '=', epoch).where('status', 'in', ACTIVE_STATUSES).executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },

    async requestCancel (userId, runId) {
      const run = await db.selectFrom('runs').selectAll()
        .where('run_id', '=', runId).where('user_id', '=', userId).executeTakeFirst()
      if (!run) return undefined
      await db.updateTable('runs').set({ cancel_requested: 1 })
        .where('run_id', '=', runId).where('status', 'in', ACTIVE_STATUSES).execute()
      return toRun(run)
    },

    async listActiveRuns (threadId) {
      const rows = await db.selectFrom('runs').selectAll()
        .where('thread_id', '=', threadId).where('status', 'in', ACTIVE_STATUSES).orderBy('user_seq').execute()
      return rows.map(toRun)
    },

    async setWaiting (runId, epoch, waiting) {
      const result = await db.updateTable('runs').set({ status: waiting ? 'waiting' : 'running' })
        .where('run_id', '=', runId).where('epoch', '=', epoch).where('status', 'in', ['running', 'waiting']).executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },

    async storeInput (runId, input) {
      const result = await db.insertInto('run_inputs')
        .values({ interrupt_id: input.interrupt_id, run_id: runId, by: input.by, body: JSON.stringify(input.body), created_at: iso() })
        .onConflict((oc) => oc.column('interrupt_id').doNothing()).executeTakeFirst()
      return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
    },

    async getInput (runId, interruptId) {
      const row = await db.selectFrom('run_inputs').selectAll()
        .where('interrupt_id', '=', interruptId).where('run_id', '=', runId).executeTakeFirst()
      return row && { interrupt_id: row.interrupt_id, by: row.by as 'user' | 'expiry', body: JSON.parse(row.body) }
    },

    async countQueued () {
      const row = await db.selectFrom('runs').select((eb) => eb.fn.countAll().as('n'))
        .where('status', '=', 'queued').executeTakeFirstOrThrow()
      return Number(row.n)
    },

    async createTicket (t) {
      await db.insertInto('ws_tickets').values(t).execute()
    },

    async consumeTicket (ticket, nowS) {
      const row = await db.deleteFrom('ws_tickets').where('ticket', '=', ticket)
        .returning(['user_id', 'expires_at', 'token_exp']).executeTakeFirst()
      await db.deleteFrom('ws_tickets').where('expires_at', '<', nowS).execute()
      if (!row || row.expires_at < nowS) return undefined
      return { user_id: row.user_id, token_exp: Number(row.token_exp) }
    },

    async importUsage (userId, records, opts = {}) {
      return await writeTx(async (trx) => {
        if (opts.replace) await trx.deleteFrom('usage_records').where('user_id', '=', userId).execute()
        let inserted = 0
        for (let i = 0; i < records.length; i += INSERT_CHUNK) {
          const result = await trx.insertInto('usage_records')
            .values(records.slice(i, i + INSERT_CHUNK).map((r) => toUsageRow(userId, r)))
            .onConflict((oc) => oc.columns(['user_id', 'request_id']).doNothing())
            .executeTakeFirst()
          inserted += Number(result.numInsertedOrUpdatedRows ?? 0)
        }
        return { inserted, duplicates: records.length - inserted }
      })
    },

    async listUsage (userId, range = {}) {
      const rows = await usageIn(userId, range).selectAll().orderBy('timestamp').orderBy('request_id').execute()
      return rows.map(toUsageRecord)
    },

    async usageTotals (userId, range = {}) {
      const [all, byProvider, byModel] = await Promise.all([
        usageIn(userId, range)
          .select((eb) => [eb.fn.min('timestamp').as('from'), eb.fn.max('timestamp').as('to'), ...usageSums])
          .executeTakeFirstOrThrow(),
        usageIn(userId, range).select(['provider', ...usageSums]).groupBy('provider').execute(),
        usageIn(userId, range).select(['provider', 'model', ...usageSums]).groupBy(['provider', 'model']).execute()
      ])
      return {
        ...toSums(all),
        from: all.from ?? null,
        to: all.to ?? null,
        by_provider: byProvider.map((g) => ({ provider: g.provider, ...toSums(g) })).sort(byCost),
        by_model: byModel.map((g) => ({ provider: g.provider, model: g.model, ...toSums(g) })).sort(byCost)
      }
    },

    async deleteUsage (userId) {
      const result = await db.deleteFrom('usage_records').where('user_id', '=', userId).executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    async ping () {
      await sql`select 1`.execute(db)
    },

    async probeWrite () {
      // expired from the start, and gone before the transaction ends: no one can ever use it
      const ticket = `probe-${randomUUID()}`
      await writeTx(async (trx) => {
        await trx.insertInto('ws_tickets').values({ ticket, user_id: '', expires_at: 0, token_exp: 0 }).execute()
        await trx.deleteFrom('ws_tickets').where('ticket', '=', ticket).execute()
      })
    },

    async close () {
      await txDrain
      await db.destroy()
    }
  }
  return store
}

/** The sums every usage total reports; Postgres hands sums of bigint back as strings. */
const usageSums = [
  sql<number>`count(*)`.as('records'),
  sql<number | string | null>`sum(coalesce(requests, 1))`.as('requests'),
  sql<number | string | null>`sum(input_tokens)`.as('input_tokens'),
  sql<number | string | null>`sum(output_tokens)`.as('output_tokens'),
  sql<number | string | null>`sum(coalesce(cached_tokens, 0))`.as('cached_tokens'),
  sql<number | null>`sum(cost_usd)`.as('cost_usd')
] as const

type Sums = Record<'records' | 'requests' | 'input_tokens' | 'output_tokens' | 'cached_tokens' | 'cost_usd', number | string | null>

function toSums (s: Sums): Omit<UsageGroup, 'provider' | 'model'> {
  return {
    records: Number(s.records),
    requests: Number(s.requests ?? 0),
    input_tokens: Number(s.input_tokens ?? 0),
    output_tokens: Number(s.output_tokens ?? 0),
    cached_tokens: Number(s.cached_tokens ?? 0),
    cost_usd: Number(s.cost_usd ?? 0)
  }
}

/** Largest cost first; ties by provider then model, in code so both dialects agree on the order. */
function byCost (a: UsageGroup, b: UsageGroup): number {
  const key = (g: UsageGroup) => `${g.provider}\u0000${g.model ?? ''}`
  return b.cost_usd - a.cost_usd || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
}

/**
 * Kysely's Migrator serialises concurrent migrators: Postgres takes a session advisory lock and
 * reads the applied migrations only once it holds it; SQLite runs them in one write transaction.
 * Its bookkeeping tables go to our schema, which it also creates when missing.
 */
const INTROSPECTION_RACES = new Set(['3F000', '42P01', '42703'])

async function migrate (db: Kysely<Database>, schema: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { error } = await new Migrator({ db, provider: migrationProvider, migrationTableSchema: schema })
      .migrateToLatest()
    if (!error) return
    // the migrator looks at every schema's tables; one dropped or altered meanwhile (another
    // tenant's, a test's) fails that look (no such schema, table or column): look again
    if (!INTROSPECTION_RACES.has(String((error as { code?: unknown }).code)) || attempt >= 5) throw error
  }
}

/** The two expressions whose SQL differs between the dialects. */
function dialectSql (dialect: Dialect) {
  return dialect === 'sqlite'
    ? {
        runMs: sql<number>`round((julianday(finished_at) - julianday(started_at)) * 86400000)`,
        toolStatus: sql<string>`json_extract(data, '$.status')`
      }
    : {
        runMs: sql<number>`round(extract(epoch from finished_at::timestamptz - started_at::timestamptz) * 1000)`,
        toolStatus: sql<string>`(data::jsonb ->> 'status')`
      }
}
