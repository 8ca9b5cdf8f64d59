import fc from 'fast-check'
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import { ERROR_STATUS } from '../../src/errors.js'
import { auth } from '../helpers/app.js'
import { connected, listen, type Frame } from '../helpers/ws.js'

/**
 * Hostile input, 10,000 cases per transport, seeds fixed so a failure replays: every answer is
 * either a success or a contract error (CONTRACT §2) — never `internal` — and the service lives.
 */

const SEED_HTTP = 20250801
const SEED_WS = 20250802
const RUNS = 10_000

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
async function heapAfterGc () {
  for (let i = 0; i < 4; i++) { gc(); await sleep(10) }
  return process.memoryUsage().heapUsed
}

const deep = (open: string, close: string) => fc.integer({ min: 1, max: 6000 }).map((n) => open.repeat(n) + close.repeat(n))
const oddString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', '\u0000', '\ud800', '__proto__', 'constructor', 'undefined', '../../etc/passwd', '%zz', 'a'.repeat(300)),
  fc.integer({ min: 200, max: 40_000 }).map((n) => 'x'.repeat(n))
)
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 4 }),
  oddString,
  fc.constantFrom(null, true, -1, 0, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 })
)
/** Objects that look like the contract's frames and bodies, with fields wrong in every way. */
const framish = fc.record({
  type: fc.oneof(fc.constantFrom('ping', 'subscribe', 'unsubscribe', 'message', 'cancel'), oddString, oddValue),
  id: fc.option(oddValue, { nil: undefined }),
  run_id: fc.option(fc.oneof(oddString, fc.uuid(), oddValue), { nil: undefined }),
  thread_id: fc.option(fc.oneof(oddString, fc.uuid(), oddValue), { nil: undefined }),
  after_seq: fc.option(oddValue, { nil: undefined }),
  content: fc.option(fc.oneof(oddString, oddValue), { nil: undefined }),
  agent: fc.option(fc.oneof(fc.constantFrom('supervisor', 'nope'), oddString), { nil: undefined }),
  input: fc.option(oddValue, { nil: undefined }),
  multitask: fc.option(fc.oneof(fc.constantFrom('reject', 'enqueue', 'interrupt'), oddString), { nil: undefined })
}, { requiredKeys: [] })
/** A frame or body as text: JSON of the above, JSON nested thousands deep, or not JSON at all. */
const text = fc.oneof(
  framish.map((f) => JSON.stringify(f)),
  oddValue.map((v) => JSON.stringify(v) ?? 'undefined'),
  deep('[', ']'),
  deep('{"a":', '}').map((s) => s.replace(/}+$/, (m) => `1${m}`)),
  deep('[', ']').map((d) => `{"type":"ping","id":${d}}`),
  deep('[', ']').map((d) => `{"type":"message","content":"hi","input":{"x":${d}}}`),
  deep('{"x":', '}').map((d) => `{"content":"hi","agent":"supervisor","input":${d.replace(/}+$/, (m) => `{}${m}`)}}`),
  oddString
)

const CODES = new Set(Object.keys(ERROR_STATUS))

