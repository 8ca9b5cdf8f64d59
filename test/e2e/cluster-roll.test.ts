import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { assertRunContract } from '../helpers/contract.js'
import { cluster, eventually, follow, get, post, range, seqsOf, services, type Node } from '../helpers/cluster.js'
import { privateRedis } from '../helpers/redis.js'

// Many server processes on one Postgres schema and one Redis, as a deployment runs them.
// Each process starts slowly on a loaded machine: the file gets more than tap's default time.
t.setTimeout(600_000)
const { postgres, redis, skip } = services(t)

t.test('rolling restart: every process SIGTERMed and restarted in turn while 30 runs stream; no run fails and every client ends whole', { skip }, async (t) => {
  const c = cluster(t, postgres, redis, { SHUTDOWN_GRACE_MS: '300', MAX_RUNS_PER_USER: '5' })
  const nodes: Node[] = [await c.start(), await c.start(), await c.start()]
  const runs: Array<{ user: string, runId: string, watcher: ReturnType<typeof follow> }> = []
  for (let i = 0; i < 30; i++) {
    const user = `roll-${i}`
    const posted = await post(nodes[i % 3]!, user, '/messages', { content: 'tick', agent: 'ticker', input: { n: 40, ms: 100 } })
    t.equal(posted.status, 202)
    runs.push({ user, runId: posted.body.run_id, watcher: follow(() => nodes, user, posted.body.run_id) })
  }
  for (let i = 0; i < 3; i++) {
    // the new process serves from now on, so clients dropped by the old one resume elsewhere
    const old = nodes[i]!
    nodes[i] = await c.start()
    await old.stop()
  }
  for (const r of runs) {
    const events = await r.watcher.ended
    t.equal(events.at(-1)!.type, 'run_completed', `${r.runId} completed`)
    t.equal(r.watcher.duplicates, 0)
    t.strictSame(seqsOf(events), range(events.length))
    const stored = (await get(nodes[0]!, r.user, `/runs/${r.runId}/events`)).events
    t.strictSame(stored, events)
    assertRunContract(t, stored)
  }
})

t.test('the test\'s own Redis restarted mid-run: a subscriber on another process ends with the full sequence', { skip }, async (t) => {
  const own = await privateRedis(t)
  const c = cluster(t, postgres, redis, { REDIS_URL: own.url })
  const a = await c.start()
  const b = await c.start()
  const runId = (await post(a, 'alice', '/messages', { content: 'tick', agent: 'ticker', input: { n: 40, ms: 50 } })).body.run_id as string
  const watcher = follow(() => [b], 'alice', runId)
  await eventually(() => watcher.events.length >= 5 || undefined, 'the first ticks')
  await own.stop()
  await sleep(500)
  await own.start()
  const events = await watcher.ended
  t.equal(events.at(-1)!.type, 'run_completed')
  t.equal(watcher.duplicates, 0)
  t.strictSame(seqsOf(events), range(events.length))
  t.strictSame((await get(b, 'alice', `/runs/${runId}/events`)).events, events)
})
