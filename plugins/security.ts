import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

/**
 * CORS from ALLOWED_ORIGINS (CONTRACT §0; unset: same origin only, so no CORS headers at all) and
 * security headers on every answer. The chat page (plugins/web.ts) sets its own stricter CSP.
 */
export default fp(async (app, opts: { config: Config }) => {
  const { allowedOrigins } = opts.config
  if (allowedOrigins) {
    await app.register(cors, {
      origin: allowedOrigins.includes('*') ? '*' : allowedOrigins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'last-event-id', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600
    })
  }
  await app.register(helmet, {
    // the API answers JSON; the docs' own files are the only pages besides the chat page
    contentSecurityPolicy: {
      useDefaults: true,
      // plain http on localhost must keep working: no forced upgrade of the page's requests
      directives: { 'upgrade-insecure-requests': null }
    }
  })
}, { name: 'security' })
