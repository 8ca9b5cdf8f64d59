import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { assertRunContract } from '../helpers/contract.js'
import { cluster, eventually, follow, get, post, range, seqsOf, services, type Node } from '../helpers/cluster.js'

// Many server processes on one Postgres schema and one Redis, as a deployment runs them.
// Each process starts slowly on a loaded machine: the file gets more than tap's default time.
t.setTimeout(600_000)
const { postgres, redis, skip } = services(t)

/**
 * The node whose agent thinks `<prefix> <pid>` in the run, and the other one. Any process may
 * claim a run, not only the one it was posted to, so the test asks the run where it went.
 */
async function holder (nodes: [Node, Node], user: string, runId: string, prefix: string): Promise<[Node, Node]> {
  const pid = await eventually(async () => {
    const events = (await get(nodes[0], user, `/runs/${runId}/events`)).events as Array<{ data: { thought?: string } }>
    const thought = events.map((e) => e.data.thought).find((th) => th?.startsWith(prefix))
    return thought === undefined ? undefined : Number(thought.slice(prefix.length))
  }, `${prefix}…`)
  return pid === nodes[0].pid ? nodes : [nodes[1], nodes[0]]
}

t.test('SIGKILL mid-workflow: another process takes the run over, finished steps are not run again, the interrupted step starts attempt 2', { skip }, async (t) => {
  const c = cluster(t, postgres, redis)
  const a = await c.start()
  const b = await c.start()
  const posted = await post(a, 'alice', '/messages', { content: 'diamond', agent: 'diamond' })
  t.equal(posted.status, 202)
  const runId = posted.body.run_id as string
  const [owner, other] = await holder([a, b], 'alice', runId, 'hold_b holding in ')
  const watcher = follow(() => [other], 'alice', runId)
  await eventually(() => watcher.events.some((e) => e.data.thought === `hold_b holding in ${owner.pid}`) || undefined, 'the watcher has caught up')
  owner.child.kill('SIGKILL')
  await owner.exited
  c.release(runId)
  const events = await watcher.ended
  t.equal(events.at(-1)!.type, 'run_completed')
  t.strictSame(seqsOf(events), range(events.length), 'every event once, in order')
  t.equal(watcher.duplicates, 0)
  const stored = (await get(other, 'alice', `/runs/${runId}/events`)).events
  t.strictSame(stored, events, 'the client saw exactly what is stored')
  assertRunContract(t, stored)

  const marks = c.marks(runId).map((m) => m.split(' ')[0])
  t.strictSame(marks.filter((m) => m === 'step_a'), ['step_a'], 'a is not run again')
  t.strictSame(marks.filter((m) => m === 'hold_b'), ['hold_b', 'hold_b'], 'b runs again')
  t.strictSame(marks.filter((m) => m === 'step_d'), ['step_d'])
  const bStarts = stored.filter((e: any) => e.type === 'agent_started' && e.data.step_id === 'b')
  t.strictSame(bStarts.map((e: any) => e.data.attempt), [1, 2], 'b starts attempt 2')
  t.equal(bStarts[0].data.agent_id, bStarts[1].data.agent_id, 'as the same agent')
  const interrupted = stored.filter((e: any) => e.data.error?.code === 'interrupted')
  t.strictSame(interrupted.map((e: any) => [e.type, e.data.agent_name, e.data.retryable]), [['agent_error', 'hold_b', true], ['agent_error', 'diamond', true]])
  t.ok(stored.some((e: any) => e.type === 'agent_thinking' && e.data.thought === `hold_b woke in ${other.pid}`), 'b finished on the process that took over')
  const run = await get(other, 'alice', `/runs/${runId}`)
  t.equal(run.status, 'completed')
})

t.test('SIGSTOP the owner until its run is taken over, then SIGCONT: not one event of the stale process is stored or delivered', { skip }, async (t) => {
  const c = cluster(t, postgres, redis)
  const a = await c.start()
  const b = await c.start()
  const posted = await post(a, 'alice', '/messages', { content: 'hold', agent: 'hold' })
  const runId = posted.body.run_id as string
  const [owner, other] = await holder([a, b], 'alice', runId, 'hold holding in ')
  const watcher = follow(() => [other], 'alice', runId)
  await eventually(() => watcher.events.some((e) => e.data.thought === `hold holding in ${owner.pid}`) || undefined, 'the watcher has caught up')
  owner.child.kill('SIGSTOP')
  t.teardown(() => { owner.child.kill('SIGCONT') })
  await eventually(() => watcher.events.some((e) => e.data.thought === `hold holding in ${other.pid}`) || undefined, 'taken over')
  c.release(runId)
  owner.child.kill('SIGCONT')
  const events = await watcher.ended
  // the stale process wakes to a released run and a lapsed lease: give it the time to try writing
  await sleep(2000)
  const stored = (await get(other, 'alice', `/runs/${runId}/events`)).events
  t.strictSame(stored, events)
  t.strictSame(seqsOf(stored), range(stored.length))
  assertRunContract(t, stored)
  const thoughts = stored.filter((e: any) => e.type === 'agent_thinking').map((e: any) => e.data.thought)
  t.strictSame(thoughts, [`hold holding in ${owner.pid}`, `hold holding in ${other.pid}`, `hold woke in ${other.pid}`], 'nothing from the stale process after the takeover')
  t.equal((await get(other, 'alice', `/runs/${runId}`)).status, 'completed')
})

t.test('an agent that may not run twice: its run ends run_failed interrupted when its process is lost', { skip }, async (t) => {
  const c = cluster(t, postgres, redis)
  const a = await c.start()
  const b = await c.start()
  const runId = (await post(a, 'alice', '/messages', { content: 'once', agent: 'hold_once' })).body.run_id as string
  const [owner, other] = await holder([a, b], 'alice', runId, 'hold_once holding in ')
  const watcher = follow(() => [other], 'alice', runId)
  owner.child.kill('SIGKILL')
  const events = await watcher.ended
  t.strictSame(events.map((e) => [e.type, e.data.error?.code ?? null, e.data.retryable ?? null]).slice(-2), [
    ['agent_error', 'interrupted', false],
    ['run_failed', 'interrupted', null]
  ])
  t.strictSame(c.marks(runId), [`hold_once ${owner.pid}`], 'it ran once')
  assertRunContract(t, events as never)
})
