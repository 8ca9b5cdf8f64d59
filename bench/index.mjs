/**
 * npm run bench [-- --quick | --tiny] [--systems=ws,socketio,fastify,embedded,distributed]
 *                [--only=idle,flat,paced,postLatency,storm,replay,postRate]
 *                [--out=bench/results.json] [--profile]
 *
 * Starts every server it measures as a child process on 127.0.0.1 (this process is the load
 * generator), runs each workload on every system in turn, prints one Markdown table with ratios
 * to bare ws (to bare Fastify for the POST rows) and writes the results as JSON. Every loop is
 * bounded; the children are stopped at the end. --profile runs only agentwire embedded flat out
 * under `node --cpu-prof` and prints the server's top self-time functions and files.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { startChild } from './lib/children.mjs'
import { profileMarkdown, selfTimes } from './lib/profile.mjs'
import { sleep } from './lib/stats.mjs'
import { agentwireSystem, peerSystem } from './lib/systems.mjs'
import { markdownTable, tableRows } from './lib/table.mjs'
import { delivery, idleRss, postRate, postToStarted, replay, storm } from './lib/workloads.mjs'

const root = path.resolve(fileURLToPath(import.meta.url), '../..')
process.chdir(root)

const args = process.argv.slice(2)
const flag = (name) => args.includes(`--${name}`)
const option = (name, def) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def

const PRESETS = {
  full: {
    flat: { sockets: 100, n: 2000, timeoutMs: 180_000 },
    paced: { sockets: 1000, n: 30, interval_ms: 100, timeoutMs: 90_000 },
    postRate: { seconds: 10, connections: 20, users: 1000 },
    postLatency: { samples: 200, timeoutMs: 10_000 },
    idle: { sockets: 10_000, settleMs: 2000 },
    storm: { sockets: 1000, n: 20, split: 10, timeoutMs: 60_000 },
    replay: { n: 100_000, emitTimeoutMs: 300_000, timeoutMs: 120_000 }
  },
  quick: {
    flat: { sockets: 50, n: 400, timeoutMs: 30_000 },
    paced: { sockets: 200, n: 30, interval_ms: 100, timeoutMs: 20_000 },
    postRate: { seconds: 2, connections: 20, users: 200 },
    postLatency: { samples: 40, timeoutMs: 10_000 },
    idle: { sockets: 500, settleMs: 700 },
    storm: { sockets: 200, n: 20, split: 10, timeoutMs: 20_000 },
    replay: { n: 10_000, emitTimeoutMs: 30_000, timeoutMs: 30_000 }
  },
  // the smoke test's: seconds, every row
  tiny: {
    flat: { sockets: 4, n: 20, timeoutMs: 20_000 },
    paced: { sockets: 5, n: 5, interval_ms: 20, timeoutMs: 20_000 },
    postRate: { seconds: 1, connections: 2, users: 5 },
    postLatency: { samples: 3, timeoutMs: 10_000 },
    idle: { sockets: 20, settleMs: 200 },
    storm: { sockets: 5, n: 6, split: 3, timeoutMs: 20_000 },
    replay: { n: 200, emitTimeoutMs: 20_000, timeoutMs: 20_000 }
  }
}

const preset = flag('tiny') ? 'tiny' : flag('quick') ? 'quick' : 'full'
const P = PRESETS[preset]
const profiling = flag('profile')
const ALL = ['ws', 'socketio', 'fastify', 'embedded', 'distributed']
const wanted = profiling ? ['embedded'] : option('systems', ALL.join(',')).split(',').filter((s) => ALL.includes(s))
const out = path.resolve(option('out', 'bench/results.json'))
const postgresUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

const secret = randomBytes(32).toString('hex')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agentwire-bench-'))
const profileDir = path.join(root, 'bench', 'profiles')
// the built server (npm run bench builds it first); --source runs src/ through tap's TypeScript loader
const server = flag('source')
  ? ['--import', '@isaacs/ts-node-temp-fork-for-pr-2009/import', 'src/server.ts']
  : ['dist/src/server.js']
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)

/** agentwire's environment: every limit out of the bench's way; events persisted as always. */
const agentwireEnv = (databaseUrl, extra = {}) => ({
  TS_NODE_TRANSPILE_ONLY: '1',
  NODE_ENV: 'production',
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  AUTH_JWT_SECRET: secret,
  AGENT_MODULES: 'bench/bench-agent.mjs',
  DATABASE_URL: databaseUrl,
  MAX_RUNS: '100000',
  MAX_RUNS_PER_USER: '1000',
  MAX_QUEUED_PER_USER: '10000',
  RATE_LIMIT_PER_MIN: '1000000',
  RATE_LIMIT_BURST: '1000000',
  AGENT_TIMEOUT_MS: '3600000',
  RUN_TIMEOUT_MS: '3600000',
  SHUTDOWN_GRACE_MS: '0',
  ...extra
})

