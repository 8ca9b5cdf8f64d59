import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ReturnType<typeof createMetrics>
  }
}

/** The counters other parts bump; gauges are read at scrape time from the parts that own them. */
export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'agentwire_' })
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter({ name, help, labelNames, registers: [registry] })
  return {
    registry,
    runsEnded: counter('agentwire_runs_ended_total', 'Runs ended, by final status', ['status']),
    eventsDelivered: counter('agentwire_events_delivered_total', 'Run events written to clients, by transport (ws, sse)', ['transport']),
    bytesSent: counter('agentwire_event_bytes_sent_total', 'Bytes of run events written to clients, by transport', ['transport']),
    slowConsumerCuts: counter('agentwire_slow_consumer_cuts_total', 'Clients cut because they stopped reading (WebSocket 4008, SSE closed), by transport', ['transport']),
    rateLimited: counter('agentwire_rate_limit_refusals_total', 'Requests refused with 429 rate_limited, by route', ['route'])
  }
}

/** Prometheus metrics of this process, on a registry of its own (never prom-client's global one). */
export default fp(async (app) => {
  const metrics = createMetrics()
  const { registry } = metrics
  const requests = new Histogram({
    name: 'agentwire_http_request_duration_seconds',
    help: 'HTTP request duration, by method, route and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })
  app.decorate('metrics', metrics)

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    requests.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    if (reply.statusCode === 429) metrics.rateLimited.inc({ route })
  })
  // read at scrape time from the parts that own the numbers
  const gauges: Array<[string, string, () => number | Promise<number>]> = [
    ['agentwire_runs_running', 'Runs running in this process', () => app.engine.activeRuns],
    ['agentwire_runs_waiting', 'Runs queued in the store, waiting for any process to claim them', async () => (await app.engine.stats()).waiting],
    ['agentwire_websocket_connections', 'Open WebSocket connections', () => app.websocketServer.clients.size],
    ['agentwire_sse_streams', 'Open SSE streams', () => app.hub.streams],
    ['agentwire_followers', 'Runs followed by clients of this process (one per client and run)', () => app.hub.feed.followers]
  ]
  for (const [name, help, read] of gauges) {
    registry.registerMetric(new Gauge({ name, help, registers: [], async collect () { this.set(await read()) } }))
  }

  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics' })
