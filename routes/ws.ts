import type { FastifyPluginAsync } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Config } from '../src/config.js'
import { UserExecutionContext } from '../src/core/context.js'
import { Errors } from '../src/errors.js'

/**
 * WebSocket `/ws` (CONTRACT §4): the auth plugin verifies the credential and the Origin before the
 * upgrade; here the user's socket cap is checked, then the hub takes the socket.
 */
const wsRoutes: FastifyPluginAsync<{ config: Config }> = async (app, opts) => {
  const cap = opts.config.limits.wsMaxSocketsPerUser

  app.get('/ws', {
    websocket: true,
    config: { upgrade: true },
    schema: { hide: true },
    async preValidation (request) {
      if (!app.hub.hasRoomFor(request.identity!.user_id)) throw new Errors.RateLimited(`at most ${cap} open WebSockets per user; close one first`)
    }
  }, (socket, request) => {
    const identity = request.identity!
    const user = UserExecutionContext.create({ user_id: identity.user_id, request_id: request.id, connection_id: randomUUID(), log: request.log })
    // @fastify/websocket's error listener holds the upgrade's request, reply and response for the
    // socket's whole life (kilobytes per idle socket): this one holds nothing of them
    socket.removeAllListeners('error')
    socket.on('error', (err) => {
      user.log.error({ err }, 'websocket error')
      socket.terminate()
    })
    // and the response it made for the upgrade stays the TCP socket's current message (holding
    // the request and its headers) unless it lets go of it
    // (an in-process upgrade, injectWS, has no TCP socket)
    const tcp = request.raw.socket as (Socket & { _httpMessage?: ServerResponse | null }) | undefined
    if (tcp?._httpMessage) tcp._httpMessage.detachSocket(tcp)
    app.hub.open(socket, user, identity.exp)
  })
}

export default wsRoutes
