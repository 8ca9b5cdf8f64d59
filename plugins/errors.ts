import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { STATUS_CODES } from 'node:http'
import { isErrorCode } from '../src/errors.js'

/** Fastify's own errors, by status, onto the contract's codes (CONTRACT §2). */
const BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden_origin',
  404: 'not_found',
  409: 'thread_busy',
  413: 'payload_too_large',
  415: 'invalid_request',
  429: 'rate_limited',
  503: 'unavailable'
}

/** The contract's error body (CONTRACT §2). */
export function errorBody (statusCode: number, code: string, message: string) {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** Every error leaves as `{statusCode, code, error, message}` with a stable code; 5xx never leak. */
export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    let code: string | undefined = isErrorCode(err.code) ? err.code : err.validation ? 'invalid_request' : BY_STATUS[status]
    if (!code) { code = 'internal'; status = 500 }
    // CONTRACT §2: invalid_request is always 400, an unsupported media type (415) included
    if (err.validation || code === 'invalid_request') status = 400
    if (status >= 500 && code !== 'unavailable') {
      request.log.error({ err }, 'request failed')
      code = 'internal'
    } else {
      request.log.info({ code, message: err.message }, 'request refused')
    }
    const retryAfter = (err as { retryAfter?: number }).retryAfter
    if (code === 'rate_limited') reply.header('retry-after', String(retryAfter ?? 1))
    const message = code === 'internal' ? 'internal error' : err.validation ? `${err.validationContext ?? 'body'}${err.message.replace(/^(body|querystring|params)/, '')}` : err.message
    // a refused upload lists its bad rows: `errors: [{ line, reason }]` next to the message
    const rows = code === 'invalid_request' && !err.validation ? (err as { errors?: unknown }).errors : undefined
    return reply.code(status).send({ ...errorBody(status, code, message), ...(Array.isArray(rows) && { errors: rows }) })
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(errorBody(404, 'not_found', `route ${request.method} ${request.url.split('?')[0]} not found`))
  })
}, { name: 'errors' })
