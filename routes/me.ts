import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userOf } from '../plugins/user-context.js'

const Count = Type.Integer({ minimum: 0 })

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/me/stats', {
    schema: {
      tags: ['me'],
      security: [{ bearer: [] }],
      response: {
        200: Type.Object({
          runs: Type.Object({ queued: Count, running: Count, completed: Count, failed: Count, cancelled: Count }),
          tool_calls: Count,
          tool_errors: Count,
          mean_run_ms: Type.Union([Type.Number(), Type.Null()])
        })
      }
    }
  }, async (request) => app.store.stats(userOf(request).user_id))
}

export default meRoutes
