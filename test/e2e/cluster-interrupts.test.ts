import t from 'tap'
import { assertRunContract } from '../helpers/contract.js'
import { cluster, eventually, follow, get, post, range, seqsOf, services } from '../helpers/cluster.js'

// Server processes on one Postgres schema and one Redis: a run waiting for an approval or an
// answer outlives the process that asked.
t.setTimeout(600_000)
const { postgres, redis, skip } = services(t)

const streamed = (events: Array<{ type: string, data: any }>) => events.filter((e) => e.type === 'answer_delta')
  .reduce((text, e) => e.data.reset ? e.data.delta : text + e.data.delta, '')

t.test('SIGKILL the process a run waits on: another process takes it over, finds the answer, and the call runs once', { skip }, async (t) => {
  const c = cluster(t, postgres, redis, { AGENT_MODULES: './test/fixtures/hitl-agents.mjs' })
  const a = await c.start()
  // answered after the takeover: the new holder waits on the same interrupt
  const late = (await post(a, 'alice', '/messages', { content: 'pay', agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })).body.run_id as string
  // answered while no process holds it: the new holder finds the stored answer
  const early = (await post(a, 'alice', '/messages', { content: 'count', agent: 'asker', input: {} })).body.run_id as string
  const requestOf = (runId: string) => eventually(async () => (await get(a, 'alice', `/runs/${runId}/events`)).events.find((e: any) => e.type === 'input_requested'), 'input_requested')
  const lateAsk = await requestOf(late)
  const earlyAsk = await requestOf(early)
  t.equal((await get(a, 'alice', `/runs/${late}`)).status, 'waiting')
  // started once both wait on A, so A holds them
  const b = await c.start()
  const lateWatch = follow(() => [b], 'alice', late)
  const earlyWatch = follow(() => [b], 'alice', early)
  await eventually(() => (lateWatch.events.length && earlyWatch.events.length) || undefined, 'followed from B')

  a.child.kill('SIGKILL')
  await a.exited
  const answered = await post(b, 'alice', `/runs/${early}/resume`, { interrupt_id: earlyAsk.data.interrupt_id, answer: 5 })
  t.equal(answered.status, 202)
  await eventually(() => lateWatch.events.some((e) => e.type === 'agent_started' && e.data.attempt === 2) || undefined, 'the payer taken over')
  t.equal((await post(b, 'bob', `/runs/${late}/resume`, { interrupt_id: lateAsk.data.interrupt_id, decision: 'approve' })).status, 404, 'another user: not_found')
  t.equal((await post(b, 'alice', `/runs/${late}/resume`, { interrupt_id: lateAsk.data.interrupt_id, decision: 'approve' })).status, 202)

  for (const [runId, watcher, answer] of [[late, lateWatch, 'Paying… sent 500 to bob.'], [early, earlyWatch, '## Count\n\nAsking you. You said 5.\n\nDone.']] as const) {
    const events = await watcher.ended
    t.equal(events.at(-1)!.type, 'run_completed')
    t.strictSame(seqsOf(events), range(events.length), 'every event once, in order')
    t.equal(watcher.duplicates, 0)
    const stored = (await get(b, 'alice', `/runs/${runId}/events`)).events
    t.strictSame(stored, events, 'the client saw exactly what is stored')
    assertRunContract(t, stored)
    t.equal(stored.filter((e: any) => e.type === 'input_requested').length, 1, 'asked once')
    t.match(stored.find((e: any) => e.type === 'input_received').data, { by: 'user' })
    t.strictSame(stored.filter((e: any) => e.type === 'agent_error').map((e: any) => [e.data.error.code, e.data.retryable]), [['interrupted', true]])
    t.equal(streamed(stored), answer, 'the deltas add up to the answer, across the takeover')
    t.equal(c.marks(runId).length, 2, 'the agent body ran on both processes')
    t.equal((await get(b, 'alice', `/runs/${runId}`)).status, 'completed')
  }
  const lateStored = (await get(b, 'alice', `/runs/${late}/events`)).events
  const calls = lateStored.filter((e: any) => e.type === 'tool_executing')
  t.equal(calls.length, 1, 'the approved tool ran once')
  t.equal(calls[0].data.tool_call_id, lateAsk.data.tool_call_id, 'as the call the approval was asked for')
})
