import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Config } from '../src/config.js'
import { Errors } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** takes one message from the user's allowance or throws `rate_limited` with `retryAfter` seconds */
    messageRateLimit: (userId: string) => Promise<void>
  }
}

/** What the limiter is handed instead of a request: messages are counted per user, not per address. */
interface Caller { user_id: string, routeOptions: { config: Record<string, never> } }

/**
 * Messages per user (POST /messages and `message` frames), counted in Redis when REDIS_URL is set,
 * so the limit holds across every process, else in this process. @fastify/rate-limit counts fixed
 * windows: `RATE_LIMIT_BURST` messages per window of `BURST / PER_MIN` minutes keeps both the burst
 * and the long-run rate; a refused message waits for the window's end (`Retry-After`).
 */
export default fp(async (app, opts: { config: Config }) => {
  const { limits, redis: redisConfig } = opts.config
  let redis: Redis | undefined
  if (redisConfig) {
    const client = new Redis(redisConfig.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 5000, connectionName: 'agentwire-rate-limit' })
    // Redis being down is told by readiness and the bus; the limiter lets messages through meanwhile
    client.on('error', (err) => app.log.debug({ err }, 'rate limit redis error'))
    app.addHook('onClose', () => client.quit().then(() => {}, () => client.disconnect()))
    redis = client
    // a message taken before the connection is up would pass uncounted: wait for it when Redis is there
    if (await app.bus.ping().then(() => true, () => false) && !await ready(client, 5000)) {
      app.log.warn('the rate limit has no Redis yet: messages pass uncounted until it connects')
    }
  }
  await app.register(fastifyRateLimit, {
    global: false,
    max: limits.rateBurst,
    timeWindow: Math.max(1000, Math.round(limits.rateBurst * 60_000 / limits.ratePerMin)),
    // one instance serves every limit: messages (by the engine, below) and the routes that opt in
    // with `config.rateLimit` (tickets, uploads: after auth, by the signed-in user)
    hook: 'preHandler',
    keyGenerator: (request) => (request as unknown as Caller).user_id ?? request.identity?.user_id ?? request.ip,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      const err = new Errors.RateLimited(`at most ${context.max} of these per ${context.after}; retry in ${seconds} s`)
      return Object.assign(err, { retryAfter: seconds })
    },
    cache: 10_000,
    redis,
    nameSpace: `${redisConfig?.prefix ?? ''}rate-limit:`,
    skipOnError: true
  })
  const check = app.createRateLimit()
  app.decorate('messageRateLimit', async (userId: string) => {
    const caller: Caller = { user_id: userId, routeOptions: { config: {} } }
    const limit = await check(caller as unknown as FastifyRequest)
    if (limit.isAllowed || !limit.isExceeded) return
    const retryAfter = Math.max(1, limit.ttlInSeconds)
    throw Object.assign(new Errors.RateLimited(`too many messages; retry in ${retryAfter} s`), { retryAfter })
  })
}, { name: 'rate-limit', dependencies: ['bus', 'auth'] })

/** Resolves true once the connection is ready, or false after `ms`. */
function ready (client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (ok: boolean) => { clearTimeout(timer); client.off('ready', onReady); resolve(ok) }
    const onReady = () => done(true)
    const timer = setTimeout(() => done(false), ms)
    client.once('ready', onReady)
  })
}
