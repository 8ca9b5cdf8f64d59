import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { assertError, getEvents, postMessage, waitForRun } from '../helpers/http.js'
import { until } from '../helpers/ws.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const USER = 'multi'

interface Ev { type: string, seq: number, data: any }
interface Fixture {
  record: { starts: Array<{ agent: string, tag?: string, user_id: string, run_id: string }> }
  gate: { close (): void, open (): void, readonly waiting: number }
  reset (): void
}
// the registry imports the fixture by this URL too, so this is the app's own module instance
const fixture = await import(pathToFileURL(path.resolve(ORCH)).href) as Fixture

const events = async (app: App, runId: string) => await getEvents(app, USER, runId) as unknown as Ev[]
const post = (app: App, body: Record<string, unknown>) => app.inject({ method: 'POST', url: '/messages', headers: auth(USER), payload: body })
const messagesOf = async (app: App, threadId: string) =>
  ((await app.inject({ url: `/threads/${threadId}/messages`, headers: auth(USER) })).json().messages as Array<{ role: string, content: string }>)
    .map((m) => `${m.role}: ${m.content}`)

/** A gated run on a new thread, running and waiting at the gate. */
async function busyThread (app: App) {
  fixture.gate.close()
  const first = await postMessage(app, USER, { content: 'first', agent: 'gated', input: { tag: 'first' } })
  await until(async () => fixture.gate.waiting === 1 || undefined, 'the first run at the gate')
  return first
}

t.beforeEach(() => fixture.reset())

t.test('a message on a busy thread is refused with 409 thread_busy, by default and with multitask reject', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const first = await busyThread(app)
  for (const multitask of [undefined, 'reject']) {
    const res = await post(app, { content: 'second', thread_id: first.thread_id, agent: 'quick', ...(multitask ? { multitask } : {}) })
    assertError(t, res, 409, 'thread_busy', 'Conflict')
  }
  t.strictSame(await messagesOf(app, first.thread_id), ['user: first'], 'the refused messages were not kept')
  t.equal((await app.inject({ url: `/threads/${first.thread_id}`, headers: auth(USER) })).json().active_run_id, first.run_id)

  fixture.gate.open()
  t.equal((await waitForRun(app, USER, first.run_id)).status, 'completed', 'the first run was not disturbed')
  const next = await postMessage(app, USER, { content: 'now', thread_id: first.thread_id, agent: 'quick' })
  t.equal(next.status, 'running', 'a thread that is no longer busy takes the next message')
  t.equal((await waitForRun(app, USER, next.run_id)).status, 'completed')
  for (const r of [first, next]) assertRunContract(t, await events(app, r.run_id) as never)
})

t.test('multitask enqueue: 202 queued, the run starts only after the first run ended, then completes', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const first = await busyThread(app)
  const second = await postMessage(app, USER, { content: 'second', thread_id: first.thread_id, agent: 'gated', input: { tag: 'second' }, multitask: 'enqueue' })
  t.strictSame([second.thread_id, second.status], [first.thread_id, 'queued'])
  t.strictSame((await events(app, second.run_id)).map((e) => [e.type, e.data.position]), [['run_queued', 1]])
  t.equal((await app.inject({ url: `/runs/${second.run_id}`, headers: auth(USER) })).json().status, 'queued', 'it waits while the first runs')
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first'], 'its agent has not started')

  fixture.gate.open()
  const [a, b] = [await waitForRun(app, USER, first.run_id), await waitForRun(app, USER, second.run_id)]
  t.strictSame([a.status, b.status], ['completed', 'completed'])
  const firstEvents = await events(app, first.run_id)
  const secondEvents = await events(app, second.run_id)
  assertRunContract(t, firstEvents as never)
  assertRunContract(t, secondEvents as never)
  t.strictSame(secondEvents.map((e) => e.type), ['run_queued', 'agent_started', 'agent_completed', 'run_completed'])
  const firstEnd = firstEvents.at(-1)!
  t.equal(firstEnd.type, 'run_completed')
  t.ok(secondEvents[1].data.timestamp >= firstEnd.data.timestamp, 'the second run\'s agent started after the first run\'s terminal event')
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first', 'second'])
  t.strictSame(await messagesOf(app, first.thread_id), ['user: first', 'user: second', 'assistant: done first', 'assistant: done second'])
})

