import net from 'node:net'
import { rmSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { RunEvent } from '../../src/core/events.js'
import { auth, build } from '../helpers/app.js'
import { assertError, parseSse, postMessage, waitForRun } from '../helpers/http.js'
import { connected, listen, range, refusedUpgrade } from '../helpers/ws.js'

/** Writes raw bytes to the server and resolves with all it answers before closing the connection. */
function rawRequest (port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let got = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => { got += d })
    socket.on('error', () => {})
    socket.on('close', () => resolve(got))
    socket.write(text)
  })
}
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
const portOf = (url: string) => Number(new URL(url).port)

t.test('Node\'s own refusals (malformed request, headers too large, request too slow) carry a contract code', async (t) => {
  const { url } = await listen(t, { REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000' })
  const port = portOf(url)
  const malformed = await rawRequest(port, 'NOT A REQUEST\r\n\r\n')
  t.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.strictSame(bodyOf(malformed), { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'malformed HTTP request' })

  const huge = await rawRequest(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(huge, /^HTTP\/1\.1 431 /)
  t.strictSame(bodyOf(huge), { statusCode: 431, code: 'payload_too_large', error: 'Request Header Fields Too Large', message: 'request headers are too large' })

  const slow = await rawRequest(port, `POST /messages HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth('slow').authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"con`)
  t.match(slow, /^HTTP\/1\.1 408 /, 'a half-sent body is answered and closed after REQUEST_TIMEOUT_MS')
  t.equal(bodyOf(slow).code, 'invalid_request')
})

t.test('request ids: a caller\'s x-request-id is kept and sent back, a bad one is replaced', async (t) => {
  const app = await build(t)
  const kept = await app.inject({ url: '/health', headers: { 'x-request-id': 'trace-1234-abcd' } })
  t.equal(kept.headers['x-request-id'], 'trace-1234-abcd')
  const made = await app.inject({ url: '/health' })
  t.match(made.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const replaced = await app.inject({ url: '/health', headers: { 'x-request-id': 'bad id with spaces' } })
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const refused = await app.inject({ url: '/threads', headers: { 'x-request-id': 'trace-5678-efgh' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['x-request-id'], 'trace-5678-efgh', 'on error answers too')
})

t.test('CORS from ALLOWED_ORIGINS; none by default; security headers everywhere', async (t) => {
  const open = await build(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const preflight = await open.inject({
    method: 'OPTIONS',
    url: '/messages',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' }
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /authorization/)
  const get = await open.inject({ url: '/threads', headers: { ...auth('cors'), origin: 'https://app.example.com' } })
  t.equal(get.statusCode, 200)
  t.equal(get.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(get.headers['access-control-expose-headers']), /x-request-id/)
  const other = await open.inject({ url: '/threads', headers: { ...auth('cors'), origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS header')

  const closed = await build(t)
  const none = await closed.inject({ method: 'OPTIONS', url: '/messages', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(none.headers['access-control-allow-origin'], undefined, 'same origin only: no CORS')
  assertError(t, none, 404, 'not_found', 'Not Found')

  const health = await closed.inject({ url: '/health' })
  t.equal(health.headers['x-content-type-options'], 'nosniff')
  t.equal(health.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(String(health.headers['content-security-policy']), /default-src 'self'/)
  t.notMatch(String(health.headers['content-security-policy']), /upgrade-insecure-requests/)
  const page = await closed.inject({ url: '/' })
  t.equal(page.statusCode, 200)
  t.match(String(page.headers['content-security-policy']), /^default-src 'none'; script-src 'self'/, 'the chat page keeps its own strict CSP')
})

t.test('rate limits: tickets and uploads per user per minute, 429 rate_limited with Retry-After, counted in /metrics', async (t) => {
  const app = await build(t, { WS_TICKETS_PER_MIN: '3', USAGE_UPLOADS_PER_MIN: '2' })
  const tickets = []
  for (let i = 0; i < 4; i++) tickets.push(await app.inject({ method: 'POST', url: '/ws-tickets', headers: auth('limited') }))
  t.strictSame(tickets.map((r) => r.statusCode), [201, 201, 201, 429])
  assertError(t, tickets[3], 429, 'rate_limited', 'Too Many Requests')
  t.match(tickets[3].headers['retry-after'], /^\d+$/)
  t.equal((await app.inject({ method: 'POST', url: '/ws-tickets', headers: auth('someone-else') })).statusCode, 201, 'per user')

  const upload = () => app.inject({ method: 'POST', url: '/usage', headers: { ...auth('limited'), 'content-type': 'application/json' }, payload: '[]' })
  const uploads = [await upload(), await upload(), await upload()]
  t.strictSame(uploads.map((r) => r.statusCode), [200, 200, 429], 'the third upload in a minute is refused')
  t.equal(uploads[2].json().code, 'rate_limited')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /agentwire_rate_limit_refusals_total\{route="\/ws-tickets"\} 1/)
  t.match(metrics, /agentwire_rate_limit_refusals_total\{route="\/usage"\} 1/)
})

t.test('WS_MAX_SOCKETS_PER_USER: one more upgrade gets 429 rate_limited and no socket', async (t) => {
  const { wsUrl } = await listen(t, { WS_MAX_SOCKETS_PER_USER: '2' })
  const a = await connected(t, wsUrl, auth('capped'))
  await connected(t, wsUrl, auth('capped'))
  t.strictSame(await refusedUpgrade(wsUrl, auth('capped')), {
    statusCode: 429,
    body: { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: 'at most 2 open WebSockets per user; close one first' }
  })
  await connected(t, wsUrl, auth('another-user'))
  a.close()
  await a.closed
  const again = connected(t, wsUrl, auth('capped'))
  t.equal((await again).frames[0].type, 'connection_established', 'a closed socket frees its place')
})

t.test('housekeeping: expired tickets are purged; events of runs finished before the retention cutoff are deleted and their followers end', async (t) => {
  const app = await build(t, { EVENT_RETENTION_DAYS: '30' })
  const now = Math.floor(Date.now() / 1000)
  await app.store.createTicket({ ticket: 'old-ticket', user_id: 'keeper', expires_at: now - 10, token_exp: now + 3600 })
  await app.store.createTicket({ ticket: 'new-ticket', user_id: 'keeper', expires_at: now + 60, token_exp: now + 3600 })
  const accepted = await postMessage(app, 'keeper', { content: 'hello' })
  await waitForRun(app, 'keeper', accepted.run_id)
  t.strictSame(await app.housekeeping.run(), { tickets: 1, events: 0 }, 'a fresh run is inside the retention window')
  t.ok(await app.store.consumeTicket('new-ticket', now), 'the live ticket is kept')

  // as the hourly purge would do 30 days from now
  const deleted = await app.store.purgeEvents(new Date(Date.now() + 1000).toISOString())
  t.ok(deleted > 0, `${deleted} events deleted`)
  const res = await app.inject({ url: `/runs/${accepted.run_id}/events`, headers: auth('keeper') })
  t.strictSame(res.json(), { events: [] })
  t.equal((await app.inject({ url: `/runs/${accepted.run_id}`, headers: auth('keeper') })).json().status, 'completed', 'the run itself stays')
  const stream = await app.inject({ url: `/runs/${accepted.run_id}/events`, headers: { ...auth('keeper'), accept: 'text/event-stream' } })
  t.strictSame(parseSse(stream.body).filter((b) => b.comment === undefined), [], 'SSE of a purged run ends at once')
})

t.test('readiness notices a deleted SQLite file', async (t) => {
  const file = path.join(t.testdir(), 'agentwire.db')
  const app = await build(t, { DATABASE_URL: `sqlite:${file}` })
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200)
  rmSync(file)
  const res = await app.inject({ url: '/health/ready' })
  t.equal(res.statusCode, 503)
  t.strictSame(res.json(), { status: 'unavailable', checks: { store: 'failing', bus: 'ok', engine: 'ok' } })
})

t.test('GET /runs/:id/events pages with after_seq and limit', async (t) => {
  const app = await build(t)
  const { run } = await app.store.createRun({ user_id: 'pager', content: 'x', agent: 'supervisor', multitask: 'reject', limits: { perUser: 3, queuedPerUser: 20 } })
  // the test holds the run, as a process would, so the app never runs it
  const [claimed] = await app.store.claimRuns({ owner: 'test', now: Date.now(), leaseMs: 600_000, perUser: 3, limit: 1, runId: run.run_id })
  const ids = { run_id: run.run_id, thread_id: run.thread_id, user_id: 'pager' }
  const events = range(1, 2500).map((seq) => ({ type: 'agent_thinking', seq, ...ids, data: { agent_id: 'a', agent_name: 'p', thought: `${seq}`, timestamp: seq } }) as RunEvent)
  await app.store.appendEvents(run.run_id, claimed!.epoch, events)
  const get = async (query: string) => (await app.inject({ url: `/runs/${run.run_id}/events${query}`, headers: auth('pager') })).json()
  const first = await get('')
  t.equal(first.events.length, 1000, 'at most 1000 by default')
  t.equal(first.next_after_seq, 1000)
  const second = await get('?after_seq=1000')
  t.strictSame([second.events[0].seq, second.next_after_seq], [1001, 2000])
  const last = await get('?after_seq=2000')
  t.strictSame([last.events.length, last.next_after_seq], [500, undefined], 'the last page has no next_after_seq')
  t.strictSame((await get('?after_seq=10&limit=5')).events.map((e: RunEvent) => e.seq), [11, 12, 13, 14, 15])
  assertError(t, await app.inject({ url: `/runs/${run.run_id}/events?limit=1001`, headers: auth('pager') }), 400, 'invalid_request', 'Bad Request')
})

t.test('SSE keep-alive comments while a run is quiet', async (t) => {
  const { url, app } = await listen(t, { SSE_KEEPALIVE_MS: '50', AGENT_MODULES: './test/fixtures/stall-agents.mjs' })
  const accepted = await postMessage(app, 'quiet', { content: 'wait', agent: 'stall' })
  const res = await fetch(`${url}/runs/${accepted.run_id}/events`, { headers: { ...auth('quiet'), accept: 'text/event-stream' } })
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes(': keep-alive\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  t.pass('a keep-alive comment arrived')
  await reader.cancel()
  await app.inject({ method: 'POST', url: `/runs/${accepted.run_id}/cancel`, headers: auth('quiet') })
})

t.test('a socket\'s frames are answered in the order they came, even when the first one waits on the store', async (t) => {
  const { wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('ordered'))
  const from = client.frames.length
  for (let i = 0; i < 20; i++) {
    client.send({ type: 'subscribe', id: `s${i}`, run_id: `missing-${i}` })
    client.send({ type: 'ping', id: `p${i}` })
  }
  await client.waitFor((f) => f.reply_to === 'p19', 'the last pong')
  t.strictSame(client.frames.slice(from).map((f) => f.reply_to), range(0, 19).flatMap((i) => [`s${i}`, `p${i}`]))
})
