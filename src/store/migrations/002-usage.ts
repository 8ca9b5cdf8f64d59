import type { Kysely } from 'kysely'

export async function up (db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('usage_records')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    // ISO-8601 UTC in one format (toISOString), so text order is time order in both dialects
    .addColumn('timestamp', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    // an aggregated record can hold billions of tokens
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('cached_tokens', 'bigint')
    .addColumn('cost_usd', 'double precision', (c) => c.notNull())
    .addColumn('latency_ms', 'double precision')
    .addColumn('feature', 'text')
    .addColumn('prompt_hash', 'text')
    .addColumn('requests', 'integer')
    // a re-sent request_id is the same request: the import skips it
    .addPrimaryKeyConstraint('usage_records_pk', ['user_id', 'request_id'])
    .execute()
  await db.schema.createIndex('usage_records_user_time').on('usage_records')
    .columns(['user_id', 'timestamp']).execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('usage_records').execute()
}
