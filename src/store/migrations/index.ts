import type { Migration, MigrationProvider } from 'kysely'
import * as initial from './001-initial.js'
import * as usage from './002-usage.js'
import * as leases from './003-leases.js'
import * as inputs from './004-inputs.js'

/** Migrations listed in code, not scanned from disk, so the same list works from src/ and dist/. */
const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-usage': usage,
  '003-leases': leases,
  '004-inputs': inputs
}

export const migrationProvider: MigrationProvider = {
  async getMigrations () { return migrations }
}
