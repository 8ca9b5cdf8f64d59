import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import t from 'tap'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { type RunEvent } from '../../client/src/index.js'
import { TEST_SECRET, tokenFor } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { SLOW_AGENTS, range, until } from '../helpers/ws.js'
import { makeClient, portOf, stored } from './helpers.js'

const loader = '@isaacs/ts-node-temp-fork-for-pr-2009/import'

// child servers compiled at start and a lease to lapse: minutes, not seconds, on a loaded machine
t.setTimeout(600_000)

t.test('the server closed and started again on the same SQLite file and port mid-run: the client sees the stored events exactly once', async (t) => {
  const config = loadConfig({
    AUTH_JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    DATABASE_URL: `sqlite:${path.join(t.testdir(), 'agentwire.db')}`,
    AGENT_MODULES: SLOW_AGENTS,
    SHUTDOWN_GRACE_MS: '0'
  })
  let app: App = await buildApp(config)
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = portOf(app)

  const { client, statuses } = makeClient(t, { url: `http://127.0.0.1:${port}`, token: tokenFor('restarter') })
  const run = await client.send('through a restart', { agent: 'slow', input: { steps: 10, ms: 200 } })
  const seen: RunEvent[] = []
  const iterate = (async () => { for await (const e of run.events()) seen.push(e) })()
  await until(async () => seen.length >= 5 || undefined, 'five events')

  await app.close()
  app = await buildApp(config)
  await app.listen({ port, host: '127.0.0.1' })
  await iterate

  const all = await stored(app, 'restarter', run.id)
  t.strictSame(seen, all, 'every stored event once, in order')
  t.strictSame(seen.map((e) => e.seq), range(1, all.length))
  assertRunContract(t, all as never)
  t.ok(statuses.some((s) => s.state === 'disconnected' && s.code === 1001), 'the old server closed the socket with 1001')
  // the run may have ended before the old server closed the socket; the client reconnects all the same
  await until(async () => statuses.some((s) => s.state === 'connected' && s.reason === 'reconnect') || undefined, 'a reconnect to the new server')
  t.pass('the client reconnected to the new server')
  // whether the old process ended the run or the new one continued it, result() says how it ended
  const end = all.at(-1)!
  if (end.type === 'run_completed') t.strictSame(await run.result(), end.data.result)
  else t.equal((await run.result().catch((e: unknown) => e) as { code: string }).code, end.type === 'run_failed' ? end.data.error.code : 'cancelled')
})

/** The real server entry in a child process, on a SQLite file and `port` (0: any); resolves with its base URL. */
async function serve (dbFile: string, port: number): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, ['--import', loader, 'src/server.ts'], {
    env: {
      ...process.env,
      TS_NODE_TRANSPILE_ONLY: '1',
      PORT: String(port),
      DATABASE_URL: `sqlite:${dbFile}`,
      AUTH_JWT_SECRET: TEST_SECRET,
      AGENT_MODULES: SLOW_AGENTS,
      // the killed process's lease lapses in 2 s, not the default 10 s, before the new one takes the run
      LEASE_MS: '2000',
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

t.test('the server process killed mid-run and started again on the same port: the client resumes and sees the stored run exactly once', async (t) => {
  const dbFile = path.join(t.testdir(), 'agentwire.db')
  const first = await serve(dbFile, 0)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const port = Number(new URL(first.url).port)

  const { client, statuses } = makeClient(t, { url: first.url, token: tokenFor('crasher'), reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } })
  const run = await client.send('through a crash', { agent: 'slow', input: { steps: 20, ms: 500 } })
  const seen: RunEvent[] = []
  const iterate = (async () => { for await (const e of run.events()) seen.push(e) })()
  await until(async () => seen.length >= 4 || undefined, 'four events')
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')
  const before = seen.length

  const second = await serve(dbFile, port)
  t.teardown(() => { second.child.kill('SIGKILL') })
  await iterate

  const res = await fetch(`${second.url}/runs/${run.id}/events`, { headers: { authorization: `Bearer ${tokenFor('crasher')}` } })
  const all = (await res.json() as { events: RunEvent[] }).events
  t.strictSame(seen, all, 'every stored event once, in order')
  t.strictSame(seen.map((e) => e.seq), range(1, all.length))
  t.ok(all.length > before, `events came from the new process too (${before} before the kill, ${all.length} in all)`)
  assertRunContract(t, all as never)
  t.ok(statuses.some((s) => s.state === 'disconnected' && s.code === 1006), 'the socket dropped (1006)')
  t.ok(statuses.some((s) => s.state === 'reconnecting' && s.error?.code === 'network'), 'reconnecting failed while nothing listened')
})
