import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
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
const threadExample = {
  thread_id: '0193a6f0-7c1e-7b3a-9a51-2f4c6d8e0b12',
  title: 'Where did our LLM spend go last month?',
  created_at: '2025-11-30T09:12:44.120Z',
  updated_at: '2025-11-30T09:13:02.871Z',
  active_run_id: null
}
const Params = Type.Object({ thread_id: Type.String({ minLength: 1, maxLength: 128 }) })
/** a title a person gives: one line (whitespace collapsed), not blank */
const MAX_TITLE_CHARS = 200
const TitleBody = Type.Object({
  title: Type.String({ minLength: 1, maxLength: MAX_TITLE_CHARS, pattern: '\\S', description: `1..${MAX_TITLE_CHARS} characters, not only whitespace; stored on one line` })
}, { additionalProperties: false, examples: [{ title: 'Spend review, October' }] })
const shape = ({ thread_id, title, created_at, updated_at, active_run_id }: Thread) => ({ thread_id, title, created_at, updated_at, active_run_id })

const threadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['threads'], security: [{ bearer: [] }] }

  app.get('/threads', {
    schema: {
      ...common,
      operationId: 'listThreads',
      summary: 'This user\'s threads',
      description: 'Newest first, a page at a time: pass `next_cursor` as `cursor` for the next page (null on the last).',
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        cursor: Type.Optional(Type.String({ maxLength: 512 }))
      }),
      response: {
        200: Type.Object({ threads: Type.Array(ThreadSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }, {
          description: 'A page of threads.',
          examples: [{ threads: [threadExample], next_cursor: null }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized'])
      }
    }
  }, async (request) => {
    const page = await app.store.listThreads(userOf(request).user_id, request.query)
    return { threads: page.items.map(shape), next_cursor: page.next_cursor }
  })

  app.get('/threads/:thread_id', {
    schema: {
      ...common,
      operationId: 'getThread',
      summary: 'A thread',
      description: '`active_run_id` is the thread\'s unfinished run, if any.',
      params: Params,
      response: {
        200: Type.Object(ThreadSchema.properties, { description: 'The thread.', examples: [threadExample] }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found'])
      }
    }
  }, async (request) => {
    const thread = await app.store.getThread(userOf(request).user_id, request.params.thread_id)
    if (!thread) throw new Errors.NotFound('thread')
    return shape(thread)
  })

  app.patch('/threads/:thread_id', {
    schema: {
      ...common,
      operationId: 'renameThread',
      summary: 'Rename a thread',
      description: 'Sets the title (whitespace runs become one space). `updated_at` is the last activity and does not change, so the thread keeps its place in the list.',
      params: Params,
      body: TitleBody,
      response: {
        200: Type.Object(ThreadSchema.properties, { description: 'The renamed thread.', examples: [{ ...threadExample, title: 'Spend review, October' }] }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found', 'payload_too_large'])
      }
    }
  }, async (request) => {
    const title = request.body.title.replace(/\s+/g, ' ').trim()
    const thread = await app.store.renameThread(userOf(request).user_id, request.params.thread_id, title)
    if (!thread) throw new Errors.NotFound('thread')
    return shape(thread)
  })

  app.delete('/threads/:thread_id', {
    schema: {
      ...common,
      operationId: 'deleteThread',
      summary: 'Delete a thread',
      description: 'Deletes the thread, its messages, its runs and their events for good: they are `404 not_found` afterwards. ' +
        'A thread with an unfinished run (queued, running or waiting for an answer) is `409 thread_busy`: cancel the run first.',
      params: Params,
      response: {
        204: Type.Null({ description: 'Deleted.' }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found', 'thread_busy'])
      }
    }
  }, async (request, reply) => {
    await app.store.deleteThread(userOf(request).user_id, request.params.thread_id)
    return reply.code(204).send(null)
  })

  app.get('/threads/:thread_id/messages', {
    schema: {
      ...common,
      operationId: 'listThreadMessages',
      summary: 'A thread\'s messages',
      description: 'Oldest first. The assistant message of a finished run holds its final answer.',
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
        }, {
          description: 'The messages.',
          examples: [{
            messages: [
              { message_id: '0193a6f0-8d2a-7c41-b0e3-5a7f9c1d2e34', role: 'user', content: 'Where did our LLM spend go last month?', run_id: '0193a6f0-8d2b-7f02-8c6d-3e1a4b5c6d78', created_at: '2025-11-30T09:12:44.120Z' },
              { message_id: '0193a6f1-0a4c-7d13-9e2f-6b7c8d9e0f12', role: 'assistant', content: '## Spend, Oct 2025\n…', run_id: '0193a6f0-8d2b-7f02-8c6d-3e1a4b5c6d78', created_at: '2025-11-30T09:13:02.871Z' }
            ]
          }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found'])
      }
    }
  }, async (request) => {
    const messages = await app.store.listMessages(userOf(request).user_id, request.params.thread_id)
    if (!messages) throw new Errors.NotFound('thread')
    return { messages }
  })
}

export default threadRoutes
