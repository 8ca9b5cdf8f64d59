import path from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { assertError, getEvents, postMessage, waitForRun, type Accepted } from '../helpers/http.js'
import { connected, listen, until } from '../helpers/ws.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const BAD = './test/fixtures/bad-agents.mjs'

interface Ev { type: string, seq: number, data: any }
interface Fixture {
  record: {
    starts: Array<{ agent: string, tag?: string, user_id: string, run_id: string }>
    running: Map<string, number>
    peak: Map<string, number>
  }
  gate: { close (): void, open (): void, readonly waiting: number }
  reset (): void
}
// the registry imports the fixture by this URL too, so this is the app's own module instance
const fixture = await import(pathToFileURL(path.resolve(ORCH)).href) as Fixture

const events = async (app: App, user: string, runId: string) => await getEvents(app, user, runId) as unknown as Ev[]
const users = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`)
const post = (app: App, user: string, body: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/messages', headers: auth(user), payload: body })

/** The most runs of one user running at once, from its runs' root agent_started/agent_completed timestamps. */
function peakFromEvents (runs: Ev[][]): number {
  const edges = runs.flatMap((list) => {
    const root = list.find((e) => e.type === 'agent_started')!
    const end = list.find((e) => (e.type === 'agent_completed' || e.type === 'agent_error') && e.data.agent_id === root.data.agent_id)!
    return [[root.data.timestamp, 1], [end.data.timestamp, -1]] as Array<[number, number]>
  })
  // at one instant, an end frees its slot before a start takes one
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let peak = 0
  for (const [, delta] of edges) peak = Math.max(peak, now += delta)
  return peak
}

t.beforeEach(() => fixture.reset())

t.test('20 users flooding at once with a per-user limit of 3: at most 3 running per user, exact queue positions, 429 beyond the queue', async (t) => {
  const app = await build(t, {
    AGENT_MODULES: ORCH,
    MAX_RUNS_PER_USER: '3',
    MAX_QUEUED_PER_USER: '3',
    MAX_RUNS: '100',
    RATE_LIMIT_BURST: '100',
    RATE_LIMIT_PER_MIN: '6000'
  })
  const flooders = users(20, 'flood')
  fixture.gate.close()

  // every user at once; each user's own posts one after the other, so "the 4th run" is well defined
  const accepted = new Map<string, Accepted[]>()
  const refused = await Promise.all(flooders.map(async (user) => {
    const mine: Accepted[] = []
    accepted.set(user, mine)
    for (let n = 1; n <= 6; n++) mine.push(await postMessage(app, user, { content: `run ${n}`, agent: 'gated', input: { tag: `${user}#${n}`, ms: 100 } }))
    return post(app, user, { content: 'one too many', agent: 'gated', input: { tag: `${user}#7` } })
  }))
  for (const res of refused) {
    assertError(t, res, 429, 'rate_limited', 'Too Many Requests')
    t.match(res.headers['retry-after'], /^[1-9][0-9]*$/, 'with retry-after')
  }

  for (const user of flooders) {
    const mine = accepted.get(user)!
    t.strictSame(mine.map((a) => a.status), ['running', 'running', 'running', 'queued', 'queued', 'queued'], `${user}: 3 running, 3 queued`)
    const firsts = await Promise.all(mine.slice(3).map(async (a) => (await events(app, user, a.run_id)).map((e) => [e.type, e.data.position])))
    t.strictSame(firsts, [[['run_queued', 1]], [['run_queued', 2]], [['run_queued', 3]]], `${user}: runs 4, 5 and 6 are queued at positions 1, 2 and 3`)
  }
  // the other users are not held up by the flood: a new user starts at once
  const late = await postMessage(app, 'late-comer', { content: 'me too', agent: 'gated', input: { tag: 'late' } })
  t.equal(late.status, 'running')
  await until(async () => fixture.gate.waiting === 61 || undefined, 'the 61 running runs at the gate')

  fixture.gate.open()
  for (const user of flooders) {
    const mine = accepted.get(user)!
    const runs = await Promise.all(mine.map((a) => waitForRun(app, user, a.run_id)))
    t.strictSame(runs.map((r) => r.status), Array(6).fill('completed'), `${user}: every run completed`)
    const lists = await Promise.all(mine.map((a) => events(app, user, a.run_id)))
    for (const list of lists) assertRunContract(t, list as never)
    t.equal(peakFromEvents(lists), 3, `${user}: at most 3 root agents running at once, by the event timestamps`)
    // a queued run starts only once one of the user's earlier runs has ended
    const firstEnd = Math.min(...lists.slice(0, 3).map((l) => l.at(-1)!.data.timestamp))
    for (const list of lists.slice(3)) t.ok(list.find((e) => e.type === 'agent_started')!.data.timestamp >= firstEnd, `${user}: a queued run starts after a slot freed`)
  }
  t.strictSame(Object.fromEntries(flooders.map((u) => [u, fixture.record.peak.get(u)])), Object.fromEntries(flooders.map((u) => [u, 3])),
    'the agents themselves counted at most 3 of each user running at once')
  await waitForRun(app, 'late-comer', late.run_id)
  t.strictSame(await app.engine.stats(), { running: 0, waiting: 0 })
})

