import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import type { App } from '../../src/app.js'
import { build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { getEvents, runToEnd } from '../helpers/http.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const BAD = './test/fixtures/bad-agents.mjs'
const USER = 'orchestra'

interface Ev { type: string, seq: number, data: any }
interface Tap { strictSame (found: unknown, wanted: unknown, message: string): boolean }
interface Fixture {
  record: { starts: Array<{ agent: string, tag?: string, user_id: string, run_id: string }> }
  reset (): void
}
// the registry imports the fixture by this URL too, so this is the app's own module instance
const fixture = await import(pathToFileURL(path.resolve(ORCH)).href) as Fixture

/** Runs `agent` to its end: the run as GET /runs shows it, and its events, contract-checked. */
async function runOf (t: Tap, app: App, agent: string, extra: Record<string, unknown> = {}) {
  const { accepted, run } = await runToEnd(app, USER, { content: `run ${agent}`, agent, ...extra })
  const events = await getEvents(app, USER, accepted.run_id) as unknown as Ev[]
  assertRunContract(t, events as never)
  return { accepted, run, events }
}

/**
 * Events with their random parts made stable: agent and tool call ids become `agent-N` / `call-N`
 * in order of appearance; timestamps and durations are dropped.
 */
function shape (events: readonly Ev[]) {
  const labels = new Map<string, string>()
  const label = (prefix: string, id: string) => {
    if (!labels.has(id)) labels.set(id, `${prefix}-${[...labels.values()].filter((l) => l.startsWith(prefix)).length + 1}`)
    return labels.get(id)!
  }
  return events.map((e) => {
    const { timestamp: _t, duration_ms: _d, ...data } = e.data
    if (typeof data.agent_id === 'string') data.agent_id = label('agent', data.agent_id)
    if (typeof data.parent_agent_id === 'string') data.parent_agent_id = label('agent', data.parent_agent_id)
    if (typeof data.tool_call_id === 'string') data.tool_call_id = label('call', data.tool_call_id)
    return { type: e.type, data }
  })
}

const find = (events: readonly Ev[], type: string, agentName: string) => {
  const found = events.filter((e) => e.type === type && e.data.agent_name === agentName)
  if (found.length !== 1) throw new Error(`${found.length} ${type} of ${agentName}`)
  return found[0]
}

t.beforeEach(() => fixture.reset())

t.test('five tools in one agent: one agent_started, each tool_executing followed by its tool_completed, one agent_completed, run_completed last', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'five_tools', { content: 'count these four words' })
  const agent = { agent_id: 'agent-1', agent_name: 'five_tools' }
  const result = { sum: 5, product: 20, upper: 'COUNT THESE FOUR WORDS', words: 4, paused_ms: 5 }
  const call = (n: number, tool_name: string, parameters: unknown, toolResult: unknown) => [
    { type: 'tool_executing', data: { ...agent, tool_name, tool_call_id: `call-${n}`, parameters } },
    { type: 'tool_completed', data: { ...agent, tool_name, tool_call_id: `call-${n}`, status: 'success', result: toolResult } }
  ]
  t.strictSame(shape(events), [
    { type: 'agent_started', data: { ...agent, message: 'Running five_tools', attempt: 1 } },
    ...call(1, 'add', { a: 2, b: 3 }, { sum: 5 }),
    ...call(2, 'multiply', { a: 5, b: 4 }, { product: 20 }),
    ...call(3, 'upper', { text: 'count these four words' }, { upper: 'COUNT THESE FOUR WORDS' }),
    ...call(4, 'word_count', { text: 'count these four words' }, { words: 4 }),
    ...call(5, 'pause', { ms: 5, tag: 'five' }, { paused_ms: 5 }),
    { type: 'agent_completed', data: { ...agent, attempt: 1 } },
    { type: 'run_completed', data: { result } }
  ])
  t.strictSame(events.map((e) => e.type).filter((type) => type === 'agent_started'), ['agent_started'], 'exactly one agent_started')
  events.forEach((e, i) => {
    if (e.type !== 'tool_executing') return
    const next = events[i + 1]
    t.strictSame([next.type, next.data.tool_call_id], ['tool_completed', e.data.tool_call_id], `${e.data.tool_name} is followed by its own tool_completed`)
  })
  t.equal(run.status, 'completed')
  t.strictSame(run.result, result)
})

