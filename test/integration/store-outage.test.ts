import t from 'tap'
import Sqlite from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { splitSchema } from '../../src/store/database.js'
import { TEST_SECRET, auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { dropSchema, freshDatabaseUrl, requirePostgres } from '../helpers/db.js'
import { getEvents, postMessage } from '../helpers/http.js'
import { SLOW_AGENTS, TERMINAL, until } from '../helpers/ws.js'

// The real store fails for a while mid-run (SQLite: another connection makes the writes fail;
// Postgres: the connection to it is cut). Every run must still end, with its terminal event stored,
// readiness must say the store is failing meanwhile, and the process must keep answering. The store
// comes back once a commit has failed for good: conditions are waited for (generous bounds), never timed.
// Then a process left with no run at all (its run taken over and finished by another member meanwhile)
// must still see the store come back: readiness probes it with a write of its own.

const USERS = ['ann', 'ben', 'cat']
const BOUND_MS = 50_000

/** Runs three slow runs, fails the store once they are under way, restores it once a commit has failed for good, and checks the aftermath. */
async function outage (t: Tap, app: App, fail: () => Promise<unknown>, restore: () => Promise<unknown>) {
  const runs: Array<{ user: string, run_id: string, thread_id: string }> = []
  for (const user of USERS) runs.push({ user, ...await postMessage(app, user, { content: 'slowly', agent: 'slow', input: { steps: 6, ms: 100 } }) })
  await until(async () => (await Promise.all(runs.map((r) => getEvents(app, r.user, r.run_id)))).every((e) => e.length >= 3) || undefined, 'every run under way', BOUND_MS)

  await fail()
  await until(async () => app.engine.storeFailing || undefined, 'a commit to fail after its retries', BOUND_MS)
  const ready = await app.inject({ url: '/health/ready' })
  t.strictSame([ready.statusCode, ready.json().checks.store], [503, 'failing'], 'readiness says the store is failing')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'the process answers')
  await restore()

  for (const r of runs) {
    const events = await until(async () => {
      const got = await getEvents(app, r.user, r.run_id)
      return TERMINAL.has(got.at(-1)?.type ?? '') ? got : undefined
    }, `${r.user}'s run to end`, BOUND_MS)
    t.equal(events.at(-1)!.type, 'run_completed', `${r.user}'s run completed, its terminal event stored`)
    t.strictSame(events.map((e) => e.seq), events.map((_, i) => i + 1), 'seq 1..n, no gap, no duplicate')
    assertRunContract(t, events)
    // the row is finished right after the terminal event is stored, in a transaction of its own
    const run = await until(async () => {
      const got = (await app.inject({ url: `/runs/${r.run_id}`, headers: auth(r.user) })).json()
      return got.status === 'running' ? undefined : got
    }, `${r.user}'s run row to be finished`, BOUND_MS)
    t.equal(run.status, 'completed', 'the run row says so too')
  }
  const all = (await Promise.all(runs.map((r) => getEvents(app, r.user, r.run_id)))).flat()
  t.ok(all.some((e) => e.type === 'agent_error' && (e.data as { error: { code: string } }).error.code === 'interrupted'), 'a run was cut off by the outage and taken up again')

  // the thread is free again (not 409 thread_busy for ever), and the next run goes through
  const next = await postMessage(app, runs[0]!.user, { content: 'again', agent: 'slow', thread_id: runs[0]!.thread_id, input: { steps: 1, ms: 0 } })
  await until(async () => (await getEvents(app, runs[0]!.user, next.run_id)).at(-1)?.type === 'run_completed' || undefined, 'the next run on the thread', BOUND_MS)
  await until(async () => (await app.inject({ url: '/health/ready' })).statusCode === 200 || undefined, 'readiness back', BOUND_MS)
  const metrics = (await app.inject({ url: '/metrics' })).body
  const appendErrors = Number(/^agentwire_store_errors_total\{operation="appendBatches"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)
  t.ok(appendErrors >= 4, `the failed commit and its 3 retries counted as store errors (${appendErrors})`)
}

/**
 * One run fails on this process with the store; another member takes it over and finishes it while
 * the store is down for this process (`takeOver`, which also ends the outage). With no run left to
 * commit events of, readiness alone must find the store back.
 */
async function outageWithNoRunLeft (t: Tap, app: App, fail: () => Promise<unknown>, takeOver: (runId: string) => Promise<unknown>) {
  const r = await postMessage(app, 'dan', { content: 'slowly', agent: 'slow', input: { steps: 50, ms: 200 } })
  await until(async () => (await getEvents(app, 'dan', r.run_id)).length >= 3 || undefined, 'the run under way', BOUND_MS)
  await fail()
  await until(async () => app.engine.storeFailing || undefined, 'a commit to fail after its retries', BOUND_MS)
  await until(async () => app.engine.activeRuns === 0 || undefined, 'the run to stop on this process', BOUND_MS)
  const ready = await app.inject({ url: '/health/ready' })
  t.strictSame([ready.statusCode, ready.json().checks.store], [503, 'failing'], 'the probe is refused too: still failing')
  await takeOver(r.run_id)

  const back = await until(async () => {
    const res = await app.inject({ url: '/health/ready' })
    return res.statusCode === 200 ? res : undefined
  }, 'readiness back with no run in flight', BOUND_MS)
  t.strictSame(back.json(), { status: 'ready', checks: { store: 'ok', bus: 'ok', engine: 'ok' } }, 'ready again, store ok')
  t.equal(app.engine.activeRuns, 0, 'no run of this process wrote it back')
  t.equal(app.engine.storeFailing, false)
}

/** What the member that took the run over leaves in its row once it finished it. */
const FINISHED_ELSEWHERE = "status = 'failed', finished_at = '2026-01-01T00:00:00.000Z', lease_owner = null, lease_expires_at = null, epoch = epoch + 1"

interface Tap { teardown (fn: () => unknown): void, strictSame: (...a: any[]) => boolean, equal: (...a: any[]) => boolean, ok: (...a: any[]) => boolean, fail: (m: string) => unknown }

t.test('SQLite: another connection makes every write of run events and run rows fail, as a full disk would', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agentwire-outage-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'agentwire.db')
  const app = await build(t, { AGENT_MODULES: SLOW_AGENTS, LEASE_MS: '1000', DATABASE_URL: `sqlite:${file}` })
  // Holding the write lock would not do: the store waits out a lock for its busy timeout (5 s, the
  // event loop blocked), so only a lock of minutes fails writes. Triggers fail them at once, reads go on.
  const other = new Sqlite(file, { timeout: 0 })
  t.teardown(() => other.close())
  // no wait of its own: a store transaction under way (it spans awaits) is let finish first
  const write = (sql: string) => until(async () => { try { other.exec(sql); return true } catch { return undefined } }, 'the write lock', BOUND_MS)
  // the tickets too: the readiness probe writes one
  const fail = () => write(`
    CREATE TRIGGER outage_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
    CREATE TRIGGER outage_runs BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
    CREATE TRIGGER outage_tickets BEFORE INSERT ON ws_tickets BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
  `)
  const restore = 'DROP TRIGGER outage_events; DROP TRIGGER outage_runs; DROP TRIGGER outage_tickets;'
  await outage(t, app, fail, () => write(restore))
  // the run finished elsewhere and the store back, in one transaction: this process never gets the run again
  const takeOver = other.transaction((runId: string) => {
    other.exec(restore)
    other.prepare(`UPDATE runs SET ${FINISHED_ELSEWHERE} WHERE run_id = ?`).run(runId)
  })
  await outageWithNoRunLeft(t, app, fail, (runId) => until(async () => { try { takeOver.immediate(runId); return true } catch { return undefined } }, 'the write lock', BOUND_MS))
})

