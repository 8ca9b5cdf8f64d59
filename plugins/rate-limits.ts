import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { Errors } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** per-user limits a route opts into with `config: { rateLimit: app.rateLimits.<name> }` */
    rateLimits: { tickets: RateLimitOptions, uploads: RateLimitOptions }
  }
}

/**
 * Per-user request limits (CONTRACT §2 `rate_limited`, with `Retry-After`) on the routes that make
 * something for each call: WebSocket tickets and usage uploads. Counted after auth, by user id.
 */
export default fp(async (app, opts: { config: Config }) => {
  const { ticketsPerMin, uploadsPerMin } = opts.config.limits
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: (request) => request.identity?.user_id ?? request.ip,
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      const err = new Errors.RateLimited(`at most ${context.max} of these per ${context.after}; retry in ${seconds} s`)
      return Object.assign(err, { retryAfter: seconds })
    }
  })
  app.decorate('rateLimits', {
    tickets: { max: ticketsPerMin, timeWindow: 60_000 },
    uploads: { max: uploadsPerMin, timeWindow: 60_000 }
  })
}, { name: 'rate-limits', dependencies: ['auth'] })
