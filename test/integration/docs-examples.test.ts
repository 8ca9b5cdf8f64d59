import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { getEvents, runToEnd } from '../helpers/http.js'

/** The docs show these examples and their results: they must keep loading and keep doing so. */
const USER = 'alice'

async function run (t: Test, app: Awaited<ReturnType<typeof build>>, body: Record<string, unknown>) {
  const { accepted, run } = await runToEnd(app, USER, body)
  const events = await getEvents(app, USER, accepted.run_id)
  assertRunContract(t, events)
  return { run, events }
}

t.test('docs/examples/agents.mjs: every agent of docs/agents.md runs as the guide shows', async (t) => {
  const app = await build(t, { AGENT_MODULES: './docs/examples/agents.mjs' })

  const census = await run(t, app, { content: 'Paris Lyon Atlantis', agent: 'census' })
  t.strictSame(census.run.result, { total: 2624900, answer: '2624900 people' })
  const failedCall = census.events.find((e) => e.type === 'tool_completed' && (e.data as { status: string }).status === 'error')
  t.strictSame((failedCall?.data as { error?: unknown })?.error, { code: 'unknown_city', message: 'no data for Atlantis' }, 'a tool error keeps its own code')

  const flaky = await run(t, app, { content: 'go', agent: 'flaky' })
  t.strictSame(flaky.run.result, { answer: 'worked on attempt 2' })
  t.strictSame(flaky.events.map((e) => e.type), ['agent_started', 'agent_error', 'agent_started', 'agent_completed', 'run_completed'])

  const editor = await run(t, app, { content: 'go', agent: 'editor' })
  t.strictSame(editor.run.result, { answer: 'Paris and Lyon hold 2624900 people.' })

  const biller = await run(t, app, { content: 'go', agent: 'biller' })
  t.strictSame(biller.run.result, { sent: true, amount: 42 })

  const report = await run(t, app, { content: 'Paris Lille', agent: 'report' })
  t.strictSame(report.run.result, {
    results: {
      numbers: { total: 2339360, answer: '2339360 people' },
      prose: { answer: 'The cities hold 2339360 people.' },
      check: { answer: 'worked on attempt 2' }
    },
    failed: ['extra']
  })
})

t.test('the module examples in docs/contract.md and README.md load and run', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agentwire-docs-'))
  for (const doc of ['docs/contract.md', 'README.md']) {
    const blocks = [...readFileSync(doc, 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
    const module = blocks.find((b) => b.includes('export default'))
    t.ok(module, `${doc} has a module example`)
    const file = path.join(dir, `${path.basename(doc, '.md')}.mjs`)
    writeFileSync(file, module!)
    const app = await build(t, { AGENT_MODULES: file })
    const researcher = await run(t, app, { content: 'cats', agent: 'researcher' })
    t.strictSame(researcher.run.status, 'completed', `${doc}: researcher completes`)
    if (doc === 'docs/contract.md') {
      const pipeline = await run(t, app, { content: 'cats', agent: 'pipeline' })
      t.strictSame(pipeline.run.result, { results: { a: { answer: 'found 3' }, b: { answer: 'found 3' }, c: { answer: 'found 3' } }, failed: [] })
    }
  }
})
