import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
import { VERSION as version } from '../src/version.js'

const started = Date.now()

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    config: { public: true },
    schema: {
      tags: ['health'],
      operationId: 'getHealth',
      summary: 'Liveness',
      description: 'Answers while the process is up; needs no token.',
      response: {
        200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), uptime_s: Type.Number() }, {
          description: 'The process is up.',
          examples: [{ status: 'ok', version: '0.1.0', uptime_s: 812.4 }]
        }),
        ...errorResponses([])
      }
    }
  }, async () => ({ status: 'ok' as const, version, uptime_s: Math.round((Date.now() - started) / 100) / 10 }))

  const Check = Type.Union([Type.Literal('ok'), Type.Literal('failing')])
  app.get('/health/ready', {
    config: { public: true },
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Readiness',
      description: 'Whether this process takes work: the store and the bus answer and it is not draining. ' +
        'A load balancer sends traffic only while this is 200. Needs no token.',
      response: {
        '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) }, {
          description: 'Ready.',
          examples: [{ status: 'ready', checks: { store: 'ok', bus: 'ok' } }]
        }),
        503: Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) }, {
          description: 'Not ready: `status` is `unavailable` (a failing check) or `shutting_down` (draining after SIGTERM). ' +
            'This body, not the error body, is what a 503 of this route carries.',
          examples: [{ status: 'unavailable', checks: { store: 'ok', bus: 'failing' } }, { status: 'shutting_down', checks: { store: 'ok', bus: 'ok', engine: 'failing' } }]
        }),
        500: errorResponses([])[500]
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
