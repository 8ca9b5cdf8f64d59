import t, { type Test } from 'tap'
import { MAX_ROUNDS } from '../../src/agents/assistant.js'
import { classifyIntent } from '../../src/agents/triage.js'
import type { App } from '../../src/app.js'
import type { RunEvent } from '../../src/core/events.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { startFakeOpenAi, type FakeOpenAi, type RecordedRequest } from '../helpers/fake-openai.js'
import { getEvents, postMessage, runToEnd, waitForRun } from '../helpers/http.js'

const KEY = 'sk-fake-key'

async function setup (t: Test, env: Record<string, string> = {}): Promise<{ app: App, fake: FakeOpenAi }> {
  const fake = await startFakeOpenAi(t)
  const app = await build(t, { LLM_BASE_URL: fake.url, LLM_API_KEY: KEY, LLM_MODEL: 'fake-model', LLM_TIMEOUT_MS: '2000', RETRY_BASE_MS: '5', ...env })
  return { app, fake }
}

/** Runs a message to its end; its events must keep the contract. */
async function ask (t: Test, app: App, user: string, body: Record<string, unknown>) {
  const { run } = await runToEnd(app, user, body)
  const events = await getEvents(app, user, run.run_id)
  assertRunContract(t, events)
  return { run, events }
}

const data = (e: RunEvent) => e.data as Record<string, any>
const ofType = (events: RunEvent[], type: string) => events.filter((e) => e.type === type).map(data)
const thoughts = (events: RunEvent[], agent: string) => ofType(events, 'agent_thinking').filter((d) => d.agent_name === agent).map((d) => d.thought as string)
const agentNames = async (app: App) => ((await app.inject({ method: 'GET', url: '/agents', headers: auth('u') })).json().agents as Array<{ name: string }>).map((a) => a.name)
const sample = (app: App, user: string) => app.inject({ method: 'POST', url: '/usage/sample', headers: auth(user), payload: {} })
/** Waits for `cond`, at most two seconds (the assert after it says what did not happen). */
async function until (cond: () => boolean) {
  for (const end = Date.now() + 2000; !cond() && Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 5))
}
const isTriage = (req: RecordedRequest) => /You classify one question/.test(req.body.messages[0].content)

t.test('the assistant agent exists only with a model configured', async (t) => {
  const plain = await build(t)
  t.notOk((await agentNames(plain)).includes('assistant'), 'no LLM: no assistant')
  const { app } = await setup(t)
  t.ok((await agentNames(app)).includes('assistant'), 'with LLM: assistant')
})

t.test('assistant: each tool call of the model is a real tool call, its result goes back, the answer ends the run', async (t) => {
  const { app, fake } = await setup(t)
  t.equal((await sample(app, 'alice')).statusCode, 200)
  fake.script(
    { text: 'Looking at spend by provider.', tool_calls: [{ id: 'call_1', name: 'usage_summary', arguments: '{"group_by":"provider"}' }] },
    (req) => {
      const result = JSON.parse(req.body.messages.at(-1).content)
      return { text: `You spent $${result.total_cost_usd} across ${result.total_requests} requests.` }
    }
  )
  const { run, events } = await ask(t, app, 'alice', { agent: 'assistant', content: 'How much did we spend per provider?' })

  t.equal(run.status, 'completed')
  const [executing] = ofType(events, 'tool_executing')
  const [completed] = ofType(events, 'tool_completed')
  t.strictSame({ tool: executing.tool_name, parameters: executing.parameters, agent: executing.agent_name },
    { tool: 'usage_summary', parameters: { group_by: 'provider' }, agent: 'assistant' })
  t.equal(completed.status, 'success')
  t.equal(completed.tool_call_id, executing.tool_call_id)
  const summary = completed.result
  t.strictSame(run.result, { answer: `You spent $${summary.total_cost_usd} across ${summary.total_requests} requests.` })
  t.strictSame(events.map((e) => e.type).filter((x) => x !== 'agent_thinking' && x !== 'tool_progress' && x !== 'answer_delta'),
    ['agent_started', 'tool_executing', 'tool_completed', 'agent_completed', 'run_completed'])
  t.strictSame(thoughts(events, 'assistant'), ['Looking at spend by provider.'], 'the text before a tool call is a thought; the answer is not')
  t.ok(ofType(events, 'answer_delta').length > 1, 'the model\'s text streams as the answer (the deltas add up to it: the contract check)')
  t.strictSame(events.filter((e) => JSON.stringify(e.data).includes(JSON.stringify((run.result as { answer: string }).answer))).map((e) => e.type).filter((x) => x !== 'answer_delta'),
    ['run_completed'], 'the answer is carried in full once, besides its deltas')

  t.equal(fake.requests.length, 2)
  const [first, second] = fake.requests
  t.equal(first.headers.authorization, `Bearer ${KEY}`)
  t.equal(first.body.model, 'fake-model')
  t.equal(first.body.stream, true)
  t.strictSame(first.body.tools, app.registry.tools().map((tool) => ({
    type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.input_schema }
  })), 'every registered tool, as a function')
  t.strictSame(first.body.messages[1], { role: 'user', content: 'How much did we spend per provider?' })
  t.strictSame(second.body.messages.slice(2), [
    { role: 'assistant', content: 'Looking at spend by provider.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'usage_summary', arguments: '{"group_by":"provider"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: JSON.stringify(summary) }
  ], 'the tool result goes back as a tool message')
})

