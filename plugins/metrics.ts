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
  const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: [registry] })
  // agent and tool labels are registry names, codes the bounded run-error codes: the series stay few
  return {
    registry,
    runsEnded: counter('agentwire_runs_ended_total', 'Runs ended, by final status', ['status']),
    runDuration: histogram('agentwire_run_duration_seconds', 'Runs ended, from their first start to their terminal event, by final status', ['status'], [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600]),
    queueWait: histogram('agentwire_run_queue_wait_seconds', 'Runs started, from their creation to their first claim', [], [0.005, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900]),
    agentDuration: histogram('agentwire_agent_duration_seconds', 'Agent attempts, from agent_started to their closing event, by agent', ['agent'], [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300]),
    agentErrors: counter('agentwire_agent_errors_total', 'Agent attempts that failed (agent_error), by agent and error code', ['agent', 'code']),
    toolDuration: histogram('agentwire_tool_duration_seconds', 'Tool calls, from tool_executing to tool_completed, by tool', ['tool'], [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30]),
    toolErrors: counter('agentwire_tool_errors_total', 'Tool calls that did not succeed, by tool and error code', ['tool', 'code']),
    storeErrors: counter('agentwire_store_errors_total', 'Store calls that failed, by store operation', ['operation']),
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
