import type { Kysely } from 'kysely'

export async function up (db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('threads')
    .addColumn('thread_id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('active_run_id', 'text')
    // the next message takes this as its position: exact order within a thread, in both dialects
    .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.createIndex('threads_user_updated').on('threads')
    .columns(['user_id', 'updated_at', 'thread_id']).execute()

  await db.schema.createTable('runs')
    .addColumn('run_id', 'text', (c) => c.primaryKey())
    .addColumn('thread_id', 'text', (c) => c.notNull().references('threads.thread_id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('agent', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('input', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.createIndex('runs_user_status').on('runs').columns(['user_id', 'status']).execute()
  await db.schema.createIndex('runs_status').on('runs').column('status').execute()

  await db.schema.createTable('messages')
    .addColumn('message_id', 'text', (c) => c.primaryKey())
    .addColumn('thread_id', 'text', (c) => c.notNull().references('threads.thread_id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.references('runs.run_id').onDelete('set null'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('messages_thread_position').on('messages').unique()
    .columns(['thread_id', 'position']).execute()

  await db.schema.createTable('events')
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.run_id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pk', ['run_id', 'seq'])
    .execute()
  await db.schema.createIndex('events_user_type').on('events').columns(['user_id', 'type']).execute()

  await db.schema.createTable('ws_tickets')
    .addColumn('ticket', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'double precision', (c) => c.notNull())
    .addColumn('token_exp', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('ws_tickets_expires').on('ws_tickets').column('expires_at').execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  for (const table of ['ws_tickets', 'events', 'messages', 'runs', 'threads']) {
    await db.schema.dropTable(table).execute()
  }
}