t.test('assistant: a tool error goes back to the model, which may answer anyway', async (t) => {
  const { app, fake } = await setup(t)
  fake.script({ tool_calls: [{ id: 'call_1', name: 'no_such_tool', arguments: '{}' }] }, { text: 'I could not find that tool.' })
  const { run, events } = await ask(t, app, 'bob', { agent: 'assistant', content: 'Use a tool that does not exist.' })
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { answer: 'I could not find that tool.' })
  t.strictSame(ofType(events, 'tool_completed').map((d) => [d.tool_name, d.status, d.error.code]), [['no_such_tool', 'error', 'unknown_tool']])
  const sent = JSON.parse(fake.requests[1].body.messages.at(-1).content)
  t.equal(sent.error.code, 'unknown_tool')
})

t.test('assistant: malformed arguments go back once; the model may fix them', async (t) => {
  const { app, fake } = await setup(t)
  await sample(app, 'carol')
  fake.script(
    { tool_calls: [{ id: 'bad', name: 'usage_summary', arguments: '{"group_by": "model"' }] },
    { tool_calls: [{ id: 'good', name: 'usage_summary', arguments: '{"group_by":"model"}' }] },
    { text: 'Fixed it.' }
  )
  const { run, events } = await ask(t, app, 'carol', { agent: 'assistant', content: 'Spend by model?' })
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { answer: 'Fixed it.' })
  t.equal(ofType(events, 'agent_started').length, 1, 'one attempt')
  t.strictSame(ofType(events, 'tool_executing').map((d) => d.parameters), [{ group_by: 'model' }], 'only the good call ran')
  t.strictSame(fake.requests[1].body.messages.at(-1).tool_call_id, 'bad')
  t.equal(JSON.parse(fake.requests[1].body.messages.at(-1).content).error.code, 'invalid_tool_call')
  t.ok(thoughts(events, 'assistant').includes('The model\'s call to usage_summary had malformed arguments; asking it to correct them.'))
})

t.test('assistant: malformed arguments twice fail the attempt with invalid_tool_call, retried, then run_failed', async (t) => {
  const { app, fake } = await setup(t)
  fake.otherwise = { tool_calls: [{ name: 'usage_summary', arguments: '{"group_by": ' }] }
  const { run, events } = await ask(t, app, 'dave', { agent: 'assistant', content: 'Spend by model?' })
  t.equal(run.status, 'failed')
  t.equal(run.error?.code, 'invalid_tool_call')
  t.strictSame(ofType(events, 'agent_error').map((d) => [d.attempt, d.error.code, d.retryable]),
    [[1, 'invalid_tool_call', true], [2, 'invalid_tool_call', true], [3, 'invalid_tool_call', false]])
  t.equal(ofType(events, 'tool_executing').length, 0, 'no malformed call reached a tool')
  t.equal(events.at(-1)!.type, 'run_failed')
  t.equal(data(events.at(-1)!).error.code, 'invalid_tool_call')
  t.equal(fake.requests.length, 6, 'two model requests per attempt')
})

