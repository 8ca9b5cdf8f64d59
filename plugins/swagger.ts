import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { registerPublic } from './auth.js'
import { VERSION } from '../src/version.js'

/** OpenAPI from the route schemas, served at /docs. */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'agentwire', version: VERSION, description: 'Runs AI agents per user and streams every step. The WebSocket protocol is at /ws (see CONTRACT.md §4).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    }
  })
  // the docs are public (CONTRACT §1)
  await registerPublic(app, (docs) => docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } }))
}, { name: 'swagger' })
