import t from 'tap'
import type { ActionPlan } from '../../src/agents/actions.js'
import { count, pct, usd, usdFine } from '../../src/agents/format.js'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import type { RunEvent } from '../../src/core/events.js'
import type { Spike } from '../../src/tools/anomalies.js'
import { forecastSpend } from '../../src/tools/forecast.js'
import { bySavings, type Recommendation } from '../../src/tools/recommendation.js'
import { summariseUsage, topCostDrivers } from '../../src/tools/usage-stats.js'
import { SAMPLE_FACTS, sampleRecords } from '../../src/usage/sample.js'
import { dayAfter, rec, spokenDay } from '../helpers/analysis-fixtures.js'
import { runPackAgent } from '../helpers/agents-harness.js'

const sample = sampleRecords('team')
const { period, spike } = SAMPLE_FACTS.team

t.test('data: the summary and breakdowns of the range asked for, and the named rows', async (t) => {
  const range = { from: dayAfter(period.to, -6), to: period.to }
  const run = await runPackAgent('data', 'q', sample, { range, focus: { models: ['gpt-4.1'], providers: ['google'], features: ['support-chat', 'nope'] } })
  t.strictSame(run.tools.map((x) => [x.tool, x.args]), [
    ['usage_summary', { group_by: 'model', ...range }],
    ['usage_summary', { group_by: 'provider', ...range }],
    ['usage_summary', { group_by: 'feature', ...range }],
    ['top_cost_drivers', { limit: 5, ...range }]
  ])
  const week = sample.filter((r) => r.timestamp >= range.from)
  const byModel = summariseUsage(week, 'model')
  t.strictSame(run.result, {
    range,
    period: byModel.period,
    total_cost_usd: byModel.total_cost_usd,
    total_requests: byModel.total_requests,
    total_input_tokens: byModel.total_input_tokens,
    total_output_tokens: byModel.total_output_tokens,
    by_model: byModel.breakdown,
    by_provider: summariseUsage(week, 'provider').breakdown,
    by_feature: summariseUsage(week, 'feature').breakdown,
    top_drivers: topCostDrivers(week, 5).drivers,
    focus: {
      models: byModel.breakdown.filter((r) => r.key === 'gpt-4.1'),
      providers: summariseUsage(week, 'provider').breakdown.filter((r) => r.key === 'google'),
      features: summariseUsage(week, 'feature').breakdown.filter((r) => r.key === 'support-chat')
    }
  })
  const all = await runPackAgent('data', 'q', sample)
  t.strictSame(all.result.by_model, summariseUsage(sample, 'model').breakdown, 'without a range: all of the data')
})

t.test('optimization: every recommendation tool, one list sorted by savings', async (t) => {
  // one of each kind, in a clear order at today's catalogue: tiering ($144) > batching ($30) > caching ($4.68) > limits ($2.38)
  const day = '2025-07-01'
  const records = [
    ...Array.from({ length: 20 }, () => rec({ at: day, model: 'gpt-4o', provider: 'openai', feature: 'classify', input: 100_000, cost: 0.25 })),
    // a job at 02:00 UTC
    rec({ at: `${day}T02:00:00.000Z`, model: 'gpt-4o-mini', provider: 'openai', feature: 'enrich', input: 1_000_000, cost: 2 }),
    rec({ at: '2025-07-01T10:00:00.000Z', model: 'claude-3-5-haiku', provider: 'anthropic', feature: 'faq', input: 300_000, hash: 'h', cost: 0.24 }),
    rec({ at: '2025-07-01T10:05:00.000Z', model: 'claude-3-5-haiku', provider: 'anthropic', feature: 'faq', input: 300_000, hash: 'h', cost: 0.24 }),
    ...[...Array(18).fill(100), 10_000, 10_000].map((o) => rec({ at: day, model: 'claude-3-5-haiku', provider: 'anthropic', feature: 'writer', output: o, cost: o * 4 / 1e6 }))
  ]
  const run = await runPackAgent('optimization', 'q', records)
  t.strictSame(run.tools.map((x) => x.tool), ['find_retry_storms', 'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'])
  const r = run.result
  t.strictSame(r.recommendations.map((x: Recommendation) => [x.type, x.monthly_savings_usd]), [['tiering', 144], ['batching', 30], ['caching', 4.68], ['limits', 2.38]])
  t.strictSame(r.recommendations, bySavings(r.recommendations))
  t.strictSame(r.found_by, { find_retry_storms: 0, recommend_rightsizing: 1, recommend_caching: 1, recommend_batching: 1, recommend_output_caps: 1 })
  const tools = run.events.filter((e) => e.type === 'tool_completed').map((e) => (e.data as { result: { recommendations: Recommendation[] } }).result.recommendations)
  t.strictSame(new Set(r.recommendations), new Set(tools.flat()), 'exactly the tools\' recommendations')
  // gpt-4o is on no current, non-reasoning economy model of OpenAI's: the cheapest current one of any provider, at low confidence
  t.match(run.thoughts('optimization')[1], /^4 recommendation\(s\); the largest: Move classify to the economy tier: gpt-4o → mistral-small, \$144\.00 a month\.$/)
  t.equal(r.recommendations[0].confidence, 'low')
  t.equal(r.monthly_spend_usd, Math.round(30 * records.reduce((s, x) => s + x.cost_usd, 0) * 100) / 100)

  const none = await runPackAgent('optimization', 'q', [rec({ at: day, model: 'gpt-4o-mini', provider: 'openai', feature: 'chat', cost: 1 })])
  t.strictSame(none.result.recommendations, [])
  t.equal(none.thoughts('optimization')[1], 'No recommendation: nothing in the data points to a saving that holds under the providers\' billing rules.')
})

