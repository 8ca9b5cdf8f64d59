import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const agentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/agents', {
    schema: {
      tags: ['agents'],
      security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          agents: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), input_schema: Type.Unknown() }))
        })
      }
    }
  }, async () => ({ agents: app.registry.list() }))
}

export default agentRoutes
