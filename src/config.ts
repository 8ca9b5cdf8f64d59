import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { loadCatalogueFile } from './tools/catalogue-file.js'
import { PRICES, type PriceTable } from './tools/prices.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const Int = (min: number, max: number, def: number) =>
  Type.Integer({ minimum: min, maximum: max, default: def })

/** The environment the service reads: names are CONTRACT §0, plus the limits it needs. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Optional(Type.String()),
  PORT: Int(0, 65535, 3000),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:.+|postgres(ql)?://.+)$', default: 'sqlite:./data/agentwire.db' }),
  /** many processes share events, cancels and rate limits through this Redis; unset: one process */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+' })),
  /** prepended to every Redis key and channel, so several deployments (or test runs) share one Redis */
  REDIS_PREFIX: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', default: 'agentwire:' }),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  AUTH_JWT_PUBLIC_KEY: Type.Optional(Type.String({ pattern: '-----BEGIN [A-Z ]*PUBLIC KEY-----' })),
  AUTH_JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  ALLOWED_ORIGINS: Type.Optional(Type.String()),
  AGENT_MODULES: Type.Optional(Type.String()),
  LOG_LEVEL: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)), { default: 'info' }),
  /** lifetime of a dev token, seconds */
  DEV_TOKEN_TTL_S: Int(10, 30 * 24 * 3600, 24 * 3600),
  /** default agent attempt timeout, ms (an agent's own `timeout_ms` wins) */
  AGENT_TIMEOUT_MS: Int(10, 3_600_000, 60_000),
  /** default tool call timeout, ms (a tool's own `timeout_ms` wins) */
  TOOL_TIMEOUT_MS: Int(10, 3_600_000, 30_000),
  /** first retry delay of a failed agent attempt, ms; doubles each attempt, with jitter */
  RETRY_BASE_MS: Int(0, 600_000, 500),
  /** runs one user may have running at once; more wait in a queue */
  MAX_RUNS_PER_USER: Int(1, 1000, 3),
  /** runs one user may have waiting; beyond that, 429 rate_limited */
  MAX_QUEUED_PER_USER: Int(0, 10_000, 20),
  /** runs running at once in this process */
  MAX_RUNS: Int(1, 100_000, 64),
  /** messages (POST /messages and `message` frames) per user per minute, and the burst allowed */
  RATE_LIMIT_PER_MIN: Int(1, 1_000_000, 60),
  RATE_LIMIT_BURST: Int(1, 1_000_000, 20),
  /** whole-run deadline, ms */
  RUN_TIMEOUT_MS: Int(10, 24 * 3_600_000, 300_000),
  /** server WebSocket ping interval; a peer that misses one is terminated */
  WS_HEARTBEAT_MS: Int(10, 600_000, 30_000),
  /** a socket with more than this many bytes unsent is closed with 4008 */
  WS_MAX_BUFFERED_BYTES: Int(1024, 1 << 30, 4 * 1024 * 1024),
  /** WebSockets one user may have open at once; one more is refused with 429 rate_limited */
  WS_MAX_SOCKETS_PER_USER: Int(1, 100_000, 20),
  /** a WebSocket or SSE client whose send buffer stays full this long is cut (WebSocket 4008, SSE closed) */
  STALL_TIMEOUT_MS: Int(100, 600_000, 10_000),
  /** interval of SSE keep-alive comments */
  SSE_KEEPALIVE_MS: Int(10, 600_000, 15_000),
  /** a request's headers and body must arrive within this long (408 otherwise) */
  REQUEST_TIMEOUT_MS: Int(1000, 3_600_000, 30_000),
  /** a request's headers must arrive within this long */
  HEADERS_TIMEOUT_MS: Int(1000, 3_600_000, 10_000),
  /** POST /ws-tickets per user per minute */
  WS_TICKETS_PER_MIN: Int(1, 1_000_000, 30),
  /** POST /usage uploads per user per minute */
  USAGE_UPLOADS_PER_MIN: Int(1, 1_000_000, 10),
  /** events of runs finished longer ago than this many days are deleted (0: kept forever) */
  EVENT_RETENTION_DAYS: Int(0, 36_500, 0),
  /** a run's lease: renewed every third of it; a run whose lease lapsed is taken over by another process */
  LEASE_MS: Int(1000, 600_000, 10_000),
  /** this process's name as a lease holder (default: host-pid-random) */
  INSTANCE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
  /** time running runs get to finish on SIGTERM before they are handed over to another process */
  SHUTDOWN_GRACE_MS: Int(0, 600_000, 10_000),
  /** HTTP body limit for everything but message content, bytes */
  BODY_LIMIT_BYTES: Int(1024, 64 * 1024 * 1024, 1024 * 1024),
  /** body limit of a usage upload (POST /usage), bytes */
  USAGE_MAX_BYTES: Int(1024, 1024 * 1024 * 1024, 10 * 1024 * 1024),
  /** rows one usage upload may hold */
  USAGE_MAX_ROWS: Int(1, 10_000_000, 100_000),
  /** a usage row costing more than this many USD per request is refused */
  USAGE_MAX_COST_USD: Int(1, 10_000_000, 1000),
  /** a usage row with more input or output tokens than this per request is refused */
  USAGE_MAX_TOKENS: Int(1, 1_000_000_000, 10_000_000),
  /** usage rows dated before this day (UTC) are refused */
  USAGE_EARLIEST: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', default: '2020-01-01' }),
  /** usage rows dated more than this many seconds after now are refused */
  USAGE_MAX_AHEAD_S: Int(0, 366 * 86_400, 86_400),
  /** worker threads that run the usage analyses off the event loop (0: in the event loop, as always on sqlite::memory:; -1: one per core but one, at most 4) */
  ANALYSIS_WORKERS: Int(-1, 64, -1),
  /** a JSON price catalogue whose rates override the built-in ones (negotiated rates) */
  PRICE_CATALOGUE: Type.Optional(Type.String({ minLength: 1 })),
  /** an OpenAI-compatible endpoint (e.g. https://api.openai.com/v1); with LLM_API_KEY and LLM_MODEL it turns the model on */
  LLM_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  LLM_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  LLM_MODEL: Type.Optional(Type.String({ minLength: 1 })),
  /** one model request, first byte to last, ms */
  LLM_TIMEOUT_MS: Int(10, 600_000, 30_000)
})

