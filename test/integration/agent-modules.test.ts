import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { RunEvent } from '../../src/core/events.js'
import { RegistryError } from '../../src/core/registry.js'
import { TEST_SECRET, auth, build } from '../helpers/app.js'
import { assertRunContract, runContractViolations } from '../helpers/contract.js'
import { getEvents, runToEnd } from '../helpers/http.js'

const BAD = './test/fixtures/bad-agents.mjs'
interface Tap { strictSame (found: unknown, wanted: unknown, message: string): boolean }
const USER = 'alice'

/**
 * An event stream with its random parts made stable: agent and tool call ids become `agent-N` /
 * `call-N` in order of appearance, timestamps and durations are dropped once checked to be numbers.
 */
function shape (events: readonly RunEvent[]) {
  const labels = new Map<string, string>()
  const label = (prefix: string, id: string) => {
    if (!labels.has(id)) labels.set(id, `${prefix}-${[...labels.values()].filter((l) => l.startsWith(prefix)).length + 1}`)
    return labels.get(id)!
  }
  return events.map((e) => {
    const { timestamp, duration_ms: duration, ...data } = e.data as Record<string, unknown>
    if (typeof timestamp !== 'number') throw new Error(`seq ${e.seq}: timestamp is ${timestamp}`)
    if (duration !== undefined && !(typeof duration === 'number' && duration >= 0)) throw new Error(`seq ${e.seq}: duration_ms is ${duration}`)
    if (typeof data.agent_id === 'string') data.agent_id = label('agent', data.agent_id)
    if (typeof data.parent_agent_id === 'string') data.parent_agent_id = label('agent', data.parent_agent_id)
    if (typeof data.tool_call_id === 'string') data.tool_call_id = label('call', data.tool_call_id)
    return { type: e.type, seq: e.seq, data }
  })
}

/** Runs `agent` for USER to its end: the run as GET /runs shows it and its events, contract-checked. */
async function runOf (t: Tap, app: Awaited<ReturnType<typeof build>>, agent: string, extra: Record<string, unknown> = {}) {
  const { accepted, run } = await runToEnd(app, USER, { content: `run ${agent}`, agent, ...extra })
  const events = await getEvents(app, USER, accepted.run_id)
  assertRunContract(t, events)
  t.strictSame(
    [...new Set(events.map((e) => `${e.run_id} ${e.thread_id} ${e.user_id}`))],
    [`${accepted.run_id} ${accepted.thread_id} ${USER}`],
    'every event carries the run, its thread and its user'
  )
  return { accepted, run, events }
}

const failed = (agent: string, error: { code: string, message: string }, retryable = false) => [
  { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: agent, message: `Running ${agent}`, attempt: 1 } },
  { type: 'agent_error', seq: 2, data: { agent_id: 'agent-1', agent_name: agent, error, retryable, attempt: 1 } },
  { type: 'run_failed', seq: 3, data: { error } }
]

