import fp from 'fastify-plugin'
import { createMemoryBus } from '../src/bus/memory.js'
import { createRedisBus } from '../src/bus/redis.js'
import type { EventBus } from '../src/bus/types.js'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance { bus: EventBus }
}

/** How long the start waits for Redis before going on unready (readiness reports `bus: failing`). */
const CONNECT_WAIT_MS = 5000

/** The in-process bus, or the Redis bus when REDIS_URL is set. */
export default fp(async (app, opts: { config: Config }) => {
  const { redis } = opts.config
  const bus = redis ? createRedisBus({ url: redis.url, prefix: redis.prefix, log: app.log.child({ component: 'bus' }) }) : createMemoryBus()
  app.decorate('bus', bus)
  app.addHook('onClose', () => bus.close())
  if (redis && !await live(bus, CONNECT_WAIT_MS)) app.log.warn('starting without Redis: the bus goes live once Redis is reachable')
}, { name: 'bus' })

/** Resolves true once the bus is live, or false after `ms`. */
function live (bus: EventBus, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (up: boolean) => { clearTimeout(timer); off(); resolve(up) }
    const timer = setTimeout(() => done(false), ms)
    const off = bus.onStatus((up) => { if (up) done(true) })
  })
}
