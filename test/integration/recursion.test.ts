import t from 'tap'
import { MAX_AGENT_DEPTH } from '../../src/core/engine/agent-runner.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { getEvents, runToEnd } from '../helpers/http.js'

for (const agent of ['narcissus', 'ouroboros']) {
  t.test(`${agent}: an agent that nests itself ends run_failed at depth ${MAX_AGENT_DEPTH}, and the service goes on`, async (t) => {
    const app = await build(t, { AGENT_MODULES: './test/fixtures/module-recursive.mjs' })
    const { run } = await runToEnd(app, 'alice', { content: 'go', agent })
    const events = await getEvents(app, 'alice', run.run_id)
    assertRunContract(t, events)
    const started = events.filter((e) => e.type === 'agent_started')
    t.equal(started.length, MAX_AGENT_DEPTH)
    t.ok(events.filter((e) => e.type === 'agent_error').every((e) => (e.data as { error: { code: string } }).error.code === 'agent_depth_exceeded'))
    t.equal(run.status, 'failed')
    t.equal(run.error?.code, 'agent_depth_exceeded')
    const health = await app.inject({ url: '/health', headers: auth('alice') })
    t.equal(health.statusCode, 200)
  })
}