t.test('a sequential workflow runs its steps in dependency order, each handed its predecessor\'s result', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'sequence')
  const a = { step: 'a', got: {} }
  const b = { step: 'b', got: { a } }
  const c = { step: 'c', got: { b } }
  const result = { results: { a, b, c }, failed: [] }
  const step = (n: number, name: string) => ({ agent_id: `agent-${n}`, agent_name: name })
  const root = step(1, 'sequence')
  const child = (n: number, name: string, stepResult: unknown) => [
    { type: 'agent_started', data: { ...step(n, name), message: `Running ${name}`, attempt: 1, parent_agent_id: 'agent-1', step_id: name.slice(-1) } },
    { type: 'agent_completed', data: { ...step(n, name), result: stepResult, attempt: 1 } }
  ]
  t.strictSame(shape(events), [
    { type: 'agent_started', data: { ...root, message: 'Running workflow sequence', attempt: 1 } },
    ...child(2, 'step_a', a),
    ...child(3, 'step_b', b),
    ...child(4, 'step_c', c),
    { type: 'agent_completed', data: { ...root, attempt: 1 } },
    { type: 'run_completed', data: { result } }
  ])
  t.strictSame(fixture.record.starts.map((s) => s.agent), ['step_a', 'step_b', 'step_c'], 'the step bodies ran in that order')
  t.strictSame(run.result, result)
})

t.test('a diamond workflow runs b and c at the same time and hands both results to d', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'slow_diamond')
  const a = { step: 'a', got: {} }
  const b = { step: 'b', got: { a } }
  const c = { step: 'c', got: { a } }
  const d = { step: 'd', got: { b, c } }
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { results: { a, b, c, d }, failed: [] })

  const [rootStarted] = events
  t.strictSame([rootStarted.type, rootStarted.data.agent_name, rootStarted.data.parent_agent_id], ['agent_started', 'slow_diamond', undefined], 'the root agent starts first')
  t.strictSame(events.slice(-2).map((e) => [e.type, e.data.agent_name]), [['agent_completed', 'slow_diamond'], ['run_completed', undefined]], 'the root agent ends last, before run_completed')
  const started = Object.fromEntries(['a', 'b', 'c', 'd'].map((s) => [s, find(events, 'agent_started', `step_${s}`)]))
  const completed = Object.fromEntries(['a', 'b', 'c', 'd'].map((s) => [s, find(events, 'agent_completed', `step_${s}`)]))
  for (const s of ['a', 'b', 'c', 'd']) t.equal(started[s].data.parent_agent_id, rootStarted.data.agent_id, `step ${s} is a sub-agent of the workflow`)

  t.ok(completed.a.seq < started.b.seq && completed.a.seq < started.c.seq, 'b and c start after a completed')
  t.ok(Math.max(started.b.seq, started.c.seq) < Math.min(completed.b.seq, completed.c.seq), 'b and c both start before either completes')
  const span = (s: string) => [started[s].data.timestamp as number, completed[s].data.timestamp as number]
  const [bStart, bEnd] = span('b')
  const [cStart, cEnd] = span('c')
  t.ok(bStart < cEnd && cStart < bEnd, `b [${bStart}, ${bEnd}] and c [${cStart}, ${cEnd}] overlap in time`)
  t.ok(started.d.seq > Math.max(completed.b.seq, completed.c.seq), 'd starts after b and c completed')

  t.strictSame(completed.d.data.result, { step: 'd', got: { b: completed.b.data.result, c: completed.c.data.result } }, 'd received exactly b\'s and c\'s results')
})

t.test('data → optimisation handoff: the second step\'s input holds the first step\'s exact result', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'handoff', { content: 'cut my spend', input: { account: 'acme' } })
  const data = find(events, 'agent_completed', 'usage_data').data.result
  t.match(data.nonce, /^[0-9a-f-]{36}$/, 'the data step\'s result holds a value no other step could make up')
  t.equal(data.asked, 'cut my spend')
  const optimisation = find(events, 'agent_completed', 'optimise').data.result
  t.strictSame(optimisation, { received: { input: { account: 'acme' }, content: 'cut my spend', results: { data } } })
  t.ok(find(events, 'agent_started', 'optimise').seq > find(events, 'agent_completed', 'usage_data').seq, 'optimisation starts after data completed')
  t.strictSame(run.result, { results: { data, optimisation }, failed: [] })
})

const failures = [
  { kind: 'throw', once: 'thrower', retried: 'retrier', error: (n: string) => ({ code: 'agent_error', message: 'boom' }) },
  { kind: 'timeout', once: 'sleeper', retried: 'sleeper_x3', error: (n: string) => ({ code: 'timeout', message: `agent ${n} timed out after ${n === 'sleeper' ? 100 : 60} ms` }) },
  { kind: 'null', once: 'nuller', retried: 'nuller_x3', error: (n: string) => ({ code: 'invalid_result', message: `agent ${n} returned null` }) },
  { kind: 'invalid result (output_schema)', once: 'invalid', retried: 'invalid_x3', error: (n: string) => ({ code: 'invalid_result', message: `agent ${n} result: must be number` }) }
]

