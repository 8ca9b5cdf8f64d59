import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'

const agentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/agents', {
    schema: {
      tags: ['agents'],
      operationId: 'listAgents',
      summary: 'The agents a message can run',
      description: 'Every agent in the registry: the built-in pack and those of `AGENT_MODULES`. `input_schema` is the JSON Schema ' +
        'a message\'s `input` is checked against before the run.',
      security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          agents: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), input_schema: Type.Unknown() }))
        }, {
          description: 'The registry.',
          examples: [{ agents: [{ name: 'supervisor', description: 'Routes a question to the agents that can answer it.', input_schema: { type: 'object' } }] }]
        }),
        ...errorResponses(['unauthorized'])
      }
    }
  }, async () => ({ agents: app.registry.list() }))
}

export default agentRoutes
