import t from 'tap'
import { build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { getEvents, postMessage, waitForRun } from '../helpers/http.js'
import { until } from '../helpers/ws.js'

// The store refuses every write of run events for a while (a locked or full disk): runs must not
// be stranded. Each run's process lets it go, and whoever claims it next goes on from what was stored.
t.test('a store that fails its writes for a while: readiness says so, and every run still ends, taken up from its stored events', async (t) => {
  const app = await build(t, { AGENT_MODULES: './test/fixtures/slow-agents.mjs', LEASE_MS: '1000' })
  const runs: Array<{ user: string, run_id: string }> = []
  for (const user of ['ann', 'ben', 'cat']) {
    runs.push({ user, ...await postMessage(app, user, { content: 'slowly', agent: 'slow', input: { steps: 4, ms: 200 } }) })
  }
  await until(async () => (await getEvents(app, 'cat', runs[2]!.run_id)).length >= 3 || undefined, 'every run under way')

  const appendBatches = app.store.appendBatches.bind(app.store)
  let failures = 0
  const probeWrite = app.store.probeWrite.bind(app.store)
  app.store.appendBatches = async () => { failures++; throw new Error('SQLITE_FULL: database or disk is full') }
  app.store.probeWrite = async () => { throw new Error('SQLITE_FULL: database or disk is full') }
  await until(async () => app.engine.storeFailing || undefined, 'a commit failed after its retries')
  const ready = await app.inject({ url: '/health/ready' })
  t.strictSame([ready.statusCode, ready.json().checks.store], [503, 'failing'])
  app.store.appendBatches = appendBatches
  app.store.probeWrite = probeWrite

  for (const r of runs) {
    const run = await waitForRun(app, r.user, r.run_id)
    t.equal(run.status, 'completed', `${r.user}'s run completed`)
    const events = await getEvents(app, r.user, r.run_id)
    assertRunContract(t, events)
    t.strictSame(events.map((e) => e.seq), events.map((_, i) => i + 1))
  }
  t.ok(failures >= 4, 'the failed commit was retried before it failed')
  const interrupted = (await Promise.all(runs.map((r) => getEvents(app, r.user, r.run_id))))
    .flat().filter((e) => e.type === 'agent_error' && (e.data as { error: { code: string } }).error.code === 'interrupted')
  t.ok(interrupted.length >= 1, 'a run was cut off by the failure and taken up again')
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again')
})