t.test('with a global cap below the demand, queued runs start round-robin between users, each user\'s in order', async (t) => {
  const app = await build(t, {
    AGENT_MODULES: ORCH,
    MAX_RUNS_PER_USER: '3',
    MAX_QUEUED_PER_USER: '10',
    // not above the per-user limit, so only the global cap decides who waits
    MAX_RUNS: '3',
    RATE_LIMIT_BURST: '100',
    RATE_LIMIT_PER_MIN: '6000'
  })
  fixture.gate.close()
  const accepted = new Map<string, Accepted[]>()
  const flood = async (user: string, count: number) => {
    const mine: Accepted[] = []
    accepted.set(user, mine)
    for (let n = 1; n <= count; n++) mine.push(await postMessage(app, user, { content: `run ${n}`, agent: 'gated', input: { tag: `${user}#${n}`, ms: 5 } }))
  }
  // one user floods first and takes every slot; then 19 others post 3 runs each, all at once
  await flood('heavy', 10)
  const others = users(19, 'rr')
  await Promise.all(others.map((user) => flood(user, 3)))
  t.strictSame(accepted.get('heavy')!.map((a) => a.status), [...Array(3).fill('running'), ...Array(7).fill('queued')])
  t.strictSame(others.flatMap((u) => accepted.get(u)!.map((a) => a.status)), Array(57).fill('queued'))
  await until(async () => fixture.gate.waiting === 3 || undefined, 'the three running runs at the gate')
  const initial = fixture.record.starts.length

  fixture.gate.open()
  for (const [user, mine] of accepted) {
    for (const a of mine) {
      t.equal((await waitForRun(app, user, a.run_id)).status, 'completed')
      assertRunContract(t, await events(app, user, a.run_id) as never)
    }
  }
  const starts = fixture.record.starts.slice(initial).map((s) => s.tag!)
  t.equal(starts.length, 64, 'every queued run started once')

  // round-robin: the user whose last start is oldest goes first, so the order in which users
  // first got a queued run started repeats in every round, a user dropping out once its queue is
  // empty; first come is not first served for a whole flood
  const userOf = (tag: string) => tag.split('#')[0]
  const queuedOf = new Map([...accepted].map(([u, mine]) => [u, mine.filter((a) => a.status === 'queued').length]))
  const order = [...new Set(starts.map(userOf))]
  t.equal(order.length, 20)
  t.equal(order.at(-1), 'heavy', 'the user who has had the most turns waits for every other user')
  const expected: string[] = []
  for (let round = 1; round <= 7; round++) for (const u of order) if (queuedOf.get(u)! >= round) expected.push(u)
  t.strictSame(starts.map(userOf), expected, 'queued runs start one user at a time, in turn')
  t.equal(starts.slice(0, 20).filter((tag) => userOf(tag) === 'heavy').length, 1, 'the heavy user got one of the first 20 freed slots, not 7')
  for (const [user, mine] of accepted) {
    const queuedTags = mine.map((a, i) => a.status === 'queued' ? `${user}#${i + 1}` : undefined).filter(Boolean)
    t.strictSame(starts.filter((tag) => userOf(tag) === user), queuedTags, `${user}: its queued runs start in the order they were posted`)
  }
  t.strictSame(await app.engine.stats(), { running: 0, waiting: 0 })
})

