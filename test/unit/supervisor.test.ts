import t from 'tap'
import { builtinModule } from '../../src/agents/index.js'
import { noData } from '../../src/agents/reporting.js'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import { AgentRegistry, defineAgent } from '../../src/core/registry.js'
import { bySavings } from '../../src/tools/recommendation.js'
import { sampleUsage } from '../../src/tools/usage-data.js'
import { runPackAgent } from '../helpers/agents-harness.js'

const sample = sampleUsage()
const supervise = async (content: string, records = sample, replace: Parameters<typeof runPackAgent>[4] = []) =>
  await runPackAgent<SupervisorResult>('supervisor', content, records, {}, replace)
/** the result an agent completed with, by name */
const resultOf = (run: Awaited<ReturnType<typeof supervise>>, agent: string) =>
  (run.events.find((e) => e.type === 'agent_completed' && (e.data as { agent_name: string }).agent_name === agent)?.data as { result?: any } | undefined)?.result

t.test('the built-in module registers every agent and tool of the pack', async (t) => {
  const registry = new AgentRegistry().register(builtinModule)
  t.strictSame(registry.list().map((a) => a.name), ['supervisor', 'triage', 'data', 'optimization', 'anomaly', 'capacity', 'actions', 'reporting'])
  t.strictSame(registry.tools().map((x) => x.name), [
    'usage_summary', 'top_cost_drivers', 'usage_profile', 'spend_in_period', 'detect_anomalies', 'forecast_spend',
    'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'
  ])
})

