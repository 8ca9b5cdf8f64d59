import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { auth, build } from '../helpers/app.js'
import { assertError, waitForRun } from '../helpers/http.js'
import { nextStatus, privateRedis, requireRedis, uniquePrefix } from '../helpers/redis.js'

const ORCH = './test/fixtures/orchestration-agents.mjs'
const shared = requireRedis(t)
const skip = !shared && 'TEST_REDIS_URL is not set'

const post = (app: App, user: string) =>
  app.inject({ method: 'POST', url: '/messages', headers: auth(user), payload: { content: 'hi', agent: 'quick' } })

/** Every 429 is the contract's rate_limited with a Retry-After of whole seconds inside the window. */
function assertRefused (t: Test, res: Awaited<ReturnType<typeof post>>, windowS: number) {
  assertError(t, res, 429, 'rate_limited', 'Too Many Requests')
  const retryAfter = res.headers['retry-after']
  t.match(retryAfter, /^[1-9][0-9]*$/, 'retry-after is a whole number of seconds')
  t.ok(Number(retryAfter) <= windowS, `retry-after ${retryAfter} s is within the ${windowS} s window`)
  t.equal(res.json().message, `too many messages; retry in ${retryAfter} s`)
}

/** Waits for the runs the accepted answers made, so the apps close with nothing running. */
async function settle (answers: Array<{ app: App, user: string, res: Awaited<ReturnType<typeof post>> }>) {
  for (const { app, user, res } of answers) if (res.statusCode === 202) await waitForRun(app, user, res.json().run_id)
}

t.test('the message rate limit holds across two processes sharing one Redis', { skip }, async (t) => {
  // 5 messages per window of 5 minutes
  const prefix = uniquePrefix()
  const env = { REDIS_URL: shared!, REDIS_PREFIX: prefix, AGENT_MODULES: ORCH, RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_MIN: '1' }
  const [a, b] = await Promise.all([build(t, env), build(t, env)])

  const answers = []
  for (let i = 0; i < 20; i++) {
    const app = i % 2 ? b : a
    answers.push({ app, user: 'alternating', res: await post(app, 'alternating') })
  }
  t.strictSame(answers.map(({ res }) => res.statusCode), [...Array(5).fill(202), ...Array(15).fill(429)],
    'one after the other on A, B, A, …: the first 5 pass, wherever they land')
  for (const { res } of answers.slice(5)) assertRefused(t, res, 300)

  const flood = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const app = i % 2 ? b : a
    return { app, user: 'flooding', res: await post(app, 'flooding') }
  }))
  t.equal(flood.filter(({ res }) => res.statusCode === 202).length, 5, '20 at once on both: exactly 5 pass')
  t.equal(flood.filter(({ res }) => res.statusCode === 429).length, 15)

  t.equal((await post(b, 'someone-else')).statusCode, 202, 'another user is not limited')
  const raw = new Redis(shared!)
  t.teardown(() => raw.disconnect())
  t.equal(await raw.get(`${prefix}rate-limit:alternating`), '20', 'counted in Redis under the deployment prefix')
  await settle([...answers, ...flood])
})

t.test('without Redis each process counts on its own (so the shared count above is Redis at work)', async (t) => {
  const env = { AGENT_MODULES: ORCH, RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_MIN: '1' }
  const [a, b] = await Promise.all([build(t, env), build(t, env)])
  const answers = []
  for (let i = 0; i < 20; i++) {
    const app = i % 2 ? b : a
    answers.push({ app, user: 'alternating', res: await post(app, 'alternating') })
  }
  t.equal(answers.filter(({ res }) => res.statusCode === 202).length, 10, '5 on each process')
  for (const { res } of answers.filter(({ res }) => res.statusCode === 429)) assertRefused(t, res, 300)
  await settle(answers)
})

t.test('Redis down: readiness 503 with checks.bus failing and the rate limit lets messages pass; back: 200 and counting again', { skip }, async (t) => {
  const server = await privateRedis(t)
  const app = await build(t, { REDIS_URL: server.url, RATE_LIMIT_BURST: '2', RATE_LIMIT_PER_MIN: '1' })
  const ready = () => app.inject({ url: '/health/ready' })

  let res = await ready()
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), { status: 'ready', checks: { store: 'ok', bus: 'ok', engine: 'ok' } })

  const down = nextStatus(app.bus, false)
  await server.stop()
  await down
  res = await ready()
  t.equal(res.statusCode, 503)
  t.strictSame(res.json(), { status: 'unavailable', checks: { store: 'ok', bus: 'failing', engine: 'ok' } })
  for (let i = 0; i < 3; i++) await app.messageRateLimit('while-down')
  t.pass('3 messages over a burst of 2 pass uncounted while Redis is down')

  const back = nextStatus(app.bus, true)
  await server.start()
  await back
  res = await ready()
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), { status: 'ready', checks: { store: 'ok', bus: 'ok', engine: 'ok' } })
  // the rate limit has a connection of its own: once it is back too, a burst of 2 holds again
  for (let i = 0; ; i++) {
    const refused = await app.messageRateLimit('after').then(() => undefined, (err: Error) => err)
    if (!refused) { await sleep(20); continue }
    t.match(refused, { code: 'rate_limited', statusCode: 429 })
    t.ok(i >= 2, `refused after ${i} passed`)
    break
  }
})
