import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { VERSION as version } from '../src/version.js'

const started = Date.now()

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    config: { public: true },
    schema: {
      tags: ['health'],
      response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), uptime_s: Type.Number() }) }
    }
  }, async () => ({ status: 'ok' as const, version, uptime_s: Math.round((Date.now() - started) / 100) / 10 }))

  const Check = Type.Union([Type.Literal('ok'), Type.Literal('failing')])
  app.get('/health/ready', {
    config: { public: true },
    schema: {
      tags: ['health'],
      response: {
        '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) }),
        503: Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) })
      }
    }
  }, async (request, reply) => {
    const ok = (p: Promise<unknown>) => p.then(() => 'ok' as const, (err) => { request.log.warn({ err }, 'readiness check failed'); return 'failing' as const })
    const checks = { store: await ok(app.store.ping()), bus: await ok(app.bus.ping()) }
    if (!app.engine.accepting) return reply.code(503).send({ status: 'shutting_down', checks: { ...checks, engine: 'failing' } })
    if (checks.store !== 'ok' || checks.bus !== 'ok') return reply.code(503).send({ status: 'unavailable', checks })
    return { status: 'ready', checks }
  })
}

export default healthRoutes
