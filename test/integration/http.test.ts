import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createBuiltinModule } from '../../src/agents/index.js'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import type { App } from '../../src/app.js'
import { silentLogger } from '../../src/core/context.js'
import type { RunEvent } from '../../src/core/events.js'
import type { AgentContext, ToolContext } from '../../src/core/registry.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { databaseUrls, requirePostgres } from '../helpers/db.js'
import { ISO, assertError, getEvents, parseSse, postMessage, runToEnd, waitForRun, type RunBody } from '../helpers/http.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** a user without usage data gets the supervisor's short path: triage finds nothing, the supervisor says how to upload */
const QUESTION = 'How much did we spend on LLMs last month?'
/** with data, a cost question: triage plans data and optimization (at once), then actions, then the supervisor writes the answer */
const COST_QUESTION = 'How can we cut our LLM costs?'

/** an event as (type, agent_name, tool_name), null where the event has none */
type Step = readonly [type: string, agent: string | null, tool: string | null]
const stepOf = (e: RunEvent): Step => {
  const d = e.data as { agent_name?: string, tool_name?: string }
  return [e.type, d.agent_name ?? null, d.tool_name ?? null]
}
const agentStep = (type: string, agent: string): Step => [type, agent, null]
/** one tool call: every tool of the pack reports progress once, half way */
const toolCall = (agent: string, tool: string): Step[] => ['tool_executing', 'tool_progress', 'tool_completed'].map((type) => [type, agent, tool] as const)

/** supervisor.ts and triage.ts without usage data: triage's usage_profile finds no records, and the supervisor answers */
const NO_DATA: Step[] = [
  agentStep('agent_started', 'supervisor'),
  agentStep('agent_thinking', 'supervisor'),
  agentStep('agent_started', 'triage'),
  agentStep('agent_thinking', 'triage'),
  ...toolCall('triage', 'usage_profile'),
  agentStep('agent_thinking', 'triage'),
  agentStep('agent_completed', 'triage'),
  agentStep('agent_thinking', 'supervisor'),
  agentStep('agent_completed', 'supervisor'),
  ['run_completed', null, null]
]
const TYPES = NO_DATA.map(([type]) => type)

const RECOMMENDATION_TOOLS = ['find_retry_storms', 'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps']

/**
 * Each agent's own events for COST_QUESTION over the team sample, in order. Optimization starts its
 * four tools at once: its four tool_executing come first, in call order; the calls' progress and
 * completions are listed call by call here and compared after `byCall`.
 */
const COST_PATH: Record<string, Step[]> = {
  supervisor: ['agent_started', 'agent_thinking', 'agent_thinking', 'agent_thinking', 'agent_completed'].map((type) => agentStep(type, 'supervisor')),
  triage: [
    agentStep('agent_started', 'triage'),
    agentStep('agent_thinking', 'triage'),
    ...toolCall('triage', 'usage_profile'),
    agentStep('agent_thinking', 'triage'),
    agentStep('agent_completed', 'triage')
  ],
  data: [
    agentStep('agent_started', 'data'),
    agentStep('agent_thinking', 'data'),
    ...toolCall('data', 'usage_summary'),
    ...toolCall('data', 'usage_summary'),
    ...toolCall('data', 'usage_summary'),
    ...toolCall('data', 'top_cost_drivers'),
    agentStep('agent_thinking', 'data'),
    agentStep('agent_completed', 'data')
  ],
  optimization: [
    agentStep('agent_started', 'optimization'),
    agentStep('agent_thinking', 'optimization'),
    ...RECOMMENDATION_TOOLS.map((tool) => ['tool_executing', 'optimization', tool] as const),
    ...RECOMMENDATION_TOOLS.flatMap((tool) => toolCall('optimization', tool).slice(1)),
    agentStep('agent_thinking', 'optimization'),
    agentStep('agent_completed', 'optimization')
  ],
  actions: ['agent_started', 'agent_thinking', 'agent_completed'].map((type) => agentStep(type, 'actions'))
}

const data = (e: RunEvent) => e.data as Record<string, any>

/**
 * One agent's events with the progress and completions of tool calls that ran at once put call by
 * call (in the order the calls started), each call's own events keeping their order. Events other
 * than tool_progress and tool_completed keep their places.
 */
function byCall (events: readonly RunEvent[]): RunEvent[] {
  const calls = events.filter((e) => e.type === 'tool_executing').map((e) => data(e).tool_call_id)
  const inCall = (e: RunEvent) => e.type === 'tool_progress' || e.type === 'tool_completed'
  const out = [...events]
  for (let i = 0; i < out.length;) {
    let end = i
    while (end < out.length && inCall(out[end])) end++
    if (end > i) out.splice(i, end - i, ...out.slice(i, end).sort((a, b) => calls.indexOf(data(a).tool_call_id) - calls.indexOf(data(b).tool_call_id)))
    i = Math.max(end, i + 1)
  }
  return out
}

