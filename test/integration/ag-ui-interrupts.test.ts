import { enforceEvents, HttpAgent, verifyEvents } from '@ag-ui/client'
import { randomUUID } from 'node:crypto'
import { from, lastValueFrom, toArray } from 'rxjs'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { type Ag, eventsOf, idBlocks, input } from '../helpers/ag-ui.js'
import { auth, build, tokenFor } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { assertError, getEvents, waitForRun } from '../helpers/http.js'
import { listen, range, until } from '../helpers/ws.js'

const HITL = { AGENT_MODULES: './test/fixtures/hitl-agents.mjs' }
const USER = 'ag-approver'

/** POST /ag-ui/:agent to the end of the response: one AG-UI run. */
async function post (app: App, agent: string, body: Record<string, unknown>, user = USER) {
  // inject holds no handle open while a run waits on its (unref'ed) timers: keep the process up
  const keepAlive = setInterval(() => {}, 1000)
  return await app.inject({ method: 'POST', url: `/ag-ui/${agent}`, headers: auth(user), payload: body }).finally(() => clearInterval(keepAlive))
}

async function stream (app: App, agent: string, body: Record<string, unknown>, user = USER) {
  const res = await post(app, agent, body, user)
  if (res.statusCode !== 200) throw new Error(`POST /ag-ui/${agent} answered ${res.statusCode}: ${res.body}`)
  const blocks = idBlocks(res.body)
  return { blocks, events: eventsOf(blocks) }
}

async function conforms (t: Test, events: Ag[], what: string) {
  const checked = await lastValueFrom(from(events).pipe(enforceEvents(), verifyEvents(), toArray()))
  t.strictSame(checked, events, `${what}: valid AG-UI, verifyEvents passes`)
}

const types = (events: Ag[]) => events.map((e) => e.type === 'CUSTOM' ? `CUSTOM ${e.name}` : e.type)
const status = async (app: App, runId: string) => (await app.inject({ url: `/runs/${runId}`, headers: auth(USER) })).json().status as string

/** An approval run up to its interrupt: the AG-UI run that ended with it, and our run waiting. */
async function interrupted (t: Test, app: App, amount = 500) {
  const first = await stream(app, 'payer', input('pay bob', { forwardedProps: { tool: 'transfer', args: { to: 'bob', amount } } }))
  const started = first.events[0]
  const runId = String(started.runId)
  const threadId = String(started.threadId)
  const ours = await getEvents(app, USER, runId)
  const asked = ours.find((e) => e.type === 'input_requested')!.data as any
  t.equal(await status(app, runId), 'waiting', 'our run waits')
  return { ...first, runId, threadId, asked }
}

const resumeInput = (threadId: string, resume: unknown[]) => input('pay bob', { threadId, resume })

