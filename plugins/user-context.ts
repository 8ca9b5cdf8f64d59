import fp from 'fastify-plugin'
import { UserExecutionContext } from '../src/core/context.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** set for every authenticated request; routes that need a user read it, never the body */
    userContext: UserExecutionContext | null
  }
}

export default fp(async (app) => {
  app.decorateRequest('userContext', null)
  app.addHook('onRequest', async (request) => {
    if (!request.identity) return
    request.userContext = UserExecutionContext.create({
      user_id: request.identity.user_id,
      request_id: request.id,
      log: request.log
    })
  })
}, { name: 'user-context', dependencies: ['auth'] })

/** The caller of an authenticated route. */
export function userOf (request: { userContext: UserExecutionContext | null }): UserExecutionContext {
  if (!request.userContext) throw new Error('route needs auth but has no user context')
  return request.userContext
}
