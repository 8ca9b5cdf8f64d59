import type { Kysely } from 'kysely'

/**
 * Answers to interrupts (approvals, questions): one row per interrupt, so the first answer wins
 * whichever process stores it, and a process that takes a waiting run over finds it.
 */
export async function up (db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('run_inputs')
    .addColumn('interrupt_id', 'text', (c) => c.primaryKey())
    .addColumn('run_id', 'text', (c) => c.notNull().references('runs.run_id').onDelete('cascade'))
    .addColumn('by', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('run_inputs_run').on('run_inputs').column('run_id').execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('run_inputs').execute()
}