t.test('an approval ends the AG-UI run with the interrupt outcome; resumed with approve, the run goes on', async (t) => {
  const app = await build(t, HITL)
  const first = await interrupted(t, app)
  const { runId, threadId, asked } = first
  t.strictSame(types(first.events), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  const end = first.events.at(-1)!
  t.strictSame(end.outcome, {
    type: 'interrupt',
    interrupts: [{
      id: asked.interrupt_id,
      reason: 'approval',
      message: 'Approve the call to transfer?',
      toolCallId: asked.tool_call_id,
      responseSchema: asked.schema,
      expiresAt: asked.expires_at,
      metadata: { agentwire: { kind: 'approval', agent_name: 'payer', tool_name: 'transfer', arguments: { to: 'bob', amount: 500 } } }
    }]
  }, 'the interrupt: id, reason, the tool call and its arguments, the answer\'s schema, the expiry')
  t.equal(end.result, undefined, 'no result: the run is not over')
  t.equal(first.events[2].delta, 'Paying… ', 'the answer so far')
  await conforms(t, first.events, 'up to the interrupt')

  const second = await stream(app, 'payer', resumeInput(threadId, [{ interruptId: asked.interrupt_id, status: 'resolved', payload: { decision: 'approve' } }]))
  t.strictSame(types(second.events), [
    'RUN_STARTED', 'TEXT_MESSAGE_START', 'CUSTOM agentwire.input_received',
    'TOOL_CALL_START', 'TOOL_CALL_ARGS', 'TOOL_CALL_END', 'TOOL_CALL_RESULT',
    'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'
  ])
  t.match(second.events[0], { runId, threadId, protocolVersion: '1.0' }, 'the same run, going on')
  t.equal(second.events[1].messageId, first.events[1].messageId, 'the answer goes on in the same message')
  t.match(second.events[2].value, { interrupt_id: asked.interrupt_id, by: 'user', decision: 'approve' })
  t.equal(second.events[3].toolCallId, asked.tool_call_id, 'the approved call is the one asked about')
  const run = await waitForRun(app, USER, runId)
  t.strictSame([second.events.at(-1)!.outcome, second.events.at(-1)!.result], [{ type: 'success' }, run.result])
  t.equal(first.events[2].delta + second.events[7].delta, (run.result as { answer: string }).answer, 'the message is the whole answer')
  t.strictSame([...first.blocks, ...second.blocks].filter((b) => !b.id!.includes(':')).map((b) => Number(b.id)), range(1, (await getEvents(app, USER, runId)).at(-1)!.seq), 'the two streams hold each seq once, in order')
  await conforms(t, [...first.events, ...second.events], 'both AG-UI runs')
  const ours = await getEvents(app, USER, runId)
  assertRunContract(t, ours as any)

  // resuming the stream after its interrupt gives the AG-UI run that went on
  const again = await app.inject({ url: `/ag-ui/runs/${runId}/events`, headers: { ...auth(USER), 'last-event-id': first.blocks.at(-1)!.id! } })
  t.strictSame(idBlocks(again.body), second.blocks, 'GET after the interrupt = the resumed AG-UI run')
  const whole = await app.inject({ url: `/ag-ui/runs/${runId}/events`, headers: auth(USER) })
  t.strictSame(idBlocks(whole.body), first.blocks, 'GET from the start = the first AG-UI run, up to its interrupt')
  // after any id, the rest of that AG-UI run, exactly; after the interrupt's end, the next one
  const runs = [first.blocks, second.blocks]
  let exact = 0
  let ids = 0
  for (const [k, blocks] of runs.entries()) {
    for (let i = 0; i < blocks.length; i++) {
      ids++
      const res = await app.inject({ url: `/ag-ui/runs/${runId}/events`, headers: { ...auth(USER), 'last-event-id': blocks[i].id! } })
      const expected = i < blocks.length - 1 ? blocks.slice(i + 1) : (runs[k + 1] ?? [])
      if (t.strictSame(idBlocks(res.body), expected, `after ${blocks[i].id}`, { diagnostic: false })) exact++
    }
  }
  t.equal(exact, ids, `resumed after each of the ${ids} ids: the rest of its AG-UI run, exactly`)
})

t.test('resumed with reject: the call does not run and the run says so', async (t) => {
  const app = await build(t, HITL)
  const first = await interrupted(t, app)
  const { runId, threadId, asked } = first
  const second = await stream(app, 'payer', resumeInput(threadId, [{ interruptId: asked.interrupt_id, status: 'resolved', payload: { decision: 'reject', reason: 'too much' } }]))
  t.strictSame(types(second.events).slice(0, 3), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'CUSTOM agentwire.input_received'])
  t.match(second.events[2].value, { by: 'user', decision: 'reject', reason: 'too much' })
  const result = second.events.find((e) => e.type === 'TOOL_CALL_RESULT')!
  t.match(JSON.parse(result.content), { status: 'error', error: { code: 'rejected' } }, 'the call ends rejected, without running')
  const run = await waitForRun(app, USER, runId)
  t.equal(run.status, 'completed')
  t.equal((run.result as { answer: string }).answer, 'Paying… not sent: the call was rejected: too much')
  t.strictSame(second.events.at(-1)!.outcome, { type: 'success' })
  await conforms(t, [...first.events, ...second.events], 'both AG-UI runs')
})

t.test('resumed with approve and edited arguments, or abandoned (a rejection)', async (t) => {
  const app = await build(t, HITL)
  const edited = await interrupted(t, app)
  const second = await stream(app, 'payer', resumeInput(edited.threadId, [{ interruptId: edited.asked.interrupt_id, status: 'resolved', payload: { decision: 'approve', arguments: { to: 'bob', amount: 120 } } }]))
  t.strictSame(JSON.parse(second.events.find((e) => e.type === 'TOOL_CALL_ARGS')!.delta), { to: 'bob', amount: 120 }, 'the edited arguments')
  t.equal(((await waitForRun(app, USER, edited.runId)).result as { answer: string }).answer, 'Paying… sent 120 to bob.')

  const abandoned = await interrupted(t, app)
  const after = await stream(app, 'payer', resumeInput(abandoned.threadId, [{ interruptId: abandoned.asked.interrupt_id, status: 'cancelled' }]))
  t.match(after.events[2].value, { by: 'user', decision: 'reject', reason: 'abandoned by the AG-UI client' })
  t.equal((await waitForRun(app, USER, abandoned.runId)).status, 'completed')
  await conforms(t, [...abandoned.events, ...after.events], 'abandoned')
})

