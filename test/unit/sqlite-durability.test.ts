import path from 'node:path'
import t from 'tap'
import { openDatabase } from '../../src/store/database.js'

t.test('a SQLite file is synchronous = FULL when created and when opened again (WAL alone would make it NORMAL on reopen)', async (t) => {
  const url = `sqlite:${path.join(t.testdir(), 'agentwire.db')}`
  for (const when of ['created', 'reopened']) {
    const { db, sqlite } = await openDatabase(url)
    t.equal(sqlite!.pragma('journal_mode', { simple: true }), 'wal', `${when}: WAL`)
    t.equal(sqlite!.pragma('synchronous', { simple: true }), 2, `${when}: FULL`)
    await db.destroy()
  }
})
