import { createSigner } from 'fast-jwt'
import { randomUUID } from 'node:crypto'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { dropSchema, freshDatabaseUrl } from './db.js'

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!!'

interface Tap { teardown (fn: () => unknown): void }

/** The app on an in-memory SQLite (or `env.DATABASE_URL`), with a test secret; closed at teardown. */
export async function build (t: Tap, env: Record<string, string> = {}): Promise<App> {
  const databaseUrl = freshDatabaseUrl(env.DATABASE_URL ?? 'sqlite::memory:')
  const config = loadConfig({
    AUTH_JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    RETRY_BASE_MS: '10',
    ...env,
    DATABASE_URL: databaseUrl
  })
  const app = await buildApp(config)
  t.teardown(async () => {
    await app.close()
    await dropSchema(databaseUrl)
  })
  await app.ready()
  return app
}

/** A signed JWT for a user; `opts` overrides claims or signing for the bad-token tests. */
export function tokenFor (userId: string, opts: { expiresInS?: number, secret?: string, claims?: Record<string, unknown> } = {}): string {
  const sign = createSigner({ key: opts.secret ?? TEST_SECRET, algorithm: 'HS256', expiresIn: (opts.expiresInS ?? 3600) * 1000 })
  return sign({ sub: userId, jti: randomUUID(), ...opts.claims })
}

export const auth = (userId: string) => ({ authorization: `Bearer ${tokenFor(userId)}` })