const children = []
const systems = {}
/** system → why it has no numbers */
const unavailable = {}
let pgSchema

async function start () {
  const started = async (name, args, env) => {
    const c = await startChild(name, args, { env })
    if (c.child) children.push(c)
    return c
  }
  const peer = async (id, file, kind) => {
    const s = await started(id, [`bench/peers/${file}`], {})
    if (s.error) unavailable[id] = `n/a (did not start: ${s.error.slice(0, 60)})`
    else systems[id] = peerSystem(id, s, kind)
  }
  if (wanted.includes('ws')) await peer('ws', 'ws-server.mjs', 'ws')
  if (wanted.includes('socketio')) await peer('socketio', 'socketio-server.mjs', 'socketio')
  if (wanted.includes('fastify')) await peer('fastify', 'fastify-server.mjs', 'fastify')
  if (wanted.includes('embedded')) {
    if (profiling) mkdirSync(profileDir, { recursive: true })
    const flags = profiling ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
    const s = await started('embedded', [...flags, ...server], agentwireEnv(`sqlite:${path.join(tmp, 'bench.db')}`))
    if (s.error) unavailable.embedded = `n/a (did not start: ${s.error.slice(0, 60)})`
    else systems.embedded = agentwireSystem('embedded', s, s, secret)
  }
  if (wanted.includes('distributed')) {
    pgSchema = `bench_${randomBytes(6).toString('hex')}`
    const url = new URL(postgresUrl)
    url.searchParams.set('schema', pgSchema)
    const env = agentwireEnv(url.toString(), { REDIS_URL: redisUrl })
    // runs execute on the first process (it takes the POSTs); the second serves the sockets
    const runs = await started('distributed-runs', server, env)
    const sockets = runs.error ? runs : await started('distributed-sockets', server, { ...env, MAX_RUNS: '1' })
    const error = runs.error ?? sockets.error
    if (error) unavailable.distributed = /REDIS_URL/.test(error) ? 'n/a (REDIS_URL unsupported)' : `n/a (did not start: ${error.slice(0, 60)})`
    else systems.distributed = agentwireSystem('distributed', runs, sockets, secret)
  }
  for (const [id, why] of Object.entries(unavailable)) log(`${id}: ${why}`)
}

async function stop () {
  await Promise.all(children.map((c) => c.stop()))
  rmSync(tmp, { recursive: true, force: true })
  if (pgSchema) {
    const client = new pg.Client({ connectionString: postgresUrl })
    try {
      await client.connect()
      await client.query(`drop schema if exists "${pgSchema}" cascade`)
    } catch {} finally { await client.end().catch(() => {}) }
  }
}

