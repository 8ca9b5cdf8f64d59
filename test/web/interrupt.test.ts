import t from 'tap'
import { argumentsSchema, parseArguments, problems, questionAnswer, questionForm, receivedText } from '../../web/src/state/interrupt.js'
import { openInterrupts, runFromEvents, type Interrupt, type PageEvent } from '../../web/src/state/run-view.js'

const R = 'run-1'
const T = 'thread-1'
const A = { agent_id: 'a1', agent_name: 'payer' }
const ev = (seq: number, type: string, data: Record<string, unknown>): PageEvent => ({ type, seq, run_id: R, thread_id: T, data: { timestamp: 1796064305 + seq, ...data } })
const TOOL_SCHEMA = { type: 'object', properties: { to: { type: 'string', minLength: 1 }, amount: { type: 'number', minimum: 0 } }, required: ['to', 'amount'], additionalProperties: false }
const APPROVAL_SCHEMA = {
  type: 'object',
  properties: { decision: { enum: ['approve', 'reject'] }, reason: { type: 'string', maxLength: 1000 }, arguments: TOOL_SCHEMA },
  required: ['decision'],
  additionalProperties: false
}
const EXPIRES = '2026-11-30T23:00:00.000Z'
const approval = (seq: number, id = 'i1') => ev(seq, 'input_requested', { ...A, interrupt_id: id, kind: 'approval', tool_name: 'transfer', tool_call_id: `call-${id}`, arguments: { to: 'bob', amount: 500 }, schema: APPROVAL_SCHEMA, expires_at: EXPIRES })
const question = (seq: number, id = 'q1', schema: unknown = { type: 'integer', minimum: 1 }) => ev(seq, 'input_requested', { ...A, interrupt_id: id, kind: 'question', question: 'How many?', schema, expires_at: EXPIRES })
const started = ev(1, 'agent_started', { ...A, message: 'Running payer', attempt: 1 })

t.test('input_requested opens an interrupt and the run waits; input_received closes it with the decision', async (t) => {
  const view = runFromEvents(R, T, [started, approval(2)])
  t.equal(view.status, 'waiting')
  t.strictSame(view.interrupts.i1, {
    interrupt_id: 'i1',
    kind: 'approval',
    agent_id: 'a1',
    agent_name: 'payer',
    tool_name: 'transfer',
    tool_call_id: 'call-i1',
    arguments: { to: 'bob', amount: 500 },
    schema: APPROVAL_SCHEMA,
    expires_at: EXPIRES,
    seq: 2
  })
  t.strictSame(view.agents.a1.steps, [{ kind: 'interrupt', interrupt_id: 'i1' }], 'the interrupt sits in its agent\'s steps')
  t.strictSame(openInterrupts(view).map((i) => i.interrupt_id), ['i1'])

  const after = runFromEvents(R, T, [started, approval(2), ev(3, 'input_received', { ...A, interrupt_id: 'i1', kind: 'approval', by: 'user', decision: 'approve', arguments: { to: 'carol', amount: 50 } })])
  t.equal(after.status, 'running', 'answered: the run goes on')
  t.strictSame(after.interrupts.i1.received, { by: 'user', decision: 'approve', arguments: { to: 'carol', amount: 50 }, seq: 3 })
  t.strictSame(openInterrupts(after), [])
})

t.test('two open interrupts: the run waits until both are closed; a cancel closes them before the run ends', async (t) => {
  const view = runFromEvents(R, T, [started, approval(2, 'i1'), question(3, 'q1'),
    ev(4, 'input_received', { ...A, interrupt_id: 'q1', kind: 'question', by: 'user', answer: 3 })])
  t.equal(view.status, 'waiting', 'one is still open')
  t.strictSame(openInterrupts(view).map((i) => i.interrupt_id), ['i1'])
  t.strictSame(view.interrupts.q1.received, { by: 'user', answer: 3, seq: 4 })

  const cancelled = runFromEvents(R, T, [started, approval(2),
    ev(3, 'input_received', { ...A, interrupt_id: 'i1', kind: 'approval', by: 'cancel' }),
    ev(4, 'agent_error', { ...A, error: { code: 'cancelled', message: 'run cancelled' }, retryable: false, attempt: 1 }),
    ev(5, 'run_cancelled', { reason: 'user' })])
  t.equal(cancelled.status, 'cancelled')
  t.strictSame(cancelled.interrupts.i1.received, { by: 'cancel', seq: 3 })
  t.equal(receivedText(cancelled.interrupts.i1, cancelled.interrupts.i1.received!), 'Closed unanswered: the run ended.')
})

t.test('an input_received of an unknown interrupt changes nothing; a replayed one applies once', async (t) => {
  const view = runFromEvents(R, T, [started, approval(2), ev(3, 'input_received', { ...A, interrupt_id: 'other', kind: 'approval', by: 'user', decision: 'reject' })])
  t.equal(view.status, 'waiting')
  t.equal(view.interrupts.other, undefined)
  t.equal(view.lastSeq, 3)
})

