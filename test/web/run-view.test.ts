import t from 'tap'
import { newRun, onEvent, reduceRun, runFromEvents, runStats, type PageEvent } from '../../web/src/state/run-view.js'

const R = 'run-1'
const T = 'thread-1'
let ts = 1796064305
const ev = (seq: number, type: string, data: Record<string, unknown>): PageEvent => ({ type, seq, run_id: R, thread_id: T, data: { timestamp: ts++, ...data } })
const A = { agent_id: 'a1', agent_name: 'supervisor' }
const B = { agent_id: 'b1', agent_name: 'data' }

/** a supervisor calling `data`, which runs a tool that fails then one that succeeds; `data` is retried once */
const story: PageEvent[] = [
  ev(1, 'agent_started', { ...A, message: 'Running supervisor', attempt: 1 }),
  ev(2, 'agent_thinking', { ...A, thought: 'first, the data' }),
  ev(3, 'agent_started', { ...B, message: 'Running data', attempt: 1, parent_agent_id: 'a1', step_id: 'fetch' }),
  ev(4, 'tool_executing', { ...B, tool_name: 'usage_summary', tool_call_id: 't1', parameters: { by: 'model' } }),
  ev(5, 'tool_progress', { ...B, tool_name: 'usage_summary', tool_call_id: 't1', message: 'half way', progress: 0.5 }),
  ev(6, 'tool_completed', { ...B, tool_name: 'usage_summary', tool_call_id: 't1', status: 'error', error: { code: 'interrupted', message: 'lost' }, duration_ms: 12 }),
  ev(7, 'agent_error', { ...B, error: { code: 'interrupted', message: 'lost' }, retryable: true, attempt: 1 }),
  ev(8, 'agent_started', { ...B, message: 'Running data', attempt: 2, parent_agent_id: 'a1', step_id: 'fetch' }),
  ev(9, 'tool_executing', { ...B, tool_name: 'usage_summary', tool_call_id: 't2', parameters: { by: 'model' } }),
  ev(10, 'tool_completed', { ...B, tool_name: 'usage_summary', tool_call_id: 't2', status: 'success', result: { total: 3 }, duration_ms: 20.5 }),
  ev(11, 'agent_completed', { ...B, result: { total: 3 }, attempt: 2, duration_ms: 40 }),
  ev(12, 'agent_completed', { ...A, attempt: 1, duration_ms: 90 }),
  ev(13, 'run_completed', { result: { answer: '## Spend\n\n$3' } })
]

t.test('a run with a sub-agent, a failed tool, a retry and an answer', async (t) => {
  const view = runFromEvents(R, T, story)
  t.equal(view.lastSeq, 13)
  t.equal(view.status, 'completed')
  t.equal(view.answer, '## Spend\n\n$3')
  t.strictSame(view.roots, ['a1'])
  t.strictSame(view.agents.a1.steps, [{ kind: 'thought', text: 'first, the data', seq: 2 }, { kind: 'agent', agent_id: 'b1' }])
  t.strictSame(view.agents.b1.steps, [
    { kind: 'tool', tool_call_id: 't1' },
    { kind: 'attempt_failed', attempt: 1, error: { code: 'interrupted', message: 'lost' }, retryable: true, seq: 7 },
    { kind: 'attempt', attempt: 2, seq: 8 },
    { kind: 'tool', tool_call_id: 't2' }
  ])
  t.equal(view.agents.b1.status, 'completed')
  t.equal(view.agents.b1.attempt, 2)
  t.equal(view.agents.b1.step_id, 'fetch')
  t.equal(view.agents.b1.error, undefined, 'a later attempt clears the earlier error')
  t.strictSame(view.tools.t1, {
    tool_call_id: 't1',
    tool_name: 'usage_summary',
    agent_id: 'b1',
    parameters: { by: 'model' },
    status: 'error',
    progress: { message: 'half way', fraction: 0.5 },
    progress_log: ['half way'],
    error: { code: 'interrupted', message: 'lost' },
    duration_ms: 12,
    started_at: view.tools.t1.started_at
  })
  t.equal(view.tools.t2.status, 'success')
  t.strictSame(view.tools.t2.result, { total: 3 })
  t.strictSame(view.agents.b1.result, { total: 3 }, 'a sub-agent keeps its result')
  t.notOk('result' in view.agents.a1, 'the root has none: the answer is the run\'s')
  t.strictSame(runStats(view), { agents: 2, tools: 2, failedTools: 1, retries: 1 })
})

