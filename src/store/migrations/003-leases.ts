import { sql, type Kysely } from 'kysely'

/**
 * Runs become a store-backed queue: any process claims a queued run, holds a lease it renews, and
 * every claim bumps `epoch`, which each append must match (fencing). `user_seq` keeps one user's
 * runs in submission order; `run_users` is the row a user's claims lock, and `last_claim` gives
 * round-robin between users.
 */
export async function up (db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('runs').addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('runs').addColumn('lease_owner', 'text').execute()
  await db.schema.alterTable('runs').addColumn('lease_expires_at', 'bigint').execute()
  await db.schema.alterTable('runs').addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('runs').addColumn('user_seq', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.createIndex('runs_lease').on('runs').columns(['status', 'lease_expires_at']).execute()
  await db.schema.createIndex('runs_owner').on('runs').column('lease_owner').execute()
  await db.schema.createTable('run_users')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('last_claim', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('next_seq', 'bigint', (c) => c.notNull().defaultTo(1))
    .execute()
  // runs a version without leases left unfinished are claimable at once
  await sql`update runs set lease_owner = 'pre-lease', lease_expires_at = 0 where status in ('queued', 'running')`.execute(db)
}

export async function down (db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('run_users').execute()
  await db.schema.dropIndex('runs_owner').execute()
  await db.schema.dropIndex('runs_lease').execute()
  for (const c of ['user_seq', 'cancel_requested', 'lease_expires_at', 'lease_owner', 'epoch']) {
    await db.schema.alterTable('runs').dropColumn(c).execute()
  }
}
