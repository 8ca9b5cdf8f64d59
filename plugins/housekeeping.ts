import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    housekeeping: { run (): Promise<{ tickets: number, events: number }> }
  }
}

const TICKETS_EVERY_MS = 60_000
const EVENTS_EVERY_MS = 3_600_000
const DAY_MS = 86_400_000

/**
 * Periodic deletes: expired WebSocket tickets every minute, and (with EVENT_RETENTION_DAYS) the
 * events of runs finished longer ago than that, every hour. A failed round is logged and retried
 * at the next one.
 */
export default fp(async (app, opts: { config: Config }) => {
  const { eventRetentionDays } = opts.config.limits
  const purgeTickets = () => app.store.purgeTickets(Math.floor(Date.now() / 1000))
  const purgeEvents = async () => {
    if (eventRetentionDays === 0) return 0
    return await app.store.purgeEvents(new Date(Date.now() - eventRetentionDays * DAY_MS).toISOString())
  }
  const every = (ms: number, what: string, fn: () => Promise<number>) => {
    let running = false
    const timer = setInterval(() => {
      if (running) return
      running = true
      fn().then((n) => { if (n) app.log.info({ deleted: n }, `purged ${what}`) },
        (err) => app.log.error({ err }, `purging ${what} failed`)).finally(() => { running = false })
    }, ms)
    timer.unref()
    return timer
  }
  const timers = [every(TICKETS_EVERY_MS, 'expired tickets', purgeTickets), every(EVENTS_EVERY_MS, 'events past retention', purgeEvents)]
  app.addHook('onClose', async () => { for (const t of timers) clearInterval(t) })
  app.decorate('housekeeping', {
    async run () { return { tickets: await purgeTickets(), events: await purgeEvents() } }
  })
}, { name: 'housekeeping', dependencies: ['store'] })
