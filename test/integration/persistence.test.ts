import t, { type Test } from 'tap'
import path from 'node:path'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createStore } from '../../src/store/kysely-store.js'
import { TEST_SECRET, auth } from '../helpers/app.js'
import { dropSchema, freshDatabaseUrl, requirePostgres } from '../helpers/db.js'
import { getEvents, runToEnd, waitForRun } from '../helpers/http.js'

const QUESTION = 'How much did we spend on LLMs last month?'

async function open (t: Test, databaseUrl: string): Promise<App> {
  const app = await buildApp(loadConfig({ DATABASE_URL: databaseUrl, AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' }))
  await app.ready()
  return app
}

/** Everything a user can read about their data, through the HTTP API. */
async function snapshot (app: App, user: string, runIds: string[]) {
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url, headers: auth(user) })
    if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}`)
    return res.json()
  }
  const threads = await get('/threads')
  const perThread = []
  for (const th of threads.threads) {
    perThread.push({ thread: await get(`/threads/${th.thread_id}`), messages: await get(`/threads/${th.thread_id}/messages`) })
  }
  const runs = []
  for (const id of runIds) runs.push({ run: await get(`/runs/${id}`), events: await getEvents(app, user, id) })
  return { threads, perThread, runs, stats: await get('/me/stats'), usage: await get('/usage/summary') }
}

/**
 * Runs two messages on one thread and one on another, the first without usage data and the others
 * with the team sample, closes, reopens: all of it reads back identically.
 */
async function survivesRestart (t: Test, databaseUrl: string) {
  const first = await open(t, databaseUrl)
  const a = await runToEnd(first, 'alice', { content: QUESTION })
  const sample = await first.inject({ method: 'POST', url: '/usage/sample', headers: auth('alice'), payload: { profile: 'team' } })
  t.strictSame([sample.statusCode, sample.json()], [200, { profile: 'team', inserted: 8535 }])
  const b = await runToEnd(first, 'alice', { content: 'Which features cost the most?', thread_id: a.accepted.thread_id })
  const c = await runToEnd(first, 'alice', { content: 'And on Claude?' })
  const other = await runToEnd(first, 'bob', { content: QUESTION })
  const runIds = [a, b, c].map((r) => r.accepted.run_id)
  for (const r of [a, b, c, other]) t.equal(r.run.status, 'completed')
  const before = await snapshot(first, 'alice', runIds)
  t.equal(before.threads.threads.length, 2)
  t.equal(before.perThread.flatMap((p) => p.messages.messages).length, 6)
  // without data: supervisor 4, triage 7, run_completed; with data, a general question adds the
  // supervisor's "writing" thought and data's 16 (started, 2 thoughts, 4 tool calls of 3 events, completed)
  t.strictSame(before.runs.map((r) => r.events.filter((e: { type: string }) => e.type !== 'answer_delta').length), [12, 29, 29], 'every event of the three runs (the answer deltas aside)')
  t.equal(before.usage.records, 8535)
  await first.close()

  const second = await open(t, databaseUrl)
  try {
    await afterRestart(t, second, { a, other, runIds, before })
  } finally {
    await second.close()
  }
}

async function afterRestart (t: Test, second: App, { a, other, runIds, before }: {
  a: Awaited<ReturnType<typeof runToEnd>>
  other: Awaited<ReturnType<typeof runToEnd>>
  runIds: string[]
  before: Awaited<ReturnType<typeof snapshot>>
}) {
  const after = await snapshot(second, 'alice', runIds)
  t.strictSame(after, before, 'threads, messages, runs, events and stats are unchanged')
  t.equal(after.runs[0].run.status, 'completed')
  t.strictSame(after.runs[0].run.result, a.run.result)
  t.equal(after.runs[0].events.at(-1)!.type, 'run_completed')
  t.equal((await second.inject({ method: 'GET', url: `/runs/${other.accepted.run_id}`, headers: auth('alice') })).statusCode, 404,
    'isolation holds after a restart')

  const more = await runToEnd(second, 'alice', { content: 'One more question', thread_id: a.accepted.thread_id })
  t.equal(more.run.status, 'completed', 'the restored thread takes a new message')
  t.equal((await getEvents(second, 'alice', more.accepted.run_id))[0].seq, 1)
  const messages = (await second.inject({ method: 'GET', url: `/threads/${a.accepted.thread_id}/messages`, headers: auth('alice') })).json().messages
  t.strictSame(messages.map((m: { role: string }) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant'])
  t.strictSame(messages.slice(0, 4), before.perThread.find((p) => p.thread.thread_id === a.accepted.thread_id)!.messages.messages,
    'the old messages keep their place')
}

t.test('a SQLite file keeps everything across a restart', async (t) => {
  await survivesRestart(t, `sqlite:${path.join(t.testdir(), 'agentwire.db')}`)
})

t.test('a run a stopped process left queued runs on the next start', async (t) => {
  const databaseUrl = `sqlite:${path.join(t.testdir(), 'agentwire.db')}`
  // the store alone, as a process that died right after taking the message would have left it
  const store = await createStore(databaseUrl)
  const { run } = await store.createRun({
    user_id: 'alice', content: QUESTION, agent: 'supervisor', input: {}, multitask: 'reject', limits: { perUser: 3, queuedPerUser: 20 }
  })
  await store.close()

  const app = await open(t, databaseUrl)
  t.teardown(() => app.close())
  const ended = await waitForRun(app, 'alice', run.run_id)
  t.equal(ended.status, 'completed')
  const events = await getEvents(app, 'alice', run.run_id)
  t.equal(events[0].type, 'agent_started')
  t.equal(events.at(-1)!.type, 'run_completed')
  t.strictSame(events.map((e) => e.seq), events.map((_, i) => i + 1))
  const thread = (await app.inject({ method: 'GET', url: `/threads/${run.thread_id}`, headers: auth('alice') })).json()
  t.equal(thread.active_run_id, null, 'the thread is free again')
  const next = await runToEnd(app, 'alice', { content: 'Again?', thread_id: run.thread_id })
  t.equal(next.run.status, 'completed')
})

const postgres = requirePostgres(t)
t.test('a Postgres schema keeps everything across a restart', { skip: postgres ? false : 'TEST_POSTGRES_URL is not set' }, async (t) => {
  const databaseUrl = freshDatabaseUrl(postgres!)
  t.teardown(() => dropSchema(databaseUrl))
  await survivesRestart(t, databaseUrl)
})
