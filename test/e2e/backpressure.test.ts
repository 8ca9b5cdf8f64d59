import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import type { RunEvent } from '../../src/core/events.js'
import { auth } from '../helpers/app.js'
import { parseSse } from '../helpers/http.js'
import { connected, listen, range, seqs, until, type Server } from '../helpers/ws.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
async function heapMb () {
  for (let i = 0; i < 4; i++) { gc(); await sleep(10) }
  return process.memoryUsage().heapUsed / 1024 / 1024
}

const EVENTS = 600
const THOUGHT = 40_000

/** A finished run of ~24 MB straight into the store: 599 thoughts of 40 KB and its end. */
async function bigRun (server: Server, user: string) {
  const store = server.app.store
  const { run } = await store.createRun({ user_id: user, content: 'big', agent: 'supervisor', multitask: 'reject', limits: { perUser: 100, queuedPerUser: 100 } })
  // the test holds the run, as a process would, so the app never runs it
  const [claimed] = await store.claimRuns({ owner: 'test', now: Date.now(), leaseMs: 600_000, perUser: 100, limit: 1, runId: run.run_id })
  const ids = { run_id: run.run_id, thread_id: run.thread_id, user_id: user }
  const events: RunEvent[] = range(1, EVENTS - 1).map((seq) => ({ type: 'agent_thinking', seq, ...ids, data: { agent_id: 'a', agent_name: 'big', thought: String(seq % 10).repeat(THOUGHT), timestamp: seq } }))
  events.push({ type: 'run_completed', seq: EVENTS, ...ids, data: { result: { ok: true }, timestamp: EVENTS } })
  await store.appendEvents(run.run_id, claimed.epoch, events)
  await store.finishRun(run.run_id, claimed.epoch, { status: 'completed', result: { ok: true } })
  return run.run_id
}

function sse (server: Server, user: string, runId: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get(`${server.url}/runs/${runId}/events`, { headers: { ...auth(user), accept: 'text/event-stream' } }, resolve).on('error', reject)
  })
}

// tens of MB through real sockets: minutes, not seconds, on a loaded 2-core machine
t.setTimeout(600_000)

t.test('a ~24 MB run: fast SSE and WebSocket readers get it whole; stalled ones hold memory to their buffers and are cut', async (t) => {
  const server = await listen(t, { WS_MAX_BUFFERED_BYTES: String(1024 * 1024), STALL_TIMEOUT_MS: '2000' })
  const runId = await bigRun(server, 'big')

  // fast readers: the whole run, no cut
  const fast = await sse(server, 'big', runId)
  let body = ''
  fast.setEncoding('utf8')
  for await (const chunk of fast) body += chunk
  const blocks = parseSse(body).filter((b) => b.comment === undefined)
  t.strictSame(blocks.map((b) => Number(b.id)), range(1, EVENTS), 'SSE: every event, in order, then the stream ends')
  const ws = await connected(t, server.wsUrl, auth('big'))
  ws.send({ type: 'subscribe', run_id: runId })
  t.strictSame(seqs(await ws.runEnd(runId, 60_000)), range(1, EVENTS), 'WebSocket: every event, in order')
  t.equal(ws.ws.readyState, ws.ws.OPEN, 'and no 4008')
  ws.terminate()

  // stalled readers: five SSE streams and five sockets that stop reading at once
  const before = await heapMb()
  const stalledSse = await Promise.all(range(1, 5).map(async () => {
    const res = await sse(server, 'big', runId)
    res.pause()
    res.socket.on('error', () => {})
    const closed = new Promise<void>((resolve) => { res.socket.on('close', () => resolve()) })
    return { res, closed }
  }))
  const stalledWs = await Promise.all(range(1, 5).map(async () => {
    const c = await connected(t, server.wsUrl, auth('big'))
    c.ws.pause()
    c.send({ type: 'subscribe', run_id: runId })
    return c
  }))
  await sleep(500)
  const during = await heapMb()
  t.ok(during - before < 40, `ten stalled readers of a 24 MB run hold ${(during - before).toFixed(1)} MB (a page and a buffer each, not the run)`)

  await until(async () => server.app.hub.streams === 0 && server.app.hub.sockets === 0 ? true : undefined, 'every stalled reader cut', 30_000)
  // a paused client notices the close once it reads again
  for (const s of stalledSse) s.res.resume()
  await Promise.all(stalledSse.map((s) => s.closed))
  t.pass('the stalled SSE streams were closed')
  for (const c of stalledWs) c.ws.resume()
  const codes = await Promise.all(stalledWs.map(async (c) => (await c.closed).code))
  t.strictSame(codes, [4008, 4008, 4008, 4008, 4008], 'the stalled sockets were told 4008')
  const metrics = (await server.app.inject({ url: '/metrics' })).body
  t.match(metrics, /agentwire_slow_consumer_cuts_total\{transport="sse"\} 5/)
  t.match(metrics, /agentwire_slow_consumer_cuts_total\{transport="ws"\} 5/)
  t.match(metrics, /agentwire_events_delivered_total\{transport="sse"\} \d+/)
})
