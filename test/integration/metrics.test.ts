import t from 'tap'
import { auth, build } from '../helpers/app.js'
import { waitForRun } from '../helpers/http.js'

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
