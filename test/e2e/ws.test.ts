import t from 'tap'
import { auth } from '../helpers/app.js'
import { SLOW_AGENTS, connected, listen, range, seqs, slowRunTypes, types, type Frame } from '../helpers/ws.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** An event with its clock-dependent fields zeroed, so the rest can be compared exactly. */
const stable = (e: Frame) => ({
  ...e,
  data: {
    ...e.data,
    timestamp: 0,
    ...('duration_ms' in e.data ? { duration_ms: 0 } : {})
  }
})

t.test('connection_established, then ping → pong echoing the id', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('alice'))
  const other = await connected(t, wsUrl, auth('alice'))

  const [hello] = client.frames
  t.strictSame(hello, {
    type: 'connection_established',
    data: { connection_id: hello.data.connection_id, user_id: 'alice', server_time: hello.data.server_time }
  })
  t.match(hello.data.connection_id, UUID)
  t.equal(typeof hello.data.server_time, 'number')
  t.not(other.frames[0].data.connection_id, hello.data.connection_id, 'each socket has its own connection id')

  client.send({ type: 'ping', id: 'p-1' })
  const pong = await client.waitFor((f) => f.type === 'pong', 'pong')
  t.strictSame(pong, { type: 'pong', reply_to: 'p-1', data: { server_time: pong.data.server_time } })
  t.equal(typeof pong.data.server_time, 'number')

  client.send({ type: 'ping', id: 42 })
  t.strictSame((await client.waitFor((f) => f.reply_to === 42, 'pong 42')).type, 'pong', 'a numeric id is echoed as is')

  const from = client.frames.length
  client.send({ type: 'ping' })
  const bare = await client.waitFor((f) => f.type === 'pong', 'pong without id', { from })
  t.strictSame(Object.keys(bare), ['type', 'data'], 'no reply_to without an id')
  t.equal(client.frames.length, 4, 'nothing but the answers')
})

t.test('a message frame: message_accepted, then the run\'s events on the same socket, as stored', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = await connected(t, wsUrl, auth('bob'))

  client.send({ type: 'message', id: 'm-1', content: 'wait for me', agent: 'slow', input: { steps: 3, ms: 20 } })
  const accepted = await client.waitFor((f) => f.type === 'message_accepted', 'message_accepted')
  const { run_id: runId, thread_id: threadId } = accepted.data
  t.strictSame(accepted, { type: 'message_accepted', reply_to: 'm-1', data: { message_id: accepted.data.message_id, thread_id: threadId, run_id: runId } })
  for (const id of [accepted.data.message_id, threadId, runId]) t.match(id, UUID)

  const events = await client.runEnd(runId)
  t.ok(client.frames.indexOf(accepted) < client.frames.indexOf(events[0]), 'message_accepted comes before the first event')
  t.strictSame(types(events), slowRunTypes(3))
  t.strictSame(seqs(events), range(1, 18))
  for (const e of events) {
    t.strictSame([e.run_id, e.thread_id, e.user_id], [runId, threadId, 'bob'], `envelope of #${e.seq}`)
    t.strictSame(Object.keys(e).sort(), ['data', 'run_id', 'seq', 'thread_id', 'type', 'user_id'])
  }

  const agentId = events[0].data.agent_id
  t.match(agentId, UUID)
  const base = { agent_id: agentId, agent_name: 'slow', timestamp: 0 }
  t.strictSame(stable(events[0]).data, { ...base, message: 'Running slow', attempt: 1 })
  t.strictSame(stable(events[1]).data, { ...base, thought: 'step 1 of 3' })
  const call = { ...base, tool_name: 'wait', tool_call_id: events[2].data.tool_call_id }
  t.strictSame(stable(events[2]).data, { ...call, parameters: { ms: 20 } })
  t.strictSame(stable(events[3]).data, { ...call, message: 'waiting', progress: 0 })
  t.strictSame(stable(events[4]).data, { ...call, message: 'half way', progress: 0.5 })
  t.strictSame(stable(events[5]).data, { ...call, status: 'success', result: { waited_ms: 20 }, duration_ms: 0 })
  t.strictSame(stable(events[6]).data, { ...base, thought: 'step 2 of 3' })
  const callIds = events.filter((e) => e.type === 'tool_executing').map((e) => e.data.tool_call_id)
  t.equal(new Set(callIds).size, 3, 'every tool call has its own id')
  t.strictSame(events.filter((e) => e.type === 'tool_completed').map((e) => e.data.tool_call_id), callIds)
  const result = { answer: 'waited 3 times', steps: 3 }
  // the root agent's result travels once, in run_completed
  t.strictSame(stable(events[16]).data, { ...base, attempt: 1, duration_ms: 0 })
  t.strictSame(stable(events[17]).data, { result, timestamp: 0 })

  const stored = await app.inject({ url: `/runs/${runId}/events`, headers: auth('bob') })
  t.equal(stored.statusCode, 200)
  t.strictSame(stored.json(), { events }, 'the socket saw exactly what is stored')
  const after = await app.inject({ url: `/runs/${runId}/events?after_seq=15`, headers: auth('bob') })
  t.strictSame(after.json(), { events: events.slice(15) })

  const messages = await app.inject({ url: `/threads/${threadId}/messages`, headers: auth('bob') })
  t.strictSame(messages.json().messages.map((m: { role: string, content: string, run_id: string }) => [m.role, m.content, m.run_id]),
    [['user', 'wait for me', runId], ['assistant', 'waited 3 times', runId]])

  await client.barrier()
  t.equal(client.events(runId).length, 18, 'nothing after the terminal event')
})

