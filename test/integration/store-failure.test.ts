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

// The root agent's agent_completed carries no result (it is in run_completed alone), so the two are
// stored in one transaction: a run whose end the store refused is taken up again and still gets its result.
t.test('the root\'s end and run_completed are stored together; a run whose end was refused completes with its result', async (t) => {
  const app = await build(t, { AGENT_MODULES: './test/fixtures/slow-agents.mjs', LEASE_MS: '1000' })
  const appendBatches = app.store.appendBatches.bind(app.store)
  const refused: string[][] = []
  app.store.appendBatches = async (batches) => {
    const types = batches.flatMap((b) => b.events.map((e) => e.type))
    // the first commit of the run's end and its retries fail
    if (types.includes('run_completed') && refused.length < 4) {
      refused.push(types)
      throw new Error('SQLITE_BUSY: database is locked')
    }
    return await appendBatches(batches)
  }
  const { run_id } = await postMessage(app, 'dan', { content: 'slowly', agent: 'slow', input: { steps: 1, ms: 10 } })
  const run = await waitForRun(app, 'dan', run_id)
  t.equal(run.status, 'completed')
  t.strictSame(refused[0].slice(-2), ['agent_completed', 'run_completed'], 'the root\'s agent_completed was in the refused commit')
  const events = await getEvents(app, 'dan', run_id)
  assertRunContract(t, events)
  t.strictSame(events.filter((e) => e.type === 'agent_completed' || e.type === 'agent_error').map((e) => [e.type, (e.data as { attempt: number }).attempt]),
    [['agent_error', 1], ['agent_completed', 2]], 'the lost end was never stored: the attempt was interrupted, and the next one completed')
  const result = (events.at(-1)!.data as { result: unknown }).result
  t.ok(result, 'run_completed holds a result')
  t.strictSame(run.result, result, 'which is the run\'s')
})
