import t from 'tap'
import { classifyIntent, extractEntities, planFor, resolveTimeRange, type Intent } from '../../src/agents/triage.js'
import type { UsageProfile } from '../../src/tools/usage-profile.js'
import { sampleRecords } from '../../src/usage/sample.js'
import { runPackAgent } from '../helpers/agents-harness.js'

const sample = sampleRecords('team')

const PHRASINGS: ReadonlyArray<readonly [string, Intent]> = [
  ['How can we cut our LLM costs?', 'cost_optimisation'],
  ['Where can we save money on AI?', 'cost_optimisation'],
  ['We are overspending on OpenAI, what should we change?', 'cost_optimisation'],
  ['Is there a cheaper model we could use for classification?', 'cost_optimisation'],
  ['Help me optimise our token spend', 'cost_optimisation'],
  ['How do we reduce the bill for the summarise feature?', 'cost_optimisation'],
  ['Would prompt caching help us?', 'cost_optimisation'],
  ['Should we be batching the nightly jobs?', 'cost_optimisation'],
  ['Are we wasting money on Opus?', 'cost_optimisation'],
  ['Our LLM spend is too expensive — what can we do about it?', 'cost_optimisation'],
  ['Give me cost reduction ideas for next month', 'cost_optimisation'],
  ['How do we spend less on GPT-4o without hurting quality?', 'cost_optimisation'],
  ['Why did our costs spike last week?', 'anomaly_investigation'],
  ['What happened on July 17? The bill jumped.', 'anomaly_investigation'],
  ['Something weird is going on with our Anthropic spend', 'anomaly_investigation'],
  ['Why is summarise so expensive all of a sudden?', 'anomaly_investigation'],
  ['Any anomalies in the last 30 days?', 'anomaly_investigation'],
  ['Our spend doubled overnight, what caused it?', 'anomaly_investigation'],
  ['Were there unusual days in July?', 'anomaly_investigation'],
  ['Did anything blow up in the usage this month? Looks like a surge', 'anomaly_investigation'],
  ['Why has the Claude bill gone up so much?', 'anomaly_investigation'],
  ['What will we spend next month?', 'capacity_planning'],
  ['Forecast our LLM costs for the next quarter', 'capacity_planning'],
  ['How much budget do we need for AI next year?', 'capacity_planning'],
  ['Predict the spend for the next 90 days', 'capacity_planning'],
  ['What is our run rate and where is it heading?', 'capacity_planning'],
  ['If usage keeps growing like this, what will it cost by the end of the year?', 'capacity_planning'],
  ['Project our Gemini costs for Q4', 'capacity_planning'],
  ['Can you do capacity planning for our LLM usage?', 'capacity_planning'],
  ['Where does our AI money go?', 'general_question'],
  ['How much did we spend on LLMs last month?', 'general_question'],
  ['Break down spend by model', 'general_question'],
  ['Which features use the most tokens?', 'general_question'],
  ['Show me our top models', 'general_question'],
  ['hello', 'general_question'],
  ['What does the classify feature cost per request?', 'general_question']
]

t.test(`triage routes ${PHRASINGS.length} phrasings to their intent`, async (t) => {
  t.ok(PHRASINGS.length >= 30)
  for (const [q, intent] of PHRASINGS) {
    const got = classifyIntent(q)
    t.equal(got.intent, intent, `${JSON.stringify(q)} → ${intent} (scores ${JSON.stringify(got.scores)}, matched ${JSON.stringify(got.matched)})`)
  }
})

