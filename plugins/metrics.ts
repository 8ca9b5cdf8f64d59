import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry, runsEnded: Counter<'status'> }
  }
}

/** Prometheus metrics of this process, on a registry of its own (never prom-client's global one). */
export default fp(async (app) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'agentwire_' })
  const runsEnded = new Counter({ name: 'agentwire_runs_ended_total', help: 'Runs ended, by final status', labelNames: ['status'], registers: [registry] })
  const requests = new Histogram({
    name: 'agentwire_http_request_duration_seconds',
    help: 'HTTP request duration, by method, route and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })
  app.decorate('metrics', { registry, runsEnded })

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    requests.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })
  // read at scrape time from the parts that own the numbers
  const gauges: Array<[string, string, () => number | Promise<number>]> = [
    ['agentwire_runs_running', 'Runs running in this process', () => app.engine.activeRuns],
    ['agentwire_runs_waiting', 'Runs queued in the store, waiting for any process to claim them', async () => (await app.engine.stats()).waiting],
    ['agentwire_websocket_connections', 'Open WebSocket connections', () => app.websocketServer.clients.size]
  ]
  for (const [name, help, read] of gauges) {
    registry.registerMetric(new Gauge({ name, help, registers: [], async collect () { this.set(await read()) } }))
  }

  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics' })
