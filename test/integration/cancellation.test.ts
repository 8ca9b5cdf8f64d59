import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { assertError, getEvents, postMessage, waitForRun } from '../helpers/http.js'
import { connected, listen, until } from '../helpers/ws.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const USER = 'canceller'
const BY_USER = { code: 'cancelled', message: 'cancelled by the user' }

interface Ev { type: string, seq: number, data: any }
interface Fixture {
  record: {
    starts: Array<{ agent: string, tag?: string, user_id: string, run_id: string }>
    aborted: Array<{ tag: string, code: string }>
  }
  gate: { close (): void, open (): void, readonly waiting: number }
  reset (): void
}
// the registry imports the fixture by this URL too, so this is the app's own module instance
const fixture = await import(pathToFileURL(path.resolve(ORCH)).href) as Fixture

const events = async (app: App, runId: string, user = USER) => await getEvents(app, user, runId) as unknown as Ev[]

/** Polls the run's stored events until `done(events)` holds. */
const eventsWhen = (app: App, runId: string, done: (events: Ev[]) => boolean, what: string) =>
  until(async () => { const e = await events(app, runId); return done(e) ? e : undefined }, what)

const cancel = (app: App, runId: string, user = USER) => app.inject({ method: 'POST', url: `/runs/${runId}/cancel`, headers: auth(user) })

/** Events with agent and tool call ids labelled in order of appearance; timestamps and durations dropped. */
function shape (list: readonly Ev[]) {
  const labels = new Map<string, string>()
  const label = (prefix: string, id: string) => {
    if (!labels.has(id)) labels.set(id, `${prefix}-${[...labels.values()].filter((l) => l.startsWith(prefix)).length + 1}`)
    return labels.get(id)!
  }
  return list.map((e) => {
    const { timestamp: _t, duration_ms: _d, ...data } = e.data
    if (typeof data.agent_id === 'string') data.agent_id = label('agent', data.agent_id)
    if (typeof data.parent_agent_id === 'string') data.parent_agent_id = label('agent', data.parent_agent_id)
    if (typeof data.tool_call_id === 'string') data.tool_call_id = label('call', data.tool_call_id)
    return { type: e.type, data }
  })
}

t.beforeEach(() => fixture.reset())

t.test('cancel during a tool call: tool_completed cancelled, then agent_error cancelled, then run_cancelled last; the tool\'s signal is aborted', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run_id: runId } = await postMessage(app, USER, { content: 'wait', agent: 'tool_waiter', input: { tag: 'in-tool' } })
  const before = await eventsWhen(app, runId, (e) => e.some((x) => x.type === 'tool_executing'), 'the tool call')

  const res = await cancel(app, runId)
  t.equal(res.statusCode, 202)
  t.strictSame(res.json(), { run_id: runId, status: 'cancelled' })

  const after = await events(app, runId)
  assertRunContract(t, after as never)
  const agent = { agent_id: 'agent-1', agent_name: 'tool_waiter' }
  const call = { ...agent, tool_name: 'pause', tool_call_id: 'call-1' }
  t.strictSame(shape(after), [
    { type: 'agent_started', data: { ...agent, message: 'Running tool_waiter', attempt: 1 } },
    { type: 'tool_executing', data: { ...call, parameters: { ms: 30_000, tag: 'in-tool' } } },
    { type: 'tool_completed', data: { ...call, status: 'cancelled', error: BY_USER } },
    { type: 'agent_error', data: { ...agent, error: BY_USER, retryable: false, attempt: 1 } },
    { type: 'run_cancelled', data: { reason: 'cancelled by the user' } }
  ])
  t.strictSame(after.slice(0, before.length), before, 'what was stored before the cancel stays as it was')
  t.strictSame(fixture.record.aborted, [{ tag: 'in-tool', code: 'cancelled' }], 'the tool\'s signal was aborted, with the cancel as its reason')

  // the agent swallows the failure and tries to think and call a tool again: nothing of it may appear
  await sleep(100)
  t.strictSame(await events(app, runId), after, 'no event follows run_cancelled')
  const run = await waitForRun(app, USER, runId)
  t.strictSame([run.status, run.error], ['cancelled', BY_USER])
})