t.test('a bad resume is refused in words before any stream, and the run keeps waiting', async (t) => {
  const app = await build(t, HITL)
  const { runId, threadId, asked } = await interrupted(t, app)
  const entry = (payload: unknown, extra: Record<string, unknown> = {}) => resumeInput(threadId, [{ interruptId: asked.interrupt_id, status: 'resolved', payload, ...extra }])

  let res = await post(app, 'payer', entry({ decision: 'maybe' }))
  assertError(t, res, 400, 'invalid_request', 'Bad Request')
  t.equal(res.json().message, 'resume[0].payload: /decision must be equal to one of the allowed values')
  res = await post(app, 'payer', entry({ decision: 'approve', arguments: { to: 'bob' } }))
  assertError(t, res, 400, 'invalid_request', 'Bad Request')
  t.equal(res.json().message, "resume[0].payload: /arguments must have required property 'amount'")
  res = await post(app, 'payer', entry({ decision: 'reject', arguments: { to: 'bob', amount: 1 } }))
  t.equal(res.json().message, 'resume[0].payload: arguments go with "approve" only')
  res = await post(app, 'payer', entry('yes'))
  t.equal(res.json().message, 'resume[0].payload must be an object: an approval is answered with {"decision": "approve" | "reject", "reason"?, "arguments"?}')
  res = await post(app, 'payer', entry({ decision: 'approve', comment: 'ok' }))
  t.equal(res.json().message, 'resume[0].payload has "comment": an approval is answered with {"decision": "approve" | "reject", "reason"?, "arguments"?}')
  res = await post(app, 'payer', resumeInput(threadId, [{ interruptId: 'no-such-interrupt', status: 'resolved', payload: { decision: 'approve' } }]))
  assertError(t, res, 404, 'not_found', 'Not Found')
  t.equal(res.json().message, 'interrupt "no-such-interrupt" (resume[0]) in this thread\'s last run not found')
  res = await post(app, 'payer', entry({ decision: 'approve' }), 'ag-mallory')
  assertError(t, res, 404, 'not_found', 'Not Found')
  t.equal(res.json().message, 'thread not found', 'another user cannot answer')
  res = await post(app, 'payer', entry({ decision: 'approve' }, { status: 'maybe' }))
  assertError(t, res, 400, 'invalid_request', 'Bad Request')

  t.equal(await status(app, runId), 'waiting', 'after all that, the run still waits')
  t.notOk((await getEvents(app, USER, runId)).some((e) => e.type === 'input_received'), 'nothing was answered')

  await stream(app, 'payer', entry({ decision: 'approve' }))
  res = await post(app, 'payer', entry({ decision: 'approve' }))
  assertError(t, res, 409, 'interrupt_closed', 'Conflict')
  t.equal(res.json().message, 'resume[0]: the run has ended')
  t.equal((await waitForRun(app, USER, runId)).status, 'completed')
})

t.test('a question: its schema in the outcome, the answer as the payload', async (t) => {
  const app = await build(t, HITL)
  const first = await stream(app, 'asker', input('count'))
  const runId = String(first.events[0].runId)
  const threadId = String(first.events[0].threadId)
  const interrupt = first.events.at(-1)!.outcome.interrupts[0]
  t.match(interrupt, { reason: 'question', message: 'How many?', responseSchema: { type: 'integer', minimum: 1 } })
  t.notOk('toolCallId' in interrupt, 'no tool call')
  const res = await post(app, 'asker', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'resolved', payload: 0 }]))
  t.equal(res.json().message, 'resume[0].payload: answer must be >= 1')
  const cancelled = await post(app, 'asker', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'cancelled' }]))
  assertError(t, cancelled, 400, 'invalid_request', 'Bad Request')
  const second = await stream(app, 'asker', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'resolved', payload: 3 }]))
  t.equal((await waitForRun(app, USER, runId)).status, 'completed')
  const text = [...first.events, ...second.events].filter((e) => e.type === 'TEXT_MESSAGE_CONTENT').map((e) => e.delta).join('')
  t.equal(text, '## Count\n\nAsking you. You said 3.\n\nDone.', 'answer_delta → TEXT_MESSAGE_CONTENT, one message across the wait')
  await conforms(t, [...first.events, ...second.events], 'the question')
})

