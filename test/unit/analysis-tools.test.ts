import t from 'tap'
import { Ajv } from 'ajv'
import { AgentRegistry, type ToolContext, type ToolDefinition } from '../../src/core/registry.js'
import { createAnalysisTools } from '../../src/tools/analysis-tools.js'
import { createLocalAnalyst } from '../../src/tools/analyst.js'
import { recentRecords } from '../../src/tools/usage-period.js'
import { detectAnomalies } from '../../src/tools/anomalies.js'
import { batching } from '../../src/tools/batching.js'
import { forecastSpend } from '../../src/tools/forecast.js'
import { outputCaps } from '../../src/tools/output-caps.js'
import { promptCaching } from '../../src/tools/prompt-caching.js'
import { rightsizing } from '../../src/tools/rightsizing.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { usageProfile } from '../../src/tools/usage-profile.js'
import { summariseUsage } from '../../src/tools/usage-stats.js'
import { sampleRecords } from '../../src/usage/sample.js'
import { rec } from '../helpers/analysis-fixtures.js'

const sample = sampleRecords('team')

function context (user_id = 'user-1') {
  const progress: string[] = []
  const ctx: ToolContext = { user_id, run_id: 'run-1', signal: new AbortController().signal, progress (m) { progress.push(m) } }
  return { ctx, progress }
}

const toolsOf = (source: (ctx: ToolContext) => readonly UsageRecord[]) => new Map(createAnalysisTools(createLocalAnalyst(source)).map((x) => [x.name, x]))
const call = async (tool: ToolDefinition | undefined, args: Record<string, unknown> = {}, user = 'user-1') => await tool!.execute(args, context(user).ctx) as any

t.test('the analysis tools register, each with an input schema', async (t) => {
  const tools = createAnalysisTools(createLocalAnalyst(() => sample))
  t.strictSame(tools.map((x) => x.name), [
    'usage_summary', 'top_cost_drivers', 'usage_profile', 'spend_in_period', 'detect_anomalies', 'forecast_spend', 'find_retry_storms',
    'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'
  ])
  const registry = new AgentRegistry().register({ tools })
  t.equal(registry.tools().length, 11)
  for (const x of tools) t.equal((x.input_schema as { additionalProperties: unknown }).additionalProperties, false, `${x.name} refuses unknown arguments`)
})

t.test('each tool is its pure function over the user\'s records; savings over the last 28 days', async (t) => {
  const tools = toolsOf(() => sample)
  const recent = recentRecords(sample)!.records
  t.strictSame(recentRecords(sample)!.window, { from: '2025-08-04', to: '2025-08-31', days: 28 })
  t.strictSame(await call(tools.get('usage_profile')), usageProfile(sample))
  t.strictSame(await call(tools.get('detect_anomalies')), detectAnomalies(sample))
  t.strictSame(await call(tools.get('forecast_spend')), forecastSpend(sample, [30, 90]))
  t.strictSame(await call(tools.get('forecast_spend'), { horizons: [7] }), forecastSpend(sample, [7]))
  t.strictSame(await call(tools.get('recommend_rightsizing')), rightsizing(recent))
  t.strictSame(await call(tools.get('recommend_caching')), promptCaching(recent))
  t.strictSame(await call(tools.get('recommend_caching'), { min_prompt_tokens: 6000 }), promptCaching(recent, { min_prompt_tokens: 6000 }))
  t.strictSame(await call(tools.get('recommend_batching'), { features: ['extract'] }), batching(recent, { features: ['extract'] }))
  t.strictSame(await call(tools.get('recommend_output_caps'), { ratio: 1.5 }), outputCaps(recent, { ratio: 1.5 }))
  t.strictSame(await call(tools.get('recommend_rightsizing'), { simple_features: ['support-chat'] }), rightsizing(recent, { simple_features: ['support-chat'] }))
})

t.test('from and to narrow every analysis to whole UTC days', async (t) => {
  const tools = toolsOf(() => sample)
  const week = sample.filter((r) => r.timestamp >= '2025-08-10' && r.timestamp < '2025-08-17')
  t.equal(week.length > 0, true)
  const range = { from: '2025-08-10', to: '2025-08-16' }
  t.strictSame(await call(tools.get('recommend_rightsizing'), range), rightsizing(week))
  t.strictSame(await call(tools.get('detect_anomalies'), range), detectAnomalies(week))
  t.strictSame(await call(tools.get('spend_in_period'), range), { ...range, ...summariseUsage(week, 'model') })
  t.strictSame(await call(tools.get('spend_in_period'), { ...range, group_by: 'feature' }), { ...range, ...summariseUsage(week, 'feature') })
  t.equal((await call(tools.get('recommend_rightsizing'), range)).period.days, 7)
  t.strictSame(await call(tools.get('recommend_caching'), { from: '2026-01-01' }), { period: null, monthly_spend_usd: 0, recommendations: [] })
})

