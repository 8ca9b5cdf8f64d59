import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { cluster, eventually, get, post, services } from '../helpers/cluster.js'

// Many server processes on one Postgres schema and one Redis, as a deployment runs them.
// Each process starts slowly on a loaded machine: the file gets more than tap's default time.
t.setTimeout(600_000)
const { postgres, redis, skip } = services(t)

for (const dialect of ['sqlite', 'postgres'] as const) {
  t.test(`${dialect}: a second process started beside a live run takes nothing the first still holds`, { skip: dialect === 'postgres' ? skip : false }, async (t) => {
    const c = cluster(t, postgres ?? '', redis ?? '', dialect === 'sqlite' ? { DATABASE_URL: `sqlite:${path.join(t.testdir(), 'one.db')}` } : {})
    const bus: Record<string, string> = dialect === 'sqlite' ? { REDIS_URL: '' } : {}
    const a = await c.start(bus)
    const runId = (await post(a, 'alice', '/messages', { content: 'hold', agent: 'hold' })).body.run_id as string
    await eventually(() => c.marks(runId).length === 1 || undefined, 'held on A')
    const b = await c.start(bus)
    // more than two leases long: a second process that took the run would have done so by now
    await sleep(2500)
    c.release(runId)
    await eventually(async () => (await get(a, 'alice', `/runs/${runId}`)).status === 'completed' || undefined, 'the run completes')
    t.strictSame(c.marks(runId), [`hold ${a.pid}`], 'run once, by the first process')
    const stored = (await get(b, 'alice', `/runs/${runId}/events`)).events
    t.strictSame(stored.map((e: any) => e.type), ['agent_started', 'agent_thinking', 'agent_thinking', 'agent_completed', 'run_completed'])
  })
}