const COMMON = ['agent_id', 'agent_name', 'timestamp']
/** the `data` fields of CONTRACT §5 per type, besides agent_id, agent_name and timestamp */
const FIELDS: Record<string, string[]> = {
  agent_started: ['message', 'attempt'],
  agent_thinking: ['thought'],
  tool_executing: ['tool_name', 'tool_call_id', 'parameters'],
  tool_progress: ['tool_name', 'tool_call_id', 'message'],
  tool_completed: ['tool_name', 'tool_call_id', 'status', 'duration_ms'],
  agent_completed: ['attempt', 'duration_ms'],
  answer_delta: ['delta']
}
/** the answer as it was streamed; the structure checks below leave the deltas out */
const notDelta = (e: RunEvent) => e.type !== 'answer_delta'
const streamedText = (events: readonly RunEvent[]) => events.filter((e) => !notDelta(e)).map((e) => data(e).delta as string).join('')

/** Every way the events' `data` differs from CONTRACT §5: missing or extra fields, or a field of the wrong kind. */
function fieldProblems (events: readonly RunEvent[]): string[] {
  const problems: string[] = []
  const roots = new Set(events.filter((e) => e.type === 'agent_started' && !('parent_agent_id' in data(e))).map((e) => data(e).agent_id))
  for (const e of events) {
    const d = data(e)
    const at = `seq ${e.seq} ${e.type}`
    const keys = e.type === 'run_completed' ? ['result', 'timestamp'] : [...COMMON, ...(FIELDS[e.type] ?? ['<not a type of this run>'])]
    if (e.type === 'agent_started' && 'parent_agent_id' in d) keys.push('parent_agent_id')
    if (e.type === 'tool_progress' && 'progress' in d) keys.push('progress')
    if (e.type === 'tool_completed') keys.push(d.status === 'success' ? 'result' : 'error')
    // a sub-agent's result is its own; the root's is the run's, in run_completed alone
    if (e.type === 'agent_completed' && !roots.has(d.agent_id)) keys.push('result')
    if (JSON.stringify(Object.keys(d).sort()) !== JSON.stringify(keys.sort())) problems.push(`${at}: fields ${Object.keys(d).sort().join(',')}, not ${keys.join(',')}`)
    const bad = (field: string, ok: (v: any) => boolean) => { if (field in d && !ok(d[field])) problems.push(`${at}: ${field} is ${JSON.stringify(d[field])}`) }
    const text = (v: unknown) => typeof v === 'string' && v.length > 0
    const uuid = (v: unknown) => typeof v === 'string' && UUID.test(v)
    bad('timestamp', (v) => typeof v === 'number' && Number.isFinite(v))
    bad('agent_id', uuid)
    bad('parent_agent_id', uuid)
    bad('tool_call_id', uuid)
    bad('agent_name', text)
    bad('tool_name', text)
    bad('message', text)
    bad('thought', text)
    bad('attempt', (v) => Number.isInteger(v) && v >= 1)
    bad('parameters', (v) => typeof v === 'object' && v !== null && !Array.isArray(v))
    bad('status', (v) => ['success', 'error', 'timeout', 'cancelled'].includes(v))
    bad('duration_ms', (v) => typeof v === 'number' && v >= 0)
    bad('progress', (v) => typeof v === 'number' && v >= 0 && v <= 1)
    bad('result', (v) => v !== undefined)
  }
  return problems
}

interface Shaped { type: string, data: Record<string, unknown> }
const json = <T>(v: T): T => JSON.parse(JSON.stringify(v))

/**
 * Events with their random parts made stable: agent and tool call ids become `agent-N` / `call-N`
 * in order of appearance; timestamps and durations (checked by fieldProblems) are dropped.
 */
function shape (events: readonly RunEvent[]): Shaped[] {
  const labels = new Map<string, string>()
  const label = (prefix: string, id: string) => {
    if (!labels.has(id)) labels.set(id, `${prefix}-${[...labels.values()].filter((l) => l.startsWith(prefix)).length + 1}`)
    return labels.get(id)!
  }
  return events.map((e) => {
    const { timestamp: _t, duration_ms: _d, ...rest } = data(e)
    for (const [key, prefix] of [['agent_id', 'agent'], ['parent_agent_id', 'agent'], ['tool_call_id', 'call']]) {
      if (typeof rest[key] === 'string') rest[key] = label(prefix, rest[key])
    }
    return { type: e.type, data: rest }
  })
}