t.test('no usage data: the supervisor explains how to upload and offers the sample', async (t) => {
  const run = await supervise('How can we cut our AI costs?', [])
  t.strictSame(run.agents, [{ name: 'supervisor', parent: undefined }, { name: 'triage', parent: 'supervisor' }, { name: 'reporting', parent: 'supervisor' }])
  t.strictSame(run.tools, [{ agent: 'triage', tool: 'usage_profile', args: {} }], 'nothing is analysed')
  const r = run.result
  t.equal(r.answer, noData(resultOf(run, 'triage')))
  t.match(r.answer, /^## No usage data yet\n/)
  t.match(r.answer, /Once they are in, I will look for savings in it/)
  t.match(r.answer, /`POST \/usage` with a CSV, NDJSON or JSON array body/)
  t.match(r.answer, /\*\*Or try the sample:\*\* `POST \/usage\/sample`/)
  t.notMatch(r.answer, /\$\d/, 'no dollar figure without data')
  t.strictSame({ ...r, answer: undefined }, {
    answer: undefined,
    intent: 'cost_optimisation',
    confidence: 'medium',
    entities: { models: [], providers: [], features: [], time_range: null },
    has_data: false,
    agents: ['triage', 'reporting'],
    failed: [],
    totals: null,
    recommendations: [],
    upload: { method: 'POST', path: '/usage', formats: ['csv', 'ndjson', 'json'] },
    sample: { method: 'POST', path: '/usage/sample' }
  })
  t.strictSame(run.thoughts('supervisor'), [
    'First: what the question asks, and whether there is usage data to answer it.',
    'No usage records yet: explaining how to upload them, and offering the sample.'
  ])
  const forecast = await supervise('What will we spend next quarter?', [])
  t.match(forecast.result.answer, /Once they are in, I will forecast your spend for the next 30 and 90 days\./, 'the offer fits the question')
})

t.test('a general question: data, then reporting', async (t) => {
  const run = await supervise('Where does our AI money go?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'reporting'])
  t.ok(run.agents.slice(1).every((a) => a.parent === 'supervisor'), 'every sub-agent is the supervisor\'s')
  t.strictSame(run.tools.filter((x) => x.agent === 'data').map((x) => x.args), [
    { group_by: 'model' }, { group_by: 'provider' }, { group_by: 'feature' }, { limit: 5 }
  ])
  const data = resultOf(run, 'data')
  const r = run.result
  t.equal(r.intent, 'general_question')
  t.strictSame(r.agents, ['triage', 'data', 'reporting'])
  t.strictSame(r.totals, { period: data.period, total_cost_usd: 93.83, total_requests: 2760, monthly_run_rate_usd: 93.83 })
  t.strictSame(r.recommendations, [])
  t.equal(r.answer, resultOf(run, 'reporting').answer)
  t.match(r.answer, /^## LLM spend, 2025-07-02 to 2025-07-31\n/)
  t.match(r.answer, /\*\*\$93\.83\*\* across \*\*2,760\*\* requests/)
  t.match(r.answer, /### Top 5 cost drivers/)
  t.match(r.answer, /\*\*Where to look first:\*\* claude-sonnet-4 on summarise costs \$31\.67 \(33\.8% of spend\)/)
})

t.test('a cost question: optimization and a plan, recommendations sorted by savings', async (t) => {
  const run = await supervise('How can we cut our LLM costs?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'optimization', 'actions', 'reporting'])
  const opt = resultOf(run, 'optimization')
  const r = run.result
  t.equal(r.intent, 'cost_optimisation')
  t.strictSame(r.recommendations, opt.recommendations)
  t.strictSame(r.recommendations, bySavings(r.recommendations))
  t.ok(r.recommendations.length >= 2)
  t.ok(r.recommendations.every((x, i) => i === 0 || r.recommendations[i - 1].monthly_savings_usd >= x.monthly_savings_usd), 'largest first')
  t.strictSame(r.plan, resultOf(run, 'actions').phases)
  for (const x of r.recommendations) {
    t.ok(r.answer.includes(`**${x.title}**`), x.title)
    t.ok(r.answer.includes(`${x.savings_pct}%`), `${x.title}: its share of spend`)
  }
  t.match(r.answer, /### Plan\n\n\*\*Phase 1: Model changes behind an evaluation\.\*\*/)
})

t.test('an anomaly question, with the day it names', async (t) => {
  const run = await supervise('Why did spend spike on July 17?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'anomaly', 'reporting'])
  t.strictSame(run.tools.filter((x) => x.agent === 'data').at(-1), { agent: 'data', tool: 'spend_in_period', args: { from: '2025-07-17', to: '2025-07-17', group_by: 'model' } })
  t.strictSame(run.tools.filter((x) => x.agent === 'anomaly'), [{ agent: 'anomaly', tool: 'detect_anomalies', args: {} }], 'the baseline is the whole history')
  const r = run.result
  t.strictSame(r.anomalies!.map((a) => [a.key, a.days]), [['summarise', ['2025-07-17']], ['claude-sonnet-4', ['2025-07-17']], ['gemini-2.5-pro', ['2025-07-17']]])
  t.match(r.answer, /\| feature summarise \| 2025-07-17 \| \$6\.72 \| \$1\.23 \| \$5\.49 \| 5\.44× \| 9\.82 \|/)
  t.match(r.answer, /In the range you asked about \(2025-07-17\): feature summarise on 2025-07-17/)
  t.match(r.answer, /\*\*July 17\*\* \(2025-07-17\): \$8\.66 across 165 requests\./)
})

t.test('a capacity question: the forecast', async (t) => {
  const run = await supervise('Forecast our spend for next month')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'capacity', 'reporting'])
  const forecast = resultOf(run, 'capacity')
  t.strictSame(run.result.forecast, forecast.horizons)
  t.match(run.result.answer, /### Forecast/)
  for (const h of forecast.horizons) t.ok(run.result.answer.includes(`| ${h.days} days | ${h.from} to ${h.to} |`))
})

t.test('a failed analysis leaves its part out and says so; a failed summary fails the run', async (t) => {
  const broken = (name: string) => defineAgent({ name, description: 'fails', async run () { throw new Error('boom') } })
  const run = await supervise('Any anomalies, and how do we save?', sample, [broken('anomaly')])
  t.strictSame(run.result.failed, ['anomaly'])
  t.equal(run.result.anomalies, undefined)
  t.ok(run.result.recommendations.length > 0, 'the other analyses still count')
  t.match(run.result.answer, /_The anomaly analysis failed, so its part is missing from this answer\._/)
  t.equal(run.events.filter((e) => e.type === 'agent_error').length, 1)

  await t.rejects(supervise('Where does the money go?', sample, [broken('data')]), { message: 'boom' })
})