t.test(`HTTP: ${RUNS} hostile bodies, queries and headers get a success or a contract error, never internal`, async (t) => {
  const { app } = await listen(t)
  const before = await heapAfterGc()
  const routes = ['POST /messages', 'POST /ws-tickets', 'POST /usage', 'GET /runs/:id/events', 'GET /threads', 'POST /runs/:id/cancel',
    'POST /usage/sample', 'GET /runs/:id', 'POST /auth/dev-token', 'GET /threads/:id/messages', 'DELETE /usage']
  const contentTypes = ['application/json', 'text/plain', 'text/csv', 'application/x-ndjson', 'application/json; charset=utf-16', 'multipart/form-data', undefined]
  const failures: string[] = []
  const statuses = new Map<number, number>()

  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...routes), text, fc.option(fc.constantFrom(...contentTypes), { nil: undefined }),
    fc.dictionary(fc.constantFrom('after_seq', 'limit', 'cursor', 'ticket', 'x'), oddString, { maxKeys: 3 }),
    fc.option(oddString, { nil: undefined }), fc.option(oddString, { nil: undefined }),
    async (route, body, contentType, query, requestId, lastEventId) => {
      const [method, path] = route.split(' ') as ['GET' | 'POST' | 'DELETE', string]
      let id = 'r'
      try { id = encodeURIComponent(String(query.x ?? 'r')) } catch {}
      const url = path.replace(':id', id) + '?' + new URLSearchParams(query).toString()
      const headers: Record<string, string> = { ...auth('fuzz-http') }
      if (contentType) headers['content-type'] = contentType
      if (requestId !== undefined && /^[\x20-\x7e]*$/.test(requestId)) headers['x-request-id'] = requestId
      if (lastEventId !== undefined && /^[\x20-\x7e]*$/.test(lastEventId)) headers['last-event-id'] = lastEventId
      let res
      try {
        res = await app.inject({ method, url, headers, ...(method === 'GET' ? {} : { payload: body }) })
      } catch (err) {
        // what light-my-request itself refuses (a header Node would not send) never reaches the server
        if (/Invalid character|Invalid value/.test((err as Error).message)) return true
        throw err
      }
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode < 400) return true
      let parsed: { code?: unknown, statusCode?: unknown } = {}
      try { parsed = res.json() } catch {}
      const ok = CODES.has(String(parsed.code)) && parsed.code !== 'internal' && parsed.statusCode === res.statusCode
      if (!ok && failures.length < 5) failures.push(`${route} ${res.statusCode} ${res.body.slice(0, 200)} for ${body.slice(0, 120)}`)
      return ok
    }
  ), { numRuns: RUNS, seed: SEED_HTTP, endOnFailure: true })

  t.strictSame(failures, [], 'every error answer carries a contract code')
  t.ok((statuses.get(400) ?? 0) > 1000, `many refusals seen: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'alive')
  while (app.engine.activeRuns > 0) await sleep(20)
  const growthMb = (await heapAfterGc() - before) / 1024 / 1024
  t.ok(growthMb < 32, `heap back near its start after GC (grew ${growthMb.toFixed(1)} MB)`)
})

t.test(`WebSocket: ${RUNS} hostile frames get an answer with a contract code, bounded and in order; the socket stays open`, async (t) => {
  const { app, wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('fuzz-ws'))
  let largest = 0
  client.ws.on('message', (data: Buffer) => { largest = Math.max(largest, data.length) })
  // a frame over 64 KiB closes the socket with 1009 (ws-frames.test.ts): these stay under it
  const frames = fc.sample(text.filter((f) => Buffer.byteLength(f) <= 64 * 1024), { numRuns: RUNS, seed: SEED_WS })
  const bad: Array<{ sent: string, got: Frame }> = []
  const BATCH = 100
  for (let i = 0; i < frames.length; i += BATCH) {
    const from = client.frames.length
    for (const f of frames.slice(i, i + BATCH)) client.send(f)
    await client.barrier()
    for (const got of client.frames.slice(from)) {
      if (got.type !== 'error') continue
      const replyTo = got.reply_to
      const okReply = replyTo === undefined || (typeof replyTo === 'string' && replyTo.length <= 128) || Number.isFinite(replyTo)
      if (!CODES.has(got.data?.code) || got.data.code === 'internal' || !okReply || String(got.data.message).length > 300) {
        if (bad.length < 5) bad.push({ sent: frames[i].slice(0, 100), got })
      }
    }
  }
  t.strictSame(bad, [], 'every error frame has a contract code, a bounded message and a bounded reply_to')
  t.ok(largest <= 64 * 1024, `no server frame over 64 KiB (largest ${largest} B)`)
  t.equal(client.ws.readyState, client.ws.OPEN, 'the socket is still open')
  t.ok(client.frames.filter((f) => f.type === 'error').length > 5000, 'most of them were refused')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'alive')
})

t.test('a frame whose id nests 5,000 deep, and a body whose input does, get invalid_request', async (t) => {
  const { app, wsUrl } = await listen(t)
  const client = await connected(t, wsUrl, auth('deep'))
  const nest = (n: number) => '['.repeat(n) + ']'.repeat(n)
  client.send(`{"type":"ping","id":${nest(5000)}}`)
  t.strictSame(await client.waitFor((f) => f.type === 'error', 'the refusal'),
    { type: 'error', data: { code: 'invalid_request', message: 'frame nests deeper than 64 levels' } }, 'no reply_to: the id is not echoed')
  client.send(`{"type":"message","content":"hi","input":{"x":${nest(5000)}}}`)
  t.equal((await client.waitFor((f) => f.type === 'error', 'the second refusal', { from: client.frames.length })).data.code, 'invalid_request')
  client.send({ type: 'ping', id: 'x'.repeat(129) })
  const refused = await client.waitFor((f) => f.type === 'error' && f.data.message.startsWith('invalid ping'), 'a too-long id')
  t.equal(refused.reply_to, undefined, 'an id longer than 128 is not echoed')
  await client.barrier()

  const res = await app.inject({ method: 'POST', url: '/messages', headers: { ...auth('deep'), 'content-type': 'application/json' }, payload: `{"content":"hi","input":{"x":${nest(5000)}}}` })
  t.equal(res.statusCode, 400)
  t.strictSame(res.json(), { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'body nests deeper than 64 levels' })
  const ok = await app.inject({ method: 'POST', url: '/messages', headers: auth('deep'), payload: { content: 'hi', agent: 'nope', input: { x: JSON.parse(nest(60)) } } })
  t.equal(ok.json().code, 'unknown_agent', '60 deep is parsed and goes on')
})