t.test('an HttpAgent gets the interrupt as pendingInterrupts and resumes the run', async (t) => {
  const server = await listen(t, HITL)
  const agent = new HttpAgent({ url: `${server.url}/ag-ui/payer`, headers: { Authorization: `Bearer ${tokenFor(USER)}` } })
  agent.addMessage({ id: randomUUID(), role: 'user', content: 'pay bob' })
  let runId = ''
  let outcome: string | undefined
  await agent.runAgent({ forwardedProps: { args: { to: 'bob', amount: 500 } } }, {
    onRunStartedEvent: ({ event }) => { runId = event.runId; agent.threadId = event.threadId },
    onRunFinishedEvent: (p) => { outcome = p.outcome }
  })
  t.equal(outcome, 'interrupt')
  t.equal(agent.pendingInterrupts.length, 1)
  const [pending] = agent.pendingInterrupts
  t.equal(pending.reason, 'approval')
  await t.rejects(agent.runAgent({}), /pending interrupt/, 'the client will not go on without an answer')
  const { result } = await agent.runAgent({ resume: [{ interruptId: pending.id, status: 'resolved', payload: { decision: 'approve' } }] }, {
    onRunFinishedEvent: (p) => { outcome = p.outcome }
  })
  t.equal(outcome, 'success')
  t.strictSame(agent.pendingInterrupts, [], 'nothing pending')
  const run = await waitForRun(server.app, USER, runId)
  t.strictSame(result, run.result, 'runAgent resolves with the run\'s result')
  const answer = agent.messages.filter((m) => m.role === 'assistant' && typeof m.content === 'string' && m.content !== '')
  t.strictSame(answer.map((m) => m.content), [(run.result as { answer: string }).answer], 'one assistant message: the whole answer')
  await until(async () => (await status(server.app, runId)) === 'completed' || undefined, 'completed')
})

t.test('an approval inside a workflow step: the step and its sub-agent are suspended, then opened again', async (t) => {
  const app = await build(t, HITL)
  const first = await stream(app, 'pay_flow', input('pay bob', { forwardedProps: { args: { to: 'bob', amount: 500 } } }))
  const runId = String(first.events[0].runId)
  const threadId = String(first.events[0].threadId)
  const end = first.events.at(-1)!
  const [interrupt] = end.outcome.interrupts
  const sub = first.events.find((e) => e.type === 'SUBAGENT_STARTED')!
  t.strictSame(types(first.events), [
    'RUN_STARTED', 'STEP_STARTED', 'SUBAGENT_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT',
    'TEXT_MESSAGE_END', 'SUBAGENT_FINISHED', 'STEP_FINISHED', 'RUN_FINISHED'
  ])
  t.equal(interrupt.subagentRunId, sub.subagentRunId, 'the interrupt is the sub-agent\'s')
  t.strictSame(first.events[6].outcome, { type: 'suspended', interruptIds: [interrupt.id] }, 'the sub-agent is suspended on it')
  await conforms(t, first.events, 'up to the interrupt')

  const second = await stream(app, 'pay_flow', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'approve' } }]))
  t.strictSame(types(second.events).slice(0, 5), ['RUN_STARTED', 'STEP_STARTED', 'SUBAGENT_STARTED', 'TEXT_MESSAGE_START', 'CUSTOM agentwire.input_received'])
  t.strictSame([second.events[1].stepName, second.events[2].subagentRunId, second.events[3].messageId], [first.events[1].stepName, sub.subagentRunId, first.events[3].messageId], 'the same step, sub-agent and message, going on')
  t.equal((await waitForRun(app, USER, runId)).status, 'completed')
  t.strictSame(second.events.at(-1)!.outcome, { type: 'success' })
  await conforms(t, [...first.events, ...second.events], 'both AG-UI runs')
})

t.test('an interrupt that expired: answering it is interrupt_closed, abandoning it streams what the run did meanwhile', async (t) => {
  const app = await build(t, HITL)
  const first = await stream(app, 'payer', input('pay bob', { forwardedProps: { tool: 'quick_transfer', args: { to: 'bob', amount: 5 } } }))
  const runId = String(first.events[0].runId)
  const threadId = String(first.events[0].threadId)
  const [interrupt] = first.events.at(-1)!.outcome.interrupts
  const run = await waitForRun(app, USER, runId)
  t.match((run.result as { answer: string }).answer, /^Paying… not sent: the call was rejected: no answer before the approval/, 'at its expiry the approval\'s default, reject')

  const late = await post(app, 'payer', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'resolved', payload: { decision: 'approve' } }]))
  assertError(t, late, 409, 'interrupt_closed', 'Conflict')
  t.equal(late.json().message, 'resume[0]: the run has ended')

  const moved = await stream(app, 'payer', resumeInput(threadId, [{ interruptId: interrupt.id, status: 'cancelled' }]))
  t.match(moved.events[2], { type: 'CUSTOM', name: 'agentwire.input_received', value: { by: 'expiry', decision: 'reject' } })
  t.strictSame(moved.events.at(-1)!.outcome, { type: 'success' }, 'the thread moves past it')
  await conforms(t, [...first.events, ...moved.events], 'expired, then abandoned')
})