t.test('assistant: a 500 from the model is a retryable llm_error; the next attempt answers', async (t) => {
  const { app, fake } = await setup(t)
  fake.script({ status: 500, message: 'overloaded' }, { text: 'Second time lucky.' })
  const { run, events } = await ask(t, app, 'erin', { agent: 'assistant', content: 'Hello?' })
  t.equal(run.status, 'completed')
  t.strictSame(run.result, { answer: 'Second time lucky.' })
  t.strictSame(ofType(events, 'agent_error').map((d) => [d.attempt, d.error.code, d.retryable]), [[1, 'llm_error', true]])
  t.strictSame(ofType(events, 'agent_started').map((d) => d.attempt), [1, 2])
})

t.test('assistant: a model that never answers times out on every attempt, the run fails, and the service stays healthy', async (t) => {
  const { app, fake } = await setup(t, { LLM_TIMEOUT_MS: '200' })
  fake.otherwise = { hang: true }
  const { run, events } = await ask(t, app, 'frank', { agent: 'assistant', content: 'Are you there?' })
  t.equal(run.status, 'failed')
  t.equal(run.error?.code, 'timeout')
  t.strictSame(ofType(events, 'agent_error').map((d) => [d.attempt, d.error.code, d.retryable]),
    [[1, 'timeout', true], [2, 'timeout', true], [3, 'timeout', false]])
  t.equal(events.at(-1)!.type, 'run_failed')

  fake.otherwise = { text: 'Here now.' }
  const next = await ask(t, app, 'frank', { agent: 'assistant', content: 'Are you there now?' })
  t.equal(next.run.status, 'completed')
  t.strictSame(next.run.result, { answer: 'Here now.' })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  t.equal(fake.held(), 0, 'no request is left hanging')
})

t.test('assistant: a model that keeps calling tools is stopped after a bounded number of requests', async (t) => {
  const { app, fake } = await setup(t)
  fake.otherwise = { tool_calls: [{ name: 'usage_profile', arguments: '{}' }] }
  const { run, events } = await ask(t, app, 'kim', { agent: 'assistant', content: 'Loop forever.' })
  t.equal(run.status, 'failed')
  t.equal(run.error?.code, 'too_many_tool_calls')
  t.equal(fake.requests.length, MAX_ROUNDS)
  t.equal(ofType(events, 'tool_completed').filter((d) => d.status === 'success').length, MAX_ROUNDS)
  t.strictSame(ofType(events, 'agent_error').map((d) => [d.attempt, d.retryable]), [[1, false]], 'retrying would loop again')
})

t.test('assistant: cancelling a run ends the model request it is waiting on', async (t) => {
  const { app, fake } = await setup(t, { LLM_TIMEOUT_MS: '60000' })
  fake.otherwise = { hang: true }
  const accepted = await postMessage(app, 'lee', { agent: 'assistant', content: 'Take your time.' })
  await until(() => fake.held() === 1)
  const cancel = await app.inject({ method: 'POST', url: `/runs/${accepted.run_id}/cancel`, headers: auth('lee') })
  t.equal(cancel.statusCode, 202)
  const run = await waitForRun(app, 'lee', accepted.run_id)
  t.equal(run.status, 'cancelled')
  const events = await getEvents(app, 'lee', accepted.run_id)
  assertRunContract(t, events)
  t.equal(events.at(-1)!.type, 'run_cancelled')
  await until(() => fake.held() === 0)
  t.equal(fake.held(), 0, 'the held request was closed')
})