/** A TCP proxy to Postgres that the test can cut: open connections are dropped, new ones refused. */
async function cuttableProxy (target: URL) {
  const sockets = new Set<Socket>()
  let cut = false
  const server = createServer((client) => {
    if (cut) { client.destroy(); return }
    const upstream = connect(Number(target.port || 5432), target.hostname)
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(a)
      a.on('error', () => b.destroy())
      a.on('close', () => { sockets.delete(a); b.destroy() })
      a.pipe(b)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    cut () { cut = true; for (const s of sockets) s.destroy() },
    restore () { cut = false },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) })
  }
}

const postgres = requirePostgres(t)
t.test('Postgres: the connection to the database is cut', { skip: postgres ? false : 'TEST_POSTGRES_URL is not set' }, async (t) => {
  const direct = new URL(freshDatabaseUrl(postgres!))
  const proxy = await cuttableProxy(direct)
  const viaProxy = new URL(direct)
  viaProxy.host = `127.0.0.1:${proxy.port}`
  const app = await buildApp(loadConfig({ AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', RETRY_BASE_MS: '10', AGENT_MODULES: SLOW_AGENTS, LEASE_MS: '1000', DATABASE_URL: viaProxy.toString() }))
  // the app first, then its schema (straight to the server, never through the proxy), then the proxy
  t.teardown(async () => {
    proxy.restore()
    await app.close()
    await dropSchema(direct.toString())
    await proxy.close()
  })
  await app.ready()
  await outage(t, app, async () => proxy.cut(), async () => proxy.restore())
  // the other member reaches the database, not through this process's proxy
  await outageWithNoRunLeft(t, app, async () => proxy.cut(), async (runId) => {
    const { connectionString, schema } = splitSchema(direct.toString())
    const client = new pg.Client({ connectionString })
    await client.connect()
    try {
      await client.query(`update "${schema}".runs set ${FINISHED_ELSEWHERE} where run_id = $1`, [runId])
    } finally {
      await client.end()
    }
    proxy.restore()
  })
})
