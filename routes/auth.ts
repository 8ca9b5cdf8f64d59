import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { randomBytes } from 'node:crypto'
import { errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'
import { validateId } from '../src/core/context.js'
import { Errors } from '../src/errors.js'

const TICKET_TTL_S = 60

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Token = Type.Object({ token: Type.String(), expires_at: Type.String() }, {
    description: 'A signed JWT for the user and when it expires (ISO-8601).',
    examples: [{ token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2NDU0MDgwMH0.c2lnbmF0dXJl', expires_at: '2025-12-01T00:00:00.000Z' }]
  })

  // dev mode only: in production the route does not exist (CONTRACT §1)
  if (app.devAuth) {
    app.post('/auth/dev-token', {
      config: { public: true },
      schema: {
        tags: ['auth'],
        operationId: 'createDevToken',
        summary: 'Mint a token (dev mode only)',
        description: 'Dev mode only (no `AUTH_JWT_SECRET` / `AUTH_JWT_PUBLIC_KEY` and `NODE_ENV` is not `production`): ' +
          'a token for any user id, signed with the local dev secret. In production the route does not exist.',
        body: Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._@:-]+$' }) }, {
          additionalProperties: false,
          examples: [{ user_id: 'alice' }]
        }),
        response: { 200: Token, ...errorResponses(['invalid_request', 'payload_too_large']) }
      }
    }, async (request) => {
      const { user_id } = request.body
      // a placeholder id ('undefined', 'null', …) would give a token every request refuses
      try { validateId('user id', user_id) } catch { throw new Errors.InvalidRequest('body/user_id is not a usable user id') }
      return app.signDevToken(user_id)
    })
  }

  app.post('/ws-tickets', {
    config: { rateLimit: app.rateLimits.tickets },
    schema: {
      tags: ['auth'],
      operationId: 'createWsTicket',
      summary: 'A WebSocket ticket for browsers',
      description: 'A single-use ticket for browsers, which cannot set headers on a WebSocket: open `/ws?ticket=…` within 60 s. ' +
        'The socket belongs to the token\'s user and closes when the token expires.',
      security: [{ bearer: [] }],
      response: {
        201: Type.Object({ ticket: Type.String(), expires_at: Type.String() }, {
          description: 'The ticket and when it expires (ISO-8601).',
          examples: [{ ticket: 'm2V0cJ9v1cW0bB8k6q3nX4yZ5aT7uP1d', expires_at: '2025-12-01T12:01:00.000Z' }]
        }),
        ...errorResponses(['unauthorized', 'payload_too_large'])
      }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    const ticket = randomBytes(24).toString('base64url')
    const expires = Math.floor(Date.now() / 1000) + TICKET_TTL_S
    await app.store.createTicket({ ticket, user_id: user.user_id, expires_at: expires, token_exp: request.identity!.exp })
    return reply.code(201).send({ ticket, expires_at: new Date(expires * 1000).toISOString() })
  })
}

export default authRoutes
