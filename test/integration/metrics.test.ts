import t from 'tap'
import { auth, build } from '../helpers/app.js'
import { waitForRun } from '../helpers/http.js'

/** The series of a metric family (`name{labels} value` lines), durations' sums and buckets left out. */
const series = (body: string, name: string) => body.split('\n')
  .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
  .sort()

t.test('GET /metrics is public Prometheus text with run, request and connection metrics', async (t) => {
  const app = await build(t, { AGENT_MODULES: './test/fixtures/bad-agents.mjs' })
  for (const agent of ['good', 'thrower', 'good']) {
    const r = await app.inject({ method: 'POST', url: '/messages', headers: auth('alice'), payload: { content: 'hi', agent } })
    await waitForRun(app, 'alice', r.json().run_id)
  }
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const lines = res.body.split('\n')
  t.ok(lines.includes('agentwire_runs_ended_total{status="completed"} 2'), 'two runs completed')
  t.ok(lines.includes('agentwire_runs_ended_total{status="failed"} 1'), 'one run failed')
  t.ok(lines.includes('agentwire_runs_running 0'))
  t.ok(lines.includes('agentwire_runs_waiting 0'))
  t.ok(lines.includes('agentwire_websocket_connections 0'))
  t.ok(lines.includes('agentwire_http_request_duration_seconds_count{method="POST",route="/messages",status_code="202"} 3'))
  t.ok(lines.some((l) => l.startsWith('agentwire_process_resident_memory_bytes ')), 'process metrics')
})

t.test('run duration and queue wait, per-agent and per-tool durations and errors, and store errors, by their bounded labels', async (t) => {
  const app = await build(t, { AGENT_MODULES: './test/fixtures/bad-agents.mjs' })
  // tooler: echo with bad arguments, a tool that throws, one that times out, an unknown one, then echo again
  for (const agent of ['tooler', 'thrower', 'retrier']) {
    const r = await app.inject({ method: 'POST', url: '/messages', headers: auth('bob'), payload: { content: 'hi', agent } })
    await waitForRun(app, 'bob', r.json().run_id)
  }
  // the store fails one call
  const stats = app.store.stats
  app.store.stats = async () => { throw new Error('SQLITE_IOERR: disk I/O error') }
  t.equal((await app.inject({ url: '/me/stats', headers: auth('bob') })).statusCode, 500)
  app.store.stats = stats
  t.equal((await app.inject({ url: '/me/stats', headers: auth('bob') })).statusCode, 200)

  const body = (await app.inject({ url: '/metrics' })).body
  t.strictSame(series(body, 'agentwire_runs_ended_total'), [
    'agentwire_runs_ended_total{status="completed"} 1',
    'agentwire_runs_ended_total{status="failed"} 2'
  ])
  t.strictSame(series(body, 'agentwire_run_duration_seconds_count'), [
    'agentwire_run_duration_seconds_count{status="completed"} 1',
    'agentwire_run_duration_seconds_count{status="failed"} 2'
  ])
  t.strictSame(series(body, 'agentwire_run_queue_wait_seconds_count'), ['agentwire_run_queue_wait_seconds_count 3'])
  t.strictSame(series(body, 'agentwire_agent_duration_seconds_count'), [
    'agentwire_agent_duration_seconds_count{agent="retrier"} 3',
    'agentwire_agent_duration_seconds_count{agent="thrower"} 1',
    'agentwire_agent_duration_seconds_count{agent="tooler"} 1'
  ], 'one per attempt')
  t.strictSame(series(body, 'agentwire_agent_errors_total'), [
    'agentwire_agent_errors_total{agent="retrier",code="agent_error"} 3',
    'agentwire_agent_errors_total{agent="thrower",code="agent_error"} 1'
  ])
  t.strictSame(series(body, 'agentwire_tool_duration_seconds_count'), [
    'agentwire_tool_duration_seconds_count{tool=""} 1',
    'agentwire_tool_duration_seconds_count{tool="echo"} 2',
    'agentwire_tool_duration_seconds_count{tool="exploder"} 1',
    'agentwire_tool_duration_seconds_count{tool="staller"} 1'
  ], 'a name no tool is registered under is not a label')
  t.strictSame(series(body, 'agentwire_tool_errors_total'), [
    'agentwire_tool_errors_total{tool="",code="unknown_tool"} 1',
    'agentwire_tool_errors_total{tool="echo",code="invalid_arguments"} 1',
    'agentwire_tool_errors_total{tool="exploder",code="tool_error"} 1',
    'agentwire_tool_errors_total{tool="staller",code="timeout"} 1'
  ])
  t.strictSame(series(body, 'agentwire_store_errors_total'), ['agentwire_store_errors_total{operation="stats"} 1'])
  // a histogram's +Inf bucket holds every observation, and the buckets are cumulative
  t.ok(body.includes('agentwire_tool_duration_seconds_bucket{le="+Inf",tool="echo"} 2'))
})