t.test('sub-agents take no run slot: workflows complete under a per-user and global limit of 1', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH, MAX_RUNS_PER_USER: '1', MAX_RUNS: '1' })
  const first = await postMessage(app, 'solo', { content: 'diamond', agent: 'slow_diamond' })
  const second = await postMessage(app, 'solo', { content: 'fan out', agent: 'forgiving' })
  t.strictSame([first.status, second.status], ['running', 'queued'])
  t.strictSame([(await waitForRun(app, 'solo', first.run_id)).status, (await waitForRun(app, 'solo', second.run_id)).status], ['completed', 'completed'])
  const list = await events(app, 'solo', first.run_id)
  assertRunContract(t, list as never)
  t.equal(list.filter((e) => e.type === 'agent_started').length, 5, 'the workflow and its four steps ran')
})

t.test('rate limit: with RATE_LIMIT_BURST=2 the third POST /messages gets 429 rate_limited with retry-after; other users are unaffected', async (t) => {
  const app = await build(t, { AGENT_MODULES: ORCH, RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MIN: '1' })
  const body = { content: 'hi', agent: 'quick' }
  const answers = []
  for (let i = 0; i < 3; i++) answers.push(await post(app, 'hasty', body))
  t.strictSame(answers.map((r) => r.statusCode), [202, 202, 429])
  const refused = answers[2]
  assertError(t, refused, 429, 'rate_limited', 'Too Many Requests')
  const retryAfter = refused.headers['retry-after']
  t.match(retryAfter, /^[1-9][0-9]*$/, 'retry-after is a whole number of seconds')
  // 2 messages per window of 2 / 1 minutes: the window ends within 120 s
  t.ok(Number(retryAfter) <= 120, `retry-after ${retryAfter} s`)

  for (const r of answers.slice(0, 2)) {
    const { run_id: runId } = r.json()
    await waitForRun(app, 'hasty', runId)
    assertRunContract(t, await events(app, 'hasty', runId) as never)
  }
  t.equal((await post(app, 'patient', body)).statusCode, 202, 'another user is not limited')
  t.equal((await post(app, 'patient', body)).statusCode, 202)
  const stats = (await app.inject({ url: '/me/stats', headers: auth('hasty') })).json()
  t.equal(stats.runs.queued + stats.runs.running + stats.runs.completed, 2, 'the refused message made no run')
})

t.test('rate limit: a message frame over the burst gets an error frame rate_limited and the socket stays open', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: ORCH, RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MIN: '1' })
  const client = await connected(t, wsUrl, auth('frames'))
  for (const id of ['m-1', 'm-2']) {
    client.send({ type: 'message', id, content: 'hi', agent: 'quick' })
    await client.waitFor((f) => f.reply_to === id, `the answer to ${id}`)
  }
  client.send({ type: 'message', id: 'm-3', content: 'hi', agent: 'quick' })
  const answer = await client.waitFor((f) => f.reply_to === 'm-3', 'the answer to m-3')
  t.equal(answer.type, 'error')
  t.equal(answer.data.code, 'rate_limited')
  t.match(answer.data.message, /^too many messages; retry in [1-9][0-9]* s$/)
  t.equal(answer.data.retry_after, Number(/retry in (\d+) s/.exec(answer.data.message)![1]), 'retry_after says the wait in seconds, as Retry-After does')
  const acceptedFrames = client.frames.filter((f) => f.type === 'message_accepted')
  t.strictSame(acceptedFrames.map((f) => f.reply_to), ['m-1', 'm-2'])
  for (const f of acceptedFrames) assertRunContract(t, await client.runEnd(f.data.run_id) as never)

  await client.barrier()
  t.equal((await post(app, 'other-user', { content: 'hi', agent: 'quick' })).statusCode, 202, 'another user is not limited')
  t.equal((await post(app, 'frames', { content: 'hi', agent: 'quick' })).statusCode, 429, 'the same bucket limits POST /messages')
})