t.test('cancel during a parallel workflow: every running step and tool call is closed, run_cancelled last', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run_id: runId } = await postMessage(app, USER, { content: 'fan out', agent: 'parallel_flow' })
  const before = await eventsWhen(app, runId, (e) =>
    e.filter((x) => x.type === 'agent_started').length === 4 && e.filter((x) => x.type === 'tool_executing').length === 2, 'three steps running, two in tool calls')

  const res = await cancel(app, runId)
  t.strictSame([res.statusCode, res.json()], [202, { run_id: runId, status: 'cancelled' }])
  const after = await events(app, runId)
  assertRunContract(t, after as never)
  t.strictSame(after.slice(0, before.length), before)

  const tail = after.slice(before.length)
  const closing = (e: Ev) => `${e.type} ${e.data.agent_name ?? ''}`.trim()
  t.strictSame(tail.slice(0, -2).map(closing).sort(), [
    'agent_error long_step', 'agent_error tool_step_p1', 'agent_error tool_step_p2', 'tool_completed tool_step_p1', 'tool_completed tool_step_p2'
  ], 'after the cancel: each running step and tool call closed once')
  t.strictSame(tail.slice(-2).map(closing), ['agent_error parallel_flow', 'run_cancelled'], 'the workflow closes last, then run_cancelled')
  for (const e of tail.filter((x) => x.type === 'tool_completed')) t.strictSame([e.data.status, e.data.error], ['cancelled', BY_USER])
  for (const e of tail.filter((x) => x.type === 'agent_error')) t.strictSame([e.data.error, e.data.retryable], [BY_USER, false], `${e.data.agent_name} ended cancelled`)
  t.strictSame([...fixture.record.aborted].sort((a, b) => a.tag.localeCompare(b.tag)), [{ tag: 'p1', code: 'cancelled' }, { tag: 'p2', code: 'cancelled' }])
  t.notOk(after.some((e) => e.data.agent_name === 'echo_results'), 'the step after them never started')

  await sleep(100)
  t.strictSame(await events(app, runId), after, 'no event follows run_cancelled')
})

t.test('cancel while queued: the run has only [run_queued position 1, run_cancelled] and never starts', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH, MAX_RUNS_PER_USER: '1' })
  fixture.gate.close()
  const first = await postMessage(app, USER, { content: 'first', agent: 'gated', input: { tag: 'first' } })
  t.equal(first.status, 'running')
  const second = await postMessage(app, USER, { content: 'second', agent: 'gated', input: { tag: 'second' } })
  t.equal(second.status, 'queued')
  t.strictSame(shape(await events(app, second.run_id)), [{ type: 'run_queued', data: { position: 1 } }])

  const res = await cancel(app, second.run_id)
  t.strictSame([res.statusCode, res.json()], [202, { run_id: second.run_id, status: 'cancelled' }])
  const queued = await events(app, second.run_id)
  assertRunContract(t, queued as never)
  t.strictSame(shape(queued), [
    { type: 'run_queued', data: { position: 1 } },
    { type: 'run_cancelled', data: { reason: 'cancelled by the user' } }
  ])

  fixture.gate.open()
  t.equal((await waitForRun(app, USER, first.run_id)).status, 'completed')
  // the freed slot goes to a new run, not to the cancelled one
  const third = await postMessage(app, USER, { content: 'third', agent: 'gated', input: { tag: 'third' } })
  t.equal(third.status, 'running')
  t.equal((await waitForRun(app, USER, third.run_id)).status, 'completed')

  t.strictSame(await events(app, second.run_id), queued, 'nothing more happened to the cancelled run')
  const run = await waitForRun(app, USER, second.run_id)
  t.strictSame([run.status, run.started_at, run.error], ['cancelled', undefined, BY_USER], 'it never started')
  t.strictSame(fixture.record.starts.map((s) => s.tag), ['first', 'third'], 'its agent never ran')
  t.strictSame(await app.engine.stats(), { running: 0, waiting: 0 })
})

t.test('cancel twice is idempotent: 202 with status cancelled every time, one run_cancelled; a finished run answers its final status', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH, MAX_RUNS_PER_USER: '1' })
  const running = await postMessage(app, USER, { content: 'running', agent: 'tool_waiter', input: { tag: 'twice' } })
  const queued = await postMessage(app, USER, { content: 'queued', agent: 'tool_waiter', input: { tag: 'never' } })
  t.strictSame([running.status, queued.status], ['running', 'queued'])
  await eventsWhen(app, running.run_id, (e) => e.some((x) => x.type === 'tool_executing'), 'the tool call')

  for (const { run_id: runId } of [queued, running]) {
    const answers = [...await Promise.all([cancel(app, runId), cancel(app, runId)]), await cancel(app, runId)]
    t.strictSame(answers.map((r) => [r.statusCode, r.json()]), Array(3).fill([202, { run_id: runId, status: 'cancelled' }]), 'two at once, then one more')
    const list = await events(app, runId)
    assertRunContract(t, list as never)
    t.equal(list.filter((e) => e.type === 'run_cancelled').length, 1, 'one run_cancelled')
  }
  t.strictSame(fixture.record.aborted, [{ tag: 'twice', code: 'cancelled' }])

  const done = await postMessage(app, USER, { content: 'quick', agent: 'quick' })
  await waitForRun(app, USER, done.run_id)
  const late = await cancel(app, done.run_id)
  t.strictSame([late.statusCode, late.json()], [202, { run_id: done.run_id, status: 'completed' }], 'a finished run keeps its status')
  t.equal((await events(app, done.run_id)).at(-1)!.type, 'run_completed')

  assertError(t, await cancel(app, running.run_id, 'someone-else'), 404, 'not_found', 'Not Found')
})

