import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userOf } from '../plugins/user-context.js'
import { Errors } from '../src/errors.js'
import type { Thread } from '../src/store/types.js'

const ThreadSchema = Type.Object({
  thread_id: Type.String(),
  title: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  active_run_id: Type.Union([Type.String(), Type.Null()])
})
const Params = Type.Object({ thread_id: Type.String({ minLength: 1, maxLength: 128 }) })
const shape = ({ thread_id, title, created_at, updated_at, active_run_id }: Thread) => ({ thread_id, title, created_at, updated_at, active_run_id })

const threadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['threads'], security: [{ bearer: [] }] }

  app.get('/threads', {
    schema: {
      ...common,
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        cursor: Type.Optional(Type.String({ maxLength: 512 }))
      }),
      response: { 200: Type.Object({ threads: Type.Array(ThreadSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }) }
    }
  }, async (request) => {
    const page = await app.store.listThreads(userOf(request).user_id, request.query)
    return { threads: page.items.map(shape), next_cursor: page.next_cursor }
  })

  app.get('/threads/:thread_id', {
    schema: { ...common, params: Params, response: { 200: ThreadSchema } }
  }, async (request) => {
    const thread = await app.store.getThread(userOf(request).user_id, request.params.thread_id)
    if (!thread) throw new Errors.NotFound('thread')
    return shape(thread)
  })

  app.get('/threads/:thread_id/messages', {
    schema: {
      ...common,
      params: Params,
      response: {
        200: Type.Object({
          messages: Type.Array(Type.Object({
            message_id: Type.String(),
            role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
            content: Type.String(),
            run_id: Type.Union([Type.String(), Type.Null()]),
            created_at: Type.String()
          }))
        })
      }
    }
  }, async (request) => {
    const messages = await app.store.listMessages(userOf(request).user_id, request.params.thread_id)
    if (!messages) throw new Errors.NotFound('thread')
    return { messages }
  })
}

export default threadRoutes
