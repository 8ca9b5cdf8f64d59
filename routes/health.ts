import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
import { existsSync } from 'node:fs'
import type { Config } from '../src/config.js'
import { VERSION as version } from '../src/version.js'

const started = Date.now()

/**
 * A SQLite database file that was deleted or moved keeps working on its open handle and is lost at
 * the next start: readiness must say so. Rejects when the file is gone; a no-op for other databases.
 */
export function databaseFileCheck (databaseUrl: string): () => Promise<void> {
  const file = databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : ':memory:'
  if (file === ':memory:') return async () => {}
  return async () => {
    if (!existsSync(file)) throw new Error(`the database file ${file} is gone`)
  }
}

const healthRoutes: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, opts) => {
  const fileCheck = databaseFileCheck(opts.config.databaseUrl)
  app.get('/health', {
    config: { public: true, whileDraining: true },
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
  const Engine = Type.Union([Type.Literal('ok'), Type.Literal('shutting_down')])
  app.get('/health/ready', {
    config: { public: true, whileDraining: true },
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Readiness',
      description: 'Whether this process takes work: the store and the bus answer and it is not draining. ' +
        'A load balancer sends traffic only while this is 200. Needs no token.',
      response: {
        '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Engine }) }, {
          description: 'Ready.',
          examples: [{ status: 'ready', checks: { store: 'ok', bus: 'ok', engine: 'ok' } }]
        }),
        503: Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Engine }) }, {
          description: 'Not ready: `status` is `unavailable`, with the failing check (`engine` is `shutting_down` while draining after SIGTERM). ' +
            'This body, not the error body, is what a 503 of this route carries.',
          examples: [{ status: 'unavailable', checks: { store: 'ok', bus: 'failing', engine: 'ok' } }, { status: 'unavailable', checks: { store: 'ok', bus: 'ok', engine: 'shutting_down' } }]
        }),
        500: errorResponses([])[500]
      }
    }
  }, async (request, reply) => {
    const ok = (p: Promise<unknown>) => p.then(() => 'ok' as const, (err) => { request.log.warn({ err }, 'readiness check failed'); return 'failing' as const })
    const checks = {
      // a failing store is back only once it takes a write again: a read would answer while the disk is full
      store: await ok(fileCheck().then(() => app.engine.storeFailing ? app.engine.probeStore() : app.store.ping())),
      bus: await ok(app.bus.ping()),
      engine: app.engine.accepting && !app.draining ? 'ok' as const : 'shutting_down' as const
    }
    if (checks.store !== 'ok' || checks.bus !== 'ok' || checks.engine !== 'ok') return reply.code(503).send({ status: 'unavailable', checks })
    return { status: 'ready', checks }
  })
}

export default healthRoutes
