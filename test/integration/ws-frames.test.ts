import t from 'tap'
import { createSigner } from 'fast-jwt'
import { TEST_SECRET, auth, tokenFor } from '../helpers/app.js'
import { SLOW_AGENTS, connected, connect, listen, refusedUpgrade, types, type Client } from '../helpers/ws.js'

const invalid = (message: string, replyTo?: unknown) => ({
  type: 'error',
  ...(replyTo === undefined ? {} : { reply_to: replyTo }),
  data: { code: 'invalid_request', message }
})

/** Sends a raw frame and returns the next frame the server answers with. */
async function answer (client: Client, frame: unknown) {
  const from = client.frames.length
  client.send(frame)
  return client.waitFor(() => true, `an answer to ${String(frame).slice(0, 60)}`, { from })
}

t.test('frames that break the rules get invalid_request and the socket stays open', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('frames-user'))

  t.strictSame(await answer(client, 'not json {'), invalid('frame is not valid JSON'))
  t.strictSame(await answer(client, Buffer.from(JSON.stringify({ type: 'ping', id: 'b' }))), invalid('binary frames are not supported; send JSON text'))
  t.strictSame(await answer(client, '[{"type":"ping"}]'), invalid('frame must be a JSON object'))
  t.strictSame(await answer(client, 'null'), invalid('frame must be a JSON object'))
  t.strictSame(await answer(client, '"ping"'), invalid('frame must be a JSON object'))
  t.strictSame(await answer(client, JSON.stringify({ type: 'explode', id: 'u1' })), invalid('unknown frame type "explode"', 'u1'))
  t.strictSame(await answer(client, JSON.stringify({ id: 7 })), invalid('unknown frame type undefined', 7))

  const violation = await answer(client, JSON.stringify({ type: 'subscribe', id: 's1', run_id: 'r', after_seq: -1 }))
  t.equal(violation.type, 'error')
  t.equal(violation.reply_to, 's1')
  t.equal(violation.data.code, 'invalid_request')
  t.equal(violation.data.message, 'invalid subscribe frame: /after_seq: Expected integer to be greater or equal to 0', 'the message says what is wrong')
  t.equal((await answer(client, JSON.stringify({ type: 'message', content: 42 }))).data.message, 'invalid message frame: /content: Expected string')
  t.equal((await answer(client, JSON.stringify({ type: 'cancel' }))).data.message, 'invalid cancel frame: /run_id: Expected required property')

  for (const [id, frame] of Object.entries({
    fractional_seq: { type: 'subscribe', run_id: 'r', after_seq: 1.5 },
    no_target: { type: 'subscribe' },
    both_targets: { type: 'unsubscribe', run_id: 'r', thread_id: 't' },
    empty_content: { type: 'message', content: '' },
    content_not_string: { type: 'message', content: 42 },
    bad_multitask: { type: 'message', content: 'hi', multitask: 'later' },
    input_not_object: { type: 'message', content: 'hi', input: [1] },
    extra_field: { type: 'ping', user_id: 'someone-else' },
    cancel_without_run: { type: 'cancel' },
    run_id_too_long: { type: 'cancel', run_id: 'r'.repeat(129) }
  })) {
    const reply = await answer(client, JSON.stringify({ ...frame, id }))
    t.strictSame([reply.type, reply.reply_to, reply.data.code], ['error', id, 'invalid_request'], id)
    t.match(reply.data.message, new RegExp(`^invalid ${frame.type} frame: `), id)
  }

  t.strictSame(await answer(client, JSON.stringify({ type: 'ping', id: 'still-open' })),
    { type: 'pong', reply_to: 'still-open', data: { server_time: client.frames.at(-1)!.data.server_time } })
  t.equal(typeof client.frames.at(-1)!.data.server_time, 'number')
  t.equal(client.ws.readyState, client.ws.OPEN)
})

