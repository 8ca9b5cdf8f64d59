import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { databaseUrls, requirePostgres } from '../helpers/db.js'
import { assertError, getEvents, postMessage, waitForRun } from '../helpers/http.js'
import { until } from '../helpers/ws.js'

const HITL = './test/fixtures/hitl-agents.mjs'

const rename = (app: App, user: string, threadId: string, payload: unknown) =>
  app.inject({ method: 'PATCH', url: `/threads/${threadId}`, headers: auth(user), payload: payload as Record<string, unknown> })
const remove = (app: App, user: string, threadId: string) =>
  app.inject({ method: 'DELETE', url: `/threads/${threadId}`, headers: auth(user) })
const get = (app: App, user: string, url: string) => app.inject({ method: 'GET', url, headers: auth(user) })

/** A thread whose run waits for an approval: unfinished until someone answers or cancels it. */
async function waitingThread (app: App, user: string) {
  const accepted = await postMessage(app, user, { content: 'pay bob', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  await until(async () => (await get(app, user, `/runs/${accepted.run_id}`)).json().status === 'waiting' || undefined, 'run waiting')
  return accepted
}

requirePostgres(t)

for (const base of databaseUrls()) {
  t.test(base.split(':')[0], async (t) => {
    const app = await build(t, { DATABASE_URL: base, AGENT_MODULES: HITL })

    t.test('rename: the title changes, one line, and the thread keeps its place', async (t) => {
      const { thread_id: threadId, run_id: runId } = await postMessage(app, 'alice', { content: 'first  question', agent: 'payer', input: { args: { to: 'bob', amount: 5 } } })
      await waitForRun(app, 'alice', runId)
      const before = (await get(app, 'alice', `/threads/${threadId}`)).json()
      t.equal(before.title, 'first question')

      const res = await rename(app, 'alice', threadId, { title: '  Spend\n review\t October ' })
      t.equal(res.statusCode, 200)
      t.strictSame(res.json(), { ...before, title: 'Spend review October' }, 'only the title changed; updated_at is the last activity')
      t.strictSame((await get(app, 'alice', `/threads/${threadId}`)).json(), res.json())
      const listed = (await get(app, 'alice', '/threads')).json().threads.find((th: { thread_id: string }) => th.thread_id === threadId)
      t.equal(listed.title, 'Spend review October')

      const longest = 'x'.repeat(200)
      t.equal((await rename(app, 'alice', threadId, { title: longest })).json().title, longest, '200 characters are allowed')
    })

    t.test('rename: a bad title is invalid_request and changes nothing', async (t) => {
      const { thread_id: threadId, run_id: runId } = await postMessage(app, 'alice', { content: 'keep me', agent: 'payer', input: { args: { to: 'bob', amount: 5 } } })
      await waitForRun(app, 'alice', runId)
      for (const payload of [{}, { title: '' }, { title: ' \n\t ' }, { title: 'x'.repeat(201) }, { title: 7 }, { title: 'ok', extra: 1 }]) {
        const res = await rename(app, 'alice', threadId, payload)
        assertError(t, res, 400, 'invalid_request', 'Bad Request')
      }
      t.equal((await get(app, 'alice', `/threads/${threadId}`)).json().title, 'keep me')
    })

    t.test('another user\'s thread is not_found for rename and delete, like a missing one', async (t) => {
      const { thread_id: threadId, run_id: runId } = await postMessage(app, 'alice', { content: 'mine', agent: 'payer', input: { args: { to: 'bob', amount: 5 } } })
      await waitForRun(app, 'alice', runId)
      const ghost = randomUUID()
      const theirs = await rename(app, 'mallory', threadId, { title: 'taken' })
      assertError(t, theirs, 404, 'not_found', 'Not Found')
      t.strictSame(theirs.json(), (await rename(app, 'mallory', ghost, { title: 'taken' })).json())
      const deleted = await remove(app, 'mallory', threadId)
      assertError(t, deleted, 404, 'not_found', 'Not Found')
      t.strictSame(deleted.json(), (await remove(app, 'mallory', ghost)).json())
      t.equal((await get(app, 'alice', `/threads/${threadId}`)).json().title, 'mine', 'alice\'s thread is untouched')
      t.equal((await get(app, 'alice', `/runs/${runId}/events`)).statusCode, 200)
    })

    t.test('delete: a thread with an unfinished run is thread_busy; once it ended, the thread, its messages, runs and events are gone', async (t) => {
      const other = await postMessage(app, 'alice', { content: 'stays', agent: 'payer', input: { args: { to: 'bob', amount: 5 } } })
      await waitForRun(app, 'alice', other.run_id)
      const { thread_id: threadId, run_id: runId } = await waitingThread(app, 'alice')

      const busy = await remove(app, 'alice', threadId)
      assertError(t, busy, 409, 'thread_busy', 'Conflict')
      t.equal((await get(app, 'alice', `/runs/${runId}`)).json().status, 'waiting', 'the waiting run goes on')

      await app.inject({ method: 'POST', url: `/runs/${runId}/cancel`, headers: auth('alice') })
      t.equal((await waitForRun(app, 'alice', runId)).status, 'cancelled')
      t.ok((await getEvents(app, 'alice', runId)).length > 0)

      const res = await remove(app, 'alice', threadId)
      t.equal(res.statusCode, 204)
      t.equal(res.body, '')
      for (const path of [`/threads/${threadId}`, `/threads/${threadId}/messages`, `/runs/${runId}`, `/runs/${runId}/events`]) {
        assertError(t, await get(app, 'alice', path), 404, 'not_found', 'Not Found')
      }
      t.equal(await app.store.listEvents('alice', runId, 0), undefined, 'the run\'s events went with it')
      assertError(t, await remove(app, 'alice', threadId), 404, 'not_found', 'Not Found')
      const threads = (await get(app, 'alice', '/threads')).json().threads.map((th: { thread_id: string }) => th.thread_id)
      t.notOk(threads.includes(threadId), 'not listed')
      t.ok(threads.includes(other.thread_id), 'the user\'s other thread stays')
      t.equal((await getEvents(app, 'alice', other.run_id)).at(-1)!.type, 'run_completed', 'with its events')
      const post = await app.inject({ method: 'POST', url: '/messages', headers: auth('alice'), payload: { content: 'again', thread_id: threadId } })
      assertError(t, post, 404, 'not_found', 'Not Found')
    })
  })
}
