import { once } from 'node:events'
import path from 'node:path'
import t, { type Test } from 'tap'
import { tokenFor } from '../helpers/app.js'
import { startNode } from '../helpers/cluster.js'
import { assertRunContract } from '../helpers/contract.js'
import { connect, type Frame } from '../helpers/ws.js'

/** The real server entry in a child process, on a SQLite file, with leases of 1 s. */
const serve = (t: Test, dbFile: string) => startNode(t, { DATABASE_URL: `sqlite:${dbFile}`, AGENT_MODULES: './test/fixtures/stall-agents.mjs', LEASE_MS: '1000' })

t.test('a process killed mid-run: after a restart the run is taken over, its interrupted agent starts attempt 2, and a resuming client sees every event once', async (t) => {
  const dbFile = path.join(t.testdir(), 'agentwire.db')
  const headers = { authorization: `Bearer ${tokenFor('alice')}`, 'content-type': 'application/json' }

  const first = await serve(t, dbFile)
  const posted = await fetch(`${first.url}/messages`, { method: 'POST', headers, body: JSON.stringify({ content: 'go', agent: 'stall' }) })
  t.equal(posted.status, 202)
  const { run_id } = await posted.json() as { run_id: string }

  const ws = connect(t, `${first.url.replace('http', 'ws')}/ws`, { authorization: headers.authorization })
  await ws.opened
  ws.send({ type: 'subscribe', run_id })
  await ws.waitFor((f) => f.type === 'tool_executing', 'the stalled tool call')
  const seen = ws.events(run_id)
  const lastSeq = seen.at(-1)!.seq!
  t.strictSame(seen.map((e) => e.type), ['agent_started', 'agent_thinking', 'tool_executing'])

  first.child.kill('SIGKILL')
  await once(first.child, 'exit')

  // the restarted process takes the run over once the dead one's lease lapses (LEASE_MS=1000)
  const second = await serve(t, dbFile)
  const again = connect(t, `${second.url.replace('http', 'ws')}/ws`, { authorization: headers.authorization })
  await again.opened
  again.send({ type: 'subscribe', run_id, after_seq: lastSeq })
  await again.waitFor((f) => f.run_id === run_id && f.type === 'tool_executing', 'attempt 2 in its tool call')
  const cancel = await fetch(`${second.url}/runs/${run_id}/cancel`, { method: 'POST', headers: { authorization: headers.authorization } })
  t.strictSame([cancel.status, await cancel.json()], [202, { run_id, status: 'cancelled' }])
  const tail = await again.runEnd(run_id)
  t.strictSame(tail.map((e) => [e.seq, e.type, e.data.attempt ?? e.data.status ?? null, e.data.error?.code ?? null]), [
    [4, 'tool_completed', 'error', 'interrupted'],
    [5, 'agent_error', 1, 'interrupted'],
    [6, 'agent_started', 2, null],
    [7, 'agent_thinking', null, null],
    [8, 'tool_executing', null, null],
    [9, 'tool_completed', 'cancelled', 'cancelled'],
    [10, 'agent_error', 2, 'cancelled'],
    [11, 'run_cancelled', null, null]
  ])
  t.equal(tail[1].data.retryable, true, 'the interrupted attempt is retried')
  t.equal(tail[2].data.agent_id, seen[0].data.agent_id, 'the same agent goes on')
  const all = await (await fetch(`${second.url}/runs/${run_id}/events`, { headers })).json() as { events: Frame[] }
  assertRunContract(t, all.events as never)
  t.strictSame(all.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
})