/**
 * What the supervisor does for `content` over `records`, run outside the engine on the pack's own
 * agents and tools, one step after the other, as `shape` gives a run's events. Only for paths
 * without work done at once, where this order is the engine's.
 */
async function simulate (content: string, records: readonly UsageRecord[]): Promise<{ events: Shaped[], result: SupervisorResult }> {
  const pack = createBuiltinModule(() => records)
  const agents = new Map(pack.agents!.map((a) => [a.name, a]))
  const tools = new Map(pack.tools!.map((tool) => [tool.name, tool]))
  const events: Shaped[] = []
  let agentCount = 0
  let callCount = 0
  const run = async (name: string, input: Record<string, unknown>, parent?: string): Promise<unknown> => {
    const agent = { agent_id: `agent-${++agentCount}`, agent_name: name }
    events.push({ type: 'agent_started', data: { ...agent, message: `Running ${name}`, attempt: 1, ...(parent && { parent_agent_id: parent }) } })
    const ctx: AgentContext = {
      user_id: 'u',
      thread_id: 't',
      run_id: 'r',
      agent_id: agent.agent_id,
      content,
      signal: new AbortController().signal,
      log: silentLogger,
      think (thought) { events.push({ type: 'agent_thinking', data: { ...agent, thought } }) },
      stream (delta) { events.push({ type: 'answer_delta', data: { ...agent, delta } }) },
      async ask () { throw new Error('the simulation cannot ask') },
      async call_tool (tool, args) {
        const call = { ...agent, tool_name: tool, tool_call_id: `call-${++callCount}` }
        events.push({ type: 'tool_executing', data: { ...call, parameters: json(args) } })
        const toolCtx: ToolContext = {
          user_id: 'u',
          run_id: 'r',
          signal: new AbortController().signal,
          progress (message, progress) { events.push({ type: 'tool_progress', data: { ...call, message, ...(progress !== undefined && { progress }) } }) }
        }
        const result = await tools.get(tool)!.execute(structuredClone(args), toolCtx)
        events.push({ type: 'tool_completed', data: { ...call, status: 'success', result: json(result) } })
        return result as any
      },
      call_agent: async (sub, subInput = {}) => await run(sub, subInput, agent.agent_id) as any
    }
    const result = json(await agents.get(name)!.run!(ctx, input))
    events.push({ type: 'agent_completed', data: { ...agent, ...(parent && { result }), attempt: 1 } })
    return result
  }
  const result = await run('supervisor', {}) as SupervisorResult
  events.push({ type: 'run_completed', data: { result } })
  return { events, result }
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

/** Posts `content` and reads the run as a client does, over SSE opened at once; resolves once the stream ends. */
async function streamRun (app: App, user: string, content: string) {
  const accepted = await postMessage(app, user, { content })
  const res = await app.inject({ method: 'GET', url: `/runs/${accepted.run_id}/events`, headers: { ...auth(user), accept: 'text/event-stream' } })
  const blocks = parseSse(res.body).filter((b) => b.comment === undefined)
  const events = blocks.map((b) => JSON.parse(b.data!) as RunEvent)
  return { accepted, blocks, events, run: await waitForRun(app, user, accepted.run_id) }
}

const loadTeamSample = async (t: Test, app: App, user: string) => {
  const res = await app.inject({ method: 'POST', url: '/usage/sample', headers: auth(user), payload: { profile: 'team' } })
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), { profile: 'team', inserted: 8535 })
}

requirePostgres(t)

