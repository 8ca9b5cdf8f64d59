import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { randomBytes } from 'node:crypto'
import { userOf } from '../plugins/user-context.js'
import { validateId } from '../src/core/context.js'
import { Errors } from '../src/errors.js'

const TICKET_TTL_S = 60

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Token = Type.Object({ token: Type.String(), expires_at: Type.String() })

  // dev mode only: in production the route does not exist (CONTRACT §1)
  if (app.devAuth) {
    app.post('/auth/dev-token', {
      config: { public: true },
      schema: {
        tags: ['auth'],
        description: 'Dev mode only: a signed token for any user id.',
        body: Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._@:-]+$' }) }, { additionalProperties: false }),
        response: { 200: Token }
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
      description: 'A single-use ticket for browsers to open /ws?ticket=… (expires in 60 s).',
      security: [{ bearer: [] }],
      response: { 201: Type.Object({ ticket: Type.String(), expires_at: Type.String() }) }
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