t.test('the contract checker finds each kind of violation', async (t) => {
  const ids = { run_id: 'r1', thread_id: 'th1', user_id: 'u1' }
  const ev = (seq: number, type: string, data: Record<string, unknown> = {}) => ({ type, seq, ...ids, data: { timestamp: 1, ...data } }) as unknown as RunEvent
  const started = (seq: number, agent_id = 'a', attempt = 1) => ev(seq, 'agent_started', { agent_id, attempt })
  const done = (seq: number, agent_id = 'a', attempt = 1) => ev(seq, 'agent_completed', { agent_id, attempt })

  t.strictSame(runContractViolations([started(1), done(2), ev(3, 'run_completed')]), [])
  t.strictSame(runContractViolations([]), ['the run has no events'])
  t.strictSame(runContractViolations([started(1), done(3), ev(4, 'run_completed')]), [
    'event 1 (agent_completed seq 3): seq should be 2',
    'event 2 (run_completed seq 4): seq should be 3'
  ])
  t.strictSame(runContractViolations([started(1), done(2)]), ['0 terminal events', 'the last event is agent_completed, not a terminal one'])
  t.strictSame(runContractViolations([ev(1, 'run_failed'), ev(2, 'run_completed')]), ['2 terminal events'])
  t.strictSame(runContractViolations([ev(1, 'run_completed'), started(2), done(3)]), ['the last event is agent_completed, not a terminal one'])
  t.strictSame(runContractViolations([started(1), ev(2, 'run_completed')]), ['agent a attempt 1 is never closed'])
  t.strictSame(runContractViolations([started(1), done(2), done(3), ev(4, 'run_completed')]), ['event 2 (agent_completed seq 3): agent a attempt 1 is not open'])
  t.strictSame(runContractViolations([started(1), done(2, 'a', 2), ev(3, 'run_completed')]), [
    'event 1 (agent_completed seq 2): agent a attempt 2 is not open',
    'agent a attempt 1 is never closed'
  ])
  t.strictSame(runContractViolations([started(1), done(2), started(3, 'a', 3), done(4, 'a', 3), ev(5, 'run_completed')]), ['event 2 (agent_started seq 3): attempt 3 should be 2'])
  t.strictSame(runContractViolations([started(1), started(2), done(3), ev(4, 'run_completed')]), [
    'event 1 (agent_started seq 2): agent a is already running',
    'event 1 (agent_started seq 2): attempt 1 should be 2'
  ])
  t.strictSame(runContractViolations([ev(1, 'agent_started', { agent_id: 'b', attempt: 1, parent_agent_id: 'x' }), done(2, 'b'), ev(3, 'run_completed')]), [
    'event 0 (agent_started seq 1): parent x never started'
  ])
  const tool = (seq: number, type: string, tool_call_id = 'c', agent_id = 'a') => ev(seq, type, { agent_id, tool_call_id })
  t.strictSame(runContractViolations([started(1), tool(2, 'tool_executing'), done(3), ev(4, 'run_completed')]), ['tool call c is never completed'])
  t.strictSame(runContractViolations([started(1), tool(2, 'tool_executing'), tool(3, 'tool_completed'), tool(4, 'tool_completed'), done(5), ev(6, 'run_completed')]), [
    'event 3 (tool_completed seq 4): tool call c is not open'
  ])
  t.strictSame(runContractViolations([started(1), tool(2, 'tool_executing'), tool(3, 'tool_executing'), tool(4, 'tool_completed'), done(5), ev(6, 'run_completed')]), [
    'event 2 (tool_executing seq 3): tool call c is already open'
  ])
  t.strictSame(runContractViolations([tool(1, 'tool_executing'), tool(2, 'tool_progress', 'c', 'b'), tool(3, 'tool_completed'), ev(4, 'agent_thinking', { agent_id: 'a' }), ev(5, 'run_completed')]), [
    'event 0 (tool_executing seq 1): agent a is not running',
    'event 1 (tool_progress seq 2): tool call c is not open',
    'event 3 (agent_thinking seq 4): agent a is not running'
  ])
  t.strictSame(runContractViolations([started(1), done(2), { ...ev(3, 'run_completed'), user_id: 'u2' }]), ['event 2 (run_completed seq 3): ids differ from the first event\'s'])
})

t.test('GET /agents lists the built-in agents and every agent of the module', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const res = await app.inject({ method: 'GET', url: '/agents', headers: auth(USER) })
  t.equal(res.statusCode, 200)
  const agents = (res.json() as { agents: Array<{ name: string, description: string, input_schema: unknown }> }).agents
  t.strictSame(agents.map((a) => a.name), [
    'supervisor', 'triage', 'data', 'optimization', 'anomaly', 'capacity', 'actions', 'reporting',
    'thrower', 'retrier', 'sleeper', 'nuller', 'good', 'tooler', 'caller', 'collector', 'diamond', 'resilient', 'hasty', 'fragile'
  ])
  t.strictSame(agents.find((a) => a.name === 'diamond'), { name: 'diamond', description: 'a → b, a → c, b + c → d', input_schema: { type: 'object' } })
})

for (const [agent, error] of [
  ['thrower', { code: 'agent_error', message: 'boom' }],
  ['sleeper', { code: 'timeout', message: 'agent sleeper timed out after 100 ms' }],
  ['nuller', { code: 'invalid_result', message: 'agent nuller returned null' }]
] as const) {
  t.test(`${agent}: the run fails with ${error.code}, and the next run on the thread completes`, async (t) => {
    const app = await build(t, { AGENT_MODULES: BAD })
    const { accepted, run, events } = await runOf(t, app, agent)
    t.strictSame(shape(events), failed(agent, error))
    t.equal(run.status, 'failed')
    t.strictSame(run.error, error)
    t.equal(run.result, undefined)

    const next = await runOf(t, app, 'good', { thread_id: accepted.thread_id })
    t.equal(next.run.status, 'completed')
    t.strictSame(next.run.result, { answer: 'ok' })
    t.strictSame(shape(next.events), [
      { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: 'good', message: 'Running good', attempt: 1 } },
      { type: 'agent_completed', seq: 2, data: { agent_id: 'agent-1', agent_name: 'good', attempt: 1 } },
      { type: 'run_completed', seq: 3, data: { result: { answer: 'ok' } } }
    ])
    const messages = await app.inject({ method: 'GET', url: `/threads/${accepted.thread_id}/messages`, headers: auth(USER) })
    t.strictSame((messages.json() as { messages: Array<{ role: string, content: string }> }).messages.map((m) => [m.role, m.content]), [
      ['user', `run ${agent}`],
      ['user', 'run good'],
      ['assistant', 'ok']
    ])
  })
}

