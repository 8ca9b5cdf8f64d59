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
  const Engine = Type.Union([Type.Literal('ok'), Type.Literal('shutting_down')])
  app.get('/health/ready', {
    config: { public: true },
    schema: {
      tags: ['health'],
      response: {
        '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Engine }) }),
        503: Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Engine }) })
      }
    }
  }, async (request, reply) => {
    const ok = (p: Promise<unknown>) => p.then(() => 'ok' as const, (err) => { request.log.warn({ err }, 'readiness check failed'); return 'failing' as const })
    const checks = { store: await ok(app.store.ping()), bus: await ok(app.bus.ping()), engine: app.engine.accepting ? 'ok' as const : 'shutting_down' as const }
    if (checks.store !== 'ok' || checks.bus !== 'ok' || checks.engine !== 'ok') return reply.code(503).send({ status: 'unavailable', checks })
    return { status: 'ready', checks }
  })
}

export default healthRoutes
