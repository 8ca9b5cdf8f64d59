import swagger, { type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type, type TSchema } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { STATUS_CODES } from 'node:http'
import { registerPublic } from './auth.js'
import type { ErrorCode } from '../src/errors.js'
import { VERSION } from '../src/version.js'

/** CONTRACT §2: each stable code, its HTTP status, what it means, and a message it may carry. */
const CODES: Readonly<Record<ErrorCode, { status: number, meaning: string, example: string }>> = {
  invalid_request: { status: 400, meaning: 'the body, query, headers or path fail their schema, or the body is not JSON', example: 'body must have required property \'content\'' },
  unknown_agent: { status: 400, meaning: 'no agent of that name in the registry', example: 'no agent named "nope"' },
  unauthorized: { status: 401, meaning: 'missing, malformed, expired or forged bearer token', example: 'missing bearer token' },
  forbidden_origin: { status: 403, meaning: 'WebSocket Origin not allowed', example: 'origin not allowed' },
  not_found: { status: 404, meaning: 'no such resource for this user (another user\'s looks exactly like a missing one)', example: 'run not found' },
  thread_busy: { status: 409, meaning: 'a run is active on the thread and the multitask strategy is `reject`', example: 'a run is active on this thread' },
  interrupt_closed: { status: 409, meaning: 'the interrupt was answered already, expired, or its run has ended', example: 'the interrupt was answered already' },
  payload_too_large: { status: 413, meaning: 'the body is over the limit', example: 'Request body is too large' },
  rate_limited: { status: 429, meaning: 'per-user request or run limit hit; `Retry-After` says when to try again', example: 'too many requests, retry in 2 s' },
  unavailable: { status: 503, meaning: 'shutting down or not ready', example: 'shutting down' },
  internal: { status: 500, meaning: 'a bug; the message never leaks internals', example: 'internal error' }
}

/** A bad row of a refused usage upload. */
const RowErrorSchema = Type.Object({
  line: Type.Integer({ minimum: 1, description: '1-based line in the file (for a JSON array, index + 1)' }),
  reason: Type.String()
})

/** The contract's error body for one status and the codes a route can answer with it. */
export function errorSchema (status: number, codes: readonly ErrorCode[], opts: { rowErrors?: boolean } = {}) {
  const body = Type.Object({
    statusCode: Type.Literal(status),
    code: Type.Unsafe<ErrorCode>({ type: 'string', enum: [...codes] }),
    error: Type.Literal(STATUS_CODES[status] ?? 'Error'),
    message: Type.String(),
    ...(opts.rowErrors && { errors: Type.Optional(Type.Array(RowErrorSchema, { description: 'a refused upload\'s bad rows, at most 100' })) })
  }, {
    description: codes.map((c) => `\`${c}\`: ${CODES[c].meaning}`).join('; '),
    examples: codes.map((c) => ({ statusCode: status, code: c, error: STATUS_CODES[status], message: CODES[c].example }))
  })
  if (status !== 429) return body
  return { ...body, headers: { 'retry-after': { type: 'integer', minimum: 1, description: 'seconds to wait before trying again' } } } as typeof body
}

/**
 * The error responses of a route, by status, for the codes it can answer (CONTRACT §2). Every
 * route can answer `internal`; `opts.rowErrors` adds the `errors` list of a refused upload to 400.
 */
export function errorResponses (codes: readonly ErrorCode[], opts: { rowErrors?: boolean } = {}): Record<number, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of new Set<ErrorCode>([...codes, 'internal'])) {
    const { status } = CODES[code]
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)
    .map(([status, list]) => [status, errorSchema(status, list, { rowErrors: opts.rowErrors && status === 400 })]))
}

/**
 * Documents a request body the route reads itself (no schema validates it, so its own refusals
 * stay as they are): `config: { swaggerTransform: documentBody({ 'text/csv': schema, … }) }`.
 */
export function documentBody (content: Record<string, TSchema>): SwaggerTransform {
  return ({ schema, url }) => ({
    schema: { ...schema, body: { content: Object.fromEntries(Object.entries(content).map(([type, s]) => [type, { schema: s }])) } },
    url
  })
}

const DESCRIPTION = `Runs AI agents per user and streams every step as typed events.

Every route except the health checks, \`POST /auth/dev-token\`, these docs and the chat page needs
\`Authorization: Bearer <JWT>\`. Errors are \`{"statusCode", "code", "error", "message"}\` with a
stable \`code\` (see each operation's error responses).

The WebSocket protocol is at \`/ws\` (docs/contract.md §4). \`POST /ag-ui/{agent}\` speaks AG-UI 1.0
over SSE, with resume (docs/ag-ui.md).`

/** OpenAPI from the route schemas, served at /docs. */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'agentwire', version: VERSION, description: DESCRIPTION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    },
    // a query parameter with a default may be left out, though the schema lists it as required
    transformObject: (doc) => {
      if (!('openapiObject' in doc)) return doc.swaggerObject
      const { openapiObject } = doc
      for (const path of Object.values(openapiObject.paths ?? {})) {
        for (const op of Object.values(path ?? {}) as Array<{ parameters?: Array<{ in: string, required?: boolean, schema?: { default?: unknown } }> }>) {
          for (const p of op.parameters ?? []) if (p.in === 'query' && p.schema?.default !== undefined) p.required = false
        }
      }
      return openapiObject
    }
  })
  // the docs are public (CONTRACT §1)
  await registerPublic(app, (docs) => docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } }))
}, { name: 'swagger' })
