import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'
import { answerOf, createAgUiStream, parseEventId, runFromInput, type ResumeEntryFields, type StreamCursor } from '../src/core/ag-ui.js'
import type { EventData } from '../src/core/events.js'
import type { UserExecutionContext } from '../src/core/context.js'
import { Errors, isCoded } from '../src/errors.js'

const RUN_ID = '0193a6f0-8d2b-7f02-8c6d-3e1a4b5c6d78'
const THREAD_ID = '0193a6f0-7c1e-7b3a-9a51-2f4c6d8e0b12'

/** AG-UI 1.0 `RunAgentInput`: the fields read are checked, the rest (tools, context, …) passes. */
const RunAgentInputSchema = Type.Object({
  threadId: Type.String({ minLength: 1, description: 'this user\'s agentwire thread to continue; any other value starts a new thread' }),
  runId: Type.String({ minLength: 1, description: 'the client\'s run id; the run\'s own id comes back in RUN_STARTED' }),
  messages: Type.Array(Type.Object({
    id: Type.String(),
    role: Type.String(),
    content: Type.Optional(Type.Unknown({ description: 'text, or content parts whose text parts are joined' }))
  }, { additionalProperties: true }), { description: 'the conversation; the last `user` message is what the agent is asked' }),
  state: Type.Optional(Type.Unknown({ description: 'an object: merged into the agent\'s `input`' })),
  forwardedProps: Type.Optional(Type.Unknown({ description: 'an object: merged into the agent\'s `input`, over `state`' })),
  tools: Type.Optional(Type.Array(Type.Unknown(), { description: 'not used: agentwire agents call their own tools' })),
  resume: Type.Optional(Type.Array(Type.Object({
    interruptId: Type.String({ minLength: 1, maxLength: 128, description: 'the `id` of an interrupt of the RUN_FINISHED interrupt outcome' }),
    status: Type.Union([Type.Literal('resolved'), Type.Literal('cancelled')], { description: '`resolved`: `payload` is the answer; `cancelled`: an approval is rejected' }),
    payload: Type.Optional(Type.Unknown({ description: 'what the interrupt\'s `responseSchema` describes: `{"decision","reason"?,"arguments"?}` for an approval, the answer for a question' })),
    metadata: Type.Optional(Type.Object({}, { additionalProperties: true }))
  }, { additionalProperties: false }), { maxItems: 100, description: 'answers to the interrupts that ended the thread\'s last AG-UI run: the run goes on (docs/ag-ui.md)' })),
  context: Type.Optional(Type.Array(Type.Unknown(), { description: 'not used' }))
}, {
  additionalProperties: true,
  examples: [{
    threadId: THREAD_ID,
    runId: 'client-run-1',
    messages: [{ id: 'm1', role: 'user', content: 'Where did our LLM spend go last month?' }],
    state: {},
    tools: [],
    context: [],
    forwardedProps: {}
  }]
})

const sseExample = [
  `id: 1:1\ndata: {"type":"RUN_STARTED","threadId":"${THREAD_ID}","runId":"${RUN_ID}","protocolVersion":"1.0","timestamp":1764494000120}`,
  'id: 1\ndata: {"type":"CUSTOM","name":"agentwire.run_queued","value":{"position":1},"timestamp":1764494000120}',
  'id: 2\n',
  `id: 9:1\ndata: {"type":"TEXT_MESSAGE_START","messageId":"${RUN_ID}:answer","role":"assistant","timestamp":1764494003871}`,
  `id: 9:2\ndata: {"type":"TEXT_MESSAGE_CONTENT","messageId":"${RUN_ID}:answer","delta":"## Spend, Oct 2025…","timestamp":1764494003871}`,
  `id: 9:3\ndata: {"type":"TEXT_MESSAGE_END","messageId":"${RUN_ID}:answer","timestamp":1764494003871}`,
  `id: 9\ndata: {"type":"RUN_FINISHED","threadId":"${THREAD_ID}","runId":"${RUN_ID}","result":{"answer":"## Spend, Oct 2025…"},"outcome":{"type":"success"},"timestamp":1764494003871}`
].join('\n\n') + '\n\n'

