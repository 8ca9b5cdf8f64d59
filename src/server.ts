import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { RegistryError } from './core/registry.js'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  console.error(`agentwire: ${err.message}`)
  process.exit(1)
}

const logger = {
  level: config.logLevel,
  redact: ['req.headers.authorization', 'token', 'ticket'],
  serializers: {
    // a WebSocket ticket travels in the query string: keep it out of the logged url
    req: (req: { method: string, url: string, id: string }) => ({ id: req.id, method: req.method, url: req.url.replace(/([?&]ticket=)[^&]*/, '$1[redacted]') })
  },
  ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } } : {})
}

let app
try {
  app = await buildApp(config, logger)
} catch (err) {
  if (!(err instanceof RegistryError)) throw err
  console.error(`agentwire: ${err.message}`)
  process.exit(1)
}

// SIGTERM/SIGINT drain (CONTRACT §0); an uncaught error or unhandled rejection is logged and
// closes the same way. Whatever clients do, the process is gone SHUTDOWN_GRACE_MS + 5 s later.
const server = app
closeWithGrace({
  delay: config.limits.shutdownGraceMs + 5000,
  logger: { error: (message: unknown, ...rest: unknown[]) => server.log.error({ detail: rest }, String(message)) },
  onSecondSignal: (signal) => { server.log.warn({ signal }, 'second signal: exiting now'); process.exit(1) }
}, async ({ signal, err }) => {
  if (err) server.log.fatal({ err }, 'uncaught error: closing')
  else server.log.info({ signal }, 'draining: new runs refused, running ones get a grace period')
  await server.close()
})

const address = await app.listen({ port: config.port, host: config.host })
const base = address.replace('[::1]', 'localhost')
const lines = [
  '',
  `agentwire is listening on ${base}`,
  `  chat page:    ${base}/`,
  `  API docs:     ${base}/docs`,
  `  health:       ${base}/health`
]
if (app.devAuth) {
  lines.push(
    '  dev auth is on. Get a token, load a sample of LLM usage as your data, and ask about it:',
    `    TOKEN=$(curl -s -X POST ${base}/auth/dev-token -H 'content-type: application/json' -d '{"user_id":"alice"}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
    `    curl -s -X POST ${base}/usage/sample -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"profile":"team"}'`,
    `    RUN=$(curl -s -X POST ${base}/messages -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"content":"How can we cut our LLM costs?"}' | sed -E 's/.*"run_id":"([^"]+)".*/\\1/')`,
    `    curl -sN ${base}/runs/$RUN/events -H "authorization: Bearer $TOKEN" -H 'accept: text/event-stream'`,
    `  WebSocket:    ws://${base.replace(/^https?:\/\//, '')}/ws  (Authorization header, or ?ticket= from POST /ws-tickets)`
  )
}
console.log(lines.join('\n') + '\n')