t.test('anomaly: spikes over the whole history, those in the asked range picked out', async (t) => {
  // the sample's spike: its feature and its model on the same days
  const around = { from: dayAfter(spike.days[0], -2), to: dayAfter(spike.days.at(-1)!, 3) }
  const inRange = await runPackAgent('anomaly', 'q', sample, { range: around })
  t.strictSame(inRange.tools, [{ agent: 'anomaly', tool: 'detect_anomalies', args: {} }])
  t.strictSame(inRange.result.spike_days, spike.days)
  t.strictSame(inRange.result.asked.spikes.map((s: Spike) => [s.dimension, s.key, s.days]).sort(), [['feature', spike.feature, spike.days], ['model', spike.model, spike.days]])
  t.strictSame(inRange.result.asked.spikes, inRange.result.anomalies, 'every spike is in the range')
  const after = { from: dayAfter(spike.days.at(-1)!, 1), to: period.to }
  const outside = await runPackAgent('anomaly', 'q', sample, { range: after })
  t.strictSame(outside.result.asked, { range: after, spikes: [] })
  t.equal(outside.result.anomalies.length, 2)
  t.equal((await runPackAgent('anomaly', 'q', sample)).result.asked, undefined)
})

t.test('capacity: the 30- and 90-day forecast, or why there is none', async (t) => {
  const run = await runPackAgent('capacity', 'q', sample)
  t.strictSame(run.tools, [{ agent: 'capacity', tool: 'forecast_spend', args: { horizons: [30, 90] } }])
  t.strictSame(run.result, JSON.parse(JSON.stringify(forecastSpend(sample))))
  const short = await runPackAgent('capacity', 'q', sample.slice(-50))
  t.equal(short.result.insufficient, '1 days of data; a forecast needs at least 14')
  t.equal(short.thoughts('capacity')[1], 'No forecast: 1 days of data; a forecast needs at least 14.')
})

t.test('actions: phases by kind of change, spikes first, overlaps named', async (t) => {
  const r = (type: Recommendation['type'], feature: string, monthly: number, evidence: Record<string, unknown> = {}): Recommendation =>
    ({ type, title: `${type} ${feature}`, monthly_savings_usd: monthly, savings_pct: 1, confidence: 'medium', evidence: { feature, ...evidence }, assumptions: [], risk: `risk of ${type}` })
  const recommendations = [
    r('tiering', 'summarise', 30, { moves: [{ from: 'big', to: 'small', requests: 12, current_cost_usd: 40, new_cost_usd: 10 }] }),
    r('routing', 'search', 20, { moves: [{ from: 'big', to: 'mid', requests: 3, current_cost_usd: 25, new_cost_usd: 5 }] }),
    r('caching', 'summarise', 5),
    r('limits', 'search', 2, { cap_tokens: 900, capped_share: 0.1 }),
    r('batching', 'nightly', 1)
  ]
  const causes = { volume_usd: 5, model_mix_usd: 0, per_request_usd: 0.49, requests: { spike: 50, usual: 9 }, input_tokens_per_request: { spike: 1000, usual: 1000 }, output_tokens_per_request: { spike: 100, usual: 100 }, retry_share: { spike: 0.8, usual: 0 }, main: 'retries' as const }
  const spike: Spike = { dimension: 'feature', key: 'summarise', days: ['2025-07-17'], cost_usd: 6.72, baseline_usd: 1.23, excess_usd: 5.49, multiple: 5.44, max_robust_z: 9.82, baseline_days: ['2025-07-10'], causes, explanation: 'x' }
  const modelSpike: Spike = { ...spike, dimension: 'model', key: 'big' }
  const run = await runPackAgent('actions', 'q', [], { recommendations, anomalies: [spike, modelSpike] })
  t.strictSame(run.tools, [], 'the plan needs no tool: it works from the recommendations it is given')
  const plan = run.result as ActionPlan
  t.strictSame(plan.phases.map((p) => [p.phase, p.name, p.steps.map((s) => s.title)]), [
    [1, 'Contain the spike', ['Find what drove feature summarise on 2025-07-17']],
    [2, 'Quick wins', ['caching summarise', 'batching nightly']],
    [3, 'Model changes behind an evaluation', ['tiering summarise', 'routing search']],
    [4, 'Guardrails', ['limits search']]
  ])
  const [contain, quick, models, guard] = plan.phases
  t.equal(contain.steps[0].rollback_trigger, null)
  t.match(contain.steps[0].how[0], 'Pull the feature summarise requests of 2025-07-17: $6.72 against a baseline of $1.23.')
  t.equal(contain.steps[0].how[1], 'Start from what drove it (retries): find the client resending the same prompt and cap its retries with backoff.')
  t.strictSame(quick.steps.map((s) => [s.type, s.monthly_savings_usd, s.confidence, s.risk]), [['caching', 5, 'medium', 'risk of caching'], ['batching', 1, 'medium', 'risk of batching']])
  t.equal(models.steps[0].how[0], 'Run the summarise evaluation set on small next to big (its 12 requests there cost $40.00 on big, and would cost $10.00 on small).')
  t.match(models.steps[1].how[1], /^Route only the search requests a difficulty signal marks as easy at first, with big as the fallback\.$/)
  t.equal(guard.steps[0].how[0], 'Set max_tokens to 900 for search.')
  t.equal(guard.steps[0].rollback_trigger, 'More than 10.00% of search answers end with finish_reason "length", or users report cut-off answers.')
  t.ok([...quick.steps, ...models.steps, ...guard.steps].every((s) => typeof s.rollback_trigger === 'string' && s.rollback_trigger.length > 0), 'every change has a rollback trigger')
  t.strictSame(plan.risks, [
    '2 recommendations touch summarise (tiering, caching): each saving is computed on its own, so together they save less than their sum.',
    '2 recommendations touch search (routing, limits): each saving is computed on its own, so together they save less than their sum.'
  ])
  const onlyModels = await runPackAgent('actions', 'q', [], { recommendations: [], anomalies: [modelSpike] })
  t.strictSame(onlyModels.result.phases.map((p: { name: string }) => p.name), ['Contain the spike'], 'a model spike when no feature spiked')
  t.strictSame((await runPackAgent('actions', 'q', [], { recommendations: [] })).result, { phases: [], risks: [] })
})