t.test('the decisions in words', async (t) => {
  const i = runFromEvents(R, T, [started, approval(2)]).interrupts.i1
  const q = runFromEvents(R, T, [started, question(2)]).interrupts.q1
  t.equal(receivedText(i, { by: 'user', decision: 'approve', seq: 3 }), 'You approved transfer.')
  t.equal(receivedText(i, { by: 'user', decision: 'approve', arguments: { to: 'x', amount: 1 }, seq: 3 }), 'You approved transfer with edited arguments.')
  t.equal(receivedText(i, { by: 'user', decision: 'reject', seq: 3 }), 'You rejected transfer.')
  t.equal(receivedText(i, { by: 'user', decision: 'reject', reason: 'too much', seq: 3 }), 'You rejected transfer: too much.')
  t.equal(receivedText(i, { by: 'expiry', decision: 'reject', reason: 'no answer before the approval expired', seq: 3 }), 'Expired: rejected transfer: no answer before the approval expired.')
  t.equal(receivedText(i, { by: 'expiry', decision: 'approve', seq: 3 }), 'Expired: approved transfer by default.')
  t.equal(receivedText(q, { by: 'user', answer: 3, seq: 3 }), 'You answered 3.')
  t.equal(receivedText(q, { by: 'expiry', answer: 1, seq: 3 }), 'Expired: answered 1 by default.')
  t.equal(receivedText(q, { by: 'expiry', seq: 3 }), 'Expired without an answer.')
})

t.test('edited arguments: JSON, an object, and the tool\'s schema, checked before sending', async (t) => {
  const i = runFromEvents(R, T, [started, approval(2)]).interrupts.i1 as Interrupt
  t.strictSame(argumentsSchema(i), TOOL_SCHEMA)
  t.strictSame(parseArguments(i, '{"to":"carol","amount":50}'), { value: { to: 'carol', amount: 50 } })
  t.match(parseArguments(i, '{"to":'), { errors: [/^Not JSON: /] })
  t.strictSame(parseArguments(i, '[1]'), { errors: ['The arguments must be a JSON object.'] })
  t.strictSame(parseArguments(i, '{"to":"","amount":-1,"memo":1}'), { errors: ['to: String is too short (0 < 1).', 'amount: -1 is less than 0.', '"memo" is not allowed.'] })
  t.strictSame(parseArguments(i, '{"to":"bob"}'), { errors: ['Instance does not have required property "amount".'] })
  t.strictSame(problems({ type: 'object' }, { anything: 1 }), [])
})

t.test('a question\'s form from its schema, and its answer checked', async (t) => {
  t.strictSame(questionForm({ type: 'integer', minimum: 1 }), { fields: [{ name: 'answer', required: true, type: 'integer', minimum: 1 }], wrapped: true })
  t.strictSame(questionForm({ type: 'string' })?.fields.map((f) => f.type), ['string'])
  t.strictSame(questionForm({ enum: ['a', 'b'] })?.fields.map((f) => f.options), [['a', 'b']])
  const object = { type: 'object', properties: { city: { type: 'string' }, nights: { type: 'integer' } }, required: ['city'] }
  t.strictSame(questionForm(object), { fields: [{ name: 'city', required: true, type: 'string' }, { name: 'nights', required: false, type: 'integer' }], wrapped: false })
  t.equal(questionForm({ type: 'array', items: { type: 'string' } }), undefined, 'no form for an array: the JSON editor')
  t.equal(questionForm({ type: 'object', properties: { tags: { type: 'array' } } }), undefined, 'nor for an object with a field the form cannot hold')

  const q = runFromEvents(R, T, [started, question(2)]).interrupts.q1
  t.strictSame(questionAnswer(q, { answer: '3' }), { value: 3 })
  t.strictSame(questionAnswer(q, { answer: '0' }), { errors: ['0 is less than 1.'] })
  t.strictSame(questionAnswer(q, { answer: '' }), { errors: ['Give an answer.'] })
  const o = runFromEvents(R, T, [started, question(2, 'q2', object)]).interrupts.q2
  t.strictSame(questionAnswer(o, { city: 'Paris', nights: '2' }), { value: { city: 'Paris', nights: 2 } })
  t.strictSame(questionAnswer(o, { city: '', nights: '2' }), { errors: ['Instance does not have required property "city".'] })
  const list = runFromEvents(R, T, [started, question(2, 'q3', { type: 'array', items: { type: 'string' }, minItems: 1 })]).interrupts.q3
  t.strictSame(questionAnswer(list, '["a"]'), { value: ['a'] })
  t.strictSame(questionAnswer(list, '[]'), { errors: ['Array has too few items (0 < 1).'] })
})
