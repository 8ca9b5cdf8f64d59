import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import t from 'tap'
import { tokenFor, TEST_SECRET } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { connect, type Frame } from '../helpers/ws.js'

const loader = '@isaacs/ts-node-temp-fork-for-pr-2009/import'

/** The real server entry in a child process, on a SQLite file; resolves with its base URL. */
async function serve (dbFile: string): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, ['--import', loader, 'src/server.ts'], {
    env: {
      ...process.env,
      TS_NODE_TRANSPILE_ONLY: '1',
      PORT: '0',
      DATABASE_URL: `sqlite:${dbFile}`,
      AUTH_JWT_SECRET: TEST_SECRET,
      AGENT_MODULES: './test/fixtures/stall-agents.mjs',
      LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stderr!.on('data', (d) => { out += d })
  for await (const chunk of child.stdout!) {
    out += chunk
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) return { child, url: m[1]! }
  }
  throw new Error(`server did not start:\n${out}`)
}

t.test('a process killed mid-run: after a restart the run ends run_failed/interrupted and a resuming client sees that end', async (t) => {
  const dbFile = path.join(t.testdir(), 'agentwire.db')
  const headers = { authorization: `Bearer ${tokenFor('alice')}`, 'content-type': 'application/json' }

  const first = await serve(dbFile)
  t.teardown(() => { first.child.kill('SIGKILL') })
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

  const second = await serve(dbFile)
  t.teardown(() => { second.child.kill('SIGKILL') })
  const run = await (await fetch(`${second.url}/runs/${run_id}`, { headers })).json() as { status: string, error: unknown }
  t.equal(run.status, 'failed')
  t.strictSame(run.error, { code: 'interrupted', message: 'the process running this run stopped' })

  const again = connect(t, `${second.url.replace('http', 'ws')}/ws`, { authorization: headers.authorization })
  await again.opened
  again.send({ type: 'subscribe', run_id, after_seq: lastSeq })
  const tail = await again.runEnd(run_id)
  t.strictSame(tail.map((e) => [e.seq, e.type, e.data.status ?? e.data.error?.code]), [
    [4, 'tool_completed', 'error'],
    [5, 'agent_error', 'interrupted'],
    [6, 'run_failed', 'interrupted']
  ])
  const all = await (await fetch(`${second.url}/runs/${run_id}/events`, { headers })).json() as { events: Frame[] }
  assertRunContract(t, all.events as never)
  t.strictSame(all.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6])
})