t.test('GET /me/stats is exact and isolated between two users after completed, failed and cancelled runs', async (t) => {
  const app = await build(t, { AGENT_MODULES: `${BAD},${ORCH}`, MAX_RUNS_PER_USER: '1' })
  const finish = async (user: string, agent: string) => {
    const a = await postMessage(app, user, { content: `run ${agent}`, agent })
    const run = await waitForRun(app, user, a.run_id)
    assertRunContract(t, await events(app, user, a.run_id) as never)
    return run
  }
  // ann: two completed (5 tool calls, then 5 with 4 errors), one failed, one cancelled in a tool
  // call, one cancelled while queued
  await finish('ann', 'five_tools')
  await finish('ann', 'tooler')
  await finish('ann', 'thrower')
  const inTool = await postMessage(app, 'ann', { content: 'wait', agent: 'tool_waiter', input: { tag: 'stats' } })
  const queued = await postMessage(app, 'ann', { content: 'wait too', agent: 'quick' })
  t.equal(queued.status, 'queued')
  await until(async () => (await events(app, 'ann', inTool.run_id)).some((e) => e.type === 'tool_executing') || undefined, 'the tool call')
  for (const id of [queued.run_id, inTool.run_id]) {
    t.strictSame((await app.inject({ method: 'POST', url: `/runs/${id}/cancel`, headers: auth('ann') })).json().status, 'cancelled')
    assertRunContract(t, await events(app, 'ann', id) as never)
  }
  // ben: one completed with 5 tool calls, one failed (invalid result)
  await finish('ben', 'five_tools')
  await finish('ben', 'nuller')

  const statsOf = async (user: string) => {
    const res = await app.inject({ url: '/me/stats', headers: auth(user) })
    t.equal(res.statusCode, 200)
    return res.json()
  }
  /** the mean of (finished_at − started_at) over the user's runs that started, as GET /runs shows them */
  const meanOf = async (user: string, runIds: string[]) => {
    const runs = await Promise.all(runIds.map((id) => waitForRun(app, user, id)))
    const ms = runs.filter((r) => r.started_at).map((r) => Date.parse(r.finished_at!) - Date.parse(r.started_at!))
    return ms.reduce((a, b) => a + b, 0) / ms.length
  }
  const runIdsOf = async (user: string) => {
    const threads = (await app.inject({ url: '/threads', headers: auth(user) })).json().threads as Array<{ thread_id: string }>
    const messages = await Promise.all(threads.map(async (th) => (await app.inject({ url: `/threads/${th.thread_id}/messages`, headers: auth(user) })).json().messages))
    return [...new Set(messages.flat().map((m: { run_id: string }) => m.run_id))]
  }
  const ann = await statsOf('ann')
  t.strictSame(ann, {
    runs: { queued: 0, running: 0, waiting: 0, completed: 2, failed: 1, cancelled: 2 },
    tool_calls: 11,
    tool_errors: 5,
    mean_run_ms: await meanOf('ann', await runIdsOf('ann'))
  }, 'ann: 5 runs; 5 + 5 + 1 tool calls, 4 of tooler\'s and the cancelled one failed; the queued run never started')
  const ben = await statsOf('ben')
  t.strictSame(ben, {
    runs: { queued: 0, running: 0, waiting: 0, completed: 1, failed: 1, cancelled: 0 },
    tool_calls: 5,
    tool_errors: 0,
    mean_run_ms: await meanOf('ben', await runIdsOf('ben'))
  }, 'ben: only his own runs')
  t.strictSame(await statsOf('cid'), { runs: { queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 }, tool_calls: 0, tool_errors: 0, mean_run_ms: null }, 'a user with no runs sees none')
})
