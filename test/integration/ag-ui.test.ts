import { enforceEvents, HttpAgent, verifyEvents } from '@ag-ui/client'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { from, lastValueFrom, toArray } from 'rxjs'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import type { RunEvent } from '../../src/core/events.js'
import { type Ag, eventsOf, idBlocks, input } from '../helpers/ag-ui.js'
import { auth, build, tokenFor } from '../helpers/app.js'
import { assertError, getEvents, waitForRun, type SseBlock } from '../helpers/http.js'
import { listen, range, until } from '../helpers/ws.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const BAD = './test/fixtures/bad-agents.mjs'
const AGUI = './test/fixtures/ag-ui-agents.mjs'
const MODULES = { AGENT_MODULES: `${ORCH},${BAD},${AGUI}` }
// the registry imports the fixture by this URL too, so this is the app's own module instance
const orchestra = await import(pathToFileURL(path.resolve(ORCH)).href) as { gate: { close (): void, open (): void, readonly waiting: number } }

/** POST /ag-ui/:agent, streamed to its end: the blocks, the AG-UI events and the run. */
async function runAgUi (app: App, user: string, agent: string, body: Record<string, unknown> = input(`run ${agent}`)) {
  // inject holds no handle open while a run waits on its (unref'ed) timers: keep the process up
  const keepAlive = setInterval(() => {}, 1000)
  const res = await app.inject({ method: 'POST', url: `/ag-ui/${agent}`, headers: auth(user), payload: body }).finally(() => clearInterval(keepAlive))
  if (res.statusCode !== 200) throw new Error(`POST /ag-ui/${agent} answered ${res.statusCode}: ${res.body}`)
  const blocks = idBlocks(res.body)
  const events = eventsOf(blocks)
  const runId = String(events[0].runId)
  return { res, blocks, events, runId, ours: await getEvents(app, user, runId) }
}

/** The stream is AG-UI 1.0: every event passes the client's schema (nothing stripped) and its verifier. */
async function conforms (t: Test, events: Ag[], what: string) {
  const checked = await lastValueFrom(from(events).pipe(enforceEvents(), verifyEvents(), toArray()))
  t.strictSame(checked, events, `${what}: valid AG-UI, verifyEvents passes`)
}

/**
 * What every mapped run shows: every seq is an SSE id once, in order (a resume point each); the
 * run opens and ends as ours did; every tool call, thought and sub-agent of ours is there.
 */
