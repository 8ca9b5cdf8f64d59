import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { builtinModule } from '../../src/agents/index.js'
import { supervisor, type SupervisorResult } from '../../src/agents/supervisor.js'
import { silentLogger } from '../../src/core/context.js'
import type { RunEvent } from '../../src/core/events.js'
import type { AgentContext, ToolContext } from '../../src/core/registry.js'
import { auth, build } from '../helpers/app.js'
import { runContractViolations } from '../helpers/contract.js'
import { databaseUrls, requirePostgres } from '../helpers/db.js'
import { ISO, assertError, getEvents, parseSse, postMessage, runToEnd, waitForRun, type RunBody } from '../helpers/http.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** a question that names no feature, provider or model: the supervisor's two-tool path */
const QUESTION = 'How much did we spend on LLMs last month?'
const TYPES = [
  'agent_started',
  'agent_thinking',
  'tool_executing', 'tool_progress', 'tool_completed',
  'tool_executing', 'tool_progress', 'tool_completed',
  'agent_thinking',
  'agent_completed',
  'run_completed'
]

interface Step { type: string, data: Record<string, unknown> }

/**
 * What the supervisor does for `content`, run outside the engine on the real tools: its thoughts,
 * tool calls with their progress and results, and its result, in order.
 */
async function expectedSteps (content: string): Promise<{ steps: Step[], result: SupervisorResult }> {
  const steps: Step[] = []
  const tools = new Map(builtinModule.tools!.map((tool) => [tool.name, tool]))
  const ctx: AgentContext = {
    user_id: 'u',
    thread_id: 't',
    run_id: 'r',
    agent_id: 'a',
    content,
    signal: new AbortController().signal,
    log: silentLogger,
    think (thought) { steps.push({ type: 'agent_thinking', data: { thought } }) },
    call_tool: async <R>(name: string, args: Record<string, unknown>): Promise<R> => {
      steps.push({ type: 'tool_executing', data: { tool_name: name, parameters: structuredClone(args) } })
      const toolCtx: ToolContext = {
        user_id: 'u',
        run_id: 'r',
        signal: new AbortController().signal,
        progress (message, progress) { steps.push({ type: 'tool_progress', data: { tool_name: name, message, progress } }) }
      }
      const result = await tools.get(name)!.execute(structuredClone(args), toolCtx)
      steps.push({ type: 'tool_completed', data: { tool_name: name, status: 'success', result: JSON.parse(JSON.stringify(result)) } })
      return result as R
    },
    call_agent: async () => { throw new Error('the supervisor calls no agents') }
  }
  const result = await supervisor.run!(ctx, {}) as SupervisorResult
  return { steps, result: JSON.parse(JSON.stringify(result)) }
}

/** A run's events must all be of `runId`/`threadId`/`user` with seq 1..n. */
function assertEnvelopes (t: Test, events: RunEvent[], ids: { run_id: string, thread_id: string, user_id: string }) {
  events.forEach((e, i) => {
    t.strictSame(Object.keys(e).sort(), ['data', 'run_id', 'seq', 'thread_id', 'type', 'user_id'], `event ${i + 1} envelope keys`)
    t.equal(e.seq, i + 1, `seq ${i + 1} contiguous`)
    t.equal(e.run_id, ids.run_id)
    t.equal(e.thread_id, ids.thread_id)
    t.equal(e.user_id, ids.user_id)
  })
}

requirePostgres(t)