for (const url of databaseUrls()) {
  t.test(url.split(':')[0], async (t) => {
    t.test('a supervisor run without usage data emits exactly its events', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const before = Date.now() / 1000
      const { accepted, blocks, events, run } = await streamRun(app, 'alice', QUESTION)
      const after = Date.now() / 1000
      t.strictSame(Object.keys(accepted).sort(), ['message_id', 'run_id', 'status', 'thread_id'])
      t.match(accepted.message_id, UUID)
      t.match(accepted.thread_id, UUID)
      t.match(accepted.run_id, UUID)
      t.equal(accepted.status, 'running')
      t.equal(run.status, 'completed')

      t.strictSame(events.filter(notDelta).map(stepOf), NO_DATA, 'exactly these events, in this order')
      t.equal(streamedText(events), (run.result as { answer: string }).answer, 'the answer, streamed by reporting')
      t.strictSame(blocks.map((b) => [b.id, b.event]), events.map((e) => [String(e.seq), e.type]), 'SSE ids and names are the seqs and types')
      t.strictSame(await getEvents(app, 'alice', accepted.run_id), events, 'GET /runs/:id/events is what the stream sent')
      assertEnvelopes(t, events, { run_id: accepted.run_id, thread_id: accepted.thread_id, user_id: 'alice' })
      t.strictSame(fieldProblems(events), [], 'each event has exactly the fields of CONTRACT §5')
      assertRunContract(t, events)

      let lastTs = before
      for (const e of events) {
        const at = data(e).timestamp as number
        t.ok(at >= lastTs && at <= after, `${e.seq} timestamp within the run, in order`)
        lastTs = at
      }

      const started = events.filter((e) => e.type === 'agent_started').map(data)
      t.notOk('parent_agent_id' in started[0], 'the supervisor is the root')
      t.strictSame(started.slice(1).map((a) => [a.agent_name, a.parent_agent_id]), [['triage', started[0].agent_id]])
      t.equal(new Set(started.map((a) => a.agent_id)).size, 2, 'each agent has its own id')

      const { events: expected, result } = await simulate(QUESTION, [])
      t.strictSame(shape(events), expected, 'every event\'s data, exactly: the pack run outside the engine takes the same steps')
      t.strictSame(run.result, result)
      t.equal(result.has_data, false)
      t.strictSame(result.agents, ['triage'])
    })

    t.test('with the team sample, a cost question: each agent\'s own events exactly, data and optimization at once', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      await loadTeamSample(t, app, 'alice')
      const { accepted, events, run } = await streamRun(app, 'alice', COST_QUESTION)
      t.equal(run.status, 'completed')
      t.strictSame(await getEvents(app, 'alice', accepted.run_id), events, 'GET /runs/:id/events is what the stream sent')
      assertEnvelopes(t, events, { run_id: accepted.run_id, thread_id: accepted.thread_id, user_id: 'alice' })
      t.strictSame(fieldProblems(events), [], 'each event has exactly the fields of CONTRACT §5')
      assertRunContract(t, events)

      const root = data(events[0])
      t.strictSame(stepOf(events[0]), agentStep('agent_started', 'supervisor'), 'the supervisor starts first')
      t.notOk('parent_agent_id' in root, 'the supervisor is the root')
      t.strictSame(events.filter((e) => e.type === 'agent_started').slice(1).map((e) => [data(e).agent_name, data(e).parent_agent_id]),
        ['triage', 'data', 'optimization', 'actions'].map((name) => [name, root.agent_id]), 'each sub-agent is the supervisor\'s, started once, in this order')
      t.strictSame([stepOf(events.at(-2)!), data(events.at(-2)!).agent_id], [agentStep('agent_completed', 'supervisor'), root.agent_id], 'the supervisor completes last')
      t.strictSame(stepOf(events.at(-1)!), ['run_completed', null, null])

      const byAgent = new Map<string, RunEvent[]>()
      t.equal(streamedText(events), (run.result as { answer: string }).answer, 'the answer, streamed by reporting')
      for (const e of events.filter(notDelta).slice(0, -1)) byAgent.set(data(e).agent_id, [...(byAgent.get(data(e).agent_id) ?? []), e])
      t.strictSame([...byAgent.values()].map((own) => data(own[0]).agent_name), Object.keys(COST_PATH), 'one run of each agent')
      for (const own of byAgent.values()) {
        const name = data(own[0]).agent_name as string
        t.strictSame(byCall(own).map(stepOf), COST_PATH[name], `${name}: its own events, exactly`)
      }

      // triage alone, then data and optimization at once, then actions, then the supervisor writes the answer
      const names = events.filter(notDelta).map((e) => (data(e).agent_name as string | undefined) ?? null)
      const all = (name: string) => COST_PATH[name].map(() => name)
      const head = ['supervisor', 'supervisor', ...all('triage'), 'supervisor']
      const together = COST_PATH.data.length + COST_PATH.optimization.length
      t.strictSame(names.slice(0, head.length), head, 'triage first, alone')
      t.strictSame(names.slice(head.length, head.length + together).sort(), [...all('data'), ...all('optimization')].sort(), 'then data and optimization')
      t.strictSame(names.slice(head.length + together), [...all('actions'), 'supervisor', 'supervisor', null], 'then actions, then the answer')

      const parameters = (agent: string) => events.filter((e) => e.type === 'tool_executing' && data(e).agent_name === agent).map((e) => data(e).parameters)
      t.strictSame(parameters('triage'), [{}])
      t.strictSame(parameters('data'), [{ group_by: 'model' }, { group_by: 'provider' }, { group_by: 'feature' }, { limit: 5 }])
      t.strictSame(parameters('optimization'), [{}, {}, {}, {}, {}])
      t.strictSame(events.filter((e) => e.type === 'tool_completed' && data(e).status !== 'success').map(stepOf), [], 'every tool call succeeded')

      const result = run.result as SupervisorResult
      t.strictSame(data(events.at(-1)!).result, result, 'run_completed holds the run\'s result')
      t.strictSame([result.intent, result.has_data, result.agents, result.failed],
        ['cost_optimisation', true, ['triage', 'data', 'optimization', 'actions'], []])
      t.strictSame(events.filter((e) => JSON.stringify(e.data).includes(JSON.stringify(result.answer))).map((e) => e.type), ['run_completed'],
        'the answer travels once, in the run\'s result, and nowhere else in full')
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
      t.strictSame(run.result, (await simulate(QUESTION, [])).result)
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
      t.equal(all.filter(notDelta).length, TYPES.length)
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
      t.strictSame(blocks.map((b) => b.event).filter((type) => type !== 'answer_delta'), TYPES)
      t.strictSame(blocks.map((b) => Number(b.id)), blocks.map((_, i) => i + 1))
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

      // with data, the follow-up is a general question: data alone, its tools one after the other
      await loadTeamSample(t, app, 'alice')
      const followUp = 'And which features cost the most?'
      const second = await runToEnd(app, 'alice', { content: followUp, thread_id: threadId })
      t.equal(second.accepted.thread_id, threadId, 'the message went to the same thread')
      t.not(second.accepted.run_id, first.accepted.run_id)
      t.equal(second.run.status, 'completed')
      const events = await getEvents(app, 'alice', second.accepted.run_id)
      t.equal(events[0].seq, 1, 'a new run counts from seq 1')
      t.strictSame(events.filter((e) => e.type === 'tool_executing').map((e) => [data(e).agent_name, data(e).tool_name, data(e).parameters]), [
        ['triage', 'usage_profile', {}],
        ['data', 'usage_summary', { group_by: 'model' }],
        ['data', 'usage_summary', { group_by: 'provider' }],
        ['data', 'usage_summary', { group_by: 'feature' }],
        ['data', 'top_cost_drivers', { limit: 5 }]
      ], 'a question about features reads spend by feature among the rest')
      t.strictSame(shape(events), (await simulate(followUp, await app.store.listUsage('alice'))).events, 'every event\'s data, exactly')
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
      t.strictSame(zero.json(), { runs: { queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 }, tool_calls: 0, tool_errors: 0, mean_run_ms: null })

      const runs: RunBody[] = []
      // without data: usage_profile alone
      runs.push((await runToEnd(app, 'alice', { content: QUESTION })).run)
      // with data, a general question: usage_profile, usage_summary by model, provider and feature, top_cost_drivers
      await loadTeamSample(t, app, 'alice')
      runs.push((await runToEnd(app, 'alice', { content: 'Which features cost the most on Claude?' })).run)
      await runToEnd(app, 'bob', { content: QUESTION })

      const stats = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth('alice') })).json()
      const ms = runs.map((r) => Date.parse(r.finished_at!) - Date.parse(r.started_at!))
      t.strictSame(stats, {
        runs: { queued: 0, running: 0, waiting: 0, completed: 2, failed: 0, cancelled: 0 },
        tool_calls: 6,
        tool_errors: 0,
        mean_run_ms: (ms[0] + ms[1]) / 2
      })
      const bob = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth('bob') })).json()
      t.strictSame(bob.runs, { queued: 0, running: 0, waiting: 0, completed: 1, failed: 0, cancelled: 0 }, 'another user\'s runs are not counted')
      t.equal(bob.tool_calls, 1)
    })

    t.test('GET /agents, /health and /health/ready', async (t) => {
      const app = await build(t, { DATABASE_URL: url })
      const agents = await app.inject({ method: 'GET', url: '/agents', headers: auth('alice') })
      t.equal(agents.statusCode, 200)
      const pack = new Map(createBuiltinModule(() => []).agents!.map((a) => [a.name, a]))
      t.strictSame(agents.json(), {
        agents: ['supervisor', 'triage', 'data', 'optimization', 'anomaly', 'capacity', 'actions', 'reporting']
          .map((name) => ({ name, description: pack.get(name)!.description, input_schema: pack.get(name)!.input_schema }))
      })

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
      t.strictSame(ready.json(), { status: 'ready', checks: { store: 'ok', bus: 'ok', engine: 'ok' } })
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
        { queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 })
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