t.test('a thrower with max_attempts 3 makes three attempts of one agent, the last not retryable', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD, RETRY_BASE_MS: '1' })
  const { run, events } = await runOf(t, app, 'retrier')
  const error = { code: 'agent_error', message: 'boom' }
  const attempt = (n: number, retryable: boolean, seq: number) => [
    { type: 'agent_started', seq, data: { agent_id: 'agent-1', agent_name: 'retrier', message: 'Running retrier', attempt: n } },
    { type: 'agent_error', seq: seq + 1, data: { agent_id: 'agent-1', agent_name: 'retrier', error, retryable, attempt: n } }
  ]
  t.strictSame(shape(events), [
    ...attempt(1, true, 1),
    ...attempt(2, true, 3),
    ...attempt(3, false, 5),
    { type: 'run_failed', seq: 7, data: { error } }
  ])
  t.equal(run.status, 'failed')
  t.strictSame(run.error, error)
})

t.test('tool failures: each call gets exactly one tool_completed with its status', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'tooler')
  const agent = { agent_id: 'agent-1', agent_name: 'tooler' }
  const call = (n: number, tool_name: string) => ({ ...agent, tool_name, tool_call_id: `call-${n}` })
  const invalid = { code: 'invalid_arguments', message: 'echo: /text must be string' }
  const timeout = { code: 'timeout', message: 'tool staller timed out after 50 ms' }
  const unknown = { code: 'unknown_tool', message: 'no tool named "missing_tool"' }
  const outcomes = [
    { tool: 'echo', error: invalid },
    { tool: 'exploder', error: { code: null, message: 'kaboom' } },
    { tool: 'staller', error: timeout },
    { tool: 'missing_tool', error: unknown },
    { tool: 'echo', result: { echo: 'hi' } }
  ]
  t.strictSame(shape(events), [
    { type: 'agent_started', seq: 1, data: { ...agent, message: 'Running tooler', attempt: 1 } },
    { type: 'tool_executing', seq: 2, data: { ...call(1, 'echo'), parameters: { text: 42 } } },
    { type: 'tool_completed', seq: 3, data: { ...call(1, 'echo'), status: 'error', error: invalid } },
    { type: 'tool_executing', seq: 4, data: { ...call(2, 'exploder'), parameters: {} } },
    { type: 'tool_completed', seq: 5, data: { ...call(2, 'exploder'), status: 'error', error: { code: 'tool_error', message: 'kaboom' } } },
    { type: 'tool_executing', seq: 6, data: { ...call(3, 'staller'), parameters: {} } },
    { type: 'tool_completed', seq: 7, data: { ...call(3, 'staller'), status: 'timeout', error: timeout } },
    { type: 'tool_executing', seq: 8, data: { ...call(4, 'missing_tool'), parameters: {} } },
    { type: 'tool_completed', seq: 9, data: { ...call(4, 'missing_tool'), status: 'error', error: unknown } },
    { type: 'tool_executing', seq: 10, data: { ...call(5, 'echo'), parameters: { text: 'hi' } } },
    { type: 'tool_progress', seq: 11, data: { ...call(5, 'echo'), message: 'half way', progress: 0.5 } },
    { type: 'tool_progress', seq: 12, data: { ...call(5, 'echo'), message: 'no fraction' } },
    { type: 'tool_completed', seq: 13, data: { ...call(5, 'echo'), status: 'success', result: { echo: 'hi' } } },
    { type: 'agent_completed', seq: 14, data: { ...agent, attempt: 1 } },
    { type: 'run_completed', seq: 15, data: { result: { outcomes } } }
  ])
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { outcomes })

  const stats = await app.inject({ method: 'GET', url: '/me/stats', headers: auth(USER) })
  const { tool_calls: calls, tool_errors: errors } = stats.json() as { tool_calls: number, tool_errors: number }
  t.strictSame({ calls, errors }, { calls: 5, errors: 4 })
})

