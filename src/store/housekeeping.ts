import type { Kysely } from 'kysely'
import type { Database } from './database.js'

/** Deleting what the service no longer needs; run periodically by plugins/housekeeping.ts. */
export interface Housekeeping {
  /** deletes WebSocket tickets expired before `nowS` (epoch seconds); resolves with how many */
  purgeTickets (nowS: number): Promise<number>
  /**
   * deletes every event of runs that finished before `before` (ISO-8601 UTC); the runs themselves
   * stay. Resolves with how many events were deleted.
   */
  purgeEvents (before: string): Promise<number>
}

const FINISHED = ['completed', 'failed', 'cancelled']
/** runs whose events one delete statement takes, so no statement holds the database for long */
const RUNS_PER_DELETE = 100

export function createHousekeeping (db: Kysely<Database>): Housekeeping {
  return {
    async purgeTickets (nowS) {
      const result = await db.deleteFrom('ws_tickets').where('expires_at', '<', nowS).executeTakeFirst()
      return Number(result.numDeletedRows)
    },

    async purgeEvents (before) {
      let deleted = 0
      for (;;) {
        const runs = await db.selectFrom('runs').select('run_id')
          .where('status', 'in', FINISHED).where('finished_at', '<', before)
          .where(({ exists, selectFrom }) => exists(selectFrom('events').select('events.seq').whereRef('events.run_id', '=', 'runs.run_id')))
          .limit(RUNS_PER_DELETE).execute()
        if (runs.length === 0) return deleted
        const result = await db.deleteFrom('events').where('run_id', 'in', runs.map((r) => r.run_id)).executeTakeFirst()
        deleted += Number(result.numDeletedRows)
      }
    }
  }
}