/** Which systems take part in a workload (ws and Socket.IO have no POST route worth measuring). */
// the storm comes before the heavy workloads: Socket.IO's recovery scans every packet it kept
// within maxDisconnectionDuration, so its storm time grows with the traffic just before it
const PLAN = [
  { key: 'idle', run: idleRss, on: ['ws', 'socketio', 'embedded', 'distributed'] },
  { key: 'storm', run: storm, on: ['ws', 'socketio', 'embedded', 'distributed'] },
  { key: 'postLatency', run: postToStarted, on: ['ws', 'socketio', 'fastify', 'embedded', 'distributed'] },
  { key: 'flat', run: delivery, on: ['ws', 'socketio', 'embedded', 'distributed'] },
  { key: 'paced', run: delivery, on: ['ws', 'socketio', 'embedded', 'distributed'] },
  { key: 'replay', run: replay, on: ['ws', 'socketio', 'embedded', 'distributed'] },
  { key: 'postRate', run: postRate, on: ['fastify', 'embedded', 'distributed'] }
]

async function runPlan () {
  const results = {}
  const only = option('only', profiling ? 'flat' : PLAN.map((w) => w.key).join(',')).split(',')
  const plan = PLAN.filter((w) => only.includes(w.key))
  for (const w of plan) {
    results[w.key] = {}
    for (const id of w.on) {
      if (!wanted.includes(id)) continue
      if (unavailable[id]) { results[w.key][id] = { na: unavailable[id] }; continue }
      const opts = { ...P[w.key], tag: `${w.key}-${id}-${randomBytes(3).toString('hex')}`, plainPost: id === 'fastify' }
      opts.gateDir = tmp
      const t0 = Date.now()
      try {
        results[w.key][id] = await w.run(systems[id], opts)
      } catch (err) {
        results[w.key][id] = { error: err.message }
      }
      log(`${w.key} on ${id}: ${((Date.now() - t0) / 1000).toFixed(1)} s`, JSON.stringify(results[w.key][id]))
      await sleep({ tiny: 100, quick: 300, full: 1000 }[preset])
    }
  }
  return results
}

const machine = () => ({
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  memory_gb: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  load_average: os.loadavg().map((x) => Number(x.toFixed(2)))
})

const began = Date.now()
const before = machine()
let exitCode = 0
try {
  process.once('SIGINT', () => { stop().finally(() => process.exit(130)) })
  if (!flag('source') && !existsSync('dist/src/server.js')) throw new Error('dist/src/server.js is missing: run `npm run build` (npm run bench does) or pass --source')
  await start()
  const results = await runPlan()
  await Promise.all(children.map((c) => c.stop()))
  const finished = { preset, seconds: Math.round((Date.now() - began) / 1000), machine: before, load_average_after: os.loadavg().map((x) => Number(x.toFixed(2))), sizes: P, results }
  if (profiling) {
    // the main thread's (CPU.<date>.<time>.<pid>.0.<n>.cpuprofile), not a worker's: thread id 0
    const file = readdirSync(profileDir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)).map((f) => path.join(profileDir, f)).sort().at(-1)
    const times = selfTimes(file)
    console.log(`agentwire embedded under --cpu-prof: ${Object.keys(results).map((k) => `${k} ${JSON.stringify(P[k])}`).join(', ')}`)
    console.log(markdownTable(results))
    console.log(`profile: ${path.relative(root, file)}\n`)
    console.log(profileMarkdown(times))
    writeFileSync(out.replace(/\.json$/, '.profile.json'), JSON.stringify({ ...finished, profile: { file: path.relative(root, file), ...times } }, null, 2) + '\n')
  } else {
    const table = markdownTable(results)
    console.log(table)
    console.log(`\n${preset} preset, ${finished.seconds} s on ${before.cpu} (${before.cores} cores), node ${before.node}, load average ${before.load_average.join(' ')} before, ${finished.load_average_after.join(' ')} after.`)
    console.log(`sizes: ${JSON.stringify(P)}`)
    writeFileSync(out, JSON.stringify({ ...finished, table: tableRows(results) }, null, 2) + '\n')
  }
} catch (err) {
  console.error(err)
  exitCode = 1
} finally {
  await stop()
}
process.exit(exitCode)
