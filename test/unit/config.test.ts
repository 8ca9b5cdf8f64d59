import t, { type Test } from 'tap'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { ConfigError, loadConfig } from '../../src/config.js'
import { PRICES } from '../../src/tools/prices.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes'

/** The ConfigError `env` makes loadConfig throw; fails the test when it loads. */
function refusal (t: Test, env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    t.ok(err instanceof ConfigError, 'a ConfigError')
    t.equal((err as Error).name, 'ConfigError')
    t.notMatch((err as Error).message, /[\r\n]/, 'one line')
    return err as ConfigError
  }
  t.fail(`loadConfig(${JSON.stringify(env)}) should throw`)
  return new ConfigError('did not throw')
}

t.test('defaults', async (t) => {
  t.strictSame(loadConfig({}), {
    production: false,
    port: 3000,
    host: '127.0.0.1',
    databaseUrl: 'sqlite:./data/agentwire.db',
    dataDir: path.resolve('./data'),
    auth: { secret: undefined, publicKey: undefined, issuer: undefined, audience: undefined, devTokenTtlS: 86400 },
    allowedOrigins: undefined,
    agentModules: [],
    logLevel: 'info',
    instanceId: undefined,
    limits: {
      agentTimeoutMs: 60_000,
      toolTimeoutMs: 30_000,
      retryBaseMs: 500,
      runTimeoutMs: 300_000,
      runsPerUser: 3,
      queuedPerUser: 20,
      runsGlobal: 64,
      ratePerMin: 60,
      rateBurst: 20,
      wsHeartbeatMs: 30_000,
      wsMaxBufferedBytes: 4 * 1024 * 1024,
      wsMaxSocketsPerUser: 20,
      stallTimeoutMs: 10_000,
      sseKeepAliveMs: 15_000,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      ticketsPerMin: 30,
      uploadsPerMin: 10,
      eventRetentionDays: 0,
      shutdownGraceMs: 10_000,
      leaseMs: 10_000,
      bodyLimitBytes: 1024 * 1024,
      usageMaxBytes: 10 * 1024 * 1024,
      usageMaxRows: 100_000,
      usageBounds: { max_cost_usd: 1000, max_tokens: 10_000_000, earliest: '2020-01-01', max_ahead_s: 86_400 }
    },
    prices: PRICES,
    // one analysis worker per core but one, at least one, at most four
    analysisWorkers: Math.max(1, Math.min(4, availableParallelism() - 1))
  })
})

t.test('values are read and converted', async (t) => {
  const c = loadConfig({
    NODE_ENV: 'production',
    PORT: '8080',
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgres://u:p@db:5432/agentwire',
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: 'https://issuer.example',
    AUTH_JWT_AUDIENCE: 'agentwire',
    ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173',
    AGENT_MODULES: './a.js, ./b.mjs,',
    LOG_LEVEL: 'warn',
    RUN_TIMEOUT_MS: '1000',
    USAGE_MAX_BYTES: '2048',
    USAGE_MAX_ROWS: '5'
  })
  t.equal(c.production, true)
  t.equal(c.port, 8080)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.databaseUrl, 'postgres://u:p@db:5432/agentwire')
  t.strictSame(c.auth, { secret: SECRET, publicKey: undefined, issuer: 'https://issuer.example', audience: 'agentwire', devTokenTtlS: 86400 })
  t.strictSame(c.allowedOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.strictSame(c.agentModules, ['./a.js', './b.mjs'])
  t.equal(c.logLevel, 'warn')
  t.equal(c.limits.runTimeoutMs, 1000)
  t.equal(c.limits.usageMaxBytes, 2048)
  t.equal(c.limits.usageMaxRows, 5)
  t.equal(c.dataDir, path.resolve('./data'), 'a Postgres url keeps the default data directory')
})

t.test('REDIS_URL turns Redis on, with every key and channel under REDIS_PREFIX', async (t) => {
  t.equal(loadConfig({}).redis, undefined, 'unset: one process')
  t.strictSame(loadConfig({ REDIS_URL: 'redis://cache:6379' }).redis, { url: 'redis://cache:6379', prefix: 'agentwire:' })
  t.strictSame(loadConfig({ REDIS_URL: 'rediss://:pw@cache:6380/2', REDIS_PREFIX: 'blue:' }).redis, { url: 'rediss://:pw@cache:6380/2', prefix: 'blue:' })
  t.equal(loadConfig({ REDIS_PREFIX: 'blue:' }).redis, undefined, 'a prefix alone turns nothing on')
  const err = refusal(t, { REDIS_URL: 'http://:secret-password@cache:6379' })
  t.match(err.message, /^invalid REDIS_URL=<redacted>: /)
  t.notMatch(err.message, 'secret-password', 'a password in the url is never shown')
})

