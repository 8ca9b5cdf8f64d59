import t from 'tap'
import { classifyIntent, extractEntities, planFor, questionShape, sameModel, type EntityContext, type Intent, type QuestionShape } from '../../src/agents/triage.js'
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
  ['What does the classify feature cost per request?', 'general_question'],
  ['Which model costs us most?', 'general_question'],
  ['What did we pay Anthropic in October?', 'general_question'],
  ['How many tokens did support-chat use yesterday?', 'general_question'],
  ['Total spend since October?', 'general_question'],
  ['What is the most expensive feature?', 'general_question'],
  ['List our providers by cost', 'general_question'],
  ['Which requests cost the most last Tuesday?', 'general_question'],
  ['How expensive was gpt-4.1 between Oct 1 and Oct 15?', 'general_question'],
  ['Is our spend going down?', 'capacity_planning'],
  ['Can we switch classification to a smaller model?', 'cost_optimisation'],
  ['Are there retry loops burning money?', 'anomaly_investigation'],
  ['Why was Saturday so expensive?', 'anomaly_investigation'],
  ['hello', 'greeting'],
  ['Hi there!', 'greeting'],
  ['Good morning', 'greeting'],
  ['thanks!', 'greeting'],
  ['What can you do?', 'greeting'],
  ['', 'greeting'],
  ['What is the weather in Paris?', 'off_topic'],
  ['Write me a poem about cats', 'off_topic'],
  ['Who won the world cup in 2022?', 'off_topic'],
  ['What is the capital of France?', 'off_topic'],
  ['Tell me a joke', 'off_topic'],
  ['How do I bake sourdough bread?', 'off_topic']
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
  t.strictSame(r.scores, { cost_optimisation: 2, anomaly_investigation: 3, capacity_planning: 0, general_question: 1 })
  t.strictSame(r.matched, ['spiked', 'cut', 'spend'])
  t.equal(r.confidence, 'medium', 'a one-point lead is not high confidence')
  t.strictSame(planFor([r.intent, ...r.secondary]), ['data', 'anomaly', 'optimization', 'actions'])

  const strong = classifyIntent('Forecast and predict our budget')
  t.strictSame(strong.scores.capacity_planning, 5)
  t.equal(strong.confidence, 'high')
  t.strictSame(strong.secondary, [])
  t.equal(classifyIntent('hello').confidence, 'high', 'a greeting')
  t.strictSame(planFor(['greeting']), [], 'a greeting needs no analysis')
  t.strictSame(planFor(['off_topic']), [])
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

const PROFILE: EntityContext = {
  models: ['claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini', 'my-finetune', 'gpt-4.1-2025-04-14', 'GPT-4.1'],
  providers: ['anthropic', 'openai', 'acme'],
  features: ['chat', 'summarise', 'nightly_report', 'unattributed'],
  period: { from: '2025-07-02', to: '2025-07-31' },
  today: '2025-08-01'
}

t.test('entities: models, providers and features named in the question', async (t) => {
  const e = (q: string) => extractEntities(q, PROFILE)
  t.strictSame(e('How much goes to gpt-4o?').models, ['gpt-4o'], 'gpt-4o is not gpt-4o-mini')
  t.strictSame(e('How much goes to gpt-4o-mini?').models, ['gpt-4o-mini'])
  t.strictSame(e('what does gpt-4.1 cost?').models, ['GPT-4.1', 'gpt-4.1-2025-04-14'], 'a model names the user\'s rows of it under any dated variant or case')
  t.strictSame(e('compare GPT 4o and Claude Sonnet 4.').models, ['claude-sonnet-4', 'gpt-4o'], 'a space for a hyphen; a full stop ends the name')
  t.strictSame(e('is sonnet worth it?').models, ['claude-sonnet-4'], 'a family word names the user\'s own model of that family')
  t.strictSame(e('what about opus').models, ['claude-opus-4', 'claude-opus-4-1', 'claude-opus-4-5', 'claude-opus-5', 'claude-opus-5-5'], 'the catalogue\'s when the user has none')
  t.strictSame(e('and my-finetune?').models, ['my-finetune'], 'a model only the user\'s data knows')
  t.strictSame(e('Claude versus Gemini, and ACME').providers, ['acme', 'anthropic', 'google'])
  t.strictSame(e('gpt-4o spend').providers, ['openai'], 'a GPT model names OpenAI')
  t.strictSame(e('cost of summarize and the nightly report').features, ['summarise', 'nightly_report'], 'either spelling, any separator')
  t.strictSame(e('the chats').features, ['chat'])
  t.strictSame(e('chatgpt usage').features, [], 'chat inside chatgpt is not the feature')
  t.strictSame(e('unattributed spend').features, [], 'unattributed is not a feature')
  t.strictSame(extractEntities('How much on summarise and opus?'), {
    models: ['claude-opus-4', 'claude-opus-4-1', 'claude-opus-4-5', 'claude-opus-5', 'claude-opus-5-5'], providers: [], features: [], time_range: null
  }, 'without data: catalogue models only, no features, no period')
  t.ok(sameModel('GPT-4O', 'gpt-4o') && sameModel('openai/gpt-4o-2024-08-06', 'gpt-4o') && !sameModel('gpt-4o-mini', 'gpt-4o'))
})

