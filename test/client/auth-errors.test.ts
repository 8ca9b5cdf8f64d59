import t from 'tap'
import { AgentwireClient, AgentwireError, tokenExpiry } from '../../client/src/index.js'
import { tokenFor } from '../helpers/app.js'
import { SLOW_AGENTS, listen, slowRunTypes } from '../helpers/ws.js'
import { collect, makeClient, stored } from './helpers.js'

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection (p: Promise<unknown>): Promise<AgentwireError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  if (!(e instanceof AgentwireError)) throw new Error(`expected an AgentwireError, got ${String(e)}`)
  return e
}

t.test('a token from the getter is replaced before it expires, on a new socket, with no event lost or repeated', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  let calls = 0
  const { client, statuses } = makeClient(t, {
    url: server.url,
    token: async () => { calls++; return tokenFor('refresher', { expiresInS: 6 }) },
    refreshBeforeS: 3
  })
  await client.connect()
  // about 8 s: the 6 s tokens are replaced every 3 s or so, before the server would close the socket
  const run = await client.send('long', { agent: 'slow', input: { steps: 8, ms: 1000 } })
  const events = await collect(run.events())
  t.strictSame(events, await stored(server.app, 'refresher', run.id))
  t.strictSame(events.map((e) => e.type), slowRunTypes(8))
  const refreshes = statuses.filter((s) => s.state === 'connected' && s.reason === 'token_refresh').length
  t.ok(refreshes >= 2, `the socket moved to a new token ${refreshes} times`)
  t.ok(calls >= refreshes + 1, `the getter was called ${calls} times`)
  t.strictSame(statuses.filter((s) => s.state === 'disconnected'), [], 'the server never closed the socket (no 1008 token_expired)')
})

t.test('when the server closes the socket at token expiry (1008), the client gets a new ticket and resumes', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  let tickets = 0
  const { client, statuses } = makeClient(t, {
    url: server.url,
    token: tokenFor('ticketer'),
    // a page that keeps the real token on its server: each ticket carries a 2 s token
    ticket: async () => {
      tickets++
      const res = await fetch(`${server.url}/ws-tickets`, { method: 'POST', headers: { authorization: `Bearer ${tokenFor('ticketer', { expiresInS: 2 })}` } })
      return (await res.json() as { ticket: string }).ticket
    }
  })
  const run = await client.send('long', { agent: 'slow', input: { steps: 5, ms: 1000 } })
  const events = await collect(run.events())
  t.strictSame(events, await stored(server.app, 'ticketer', run.id))
  const expiries = statuses.filter((s) => s.state === 'disconnected' && s.code === 1008 && s.reason === 'token_expired').length
  t.ok(expiries >= 1, `closed for token expiry ${expiries} times`)
  t.ok(tickets >= expiries + 1, `a new ticket each time (${tickets})`)
})

t.test('a refused token is replaced once from the getter; a fixed bad token fails connect with unauthorized', async (t) => {
  const server = await listen(t)
  const tokens = [tokenFor('bob', { secret: 'another-secret-that-is-at-least-32-bytes!!' }), tokenFor('bob')]
  let calls = 0
  const { client } = makeClient(t, { url: server.url, token: async () => tokens[calls++] })
  await client.connect()
  t.equal(calls, 2, 'the refused token was replaced')
  t.ok(client.connected)
  const threads = await client.http.listThreads()
  t.strictSame(threads, { threads: [], next_cursor: null })

  const { client: bad } = makeClient(t, { url: server.url, token: tokens[0] })
  const e = await rejection(bad.connect())
  t.equal(e.code, 'unauthorized')
  t.equal(e.status, 401)
  t.equal(e.message, 'invalid token')
  const http = await rejection(bad.http.listThreads())
  t.strictSame([http.code, http.status, http.message], ['unauthorized', 401, 'invalid token'])

  const { client: none } = makeClient(t, { url: server.url })
  t.equal((await rejection(none.connect())).code, 'unauthorized')
})

t.test('the contract\'s errors, typed', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS, ALLOWED_ORIGINS: 'https://app.example', RATE_LIMIT_PER_MIN: '2', RATE_LIMIT_BURST: '2' })
  const { client } = makeClient(t, { url: server.url, token: tokenFor('typed') })

  const origin = await rejection(new AgentwireClient({ url: server.url, token: tokenFor('typed'), origin: 'https://evil.example' }).connect())
  t.strictSame([origin.code, origin.status], ['forbidden_origin', 403])
  const allowed = new AgentwireClient({ url: server.url, token: tokenFor('typed'), origin: 'https://app.example' })
  await allowed.connect()
  allowed.close()

  const missing = await rejection(client.run('no-such-run'))
  t.strictSame([missing.code, missing.status, missing.message], ['not_found', 404, 'run not found'])
  t.equal((await rejection(client.followThread('no-such-thread'))).code, 'not_found')
  const agent = await rejection(client.send('hi', { agent: 'nobody' }))
  t.strictSame([agent.code, agent.status, agent.message], ['unknown_agent', 400, 'no agent named "nobody"'])
  const invalid = await rejection(client.send(''))
  t.strictSame([invalid.code, invalid.status], ['invalid_request', 400])

  const running = await client.send('busy', { agent: 'slow', input: { steps: 3, ms: 300 } })
  const busy = await rejection(client.send('again', { agent: 'slow', thread_id: running.thread_id }))
  t.strictSame([busy.code, busy.status], ['thread_busy', 409])
  // the rate limit of 2 messages a minute: the third is refused, with Retry-After
  const limited = await rejection(client.send('third', { agent: 'slow' }))
  t.strictSame([limited.code, limited.status], ['rate_limited', 429])
  t.ok(typeof limited.retryAfter === 'number' && limited.retryAfter > 0, `retryAfter = ${limited.retryAfter}`)
  await running.cancel()
  t.equal((await collect(running.events())).at(-1)!.type, 'run_cancelled')

  const closed = new AgentwireClient({ url: server.url, token: tokenFor('typed') })
  closed.close()
  t.equal((await rejection(closed.connect())).code, 'closed')
  const unreachable = new AgentwireClient({ url: 'http://127.0.0.1:9', token: tokenFor('typed') })
  t.equal((await rejection(unreachable.connect())).code, 'network')
  t.equal((await rejection(unreachable.http.listThreads())).code, 'network')
})

t.test('closing the client ends what it follows with a closed error', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = new AgentwireClient({ url: server.url, token: tokenFor('closer') })
  const run = await client.send('long', { agent: 'slow', input: { steps: 10, ms: 200 } })
  const follow = await client.followThread(run.thread_id)
  for await (const e of run.events()) if (e.seq === 2) break
  client.close()
  t.equal((await rejection(run.result())).code, 'closed')
  t.equal((await rejection(collect(follow))).code, 'closed')
  await server.app.inject({ method: 'POST', url: `/runs/${run.id}/cancel`, headers: { authorization: `Bearer ${tokenFor('closer')}` } })
})

t.test('tokenExpiry reads exp from a JWT', async (t) => {
  const token = tokenFor('x', { expiresInS: 100 })
  const exp = tokenExpiry(token)!
  t.ok(Math.abs(exp - (Date.now() / 1000 + 100)) < 5)
  t.equal(tokenExpiry('not-a-jwt'), undefined)
  t.equal(tokenExpiry('a.b.c'), undefined)
})
