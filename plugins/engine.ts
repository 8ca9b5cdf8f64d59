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
    metrics: {
      runEnded (status, seconds) {
        app.metrics.runsEnded.inc({ status })
        if (seconds !== undefined) app.metrics.runDuration.observe({ status }, seconds)
      },
      runStarted: (seconds) => app.metrics.queueWait.observe(seconds),
      agentEnded (agent, seconds, code) {
        app.metrics.agentDuration.observe({ agent }, seconds)
        if (code !== undefined) app.metrics.agentErrors.inc({ agent, code })
      },
      toolEnded (tool, seconds, code) {
        app.metrics.toolDuration.observe({ tool }, seconds)
        if (code !== undefined) app.metrics.toolErrors.inc({ tool, code })
      }
    },
    rateLimit: app.messageRateLimit,
    limits,
    owner: opts.config.instanceId
  })
  app.decorate('engine', engine)
  // claims queued runs and takes over runs whose process is gone, from now on
  await engine.start()
  app.addHook('preClose', () => engine.close(limits.shutdownGraceMs))
}, { name: 'engine', dependencies: ['store', 'bus', 'registry', 'metrics', 'rate-limit'] })
