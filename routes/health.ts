import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
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
      response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), uptime_s: Type.Number() }) }
    }
  }, async () => ({ status: 'ok' as const, version, uptime_s: Math.round((Date.now() - started) / 100) / 10 }))

  const Check = Type.Union([Type.Literal('ok'), Type.Literal('failing')])
  app.get('/health/ready', {
    config: { public: true, whileDraining: true },
    schema: {
      tags: ['health'],
      response: {
        '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) }),
        503: Type.Object({ status: Type.String(), checks: Type.Object({ store: Check, bus: Check, engine: Type.Optional(Check) }) })
      }
    }
  }, async (request, reply) => {
    const ok = (p: Promise<unknown>) => p.then(() => 'ok' as const, (err) => { request.log.warn({ err }, 'readiness check failed'); return 'failing' as const })
    const checks = { store: await ok(fileCheck().then(() => app.store.ping())), bus: await ok(app.bus.ping()) }
    if (!app.engine.accepting || app.draining) return reply.code(503).send({ status: 'shutting_down', checks: { ...checks, engine: 'failing' } })
    if (checks.store !== 'ok' || checks.bus !== 'ok') return reply.code(503).send({ status: 'unavailable', checks })
    return { status: 'ready', checks }
  })
}

export default healthRoutes