t.test('multitask interrupt: the first run ends run_cancelled and the second completes', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const first = await busyThread(app)
  const second = await postMessage(app, USER, { content: 'instead', thread_id: first.thread_id, agent: 'quick', multitask: 'interrupt' })
  t.equal(second.thread_id, first.thread_id)

  const a = await waitForRun(app, USER, first.run_id)
  const b = await waitForRun(app, USER, second.run_id)
  t.strictSame([a.status, a.error], ['cancelled', { code: 'cancelled', message: 'cancelled by the user' }])
  t.strictSame([b.status, b.result], ['completed', { answer: 'quick' }])
  const firstEvents = await events(app, first.run_id)
  const secondEvents = await events(app, second.run_id)
  assertRunContract(t, firstEvents as never)
  assertRunContract(t, secondEvents as never)
  t.strictSame(firstEvents.map((e) => e.type), ['agent_started', 'agent_error', 'run_cancelled'])
  t.strictSame(firstEvents[1].data.error, { code: 'cancelled', message: 'cancelled by the user' })
  t.strictSame(secondEvents.map((e) => e.type), ['agent_started', 'agent_completed', 'run_completed'])
  t.ok(secondEvents[0].data.timestamp >= firstEvents.at(-1)!.data.timestamp, 'the second run started after the first was cancelled')
  t.equal((await app.inject({ url: `/threads/${first.thread_id}`, headers: auth(USER) })).json().active_run_id, null, 'the thread is idle again')
})

t.test('multitask enqueue keeps the thread\'s order when a waiting run is cancelled: the runs behind it still wait for the first', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const first = await busyThread(app)
  const enqueue = (tag: string) => postMessage(app, USER, { content: tag, thread_id: first.thread_id, agent: 'gated', input: { tag }, multitask: 'enqueue' })
  const cancel = async (runId: string) => {
    const res = await app.inject({ method: 'POST', url: `/runs/${runId}/cancel`, headers: auth(USER) })
    t.strictSame(res.json(), { run_id: runId, status: 'cancelled' })
  }

  // the thread's newest run is cancelled while the first still runs: the thread is still busy
  const second = await enqueue('second')
  await cancel(second.run_id)
  t.strictSame((await events(app, second.run_id)).map((e) => e.type), ['run_queued', 'run_cancelled'])
  assertRunContract(t, await events(app, second.run_id) as never)
  assertError(t, await post(app, { content: 'now?', thread_id: first.thread_id, agent: 'quick' }), 409, 'thread_busy', 'Conflict')

  // a run cancelled in the middle of the line lets no one behind it overtake the first
  const third = await enqueue('third')
  const fourth = await enqueue('fourth')
  const fifth = await enqueue('fifth')
  t.strictSame([third.status, fourth.status, fifth.status], ['queued', 'queued', 'queued'])
  await cancel(fourth.run_id)
  t.equal((await app.inject({ url: `/runs/${first.run_id}`, headers: auth(USER) })).json().status, 'running')
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first'], 'nothing started beside the first run')
  for (const r of [third, fifth]) t.strictSame((await events(app, r.run_id)).map((e) => e.type), ['run_queued'])

  fixture.gate.open()
  const ends = []
  for (const r of [first, third, fifth]) ends.push((await waitForRun(app, USER, r.run_id)).status)
  t.strictSame(ends, ['completed', 'completed', 'completed'])
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first', 'third', 'fifth'], 'one after the other, in order')
  const lists = await Promise.all([first, third, fifth].map((r) => events(app, r.run_id)))
  for (const list of [...lists, await events(app, fourth.run_id)]) assertRunContract(t, list as never)
  t.ok(lists[1][1].data.timestamp >= lists[0].at(-1)!.data.timestamp, 'the third run started after the first ended')
  t.ok(lists[2][1].data.timestamp >= lists[1].at(-1)!.data.timestamp, 'the fifth run started after the third ended')
})

t.test('multitask interrupt cancels every run on the thread, running or waiting its turn, then runs the new one', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const first = await busyThread(app)
  const second = await postMessage(app, USER, { content: 'second', thread_id: first.thread_id, agent: 'gated', input: { tag: 'second' }, multitask: 'enqueue' })
  const third = await postMessage(app, USER, { content: 'instead', thread_id: first.thread_id, agent: 'gated', input: { tag: 'third' }, multitask: 'interrupt' })
  t.equal(third.status, 'running')
  fixture.gate.open()

  const [a, b, c] = [await waitForRun(app, USER, first.run_id), await waitForRun(app, USER, second.run_id), await waitForRun(app, USER, third.run_id)]
  t.strictSame([a.status, b.status, c.status], ['cancelled', 'cancelled', 'completed'])
  for (const r of [first, second, third]) assertRunContract(t, await events(app, r.run_id) as never)
  t.strictSame((await events(app, second.run_id)).map((e) => e.type), ['run_queued', 'run_cancelled'], 'the waiting run never started')
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first', 'third'])
  const firstEvents = await events(app, first.run_id)
  const thirdEvents = await events(app, third.run_id)
  t.strictSame(firstEvents.map((e) => e.type), ['agent_started', 'agent_error', 'run_cancelled'])
  t.ok(thirdEvents[0].data.timestamp >= firstEvents.at(-1)!.data.timestamp, 'the new run started after the first was cancelled')
})