t.test('a frame over 64 KiB closes the socket with 1009; one of exactly 64 KiB does not', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('big-frames'))

  const frameOf = (bytes: number) => {
    const head = '{"type":"ping","id":"big","pad":"'
    return head + 'x'.repeat(bytes - head.length - 2) + '"}'
  }
  t.equal(Buffer.byteLength(frameOf(64 * 1024)), 64 * 1024)
  const reply = await answer(client, frameOf(64 * 1024))
  t.strictSame([reply.type, reply.reply_to, reply.data.code], ['error', 'big', 'invalid_request'], 'at the limit: a schema error, not a close')

  client.send(frameOf(64 * 1024 + 1))
  const { code } = await client.closed
  t.equal(code, 1009)
})

t.test('upgrades without a valid credential get 401 and no socket', async (t) => {
  const { wsUrl } = await listen(t)
  const unauthorized = (message: string) => ({ statusCode: 401, body: { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message } })

  t.strictSame(await refusedUpgrade(wsUrl), unauthorized('missing credential: Authorization header or ?ticket='))
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: 'Basic dXNlcjpwYXNz' }), unauthorized('missing credential: Authorization header or ?ticket='))
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: `Bearer ${tokenFor('mallory', { secret: 'another-secret-that-is-at-least-32-bytes!!' })}` }), unauthorized('invalid token'))
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: 'Bearer not.a.jwt' }), unauthorized('invalid token'))
  const expired = createSigner({ key: TEST_SECRET, algorithm: 'HS256' })({ sub: 'late', exp: Math.floor(Date.now() / 1000) - 60 })
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: `Bearer ${expired}` }), unauthorized('token expired'))
  const noExp = createSigner({ key: TEST_SECRET, algorithm: 'HS256' })({ sub: 'forever' })
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: `Bearer ${noExp}` }), unauthorized('invalid token'), 'exp is required')
  t.strictSame(await refusedUpgrade(wsUrl, { authorization: `Bearer ${tokenFor('undefined')}` }), unauthorized('invalid subject claim'))
  t.strictSame(await refusedUpgrade(`${wsUrl}?ticket=made-up`), unauthorized('invalid or used ticket'))
})

t.test('the upgrade is refused in-process too (injectWS)', async (t) => {
  const { app } = await listen(t)
  await t.rejects(app.injectWS('/ws'), { message: /401/ })
  let first: (frame: string) => void = () => {}
  const received = new Promise<string>((resolve) => { first = resolve })
  const socket = await app.injectWS('/ws', { headers: auth('inject-user') }, {
    onInit: (ws) => ws.once('message', (data) => first(data.toString()))
  })
  t.teardown(() => socket.terminate())
  const frame = JSON.parse(await received)
  t.equal(frame.type, 'connection_established')
  t.equal(frame.data.user_id, 'inject-user')
})

t.test('Origin: same origin by default, ALLOWED_ORIGINS when set', async (t) => {
  const forbidden = { statusCode: 403, body: { statusCode: 403, code: 'forbidden_origin', error: 'Forbidden', message: 'origin not allowed' } }

  t.test('default: same origin only', async (t) => {
    const { wsUrl, host } = await listen(t)
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: 'http://evil.example' }), forbidden)
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: `http://${host}.evil.example` }), forbidden)
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: 'null' }), forbidden)
    const same = await connected(t, wsUrl, { ...auth('origin-user'), origin: `http://${host}` })
    t.equal(same.frames[0].type, 'connection_established')
    const none = await connected(t, wsUrl, auth('origin-user'))
    t.equal(none.frames[0].type, 'connection_established', 'no Origin (not a browser) is fine')
  })

  t.test('ALLOWED_ORIGINS', async (t) => {
    const { wsUrl, host } = await listen(t, { ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com' })
    const ok = await connected(t, wsUrl, { ...auth('origin-user'), origin: 'https://admin.example.com' })
    t.equal(ok.frames[0].type, 'connection_established')
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: 'http://evil.example' }), forbidden)
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: 'http://app.example.com' }), forbidden, 'scheme matters')
    t.strictSame(await refusedUpgrade(wsUrl, { ...auth('origin-user'), origin: `http://${host}` }), forbidden, 'the list replaces same-origin')
    t.strictSame(await refusedUpgrade(wsUrl, { origin: 'http://evil.example' }), forbidden, 'the origin is checked before the credential')
  })
})