t.test('a second message on a busy thread gets thread_busy; the socket follows both of its runs', async (t) => {
  const { wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = await connected(t, wsUrl, auth('carol'))

  client.send({ type: 'message', id: 'first', content: 'one', agent: 'slow', input: { steps: 2, ms: 200 } })
  const first = await client.waitFor((f) => f.reply_to === 'first', 'first accepted')
  client.send({ type: 'message', id: 'busy', content: 'two', agent: 'slow', thread_id: first.data.thread_id })
  t.strictSame(await client.waitFor((f) => f.reply_to === 'busy', 'busy reply'),
    { type: 'error', reply_to: 'busy', data: { code: 'thread_busy', message: 'a run is active on this thread' } })
  client.send({ type: 'message', id: 'second', content: 'three', agent: 'slow', input: { steps: 1, ms: 10 } })
  const second = await client.waitFor((f) => f.reply_to === 'second', 'second accepted')
  t.not(second.data.thread_id, first.data.thread_id, 'no thread_id: a new thread')

  t.strictSame(types(await client.runEnd(second.data.run_id)), slowRunTypes(1))
  t.strictSame(types(await client.runEnd(first.data.run_id)), slowRunTypes(2))
})

t.test('the built-in supervisor runs over the socket too', async (t) => {
  const { app, wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('dave'))
  client.send({ type: 'message', content: 'Where does our LLM money go?' })
  const accepted = await client.waitFor((f) => f.type === 'message_accepted', 'message_accepted')
  const events = await client.runEnd(accepted.data.run_id)
  t.strictSame(seqs(events), range(1, events.length))
  t.equal(events.at(-1)!.type, 'run_completed')
  t.equal(events[0].data.agent_name, 'supervisor')
  const stored = await app.inject({ url: `/runs/${accepted.data.run_id}/events`, headers: auth('dave') })
  t.strictSame(stored.json().events, events)
})

/** Reads an SSE response to its end: each event's id, event name and parsed data. */
async function readSse (body: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder()
  let text = ''
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true })
  const blocks = text.split('\n\n').filter((b) => b.trim() !== '')
  const comments = blocks.filter((b) => b.startsWith(':'))
  const events = blocks.filter((b) => !b.startsWith(':')).map((block) => {
    const fields: Record<string, string> = {}
    for (const line of block.split('\n')) {
      const i = line.indexOf(': ')
      fields[line.slice(0, i)] = line.slice(i + 2)
    }
    return { id: fields.id, event: fields.event, data: JSON.parse(fields.data) as Frame }
  })
  return { comments, events }
}