t.test('RUN_TIMEOUT_MS: a run past its deadline ends run_failed with code timeout', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH, RUN_TIMEOUT_MS: '1000' })
  const { run_id: runId } = await postMessage(app, USER, { content: 'too long', agent: 'tool_waiter', input: { tag: 'deadline' } })
  const run = await waitForRun(app, USER, runId)
  const error = { code: 'timeout', message: 'run timed out after 1000 ms' }
  t.strictSame([run.status, run.error], ['failed', error])
  const list = await events(app, runId)
  assertRunContract(t, list as never)
  const agent = { agent_id: 'agent-1', agent_name: 'tool_waiter' }
  const call = { ...agent, tool_name: 'pause', tool_call_id: 'call-1' }
  t.strictSame(shape(list), [
    { type: 'agent_started', data: { ...agent, message: 'Running tool_waiter', attempt: 1 } },
    { type: 'tool_executing', data: { ...call, parameters: { ms: 30_000, tag: 'deadline' } } },
    { type: 'tool_completed', data: { ...call, status: 'timeout', error } },
    { type: 'agent_error', data: { ...agent, error, retryable: false, attempt: 1 } },
    { type: 'run_failed', data: { error } }
  ])
  t.strictSame(fixture.record.aborted, [{ tag: 'deadline', code: 'timeout' }], 'the deadline aborted the tool\'s signal')
})

t.test('the WebSocket cancel frame cancels like POST /runs/:id/cancel', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: ORCH })
  const client = await connected(t, wsUrl, auth(USER))
  client.send({ type: 'message', id: 'm-1', content: 'wait', agent: 'tool_waiter', input: { tag: 'ws' } })
  const runId = (await client.waitFor((f) => f.type === 'message_accepted', 'message_accepted')).data.run_id as string
  await client.waitFor((f) => f.run_id === runId && f.type === 'tool_executing', 'the tool call')

  client.send({ type: 'cancel', id: 'c-1', run_id: runId })
  const accepted = await client.waitFor((f) => f.type === 'cancel_accepted', 'cancel_accepted')
  t.strictSame(accepted, { type: 'cancel_accepted', reply_to: 'c-1', data: { run_id: runId, status: 'cancelled' } })
  const seen = await client.runEnd(runId)
  assertRunContract(t, seen as never)
  t.strictSame(seen.map((e) => e.type), ['agent_started', 'tool_executing', 'tool_completed', 'agent_error', 'run_cancelled'])
  t.strictSame([seen[2].data.status, seen[3].data.error], ['cancelled', BY_USER])
  t.strictSame(seen, await events(app, runId), 'the socket saw exactly what is stored')
  t.strictSame(fixture.record.aborted, [{ tag: 'ws', code: 'cancelled' }])
})

t.test('a dropped socket never cancels its run', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: ORCH })
  fixture.gate.close()
  const client = await connected(t, wsUrl, auth(USER))
  client.send({ type: 'message', content: 'keep going', agent: 'gated', input: { tag: 'dropped' } })
  const runId = (await client.waitFor((f) => f.type === 'message_accepted', 'message_accepted')).data.run_id as string
  await client.waitFor((f) => f.run_id === runId && f.type === 'agent_started', 'agent_started')
  await until(async () => fixture.gate.waiting === 1 || undefined, 'the agent waiting at the gate')

  client.terminate()
  await client.closed
  // give the server time to notice the drop; nothing it does then may end the run
  await sleep(200)
  t.equal((await app.inject({ method: 'GET', url: `/runs/${runId}`, headers: auth(USER) })).json().status, 'running', 'still running after the drop')
  t.strictSame(fixture.record.aborted, [])

  fixture.gate.open()
  const run = await waitForRun(app, USER, runId)
  t.strictSame([run.status, run.result], ['completed', { answer: 'done dropped' }])
  const list = await events(app, runId)
  assertRunContract(t, list as never)
  t.strictSame(list.map((e) => e.type), ['agent_started', 'agent_completed', 'run_completed'])
})