t.test('a question that touches two intents keeps the second, and plans for both', async (t) => {
  const r = classifyIntent('Spend spiked last week; how do we cut it?')
  t.equal(r.intent, 'anomaly_investigation')
  t.strictSame(r.secondary, ['cost_optimisation'])
  t.strictSame(r.scores, { cost_optimisation: 2, anomaly_investigation: 3, capacity_planning: 0, general_question: 0 })
  t.strictSame(r.matched, ['spiked', 'cut'])
  t.equal(r.confidence, 'medium', 'a one-point lead is not high confidence')
  t.strictSame(planFor([r.intent, ...r.secondary]), ['data', 'anomaly', 'optimization', 'actions'])

  const strong = classifyIntent('Forecast and predict our budget')
  t.strictSame(strong.scores.capacity_planning, 5)
  t.equal(strong.confidence, 'high')
  t.strictSame(strong.secondary, [])
  t.equal(classifyIntent('hello').confidence, 'low', 'no signal at all')
  t.equal(classifyIntent('Where does our money go?').confidence, 'medium')
  t.strictSame(planFor(['general_question']), ['data'])
  t.strictSame(planFor(['capacity_planning', 'general_question']), ['data', 'capacity'])
})

t.test('equal scores go to the more specific intent, in a fixed order', async (t) => {
  // "reduce" (cost, 2) against "next month" (capacity, 2)
  t.equal(classifyIntent('reduce it next month').intent, 'cost_optimisation')
  // "unusual" (anomaly, 2) against "budget" (capacity, 2)
  t.equal(classifyIntent('unusual budget').intent, 'anomaly_investigation')
})

const PROFILE = {
  models: ['claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini', 'my-finetune'],
  providers: ['anthropic', 'openai', 'acme'],
  features: ['chat', 'summarise', 'nightly_report', 'unattributed'],
  period: { from: '2025-07-02', to: '2025-07-31', days: 30 }
} satisfies Pick<UsageProfile, 'models' | 'providers' | 'features' | 'period'>

t.test('entities: models, providers and features named in the question', async (t) => {
  const e = (q: string) => extractEntities(q, PROFILE)
  t.strictSame(e('How much goes to gpt-4o?').models, ['gpt-4o'], 'gpt-4o is not gpt-4o-mini')
  t.strictSame(e('How much goes to gpt-4o-mini?').models, ['gpt-4o-mini'])
  t.strictSame(e('compare GPT 4o and gpt-4.1.').models, ['gpt-4.1', 'gpt-4o'], 'a space for a hyphen; a full stop ends the name')
  t.strictSame(e('is sonnet worth it?').models, ['claude-sonnet-4'], 'a family word names the user\'s own model of that family')
  t.strictSame(e('what about opus').models, ['claude-opus-4', 'claude-opus-4-1'], 'the catalogue\'s when the user has none')
  t.strictSame(e('and my-finetune?').models, ['my-finetune'], 'a model only the user\'s data knows')
  t.strictSame(e('Claude versus Gemini, and ACME').providers, ['acme', 'anthropic', 'google'])
  t.strictSame(e('gpt-4o spend').providers, ['openai'], 'a GPT model names OpenAI')
  t.strictSame(e('cost of summarize and the nightly report').features, ['summarise', 'nightly_report'], 'either spelling, any separator')
  t.strictSame(e('the chats').features, ['chat'])
  t.strictSame(e('chatgpt usage').features, [], 'chat inside chatgpt is not the feature')
  t.strictSame(e('unattributed spend').features, [], 'unattributed is not a feature')
  t.strictSame(extractEntities('How much on summarise and opus?'), {
    models: ['claude-opus-4', 'claude-opus-4-1'], providers: [], features: [], time_range: null
  }, 'without data: catalogue models only, no features, no anchor')
})

