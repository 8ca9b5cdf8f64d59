import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { TEST_SECRET, tokenFor } from '../helpers/app.js'
import { connect } from '../helpers/ws.js'

const loader = '@isaacs/ts-node-temp-fork-for-pr-2009/import'
/** an upper bound for the whole drain, far above SHUTDOWN_GRACE_MS + 5 s: a hang fails instead of holding the suite */
const EXIT_BOUND_MS = 30_000

async function serve (dbFile: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess, url: string, port: number, log: () => string }> {
  const child = spawn(process.execPath, ['--import', loader, 'src/server.ts'], {
    env: {
      ...process.env,
      TS_NODE_TRANSPILE_ONLY: '1',
      PORT: '0',
      DATABASE_URL: `sqlite:${dbFile}`,
      AUTH_JWT_SECRET: TEST_SECRET,
      AGENT_MODULES: './test/fixtures/stall-agents.mjs',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: '1500',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stderr!.on('data', (d) => { out += d })
  child.stdout!.on('data', (d) => { out += d })
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) return { child, url: m[1]!, port: Number(new URL(m[1]!).port), log: () => out }
    if (child.exitCode !== null) throw new Error(`server did not start:\n${out}`)
    await once(child.stdout!, 'data')
  }
}

/** The promise, or a failure naming `what` after `ms`: a socket the server never closes fails the test, not the suite. */
function within<T> (promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not after ${ms} ms`)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A raw TCP client; resolves with everything it read once the server closes the connection. */
function raw (port: number, text: string) {
  const socket = net.connect(port, '127.0.0.1')
  let got = ''
  socket.setEncoding('utf8')
  socket.on('data', (d: string) => { got += d })
  socket.on('error', () => {})
  socket.write(text)
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(got)))
  return { socket, closed }
}

t.test('SIGTERM with hostile clients (half-sent body, half-sent headers, paused socket, paused SSE, upgrade during drain): the process exits cleanly', async (t) => {
  const dbFile = path.join(t.testdir(), 'agentwire.db')
  const server = await serve(dbFile)
  t.teardown(() => { server.child.kill('SIGKILL') })
  const authorization = `Bearer ${tokenFor('hostile')}`
  const posted = await fetch(`${server.url}/messages`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'go', agent: 'stall' }) })
  t.equal(posted.status, 202)
  const { run_id: runId } = await posted.json() as { run_id: string }

  const halfBody = raw(server.port, 'POST /messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"content":')
  const halfHeaders = raw(server.port, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  const paused = connect(t, `${server.url.replace('http', 'ws')}/ws`, { authorization })
  await paused.opened
  paused.send({ type: 'subscribe', run_id: runId })
  await paused.waitFor((f) => f.type === 'tool_executing', 'the stalled tool call')
  paused.ws.pause()
  const sse = await new Promise<http.IncomingMessage>((resolve) => {
    http.get(`${server.url}/runs/${runId}/events`, { headers: { authorization, accept: 'text/event-stream' } }, resolve)
  })
  t.equal(sse.statusCode, 200)
  sse.pause()
  sse.on('error', () => {})
  sse.socket.on('error', () => {})

  const exited = once(server.child, 'exit') as Promise<[number | null, string | null]>
  server.child.kill('SIGTERM')

  // draining: readiness says so, requests and upgrades get 503 unavailable, and the upgrade's socket is closed
  for (;;) {
    const ready = await fetch(`${server.url}/health/ready`).catch(() => undefined)
    if (ready?.status === 503) {
      t.match(await ready.json(), { status: 'unavailable', checks: { engine: 'shutting_down' } })
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const refused = await fetch(`${server.url}/messages`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"content":"late"}' })
  t.equal(refused.status, 503)
  t.match(await refused.json(), { statusCode: 503, code: 'unavailable', error: 'Service Unavailable' })
  const upgrade = raw(server.port, `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: ${authorization}\r\n\r\n`)
  const answer = await within(upgrade.closed, 'the server closing the refused upgrade')
  t.match(answer, /^HTTP\/1\.1 503 /, 'the upgrade is answered 503')
  t.match(answer, /"code":"unavailable"/, 'with the contract code')

  const timer = setTimeout(() => server.child.kill('SIGKILL'), EXIT_BOUND_MS)
  const [code, signal] = await exited
  clearTimeout(timer)
  t.strictSame({ code, signal }, { code: 0, signal: null }, `exited by itself, cleanly${code === 0 ? '' : `:\n${server.log()}`}`)
  await within(halfBody.closed, 'the half-sent body closed')
  await within(halfHeaders.closed, 'the half-sent headers closed')
  t.pass('the half-sent requests were closed')
  paused.ws.resume()
  t.equal((await within(paused.closed, 'the paused socket closed')).code, 1001, 'the paused socket, resumed, reads its 1001')
})
