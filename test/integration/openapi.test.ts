import SwaggerParser from '@apidevtools/swagger-parser'
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { ERROR_STATUS } from '../../src/errors.js'
import { auth, build } from '../helpers/app.js'

interface Media { schema?: Schema, example?: unknown, examples?: Record<string, { value: unknown }> }
interface Schema { type?: string, required?: string[], properties?: Record<string, Schema>, enum?: unknown[] }
interface Response { description: string, content?: Record<string, Media>, headers?: Record<string, unknown> }
interface Operation {
  operationId?: string
  summary?: string
  description?: string
  security?: unknown[]
  parameters?: Array<{ in: string, name: string, required: boolean }>
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, Response>
}
interface Spec { openapi: string, paths: Record<string, Record<string, Operation>> }

async function specOf (app: { inject: (o: { url: string }) => Promise<{ statusCode: number, json: () => unknown }> }): Promise<Spec> {
  const res = await app.inject({ url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`GET /docs/json answered ${res.statusCode}`)
  return res.json() as Spec
}

const operations = (spec: Spec) => Object.entries(spec.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })))

const hasExample = (media: Media | undefined) => media !== undefined && (media.example !== undefined || Object.keys(media.examples ?? {}).length > 0)

t.test('the spec validates as OpenAPI 3.0', async (t) => {
  const app = await build(t)
  const spec = await specOf(app)
  t.equal(spec.openapi, '3.0.3')
  // validate() dereferences in place: give it a copy
  await t.resolves(SwaggerParser.validate(structuredClone(spec) as never), 'swagger-parser finds nothing wrong')
})

t.test('every operation has an id, a summary, a description, examples and its error responses', async (t) => {
  const app = await build(t)
  const spec = await specOf(app)
  const ops = operations(spec)
  t.strictSame(ops.map(({ method, path, op }) => `${method} ${path} ${op.operationId}`), [
    'GET /health getHealth',
    'GET /health/ready getReadiness',
    'POST /ws-tickets createWsTicket',
    'GET /agents listAgents',
    'POST /messages postMessage',
    'GET /threads listThreads',
    'GET /threads/{thread_id} getThread',
    'PATCH /threads/{thread_id} renameThread',
    'DELETE /threads/{thread_id} deleteThread',
    'GET /threads/{thread_id}/messages listThreadMessages',
    'GET /runs/{run_id} getRun',
    'GET /runs/{run_id}/events listRunEvents',
    'POST /runs/{run_id}/cancel cancelRun',
    'POST /runs/{run_id}/resume resumeRun',
    'GET /me/stats getMyStats',
    'POST /usage importUsage',
    'DELETE /usage deleteUsage',
    'GET /usage/summary getUsageSummary',
    'POST /usage/sample loadUsageSample',
    'POST /ag-ui/{agent} runAgUiAgent',
    'GET /ag-ui/runs/{run_id}/events resumeAgUiRun'
  ], 'every route is documented, under a stable operationId')

  for (const { method, path, op } of ops) {
    const name = `${method} ${path}`
    t.ok(op.summary && op.description, `${name}: a summary and a description`)
    const statuses = Object.keys(op.responses)
    const errors = statuses.filter((s) => /^[45]/.test(s))
    t.ok(errors.includes('500'), `${name}: documents 500 internal`)
    if (op.security) t.ok(errors.includes('401'), `${name}: needs a token, so documents 401`)
    if ((op.parameters ?? []).some((p) => p.in === 'path') && !path.startsWith('/ag-ui/{agent}')) {
      t.ok(errors.includes('404'), `${name}: looks a resource up, so documents 404`)
    }
    for (const [status, res] of Object.entries(op.responses)) {
      t.ok(res.description && res.description !== 'Default Response', `${name} ${status}: described`)
      const media = Object.values(res.content ?? {})
      // a 204 has no body, so nothing to show
      if (status === '204') t.strictSame(media, [], `${name} 204: no body`)
      else t.ok(media.length > 0 && media.every(hasExample), `${name} ${status}: every media type has an example`)
    }
    for (const status of errors) {
      // /health/ready's 503 carries the readiness checks, not an error body
      if (name === 'GET /health/ready' && status === '503') continue
      const body = op.responses[status].content!['application/json']
      t.strictSame(body.schema!.required, ['statusCode', 'code', 'error', 'message'], `${name} ${status}: the contract's error body`)
      const codes = body.schema!.properties!.code.enum as string[]
      t.ok(codes.length > 0 && codes.every((c) => String(ERROR_STATUS[c as keyof typeof ERROR_STATUS]) === status), `${name} ${status}: codes ${codes.join(', ')} are this status's`)
      t.strictSame(body.schema!.properties!.statusCode.enum, [Number(status)])
    }
    if (op.requestBody) {
      t.ok(Object.values(op.requestBody.content).every(hasExample), `${name}: the request body has examples`)
    }
  }
})

