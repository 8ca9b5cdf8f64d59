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
    limits
  })
  app.decorate('engine', engine)
  // runs a previous process left behind end before this one takes new work
  const recovered = await engine.recover()
  if (recovered) app.log.warn({ recovered }, 'ended runs interrupted by a previous stop')
  app.addHook('preClose', () => engine.close(limits.shutdownGraceMs))
}, { name: 'engine', dependencies: ['store', 'bus', 'registry', 'metrics'] })
