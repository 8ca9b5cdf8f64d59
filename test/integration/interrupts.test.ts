import t from 'tap'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract, runContractViolations } from '../helpers/contract.js'
import { getEvents, postMessage, waitForRun } from '../helpers/http.js'
import { connected, listen, until } from '../helpers/ws.js'

const HITL = './test/fixtures/hitl-agents.mjs'
const USER = 'approver'

interface Ev { type: string, seq: number, data: any }

const events = async (app: App, runId: string, user = USER) => await getEvents(app, user, runId) as unknown as Ev[]
const eventsWhen = (app: App, runId: string, done: (events: Ev[]) => boolean, what: string) =>
  until(async () => { const e = await events(app, runId); return done(e) ? e : undefined }, what)
const asked = (app: App, runId: string) => eventsWhen(app, runId, (e) => e.some((x) => x.type === 'input_requested'), 'input_requested')
  .then((e) => e.find((x) => x.type === 'input_requested')!)
const resume = (app: App, runId: string, body: Record<string, unknown>, user = USER) =>
  app.inject({ method: 'POST', url: `/runs/${runId}/resume`, headers: auth(user), payload: body })
const status = async (app: App, runId: string, user = USER) =>
  (await app.inject({ method: 'GET', url: `/runs/${runId}`, headers: auth(user) })).json().status as string

/** Types, with the closing input_received's `by` and decision, the tool status and error code. */
const story = (list: readonly Ev[]) => list.map((e) => {
  if (e.type === 'input_received') return `input_received ${e.data.by} ${e.data.decision ?? JSON.stringify(e.data.answer) ?? '-'}`
  if (e.type === 'tool_completed') return `tool_completed ${e.data.status}${e.data.error ? ` ${e.data.error.code}` : ''}`
  if (e.type === 'agent_error') return `agent_error ${e.data.error.code}`
  return e.type
})
const streamed = (list: readonly Ev[]) => list.filter((e) => e.type === 'answer_delta')
  .reduce((text, e) => e.data.reset ? e.data.delta : text + e.data.delta, '')

t.test('approve: the tool call waits in input_requested, the run reads waiting, an approval runs it', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  const request = await asked(app, runId)
  t.match(request.data, {
    agent_name: 'payer',
    kind: 'approval',
    tool_name: 'transfer',
    arguments: { to: 'bob', amount: 500 },
    schema: { type: 'object', required: ['decision'], properties: { decision: { enum: ['approve', 'reject'] }, arguments: { required: ['to', 'amount'] } } }
  })
  t.type(request.data.interrupt_id, 'string')
  t.ok(Date.parse(request.data.expires_at) > Date.now(), 'expires_at is ahead')
  await until(async () => (await status(app, runId)) === 'waiting' || undefined, 'status waiting')

  const res = await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'approve' })
  t.equal(res.statusCode, 202)
  t.strictSame(res.json(), { run_id: runId, interrupt_id: request.data.interrupt_id })
  const run = await waitForRun(app, USER, runId)
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { answer: 'Paying… sent 500 to bob.', result: { sent: 500, to: 'bob' } })
  const all = await events(app, runId)
  t.strictSame(story(all), ['agent_started', 'answer_delta', 'input_requested', 'input_received user approve', 'tool_executing', 'tool_completed success', 'answer_delta', 'agent_completed', 'run_completed'])
  const executing = all.find((e) => e.type === 'tool_executing')!
  t.equal(executing.data.tool_call_id, request.data.tool_call_id, 'the approved call is the call asked about')
  t.strictSame(executing.data.parameters, { to: 'bob', amount: 500 })
  t.equal(streamed(all), 'Paying… sent 500 to bob.', 'the deltas add up to the answer')
  assertRunContract(t, all as any)

  const again = await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'reject' })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'interrupt_closed')
})

t.test('a call its rule lets through asks nothing', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 5 } } })
  await waitForRun(app, USER, runId)
  t.strictSame(story(await events(app, runId)), ['agent_started', 'answer_delta', 'tool_executing', 'tool_completed success', 'answer_delta', 'agent_completed', 'run_completed'])
})

