import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userOf } from '../plugins/user-context.js'
import { Errors } from '../src/errors.js'
import { errorBody } from '../plugins/errors.js'

const Params = Type.Object({ run_id: Type.String({ minLength: 1, maxLength: 128 }) })
/** events one GET /runs/:id/events answers with at most */
const EVENTS_PAGE = 1000
const Status = Type.Union(['queued', 'running', 'completed', 'failed', 'cancelled'].map((s) => Type.Literal(s)))

const runRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['runs'], security: [{ bearer: [] }] }

  app.get('/runs/:run_id', {
    schema: {
      ...common,
      params: Params,
      response: {
        200: Type.Object({
          run_id: Type.String(),
          thread_id: Type.String(),
          agent: Type.String(),
          status: Status,
          created_at: Type.String(),
          started_at: Type.Optional(Type.String()),
          finished_at: Type.Optional(Type.String()),
          result: Type.Optional(Type.Unknown()),
          error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }))
        })
      }
    }
  }, async (request) => {
    const run = await app.store.getRun(userOf(request).user_id, request.params.run_id)
    if (!run) throw new Errors.NotFound('run')
    const { run_id, thread_id, agent, status, created_at, started_at, finished_at, result, error } = run
    return {
      run_id,
      thread_id,
      agent,
      status,
      created_at,
      ...(started_at ? { started_at } : {}),
      ...(finished_at ? { finished_at } : {}),
      ...(result !== null && result !== undefined ? { result } : {}),
      ...(error ? { error } : {})
    }
  })

  app.get('/runs/:run_id/events', {
    schema: {
      ...common,
      description: 'The run\'s events after `after_seq`, at most `limit` (default and most: ' + EVENTS_PAGE + '); a full page carries ' +
        '`next_after_seq` to ask for the next one. With `Accept: text/event-stream`, the same as SSE (`Last-Event-ID` resumes), ' +
        'live until the terminal event, with keep-alive comments.',
      params: Params,
      querystring: Type.Object({
        after_seq: Type.Integer({ minimum: 0, default: 0 }),
        limit: Type.Integer({ minimum: 1, maximum: EVENTS_PAGE, default: EVENTS_PAGE })
      }),
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
      response: { 200: Type.Object({ events: Type.Array(Type.Unknown()), next_after_seq: Type.Optional(Type.Integer()) }) }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    const { run_id: runId } = request.params
    const lastEventId = request.headers['last-event-id']
    const afterSeq = lastEventId === undefined ? request.query.after_seq : Number(lastEventId)
    if (!(request.headers.accept ?? '').includes('text/event-stream')) {
      const { limit } = request.query
      const events = await app.store.listEvents(user.user_id, runId, afterSeq, limit)
      if (!events) throw new Errors.NotFound('run')
      return events.length === limit ? { events, next_after_seq: events.at(-1)!.seq } : { events }
    }
    if (!await app.store.getRun(user.user_id, runId)) throw new Errors.NotFound('run')
    reply.hijack()
    if (await app.hub.stream(request.raw, reply.raw, user.user_id, runId, afterSeq)) return
    // the server began to stop, or the run went away, between the check and the stream
    const [status, code] = app.hub.stopped ? [503, 'unavailable'] : [404, 'not_found']
    reply.raw.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
    reply.raw.end(JSON.stringify(errorBody(status, code, code === 'unavailable' ? 'shutting down' : 'run not found')))
  })

  app.post('/runs/:run_id/cancel', {
    schema: {
      ...common,
      params: Params,
      response: { 202: Type.Object({ run_id: Type.String(), status: Status }) }
    }
  }, async (request, reply) => {
    const result = await app.engine.cancel(userOf(request), request.params.run_id)
    return reply.code(202).send(result)
  })
}

export default runRoutes
