import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { buildApp, type App } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { TEST_SECRET, auth, build, tokenFor } from '../helpers/app.js'
import { ISO, assertError, runToEnd } from '../helpers/http.js'

const nowS = () => Math.floor(Date.now() / 1000)
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Signs exactly `claims` (no exp unless given) with HS256 and the test secret, or `opts`. */
function sign (claims: Record<string, unknown>, opts: { key?: string, algorithm?: 'HS256' | 'HS384' | 'RS256' | 'ES256' } = {}) {
  return createSigner({ key: opts.key ?? TEST_SECRET, algorithm: opts.algorithm ?? 'HS256' })(claims)
}

/** HS256 by hand, for claims a signing library refuses to write. */
function hs256 (claims: Record<string, unknown>) {
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${head}.${createHmac('sha256', TEST_SECRET).update(head).digest('base64url')}`
}

/** The service still answers: health, and a real message run for `user`. */
async function stillServes (t: Test, app: App, headers: Record<string, string> = auth('alice')) {
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, 'GET /health still 200')
  const { run } = await runToEnd(app, headers, { content: 'What did we spend?' })
  t.equal(run.status, 'completed', 'a valid request still runs')
}

t.test('credentials: every bad one is 401 unauthorized', async (t) => {
  const app = await build(t)
  const exp = nowS() + 3600
  t.equal((await app.inject({ method: 'GET', url: '/me/stats', headers: bearer(hs256({ sub: 'alice', exp })) })).statusCode, 200,
    'the hand-made HS256 token is valid, so its variants below fail for their flaw alone')
  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['empty Authorization header', { authorization: '' }],
    ['Basic scheme', { authorization: 'Basic YWxpY2U6c2VjcmV0' }],
    ['Bearer without a token', { authorization: 'Bearer ' }],
    ['not a JWT', bearer('not-a-jwt')],
    ['two tokens', { authorization: `Bearer ${tokenFor('alice')} ${tokenFor('alice')}` }],
    ['expired token', bearer(sign({ sub: 'alice', exp: nowS() - 60 }))],
    ['not yet valid token', bearer(sign({ sub: 'alice', exp, nbf: nowS() + 600 }))],
    ['wrong signature', bearer(tokenFor('alice', { secret: 'another-secret-that-is-also-32-bytes-long' }))],
    ['tampered payload', bearer((() => { const [h, , s] = tokenFor('alice').split('.'); return `${h}.${b64({ sub: 'bob', exp })}.${s}` })())],
    ['alg none', bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp })}.`)],
    ['alg none, signature kept', bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp })}.${tokenFor('alice').split('.')[2]}`)],
    ['HS384 with the right secret', bearer(sign({ sub: 'alice', exp }, { algorithm: 'HS384' }))],
    ['no exp', bearer(sign({ sub: 'alice' }))],
    ['exp not a number', bearer(hs256({ sub: 'alice', exp: 'tomorrow' }))],
    ['no sub', bearer(sign({ exp }))],
    ['sub "undefined"', bearer(tokenFor('undefined'))],
    ['sub "null"', bearer(tokenFor('null'))],
    ['sub of 200 chars', bearer(tokenFor('u'.repeat(200)))],
    ['sub of 129 chars', bearer(tokenFor('u'.repeat(129)))],
    ['sub with a space', bearer(tokenFor('alice smith'))],
    ['sub "<user>"', bearer(tokenFor('<user>'))],
    ['empty sub', bearer(tokenFor(''))],
    ['numeric sub', bearer(sign({ sub: 42, exp }))]
  ]
  for (const [name, headers] of cases) {
    t.test(name, async (t) => {
      for (const [method, url] of [['GET', '/me/stats'], ['GET', '/threads'], ['POST', '/ws-tickets']] as const) {
        const res = await app.inject({ method, url, headers })
        assertError(t, res, 401, 'unauthorized', 'Unauthorized')
      }
      const post = await app.inject({ method: 'POST', url: '/messages', headers, payload: { content: 'hi' } })
      assertError(t, post, 401, 'unauthorized', 'Unauthorized')
    })
  }
  t.test('the longest valid sub (128 chars) is accepted', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/me/stats', headers: bearer(tokenFor('u'.repeat(128))) })
    t.equal(res.statusCode, 200)
  })
  t.test('afterwards the service still answers', (t) => stillServes(t, app))
  const stats = await app.inject({ method: 'GET', url: '/me/stats', headers: auth('bob') })
  t.equal(stats.json().runs.completed, 0, 'the tampered token made no run for bob')
})

t.test('public routes need no credential and ignore a bad one', async (t) => {
  const app = await build(t)
  for (const url of ['/health', '/health/ready']) {
    t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, url)
    t.equal((await app.inject({ method: 'GET', url, headers: bearer('garbage') })).statusCode, 200, `${url} with a bad token`)
  }
  const unknown = await app.inject({ method: 'GET', url: '/nope' })
  assertError(t, unknown, 404, 'not_found', 'Not Found')
})

t.test('POST /messages: bodies that break the schema', async (t) => {
  const app = await build(t)
  const post = (payload: string | Record<string, unknown>, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/messages', headers: { ...auth('alice'), ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })

  const invalid: Array<[string, string | Record<string, unknown>]> = [
    ['malformed JSON', '{"content": "hi"'],
    ['JSON that is not an object', '"hi"'],
    ['JSON array', '[{"content":"hi"}]'],
    ['empty body', ''],
    ['no content', {}],
    ['empty content', { content: '' }],
    ['content of 32769 chars', { content: 'a'.repeat(32769) }],
    ['content null', { content: null }],
    ['content a number (bodies are not coerced)', { content: 42 }],
    ['content an object', { content: { text: 'hi' } }],
    ['extra field', { content: 'hi', user_id: 'bob' }],
    ['another extra field', { content: 'hi', priority: 1 }],
    ['input not an object', { content: 'hi', input: 'x' }],
    ['input an array', { content: 'hi', input: [1] }],
    ['unknown multitask', { content: 'hi', multitask: 'whenever' }],
    ['empty thread_id', { content: 'hi', thread_id: '' }],
    ['thread_id of 129 chars', { content: 'hi', thread_id: 't'.repeat(129) }],
    ['empty agent', { content: 'hi', agent: '' }]
  ]
  for (const [name, payload] of invalid) {
    t.test(name, async (t) => {
      assertError(t, await post(payload), 400, 'invalid_request', 'Bad Request')
    })
  }
  t.test('a body that is not JSON', async (t) => {
    assertError(t, await post('content=hi', { 'content-type': 'text/plain' }), 400, 'invalid_request', 'Bad Request')
    assertError(t, await post('<content>hi</content>', { 'content-type': 'application/xml' }), 400, 'invalid_request', 'Bad Request')
    assertError(t, await post('--x--', { 'content-type': 'multipart/form-data; boundary=x' }), 400, 'invalid_request', 'Bad Request')
  })
  t.test('unknown agent', async (t) => {
    const res = await post({ content: 'hi', agent: 'nope' })
    assertError(t, res, 400, 'unknown_agent', 'Bad Request')
    t.equal(res.json().message, 'no agent named "nope"')
  })
  t.test('a body over the 1 MiB limit', async (t) => {
    const res = await post({ content: 'hi', input: { blob: 'x'.repeat(1024 * 1024) } })
    assertError(t, res, 413, 'payload_too_large', 'Payload Too Large')
  })
  t.test('content of exactly 32768 chars is accepted', async (t) => {
    const { run } = await runToEnd(app, 'alice', { content: 'a'.repeat(32768) })
    t.equal(run.status, 'completed')
  })
  t.test('no run was made by the refused bodies', async (t) => {
    const stats = (await app.inject({ method: 'GET', url: '/me/stats', headers: auth('alice') })).json()
    t.strictSame(stats.runs, { queued: 0, running: 0, waiting: 0, completed: 1, failed: 0, cancelled: 0 })
  })
  t.test('afterwards the service still answers', (t) => stillServes(t, app))
})

t.test('issuer and audience are enforced when set', async (t) => {
  const iss = 'https://issuer.example'
  const aud = 'agentwire'
  const app = await build(t, { AUTH_JWT_ISSUER: iss, AUTH_JWT_AUDIENCE: aud })
  const exp = nowS() + 3600
  const get = (claims: Record<string, unknown>) => app.inject({ method: 'GET', url: '/me/stats', headers: bearer(sign({ sub: 'alice', exp, ...claims })) })

  t.equal((await get({ iss, aud })).statusCode, 200, 'right issuer and audience')
  t.equal((await get({ iss, aud: ['other', aud] })).statusCode, 200, 'audience among several')
  for (const [name, claims] of [
    ['wrong issuer', { iss: 'https://evil.example', aud }],
    ['wrong audience', { iss, aud: 'someone-else' }],
    ['no issuer', { aud }],
    ['no audience', { iss }],
    ['neither', {}]
  ] as const) {
    assertError(t, await get(claims), 401, 'unauthorized', 'Unauthorized')
    t.pass(name)
  }
  await stillServes(t, app, bearer(sign({ sub: 'alice', exp, iss, aud })))
})

t.test('a public key: RS256 and ES256 tokens, and no algorithm confusion', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const rsaPrivate = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const app = await build(t, { AUTH_JWT_SECRET: '', AUTH_JWT_PUBLIC_KEY: rsaPem })
  const exp = nowS() + 3600

  const ok = await app.inject({ method: 'GET', url: '/me/stats', headers: bearer(sign({ sub: 'alice', exp }, { key: rsaPrivate, algorithm: 'RS256' })) })
  t.equal(ok.statusCode, 200, 'RS256 signed by the private key')

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  for (const [name, token] of [
    ['HS256 keyed with the public key', sign({ sub: 'alice', exp }, { key: rsaPem })],
    ['HS256 keyed with the test secret', sign({ sub: 'alice', exp })],
    ['RS256 by another key', sign({ sub: 'alice', exp }, { key: other, algorithm: 'RS256' })],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp })}.`],
    ['RS256 without exp', sign({ sub: 'alice' }, { key: rsaPrivate, algorithm: 'RS256' })]
  ]) {
    const res = await app.inject({ method: 'GET', url: '/me/stats', headers: bearer(token) })
    assertError(t, res, 401, 'unauthorized', 'Unauthorized')
    t.pass(name)
  }

  t.test('ES256', async (t) => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const ecApp = await build(t, { AUTH_JWT_SECRET: '', AUTH_JWT_PUBLIC_KEY: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString() })
    const token = sign({ sub: 'alice', exp }, { key: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'ES256' })
    t.equal((await ecApp.inject({ method: 'GET', url: '/me/stats', headers: bearer(token) })).statusCode, 200)
    const forged = sign({ sub: 'alice', exp }, { key: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString() })
    assertError(t, await ecApp.inject({ method: 'GET', url: '/me/stats', headers: bearer(forged) }), 401, 'unauthorized', 'Unauthorized')
  })
})