t.test('reject: the call ends tool_completed error rejected with the reason, and the tool never runs', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'mallory', amount: 900 } } })
  const request = await asked(app, runId)
  t.equal((await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'reject', reason: 'not to mallory' })).statusCode, 202)
  const run = await waitForRun(app, USER, runId)
  t.strictSame(run.result, { answer: 'Paying… not sent: the call was rejected: not to mallory', rejected: 'rejected' })
  const all = await events(app, runId)
  // the agent streamed only the answer's start: the run's end sends the rest
  t.strictSame(story(all), ['agent_started', 'answer_delta', 'input_requested', 'input_received user reject', 'tool_executing', 'tool_completed error rejected', 'agent_completed', 'answer_delta', 'run_completed'])
  t.strictSame(all.filter((e) => e.type === 'answer_delta').map((e) => e.data.delta), ['Paying… ', 'not sent: the call was rejected: not to mallory'])
  t.match(all.find((e) => e.type === 'input_received')!.data, { kind: 'approval', reason: 'not to mallory', agent_name: 'payer' })
  t.strictSame(all.find((e) => e.type === 'tool_completed')!.data.error, { code: 'rejected', message: 'the call was rejected: not to mallory' })
  t.equal(streamed(all), run.result && (run.result as { answer: string }).answer)
  assertRunContract(t, all as any)
})

t.test('edit: approved arguments replace the call\'s', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  const request = await asked(app, runId)
  const res = await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'approve', arguments: { to: 'bob', amount: 50 }, reason: 'less' })
  t.equal(res.statusCode, 202)
  const run = await waitForRun(app, USER, runId)
  t.strictSame(run.result, { answer: 'Paying… sent 50 to bob.', result: { sent: 50, to: 'bob' } })
  const all = await events(app, runId)
  t.strictSame(all.find((e) => e.type === 'input_received')!.data.arguments, { to: 'bob', amount: 50 })
  t.strictSame(all.find((e) => e.type === 'tool_executing')!.data.parameters, { to: 'bob', amount: 50 }, 'the call runs with the edited arguments')
  assertRunContract(t, all as any)
})

t.test('bad answers are invalid_request and the run keeps waiting; then a good one goes through', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const pay = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  const approval = await asked(app, pay.run_id)
  const id = approval.data.interrupt_id
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ interrupt_id: id, decision: 'maybe' }, /decision/],
    [{ interrupt_id: id }, /decision/],
    [{ interrupt_id: id, answer: 'yes' }, /decision/],
    [{ interrupt_id: id, decision: 'approve', arguments: { to: 'bob', amount: 'lots' } }, /amount/],
    [{ interrupt_id: id, decision: 'approve', arguments: { to: 'bob' } }, /amount/],
    [{ interrupt_id: id, decision: 'reject', arguments: { to: 'bob', amount: 1 } }, /approve/],
    [{ interrupt_id: id, decision: 'approve', extra: 1 }, /.+/]
  ]
  for (const [body, message] of bad) {
    const res = await resume(app, pay.run_id, body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.equal(res.json().code, 'invalid_request')
    t.match(res.json().message, message)
  }
  // an answer the run could not record in one event (CONTRACT §5) is refused before it is stored
  const huge = await resume(app, pay.run_id, { interrupt_id: id, decision: 'approve', arguments: { to: 'b'.repeat(70_000), amount: 500 } })
  t.strictSame([huge.statusCode, huge.json().code], [413, 'payload_too_large'])
  t.match(huge.json().message, /^the answer makes an event of 70\d{3} bytes; a run event holds at most 64000$/)
  const unknown = await resume(app, pay.run_id, { interrupt_id: 'no-such-interrupt', decision: 'approve' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'not_found')
  t.equal(await status(app, pay.run_id), 'waiting', 'still waiting')
  t.equal((await resume(app, pay.run_id, { interrupt_id: id, decision: 'approve' })).statusCode, 202)
  t.equal((await waitForRun(app, USER, pay.run_id)).status, 'completed')

  const ask = await postMessage(app, USER, { content: 'count', agent: 'asker', input: {} })
  const question = await asked(app, ask.run_id)
  t.match(question.data, { kind: 'question', question: 'How many?', schema: { type: 'integer', minimum: 1 } })
  t.notOk('tool_name' in question.data)
  for (const body of [{ answer: 'three' }, { answer: 0 }, { answer: 2.5 }, { decision: 'approve' }, {}]) {
    const res = await resume(app, ask.run_id, { interrupt_id: question.data.interrupt_id, ...body })
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.equal(res.json().code, 'invalid_request')
  }
  t.equal(await status(app, ask.run_id), 'waiting')
  t.equal((await resume(app, ask.run_id, { interrupt_id: question.data.interrupt_id, answer: 3 })).statusCode, 202)
  const run = await waitForRun(app, USER, ask.run_id)
  t.strictSame(run.result, { answer: '## Count\n\nAsking you. You said 3.\n\nDone.', n: 3 })
  const all = await events(app, ask.run_id)
  t.strictSame(story(all), ['agent_started', 'answer_delta', 'answer_delta', 'input_requested', 'input_received user 3', 'answer_delta', 'answer_delta', 'agent_completed', 'run_completed'])
  t.equal(streamed(all), '## Count\n\nAsking you. You said 3.\n\nDone.')
  assertRunContract(t, all as any)
})