/**
 * Every figure of an answer must be a number some tool or sub-agent returned in this run,
 * formatted: what is left after taking out the results' own strings must be such a number.
 */
function untraceable (answer: string, events: RunEvent[]): string[] {
  const numbers = new Set<number>()
  const strings = new Set<string>()
  const walk = (v: unknown): void => {
    if (typeof v === 'number') numbers.add(v)
    else if (typeof v === 'string') {
      if (v.length > 1) strings.add(v)
      // a day is said back as "14 Aug 2025": its day of the month and its year are figures of the result
      const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(v)
      if (day) { numbers.add(Number(day[1])); numbers.add(Number(day[3])) }
    } else if (Array.isArray(v)) { numbers.add(v.length); v.forEach(walk) } else if (v && typeof v === 'object') Object.values(v).forEach(walk)
  }
  for (const e of events) {
    const d = e.data as { agent_name?: string, result?: unknown }
    if (e.type === 'tool_completed' || (e.type === 'agent_completed' && d.agent_name !== 'reporting' && d.agent_name !== 'supervisor')) walk(d.result)
  }
  const shown = new Set<string>()
  for (const n of numbers) for (const s of [usd(n), usd(Math.abs(n)), usdFine(n), usdFine(Math.abs(n)), pct(n), count(n), String(n), `${n}%`, `${n}×`, `${Math.round(n * 100)}%`]) shown.add(s)
  let rest = answer
  for (const s of [...strings].sort((a, b) => b.length - a.length)) rest = rest.split(s).join(' ')
  return (rest.match(/\$?[\d,]*\d(\.\d+)?[%×]?/g) ?? []).filter((tok) => !shown.has(tok))
}

for (const question of [
  'Where does our AI money go?',
  'How can we cut our LLM costs?',
  `Why did ${spike.feature} spike on ${spokenDay(spike.days[0])}, and what would it save to fix it?`,
  'What will we spend over the next 90 days?',
  'How much did we spend last week on claude and gpt-4.1?'
]) {
  t.test(`every figure of the answer comes from a tool or agent result: ${question}`, async (t) => {
    const run = await runPackAgent<SupervisorResult>('supervisor', question, sample)
    const stray = untraceable(run.result.answer, run.events)
    t.strictSame(stray, [], 'no figure the results do not hold')
    t.ok(run.result.answer.split('\n')[0].length > 40, 'a first line that answers')
  })
}

t.test('the traceability check itself catches a made-up figure', async (t) => {
  const run = await runPackAgent<SupervisorResult>('supervisor', 'Where does our AI money go?', sample)
  t.strictSame(untraceable(`${run.result.answer}\nYou could save $1,234.56 (12.5%).`, run.events), ['$1,234.56', '12.5%'])
})
