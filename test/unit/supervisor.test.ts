import t from 'tap'
import { createBuiltinModule } from '../../src/agents/index.js'
import { noData } from '../../src/agents/reporting.js'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import { AgentRegistry, defineAgent } from '../../src/core/registry.js'
import { bySavings } from '../../src/tools/recommendation.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { SAMPLE_FACTS, sampleRecords } from '../../src/usage/sample.js'
import { dayAfter, spokenDay } from '../helpers/analysis-fixtures.js'
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

/** The spike of one daily series on `days`: median day, MAD and robust z-score over every day of the window. */
function spikeOf (dimension: 'feature' | 'model', key: string, days: readonly string[]) {
  const { from, days: n } = SAMPLE_FACTS.team.period
  const window = Array.from({ length: n }, (_, i) => dayAfter(from, i))
  const series = window.map((d) => costOf(sample.filter((r) => r[dimension] === key && dayOf(r) === d)))
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return (s[n / 2 - 1] + s[n / 2]) / 2 }
  const m = median(series)
  const mad = median(series.map((x) => Math.abs(x - m)))
  const cost = days.reduce((sum, d) => sum + series[window.indexOf(d)], 0)
  const baseline = days.length * m
  return {
    dimension,
    key,
    days,
    cost_usd: cents(cost),
    baseline_usd: cents(baseline),
    excess_usd: cents(cost - baseline),
    multiple: cents(cost / baseline),
    max_robust_z: cents(Math.max(...days.map((d) => 0.6745 * (series[window.indexOf(d)] - m) / mad)))
  }
}

/** the result an agent completed with, by name */
const resultOf = (run: Awaited<ReturnType<typeof supervise>>, agent: string) =>
  (run.events.find((e) => e.type === 'agent_completed' && (e.data as { agent_name: string }).agent_name === agent)?.data as { result?: any } | undefined)?.result

t.test('the built-in module registers every agent and tool of the pack', async (t) => {
  const registry = new AgentRegistry().register(createBuiltinModule(() => sample))
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
  const total = costOf(sample)
  const first = dayOf(sample[0])
  const last = dayOf(sample.at(-1)!)
  const days = (Date.parse(last) - Date.parse(first)) / 86_400_000 + 1
  t.strictSame(r.totals, { period: data.period, total_cost_usd: cents(total), total_requests: requestsOf(sample), monthly_run_rate_usd: cents(total * 30 / days) })
  t.strictSame(r.recommendations, [])
  t.equal(r.answer, resultOf(run, 'reporting').answer)
  t.match(r.answer, new RegExp(`^## LLM spend, ${first} to ${last}\n`))
  t.match(r.answer, `**${dollars(total)}** across **${requestsOf(sample).toLocaleString('en-US')}** requests`)
  t.match(r.answer, /### Top 5 cost drivers/)
  const pairs = new Map<string, number>()
  for (const x of sample) pairs.set(`${x.model} on ${x.feature}`, (pairs.get(`${x.model} on ${x.feature}`) ?? 0) + x.cost_usd)
  const [top, cost] = [...pairs].sort((a, b) => b[1] - a[1])[0]
  t.match(r.answer, `**Where to look first:** ${top} costs ${dollars(cost)} (${share(cost, total)} of spend)`)
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
  // changes that keep every answer as it is come before model changes
  t.strictSame([...new Set(r.recommendations.map((x) => x.type))].sort(), ['batching', 'caching', 'tiering'])
  t.match(r.answer, /### Plan\n\n\*\*Phase 1: Quick wins\.\*\*/)
  t.match(r.answer, /\n\*\*Phase 2: Model changes behind an evaluation\.\*\*/)
})

t.test('an anomaly question, with the day it names', async (t) => {
  // the sample's retry loop: its feature and its model spike on the same day
  const { feature, model, days: [day] } = SAMPLE_FACTS.team.spike
  const run = await supervise(`Why did spend spike on ${spokenDay(day)}?`)
  t.strictSame(run.agents.map((a) => a.name), ['supervisor', 'triage', 'data', 'anomaly', 'reporting'])
  t.strictSame(run.tools.filter((x) => x.agent === 'data').at(-1), { agent: 'data', tool: 'spend_in_period', args: { from: day, to: day, group_by: 'model' } })
  t.strictSame(run.tools.filter((x) => x.agent === 'anomaly'), [{ agent: 'anomaly', tool: 'detect_anomalies', args: {} }], 'the baseline is the whole history')
  const r = run.result
  const spikes = [spikeOf('feature', feature, [day]), spikeOf('model', model, [day])].sort((a, b) => b.excess_usd - a.excess_usd)
  t.strictSame(r.anomalies, spikes, 'the spike\'s feature and model, largest excess first, and nothing else')
  for (const s of spikes) {
    t.match(r.answer, `| ${s.dimension} ${s.key} | ${day} | ${dollars(s.cost_usd)} | ${dollars(s.baseline_usd)} | ${dollars(s.excess_usd)} | ${s.multiple}× | ${s.max_robust_z} |`)
  }
  t.match(r.answer, `In the range you asked about (${day}): ${spikes.map((s) => `${s.dimension} ${s.key} on ${day}`).join('; ')}.`)
  const onDay = sample.filter((x) => dayOf(x) === day)
  t.match(r.answer, `**${spokenDay(day)}** (${day}): ${dollars(costOf(onDay))} across ${requestsOf(onDay).toLocaleString('en-US')} requests.`)
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