t.test('expiry: the tool\'s default applies (reject unless it says approve), a question gets its default', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const rejected = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { tool: 'quick_transfer', args: { to: 'bob', amount: 1 } } })
  const approved = await postMessage(app, USER, { content: 'refund', agent: 'payer', input: { tool: 'quick_refund', args: { to: 'bob', amount: 2 } } })
  const defaulted = await postMessage(app, USER, { content: 'count', agent: 'asker', input: { expires_in_s: 1, default: 7 } })
  const none = await postMessage(app, USER, { content: 'count', agent: 'asker', input: { expires_in_s: 1 } })

  const r1 = await waitForRun(app, USER, rejected.run_id, 5000)
  t.strictSame(r1.result, { answer: 'Paying… not sent: the call was rejected: no answer before the approval expired', rejected: 'rejected' })
  const e1 = await events(app, rejected.run_id)
  t.match(e1.find((e) => e.type === 'input_received')!.data, { by: 'expiry', decision: 'reject', reason: 'no answer before the approval expired' })

  const r2 = await waitForRun(app, USER, approved.run_id, 5000)
  t.strictSame(r2.result, { answer: 'Paying… sent 2 to bob.', result: { sent: 2, to: 'bob' } })
  t.match((await events(app, approved.run_id)).find((e) => e.type === 'input_received')!.data, { by: 'expiry', decision: 'approve' })

  const r3 = await waitForRun(app, USER, defaulted.run_id, 5000)
  t.equal((r3.result as { n: number }).n, 7)
  const r4 = await waitForRun(app, USER, none.run_id, 5000)
  t.equal((r4.result as { n: unknown }).n, null, 'no default: the ask resolves with undefined')
  const e4 = await events(app, none.run_id)
  t.notOk('answer' in e4.find((e) => e.type === 'input_received')!.data)

  for (const runId of [rejected.run_id, approved.run_id, defaulted.run_id, none.run_id]) {
    const all = await events(app, runId)
    t.strictSame(runContractViolations(all as any), [], `run ${runId} keeps the contract`)
    const interruptId = all.find((e) => e.type === 'input_requested')!.data.interrupt_id
    const late = await resume(app, runId, { interrupt_id: interruptId, decision: 'approve' })
    t.equal(late.statusCode, 409, 'an answer after the expiry is refused')
  }
})

t.test('a question whose default is too large for its event fails the agent with event_too_large before it asks', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const ask = await postMessage(app, USER, { content: 'count', agent: 'asker', input: { default: 'x'.repeat(70_000) } })
  t.equal((await waitForRun(app, USER, ask.run_id)).status, 'failed')
  const all = await events(app, ask.run_id)
  t.strictSame(story(all), ['agent_started', 'answer_delta', 'answer_delta', 'agent_error event_too_large', 'run_failed'])
  t.match(all.at(-1)!.data.error.message, /^input_received would be 70\d{3} bytes of JSON; a run event holds at most 64000$/)
  assertRunContract(t, all as any)
})

t.test('cancel while waiting: input_received by cancel, agent_error cancelled, run_cancelled', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'count', agent: 'asker', input: {} })
  await asked(app, runId)
  const res = await app.inject({ method: 'POST', url: `/runs/${runId}/cancel`, headers: auth(USER) })
  t.equal(res.statusCode, 202)
  t.strictSame(res.json(), { run_id: runId, status: 'cancelled' })
  const all = await events(app, runId)
  t.strictSame(story(all), ['agent_started', 'answer_delta', 'answer_delta', 'input_requested', 'input_received cancel -', 'agent_error cancelled', 'run_cancelled'])
  assertRunContract(t, all as any)
  const late = await resume(app, runId, { interrupt_id: all[3].data.interrupt_id, answer: 2 })
  t.equal(late.statusCode, 409)
})