t.test('integers may carry surrounding blanks', async (t) => {
  t.equal(loadConfig({ PORT: ' 8080 ' }).port, 8080)
  t.equal(loadConfig({ PORT: '0' }).port, 0, 'port 0: any free port')
})

t.test('empty strings are unset', async (t) => {
  const c = loadConfig({ PORT: '', LOG_LEVEL: '', AUTH_JWT_SECRET: '', ALLOWED_ORIGINS: '' })
  t.equal(c.port, 3000)
  t.equal(c.logLevel, 'info')
  t.equal(c.auth.secret, undefined)
  t.equal(c.allowedOrigins, undefined)
})

t.test('the data directory follows a SQLite file unless DATA_DIR is set', async (t) => {
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/agentwire/db.sqlite' }).dataDir, '/var/lib/agentwire')
  t.equal(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).dataDir, path.resolve('./data'))
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/agentwire/db.sqlite', DATA_DIR: '/srv/data' }).dataDir, '/srv/data')
})

t.test('a public key with escaped newlines is unescaped', async (t) => {
  const c = loadConfig({ AUTH_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----' })
  t.equal(c.auth.publicKey, '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----')
  t.equal(c.auth.secret, undefined)
})

t.test('each bad value stops the start with one line naming the variable', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['PORT', { PORT: '1e3' }],
    ['PORT', { PORT: '0x10' }],
    ['PORT', { PORT: 'true' }],
    ['PORT', { PORT: '3000abc' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'sqlite:' }],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }],
    ['REDIS_PREFIX', { REDIS_PREFIX: 'has space' }],
    ['AUTH_JWT_SECRET', { AUTH_JWT_SECRET: 'too-short' }],
    ['AUTH_JWT_PUBLIC_KEY', { AUTH_JWT_PUBLIC_KEY: 'not a pem' }],
    ['ALLOWED_ORIGINS', { ALLOWED_ORIGINS: 'notanorigin' }],
    ['ALLOWED_ORIGINS', { ALLOWED_ORIGINS: 'https://ok.example,https://bad.example/path' }],
    ['RUN_TIMEOUT_MS', { RUN_TIMEOUT_MS: '5' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: 'lots' }],
    ['SHUTDOWN_GRACE_MS', { SHUTDOWN_GRACE_MS: '1.5' }],
    ['MAX_RUNS_PER_USER', { MAX_RUNS_PER_USER: '0' }],
    ['USAGE_MAX_BYTES', { USAGE_MAX_BYTES: '1023' }],
    ['USAGE_MAX_ROWS', { USAGE_MAX_ROWS: '0' }]
  ]
  for (const [name, env] of cases) {
    const err = refusal(t, env)
    t.match(err.message, name, `${JSON.stringify(env)} names ${name}`)
    const others = cases.map(([n]) => n).filter((n) => n !== name && !name.startsWith(n) && !n.startsWith(name))
    for (const other of others) t.notMatch(err.message, other, `${JSON.stringify(env)} does not blame ${other}`)
  }
})

t.test('a secret is never echoed', async (t) => {
  const err = refusal(t, { AUTH_JWT_SECRET: 'short-but-secret' })
  t.notMatch(err.message, 'short-but-secret')
  t.match(err.message, 'AUTH_JWT_SECRET')
})

t.test('a secret and a public key together are refused', async (t) => {
  const err = refusal(t, { AUTH_JWT_SECRET: SECRET, AUTH_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----' })
  t.match(err.message, 'AUTH_JWT_SECRET')
  t.notMatch(err.message, SECRET)
})

t.test('production needs a key', async (t) => {
  const err = refusal(t, { NODE_ENV: 'production' })
  t.match(err.message, 'AUTH_JWT_SECRET')
  t.equal(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET }).production, true)
  t.equal(loadConfig({ NODE_ENV: 'development' }).production, false, 'only NODE_ENV=production is production')
})
