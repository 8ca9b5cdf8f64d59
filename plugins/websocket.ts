import websocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { Hub } from '../src/hub/hub.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** every WebSocket session and SSE stream of this process, and the run feed behind them */
    hub: Hub
  }
}

/** The hub: WebSocket sessions, SSE streams and the run feed, stopped together at shutdown. */
export default fp(async (app, opts: { config: Config }) => {
  const { limits } = opts.config
  const hub = new Hub({
    store: app.store,
    bus: app.bus,
    engine: app.engine,
    log: app.log,
    limits: {
      maxBufferedBytes: limits.wsMaxBufferedBytes,
      stallMs: limits.stallTimeoutMs,
      socketsPerUser: limits.wsMaxSocketsPerUser,
      sseKeepAliveMs: limits.sseKeepAliveMs,
      heartbeatMs: limits.wsHeartbeatMs
    },
    metrics: {
      sent: (transport, bytes) => {
        app.metrics.eventsDelivered.inc({ transport })
        app.metrics.bytesSent.inc({ transport }, bytes)
      },
      cut: (transport) => app.metrics.slowConsumerCuts.inc({ transport })
    }
  })
  app.decorate('hub', hub)
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    preClose (done) {
      // registered after the engine: runs once its grace period is over; clients reconnect elsewhere
      hub.stop()
      app.websocketServer.close()
      done()
    }
  })
  // a failing test or an aborted start never leaves the heartbeat or the feed behind
  app.addHook('onClose', async () => hub.stop())
}, { name: 'websocket', dependencies: ['engine', 'metrics'] })
