import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userOf } from '../plugins/user-context.js'
import { Errors } from '../src/errors.js'
import type { RunEvent } from '../src/core/events.js'

const Params = Type.Object({ run_id: Type.String({ minLength: 1, maxLength: 128 }) })
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
      description: 'The run\'s events after `after_seq`; with `Accept: text/event-stream`, the same as SSE, live until the terminal event.',
      params: Params,
      querystring: Type.Object({ after_seq: Type.Integer({ minimum: 0, default: 0 }) }),
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
      response: { 200: Type.Object({ events: Type.Array(Type.Unknown()) }) }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    const lastEventId = request.headers['last-event-id']
    const afterSeq = lastEventId === undefined ? request.query.after_seq : Number(lastEventId)
    if (!(request.headers.accept ?? '').includes('text/event-stream')) {
      const events = await app.store.listEvents(user.user_id, request.params.run_id, afterSeq)
      if (!events) throw new Errors.NotFound('run')
      return { events }
    }
    if (!await app.store.getRun(user.user_id, request.params.run_id)) throw new Errors.NotFound('run')
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    raw.write(': stream\n\n')
    const handle = await app.feed.follow({
      user_id: user.user_id,
      send: (json: string, event: RunEvent) => { raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${json}\n\n`) },
      end: () => raw.end()
    }, request.params.run_id, afterSeq)
    if (!handle) { raw.end(); return }
    request.raw.on('close', () => handle.stop())
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
