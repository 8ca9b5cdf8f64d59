import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { createEngine } from '../src/core/engine/engine.js'

declare module 'fastify' {
  interface FastifyInstance {
    engine: ReturnType<typeof createEngine>
  }
}

export default fp(async (app, opts: { config: Config }) => {
  const { limits } = opts.config
  const engine = createEngine({
    store: app.store,
    bus: app.bus,
    registry: app.registry,
    log: app.log,
    onRunEnd: (status) => app.metrics.runsEnded.inc({ status }),
    rateLimit: app.messageRateLimit,
    limits,
    owner: opts.config.instanceId
  })
  app.decorate('engine', engine)
  // claims queued runs and takes over runs whose process is gone, from now on
  await engine.start()
  app.addHook('preClose', () => engine.close(limits.shutdownGraceMs))
}, { name: 'engine', dependencies: ['store', 'bus', 'registry', 'metrics', 'rate-limit'] })