t.test('only the run\'s owner answers: another user gets not_found and the run keeps waiting', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL })
  const { run_id: runId } = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  const request = await asked(app, runId)
  const res = await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'approve' }, 'intruder')
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'not_found')
  t.equal(await status(app, runId), 'waiting')
  t.notOk((await events(app, runId)).some((e) => e.type === 'input_received'))
  t.equal((await resume(app, runId, { interrupt_id: request.data.interrupt_id, decision: 'approve' })).statusCode, 202)
  t.equal((await waitForRun(app, USER, runId)).status, 'completed')
})

t.test('a waiting run holds no run slot: with MAX_RUNS_PER_USER=1 and MAX_RUNS=1 the next run starts at once', async (t) => {
  const app = await build(t, { AGENT_MODULES: HITL, MAX_RUNS_PER_USER: '1', MAX_RUNS: '1' })
  const waiting = await postMessage(app, USER, { content: 'count', agent: 'asker', input: {} })
  const request = await asked(app, waiting.run_id)
  await until(async () => (await status(app, waiting.run_id)) === 'waiting' || undefined, 'status waiting')
  const stats = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth(USER) })).json()
  t.match(stats.runs, { running: 0, waiting: 1 })
  const next = await postMessage(app, USER, { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 1 } } })
  t.equal(next.status, 'running', 'claimed at once')
  t.equal((await waitForRun(app, USER, next.run_id)).status, 'completed')
  t.notOk((await events(app, next.run_id)).some((e) => e.type === 'run_queued'))
  t.equal((await resume(app, waiting.run_id, { interrupt_id: request.data.interrupt_id, answer: 1 })).statusCode, 202)
  t.equal((await waitForRun(app, USER, waiting.run_id)).status, 'completed')
})

t.test('the resume frame, and a client resuming mid-answer gets the rest of the answer exactly once', async (t) => {
  const server = await listen(t, { AGENT_MODULES: HITL })
  const first = await connected(t, server.wsUrl, auth(USER))
  first.send({ type: 'message', id: 'm', content: 'count', agent: 'asker', input: {} })
  const accepted = await first.waitFor((f) => f.type === 'message_accepted', 'message_accepted')
  const runId = accepted.data.run_id as string
  const request = await first.waitFor((f) => f.type === 'input_requested', 'input_requested')
  const seen = first.events(runId)
  t.strictSame(seen.map((e) => e.type), ['agent_started', 'answer_delta', 'answer_delta', 'input_requested'])
  first.terminate()

  const other = await connected(t, server.wsUrl, auth('intruder'))
  other.send({ type: 'resume', id: 'x', run_id: runId, interrupt_id: request.data.interrupt_id, answer: 4 })
  const refused = await other.waitFor((f) => f.type === 'error' && f.reply_to === 'x', 'the intruder\'s error')
  t.equal(refused.data.code, 'not_found')

  const second = await connected(t, server.wsUrl, auth(USER))
  second.send({ type: 'resume', id: 'bad', run_id: runId, interrupt_id: request.data.interrupt_id, answer: 'four' })
  t.equal((await second.waitFor((f) => f.type === 'error' && f.reply_to === 'bad', 'invalid_request')).data.code, 'invalid_request')
  second.send({ type: 'subscribe', run_id: runId, after_seq: seen.at(-1)!.seq })
  await second.waitFor((f) => f.type === 'subscribed', 'subscribed')
  second.send({ type: 'resume', id: 'r', run_id: runId, interrupt_id: request.data.interrupt_id, answer: 4 })
  const ok = await second.waitFor((f) => f.type === 'resume_accepted', 'resume_accepted')
  t.strictSame(ok, { type: 'resume_accepted', reply_to: 'r', data: { run_id: runId, interrupt_id: request.data.interrupt_id } })
  const rest = await second.runEnd(runId)
  const whole = [...seen, ...rest]
  t.strictSame(whole.map((e) => e.seq), whole.map((_, i) => i + 1), 'every event once, in order')
  t.equal(streamed(whole as Ev[]), '## Count\n\nAsking you. You said 4.\n\nDone.')
  t.strictSame(whole, await events(server.app, runId), 'the client saw exactly what is stored')
  assertRunContract(t, whole as any)
})

