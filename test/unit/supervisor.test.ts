import t from 'tap'
import { createBuiltinModule } from '../../src/agents/index.js'
import { noData } from '../../src/agents/reporting.js'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import { AgentRegistry, defineAgent } from '../../src/core/registry.js'
import { bySavings } from '../../src/tools/recommendation.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { SAMPLE_FACTS, sampleRecords } from '../../src/usage/sample.js'
import { detectAnomalies } from '../../src/tools/anomalies.js'
import { runPackAgent } from '../helpers/agents-harness.js'

const sample = sampleRecords('team')
const supervise = async (content: string, records = sample, replace: Parameters<typeof runPackAgent>[4] = []) =>
  await runPackAgent<SupervisorResult>('supervisor', content, records, {}, replace)

// The figures the answers should hold, worked out here from the raw records, and written as the report writes them
const cents = (x: number) => Math.round(x * 100) / 100
const dollars = (x: number) => `$${cents(x).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
const share = (part: number, whole: number) => `${(Math.round(part / whole * 1e4) / 100).toFixed(2)}%`
const costOf = (records: readonly UsageRecord[]) => records.reduce((s, r) => s + r.cost_usd, 0)
const requestsOf = (records: readonly UsageRecord[]) => records.reduce((n, r) => n + (r.requests ?? 1), 0)
const dayOf = (r: UsageRecord) => r.timestamp.slice(0, 10)
const between = (records: readonly UsageRecord[], from: string, to: string) => records.filter((r) => dayOf(r) >= from && dayOf(r) <= to)

/** the result an agent completed with, by name */
const resultOf = (run: Awaited<ReturnType<typeof supervise>>, agent: string) =>
  (run.events.find((e) => e.type === 'agent_completed' && (e.data as { agent_name: string }).agent_name === agent)?.data as { result?: any } | undefined)?.result

t.test('the built-in module registers every agent and tool of the pack', async (t) => {
  const registry = new AgentRegistry().register(createBuiltinModule(() => sample))
  t.strictSame(registry.list().map((a) => a.name), ['supervisor', 'triage', 'data', 'optimization', 'anomaly', 'capacity', 'actions', 'reporting'])
  t.strictSame(registry.tools().map((x) => x.name), [
    'usage_summary', 'top_cost_drivers', 'usage_profile', 'spend_in_period', 'detect_anomalies', 'forecast_spend', 'find_retry_storms',
    'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'
  ])
})

/** Which events carry the answer's text (its first 200 characters): the run's result alone, not the root agent's agent_completed. */
const carriers = (run: Awaited<ReturnType<typeof supervise>>) =>
  run.events.filter((e) => JSON.stringify(e.data).includes(JSON.stringify(run.result.answer).slice(1, 200))).map((e) => `${e.type}:${(e.data as { agent_name?: string }).agent_name ?? ''}`)

t.test('no usage data: the supervisor explains how to upload and offers the sample', async (t) => {
  const run = await supervise('How can we cut our AI costs?', [])
  t.strictSame(run.agents, [{ name: 'supervisor', parent: undefined }, { name: 'triage', parent: 'supervisor' }])
  t.strictSame(run.tools, [{ agent: 'triage', tool: 'usage_profile', args: {} }], 'nothing is analysed')
  const r = run.result
  t.equal(r.answer, noData(resultOf(run, 'triage')))
  t.match(r.answer, /^There is no LLM usage data for your account yet, so there is nothing of yours to analyse\. Once it is in, I will look for savings in it/)
  t.match(r.answer, /`POST \/usage` with a CSV, NDJSON or JSON array body/)
  t.match(r.answer, /\*\*Or try the sample:\*\* `POST \/usage\/sample`/)
  t.notMatch(r.answer, /\$\d/, 'no dollar figure without data')
  t.strictSame({ ...r, answer: undefined }, {
    answer: undefined,
    intent: 'cost_optimisation',
    confidence: 'medium',
    entities: { models: [], providers: [], features: [], time_range: null },
    has_data: false,
    period: null,
    agents: ['triage'],
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
  t.match(forecast.result.answer, /Once it is in, I will forecast your spend for the next 30 and 90 days\./, 'the offer fits the question')
})

t.test('greetings and off-topic questions get a short answer and no report', async (t) => {
  for (const q of ['hello', 'Hi there!', 'thanks!', 'What can you do?']) {
    const run = await supervise(q)
    t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage'], `${q}: no analysis`)
    t.equal(run.result.intent, 'greeting')
    t.match(run.result.answer, /^Hello! I answer questions about your team's LLM spend from your own usage data/)
    t.match(run.result.answer, `Your data: ${sample.length.toLocaleString('en-US')} records from 2–31 Aug 2025, ${dollars(costOf(sample))} in all.`)
    t.notMatch(run.result.answer, /###|\|/, 'no section, no table')
  }
  for (const q of ['What is the weather in Paris?', 'Write me a poem about cats', 'Who won the world cup in 2022?', 'What is the capital of France?', 'Tell me a joke', 'How do I bake sourdough bread?']) {
    const run = await supervise(q)
    t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage'], `${q}: no analysis`)
    t.equal(run.result.intent, 'off_topic', q)
    t.match(run.result.answer, /^That is outside what I can help with\. I answer questions about your team's LLM spend/)
    t.notMatch(run.result.answer, /\$\d|###|\|/, 'no figure, no section, no table')
  }
})

t.test('a general question: the first line answers it, the run carries the answer once', async (t) => {
  const run = await supervise('Which model costs us most?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data'])
  t.ok(run.agents.slice(1).every((a) => a.parent === 'supervisor'), 'every sub-agent is the supervisor\'s')
  t.strictSame(run.tools.filter((x) => x.agent === 'data').map((x) => x.args), [
    { group_by: 'model' }, { group_by: 'provider' }, { group_by: 'feature' }, { limit: 5 }
  ])
  const r = run.result
  t.equal(r.intent, 'general_question')
  t.strictSame(r.agents, ['triage', 'data'])
  const total = costOf(sample)
  const byModel = new Map<string, number>()
  for (const x of sample) byModel.set(x.model, (byModel.get(x.model) ?? 0) + x.cost_usd)
  const [top, cost] = [...byModel].sort((a, b) => b[1] - a[1])[0]
  t.equal(r.answer.split('\n')[0], `${top} costs most: ${dollars(cost)}, ${share(cost, total)} of spend over 2–31 Aug 2025.`)
  t.equal(r.answer.split('\n')[0], 'claude-sonnet-4 costs most: $237.90, 49.86% of spend over 2–31 Aug 2025.')
  t.match(r.answer, /### Top 5 by spend \(model\), 2–31 Aug 2025/)
  t.notMatch(r.answer, /by feature|cost drivers/, 'no table the question did not ask for')
  const recent = between(sample, '2025-08-04', '2025-08-31')
  t.match(r.answer, `At the rate of the last 28 days (4–31 Aug 2025), that is ${dollars(costOf(recent) * 30 / 28)} a month.`)
  t.strictSame(r.totals, { period: resultOf(run, 'data').period, total_cost_usd: cents(total), total_requests: requestsOf(sample), monthly_run_rate_usd: cents(costOf(recent) * 30 / 28) })
  t.strictSame(carriers(run), ['run_completed:'], 'the answer travels in the run\'s result, nowhere else')
})

t.test('the period asked for: its figures, said back; a period without data says so and offers the nearest', async (t) => {
  const run = await supervise('How much did we spend between Aug 11 and Aug 17?')
  t.strictSame(run.tools.filter((x) => x.agent === 'data').map((x) => x.args), [
    { group_by: 'model', from: '2025-08-11', to: '2025-08-17' }, { group_by: 'provider', from: '2025-08-11', to: '2025-08-17' },
    { group_by: 'feature', from: '2025-08-11', to: '2025-08-17' }, { limit: 5, from: '2025-08-11', to: '2025-08-17' }
  ])
  const week = between(sample, '2025-08-11', '2025-08-17')
  t.equal(run.result.answer.split('\n')[0], `You spent ${dollars(costOf(week))} over 11–17 Aug 2025 across ${requestsOf(week).toLocaleString('en-US')} requests.`)
  t.strictSame(run.result.period, { from: '2025-08-11', to: '2025-08-17' })

  const since = await supervise('What did we spend since August 20?')
  const tail = between(sample, '2025-08-20', '2025-09-01')
  t.equal(since.result.answer.split('\n')[0], `You spent ${dollars(costOf(tail))} over 20 Aug – 1 Sep 2025 across ${requestsOf(tail).toLocaleString('en-US')} requests.`)
  t.match(since.result.answer, '_Your data covers 20–31 Aug 2025 of 20 Aug – 1 Sep 2025._')

  const july = await supervise('How much did we spend in July?')
  const first = between(sample, '2025-08-02', '2025-08-31')
  t.equal(july.result.answer.split('\n')[0], 'There is no usage data for 1–31 Jul 2025 (July): your data runs 2–31 Aug 2025. ' +
    `The nearest 30 days with data are 2–31 Aug 2025. You spent ${dollars(costOf(first))} over 2–31 Aug 2025 across ${requestsOf(first).toLocaleString('en-US')} requests.`)

  const named = await supervise('What did claude-opus-4 cost last week?')
  const lastWeek = between(sample, '2025-08-25', '2025-08-31')
  const opus = lastWeek.filter((x) => x.model === 'claude-opus-4')
  t.equal(named.result.answer.split('\n')[0], `claude-opus-4 cost ${dollars(costOf(opus))} over 25–31 Aug 2025: ${share(costOf(opus), costOf(lastWeek))} of spend, ${requestsOf(opus)} requests.`)
})

t.test('a cost question: optimization and a plan, recommendations sorted by savings', async (t) => {
  const run = await supervise('How can we cut our LLM costs?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'optimization', 'actions'])
  const opt = resultOf(run, 'optimization')
  const r = run.result
  t.equal(r.intent, 'cost_optimisation')
  t.strictSame(r.recommendations, opt.recommendations)
  t.strictSame(r.recommendations, bySavings(r.recommendations))
  t.ok(r.recommendations.length >= 2)
  const best = r.recommendations[0]
  t.equal(r.answer.split('\n')[0], `The largest saving: ${best.title}, ${dollars(best.monthly_savings_usd)} a month (${best.savings_pct}% of spend); ${r.recommendations.length} recommendations in all, read from 4–31 Aug 2025.`)
  t.strictSame(r.plan, resultOf(run, 'actions').phases)
  for (const x of r.recommendations) {
    t.ok(r.answer.includes(`**${x.title}**`), x.title)
    t.ok(r.answer.includes(`${x.savings_pct}%`), `${x.title}: its share of spend`)
    t.ok(x.assumptions.length > 0 && r.answer.includes(`- Assumes: ${x.assumptions.join('; ')}.`), `${x.title}: its assumptions`)
  }
  t.strictSame([...new Set(r.recommendations.map((x) => x.type))].sort(), ['batching', 'caching', 'tiering'])
  t.notMatch(r.answer, /### Spend by|### Top/, 'no breakdown table in a savings answer')
  t.match(r.answer, /### Plan\n\n\*\*Phase 1: Quick wins\.\*\*/)
  t.match(r.answer, /\n\*\*Phase 2: Model changes behind an evaluation\.\*\*/)
  t.strictSame(carriers(run), ['run_completed:'])
})

t.test('an anomaly question, with the day it names', async (t) => {
  // the sample's retry loop: its feature and its model spike on the same day
  const { feature, model, days: [day] } = SAMPLE_FACTS.team.spike
  const run = await supervise('Why did spend spike on August 13?')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'anomaly'])
  t.strictSame(run.tools.filter((x) => x.agent === 'anomaly'), [{ agent: 'anomaly', tool: 'detect_anomalies', args: {} }], 'the baseline is the whole history')
  const r = run.result
  t.strictSame(r.anomalies, detectAnomalies(sample).anomalies)
  t.strictSame(r.anomalies!.map((s) => [s.dimension, s.key, s.days]).sort(), [['feature', feature, [day]], ['model', model, [day]]])
  const s = r.anomalies![0]
  t.equal(r.answer.split('\n')[0], `The largest spike in 13 Aug 2025: ${s.dimension} ${s.key} on 13 Aug 2025, ${dollars(s.cost_usd)} against a usual ${dollars(s.baseline_usd)} (${s.multiple}×), mostly from more requests.`)
  for (const x of r.anomalies!) t.match(r.answer, `- ${x.explanation}`)
})

t.test('a capacity question: the forecast', async (t) => {
  const run = await supervise('Forecast our spend for next month')
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'capacity'])
  const forecast = resultOf(run, 'capacity')
  t.strictSame(run.result.forecast, forecast.horizons)
  const h = forecast.horizons[0]
  t.equal(run.result.answer.split('\n')[0], `The next 30 days should cost about ${dollars(h.point_usd)} (90% interval ${dollars(h.low_usd)} to ${dollars(h.high_usd)}); spend grows ${forecast.growth_per_month_pct}% a month.`)
  t.match(run.result.answer, /### Forecast/)
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