const sseResponse = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: Type.String({ description: 'AG-UI events, one per SSE event; `id` is a resume point (docs/ag-ui.md)' }), example: sseExample } }
})

const agUiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['ag-ui'], security: [{ bearer: [] }] }
  const isWorkflow = (name: string) => Boolean(app.registry.agent(name)?.definition.workflow)

  /** Streams the run as AG-UI over SSE from `after`, until its terminal event; a dropped stream leaves the run running. */
  async function stream (request: FastifyRequest, reply: FastifyReply, runId: string, after?: StreamCursor) {
    const user = userOf(request)
    const out = createAgUiStream({ isWorkflow, after })
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      // where a dropped stream resumes
      'content-location': `/ag-ui/runs/${runId}/events`
    })
    raw.write(': stream\n\n')
    // the client may go before the feed has answered: stop following then
    const following: { handle?: { stop (): void }, closed: boolean } = { closed: false }
    raw.on('close', () => { following.closed = true; following.handle?.stop() })
    const write = (text: string) => { if (text && !raw.destroyed && !raw.writableEnded) raw.write(text) }
    // one response is one AG-UI run: an interrupt ends it while our run waits, and the follow stops
    const finish = () => {
      following.closed = true
      following.handle?.stop()
      if (!raw.writableEnded) raw.end()
    }
    // mapped from the first event: the mapper's state is rebuilt, then only what follows `after` is written
    // the stream waits for a slow client to drain, and is cut when it stalls, as every feed target is
    following.handle = await app.hub.feed.follow({
      user_id: user.user_id,
      send: (_json, event) => {
        write(out.write(event))
        if (out.closed) { finish(); return false }
        return raw.writableLength < app.hub.highWater
      },
      drained: () => raw.destroyed || raw.writableEnded || (!raw.writableNeedDrain && raw.writableLength < app.hub.highWater)
        ? Promise.resolve()
        : new Promise<void>((resolve) => { raw.once('drain', resolve); raw.once('close', resolve) }),
      end: () => { if (!raw.writableEnded) raw.end() },
      cut: () => raw.destroy()
    }, runId, 0)
    if (!following.handle) { raw.end(); return }
    if (following.closed) following.handle.stop()
  }

  /**
   * An AG-UI resume: each entry answers an interrupt of the thread's last run (CONTRACT §5.6, as
   * `POST /runs/:id/resume` would). The response goes on from the latest of those interrupts. An
   * abandoned entry for an interrupt that is closed already (expired, say) answers nothing.
   */
  async function resumeFrom (user: UserExecutionContext, threadId: string, entries: ResumeEntryFields[]): Promise<{ runId: string, after: number }> {
    const thread = threadId.length <= 128 ? await app.store.getThread(user.user_id, threadId) : undefined
    if (!thread) throw new Errors.NotFound('thread')
    const runId = (await app.store.listMessages(user.user_id, thread.thread_id))?.findLast((m) => m.run_id !== null)?.run_id
    const events = runId === undefined || runId === null ? [] : (await app.store.listEvents(user.user_id, runId, 0)) ?? []
    const idOf = (data: unknown) => (data as { interrupt_id: string }).interrupt_id
    let after = 0
    for (const [i, entry] of entries.entries()) {
      const where = `resume[${i}]`
      const asked = events.find((e) => e.type === 'input_requested' && idOf(e.data) === entry.interruptId)
      if (!asked) throw new Errors.NotFound(`interrupt "${entry.interruptId}" (${where}) in this thread's last run`)
      after = Math.max(after, asked.seq)
      if (entry.status === 'cancelled' && events.some((e) => e.type === 'input_received' && idOf(e.data) === entry.interruptId)) continue
      try {
        await app.engine.resume(user, runId!, answerOf(entry, asked.data as EventData<'input_requested'>, where))
      } catch (err) {
        if (isCoded(err) && err.code === 'invalid_request' && !err.message.startsWith(where)) throw new Errors.InvalidRequest(`${where}.payload: ${err.message}`)
        if (isCoded(err) && err.code === 'interrupt_closed') throw new Errors.InterruptClosed(`${where}: ${err.message}`)
        throw err
      }
    }
    return { runId: runId!, after }
  }

  app.post('/ag-ui/:agent', {
    schema: {
      ...common,
      operationId: 'runAgUiAgent',
      summary: 'Run an agent for an AG-UI client',
      description: 'AG-UI 1.0: takes a `RunAgentInput`, starts a run of `agent` and streams it as AG-UI events over SSE, live until ' +
        'RUN_FINISHED (success or cancelled) or RUN_ERROR. The last user message is the question; `state` and `forwardedProps` ' +
        'are the agent\'s `input`; `threadId` continues this user\'s thread of that id, else a new thread is made (RUN_STARTED ' +
        'carries the thread and run ids). Every SSE event has an `id`: after a drop, `GET /ag-ui/runs/{run_id}/events` with ' +
        '`Last-Event-ID` resumes with no gap and no duplicate. Dropping the stream does not cancel the run; ' +
        '`POST /runs/{run_id}/cancel` does. A run that waits for a person ends the AG-UI run with RUN_FINISHED\'s interrupt outcome; ' +
        'the same thread\'s next `RunAgentInput` carrying `resume` answers it, and its stream is the run going on. ' +
        'Errors before the stream starts are the usual JSON error bodies.',
      params: Type.Object({ agent: Type.String({ minLength: 1, maxLength: 128, description: 'an agent of `GET /agents`' }) }),
      body: RunAgentInputSchema,
      response: {
        200: sseResponse('The run as AG-UI events.'),
        ...errorResponses(['invalid_request', 'unknown_agent', 'unauthorized', 'not_found', 'thread_busy', 'interrupt_closed', 'payload_too_large', 'rate_limited', 'unavailable'])
      }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    if (request.body.resume !== undefined && request.body.resume.length > 0) {
      const { runId, after } = await resumeFrom(user, request.body.threadId, request.body.resume)
      return stream(request, reply, runId, { seq: after })
    }
    const { content, input } = runFromInput(request.body)
    const { threadId } = request.body
    const thread = threadId.length <= 128 ? await app.store.getThread(user.user_id, threadId) : undefined
    const accepted = await app.engine.submit(user, { content, agent: request.params.agent, input, ...(thread ? { thread_id: thread.thread_id } : {}) })
    await stream(request, reply, accepted.run_id)
  })

  app.get('/ag-ui/runs/:run_id/events', {
    schema: {
      ...common,
      operationId: 'resumeAgUiRun',
      summary: 'Resume an AG-UI stream',
      description: 'The same AG-UI stream as `POST /ag-ui/{agent}` gave, from its start or, with `Last-Event-ID`, right after the ' +
        'last event the client received: no gap, no duplicate. Live until that AG-UI run ends (RUN_FINISHED, an interrupt\'s too, or ' +
        'RUN_ERROR); after an interrupt\'s RUN_FINISHED, it is the AG-UI run that resumed it. A finished run\'s stream ends at once.',
      params: Type.Object({ run_id: Type.String({ minLength: 1, maxLength: 128 }) }),
      headers: Type.Object({
        'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}(:[0-9]{1,6})?$', description: 'the `id` of the last SSE event received' }))
      }),
      response: {
        200: sseResponse('The run as AG-UI events, after `Last-Event-ID`.'),
        ...errorResponses(['invalid_request', 'unauthorized', 'not_found'])
      }
    }
  }, async (request, reply) => {
    const user = userOf(request)
    const id = request.headers['last-event-id']
    const after = id === undefined ? undefined : parseEventId(id)
    if (!await app.store.getRun(user.user_id, request.params.run_id)) throw new Errors.NotFound('run')
    await stream(request, reply, request.params.run_id, after)
  })
}

export default agUiRoutes
