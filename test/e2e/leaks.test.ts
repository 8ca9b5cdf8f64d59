import { setTimeout as sleep } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import { auth, build } from '../helpers/app.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const AGENTS = ['thrower', 'nuller', 'sleeper', 'tooler', 'fragile', 'retrier', 'caller', 'resilient']

async function settle () {
  for (let i = 0; i < 5; i++) { gc(); await sleep(20) }
  return {
    heap: process.memoryUsage().heapUsed,
    resources: process.getActiveResourcesInfo().sort().join(',')
  }
}

// 500 measured runs keep the file well inside tap's 120 s on a loaded 2-core machine
t.test('500 runs that fail in every way leave handles, listeners and heap where they started', async (t) => {
  const app = await build(t, {
    AGENT_MODULES: './test/fixtures/bad-agents.mjs',
    MAX_RUNS_PER_USER: '50',
    MAX_QUEUED_PER_USER: '1000',
    RATE_LIMIT_PER_MIN: '1000000',
    RATE_LIMIT_BURST: '100000',
    RETRY_BASE_MS: '1'
  })
  let n = 0
  async function batch (count: number) {
    const posts = []
    for (let i = 0; i < count; i++, n++) {
      const user = `user-${n % 20}`
      posts.push(app.inject({ method: 'POST', url: '/messages', headers: auth(user), payload: { content: `run ${n}`, agent: AGENTS[n % AGENTS.length] } }).then(async (r) => {
        const { run_id } = r.json() as { run_id: string }
        // every fifth run is cancelled while it runs or waits
        if (n % 5 === 0) await app.inject({ method: 'POST', url: `/runs/${run_id}/cancel`, headers: auth(user) })
        return r.statusCode
      }))
    }
    const codes = await Promise.all(posts)
    t.equal(codes.filter((c) => c !== 202).length, 0, 'every run was accepted')
    while (app.engine.activeRuns > 0) await sleep(10)
  }

  await batch(100)
  const before = await settle()
  for (let i = 0; i < 5; i++) await batch(100)
  const after = await settle()

  t.equal(app.engine.activeRuns, 0, 'no run is left active')
  t.strictSame(await app.engine.stats(), { running: 0, waiting: 0 }, 'every slot is released')
  t.equal(app.hub.feed.channels, 0, 'no bus subscription is left')
  t.equal(after.resources, before.resources, 'the same handles are open')
  const growthMb = (after.heap - before.heap) / 1024 / 1024
  t.ok(growthMb < 8, `heap grew ${growthMb.toFixed(2)} MB over 500 runs (under 8 MB: no per-run leak)`)
  const stats = (await app.inject({ url: '/me/stats', headers: auth('user-0') })).json() as { runs: Record<string, number> }
  t.equal(stats.runs.running + stats.runs.queued, 0, 'the store shows no run left open')
})