for (const { kind, once, retried, error } of failures) {
  t.test(`${kind} without retries: one attempt, agent_error not retryable, run_failed ${error(once).code}`, async (t) => {
    const app = await build(t, { AGENT_MODULES: `${BAD},${ORCH}` })
    const { run, events } = await runOf(t, app, once)
    const agent = { agent_id: 'agent-1', agent_name: once }
    t.strictSame(shape(events), [
      { type: 'agent_started', data: { ...agent, message: `Running ${once}`, attempt: 1 } },
      { type: 'agent_error', data: { ...agent, error: error(once), retryable: false, attempt: 1 } },
      { type: 'run_failed', data: { error: error(once) } }
    ])
    t.equal(run.status, 'failed')
    t.strictSame(run.error, error(once))
  })

  t.test(`${kind} with 3 attempts: attempts 1..3, retryable until the last`, async (t) => {
    const app = await build(t, { AGENT_MODULES: `${BAD},${ORCH}` })
    const { run, events } = await runOf(t, app, retried)
    const agent = { agent_id: 'agent-1', agent_name: retried }
    const attempt = (n: number, retryable: boolean) => [
      { type: 'agent_started', data: { ...agent, message: `Running ${retried}`, attempt: n } },
      { type: 'agent_error', data: { ...agent, error: error(retried), retryable, attempt: n } }
    ]
    t.strictSame(shape(events), [...attempt(1, true), ...attempt(2, true), ...attempt(3, false), { type: 'run_failed', data: { error: error(retried) } }])
    t.strictSame(run.error, error(retried))
  })
}

t.test('a failed optional step is skipped: its dependants run without its result and `failed` lists it', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'forgiving')
  const backup = { answer: 'from backup' }
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { results: { a: { answer: 'quick' }, fb: backup, last: { got: { fb: backup } } }, failed: ['opt'] })
  const errors = events.filter((e) => e.type === 'agent_error')
  t.strictSame(errors.map((e) => [e.data.agent_name, e.data.error, e.data.retryable]), [
    ['failing', { code: 'agent_error', message: 'step failed' }, false],
    ['failing', { code: 'agent_error', message: 'step failed' }, false]
  ], 'the optional step and the step with a fallback both failed')
  const last = find(events, 'agent_started', 'echo_results')
  t.ok(errors.every((e) => e.seq < last.seq), 'the dependant started after the optional step failed')
  t.strictSame(find(events, 'agent_completed', 'echo_results').data.result, { got: { fb: backup } }, 'the dependant got no result of the skipped step')
  t.strictSame(events.slice(-2).map((e) => [e.type, e.data.agent_name]), [['agent_completed', 'forgiving'], ['run_completed', undefined]])
})

t.test('a failed step with a fallback: the fallback agent runs in its place and its result stands for the step', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'forgiving')
  const root = events[0].data.agent_id
  const backupStarted = find(events, 'agent_started', 'backup')
  t.equal(backupStarted.data.parent_agent_id, root, 'the fallback is a sub-agent of the workflow')
  t.ok(events.some((e) => e.type === 'agent_error' && e.data.agent_name === 'failing' && e.seq < backupStarted.seq), 'it starts after a step failed')
  const backup = find(events, 'agent_completed', 'backup').data.result
  t.strictSame(backup, { answer: 'from backup' })
  const result = run.result as { results: Record<string, unknown>, failed: string[] }
  t.strictSame(result.results.fb, backup, 'the step\'s result is the fallback\'s')
  t.notOk(result.failed.includes('fb'), 'a step saved by its fallback is not failed')
  t.strictSame(fixture.record.starts.map((s) => s.agent).filter((a) => a === 'backup'), ['backup'], 'the fallback ran once')
})

t.test('a required step failing fails the workflow: running siblings are cancelled, later steps never start, run_failed', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH })
  const { run, events } = await runOf(t, app, 'brittle')
  const error = { code: 'agent_error', message: 'step failed late' }
  t.equal(run.status, 'failed')
  t.strictSame(run.error, error)
  const row = (e: Ev) => [e.type, e.data.agent_name ?? null, e.data.error ?? null, e.data.retryable ?? null]
  const rows = events.map(row)
  t.strictSame(rows.slice(0, 3), [
    ['agent_started', 'brittle', null, null],
    ['agent_started', 'quick', null, null],
    ['agent_completed', 'quick', null, null]
  ])
  // the two steps after a start together, in either order
  t.strictSame(rows.slice(3, 5).map(([type, name]) => `${type} ${name}`).sort(), ['agent_started failing_later', 'agent_started long_step'])
  t.strictSame(rows.slice(5), [
    ['agent_error', 'failing_later', error, false],
    ['agent_error', 'long_step', { code: 'cancelled', message: 'workflow step "b" failed' }, false],
    ['agent_error', 'brittle', error, false],
    ['run_failed', null, error, null]
  ])
  t.notOk(events.some((e) => e.data.agent_name === 'echo_results'), 'the step after the failed one never started')
  t.notOk(fixture.record.starts.some((s) => s.agent === 'echo_results'), 'its body never ran')
})