t.test('triage: the model\'s reasoning streams into agent_thinking and its intent wins', async (t) => {
  const { app, fake } = await setup(t)
  const question = 'How do we cut our OpenAI bill?'
  t.equal(classifyIntent(question).intent, 'cost_optimisation', 'the rules alone would say cost optimisation')
  fake.script({ text: 'They ask what the bill will be going forward.\nintent: capacity_planning', pieces: 7 })
  const { run, events } = await ask(t, app, 'gina', { agent: 'triage', content: question })
  t.equal(run.status, 'completed')
  const result = run.result as { intent: string, secondary: string[], confidence: string }
  t.strictSame([result.intent, result.secondary, result.confidence], ['capacity_planning', ['cost_optimisation'], 'medium'])
  t.strictSame(thoughts(events, 'triage'), [
    'They ask what the bill will be going forward.',
    'intent: capacity_planning',
    'The model reads the question as capacity planning. Checking what usage data there is.',
    'There are no usage records yet.'
  ])
  t.strictSame(fake.requests[0].body.messages[1], { role: 'user', content: question })
  t.match(fake.requests[0].body.messages[0].content, /cost_optimisation[\s\S]*anomaly_investigation[\s\S]*capacity_planning[\s\S]*general_question/)
  t.equal(fake.requests[0].body.tools, undefined)
})

t.test('triage: an answer that is no intent, or a failing model, falls back to the rules', async (t) => {
  const { app, fake } = await setup(t)
  const question = 'How do we cut our OpenAI bill?'
  fake.script({ text: 'intent: buy_more_gpus' }, { status: 503 })
  for (const how of ['not an intent', 'a 503']) {
    const { run, events } = await ask(t, app, 'hank', { agent: 'triage', content: question })
    t.equal(run.status, 'completed', how)
    t.equal((run.result as { intent: string }).intent, 'cost_optimisation', how)
    t.ok(thoughts(events, 'triage').includes('Reading the question by the rules as cost optimisation. Checking what usage data there is.'), how)
    t.equal(ofType(events, 'agent_error').length, 0, how)
  }
})

t.test('reporting: a wording that changes a figure is dropped for the computed report; a faithful one is kept', async (t) => {
  const { app, fake } = await setup(t)
  const plain = await build(t)
  const question = 'Where does our money go?'
  for (const a of [app, plain]) await sample(a, 'ivy')
  const reference = (await ask(t, plain, 'ivy', { content: question })).run.result as { answer: string }

  let sent = ''
  fake.otherwise = (req) => {
    if (isTriage(req)) return { text: 'intent: general_question' }
    sent = req.body.messages[1].content
    // one dollar figure one cent off
    return { text: sent.replace(/\$(\d[\d,]*)\.(\d)(\d)/, (_m, d, c, u) => `$${d}.${c}${(Number(u) + 1) % 10}`) }
  }
  const { run, events } = await ask(t, app, 'ivy', { content: question })
  t.equal(run.status, 'completed')
  t.equal(sent, reference.answer, 'the model was given the deterministic report')
  t.equal((run.result as { answer: string }).answer, reference.answer, 'and the answer is that report, unchanged')
  // the supervisor words the answer itself, so the run carries it once
  t.ok(thoughts(events, 'supervisor').some((x) => /^The model's wording changed figures \(.+\); keeping the computed report/.test(x)))
  t.ok(ofType(events, 'answer_delta').some((d) => d.reset === true), 'the wording streamed as the answer, then was withdrawn for the report')
  t.notOk(thoughts(events, 'supervisor').some((x) => x.includes('$') && !x.startsWith('The model\'s wording changed figures')), 'no thought repeats the wording')

  fake.otherwise = (req) => isTriage(req)
    ? { text: 'intent: general_question' }
    : { text: `Here is where your money goes.\n\n${req.body.messages[1].content}` }
  const faithful = await ask(t, app, 'ivy', { content: question })
  t.equal((faithful.run.result as { answer: string }).answer, `Here is where your money goes.\n\n${reference.answer}`)
})