t.test('replayed and live events overlap: each seq applies once; a gap is refused', async (t) => {
  const view = newRun(R, T)
  t.strictSame(story.slice(0, 5).map((e) => reduceRun(view, e)), ['ok', 'ok', 'ok', 'ok', 'ok'])
  t.strictSame(story.slice(2, 6).map((e) => reduceRun(view, e)), ['old', 'old', 'old', 'ok'], 'the live feed repeats what history had')
  t.equal(reduceRun(view, story[8]), 'gap', 'seq 9 after 6: events are missing')
  t.equal(view.lastSeq, 6, 'a refused event changes nothing')
  t.equal(view.tools.t2, undefined)
  t.equal(reduceRun(view, story[6]), 'ok')
  t.equal(view.agents.b1.status, 'retrying')
})

t.test('terminal events: failed with its error, cancelled with its reason, queued with its position', async (t) => {
  const failed = runFromEvents(R, T, [ev(1, 'run_queued', { position: 2 })])
  t.equal(failed.status, 'queued')
  t.equal(failed.queue_position, 2)
  reduceRun(failed, ev(2, 'agent_started', { ...A, message: 'm', attempt: 1 }))
  t.equal(failed.status, 'running', 'the first agent starting ends the wait')
  reduceRun(failed, ev(3, 'agent_error', { ...A, error: { code: 'timeout', message: 'too slow' }, retryable: false, attempt: 1 }))
  reduceRun(failed, ev(4, 'run_failed', { error: { code: 'timeout', message: 'too slow' } }))
  t.equal(failed.status, 'failed')
  t.equal(failed.agents.a1.status, 'failed')
  t.strictSame(failed.error, { code: 'timeout', message: 'too slow' })
  t.equal(failed.answer, undefined)

  const cancelled = runFromEvents(R, T, [ev(1, 'agent_started', { ...A, message: 'm', attempt: 1 }), ev(2, 'run_cancelled', { reason: 'user' })])
  t.equal(cancelled.status, 'cancelled')
  t.equal(cancelled.cancel_reason, 'user')

  const stopped = runFromEvents(R, T, [
    ev(1, 'agent_started', { ...A, message: 'm', attempt: 1 }),
    ev(2, 'tool_executing', { ...A, tool_name: 'wait', tool_call_id: 't1', parameters: {} }),
    ev(3, 'tool_completed', { ...A, tool_name: 'wait', tool_call_id: 't1', status: 'cancelled', error: { code: 'cancelled', message: 'run cancelled' }, duration_ms: 3 }),
    ev(4, 'agent_error', { ...A, error: { code: 'cancelled', message: 'run cancelled' }, retryable: false, attempt: 1 })
  ])
  t.equal(stopped.agents.a1.status, 'cancelled', 'a cancelled agent is not shown as failed')
  t.strictSame(runStats(stopped), { agents: 1, tools: 1, failedTools: 0, retries: 0 }, 'nor is its cancelled tool call')
})

t.test('answers: a string result, an answer field, anything else as JSON', async (t) => {
  t.equal(runFromEvents(R, T, [ev(1, 'run_completed', { result: 'plain' })]).answer, 'plain')
  t.equal(runFromEvents(R, T, [ev(1, 'run_completed', { result: { answer: 'x', more: 1 } })]).answer, 'x')
  t.equal(runFromEvents(R, T, [ev(1, 'run_completed', { result: { n: 1 } })]).answer, '```json\n{\n  "n": 1\n}\n```')
})

t.test('event types the page does not know are kept in order, and a new type can get a reducer', async (t) => {
  const view = runFromEvents(R, T, [
    ev(1, 'agent_started', { ...A, message: 'm', attempt: 1 }),
    ev(2, 'agent_mood', { ...A, mood: 'curious' }),
    ev(3, 'something_new', { n: 1 })
  ])
  t.strictSame(view.agents.a1.steps.map((s) => s.kind === 'event' ? s.event.type : s.kind), ['agent_mood'], 'an agent\'s unknown event sits in its steps')
  t.strictSame(view.other.map((e) => e.type), ['something_new'], 'a run-level one in `other`')
  t.equal(view.lastSeq, 3, 'unknown events still advance the seq')

  // how a streamed answer slots in: answer_delta appends to the answer
  onEvent('answer_delta', (v, e) => { v.answer = (v.answer ?? '') + String(e.data.delta) })
  const streamed = runFromEvents(R, T, [ev(1, 'answer_delta', { delta: 'Hel' }), ev(2, 'answer_delta', { delta: 'lo' })])
  t.equal(streamed.answer, 'Hello')
  t.strictSame(streamed.other, [])
})