t.test('tickets: single use, expiring, and bound to the token they were made with', async (t) => {
  const { app, wsUrl } = await listen(t)

  const noAuth = await app.inject({ method: 'POST', url: '/ws-tickets' })
  t.equal(noAuth.statusCode, 401)
  t.equal(noAuth.json().code, 'unauthorized')

  const res = await app.inject({ method: 'POST', url: '/ws-tickets', headers: auth('ticket-user') })
  t.equal(res.statusCode, 201)
  const { ticket, expires_at: expiresAt } = res.json()
  t.strictSame(Object.keys(res.json()).sort(), ['expires_at', 'ticket'])
  t.match(ticket, /^[A-Za-z0-9_-]{32}$/)
  t.equal(new Date(expiresAt).toISOString(), expiresAt)

  const client = await connected(t, `${wsUrl}?ticket=${ticket}`)
  t.equal(client.frames[0].data.user_id, 'ticket-user')
  t.strictSame(await refusedUpgrade(`${wsUrl}?ticket=${ticket}`),
    { statusCode: 401, body: { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'invalid or used ticket' } }, 'a used ticket')

  const nowS = Math.floor(Date.now() / 1000)
  await app.store.createTicket({ ticket: 'expired-ticket-0123456789abcdef', user_id: 'ticket-user', expires_at: nowS - 5, token_exp: nowS + 3600 })
  t.strictSame(await refusedUpgrade(`${wsUrl}?ticket=expired-ticket-0123456789abcdef`),
    { statusCode: 401, body: { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'invalid or used ticket' } }, 'an expired ticket')

  const shortLived = await app.inject({ method: 'POST', url: '/ws-tickets', headers: { authorization: `Bearer ${tokenFor('ticket-user', { expiresInS: 2 })}` } })
  const viaTicket = await connected(t, `${wsUrl}?ticket=${shortLived.json().ticket}`)
  t.strictSame(await viaTicket.closed, { code: 1008, reason: 'token_expired' }, 'the socket ends with the token behind the ticket')
})

t.test('a socket whose token expires is closed with 1008 token_expired', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, { authorization: `Bearer ${tokenFor('expiring', { expiresInS: 2 })}` })
  const other = await connected(t, wsUrl, auth('expiring'))
  t.strictSame(await client.closed, { code: 1008, reason: 'token_expired' })
  await other.barrier()
  t.equal(other.ws.readyState, other.ws.OPEN, 'a socket with a longer-lived token stays')
})

t.test('cancel stops a running run: cancel_accepted, the tool ends cancelled, run_cancelled last', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = await connected(t, wsUrl, auth('canceller'))
  client.send({ type: 'message', id: 'm', content: 'take your time', agent: 'slow', input: { steps: 3, ms: 20000 } })
  const accepted = await client.waitFor((f) => f.type === 'message_accepted', 'message_accepted')
  const runId: string = accepted.data.run_id
  await client.waitFor((f) => f.run_id === runId && f.type === 'tool_executing', 'tool_executing')

  client.send({ type: 'cancel', id: 'c1', run_id: runId })
  const cancelAccepted = await client.waitFor((f) => f.type === 'cancel_accepted', 'cancel_accepted')
  t.strictSame(cancelAccepted, { type: 'cancel_accepted', reply_to: 'c1', data: { run_id: runId, status: 'cancelled' } })
  const events = await client.runEnd(runId)

  t.strictSame(types(events), ['agent_started', 'agent_thinking', 'tool_executing', 'tool_progress', 'tool_completed', 'agent_error', 'run_cancelled'])
  t.strictSame(events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7])
  const executing = events[2]
  const completed = events[4]
  t.strictSame({ ...completed.data, timestamp: 0, duration_ms: 0 }, {
    agent_id: executing.data.agent_id,
    agent_name: 'slow',
    tool_name: 'wait',
    tool_call_id: executing.data.tool_call_id,
    status: 'cancelled',
    error: { code: 'cancelled', message: 'cancelled by the user' },
    duration_ms: 0,
    timestamp: 0
  })
  t.strictSame({ ...events[5].data, timestamp: 0 }, {
    agent_id: executing.data.agent_id,
    agent_name: 'slow',
    error: { code: 'cancelled', message: 'cancelled by the user' },
    retryable: false,
    attempt: 1,
    timestamp: 0
  })
  t.strictSame({ ...events[6].data, timestamp: 0 }, { reason: 'cancelled by the user', timestamp: 0 })

  const run = await app.inject({ url: `/runs/${runId}`, headers: auth('canceller') })
  t.equal(run.json().status, 'cancelled')
  t.strictSame(run.json().error, { code: 'cancelled', message: 'cancelled by the user' })
  const stored = await app.inject({ url: `/runs/${runId}/events`, headers: auth('canceller') })
  t.strictSame(stored.json().events, events)

  client.send({ type: 'cancel', id: 'c2', run_id: runId })
  t.strictSame(await client.waitFor((f) => f.reply_to === 'c2', 'the second cancel'),
    { type: 'cancel_accepted', reply_to: 'c2', data: { run_id: runId, status: 'cancelled' } }, 'cancel is idempotent')
  client.send({ type: 'cancel', id: 'c3', run_id: 'no-such-run' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 'c3', 'cancel of a missing run'),
    { type: 'error', reply_to: 'c3', data: { code: 'not_found', message: 'run not found' } })
  await client.barrier()
  t.equal(client.events(runId).length, 7, 'nothing after the terminal event')
})

