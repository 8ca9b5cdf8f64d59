import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyReply, type FastifyServerOptions } from 'fastify'
import { randomUUID } from 'node:crypto'
import { Ajv } from 'ajv'
import auth from '../plugins/auth.js'
import bus from '../plugins/bus.js'
import connections, { clientErrorHandler, requestIdFrom } from '../plugins/connections.js'
import engine from '../plugins/engine.js'
import errors, { errorBody } from '../plugins/errors.js'
import housekeeping from '../plugins/housekeeping.js'
import metrics from '../plugins/metrics.js'
import rateLimit from '../plugins/rate-limit.js'
import rateLimits from '../plugins/rate-limits.js'
import registry from '../plugins/registry.js'
import security from '../plugins/security.js'
import store from '../plugins/store.js'
import swagger from '../plugins/swagger.js'
import userContext from '../plugins/user-context.js'
import web from '../plugins/web.js'
import websocket from '../plugins/websocket.js'
import agUiRoutes from '../routes/ag-ui.js'
import agentRoutes from '../routes/agents.js'
import authRoutes from '../routes/auth.js'
import healthRoutes from '../routes/health.js'
import meRoutes from '../routes/me.js'
import messageRoutes from '../routes/messages.js'
import runRoutes from '../routes/runs.js'
import threadRoutes from '../routes/threads.js'
import usageRoutes from '../routes/usage.js'
import wsRoutes from '../routes/ws.js'
import type { Config } from './config.js'

/** The one wiring place: what is registered, in what order. */
export async function buildApp (config: Config, logger: FastifyServerOptions['logger'] = false) {
  const { limits } = config
  const app = Fastify({
    logger,
    // a caller's x-request-id is kept (and sent back), so one id follows a request through every log line
    genReqId: (req) => requestIdFrom(req.headers['x-request-id'], randomUUID),
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: limits.bodyLimitBytes,
    trustProxy: false,
    // a slow or half-sent request cannot hold a connection (or a shutdown) for ever
    requestTimeout: limits.requestTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(5000, Math.ceil(limits.headersTimeoutMs / 2)) },
    clientErrorHandler,
    // draining is answered by plugins/connections.ts with the contract's body; after the grace
    // period every connection still open is closed
    return503OnClosing: false,
    forceCloseConnections: true,
    // ids are up to 128 chars (CONTRACT §1); the router refuses longer path params itself, and
    // its refusals (that, or a bad %-escape) get the contract's error body
    routerOptions: { maxParamLength: 128 },
    frameworkErrors: (err, _request, reply) => {
      (reply as FastifyReply).code(400).send(errorBody(400, 'invalid_request', err.message))
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  // query strings, params and headers arrive as text and are coerced; JSON bodies are taken as sent
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: false })
  const exact = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false })
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema))

  await app.register(errors)
  await app.register(connections)
  await app.register(security, { config })
  await app.register(metrics)
  await app.register(swagger)
  await app.register(store, { config })
  await app.register(bus, { config })
  await app.register(registry, { config })
  await app.register(auth, { config })
  await app.register(userContext)
  await app.register(rateLimit, { config })
  await app.register(rateLimits, { config })
  await app.register(housekeeping, { config })
  // the engine's drain runs before the sockets close: hooks run in registration order
  await app.register(engine, { config })
  await app.register(websocket, { config })
  await app.register(web)

  await app.register(healthRoutes, { config })
  await app.register(authRoutes)
  await app.register(agentRoutes)
  await app.register(messageRoutes)
  await app.register(threadRoutes)
  await app.register(runRoutes)
  await app.register(meRoutes)
  await app.register(usageRoutes, { config })
  await app.register(agUiRoutes)
  await app.register(wsRoutes, { config })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
