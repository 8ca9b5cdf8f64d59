import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { assertRunContract } from '../helpers/contract.js'
import { cluster, eventually, follow, get, post, services } from '../helpers/cluster.js'

// Many server processes on one Postgres schema and one Redis, as a deployment runs them.
// Each process starts slowly on a loaded machine: the file gets more than tap's default time.
t.setTimeout(600_000)
const { postgres, redis, skip } = services(t)

t.test('three processes: POST on A, subscribe on B, cancel on C; 10 users × 3 runs, every socket gets exactly its own runs', { skip }, async (t) => {
  const c = cluster(t, postgres, redis)
  const nodes = [await c.start(), await c.start(), await c.start()]
  const users = Array.from({ length: 10 }, (_, i) => `user-${i}`)
  const runs: Array<{ user: string, runId: string, watcher: ReturnType<typeof follow>, cancel: boolean }> = []
  for (const [i, user] of users.entries()) {
    for (let n = 0; n < 3; n++) {
      const cancel = n === 2
      const via = nodes[(i + n) % 3]!
      const posted = await post(via, user, '/messages', cancel ? { content: 'hold', agent: 'hold' } : { content: 'tick', agent: 'ticker', input: { n: 5, ms: 20 } })
      t.equal(posted.status, 202)
      const runId = posted.body.run_id as string
      runs.push({ user, runId, cancel, watcher: follow(() => [nodes[(i + n + 1) % 3]!], user, runId) })
    }
  }
  for (const [i, r] of runs.filter((r) => r.cancel).entries()) {
    await eventually(() => r.watcher.events.some((e) => e.type === 'agent_thinking') || undefined, 'the hold under way')
    const cancelled = await post(nodes[(i + 2) % 3]!, r.user, `/runs/${r.runId}/cancel`)
    t.strictSame([cancelled.status, cancelled.body], [202, { run_id: r.runId, status: 'cancelled' }])
  }
  for (const r of runs) {
    const events = await r.watcher.ended
    t.equal(events.at(-1)!.type, r.cancel ? 'run_cancelled' : 'run_completed')
    t.ok(events.every((e) => e.user_id === r.user && e.run_id === r.runId), 'only its own run')
    t.equal(r.watcher.duplicates, 0)
    const stored = (await get(nodes[0]!, r.user, `/runs/${r.runId}/events`)).events
    t.strictSame(stored, events)
    assertRunContract(t, stored)
  }
})

t.test('cluster-wide caps: a user\'s running cap and queue bound hold across three processes, enqueue counted too', { skip }, async (t) => {
  const c = cluster(t, postgres, redis, { MAX_RUNS_PER_USER: '2', MAX_QUEUED_PER_USER: '3', RATE_LIMIT_BURST: '100', RATE_LIMIT_PER_MIN: '6000' })
  const nodes = [await c.start(), await c.start(), await c.start()]
  const statuses: number[] = []
  const accepted: string[] = []
  for (let n = 0; n < 8; n++) {
    const r = await post(nodes[n % 3]!, 'flood', '/messages', { content: `hold ${n}`, agent: 'hold' })
    statuses.push(r.status)
    if (r.status === 202) accepted.push(r.body.run_id)
    else t.strictSame([r.body.code, r.status], ['rate_limited', 429])
  }
  t.strictSame(statuses, [202, 202, 202, 202, 202, 429, 429, 429], '2 running and 3 queued, cluster-wide')
  const running = async () => {
    const states = await Promise.all(accepted.map(async (id) => (await get(nodes[0]!, 'flood', `/runs/${id}`)).status))
    return states.filter((s) => s === 'running').length
  }
  await sleep(1500)
  t.equal(await running(), 2, 'never more than the cap running anywhere')

  // enqueue on one thread: one running, the rest wait their turn and count against the bound
  const first = await post(nodes[0]!, 'threader', '/messages', { content: 'hold', agent: 'hold' })
  const turns: number[] = []
  for (let n = 0; n < 5; n++) {
    turns.push((await post(nodes[(n + 1) % 3]!, 'threader', '/messages', { content: `next ${n}`, agent: 'hold', thread_id: first.body.thread_id, multitask: 'enqueue' })).status)
  }
  t.strictSame(turns, [202, 202, 202, 429, 429])
  const busy = await post(nodes[2]!, 'threader', '/messages', { content: 'now', agent: 'hold', thread_id: first.body.thread_id })
  t.strictSame([busy.status, busy.body.code], [409, 'thread_busy'], 'reject holds across processes')
})
