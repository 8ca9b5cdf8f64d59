import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { RunFailure } from '../../src/core/engine/failures.js'
import { createOpenAiClient } from '../../src/llm/openai-client.js'
import { startFakeOpenAi } from '../helpers/fake-openai.js'

const KEY = 'sk-test-key'
const USER = [{ role: 'user' as const, content: 'hello' }]

async function setup (t: Test, timeoutMs = 2000) {
  const fake = await startFakeOpenAi(t)
  const llm = createOpenAiClient({ baseUrl: fake.url, apiKey: KEY, model: 'fake-model', timeoutMs })
  return { fake, llm }
}

/** The failure `p` rejects with, as `{code, retryable}`. */
async function failureOf (p: Promise<unknown>) {
  try {
    await p
  } catch (err) {
    return err instanceof RunFailure ? { code: err.code, retryable: err.retryable } : { thrown: String(err) }
  }
  return { resolved: true }
}

t.test('streamed text is assembled, and every delta is passed on as it comes', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({ text: 'The spend went up on Tuesday.', pieces: 4 })
  const deltas: string[] = []
  const reply = await llm.chat({ messages: USER, onDelta: (d) => deltas.push(d) })
  t.strictSame(reply, { content: 'The spend went up on Tuesday.', tool_calls: [], finish_reason: 'stop' })
  t.equal(deltas.length, 4, 'one onDelta per content chunk')
  t.equal(deltas.join(''), 'The spend went up on Tuesday.')
  t.equal(fake.requests.length, 1)
  const [req] = fake.requests
  t.equal(req.path, '/v1/chat/completions')
  t.equal(req.headers.authorization, `Bearer ${KEY}`)
  t.strictSame({ model: req.body.model, stream: req.body.stream, messages: req.body.messages, tools: req.body.tools },
    { model: 'fake-model', stream: true, messages: USER, tools: undefined }, 'no tools key without tools')
})

t.test('tool calls streamed in fragments are assembled per index; tools go out as functions', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({
    text: 'Let me look.',
    tool_calls: [
      { id: 'call_a', name: 'usage_summary', arguments: '{"group_by":"feature"}' },
      { id: 'call_b', name: 'top_cost_drivers', arguments: '{"limit":3}' }
    ]
  })
  const tools = [{ name: 'usage_summary', description: 'spend', parameters: { type: 'object', properties: { group_by: { type: 'string' } } } }]
  const reply = await llm.chat({ messages: USER, tools })
  t.strictSame(reply, {
    content: 'Let me look.',
    tool_calls: [
      { id: 'call_a', name: 'usage_summary', arguments: '{"group_by":"feature"}' },
      { id: 'call_b', name: 'top_cost_drivers', arguments: '{"limit":3}' }
    ],
    finish_reason: 'tool_calls'
  })
  t.strictSame(fake.requests[0].body.tools, [{ type: 'function', function: { name: 'usage_summary', description: 'spend', parameters: tools[0].parameters } }])
})

t.test('assistant tool calls and tool results go back in the OpenAI shape', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({ text: 'done' })
  await llm.chat({
    messages: [
      ...USER,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', name: 'usage_summary', arguments: '{}' }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"total":1}' }
    ]
  })
  t.strictSame(fake.requests[0].body.messages.slice(1), [
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'usage_summary', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"total":1}' }
  ])
})

t.test('malformed arguments are returned raw: whether they parse is the caller\'s question', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({ tool_calls: [{ id: 'call_x', name: 'usage_summary', arguments: '{"group_by": "model"' }] })
  const reply = await llm.chat({ messages: USER })
  t.strictSame(reply.tool_calls, [{ id: 'call_x', name: 'usage_summary', arguments: '{"group_by": "model"' }])
})

t.test('a tool call without a function name is invalid_tool_call; one without an id gets one', async (t) => {
  const { fake, llm } = await setup(t)
  const chunk = (delta: unknown) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null }] })
  fake.script({ raw: [chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { arguments: '{}' } }] })] })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'invalid_tool_call', retryable: true })
  fake.script({ raw: [chunk({ tool_calls: [{ index: 0, type: 'function', function: { name: 'usage_summary', arguments: '{}' } }] })] })
  const reply = await llm.chat({ messages: USER })
  t.match(reply.tool_calls[0].id, /^call_[0-9a-f-]{36}$/)
})

t.test('HTTP errors become llm_error, retryable for 5xx and 429 only, and are never retried by the SDK', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({ status: 500, message: 'overloaded' })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'llm_error', retryable: true })
  t.equal(fake.requests.length, 1, 'one request: maxRetries is 0')
  fake.script({ status: 429 })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'llm_error', retryable: true })
  fake.script({ status: 401, message: 'bad key' })
  const err = await llm.chat({ messages: USER }).catch((e: RunFailure) => e)
  t.strictSame({ code: (err as RunFailure).code, retryable: (err as RunFailure).retryable }, { code: 'llm_error', retryable: false })
  t.match((err as Error).message, /401/)
  t.notMatch((err as Error).message, KEY, 'the key never shows')
  t.equal(fake.requests.length, 3)
})

t.test('an error inside the stream, and a stream that is not JSON, are llm_error', async (t) => {
  const { fake, llm } = await setup(t)
  fake.script({ raw: [JSON.stringify({ error: { message: 'context length exceeded' } })] })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'llm_error', retryable: true })
  fake.script({ raw: ['{not json'] })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'llm_error', retryable: true })
})

t.test('an endpoint that cannot be reached is llm_error', async (t) => {
  // a port that was free a moment ago
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const llm = createOpenAiClient({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: KEY, model: 'm', timeoutMs: 2000 })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'llm_error', retryable: true })
})

t.test('a model that never answers, or stops mid-stream, times out with code timeout', async (t) => {
  const { fake, llm } = await setup(t, 150)
  fake.script({ hang: true })
  t.strictSame(await failureOf(llm.chat({ messages: USER })), { code: 'timeout', retryable: true }, 'no headers at all')
  const deltas: string[] = []
  fake.script({ stall: 'Thinking about' })
  t.strictSame(await failureOf(llm.chat({ messages: USER, onDelta: (d) => deltas.push(d) })), { code: 'timeout', retryable: true }, 'headers and some text, then nothing')
  t.equal(deltas.join(''), 'Thinking about', 'what came before the stall was passed on')
  await waitFor(() => fake.held() === 0)
  t.equal(fake.held(), 0, 'the held connections were closed by the client')
})

t.test('the caller\'s signal ends the request with the signal\'s reason, before or during the stream', async (t) => {
  const { fake, llm } = await setup(t, 10_000)
  const before = new AbortController()
  before.abort(new RunFailure('cancelled', 'cancelled', false))
  t.strictSame(await failureOf(llm.chat({ messages: USER, signal: before.signal })), { code: 'cancelled', retryable: false })
  t.equal(fake.requests.length, 0, 'no request for an aborted signal')

  for (const reply of [{ hang: true as const }, { stall: 'partial' }]) {
    fake.script(reply)
    const during = new AbortController()
    const p = failureOf(llm.chat({ messages: USER, signal: during.signal }))
    await waitFor(() => fake.held() === 1)
    during.abort(new RunFailure('cancelled', 'cancelled', false))
    t.strictSame(await p, { code: 'cancelled', retryable: false }, `aborted while ${Object.keys(reply)[0]}`)
    await waitFor(() => fake.held() === 0)
    t.equal(fake.held(), 0, 'the connection is closed')
  }
})

async function waitFor (cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 5))
}