async function mapsRun (t: Test, app: App, user: string, blocks: SseBlock[], ours: RunEvent[]) {
  const events = eventsOf(blocks)
  const last = ours.at(-1)!
  t.strictSame(blocks.filter((b) => !b.id!.includes(':')).map((b) => Number(b.id)), range(1, last.seq), 'each seq is an SSE id, once, in order')
  t.ok(blocks.every((b) => Number(b.id!.split(':')[0]) >= 1 && Number(b.id!.split(':')[0]) <= last.seq), 'every id names a seq of the run')
  t.match(events[0], { type: 'RUN_STARTED', runId: last.run_id, threadId: last.thread_id, protocolVersion: '1.0' })
  const of = (type: string) => events.filter((e) => e.type === type)
  const ourOf = (type: string) => ours.filter((e) => e.type === type).map((e) => e.data as any)
  t.strictSame(of('TOOL_CALL_START').map((e) => [e.toolCallId, e.toolCallName]), ourOf('tool_executing').map((d) => [d.tool_call_id, d.tool_name]), 'a tool call for each tool_executing')
  t.strictSame(of('TOOL_CALL_ARGS').map((e) => JSON.parse(e.delta)), ourOf('tool_executing').map((d) => d.parameters ?? {}), 'its arguments')
  t.strictSame(of('TOOL_CALL_RESULT').map((e) => e.toolCallId), ourOf('tool_completed').map((d) => d.tool_call_id), 'a result for each tool_completed')
  t.strictSame(of('REASONING_MESSAGE_CONTENT').map((e) => e.delta), ourOf('agent_thinking').map((d) => d.thought), 'every thought, as reasoning')
  t.strictSame(of('SUBAGENT_STARTED').map((e) => e.name), ourOf('agent_started').filter((d) => d.parent_agent_id).map((d) => d.agent_name), 'a sub-agent for each sub-agent attempt')
  t.equal(of('SUBAGENT_FINISHED').length + of('SUBAGENT_ERROR').length, of('SUBAGENT_STARTED').length, 'each one closed')
  t.equal(of('STEP_STARTED').length, of('STEP_FINISHED').length, 'every step finished')
  const end = events.at(-1)!
  if (last.type === 'run_completed') {
    const messages = (await app.inject({ url: `/threads/${last.thread_id}/messages`, headers: auth(user) })).json().messages
    // the answer is the last message: streamed in pieces (answer_delta), or whole at the end
    let start = events.length - 1
    while (start > 0 && events[start]!.type !== 'TEXT_MESSAGE_START') start--
    const tail = events.slice(start)
    t.strictSame(tail.map((e) => e.type), ['TEXT_MESSAGE_START', ...Array(tail.length - 3).fill('TEXT_MESSAGE_CONTENT'), 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
    t.equal(tail.filter((e) => e.type === 'TEXT_MESSAGE_CONTENT').map((e) => e.delta).join(''), messages.at(-1).content, 'the answer is the assistant message the run left')
    t.strictSame([end.result, end.outcome], [(last.data as any).result, { type: 'success' }], 'RUN_FINISHED carries the result')
  } else if (last.type === 'run_failed') {
    t.strictSame([end.type, end.code, end.message], ['RUN_ERROR', (last.data as any).error.code, (last.data as any).error.message], 'RUN_ERROR carries the error')
  } else {
    t.strictSame([end.type, end.outcome], ['RUN_FINISHED', { type: 'cancelled' }], 'a cancelled run finishes cancelled')
  }
  await conforms(t, events, 'the stream')
}

/** The AG-UI event types, sub-agent ids replaced by their order of appearance. */
function shape (events: Ag[]) {
  const subs = new Map<string, string>()
  const sub = (id: string) => { if (!subs.has(id)) subs.set(id, `s${subs.size + 1}`); return subs.get(id)! }
  return events.map((e) => {
    const owner = e.subagentRunId === undefined ? '' : ` @${sub(e.subagentRunId)}`
    switch (e.type) {
      case 'SUBAGENT_STARTED': return `SUBAGENT_STARTED ${sub(e.subagentRunId)} ${e.name}${e.parentSubagentRunId ? ` in ${sub(e.parentSubagentRunId)}` : ''}`
      case 'SUBAGENT_FINISHED': case 'SUBAGENT_ERROR': return `${e.type} ${sub(e.subagentRunId)}`
      case 'STEP_STARTED': case 'STEP_FINISHED': return `${e.type} ${e.stepName}${owner}`
      case 'CUSTOM': return `CUSTOM ${e.name}${owner}`
      case 'REASONING_MESSAGE_CONTENT': return `THOUGHT ${e.delta}${owner}`
      case 'REASONING_START': case 'REASONING_MESSAGE_START': case 'REASONING_MESSAGE_END': case 'REASONING_END': return undefined
      default: return `${e.type}${owner}`
    }
  }).filter((s) => s !== undefined)
}

t.test('every built-in agent, mapped, is a valid AG-UI stream', async (t) => {
  const app = await build(t)
  const user = 'ag-alice'
  t.equal((await app.inject({ method: 'POST', url: '/usage/sample', headers: auth(user), payload: { profile: 'team' } })).statusCode, 200)
  const agents = (await app.inject({ url: '/agents', headers: auth(user) })).json().agents.map((a: { name: string }) => a.name) as string[]
  t.strictSame(agents, ['supervisor', 'triage', 'data', 'optimization', 'anomaly', 'capacity', 'actions', 'reporting'])
  const inputs: Record<string, Record<string, unknown>> = {
    actions: { recommendations: [] },
    reporting: { triage: { intent: 'cost_optimisation' } }
  }
  const questions = ['How can we cut our LLM costs?', 'Were there any anomalies in our spend?', 'Will we run out of budget next month?']
  for (const agent of agents) {
    for (const question of agent === 'supervisor' ? questions : [questions[0]]) {
      await t.test(`${agent}: ${question}`, async (t) => {
        const { blocks, ours } = await runAgUi(app, user, agent, input(question, { forwardedProps: inputs[agent] ?? {} }))
        await mapsRun(t, app, user, blocks, ours)
      })
    }
  }
})

t.test('failing, cancelled and retried runs map to valid AG-UI streams', async (t) => {
  const app = await build(t, MODULES)
  const ends: Record<string, string> = {}
  for (const agent of ['thrower', 'retrier', 'sleeper', 'nuller', 'tooler', 'caller', 'diamond', 'resilient', 'hasty', 'fragile',
    'five_tools', 'sequence', 'handoff', 'forgiving', 'brittle', 'sleeper_x3', 'nuller_x3', 'invalid_x3',
    'flaky', 'calls_flaky', 'flaky_flow']) {
    await t.test(agent, async (t) => {
      // a user per agent: one user's runs are rate limited
      const user = `ag-bob-${agent}`
      const { blocks, events, ours } = await runAgUi(app, user, agent)
      await mapsRun(t, app, user, blocks, ours)
      ends[agent] = `${events.at(-1)!.type}${events.at(-1)!.outcome ? ` ${events.at(-1)!.outcome.type}` : ''}`
    })
  }
  t.strictSame(ends, {
    thrower: 'RUN_ERROR',
    retrier: 'RUN_ERROR',
    sleeper: 'RUN_ERROR',
    nuller: 'RUN_ERROR',
    tooler: 'RUN_FINISHED success',
    caller: 'RUN_FINISHED success',
    diamond: 'RUN_FINISHED success',
    resilient: 'RUN_FINISHED success',
    hasty: 'RUN_ERROR',
    fragile: 'RUN_ERROR',
    five_tools: 'RUN_FINISHED success',
    sequence: 'RUN_FINISHED success',
    handoff: 'RUN_FINISHED success',
    forgiving: 'RUN_FINISHED success',
    brittle: 'RUN_ERROR',
    sleeper_x3: 'RUN_ERROR',
    nuller_x3: 'RUN_ERROR',
    invalid_x3: 'RUN_ERROR',
    flaky: 'RUN_FINISHED success',
    calls_flaky: 'RUN_FINISHED success',
    flaky_flow: 'RUN_FINISHED success'
  }, 'each run ends as its agent does')

  await t.test('a cancelled run finishes with the cancelled outcome', async (t) => {
    const user = 'ag-bob-cancel'
    const accepted = (await app.inject({ method: 'POST', url: '/messages', headers: auth(user), payload: { content: 'wait', agent: 'parallel_flow' } })).json()
    await until(async () => (await getEvents(app, user, accepted.run_id)).filter((e) => e.type === 'tool_executing').length === 2 || undefined, 'both tool calls running')
    t.equal((await app.inject({ method: 'POST', url: `/runs/${accepted.run_id}/cancel`, headers: auth(user) })).statusCode, 202)
    await waitForRun(app, user, accepted.run_id)
    const res = await app.inject({ url: `/ag-ui/runs/${accepted.run_id}/events`, headers: auth(user) })
    const blocks = idBlocks(res.body)
    const ours = await getEvents(app, user, accepted.run_id)
    t.equal(ours.at(-1)!.type, 'run_cancelled')
    await mapsRun(t, app, user, blocks, ours)
    t.strictSame(eventsOf(blocks).filter((e) => e.type === 'STEP_STARTED').map((e) => e.stepName).sort(), ['p1', 'p2', 'p3'], 'the steps that ran')
  })
})

t.test('sub-agents, steps and retries, exactly', async (t) => {
  const app = await build(t, MODULES)
  const user = 'ag-carol'

  const called = await runAgUi(app, user, 'calls_flaky')
  t.strictSame(shape(called.events), [
    'RUN_STARTED',
    'SUBAGENT_STARTED s1 flaky',
    'THOUGHT attempt 1 @s1',
    'SUBAGENT_ERROR s1',
    'SUBAGENT_STARTED s2 flaky',
    'THOUGHT attempt 2 @s2',
    'SUBAGENT_FINISHED s2',
    'TEXT_MESSAGE_START',
    'TEXT_MESSAGE_CONTENT',
    'TEXT_MESSAGE_END',
    'RUN_FINISHED'
  ], 'each attempt of a sub-agent is one AG-UI sub-agent; a failed one ends in SUBAGENT_ERROR')
  const error = called.events.find((e) => e.type === 'SUBAGENT_ERROR')!
  t.match(error, { code: 'agent_error', message: 'first attempt fails', metadata: { agentwire: { retryable: true } } })
  t.equal(called.events.find((e) => e.type === 'TEXT_MESSAGE_CONTENT')!.delta, 'flaky said: second time lucky')

  const root = await runAgUi(app, user, 'flaky')
  t.strictSame(shape(root.events), ['RUN_STARTED', 'THOUGHT attempt 1', 'CUSTOM agentwire.agent_error', 'THOUGHT attempt 2',
    'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'], 'the run\'s own agent is the AG-UI agent: a retried attempt is a CUSTOM event')
  t.match(root.events.find((e) => e.type === 'CUSTOM')!.value, { agent_name: 'flaky', attempt: 1, retryable: true, error: { message: 'first attempt fails' } })

  const flow = await runAgUi(app, user, 'flaky_flow')
  t.strictSame(shape(flow.events), [
    'RUN_STARTED',
    'STEP_STARTED first',
    'SUBAGENT_STARTED s1 flaky',
    'THOUGHT attempt 1 @s1',
    'SUBAGENT_ERROR s1',
    'STEP_FINISHED first',
    'STEP_STARTED first',
    'SUBAGENT_STARTED s2 flaky',
    'THOUGHT attempt 2 @s2',
    'SUBAGENT_FINISHED s2',
    'STEP_FINISHED first',
    'STEP_STARTED inner',
    'SUBAGENT_STARTED s3 inner_flow',
    'STEP_STARTED x @s3',
    'SUBAGENT_STARTED s4 flaky in s3',
    'THOUGHT attempt 1 @s4',
    'SUBAGENT_ERROR s4',
    'STEP_FINISHED x @s3',
    'STEP_STARTED x @s3',
    'SUBAGENT_STARTED s5 flaky in s3',
    'THOUGHT attempt 2 @s5',
    'SUBAGENT_FINISHED s5',
    'STEP_FINISHED x @s3',
    'SUBAGENT_FINISHED s3',
    'STEP_FINISHED inner',
    'TEXT_MESSAGE_START',
    'TEXT_MESSAGE_CONTENT',
    'TEXT_MESSAGE_END',
    'RUN_FINISHED'
  ], 'a workflow\'s agents are its steps and sub-agents; a nested workflow\'s steps belong to its sub-agent')

  const diamond = await runAgUi(app, user, 'diamond')
  t.strictSame(diamond.events.filter((e) => e.type === 'STEP_STARTED').map((e) => e.stepName), ['a', 'b', 'c', 'd'],
    'steps are named by their step ids, so two steps running the same agent at once are told apart')

  const tooler = await runAgUi(app, user, 'tooler')
  const results = tooler.events.filter((e) => e.type === 'TOOL_CALL_RESULT')
  t.strictSame(results.map((e) => e.metadata?.agentwire.status), ['error', 'error', 'timeout', 'error', 'success'])
  t.strictSame(JSON.parse(results[4].content), { echo: 'hi' }, 'a result is its JSON')
  t.match(JSON.parse(results[1].content), { status: 'error', error: { message: 'kaboom' } }, 'a failed call says why')
  t.ok(tooler.events.some((e) => e.type === 'CUSTOM' && e.name === 'agentwire.tool_progress' && e.value.progress === 0.5), 'tool progress is a CUSTOM event')
})

t.test('a dropped stream resumes after Last-Event-ID with no gap and no duplicate', async (t) => {
  const app = await build(t)
  const user = 'ag-dave'
  await app.inject({ method: 'POST', url: '/usage/sample', headers: auth(user), payload: { profile: 'team' } })
  const posted = await runAgUi(app, user, 'supervisor', input('How can we cut our LLM costs?'))
  const url = `/ag-ui/runs/${posted.runId}/events`
  const whole = await app.inject({ url, headers: auth(user) })
  t.equal(whole.headers['content-type'], 'text/event-stream')
  const blocks = idBlocks(whole.body)
  t.strictSame(blocks, posted.blocks, 'read again from the start, the stream is the one POST gave')
  t.ok(blocks.some((b) => b.data === undefined), 'an event that maps to nothing still moves the id on')
  t.ok(blocks.some((b) => b.id!.includes(':')), 'ids inside an event\'s group')

  let exact = 0
  for (let i = 0; i < blocks.length; i++) {
    const res = await app.inject({ url, headers: { ...auth(user), 'last-event-id': blocks[i].id! } })
    const rest = idBlocks(res.body)
    if (t.strictSame(rest, blocks.slice(i + 1), `after ${blocks[i].id}`, { diagnostic: false })) exact++
  }
  t.equal(exact, blocks.length, `resumed after each of the ${blocks.length} ids: the rest, exactly`)
  await conforms(t, [...eventsOf(blocks.slice(0, 40)), ...eventsOf(idBlocks((await app.inject({ url, headers: { ...auth(user), 'last-event-id': blocks[39].id! } })).body))], 'dropped after 40 and resumed')

  assertError(t, await app.inject({ url, headers: { ...auth(user), 'last-event-id': 'seven' } }), 400, 'invalid_request', 'Bad Request')
  assertError(t, await app.inject({ url, headers: auth('ag-mallory') }), 404, 'not_found', 'Not Found')
  assertError(t, await app.inject({ url }), 401, 'unauthorized', 'Unauthorized')
})

/** Reads an SSE response until `stop` says so (then drops it) or it ends. */
async function readSse (res: Response, stop: (blocks: SseBlock[]) => boolean = () => false) {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    const complete = text.slice(0, text.lastIndexOf('\n\n') + 2)
    if (stop(idBlocks(complete))) { await reader.cancel(); return idBlocks(complete) }
  }
  return idBlocks(text)
}

t.test('live over a real server: an HttpAgent runs an agent, and a stream dropped mid-run resumes', async (t) => {
  const server = await listen(t, MODULES)
  const user = 'ag-erin'
  const headers = { authorization: `Bearer ${tokenFor(user)}` }
  await fetch(`${server.url}/usage/sample`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"profile":"team"}' })

  await t.test('HttpAgent', async (t) => {
    const agent = new HttpAgent({ url: `${server.url}/ag-ui/supervisor`, headers: { Authorization: headers.authorization } })
    agent.addMessage({ id: randomUUID(), role: 'user', content: 'How can we cut our LLM costs?' })
    const seen: Ag[] = []
    const { result, newMessages } = await agent.runAgent({ runId: randomUUID() }, { onEvent: ({ event }) => { seen.push(event as Ag) } })
    const runId = String(seen[0].runId)
    const threadId = String(seen[0].threadId)
    const run = await waitForRun(server.app, user, runId)
    t.equal(run.status, 'completed')
    t.strictSame(result, run.result, 'runAgent resolves with the run\'s result')
    const replay = eventsOf(idBlocks(await (await fetch(`${server.url}/ag-ui/runs/${runId}/events`, { headers })).text()))
    t.strictSame(seen, replay, 'the agent saw exactly the events the run maps to')
    const ours = await getEvents(server.app, user, runId)
    t.equal(newMessages.filter((m) => m.role === 'tool').length, ours.filter((e) => e.type === 'tool_completed').length, 'a tool message per tool call')
    const answer = newMessages.filter((m) => m.role === 'assistant' && typeof m.content === 'string' && m.content !== '').at(-1)
    t.equal(answer?.content, (run.result as { answer: string }).answer, 'the last assistant message is the answer')

    // the next turn continues the same agentwire thread
    agent.threadId = threadId
    agent.addMessage({ id: randomUUID(), role: 'user', content: 'And which feature costs the most?' })
    const again: Ag[] = []
    await agent.runAgent({}, { onEvent: ({ event }) => { again.push(event as Ag) } })
    t.equal(again[0].threadId, threadId, 'same thread')
    const messages = (await server.app.inject({ url: `/threads/${threadId}/messages`, headers: auth(user) })).json().messages
    t.strictSame(messages.map((m: { role: string }) => m.role), ['user', 'assistant', 'user', 'assistant'])
    t.equal(messages[2].content, 'And which feature costs the most?', 'the last user message is the question')

    // another user's thread id is no way into that thread
    const other = await server.app.inject({ method: 'POST', url: '/ag-ui/quick', headers: auth('ag-mallory'), payload: input('hi', { threadId }) })
    t.not(eventsOf(idBlocks(other.body))[0].threadId, threadId, 'a stranger\'s thread id starts a new thread')
  })

  await t.test('HttpAgent on a run that is cancelled', async (t) => {
    const agent = new HttpAgent({ url: `${server.url}/ag-ui/tool_waiter`, headers: { Authorization: headers.authorization } })
    agent.addMessage({ id: randomUUID(), role: 'user', content: 'wait' })
    let outcome: string | undefined
    const seen: Ag[] = []
    await agent.runAgent({ forwardedProps: { ms: 30_000, tag: 'ag-ui' } }, {
      onEvent: ({ event }) => {
        seen.push(event as Ag)
        if (event.type === 'TOOL_CALL_END') fetch(`${server.url}/runs/${String(seen[0].runId)}/cancel`, { method: 'POST', headers }).catch(() => {})
      },
      onRunFinishedEvent: (p) => { outcome = p.outcome }
    })
    t.equal(outcome, 'cancelled')
    t.equal((await waitForRun(server.app, user, String(seen[0].runId))).status, 'cancelled')
  })

  await t.test('dropped after the first event while the run waits, resumed, the run goes on', async (t) => {
    orchestra.gate.close()
    t.teardown(() => orchestra.gate.open())
    const post = await fetch(`${server.url}/ag-ui/gated`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(input('wait for the gate', { forwardedProps: { tag: 'ag-ui' } })) })
    t.equal(post.status, 200)
    const location = post.headers.get('content-location')!
    t.match(location, /^\/ag-ui\/runs\/[0-9a-f-]{36}\/events$/)
    const first = await readSse(post, (blocks) => blocks.length >= 1)
    t.strictSame(eventsOf(first).map((e) => e.type), ['RUN_STARTED'])
    await until(async () => orchestra.gate.waiting === 1 || undefined, 'the agent at the gate')

    const resumed = await fetch(`${server.url}${location}`, { headers: { ...headers, 'last-event-id': first.at(-1)!.id! } })
    t.equal(resumed.status, 200)
    const rest = readSse(resumed)
    orchestra.gate.open()
    const blocks = [...first, ...await rest]
    const runId = location.split('/')[3]
    const ours = await getEvents(server.app, user, runId)
    t.equal(ours.at(-1)!.type, 'run_completed', 'dropping the stream did not cancel the run')
    await mapsRun(t, server.app, user, blocks, ours)
    const whole = idBlocks(await (await fetch(`${server.url}${location}`, { headers })).text())
    t.strictSame(blocks, whole, 'first part + resumed part = the whole stream: no gap, no duplicate')
  })
})