t.test('POST /ws-tickets', async (t) => {
  const app = await build(t)
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/ws-tickets', headers: auth('alice') })
  const after = Date.now()
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.strictSame(Object.keys(body).sort(), ['expires_at', 'ticket'])
  t.match(body.ticket, /^[A-Za-z0-9_-]{32,}$/)
  t.match(body.expires_at, ISO)
  const expires = Date.parse(body.expires_at)
  t.ok(expires >= Math.floor(before / 1000) * 1000 + 59_000 && expires <= after + 60_000, 'expires in 60 s')
  const again = (await app.inject({ method: 'POST', url: '/ws-tickets', headers: auth('alice') })).json()
  t.not(again.ticket, body.ticket, 'every ticket is new')
  assertError(t, await app.inject({ method: 'POST', url: '/ws-tickets' }), 401, 'unauthorized', 'Unauthorized')
})

t.test('dev mode', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  const devConfig = () => loadConfig({ DATABASE_URL: 'sqlite::memory:', DATA_DIR: dir, LOG_LEVEL: 'silent' })
  const app = await buildApp(devConfig(), { level: 'warn', stream: { write (line: string) { lines.push(line) } } })
  t.teardown(() => app.close())
  await app.ready()

  t.ok(lines.some((l) => JSON.parse(l).level === 40 && JSON.parse(l).msg.includes('DEV AUTH MODE')), 'a loud warning is logged')
  const secretFile = path.join(dir, 'dev-jwt-secret')
  t.ok(readFileSync(secretFile, 'utf8').trim().length >= 32, 'the secret is kept in the data directory')
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'readable by the owner only')

  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/auth/dev-token', payload: { user_id: 'dev-user' } })
  const after = Date.now()
  t.equal(res.statusCode, 200)
  const body = res.json() as { token: string, expires_at: string }
  t.strictSame(Object.keys(body).sort(), ['expires_at', 'token'])
  t.match(body.expires_at, ISO)
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString()) as { sub: string, exp: number }
  t.equal(claims.sub, 'dev-user')
  t.equal(claims.exp * 1000, Date.parse(body.expires_at), 'expires_at is the token\'s exp')
  t.ok(claims.exp >= Math.floor(before / 1000) + 86400 && claims.exp <= Math.ceil(after / 1000) + 86400, 'lives DEV_TOKEN_TTL_S (a day)')

  const me = await app.inject({ method: 'GET', url: '/me/stats', headers: bearer(body.token) })
  t.equal(me.statusCode, 200, 'the dev token works')
  const { run, accepted } = await runToEnd(app, bearer(body.token), { content: 'What did we spend?' })
  t.equal(run.status, 'completed')
  const forTestSecret = await app.inject({ method: 'GET', url: '/me/stats', headers: auth('dev-user') })
  assertError(t, forTestSecret, 401, 'unauthorized', 'Unauthorized')

  for (const payload of [{}, { user_id: '' }, { user_id: 'a b' }, { user_id: 'u'.repeat(129) }, { user_id: 'undefined' }, { user_id: 'dev-user', admin: true }]) {
    const bad = await app.inject({ method: 'POST', url: '/auth/dev-token', payload })
    assertError(t, bad, 400, 'invalid_request', 'Bad Request')
  }

  t.test('the dev secret survives a restart: tokens stay valid', async (t) => {
    const second = await buildApp(devConfig())
    t.teardown(() => second.close())
    const res = await second.inject({ method: 'GET', url: '/me/stats', headers: bearer(body.token) })
    t.equal(res.statusCode, 200)
    t.equal(res.json().runs.completed, 0, 'a fresh in-memory database, same identity')
  })
  t.test('the first app still serves the run', async (t) => {
    const got = await app.inject({ method: 'GET', url: `/runs/${accepted.run_id}`, headers: bearer(body.token) })
    t.equal(got.statusCode, 200)
  })
})

t.test('the dev-token route exists only in dev mode', async (t) => {
  for (const env of [{ NODE_ENV: 'production' }, {}] as Array<Record<string, string>>) {
    const app = await build(t, env)
    const res = await app.inject({ method: 'POST', url: '/auth/dev-token', payload: { user_id: 'dev-user' } })
    assertError(t, res, 404, 'not_found', 'Not Found')
    t.equal((await app.inject({ method: 'GET', url: '/me/stats', headers: auth('alice') })).statusCode, 200, 'the configured secret works')
  }
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:' }), ConfigError)
  try {
    loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:' })
    t.fail('production without a key must not load')
  } catch (err) {
    t.ok(err instanceof ConfigError, 'a ConfigError')
    t.match((err as Error).message, /AUTH_JWT_SECRET/)
    t.notMatch((err as Error).message, /\n/, 'one line')
  }
})
