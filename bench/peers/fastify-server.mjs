/** The bare Fastify peer: `POST /messages` validates a body like agentwire's and answers 202. */
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'

const app = Fastify({ logger: false })
app.post('/messages', {
  schema: {
    body: {
      type: 'object',
      properties: { content: { type: 'string', minLength: 1, maxLength: 32768 }, agent: { type: 'string' }, input: { type: 'object' } },
      required: ['content'],
      additionalProperties: false
    }
  }
}, async (_request, reply) => reply.code(202).send({ message_id: randomUUID(), thread_id: randomUUID(), run_id: randomUUID(), status: 'running' }))

const address = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(`listening on ${address}`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0)) })