export type Env = Static<typeof EnvSchema>

export interface Config {
  production: boolean
  port: number
  host: string
  databaseUrl: string
  dataDir: string
  auth: {
    secret?: string
    publicKey?: string
    issuer?: string
    audience?: string
    devTokenTtlS: number
  }
  /** undefined = same origin only */
  allowedOrigins?: string[]
  agentModules: string[]
  logLevel: Env['LOG_LEVEL']
  instanceId?: string
  limits: {
    agentTimeoutMs: number
    toolTimeoutMs: number
    retryBaseMs: number
    runTimeoutMs: number
    runsPerUser: number
    queuedPerUser: number
    runsGlobal: number
    ratePerMin: number
    rateBurst: number
    wsHeartbeatMs: number
    wsMaxBufferedBytes: number
    wsMaxSocketsPerUser: number
    stallTimeoutMs: number
    sseKeepAliveMs: number
    requestTimeoutMs: number
    headersTimeoutMs: number
    ticketsPerMin: number
    uploadsPerMin: number
    /** 0: events are kept forever */
    eventRetentionDays: number
    shutdownGraceMs: number
    leaseMs: number
    bodyLimitBytes: number
    usageMaxBytes: number
    usageMaxRows: number
    /** what a usage row must stay within */
    usageBounds: { max_cost_usd: number, max_tokens: number, earliest: string, max_ahead_s: number }
  }
  /** undefined: one process, in-process bus and rate limits */
  redis?: { url: string, prefix: string }
  /** the price catalogue: the built-in one, or PRICE_CATALOGUE's over it */
  prices: PriceTable
  /** worker threads for the usage analyses */
  analysisWorkers: number
  /** undefined: no model, every agent is deterministic */
  llm?: {
    baseUrl: string
    apiKey: string
    model: string
    timeoutMs: number
  }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const list = (v?: string) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean)