t.test('the time range: the period asked for, said back, and the nearest one with data when it has none', async (t) => {
  t.strictSame(extractEntities('spend between Jul 10 and Jul 20?', PROFILE).time_range,
    { text: 'between Jul 10 and Jul 20', from: '2025-07-10', to: '2025-07-20', label: '10–20 Jul 2025', covered: { from: '2025-07-10', to: '2025-07-20' } })
  t.strictSame(extractEntities('since June', PROFILE).time_range,
    { text: 'since June', from: '2025-06-01', to: '2025-08-01', label: '1 Jun – 1 Aug 2025', covered: { from: '2025-07-02', to: '2025-07-31' } })
  t.strictSame(extractEntities('yesterday', PROFILE).time_range,
    { text: 'yesterday', from: '2025-07-31', to: '2025-07-31', label: '31 Jul 2025', covered: { from: '2025-07-31', to: '2025-07-31' } }, 'yesterday is the day before today')
  t.strictSame(extractEntities('in May', PROFILE).time_range,
    { text: 'May', from: '2025-05-01', to: '2025-05-31', label: '1–31 May 2025', covered: null, nearest: { from: '2025-07-02', to: '2025-07-31', label: '2–31 Jul 2025' } }, 'no data: the nearest days with data, as many as the data has')
  t.equal(extractEntities('we may save money', PROFILE).time_range, null)
})

const SHAPES: ReadonlyArray<readonly [string, QuestionShape]> = [
  ['Which model costs us most?', { kind: 'top', dimension: 'model', metric: 'cost' }],
  ['What is the most expensive feature?', { kind: 'top', dimension: 'feature', metric: 'cost' }],
  ['Which features use the most tokens?', { kind: 'top', dimension: 'feature', metric: 'tokens' }],
  ['top cost drivers', { kind: 'top', dimension: 'driver', metric: 'cost' }],
  ['Which provider gets most of our money?', { kind: 'top', dimension: 'provider', metric: 'cost' }],
  ['Break down spend by provider', { kind: 'breakdown', dimension: 'provider', metric: 'cost' }],
  ['Where does our AI money go?', { kind: 'breakdown', dimension: 'feature', metric: 'cost' }],
  ['What does the classify feature cost per request?', { kind: 'per_request', dimension: 'feature', metric: 'cost' }],
  ['How much did we spend last month?', { kind: 'total', dimension: 'model', metric: 'cost' }]
]

t.test('the shape of a spend question: a total, a top, a breakdown, a cost per request', async (t) => {
  for (const [q, shape] of SHAPES) t.strictSame(questionShape(q), shape, q)
})

t.test('the triage agent: intent, entities and whether the data suffices', async (t) => {
  const run = await runPackAgent('triage', 'Why did summarise spike in August?', sample)
  t.strictSame(run.tools, [{ agent: 'triage', tool: 'usage_profile', args: {} }])
  const r = run.result
  t.equal(r.intent, 'anomaly_investigation')
  t.strictSame(r.entities, { models: [], providers: [], features: ['summarise'], time_range: { text: 'August', from: '2025-08-01', to: '2025-08-31', label: '1–31 Aug 2025', covered: { from: '2025-08-02', to: '2025-08-31' } } })
  t.equal(r.today, '2025-09-01')
  t.equal(r.data.records, sample.length)
  t.equal(r.data_sufficient, true)
  t.strictSame(r.agents, ['data', 'anomaly'])
  t.equal(run.thoughts('triage').length, 2)
  t.equal(run.thoughts('triage')[0], 'The question reads as anomaly investigation (from "spike", "why did summarise spike"). Checking what usage data there is.')
  t.equal(run.thoughts('triage')[1], `${sample.length} records over 30 days. Enough data for this question. The question asks about 1–31 Aug 2025. Next: data, anomaly.`)

  const hello = (await runPackAgent('triage', 'hello', sample)).result
  t.strictSame([hello.intent, hello.agents], ['greeting', []], 'a greeting runs no analysis')
  const weather = (await runPackAgent('triage', 'What is the weather in Paris?', sample)).result
  t.strictSame([weather.intent, weather.agents], ['off_topic', []])
  const named = (await runPackAgent('triage', 'summarise?', sample)).result
  t.strictSame([named.intent, named.agents], ['general_question', ['data']], 'a bare feature name of the user\'s is a question about its spend')

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
