import websocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import type { WebSocket } from 'ws'
import type { Config } from '../src/config.js'

const alive = new WeakMap<WebSocket, boolean>()

/** Marks a socket as answering; the heartbeat terminates peers that stop answering pings. */
export function watchHeartbeat (socket: WebSocket) {
  alive.set(socket, true)
  socket.on('pong', () => alive.set(socket, true))
}

export default fp(async (app, opts: { config: Config }) => {
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    preClose (done) {
      // runs after the engine's grace period (registered later): clients reconnect elsewhere
      for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down')
      app.websocketServer.close()
      done()
    }
  })
  const timer = setInterval(() => {
    for (const socket of app.websocketServer.clients) {
      if (alive.get(socket) === false) { socket.terminate(); continue }
      alive.set(socket, false)
      socket.ping()
    }
  }, opts.config.limits.wsHeartbeatMs)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}, { name: 'websocket', dependencies: ['engine'] })