t.test('refusals come before the stream, as the contract\'s errors', async (t) => {
  const app = await build(t, MODULES)
  const user = 'ag-frank'
  const post = (agent: string, body: unknown, headers: Record<string, string> = auth(user)) =>
    app.inject({ method: 'POST', url: `/ag-ui/${agent}`, headers, payload: body as Record<string, unknown> })
  assertError(t, await post('quick', input('hi'), {}), 401, 'unauthorized', 'Unauthorized')
  assertError(t, await post('nope', input('hi')), 400, 'unknown_agent', 'Bad Request')
  assertError(t, await post('quick', { threadId: 't', runId: 'r' }), 400, 'invalid_request', 'Bad Request')
  assertError(t, await post('quick', input('hi', { messages: [{ id: 'a', role: 'assistant', content: 'hello' }] })), 400, 'invalid_request', 'Bad Request')
  assertError(t, await post('quick', input('hi', { state: [1, 2] })), 400, 'invalid_request', 'Bad Request')
  assertError(t, await post('tool_waiter', input('hi', { forwardedProps: { ms: 'soon' } })), 400, 'invalid_request', 'Bad Request')

  const parts = await runAgUi(app, user, 'quick', input('', { messages: [{ id: 'a', role: 'user', content: [{ type: 'text', text: 'in ' }, { type: 'text', text: 'parts' }] }] }))
  const messages = (await app.inject({ url: `/threads/${String(parts.events[0].threadId)}/messages`, headers: auth(user) })).json().messages
  t.equal(messages[0].content, 'in parts', 'content parts: their text is the question')

  orchestra.gate.close()
  t.teardown(() => orchestra.gate.open())
  const busy = await app.inject({ method: 'POST', url: '/messages', headers: auth(user), payload: { content: 'wait', agent: 'gated' } })
  await until(async () => orchestra.gate.waiting === 1 || undefined, 'the agent at the gate')
  assertError(t, await post('quick', input('hi', { threadId: busy.json().thread_id })), 409, 'thread_busy', 'Conflict')
  orchestra.gate.open()
  await waitForRun(app, user, busy.json().run_id)
})