t.test('a sub-agent carries parent_agent_id', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'caller')
  t.strictSame(shape(events), [
    { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: 'caller', message: 'Running caller', attempt: 1 } },
    { type: 'agent_started', seq: 2, data: { agent_id: 'agent-2', agent_name: 'good', message: 'Running good', attempt: 1, parent_agent_id: 'agent-1' } },
    { type: 'agent_completed', seq: 3, data: { agent_id: 'agent-2', agent_name: 'good', result: { answer: 'ok' }, attempt: 1 } },
    { type: 'agent_completed', seq: 4, data: { agent_id: 'agent-1', agent_name: 'caller', attempt: 1 } },
    { type: 'run_completed', seq: 5, data: { result: { sub: { answer: 'ok' } } } }
  ])
  t.strictSame(run.result, { sub: { answer: 'ok' } })
})

t.test('a workflow runs its steps as their dependencies allow, each step a sub-agent of the workflow', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'diamond')
  const a = { results: {} }
  const b = { results: { a } }
  const c = { results: { a } }
  const result = { results: { a, b, c, d: { results: { b, c } } }, failed: [] }
  t.equal(run.status, 'completed')
  t.strictSame(run.result, result)

  const shaped = shape(events)
  t.equal(shaped.length, 11, '1 + 4 × 2 + 1 agent events, then run_completed')
  t.strictSame(shaped[0], { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: 'diamond', message: 'Running workflow diamond', attempt: 1 } })
  t.strictSame(shaped.slice(-2), [
    { type: 'agent_completed', seq: 10, data: { agent_id: 'agent-1', agent_name: 'diamond', attempt: 1 } },
    { type: 'run_completed', seq: 11, data: { result } }
  ])
  const steps = shaped.slice(1, -2)
  t.strictSame(steps.filter((e) => e.type === 'agent_started').map((e) => e.data), ['agent-2', 'agent-3', 'agent-4', 'agent-5'].map((agent_id) => ({
    agent_id, agent_name: 'collector', message: 'Running collector', attempt: 1, parent_agent_id: 'agent-1', step_id: { 'agent-2': 'a', 'agent-3': 'b', 'agent-4': 'c', 'agent-5': 'd' }[agent_id]
  })))
  // the step results in the order the steps completed: a first, d last, b and c in either order
  const completed = steps.filter((e) => e.type === 'agent_completed').map((e) => e.data.result)
  t.strictSame(completed[0], a)
  t.strictSame(completed.slice(1, 3).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))), [b, c])
  t.strictSame(completed[3], result.results.d)
  // d starts only after b and c completed
  const dStarted = steps.findIndex((e) => e.type === 'agent_started' && e.data.agent_id === 'agent-5')
  t.strictSame(steps.slice(0, dStarted).map((e) => e.type), ['agent_started', 'agent_completed', 'agent_started', 'agent_started', 'agent_completed', 'agent_completed'])
})

t.test('a workflow skips a failed optional step and runs a fallback in place of a failed step', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'resilient')
  const ok = { answer: 'ok' }
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { results: { a: ok, saved: ok, last: { results: { saved: ok } } }, failed: ['maybe'] })
  const shaped = shape(events)
  const boom = { code: 'agent_error', message: 'boom' }
  t.strictSame(shaped.filter((e) => e.type === 'agent_error').map(({ data: { agent_id: _, ...rest } }) => rest), [
    { agent_name: 'thrower', error: boom, retryable: false, attempt: 1 },
    { agent_name: 'thrower', error: boom, retryable: false, attempt: 1 }
  ])
  // parallel steps may start in either order
  t.strictSame(shaped.filter((e) => e.type === 'agent_started').map((e) => `${e.data.agent_name} < ${e.data.parent_agent_id}`).sort(), [
    'collector < agent-1', 'good < agent-1', 'good < agent-1', 'resilient < undefined', 'thrower < agent-1', 'thrower < agent-1'
  ])
})