t.test('what the spec says of particular routes', async (t) => {
  const app = await build(t)
  const spec = await specOf(app)
  const codes = (op: Operation, status: number) => op.responses[status].content!['application/json'].schema!.properties!.code.enum

  const message = spec.paths['/messages'].post
  t.strictSame(Object.keys(message.responses), ['202', '400', '401', '404', '409', '413', '429', '500', '503'])
  t.strictSame(codes(message, 400), ['invalid_request', 'unknown_agent'])
  t.ok(message.responses[429].headers?.['retry-after'], '429 documents Retry-After')

  const upload = spec.paths['/usage'].post
  t.strictSame(Object.keys(upload.requestBody!.content), ['text/csv', 'application/x-ndjson', 'application/json'], 'the three upload formats')
  t.equal(upload.requestBody!.content['text/csv'].schema!.type, 'string')
  t.equal(upload.requestBody!.content['application/json'].schema!.type, 'array')
  t.ok(upload.responses[400].content!['application/json'].schema!.properties!.errors, 'a refused upload lists its bad rows')

  const events = spec.paths['/runs/{run_id}/events'].get
  t.strictSame(Object.keys(events.responses[200].content!), ['application/json', 'text/event-stream'])
  t.equal(events.parameters!.find((p) => p.name === 'after_seq')!.required, false, 'a query parameter with a default is optional')
  t.ok(events.parameters!.find((p) => p.in === 'header' && p.name === 'last-event-id'), 'Last-Event-ID is documented')

  const agUi = spec.paths['/ag-ui/{agent}'].post
  t.strictSame(Object.keys(agUi.responses[200].content!), ['text/event-stream'])
  t.ok(agUi.requestBody!.content['application/json'].schema!.required!.includes('messages'))
  const resume = spec.paths['/ag-ui/runs/{run_id}/events'].get
  t.strictSame(Object.keys(resume.responses[200].content!), ['text/event-stream'])
})

t.test('the documented errors are the ones the routes answer', async (t) => {
  const app = await build(t)
  const spec = await specOf(app)
  for (const { method, path, op } of operations(spec)) {
    const url = path.replace(/\{[a-z_]+\}/g, (p) => p === '{agent}' ? 'nope' : randomUUID())
    const documented = (status: number, code: string) =>
      (op.responses[status]?.content?.['application/json'].schema?.properties?.code.enum ?? []).includes(code)
    if (op.security) {
      const res = await app.inject({ method: method as 'GET', url })
      t.equal(res.statusCode, 401, `${method} ${path} without a token: 401`)
      t.ok(documented(401, 'unauthorized'), `${method} ${path}: 401 unauthorized is documented`)
    }
    if (path.includes('{run_id}') || path.includes('{thread_id}')) {
      // a body the route accepts, so what answers is the lookup
      const payload = path.endsWith('/resume') ? { interrupt_id: 'i', answer: 1 } : method === 'PATCH' ? { title: 'a title' } : undefined
      const res = await app.inject({ method: method as 'GET', url, headers: auth('alice'), ...(payload && { payload }) })
      t.equal(res.statusCode, 404, `${method} ${url}: 404`)
      t.ok(documented(404, res.json().code), `${method} ${path}: ${res.json().code} is documented`)
    }
  }
  const unknown = await app.inject({ method: 'POST', url: '/ag-ui/nope', headers: auth('alice'), payload: { threadId: 't', runId: 'r', messages: [{ id: 'm', role: 'user', content: 'hi' }] } })
  t.equal(unknown.statusCode, 400)
  t.ok((spec.paths['/ag-ui/{agent}'].post.responses[400].content!['application/json'].schema!.properties!.code.enum as string[]).includes(unknown.json().code))
})

t.test('in dev mode the dev-token route is documented too', async (t) => {
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', DATA_DIR: t.testdir(), LOG_LEVEL: 'silent' }))
  t.teardown(() => app.close())
  await app.ready()
  const spec = await specOf(app)
  const op = spec.paths['/auth/dev-token'].post
  t.equal(op.operationId, 'createDevToken')
  t.strictSame(Object.keys(op.responses), ['200', '400', '413', '500'])
  t.notOk(op.security, 'no token needed')
  await t.resolves(SwaggerParser.validate(structuredClone(spec) as never))
})
