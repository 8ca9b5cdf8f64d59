import t, { type Test } from 'tap'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import { auth, build } from '../helpers/app.js'
import { requirePostgres } from '../helpers/db.js'
import { getEvents, runToEnd } from '../helpers/http.js'

const QUESTIONS = ['How can we cut our LLM costs?', 'Which model costs us most?', 'Any spikes?', 'What will we spend next month?']

for (const database of ['sqlite file', 'postgres']) {
  t.test(`${database}: the analyses in worker threads give the answers the event loop gives`, async (t) => {
    const postgres = requirePostgres(t)
    if (database === 'postgres' && !postgres) { t.comment('TEST_POSTGRES_URL is not set: skipped'); return }
    await compare(t, database === 'postgres' ? postgres! : `sqlite:${t.testdir({})}/agentwire.db`)
  })
}

async function compare (t: Test, databaseUrl: string) {
  const pooled = await build(t, { DATABASE_URL: databaseUrl, ANALYSIS_WORKERS: '2' })
  const local = await build(t, { DATABASE_URL: 'sqlite::memory:' })
  for (const app of [pooled, local]) {
    t.equal((await app.inject({ method: 'POST', url: '/usage/sample', headers: auth('dana'), payload: { profile: 'team' } })).statusCode, 200)
  }
  for (const content of QUESTIONS) {
    const a = await runToEnd(pooled, 'dana', { content })
    const b = await runToEnd(local, 'dana', { content })
    t.equal(a.run.status, 'completed', content)
    t.equal((a.run.result as SupervisorResult).answer, (b.run.result as SupervisorResult).answer, `${content}: the same answer`)
    const progress = async (app: typeof pooled, runId: string) => (await getEvents(app, 'dana', runId)).filter((e) => e.type === 'tool_progress').map((e) => (e.data as { message: string }).message).sort()
    t.strictSame(await progress(pooled, a.accepted.run_id), await progress(local, b.accepted.run_id), `${content}: the same tools, the same progress`)
  }
  const other = await runToEnd(pooled, 'erin', { content: 'Which model costs us most?' })
  t.equal((other.run.result as SupervisorResult).has_data, false, 'a worker reads only the asking user\'s records')
}