t.test('a workflow with a failed required step fails with that step\'s error and never runs its dependants', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'fragile')
  const error = { code: 'agent_error', message: 'boom' }
  t.equal(run.status, 'failed')
  t.strictSame(run.error, error)
  t.strictSame(shape(events), [
    { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: 'fragile', message: 'Running workflow fragile', attempt: 1 } },
    { type: 'agent_started', seq: 2, data: { agent_id: 'agent-2', agent_name: 'good', message: 'Running good', attempt: 1, parent_agent_id: 'agent-1', step_id: 'a' } },
    { type: 'agent_completed', seq: 3, data: { agent_id: 'agent-2', agent_name: 'good', result: { answer: 'ok' }, attempt: 1 } },
    { type: 'agent_started', seq: 4, data: { agent_id: 'agent-3', agent_name: 'thrower', message: 'Running thrower', attempt: 1, parent_agent_id: 'agent-1', step_id: 'b' } },
    { type: 'agent_error', seq: 5, data: { agent_id: 'agent-3', agent_name: 'thrower', error, retryable: false, attempt: 1 } },
    { type: 'agent_error', seq: 6, data: { agent_id: 'agent-1', agent_name: 'fragile', error, retryable: false, attempt: 1 } },
    { type: 'run_failed', seq: 7, data: { error } }
  ])
})

t.test('a workflow that times out ends its running step too, each agent closed once', async (t) => {
  const app = await build(t, { AGENT_MODULES: BAD })
  const { run, events } = await runOf(t, app, 'hasty')
  const error = { code: 'timeout', message: 'agent hasty timed out after 50 ms' }
  t.equal(run.status, 'failed')
  t.strictSame(run.error, error)
  const shaped = shape(events)
  t.strictSame(shaped.slice(0, 2), [
    { type: 'agent_started', seq: 1, data: { agent_id: 'agent-1', agent_name: 'hasty', message: 'Running workflow hasty', attempt: 1 } },
    { type: 'agent_started', seq: 2, data: { agent_id: 'agent-2', agent_name: 'sleeper', message: 'Running sleeper', attempt: 1, parent_agent_id: 'agent-1', step_id: 'nap' } }
  ])
  // the step and the workflow end on the same deadline, in either order
  t.strictSame(shaped.slice(2, 4).map((e) => e.data).sort((x, y) => String(x.agent_id).localeCompare(String(y.agent_id))), [
    { agent_id: 'agent-1', agent_name: 'hasty', error, retryable: false, attempt: 1 },
    { agent_id: 'agent-2', agent_name: 'sleeper', error, retryable: false, attempt: 1 }
  ])
  t.strictSame(shaped.slice(4), [{ type: 'run_failed', seq: 5, data: { error } }])
})

t.test('a module that cannot be loaded stops the start with a RegistryError naming it', async (t) => {
  const refused = async (modules: string) => {
    const config = loadConfig({ AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', DATABASE_URL: 'sqlite::memory:', AGENT_MODULES: modules })
    const err = await buildApp(config).then(async (app) => { await app.close(); return undefined }, (e: unknown) => e)
    t.ok(err instanceof RegistryError, `${modules}: a RegistryError`)
    return (err as Error).message
  }

  const missing = await refused('./test/fixtures/bad-missing-module.mjs')
  t.equal(missing.startsWith('AGENT_MODULES: cannot load ./test/fixtures/bad-missing-module.mjs: '), true, missing)
  t.equal(missing.includes('bad-missing-module.mjs\''), true, 'the loader\'s reason names the file')

  t.equal(await refused('./test/fixtures/bad-throws-on-load.mjs'),
    'AGENT_MODULES: cannot load ./test/fixtures/bad-throws-on-load.mjs: this module refuses to load')
  t.equal(await refused('./test/fixtures/bad-invalid-agent.mjs'),
    'AGENT_MODULES ./test/fixtures/bad-invalid-agent.mjs: agent "hollow": needs exactly one of run() or workflow')
  t.equal(await refused('./test/fixtures/bad-duplicate-supervisor.mjs'),
    'AGENT_MODULES ./test/fixtures/bad-duplicate-supervisor.mjs: agent "supervisor": the name is already registered')
  t.equal(await refused(`${BAD},./test/fixtures/bad-agents.mjs`),
    'AGENT_MODULES ./test/fixtures/bad-agents.mjs: tool "echo": the name is already registered')
  t.equal(await refused('./test/fixtures/bad-not-an-object.mjs'),
    'AGENT_MODULES ./test/fixtures/bad-not-an-object.mjs: the default export must be { agents?, tools? }')
  t.equal(await refused('./test/fixtures/bad-unknown-step.mjs'),
    'agent "orphan_flow": step "only" names unknown agent "nobody"')
})