t.test('heartbeat: a peer that does not answer pings is closed with 4008 (not dropped), one that does stays', async (t) => {
  const { wsUrl } = await listen(t, { WS_HEARTBEAT_MS: '100' })
  const silent = await connected(t, wsUrl, auth('heartbeat'), { autoPong: false })
  const healthy = await connected(t, wsUrl, auth('heartbeat'))

  t.strictSame(await silent.closed, { code: 4008, reason: 'too slow' }, 'told to reconnect and resume, not dropped with 1006')
  t.ok(silent.pings >= 1, 'the silent peer was pinged')
  await healthy.waitUntil(() => healthy.pings >= 3, 'three pings to the healthy peer')
  await healthy.barrier()
  t.equal(healthy.ws.readyState, healthy.ws.OPEN)
})

t.test('unsubscribe and subscribe replies; subscribing to what does not exist is not_found', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('sub-user'))
  client.send({ type: 'subscribe', id: 1, run_id: 'no-such-run' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 1, 'subscribe reply'),
    { type: 'error', reply_to: 1, data: { code: 'not_found', message: 'run not found' } })
  client.send({ type: 'subscribe', id: 2, thread_id: 'no-such-thread' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 2, 'subscribe reply'),
    { type: 'error', reply_to: 2, data: { code: 'not_found', message: 'thread not found' } })
  client.send({ type: 'unsubscribe', id: 3, run_id: 'no-such-run' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 3, 'unsubscribe reply'), { type: 'unsubscribed', reply_to: 3, run_id: 'no-such-run' })
  client.send({ type: 'unsubscribe', thread_id: 'no-such-thread' })
  t.strictSame(await client.waitFor((f) => f.type === 'unsubscribed' && f.reply_to === undefined, 'unsubscribe reply'), { type: 'unsubscribed', thread_id: 'no-such-thread' })
  client.send({ type: 'message', id: 4, content: 'hi', agent: 'no-such-agent' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 4, 'message reply'),
    { type: 'error', reply_to: 4, data: { code: 'unknown_agent', message: 'no agent named "no-such-agent"' } })
  client.send({ type: 'message', id: 5, content: 'hi', thread_id: 'no-such-thread' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 5, 'message reply'),
    { type: 'error', reply_to: 5, data: { code: 'not_found', message: 'thread not found' } })
  await client.barrier()
})

t.test('connect() collects frames from the very first one', async (t) => {
  const { wsUrl } = await listen(t)
  const client: Client = connect(t, wsUrl, auth('early'))
  const first = await client.waitFor(() => true, 'the first frame')
  t.equal(first.type, 'connection_established')
  t.equal(client.frames.indexOf(first), 0)
})