t.test('time ranges count back from the last day of the data', async (t) => {
  const end = '2025-07-31'
  const cases: Array<[string, string | undefined, { text: string, from: string | null, to: string | null } | null]> = [
    ['spend last week', end, { text: 'last week', from: '2025-07-25', to: end }],
    ['in the Past 30 Days', end, { text: 'Past 30 Days', from: '2025-07-02', to: end }],
    ['over the last 2 weeks', end, { text: 'last 2 weeks', from: '2025-07-18', to: end }],
    ['last month', end, { text: 'last month', from: '2025-07-02', to: end }],
    ['yesterday', end, { text: 'yesterday', from: end, to: end }],
    ['this month', end, { text: 'this month', from: '2025-07-01', to: end }],
    ['this week', end, { text: 'this week', from: '2025-07-28', to: end }],
    ['what happened in July?', end, { text: 'in July', from: '2025-07-01', to: '2025-07-31' }],
    ['and in august', end, { text: 'in august', from: '2024-08-01', to: '2024-08-31' }],
    ['february 2024', end, { text: 'february 2024', from: '2024-02-01', to: '2024-02-29' }],
    ['on July 17th', end, { text: 'July 17th', from: '2025-07-17', to: '2025-07-17' }],
    ['on 3 Jul', end, { text: '3 Jul', from: '2025-07-03', to: '2025-07-03' }],
    ['Q2', end, { text: 'Q2', from: '2025-04-01', to: '2025-06-30' }],
    ['between 2025-07-05 and 2025-07-09', end, { text: 'between 2025-07-05 and 2025-07-09', from: '2025-07-05', to: '2025-07-09' }],
    ['since 2025-07-20', end, { text: 'since 2025-07-20', from: '2025-07-20', to: end }],
    ['on 2025-07-17', end, { text: '2025-07-17', from: '2025-07-17', to: '2025-07-17' }],
    ['last week', undefined, { text: 'last week', from: null, to: null }],
    ['in july', undefined, { text: 'in july', from: null, to: null }],
    ['we may save money', end, null],
    ['decrease the spend', end, null],
    ['how much in total?', end, null]
  ]
  for (const [q, endDay, expected] of cases) t.strictSame(resolveTimeRange(q, endDay), expected, q)
})

t.test('the triage agent: intent, entities and whether the data suffices', async (t) => {
  const run = await runPackAgent('triage', 'Why did summarise spike in August?', sample)
  t.strictSame(run.tools, [{ agent: 'triage', tool: 'usage_profile', args: {} }])
  const r = run.result
  t.equal(r.intent, 'anomaly_investigation')
  t.strictSame(r.entities, { models: [], providers: [], features: ['summarise'], time_range: { text: 'in August', from: '2025-08-01', to: '2025-08-31' } })
  t.equal(r.data.records, sample.length)
  t.equal(r.data_sufficient, true)
  t.strictSame(r.agents, ['data', 'anomaly'])
  t.equal(run.thoughts('triage').length, 2)
  t.equal(run.thoughts('triage')[0], 'The question reads as anomaly investigation (from "spike", "why did summarise spike"). Checking what usage data there is.')
  t.equal(run.thoughts('triage')[1], `${sample.length} records over 30 days. Enough data for this question. Next: data, anomaly.`)

  const asked = await runPackAgent('triage', 'ignored', sample, { content: 'forecast please' })
  t.equal(asked.result.intent, 'capacity_planning', 'the input content wins over the message')
})

t.test('triage says when the data cannot answer', async (t) => {
  const none = (await runPackAgent('triage', 'How can we save?', [])).result
  t.equal(none.data.has_data, false)
  t.equal(none.data_sufficient, false)
  t.strictSame(none.agents, [])
  t.equal(none.data_note, 'There are no usage records to analyse.')

  const tenDays = sample.filter((r) => r.timestamp >= '2025-08-22')
  const short = (await runPackAgent('triage', 'forecast next month', tenDays)).result
  t.equal(short.data_sufficient, false)
  t.equal(short.data_note, '10 days of data; a forecast needs at least 14.')
  t.strictSame(short.agents, ['data', 'capacity'], 'capacity still runs and says why it cannot forecast')
  const fiveDays = sample.filter((r) => r.timestamp >= '2025-08-27')
  t.equal((await runPackAgent('triage', 'any spikes?', fiveDays)).result.data_note, '5 days of data; spotting spikes needs at least 7.')
  t.equal((await runPackAgent('triage', 'how can we save?', fiveDays)).result.data_sufficient, true)
})
