import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { splitSchema } from '../../src/store/database.js'

/** Every database the store tests run on: SQLite always, Postgres when TEST_POSTGRES_URL is set. */
export function databaseUrls (): string[] {
  const postgres = process.env.TEST_POSTGRES_URL
  return postgres ? ['sqlite::memory:', postgres] : ['sqlite::memory:']
}

/** A Postgres url gets a schema of its own, so parallel test files never meet; SQLite is unchanged. */
export function freshDatabaseUrl (base: string): string {
  if (base.startsWith('sqlite:')) return base
  const url = new URL(base)
  url.searchParams.set('schema', `t_${randomBytes(8).toString('hex')}`)
  return url.toString()
}

/** Drops the schema a freshDatabaseUrl made; a no-op for SQLite and urls without a schema. */
export async function dropSchema (databaseUrl: string): Promise<void> {
  if (databaseUrl.startsWith('sqlite:')) return
  const { connectionString, schema } = splitSchema(databaseUrl)
  if (schema === undefined) return
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    // a killed process's session may still be ending a transaction on the schema: Postgres can
    // pick the drop as a deadlock's victim, and the drop goes again once that session is gone
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`drop schema if exists "${schema}" cascade`)
        return
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err
      }
    }
  } finally {
    await client.end()
  }
}

/**
 * The Postgres url, or undefined when tests on Postgres are skipped. With REQUIRE_SERVICES=1
 * (CI) a missing TEST_POSTGRES_URL fails the test instead of skipping silently.
 */
export function requirePostgres (t: { fail: (message: string) => unknown }): string | undefined {
  const url = process.env.TEST_POSTGRES_URL
  if (!url && process.env.REQUIRE_SERVICES === '1') {
    t.fail('REQUIRE_SERVICES=1 but TEST_POSTGRES_URL is not set: Postgres tests cannot run')
  }
  return url || undefined
}
