import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userOf } from '../plugins/user-context.js'
import { MessageFields } from '../src/core/events.js'

const messageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/messages', {
    schema: {
      tags: ['runs'],
      description: 'Posts a user message and starts a run of `agent` (default `supervisor`) on its thread.',
      security: [{ bearer: [] }],
      body: Type.Object(MessageFields, { additionalProperties: false }),
      response: {
        202: Type.Object({
          message_id: Type.String(),
          thread_id: Type.String(),
          run_id: Type.String(),
          status: Type.Union([Type.Literal('queued'), Type.Literal('running')])
        })
      }
    }
  }, async (request, reply) => {
    const accepted = await app.engine.submit(userOf(request), request.body)
    return reply.code(202).send(accepted)
  })
}

export default messageRoutes