t.test('each user sees only their own records', async (t) => {
  const mine = [rec({ at: '2025-07-01', model: 'gpt-4o', feature: 'classify', input: 1_000_000, cost: 2.5 })]
  const tools = toolsOf((ctx) => (ctx.user_id === 'alice' ? mine : []))
  t.match(await call(tools.get('usage_profile'), {}, 'alice'), { has_data: true, records: 1, total_cost_usd: 2.5, features: ['classify'] })
  t.match(await call(tools.get('usage_profile'), {}, 'bob'), { has_data: false, records: 0, total_cost_usd: 0, period: null })
  t.equal((await call(tools.get('recommend_rightsizing'), {}, 'alice')).recommendations.length, 1)
  t.equal((await call(tools.get('recommend_rightsizing'), {}, 'bob')).recommendations.length, 0)
})

t.test('the tools report progress', async (t) => {
  const tools = toolsOf(() => sample)
  const { ctx, progress } = context()
  for (const name of tools.keys()) await tools.get(name)!.execute(name === 'spend_in_period' ? { from: '2025-08-01', to: '2025-08-31' } : {}, ctx)
  const n = sample.length
  t.strictSame(progress, [...tools.keys()].map((name) => `${name.replace(/_/g, ' ')} over ${n} usage records`))
})

t.test('the input schemas refuse bad arguments', async (t) => {
  const ajv = new Ajv({ strict: false })
  const tools = toolsOf(() => sample)
  const check = (name: string) => ajv.compile(tools.get(name)!.input_schema)
  const cases: Record<string, [unknown[], unknown[]]> = {
    usage_profile: [[{}], [{ x: 1 }]],
    spend_in_period: [[{ from: '2025-07-01', to: '2025-07-02' }, { from: '2025-07-01', to: '2025-07-02', group_by: 'day' }],
      [{}, { from: '2025-07-01' }, { from: '07/01/2025', to: '2025-07-02' }, { from: '2025-07-01', to: '2025-07-02', group_by: 'week' }]],
    detect_anomalies: [[{}, { threshold: 2 }, { from: '2025-07-01' }], [{ threshold: 0 }, { threshold: '3' }, { to: 'yesterday' }]],
    forecast_spend: [[{}, { horizons: [30] }, { horizons: [1, 365] }, { level: 0.8 }], [{ horizons: [] }, { horizons: [0] }, { horizons: [400] }, { horizons: [1.5] }, { horizons: [1, 2, 3, 4, 5] }, { level: 0.5 }]],
    recommend_rightsizing: [[{}, { simple_features: ['chat'] }], [{ simple_features: 'chat' }, { simple_features: [''] }, { simple_features: ['a', 'a'] }]],
    recommend_caching: [[{}, { min_prompt_tokens: 0 }], [{ min_prompt_tokens: -1 }, { min_prompt_tokens: 1.5 }]],
    find_retry_storms: [[{}, { min_requests: 5, gap_s: 30 }], [{ min_requests: 1 }, { gap_s: 0 }]],
    usage_summary: [[{}, { group_by: 'day', from: '2025-07-01' }], [{ group_by: 'week' }, { from: '1 July' }]],
    recommend_batching: [[{}, { features: ['etl'] }], [{ features: [1] }, { feature: ['etl'] }]],
    recommend_output_caps: [[{}, { min_requests: 1, ratio: 1 }], [{ min_requests: 0 }, { ratio: 0.5 }]]
  }
  for (const [name, [good, bad]] of Object.entries(cases)) {
    const validate = check(name)
    for (const args of good) t.ok(validate(args), `${name} takes ${JSON.stringify(args)}`)
    for (const args of bad) t.notOk(validate(args), `${name} refuses ${JSON.stringify(args)}`)
  }
})

t.test('usage_profile by hand', async (t) => {
  const records = [
    rec({ at: '2025-07-01', model: 'gpt-4o', provider: 'openai', feature: 'chat', cost: 1.004 }),
    rec({ at: '2025-07-03', model: 'my-finetune', cost: 2.001, requests: 9 }),
    rec({ at: '2025-07-03', model: 'openai/gpt-4o-mini', provider: 'openai', feature: 'chat', cost: 0.5 })
  ]
  // 3.505 over 3 days: $3.51, ×10 a month = $35.05; my-finetune's 2.001 is 57.09% of it and the catalogue cannot price it
  t.strictSame(usageProfile(records), {
    has_data: true,
    records: 3,
    requests: 11,
    period: { from: '2025-07-01', to: '2025-07-03', days: 3 },
    days_with_data: 2,
    total_cost_usd: 3.51,
    monthly_run_rate_usd: 35.05,
    run_rate_window: { from: '2025-07-01', to: '2025-07-03', days: 3 },
    models: ['gpt-4o', 'my-finetune', 'openai/gpt-4o-mini'],
    providers: ['acme', 'openai'],
    features: ['chat', 'unattributed'],
    unpriced: { models: ['my-finetune'], cost_usd: 2, share: 0.5709 }, // openai/gpt-4o-mini is the catalogue's gpt-4o-mini
    enough_for: { summary: true, recommendations: true, anomalies: false, forecast: false },
    min_days: { anomalies: 7, forecast: 14 }
  })
})
