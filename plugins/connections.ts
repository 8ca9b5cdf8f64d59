import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Socket } from 'node:net'
import { MAX_JSON_DEPTH, jsonTooDeep } from '../src/core/json-depth.js'
import { Errors } from '../src/errors.js'
import { errorBody } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** true from the first moment of a graceful close */
    draining: boolean
  }
  interface FastifyContextConfig {
    /** still answered while the server drains (health and readiness) */
    whileDraining?: boolean
  }
}

/** Request ids: a caller's own `x-request-id` is kept when it looks like an id, else one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:@-]{8,128}$/
export function requestIdFrom (header: string | string[] | undefined, make: () => string): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : make()
}

const PARSER_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'invalid_request', 'the request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'payload_too_large', 'request headers are too large']
}

/**
 * What Node's HTTP parser refuses never reaches Fastify: it is answered here, with the contract's
 * body (CONTRACT §2), and the connection is closed.
 */
export function clientErrorHandler (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = PARSER_ERRORS[err.code ?? ''] ?? [400, 'invalid_request', 'malformed HTTP request']
  this.log.debug({ err }, 'refused a malformed request')
  if (socket.writable) {
    const body = JSON.stringify(errorBody(status, code, message))
    socket.write(`HTTP/1.1 ${status} ${errorBody(status, code, message).error}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy()
}

/**
 * Connection hygiene: request ids out, JSON that nests too deep refused before it is parsed,
 * `503 unavailable` while draining, and an upgrade answered over HTTP (refused, drained, unknown)
 * has its socket closed.
 */
export default fp(async (app) => {
  app.decorate('draining', false)
  app.addHook('preClose', async () => { app.draining = true })

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id)
    if (request.headers.upgrade) {
      // an upgrade that is answered over HTTP never becomes a socket: nothing else would close it
      const socket = request.raw.socket
      reply.raw.once('finish', () => socket.destroy())
    }
    if (app.draining && !request.routeOptions.config?.whileDraining) {
      reply.header('connection', 'close')
      throw new Errors.Unavailable('the server is shutting down; retry on another instance')
    }
  })

  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonTooDeep(body as string)) return done(new Errors.InvalidRequest(`body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined)
    parseJson(request, body as string, done)
  })
}, { name: 'connections', dependencies: ['errors'] })