/** Reads the environment into a typed Config, or throws a ConfigError naming the variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = env[key]
    if (v === undefined || v === '') continue
    // Value.Convert would read '80.5' as 80, '1e3' as 1 and 'true' as 1: a bad value must stop the start
    if ((EnvSchema.properties as Record<string, { type?: unknown }>)[key].type === 'integer' && !/^\s*-?\d+\s*$/.test(v)) {
      throw new ConfigError(`invalid ${key}=${JSON.stringify(v)}: Expected integer`)
    }
    raw[key] = v
  }
  const parsed = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const [first] = Value.Errors(EnvSchema, parsed)
  if (first) {
    const name = first.path.replace(/^\//, '')
    const shown = name in raw ? JSON.stringify(raw[name]) : 'missing'
    throw new ConfigError(`invalid ${name}=${/^(AUTH_JWT|LLM_API_KEY|LLM_BASE_URL|REDIS_URL)/.test(name) ? '<redacted>' : shown}: ${first.message}`)
  }
  const e = parsed as Env
  const production = e.NODE_ENV === 'production'
  if (e.AUTH_JWT_SECRET && e.AUTH_JWT_PUBLIC_KEY) {
    throw new ConfigError('invalid AUTH_JWT_SECRET: set either AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY, not both')
  }
  if (production && !e.AUTH_JWT_SECRET && !e.AUTH_JWT_PUBLIC_KEY) {
    throw new ConfigError('missing AUTH_JWT_SECRET: NODE_ENV=production needs AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY')
  }
  const origins = list(e.ALLOWED_ORIGINS)
  for (const o of origins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new ConfigError(`invalid ALLOWED_ORIGINS: "${o}" is not an origin like https://app.example.com`)
    }
  }
  const llmVars = ['LLM_BASE_URL', 'LLM_API_KEY', 'LLM_MODEL'] as const
  const llmMissing = llmVars.filter((k) => !e[k])
  if (llmMissing.length && llmMissing.length < llmVars.length) {
    throw new ConfigError(`missing ${llmMissing[0]}: LLM_BASE_URL, LLM_API_KEY and LLM_MODEL are set together, or none of them`)
  }
  let prices = PRICES
  if (e.PRICE_CATALOGUE) {
    try {
      prices = loadCatalogueFile(e.PRICE_CATALOGUE)
    } catch (err) {
      throw new ConfigError(`invalid PRICE_CATALOGUE: ${(err as Error).message}`)
    }
  }
  const sqlitePath = e.DATABASE_URL.startsWith('sqlite:') ? e.DATABASE_URL.slice('sqlite:'.length) : undefined
  const dataDir = e.DATA_DIR ?? (sqlitePath && sqlitePath !== ':memory:' ? path.dirname(sqlitePath) : './data')

  return {
    production,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(dataDir),
    auth: {
      secret: e.AUTH_JWT_SECRET,
      publicKey: e.AUTH_JWT_PUBLIC_KEY?.replace(/\\n/g, '\n'),
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      devTokenTtlS: e.DEV_TOKEN_TTL_S
    },
    allowedOrigins: origins.length ? origins : undefined,
    agentModules: list(e.AGENT_MODULES),
    logLevel: e.LOG_LEVEL,
    instanceId: e.INSTANCE_ID,
    limits: {
      agentTimeoutMs: e.AGENT_TIMEOUT_MS,
      toolTimeoutMs: e.TOOL_TIMEOUT_MS,
      retryBaseMs: e.RETRY_BASE_MS,
      runTimeoutMs: e.RUN_TIMEOUT_MS,
      runsPerUser: e.MAX_RUNS_PER_USER,
      queuedPerUser: e.MAX_QUEUED_PER_USER,
      runsGlobal: e.MAX_RUNS,
      ratePerMin: e.RATE_LIMIT_PER_MIN,
      rateBurst: e.RATE_LIMIT_BURST,
      wsHeartbeatMs: e.WS_HEARTBEAT_MS,
      wsMaxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      wsMaxSocketsPerUser: e.WS_MAX_SOCKETS_PER_USER,
      stallTimeoutMs: e.STALL_TIMEOUT_MS,
      sseKeepAliveMs: e.SSE_KEEPALIVE_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      headersTimeoutMs: Math.min(e.HEADERS_TIMEOUT_MS, e.REQUEST_TIMEOUT_MS),
      ticketsPerMin: e.WS_TICKETS_PER_MIN,
      uploadsPerMin: e.USAGE_UPLOADS_PER_MIN,
      eventRetentionDays: e.EVENT_RETENTION_DAYS,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
      leaseMs: e.LEASE_MS,
      bodyLimitBytes: e.BODY_LIMIT_BYTES,
      usageMaxBytes: e.USAGE_MAX_BYTES,
      usageMaxRows: e.USAGE_MAX_ROWS,
      usageBounds: { max_cost_usd: e.USAGE_MAX_COST_USD, max_tokens: e.USAGE_MAX_TOKENS, earliest: e.USAGE_EARLIEST, max_ahead_s: e.USAGE_MAX_AHEAD_S }
    },
    ...(e.REDIS_URL && { redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } }),
    prices,
    // the event loop keeps a core of its own
    analysisWorkers: e.ANALYSIS_WORKERS === -1 ? Math.max(1, Math.min(4, availableParallelism() - 1)) : e.ANALYSIS_WORKERS,
    ...(!llmMissing.length && {
      llm: { baseUrl: e.LLM_BASE_URL!, apiKey: e.LLM_API_KEY!, model: e.LLM_MODEL!, timeoutMs: e.LLM_TIMEOUT_MS }
    })
  }
}
