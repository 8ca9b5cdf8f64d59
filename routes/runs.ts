import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'
import { Errors } from '../src/errors.js'
import { errorBody } from '../plugins/errors.js'
import { ResumeFields } from '../src/core/events.js'

const Params = Type.Object({ run_id: Type.String({ minLength: 1, maxLength: 128 }) })
/** events one GET /runs/:id/events answers with at most */
const EVENTS_PAGE = 1000
const Status = Type.Union(['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'].map((s) => Type.Literal(s)))
const RUN_ID = '0193a6f0-8d2b-7f02-8c6d-3e1a4b5c6d78'
const THREAD_ID = '0193a6f0-7c1e-7b3a-9a51-2f4c6d8e0b12'
const eventExample = {
  type: 'tool_completed',
  seq: 7,
  run_id: RUN_ID,
  thread_id: THREAD_ID,
  user_id: 'alice',
  data: {
    agent_id: '0193a6f0-8d40-7a11-b2c3-d4e5f6a7b8c9',
    agent_name: 'data',
    tool_name: 'usage_summary',
    tool_call_id: '0193a6f0-8d52-7e21-a3b4-c5d6e7f8a9b0',
    status: 'success',
    result: { total_cost_usd: 45210.37 },
    duration_ms: 12.4,
    timestamp: 1764494000.012
  }
}

const runRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['runs'], security: [{ bearer: [] }] }

  app.get('/runs/:run_id', {
    schema: {
      ...common,
      operationId: 'getRun',
      summary: 'A run',
      description: 'Its status, and once it has ended its `result` (completed) or `error` (failed).',
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
        }, {
          description: 'The run.',
          examples: [{
            run_id: RUN_ID,
            thread_id: THREAD_ID,
            agent: 'supervisor',
            status: 'completed',
            created_at: '2025-11-30T09:12:44.121Z',
            started_at: '2025-11-30T09:12:44.130Z',
            finished_at: '2025-11-30T09:13:02.870Z',
            result: { answer: '## Spend, Oct 2025\n…' }
          }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found'])
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
      operationId: 'listRunEvents',
      summary: 'A run\'s events, as JSON or live as SSE',
      description: 'The run\'s events with `seq > after_seq`, in seq order, at most `limit` (default and most: ' + EVENTS_PAGE + '); a full page carries `next_after_seq`. With `Accept: text/event-stream` the same as ' +
        'Server-Sent Events, replay then live until the run\'s terminal event (`run_completed`, `run_failed` or `run_cancelled`), ' +
        'each as `id: <seq>`, `event: <type>`, `data: <event JSON>`. A reconnecting client sends `Last-Event-ID` (it wins over ' +
        '`after_seq`) and gets every later event exactly once: no gap, no duplicate.',
      params: Params,
      querystring: Type.Object({
        after_seq: Type.Integer({ minimum: 0, default: 0, description: 'the last seq the client has; 0 for all' }),
        limit: Type.Integer({ minimum: 1, maximum: EVENTS_PAGE, default: EVENTS_PAGE, description: 'at most this many events; a full page carries `next_after_seq`' })
      }),
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'SSE resume: the last seq received' })) }),
      response: {
        200: {
          description: 'The events: a JSON page, or an SSE stream when asked for with `Accept: text/event-stream`.',
          content: {
            'application/json': {
              schema: Type.Object({ events: Type.Array(Type.Unknown({ description: 'a run event (docs/contract.md §5)' })), next_after_seq: Type.Optional(Type.Integer()) }),
              example: { events: [eventExample] }
            },
            'text/event-stream': {
              schema: Type.String({ description: 'One block per event; the stream ends after the terminal event.' }),
              example: `: stream\n\nid: 7\nevent: tool_completed\ndata: ${JSON.stringify(eventExample)}\n\n`
            }
          }
        },
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found'])
      }
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
      operationId: 'cancelRun',
      summary: 'Cancel a run',
      description: 'Stops the run\'s agents and tools (they receive an AbortSignal); the run ends with `run_cancelled`. ' +
        'Idempotent: a finished run answers with its final status. Dropping a stream never cancels a run; only this does.',
      params: Params,
      response: {
        202: Type.Object({ run_id: Type.String(), status: Status }, {
          description: 'Cancel accepted; `status` is the run\'s status now.',
          examples: [{ run_id: RUN_ID, status: 'cancelled' }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found', 'payload_too_large'])
      }
    }
  }, async (request, reply) => {
    const result = await app.engine.cancel(userOf(request), request.params.run_id)
    return reply.code(202).send(result)
  })

  app.post('/runs/:run_id/resume', {
    schema: {
      ...common,
      operationId: 'resumeRun',
      summary: 'Answer a run that waits for you',
      description: 'Answers the interrupt of an `input_requested` event: `{"interrupt_id","decision":"approve"|"reject","reason"?,"arguments"?}` ' +
        'for an approval (`arguments` replace the tool call\'s), `{"interrupt_id","answer"}` for a question. The answer must meet the ' +
        'event\'s `schema`; a bad one is `400 invalid_request` and the run keeps waiting. The first answer wins: a later one, or one after ' +
        'the expiry or the run\'s end, is `409 interrupt_closed`. The run then emits `input_received` and goes on, on whichever process holds it.',
      params: Params,
      body: Type.Object(ResumeFields, {
        additionalProperties: false,
        examples: [
          { interrupt_id: '0193a6f0-9e11-7c02-8d3e-4f5a6b7c8d9e', decision: 'approve', arguments: { to: 'bob', amount: 50 } },
          { interrupt_id: '0193a6f0-9e11-7c02-8d3e-4f5a6b7c8d9e', answer: 3 }
        ]
      }),
      response: {
        202: Type.Object({ run_id: Type.String(), interrupt_id: Type.String() }, {
          description: 'The answer is stored; the run goes on.',
          examples: [{ run_id: RUN_ID, interrupt_id: '0193a6f0-9e11-7c02-8d3e-4f5a6b7c8d9e' }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found', 'interrupt_closed', 'payload_too_large'])
      }
    }
  }, async (request, reply) => {
    const result = await app.engine.resume(userOf(request), request.params.run_id, request.body)
    return reply.code(202).send(result)
  })
}

export default runRoutes
