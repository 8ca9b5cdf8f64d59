import type { RateLimitOptions } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** per-user limits a route opts into with `config: { rateLimit: app.rateLimits.<name> }` */
    rateLimits: { tickets: RateLimitOptions, uploads: RateLimitOptions }
  }
}

/**
 * Per-user request limits (CONTRACT §2 `rate_limited`, with `Retry-After`) on the routes that make
 * something for each call: WebSocket tickets and usage uploads. Counted after auth, by user id,
 * by the one @fastify/rate-limit of plugins/rate-limit.ts (in Redis when there is one).
 */
export default fp(async (app, opts: { config: Config }) => {
  const { ticketsPerMin, uploadsPerMin } = opts.config.limits
  app.decorate('rateLimits', {
    tickets: { max: ticketsPerMin, timeWindow: 60_000 },
    uploads: { max: uploadsPerMin, timeWindow: 60_000 }
  })
}, { name: 'rate-limits', dependencies: ['auth', 'rate-limit'] })
