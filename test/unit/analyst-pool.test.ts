import t from 'tap'
import { createStore } from '../../src/store/kysely-store.js'
import type { ToolContext } from '../../src/core/registry.js'
import { ANALYSES, DEFAULT_ENV } from '../../src/tools/analyses.js'
import { createWorkerAnalyst, poolable } from '../../src/usage/analyst-pool.js'
import { sampleRecords } from '../../src/usage/sample.js'

const ctx = (user_id: string, run_id: string, progress: string[] = []): ToolContext =>
  ({ user_id, run_id, signal: new AbortController().signal, progress (m) { progress.push(m) } })

t.test('which databases the workers can read themselves', async (t) => {
  t.ok(poolable('sqlite:./data/agentwire.db'))
  t.ok(poolable('postgres://u@h/db?schema=s'))
  t.notOk(poolable('sqlite::memory:'), 'an in-memory database is this process\'s alone')
})

t.test('a worker reads the user\'s records itself, once per run, and answers as the event loop would', async (t) => {
  const url = `sqlite:${t.testdir({})}/db.sqlite`
  const store = await createStore(url)
  t.teardown(() => store.close())
  const sample = sampleRecords('team')
  await store.importUsage('alice', sample)
  const pool = createWorkerAnalyst({ databaseUrl: url, workers: 2, env: DEFAULT_ENV })
  t.teardown(() => pool.close())
  const progress: string[] = []
  t.strictSame(await pool.run(ctx('alice', 'run-1', progress), 'usage_profile', {}), ANALYSES.usage_profile(sample, {}, DEFAULT_ENV))
  t.strictSame(await pool.run(ctx('alice', 'run-1'), 'recommend_caching', {}), JSON.parse(JSON.stringify(ANALYSES.recommend_caching(sample, {}, DEFAULT_ENV))))
  t.strictSame(progress, [`usage profile over ${sample.length} usage records`])

  // the run's snapshot stays as it was when the run first read it; a new run sees the upload
  await store.deleteUsage('alice')
  t.equal((await pool.run(ctx('alice', 'run-1'), 'usage_profile', {})).records, sample.length, 'one snapshot per run')
  t.equal((await pool.run(ctx('alice', 'run-2'), 'usage_profile', {})).records, 0)
  t.equal((await pool.run(ctx('bob', 'run-3'), 'usage_profile', {})).has_data, false)

  await t.rejects(pool.run(ctx('alice', 'run-4'), 'no_such' as 'usage_profile', {}), /is not a function/)
  await pool.close()
  await t.rejects(pool.run(ctx('alice', 'run-5'), 'usage_profile', {}), { message: 'the analysis workers are closed' })
})