for (const url of databaseUrls()) {
  t.test(url.split(':')[0], async (t) => {
    t.test('a default supervisor run emits exactly its events', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const before = Date.now() / 1000
      const accepted = await postMessage(app, 'alice', { content: QUESTION })
      t.strictSame(Object.keys(accepted).sort(), ['message_id', 'run_id', 'status', 'thread_id'])
      t.match(accepted.message_id, UUID)
      t.match(accepted.thread_id, UUID)
      t.match(accepted.run_id, UUID)
      t.equal(accepted.status, 'running')
      const run = await waitForRun(app, 'alice', accepted.run_id)
      const after = Date.now() / 1000
      t.equal(run.status, 'completed')

      const events = await getEvents(app, 'alice', accepted.run_id)
      t.strictSame(events.map((e) => e.type), TYPES)
      assertEnvelopes(t, events, { run_id: accepted.run_id, thread_id: accepted.thread_id, user_id: 'alice' })

      let lastTs = before
      for (const e of events) {
        const at = (e.data as { timestamp: unknown }).timestamp
        t.type(at, 'number', `${e.seq} timestamp is a number`)
        t.ok((at as number) >= lastTs && (at as number) <= after, `${e.seq} timestamp within the run, in order`)
        lastTs = at as number
      }

      const { steps, result } = await expectedSteps(QUESTION)
      t.strictSame(steps.map((s) => s.type), TYPES.slice(1, -2), 'the supervisor outside the engine takes the same path')
      const agentId = (events[0].data as { agent_id: string }).agent_id
      t.match(agentId, UUID)
      const agent = { agent_id: agentId, agent_name: 'supervisor' }
      const callIds = [events[2], events[5]].map((e) => (e.data as { tool_call_id: string }).tool_call_id)
      t.match(callIds[0], UUID)
      t.match(callIds[1], UUID)
      t.not(callIds[0], callIds[1], 'each tool call has its own id')

      const durations = events.map((e) => (e.data as { duration_ms?: unknown }).duration_ms)
      for (const i of [4, 7, 9]) {
        t.type(durations[i], 'number')
        t.ok((durations[i] as number) >= 0, 'duration_ms ≥ 0')
      }
      const ts = (i: number) => ({ timestamp: (events[i].data as { timestamp: number }).timestamp })
      let call = -1
      const expected = [
        { type: 'agent_started', data: { ...agent, message: 'Running supervisor', attempt: 1, ...ts(0) } },
        ...steps.map((s, i) => {
          if (s.type === 'tool_executing') call++
          const tool = { tool_call_id: callIds[call] }
          const extra = s.type === 'tool_completed' ? { duration_ms: durations[i + 1] } : {}
          const data = s.type === 'agent_thinking' ? { ...agent, ...s.data } : { ...agent, ...s.data, ...tool, ...extra }
          return { type: s.type, data: { ...data, ...ts(i + 1) } }
        }),
        { type: 'agent_completed', data: { ...agent, result, attempt: 1, duration_ms: durations[9], ...ts(9) } },
        { type: 'run_completed', data: { result, ...ts(10) } }
      ]
      t.strictSame(events.map(({ type, data }) => ({ type, data })), expected, 'every event data, exactly')
      t.strictSame((events[2].data as { parameters: unknown }).parameters, { group_by: 'model' })
      t.strictSame((events[5].data as { parameters: unknown }).parameters, { limit: 5 })
      t.equal((events[3].data as { progress: unknown }).progress, 0.5)

      const opened = events.filter((e) => e.type === 'tool_executing')
      for (const o of opened) {
        const id = (o.data as { tool_call_id: string }).tool_call_id
        const closes = events.filter((e) => e.type === 'tool_completed' && (e.data as { tool_call_id: string }).tool_call_id === id)
        t.equal(closes.length, 1, 'one tool_completed per tool_executing')
        t.ok(closes[0].seq > o.seq, 'tool_completed follows its tool_executing')
      }
      t.equal(events.filter((e) => ['run_completed', 'run_failed', 'run_cancelled'].includes(e.type)).length, 1, 'one terminal event')
      t.strictSame(runContractViolations(events), [], 'CONTRACT §5 rules 1, 3 and 4 hold')
    })

    t.test('GET /runs/:id of a finished run', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const { accepted, run } = await runToEnd(app, 'alice', { content: QUESTION })
      const events = await getEvents(app, 'alice', accepted.run_id)
      const result = (events.at(-1)!.data as { result: unknown }).result
      t.strictSame(Object.keys(run).sort(), ['agent', 'created_at', 'finished_at', 'result', 'run_id', 'started_at', 'status', 'thread_id'])
      t.equal(run.run_id, accepted.run_id)
      t.equal(run.thread_id, accepted.thread_id)
      t.equal(run.agent, 'supervisor')
      t.equal(run.status, 'completed')
      t.strictSame(run.result, result, 'the result is the run_completed result')
      t.strictSame(run.result, (await expectedSteps(QUESTION)).result)
      for (const k of ['created_at', 'started_at', 'finished_at'] as const) t.match(run[k], ISO, `${k} is ISO-8601 UTC`)
      t.ok(run.created_at <= run.started_at! && run.started_at! <= run.finished_at!, 'created ≤ started ≤ finished')

      const missing = await app.inject({ method: 'GET', url: `/runs/${randomUUID()}`, headers: auth('alice') })
      assertError(t, missing, 404, 'not_found', 'Not Found')
      t.equal(missing.json().message, 'run not found')
      const longest = await app.inject({ method: 'GET', url: `/runs/${'r'.repeat(128)}`, headers: auth('alice') })
      assertError(t, longest, 404, 'not_found', 'Not Found')
      for (const path of [`/runs/${'r'.repeat(129)}`, `/runs/${'r'.repeat(129)}/events`, '/runs/%zz', `/threads/${'t'.repeat(300)}`]) {
        const res = await app.inject({ method: 'GET', url: path, headers: auth('alice') })
        assertError(t, res, 400, 'invalid_request', 'Bad Request')
      }
    })

    t.test('GET /runs/:id/events?after_seq=N returns exactly the tail', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const { accepted } = await runToEnd(app, 'alice', { content: QUESTION })
      const all = await getEvents(app, 'alice', accepted.run_id)
      t.equal(all.length, TYPES.length)
      t.strictSame(await getEvents(app, 'alice', accepted.run_id, 0), all, 'after_seq=0 is everything')
      for (let n = 1; n <= all.length; n++) {
        t.strictSame(await getEvents(app, 'alice', accepted.run_id, n), all.slice(n), `after_seq=${n}`)
      }
      t.strictSame(await getEvents(app, 'alice', accepted.run_id, 1000), [], 'past the end: nothing')
      for (const bad of ['-1', 'abc', '1.5']) {
        const res = await app.inject({ method: 'GET', url: `/runs/${accepted.run_id}/events?after_seq=${bad}`, headers: auth('alice') })
        assertError(t, res, 400, 'invalid_request', 'Bad Request')
      }
      const missing = await app.inject({ method: 'GET', url: `/runs/${randomUUID()}/events`, headers: auth('alice') })
      assertError(t, missing, 404, 'not_found', 'Not Found')
    })

    t.test('GET /runs/:id/events as SSE', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const { accepted } = await runToEnd(app, 'alice', { content: QUESTION })
      const all = await getEvents(app, 'alice', accepted.run_id)
      const sse = (headers: Record<string, string> = {}, query = '') => app.inject({
        method: 'GET',
        url: `/runs/${accepted.run_id}/events${query}`,
        headers: { ...auth('alice'), accept: 'text/event-stream', ...headers }
      })
      const asBlocks = (events: RunEvent[]) => events.map((e) => ({ id: String(e.seq), event: e.type, data: JSON.stringify(e) }))
      const eventsOf = (body: string) => parseSse(body).filter((b) => b.comment === undefined)

      const res = await sse()
      t.equal(res.statusCode, 200)
      t.equal(res.headers['content-type'], 'text/event-stream')
      t.equal(res.headers['cache-control'], 'no-cache')
      t.strictSame(eventsOf(res.body), asBlocks(all), 'the same events as id:/event:/data: blocks, ending after the terminal one')
      t.strictSame(eventsOf(res.body).map((b) => JSON.parse(b.data!)), all, 'each data: line is the JSON event')

      t.strictSame(eventsOf((await sse({ 'last-event-id': '4' })).body), asBlocks(all.slice(4)), 'Last-Event-ID: 4 resumes at seq 5')
      t.strictSame(eventsOf((await sse({}, '?after_seq=7')).body), asBlocks(all.slice(7)), 'after_seq=7 resumes at seq 8')
      t.strictSame(eventsOf((await sse({ 'last-event-id': '9' }, '?after_seq=2')).body), asBlocks(all.slice(9)), 'a reconnect\'s Last-Event-ID wins over the url')
      t.strictSame(eventsOf((await sse({ 'last-event-id': String(all.length) })).body), [], 'resuming after the terminal event: nothing, and the stream ends')

      const bad = await sse({ 'last-event-id': 'abc' })
      assertError(t, bad, 400, 'invalid_request', 'Bad Request')
      const missing = await app.inject({ method: 'GET', url: `/runs/${randomUUID()}/events`, headers: { ...auth('alice'), accept: 'text/event-stream' } })
      assertError(t, missing, 404, 'not_found', 'Not Found')
    })

    t.test('SSE opened right after POST /messages streams the whole run and ends', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const accepted = await postMessage(app, 'alice', { content: QUESTION })
      const res = await app.inject({ method: 'GET', url: `/runs/${accepted.run_id}/events`, headers: { ...auth('alice'), accept: 'text/event-stream' } })
      const blocks = parseSse(res.body).filter((b) => b.comment === undefined)
      t.strictSame(blocks.map((b) => b.event), TYPES)
      t.strictSame(blocks.map((b) => Number(b.id)), TYPES.map((_, i) => i + 1))
      await waitForRun(app, 'alice', accepted.run_id)
      t.strictSame(blocks.map((b) => JSON.parse(b.data!)), await getEvents(app, 'alice', accepted.run_id), 'what SSE sent is what is stored')
    })

    t.test('threads: list newest first with limit and cursor', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const empty = await app.inject({ method: 'GET', url: '/threads', headers: auth('alice') })
      t.equal(empty.statusCode, 200)
      t.strictSame(empty.json(), { threads: [], next_cursor: null })

      const made: Array<{ thread_id: string, title: string }> = []
      for (const content of ['first question', 'second question', 'third question']) {
        const { accepted } = await runToEnd(app, 'alice', { content })
        made.push({ thread_id: accepted.thread_id, title: content })
        await sleep(3) // distinct millisecond timestamps, so "newest" is well defined
      }
      const newest = made.slice().reverse()

      const list = await app.inject({ method: 'GET', url: '/threads', headers: auth('alice') })
      t.equal(list.statusCode, 200)
      const body = list.json() as { threads: Array<Record<string, unknown>>, next_cursor: string | null }
      t.strictSame(body.threads.map((th) => ({ thread_id: th.thread_id, title: th.title })), newest)
      t.equal(body.next_cursor, null)
      for (const th of body.threads) {
        t.strictSame(Object.keys(th).sort(), ['active_run_id', 'created_at', 'thread_id', 'title', 'updated_at'])
        t.equal(th.active_run_id, null)
        t.match(th.created_at, ISO)
        t.match(th.updated_at, ISO)
      }

      const page1 = await app.inject({ method: 'GET', url: '/threads?limit=2', headers: auth('alice') })
      t.equal(page1.statusCode, 200)
      const p1 = page1.json() as { threads: Array<{ thread_id: string }>, next_cursor: string }
      t.strictSame(p1.threads.map((th) => th.thread_id), newest.slice(0, 2).map((th) => th.thread_id))
      t.type(p1.next_cursor, 'string')
      const page2 = await app.inject({ method: 'GET', url: `/threads?limit=2&cursor=${encodeURIComponent(p1.next_cursor)}`, headers: auth('alice') })
      t.equal(page2.statusCode, 200)
      const p2 = page2.json() as { threads: Array<{ thread_id: string }>, next_cursor: string | null }
      t.strictSame(p2.threads.map((th) => th.thread_id), [newest[2].thread_id])
      t.equal(p2.next_cursor, null)

      const exact = await app.inject({ method: 'GET', url: '/threads?limit=3', headers: auth('alice') })
      t.equal(exact.json().next_cursor, null, 'a full last page has no next cursor')
      t.equal(exact.json().threads.length, 3)

      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'cursor=not-a-cursor']) {
        const res = await app.inject({ method: 'GET', url: `/threads?${q}`, headers: auth('alice') })
        assertError(t, res, 400, 'invalid_request', 'Bad Request')
      }
      const hundred = await app.inject({ method: 'GET', url: '/threads?limit=100', headers: auth('alice') })
      t.equal(hundred.statusCode, 200, 'limit=100 is allowed')
    })

    t.test('a thread, its messages, and a second message on it', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const first = await runToEnd(app, 'alice', { content: QUESTION })
      const threadId = first.accepted.thread_id

      const thread = await app.inject({ method: 'GET', url: `/threads/${threadId}`, headers: auth('alice') })
      t.equal(thread.statusCode, 200)
      const th = thread.json()
      t.strictSame(Object.keys(th).sort(), ['active_run_id', 'created_at', 'thread_id', 'title', 'updated_at'])
      t.equal(th.thread_id, threadId)
      t.equal(th.title, QUESTION)
      t.equal(th.active_run_id, null, 'no active run after the run ended')

      const answer1 = (first.run.result as { answer: string }).answer
      t.type(answer1, 'string')
      const msgs = await app.inject({ method: 'GET', url: `/threads/${threadId}/messages`, headers: auth('alice') })
      t.equal(msgs.statusCode, 200)
      const m1 = msgs.json().messages as Array<Record<string, unknown>>
      t.strictSame(m1.map(({ role, content, run_id }) => ({ role, content, run_id })), [
        { role: 'user', content: QUESTION, run_id: first.accepted.run_id },
        { role: 'assistant', content: answer1, run_id: first.accepted.run_id }
      ])
      t.equal(m1[0].message_id, first.accepted.message_id, 'the user message is the one POST /messages named')
      for (const m of m1) {
        t.strictSame(Object.keys(m).sort(), ['content', 'created_at', 'message_id', 'role', 'run_id'])
        t.match(m.message_id, UUID)
        t.match(m.created_at, ISO)
      }

      const followUp = 'And which features cost the most?'
      const second = await runToEnd(app, 'alice', { content: followUp, thread_id: threadId })
      t.equal(second.accepted.thread_id, threadId, 'the message went to the same thread')
      t.not(second.accepted.run_id, first.accepted.run_id)
      t.equal(second.run.status, 'completed')
      const events = await getEvents(app, 'alice', second.accepted.run_id)
      t.equal(events[0].seq, 1, 'a new run counts from seq 1')
      t.strictSame(events.filter((e) => e.type === 'tool_executing').map((e) => (e.data as { parameters: unknown }).parameters),
        [{ group_by: 'model' }, { limit: 5 }, { group_by: 'feature' }], 'a question about features also reads spend by feature')
      t.equal(events.at(-1)!.type, 'run_completed')

      const msgs2 = (await app.inject({ method: 'GET', url: `/threads/${threadId}/messages`, headers: auth('alice') })).json().messages as Array<Record<string, unknown>>
      t.strictSame(msgs2.map(({ role, content, run_id }) => ({ role, content, run_id })), [
        { role: 'user', content: QUESTION, run_id: first.accepted.run_id },
        { role: 'assistant', content: answer1, run_id: first.accepted.run_id },
        { role: 'user', content: followUp, run_id: second.accepted.run_id },
        { role: 'assistant', content: (second.run.result as { answer: string }).answer, run_id: second.accepted.run_id }
      ], 'oldest first')
      t.equal((await app.inject({ method: 'GET', url: `/threads/${threadId}`, headers: auth('alice') })).json().active_run_id, null)
      const list = (await app.inject({ method: 'GET', url: '/threads', headers: auth('alice') })).json()
      t.equal(list.threads.length, 1, 'still one thread')

      for (const path of [`/threads/${randomUUID()}`, `/threads/${randomUUID()}/messages`]) {
        const res = await app.inject({ method: 'GET', url: path, headers: auth('alice') })
        assertError(t, res, 404, 'not_found', 'Not Found')
        t.equal(res.json().message, 'thread not found')
      }
      const noThread = await app.inject({ method: 'POST', url: '/messages', headers: auth('alice'), payload: { content: 'hi', thread_id: randomUUID() } })
      assertError(t, noThread, 404, 'not_found', 'Not Found')
    })

    t.test('GET /me/stats counts exactly', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const zero = await app.inject({ method: 'GET', url: '/me/stats', headers: auth('alice') })
      t.equal(zero.statusCode, 200)
      t.strictSame(zero.json(), { runs: { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }, tool_calls: 0, tool_errors: 0, mean_run_ms: null })

      const runs: RunBody[] = []
      runs.push((await runToEnd(app, 'alice', { content: QUESTION })).run)
      // features and a provider: two more tool calls
      runs.push((await runToEnd(app, 'alice', { content: 'Which features cost the most on Claude?' })).run)
      await runToEnd(app, 'bob', { content: QUESTION })

      const stats = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth('alice') })).json()
      const ms = runs.map((r) => Date.parse(r.finished_at!) - Date.parse(r.started_at!))
      t.strictSame(stats, {
        runs: { queued: 0, running: 0, completed: 2, failed: 0, cancelled: 0 },
        tool_calls: 6,
        tool_errors: 0,
        mean_run_ms: (ms[0] + ms[1]) / 2
      })
      const bob = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth('bob') })).json()
      t.strictSame(bob.runs, { queued: 0, running: 0, completed: 1, failed: 0, cancelled: 0 }, 'another user\'s runs are not counted')
      t.equal(bob.tool_calls, 2)
    })

    t.test('GET /agents, /health and /health/ready', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const agents = await app.inject({ method: 'GET', url: '/agents', headers: auth('alice') })
      t.equal(agents.statusCode, 200)
      t.strictSame(agents.json(), { agents: [{ name: 'supervisor', description: supervisor.description, input_schema: { type: 'object' } }] })

      const health = await app.inject({ method: 'GET', url: '/health' })
      t.equal(health.statusCode, 200)
      const h = health.json()
      t.strictSame(Object.keys(h).sort(), ['status', 'uptime_s', 'version'])
      t.equal(h.status, 'ok')
      t.equal(h.version, VERSION)
      t.type(h.uptime_s, 'number')
      t.ok(h.uptime_s >= 0)

      const ready = await app.inject({ method: 'GET', url: '/health/ready' })
      t.equal(ready.statusCode, 200)
      t.strictSame(ready.json(), { status: 'ready', checks: { store: 'ok', bus: 'ok' } })
    })

    t.test('another user\'s thread and run look exactly like missing ones', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const { accepted } = await runToEnd(app, 'alice', { content: QUESTION })
      const aliceEvents = await getEvents(app, 'alice', accepted.run_id)
      const ghostRun = randomUUID()
      const ghostThread = randomUUID()

      const pairs: Array<[string, string, string, Record<string, unknown>?, Record<string, string>?]> = [
        ['GET', `/runs/${accepted.run_id}`, `/runs/${ghostRun}`],
        ['GET', `/runs/${accepted.run_id}/events`, `/runs/${ghostRun}/events`],
        ['GET', `/runs/${accepted.run_id}/events?after_seq=3`, `/runs/${ghostRun}/events?after_seq=3`],
        ['GET', `/runs/${accepted.run_id}/events`, `/runs/${ghostRun}/events`, undefined, { accept: 'text/event-stream' }],
        ['POST', `/runs/${accepted.run_id}/cancel`, `/runs/${ghostRun}/cancel`],
        ['GET', `/threads/${accepted.thread_id}`, `/threads/${ghostThread}`],
        ['GET', `/threads/${accepted.thread_id}/messages`, `/threads/${ghostThread}/messages`]
      ]
      for (const [method, theirs, missing, payload, headers] of pairs) {
        const asBob = await app.inject({ method: method as 'GET', url: theirs, headers: { ...auth('bob'), ...headers }, ...(payload ? { payload } : {}) })
        assertError(t, asBob, 404, 'not_found', 'Not Found')
        const ghost = await app.inject({ method: method as 'GET', url: missing, headers: { ...auth('bob'), ...headers } })
        t.strictSame(asBob.json(), ghost.json(), `${method} ${theirs}: same answer as a missing one`)
      }
      const post = await app.inject({ method: 'POST', url: '/messages', headers: auth('bob'), payload: { content: 'mine now', thread_id: accepted.thread_id } })
      assertError(t, post, 404, 'not_found', 'Not Found')
      const postGhost = await app.inject({ method: 'POST', url: '/messages', headers: auth('bob'), payload: { content: 'mine now', thread_id: ghostThread } })
      t.strictSame(post.json(), postGhost.json())

      t.strictSame((await app.inject({ method: 'GET', url: '/threads', headers: auth('bob') })).json(), { threads: [], next_cursor: null })
      t.strictSame((await app.inject({ method: 'GET', url: '/me/stats', headers: auth('bob') })).json().runs,
        { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 })
      // nothing bob did touched alice's thread or run
      const msgs = (await app.inject({ method: 'GET', url: `/threads/${accepted.thread_id}/messages`, headers: auth('alice') })).json().messages
      t.strictSame(msgs.map((m: { role: string }) => m.role), ['user', 'assistant'])
      t.strictSame(await getEvents(app, 'alice', accepted.run_id), aliceEvents)
      t.equal((await waitForRun(app, 'alice', accepted.run_id)).status, 'completed')
    })

    t.test('cancelling a finished run answers its final status, idempotently', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const { accepted } = await runToEnd(app, 'alice', { content: QUESTION })
      const events = await getEvents(app, 'alice', accepted.run_id)
      for (let i = 0; i < 2; i++) {
        const res = await app.inject({ method: 'POST', url: `/runs/${accepted.run_id}/cancel`, headers: auth('alice') })
        t.equal(res.statusCode, 202)
        t.strictSame(res.json(), { run_id: accepted.run_id, status: 'completed' })
      }
      t.strictSame(await getEvents(app, 'alice', accepted.run_id), events, 'no event was added')
      t.equal((await waitForRun(app, 'alice', accepted.run_id)).status, 'completed')
      const missing = await app.inject({ method: 'POST', url: `/runs/${randomUUID()}/cancel`, headers: auth('alice') })
      assertError(t, missing, 404, 'not_found', 'Not Found')
    })
  })
}
