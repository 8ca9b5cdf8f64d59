import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'

const Count = Type.Integer({ minimum: 0 })

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/me/stats', {
    schema: {
      tags: ['me'],
      operationId: 'getMyStats',
      summary: 'This user\'s run counts',
      description: 'Runs by status, tool calls and tool errors, and the mean duration of finished runs (null before the first).',
      security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          runs: Type.Object({ queued: Count, running: Count, waiting: Count, completed: Count, failed: Count, cancelled: Count }),
          tool_calls: Count,
          tool_errors: Count,
          mean_run_ms: Type.Union([Type.Number(), Type.Null()])
        }, {
          description: 'The counts.',
          examples: [{ runs: { queued: 0, running: 1, waiting: 0, completed: 12, failed: 1, cancelled: 2 }, tool_calls: 57, tool_errors: 3, mean_run_ms: 1834.2 }]
        }),
        ...errorResponses(['unauthorized'])
      }
    }
  }, async (request) => app.store.stats(userOf(request).user_id))
}

export default meRoutes