t.test('SSE: a live run streams every event with id = seq, then the response ends', async (t) => {
  const { app, url } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const posted = await app.inject({ method: 'POST', url: '/messages', headers: auth('erin'), payload: { content: 'stream it', agent: 'slow', input: { steps: 4, ms: 150 } } })
  t.equal(posted.statusCode, 202)
  const { run_id: runId, status } = posted.json()
  t.equal(status, 'running')

  const res = await fetch(`${url}/runs/${runId}/events`, { headers: { ...auth('erin'), accept: 'text/event-stream' } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'text/event-stream')
  t.equal(res.headers.get('cache-control'), 'no-cache')
  const live = await app.inject({ url: `/runs/${runId}`, headers: auth('erin') })
  t.equal(live.json().status, 'running', 'the stream opened while the run was live')

  const { comments, events } = await readSse(res.body!)
  t.strictSame(comments, [': stream'])
  t.strictSame(events.map((e) => e.id), range(1, 23).map(String))
  t.strictSame(events.map((e) => e.event), slowRunTypes(4))
  t.strictSame(events.map((e) => e.data.type), slowRunTypes(4))
  const stored = await app.inject({ url: `/runs/${runId}/events`, headers: auth('erin') })
  t.strictSame(events.map((e) => e.data), stored.json().events)

  const resumed = await fetch(`${url}/runs/${runId}/events`, { headers: { ...auth('erin'), accept: 'text/event-stream', 'last-event-id': '20' } })
  t.strictSame((await readSse(resumed.body!)).events.map((e) => e.id), ['21', '22', '23'], 'Last-Event-ID resumes a finished run, then ends')
  const byQuery = await fetch(`${url}/runs/${runId}/events?after_seq=22`, { headers: { ...auth('erin'), accept: 'text/event-stream' } })
  t.strictSame((await readSse(byQuery.body!)).events.map((e) => e.event), ['run_completed'])
  const caughtUp = await fetch(`${url}/runs/${runId}/events`, { headers: { ...auth('erin'), accept: 'text/event-stream', 'last-event-id': '23' } })
  t.strictSame(await readSse(caughtUp.body!), { comments: [': stream'], events: [] }, 'from the terminal event on: nothing, and the response ends')

  const stranger = await fetch(`${url}/runs/${runId}/events`, { headers: { ...auth('mallory'), accept: 'text/event-stream' } })
  t.equal(stranger.status, 404)
  t.equal(((await stranger.json()) as { code: string }).code, 'not_found')
})

t.test('shutdown: a live run is handed over: its open work ends interrupted on the socket, then the socket closes with 1001', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS, SHUTDOWN_GRACE_MS: '0' })
  const client = await connected(t, wsUrl, auth('henry'))
  const idle = await connected(t, wsUrl, auth('henry'))
  client.send({ type: 'message', content: 'never mind', agent: 'slow', input: { steps: 3, ms: 20000 } })
  const { run_id: runId } = (await client.waitFor((f) => f.type === 'message_accepted', 'accepted')).data
  await client.waitFor((f) => f.run_id === runId && f.type === 'tool_progress', 'the tool under way')

  await app.close()
  t.strictSame(await client.closed, { code: 1001, reason: 'server shutting down' })
  t.strictSame(await idle.closed, { code: 1001, reason: 'server shutting down' })
  const events = client.events(runId)
  t.strictSame(types(events), ['agent_started', 'agent_thinking', 'tool_executing', 'tool_progress', 'tool_completed', 'agent_error'])
  t.strictSame(seqs(events), range(1, 6))
  const interrupted = { code: 'interrupted', message: 'the server is shutting down' }
  t.strictSame([events[4].data.status, events[4].data.error], ['error', interrupted], 'the tool got the abort')
  t.strictSame([events[5].data.error, events[5].data.retryable], [interrupted, true], 'the attempt is retried by whoever takes the run over')
})