t.test('the pack: actions asks before planning a customer-facing feature\'s move to a cheaper model; approve plans it, reject or no answer leaves it out', async (t) => {
  const app = await build(t)
  const rec = (type: string, feature: string, savings: number) => ({
    type,
    title: `${type} ${feature}`,
    monthly_savings_usd: savings,
    savings_pct: 0.2,
    confidence: 'high',
    risk: 'r',
    evidence: { feature, moves: [{ from: 'big', to: 'small', requests: 10, current_cost_usd: 40, new_cost_usd: 10 }] }
  })
  // support-chat is customer-facing (the pack goes by the feature's name); classify is not, and caching changes no model
  const recommendations = [rec('tiering', 'support-chat', 300), rec('tiering', 'classify', 100), rec('caching', 'support-chat', 20)]
  const plan = async (input: Record<string, unknown>, answer?: boolean) => {
    const { run_id: runId } = await postMessage(app, USER, { content: 'plan', agent: 'actions', input: { recommendations, ...input } })
    const request = await asked(app, runId)
    t.match(request.data, {
      agent_name: 'actions',
      kind: 'question',
      schema: { type: 'boolean' },
      question: /^Plan moving support-chat, a customer-facing feature, to a cheaper model\? It would save about \$300\.00 a month, and its users would get the cheaper model's answers\. Without an answer within /
    })
    if (answer !== undefined) t.equal((await resume(app, runId, { interrupt_id: request.data.interrupt_id, answer })).statusCode, 202)
    const run = await waitForRun(app, USER, runId)
    t.equal(run.status, 'completed')
    const all = await events(app, runId)
    t.equal(all.filter((e) => e.type === 'input_requested').length, 1, 'one question: the only customer-facing move')
    assertRunContract(t, all as any)
    const result = run.result as { phases: Array<{ steps: Array<{ title: string }> }>, risks: string[] }
    return { steps: result.phases.flatMap((p) => p.steps.map((s) => s.title)), risks: result.risks, received: story(all).find((x) => x.startsWith('input_received')) }
  }

  const approved = await plan({}, true)
  t.equal(approved.received, 'input_received user true')
  t.strictSame(approved.steps, ['caching support-chat', 'tiering support-chat', 'tiering classify'], 'approved: the move is planned')
  t.notOk(approved.risks.some((r) => r.startsWith('Left out')), 'nothing left out')

  const rejected = await plan({}, false)
  t.equal(rejected.received, 'input_received user false')
  t.strictSame(rejected.steps, ['caching support-chat', 'tiering classify'], 'rejected: the move is not planned')
  t.equal(rejected.risks.at(-1), 'Left out, as you asked: tiering support-chat (about $300.00 a month); support-chat stays on its current model.')

  const expired = await plan({ ask_expires_in_s: 1 })
  t.equal(expired.received, 'input_received expiry -', 'unanswered, the question expires')
  t.strictSame(expired.steps, ['caching support-chat', 'tiering classify'], 'expired: the conservative default, the move left out')
  t.equal(expired.risks.at(-1), 'Left out, as nobody answered in time whether to move support-chat, a customer-facing feature: tiering support-chat (about $300.00 a month); it stays on its current model.')

  const unattended = await postMessage(app, USER, { content: 'plan', agent: 'actions', input: { recommendations, ask: false } })
  const run = await waitForRun(app, USER, unattended.run_id)
  t.notOk((await events(app, unattended.run_id)).some((e) => e.type === 'input_requested'), 'with "ask": false nothing is asked')
  t.equal((run.result as { risks: string[] }).risks.at(-1), 'Left out, as nobody was there to say whether to move support-chat, a customer-facing feature: tiering support-chat (about $300.00 a month); it stays on its current model.')

  const internal = await postMessage(app, USER, { content: 'plan', agent: 'actions', input: { recommendations: recommendations.slice(1) } })
  await waitForRun(app, USER, internal.run_id)
  t.notOk((await events(app, internal.run_id)).some((e) => e.type === 'input_requested'), 'no customer-facing move, no question')
})

t.test('the pack streams its answer section by section, and the deltas add up to it', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'POST', url: '/usage/sample', headers: auth(USER), payload: { profile: 'team' } })).statusCode, 200)
  const { run_id: runId } = await postMessage(app, USER, { content: 'How can we cut our LLM costs?' })
  const run = await waitForRun(app, USER, runId)
  const all = await events(app, runId)
  const deltas = all.filter((e) => e.type === 'answer_delta')
  t.ok(deltas.length > 3, 'section by section')
  t.ok(deltas.every((e) => e.data.agent_name === 'supervisor'), 'written by the supervisor')
  t.equal(streamed(all), (run.result as { answer: string }).answer)
  assertRunContract(t, all as any)
})
