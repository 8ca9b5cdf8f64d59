import { createStore, type StoreOptions } from '../../src/store/kysely-store.js'
import type { Store } from '../../src/store/types.js'

/**
 * createStore, tried again when Postgres says a schema does not exist (3F000): Kysely's migrator
 * reads the tables of every schema (pg_get_serial_sequence), and other test files drop their
 * schemas at any moment. Nothing of ours is missing then; production drops no schemas.
 */
export async function createTestStore (databaseUrl: string, opts: StoreOptions = {}): Promise<Store> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createStore(databaseUrl, opts)
    } catch (err) {
      if ((err as { code?: string }).code !== '3F000' || attempt >= 5) throw err
    }
  }
}
