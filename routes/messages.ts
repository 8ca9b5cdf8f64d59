import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'
import { MessageFields } from '../src/core/events.js'

const messageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/messages', {
    schema: {
      tags: ['runs'],
      operationId: 'postMessage',
      summary: 'Ask: post a message and start a run',
      description: 'Posts a user message and starts a run of `agent` (default `supervisor`) on its thread; a new thread is made ' +
        'when `thread_id` is absent. `input` is checked against the agent\'s `input_schema`. On a thread with an unfinished run, ' +
        '`multitask` decides: `reject` (default, 409 `thread_busy`), `enqueue` (wait for it) or `interrupt` (cancel it). ' +
        'Follow the run with `GET /runs/{run_id}/events` (SSE) or a `subscribe` frame on `/ws`.',
      security: [{ bearer: [] }],
      body: Type.Object(MessageFields, {
        additionalProperties: false,
        examples: [
          { content: 'Where did our LLM spend go last month, and how do we cut it?' },
          { content: 'And by feature?', thread_id: '0193a6f0-7c1e-7b3a-9a51-2f4c6d8e0b12', agent: 'data', multitask: 'enqueue' }
        ]
      }),
      response: {
        202: Type.Object({
          message_id: Type.String(),
          thread_id: Type.String(),
          run_id: Type.String(),
          status: Type.Union([Type.Literal('queued'), Type.Literal('running')])
        }, {
          description: 'Accepted: the run is running, or queued behind this user\'s other runs or the thread\'s earlier ones.',
          examples: [{ message_id: '0193a6f0-8d2a-7c41-b0e3-5a7f9c1d2e34', thread_id: '0193a6f0-7c1e-7b3a-9a51-2f4c6d8e0b12', run_id: '0193a6f0-8d2b-7f02-8c6d-3e1a4b5c6d78', status: 'running' }]
        }),
        ...errorResponses(['invalid_request', 'unknown_agent', 'unauthorized', 'not_found', 'thread_busy', 'payload_too_large', 'rate_limited', 'unavailable'])
      }
    }
  }, async (request, reply) => {
    const accepted = await app.engine.submit(userOf(request), request.body)
    return reply.code(202).send(accepted)
  })
}

export default messageRoutes
