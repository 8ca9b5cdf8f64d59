import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'

/** The table's rows, in order: the bench's promise to whoever reads it (bench/lib/table.mjs). */
const ROWS = [
  'flat out: deliveries/s',
  'flat out: emit→receive p50 / p99 / max (ms)',
  'flat out: disorder',
  'paced: deliveries/s',
  'paced: emit→receive p50 / p99 / max (ms)',
  'paced: disorder',
  'POST /messages: requests/s',
  'POST → agent_started on the socket: p50 / p99 (ms)',
  'idle socket: RSS per socket (KB)',
  'resume storm: until every socket is whole (ms)',
  'replay: events/s',
  'replay: server RSS peak (MB)'
]
const COLUMNS = ['bare ws', 'Socket.IO + recovery', 'bare Fastify', 'agentwire embedded', 'agentwire distributed']

// the distributed column needs Postgres and Redis; without them it is left out of the run
const distributed = process.env.TEST_POSTGRES_URL && process.env.TEST_REDIS_URL
const systems = `ws,socketio,fastify,embedded${distributed ? ',distributed' : ''}`

// a loaded 2-core machine starts five servers slowly; the bench bounds every wait itself
t.setTimeout(300_000)

t.test('a tiny bench run prints one table with every row and every column, and writes it as JSON', async (t) => {
  const out = path.join(t.testdir(), 'results.json')
  // the server runs from src/ (no build needed); the bench stops every child it started
  const child = spawn(process.execPath, ['bench/index.mjs', '--tiny', '--source', `--systems=${systems}`, `--out=${out}`], {
    env: {
      ...process.env,
      ...(distributed && { BENCH_POSTGRES_URL: process.env.TEST_POSTGRES_URL, BENCH_REDIS_URL: process.env.TEST_REDIS_URL })
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  t.equal(code, 0, stderr.slice(-2000))

  const lines = stdout.split('\n').filter((l) => l.startsWith('|'))
  t.equal(lines[0], `| workload | ${COLUMNS.join(' | ')} |`)
  t.strictSame(lines.slice(2).map((l) => l.split(' | ')[0].slice(2)), ROWS)
  for (const line of lines.slice(2)) {
    const cells = line.slice(2, -2).split(' | ')
    t.equal(cells.length, COLUMNS.length + 1, `${cells[0]}: one cell per column`)
    t.notOk(cells.some((c) => c.startsWith('error')), `${cells[0]}: no workload failed`)
    if (!cells[0].startsWith('POST')) t.equal(cells[3], '—', `${cells[0]}: bare Fastify only in the POST rows`)
  }

  const json = JSON.parse(readFileSync(out, 'utf8'))
  t.equal(json.preset, 'tiny')
  t.strictSame(json.table.map((r: { label: string }) => r.label), ROWS)
  for (const key of ['flat', 'paced']) {
    for (const system of ['ws', 'socketio', 'embedded']) {
      const r = json.results[key][system]
      t.strictSame([r.complete, r.disorder, r.delivered], [true, 0, r.expected], `${key} on ${system}: every event once, in order`)
    }
  }
  t.equal(json.results.storm.embedded.complete, true)
  t.equal(json.results.replay.embedded.events, json.sizes.replay.n + 3)
})
