import t from 'tap'
import { batching } from '../../src/tools/batching.js'
import { outputCaps } from '../../src/tools/output-caps.js'
import { promptCaching } from '../../src/tools/prompt-caching.js'
import { bySavings, type Recommendation } from '../../src/tools/recommendation.js'
import { isSimpleTask, rightsizing } from '../../src/tools/rightsizing.js'
import { findRetryStorms } from '../../src/tools/retry-storms.js'
import { roundCents, roundTo } from '../../src/tools/money.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { TABLE, rec } from '../helpers/analysis-fixtures.js'

const table = TABLE

t.test('right-sizing: simple tasks move down to the cheapest tier, mixed features route their top tier', async (t) => {
  const records = [
    // classify: a simple task on standard models, and some already on economy
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'classify', input: 1_000_000, output: 100_000, cost: 2.8 }),
    rec({ at: '2025-07-02', model: 'mid-a', feature: 'classify', input: 2_000_000, cached: 1_000_000, output: 50_000, cost: 2.9 }),
    rec({ at: '2025-07-02', model: 'mid-b', feature: 'classify', input: 1_000_000, output: 100_000, cost: 4.5 }),
    rec({ at: '2025-07-03', model: 'small-a', feature: 'classify', input: 1_000_000, output: 100_000, cost: 0.7 }),
    rec({ at: '2025-07-03', model: 'mystery-model', feature: 'classify', input: 1_000_000, output: 100_000, cost: 0.5 }),
    // chat: mostly standard, one premium request
    rec({ at: '2025-07-01', model: 'big-a', feature: 'chat', input: 100_000, output: 10_000, cost: 1.4 }),
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'chat', input: 100_000, output: 10_000, cost: 0.28 }),
    rec({ at: '2025-07-02', model: 'mid-a', feature: 'chat', input: 100_000, output: 10_000, cost: 0.28 }),
    rec({ at: '2025-07-03', model: 'mid-b', feature: 'chat', input: 100_000, output: 10_000, cost: 0.45 }),
    // no feature: nothing to say what it needs
    rec({ at: '2025-07-03', model: 'big-a', input: 500_000, cost: 5 })
  ]
  // total 18.81 over 3 days: ×10 for a 30-day month
  // classify already runs on small-a, so small-a is the target for both (a cheaper tiny-a would be unproven):
  //   mid-a (2.8 + 2.9 = 5.7) at small-a: (0.5 + 0.2) + (0.5 + 0.05 + 0.1) = 1.35;
  //   mid-b 4.5 at small-a: 0.5 + 0.2 = 0.7. Saves 4.35 + 3.8 = 8.15 → 81.50 a month, 43.33%
  // chat: big-a 1.4 at mid-a (2 of the 3 lower-tier requests): 0.2 + 0.08 = 0.28. Saves 1.12 → 11.20 a month, 5.95%
  t.strictSame(rightsizing(records, { table }), {
    period: { from: '2025-07-01', to: '2025-07-03', days: 3 },
    monthly_spend_usd: 188.1,
    recommendations: [{
      type: 'tiering',
      title: 'Move classify to the economy tier: mid-a → small-a, mid-b → small-a',
      monthly_savings_usd: 81.5,
      savings_pct: 43.33,
      confidence: 'high',
      evidence: {
        feature: 'classify',
        reason: 'a simple task (by its name) served above the cheapest tier',
        target_tier: 'economy',
        target_choice: 'the current model of that tier the feature already uses most',
        moves: [
          { from: 'mid-a', to: 'small-a', requests: 2, current_cost_usd: 5.7, new_cost_usd: 1.35 },
          { from: 'mid-b', to: 'small-a', requests: 1, current_cost_usd: 4.5, new_cost_usd: 0.7 }
        ],
        feature_requests: 5,
        requests_already_on_target_tier: 1,
        period_savings_usd: 8.15
      },
      assumptions: [
        'the new model needs the same input and output tokens as the current one',
        'run the classify evaluation set on small-a next to mid-a and compare quality before moving traffic',
        'run the classify evaluation set on small-a next to mid-b and compare quality before moving traffic'
      ],
      risk: 'A smaller model may miss edge cases in classify: run its evaluation set on the new model first and roll out gradually.'
    }, {
      type: 'routing',
      title: 'Route chat requests from big-a to mid-a',
      monthly_savings_usd: 11.2,
      savings_pct: 5.95,
      confidence: 'medium',
      evidence: {
        feature: 'chat',
        reason: 'most of chat already runs on a lower tier',
        moves: [{ from: 'big-a', to: 'mid-a', requests: 1, current_cost_usd: 1.4, new_cost_usd: 0.28 }],
        top_tier_requests: 1,
        lower_tier_requests: 3,
        lower_tier_share: 0.75,
        target_model_requests: 2,
        period_savings_usd: 1.12
      },
      assumptions: [
        'the chat requests on the top tier are like those the lower tier already serves',
        'the new model needs the same input and output tokens as the current one',
        'run the chat evaluation set on mid-a next to big-a and compare quality before moving traffic'
      ],
      risk: 'The chat requests on the top tier may be its hardest ones: route by a difficulty signal or A/B test, and keep the larger model as a fallback.'
    }]
  })
})

t.test('right-sizing: what it leaves alone', async (t) => {
  const quiet = rightsizing([
    // a simple task already on the cheapest tier
    rec({ at: '2025-07-01', model: 'tiny-a', feature: 'extract', input: 1000, cost: 0.0001 }),
    // a mixed feature whose top tier carries most requests: the top tier is what it needs
    rec({ at: '2025-07-01', model: 'big-a', feature: 'agent', input: 1000, cost: 0.01 }),
    rec({ at: '2025-07-01', model: 'big-a', feature: 'agent', input: 1000, cost: 0.01 }),
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'agent', input: 1000, cost: 0.002 }),
    // one tier only
    rec({ at: '2025-07-01', model: 'mid-b', feature: 'chat', input: 1000, cost: 0.003 }),
    // a recorded cost already below the cheaper model's list price (a negotiated rate): no saving
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'tagging', input: 1_000_000, cost: 0.05 })
  ], { table })
  t.strictSame(quiet.recommendations, [])
  t.strictSame(rightsizing([], { table }), { period: null, monthly_spend_usd: 0, recommendations: [] })

  // an aggregated record counts its requests; `simple_features` adds a task the name does not show;
  // with nothing on the cheapest tier yet, the target is its provider's cheapest model for this traffic
  const r = rightsizing([
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'triage-bot', input: 1_000_000, cost: 2, requests: 40 }),
    rec({ at: '2025-07-01', model: 'mid-b', feature: 'triage-bot', input: 1_000_000, cost: 3, requests: 10 })
  ], { table, simple_features: ['triage-bot'] }).recommendations
  t.equal(r.length, 1)
  t.strictSame(r[0].evidence.moves, [
    { from: 'mid-a', to: 'tiny-a', requests: 40, current_cost_usd: 2, new_cost_usd: 0.1 },
    { from: 'mid-b', to: 'small-b', requests: 10, current_cost_usd: 3, new_cost_usd: 1 }
  ])
  t.equal(r[0].evidence.target_choice, 'the cheapest current model of that tier from the same provider')
  t.equal(r[0].confidence, 'medium', 'nothing of it on the target tier yet')
  t.equal(r[0].monthly_savings_usd, 117, '1.90 + 2.00 in one day, ×30; the deprecated old-a and the reasoning think-a, though cheaper, are no targets')

  // a feature proven on a deprecated model is still moved only to a current one
  const proven = rightsizing([
    rec({ at: '2025-07-01', model: 'old-a', feature: 'classify', input: 1_000_000, cost: 0.05 }),
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'classify', input: 1_000_000, cost: 2 })
  ], { table }).recommendations
  t.strictSame(proven[0].evidence.moves, [{ from: 'mid-a', to: 'tiny-a', requests: 1, current_cost_usd: 2, new_cost_usd: 0.1 }])
  // a reasoning model is a target only for traffic that reasons already
  const reasoningTable = { ...table, models: { ...table.models, 'big-r': { ...table.models['big-a'], reasoning: true } } } as typeof table
  const fromReasoning = rightsizing([rec({ at: '2025-07-01', model: 'big-r', feature: 'classify', input: 1_000_000, cost: 10 })], { table: reasoningTable }).recommendations
  t.strictSame(fromReasoning[0].evidence.moves, [{ from: 'big-r', to: 'think-a', requests: 1, current_cost_usd: 10, new_cost_usd: 0.05 }])
})

t.test('which features count as simple tasks', async (t) => {
  for (const f of ['classify', 'ticket-classification', 'extract_fields', 'summarise', 'Summarize', 'auto_tagging', 'sentiment', 'intent-detect', 'pdf-parse']) t.ok(isSimpleTask(f), f)
  for (const f of ['chat', 'agent', 'code-review', 'search', 'attagging']) t.notOk(isSimpleTask(f), f)
})

/**
 * The cache replay worked out again without the pack's code: every request in time order (an
 * aggregate's n requests evenly spaced over its hour), a prefix alive for `ttl` seconds after its
 * last use; a hit reads at the cached price, a miss writes at the write price.
 */
function replayByHand (records: UsageRecord[], prefix: number, p: { input: number, cached_input: number }, write: number, ttlS: number) {
  const times: Array<{ at: number, cachedNow: number }> = []
  for (const r of records) {
    const n = r.requests ?? 1
    const at = Date.parse(r.timestamp)
    const hour = Math.floor(at / 3_600_000) * 3_600_000
    for (let i = 0; i < n; i++) times.push({ at: n === 1 ? at : hour + (i + 0.5) * 3_600_000 / n, cachedNow: Math.min(prefix, (r.cached_tokens ?? 0) / n) })
  }
  times.sort((x, y) => x.at - y.at)
  let alive = -Infinity
  let hits = 0
  let now = 0
  let cached = 0
  for (const x of times) {
    now += (x.cachedNow * p.cached_input + (prefix - x.cachedNow) * p.input) / 1e6
    if (x.at - alive <= ttlS * 1000) { hits++; cached += prefix * p.cached_input / 1e6 } else cached += prefix * write / 1e6
    alive = x.at
  }
  return { hits, writes: times.length - hits, saving: now - cached }
}

t.test('prompt caching: replayed on the real request times under the provider\'s rules, recomputed by hand', async (t) => {
  const at = (hhmm: string, day = '2025-07-01') => `${day}T${hhmm}:00.000Z`
  const faq = (when: string) => rec({ at: when, model: 'mid-b', feature: 'faq', hash: 'faq-prompt', input: 10_000, output: 100, cost: (10_000 * 3 + 100 * 15) / 1e6 })
  const records = ['09:00', '09:02', '09:04', '09:34', '10:34', '10:36'].map((h) => faq(at(h))).concat(faq(at('09:00', '2025-07-02')))
  // 5 min: write, hit, hit, write, write, hit, write → 3 hits, 4 writes at 1.25× input; 1 h: only 09:00 on each day writes
  const five = replayByHand(records, 10_000, TABLE.models['mid-b'], 3.75, 300)
  const hour = replayByHand(records, 10_000, TABLE.models['mid-b'], 6, 3600)
  t.strictSame([five.hits, five.writes, hour.hits, hour.writes], [3, 4, 5, 2])
  t.ok(Math.abs(five.saving - 0.051) < 1e-12 && Math.abs(hour.saving - 0.075) < 1e-12, '(0.21 − 0.159) and (0.21 − 0.135) by hand')
  const r = promptCaching(records, { table })
  t.equal(r.recommendations.length, 1)
  const c = r.recommendations[0]
  t.equal(c.title, 'Cache the repeated prompt prefixes of faq (1 h TTL)', 'the TTL that saves most')
  t.equal(c.monthly_savings_usd, roundCents(hour.saving * 15), 'two days: ×15 for a month')
  t.match(c.evidence, { cache_hits: 5, cache_writes: 2, hit_share: 0.7143, period_savings_by_ttl_usd: { '5 min': roundCents(five.saving), '1 h': roundCents(hour.saving) }, period_savings_usd: roundCents(hour.saving) })
  t.equal(c.confidence, 'medium', 'five hits in seven')
  t.match(c.assumptions[1], /^anthropic: prefixes of 1024\+ tokens, marked with cache_control, 5 min TTL writes at 1\.25× input, 1 h TTL writes at 2× input, reads at 0\.1× input$/)

  // every two hours: each request writes again, at a surcharge: caching would cost more, so it is not recommended
  const sparse = ['08:00', '10:00', '12:00', '14:00'].map((h) => faq(at(h)))
  t.ok(replayByHand(sparse, 10_000, TABLE.models['mid-b'], 6, 3600).saving < 0 && replayByHand(sparse, 10_000, TABLE.models['mid-b'], 3.75, 300).saving < 0)
  t.strictSame(promptCaching(sparse, { table }).recommendations, [])

  // an hourly aggregate: 3,600 requests a second apart all hit after the first, on OpenAI's automatic cache (no surcharge)
  const agg = [rec({ at: at('09:15'), model: 'mid-a', feature: 'bulk', hash: 'h', input: 3600 * 2000, output: 0, requests: 3600, cost: 3600 * 2000 * 2 / 1e6 }),
    rec({ at: at('09:15', '2025-07-02'), model: 'mid-a', feature: 'bulk', hash: 'h', input: 3600 * 2000, output: 0, requests: 3600, cost: 3600 * 2000 * 2 / 1e6 })]
  const byHand = replayByHand(agg, 2000, TABLE.models['mid-a'], 2, 300)
  t.strictSame([byHand.hits, byHand.writes], [7198, 2])
  const bulk = promptCaching(agg, { table }).recommendations[0]
  t.equal(bulk.monthly_savings_usd, roundCents(byHand.saving * 15))
  t.equal(bulk.confidence, 'medium', 'aggregates make it an estimate')
  t.ok(bulk.assumptions.includes('an hourly aggregate\'s requests are taken as evenly spread over its hour'))

  // prefixes below the provider's minimum are not cacheable; models without cache rules neither
  t.strictSame(promptCaching([faq(at('09:00')), rec({ at: at('09:01'), model: 'mid-b', feature: 'faq', hash: 'faq-prompt', input: 1000, cost: 0.003 })], { table }).recommendations, [])
  t.strictSame(promptCaching(['09:00', '09:01'].map((h) => rec({ at: at(h), model: 'small-a', feature: 'x', hash: 'h', input: 10_000, cost: 0.005 })), { table }).recommendations, [])
})

t.test('a retry storm is a bug with its cost, not a caching opportunity', async (t) => {
  const storm = Array.from({ length: 30 }, (_, i) => rec({ at: `2025-07-01T10:00:${String(i * 2).padStart(2, '0')}.000Z`, model: 'mid-b', feature: 'summarise', hash: 'same', input: 8000, output: 200, cost: (8000 * 3 + 200 * 15) / 1e6 }))
  const normal = ['09:00', '11:00', '13:00'].map((h) => rec({ at: `2025-07-01T${h}:00.000Z`, model: 'mid-b', feature: 'summarise', hash: 'same', input: 8000, output: 200, cost: 0.027 }))
  const other = rec({ at: '2025-07-02T12:00:00.000Z', model: 'small-a', feature: 'x', cost: 1 })
  const records = [...storm, ...normal, other]
  const report = findRetryStorms(records)
  t.strictSame(report.storms, [{ feature: 'summarise', model: 'mid-b', prompt_hash: 'same', input_tokens: 8000, from: storm[0].timestamp, to: storm[29].timestamp, requests: 30, cost_usd: 0.81, wasted_usd: 0.78 }])
  t.strictSame(report.request_ids, storm.map((r) => r.request_id))
  const [fix] = report.recommendations
  t.match(fix, { type: 'retries', title: 'Fix the retry storm in summarise: the same prompt sent 30 times in bursts of up to 1 min', confidence: 'high' })
  t.equal(fix.monthly_savings_usd, roundCents(29 * 0.027 * 15), 'the 29 retries, over two days, per month')
  // left out of the cache replay, nothing in the rest repeats within any TTL that would pay
  t.strictSame(promptCaching(records, { table, exclude: new Set(report.request_ids) }).recommendations, [])
  t.ok(promptCaching(records, { table }).recommendations.length === 1, 'without the exclusion the storm would look like a perfect cache')
  t.strictSame(findRetryStorms(normal).storms, [], 'the same prompt hours apart is no storm')
})

t.test('batching: found by the traffic pattern, not by the name', async (t) => {
  const days = Array.from({ length: 14 }, (_, d) => `2025-07-${String(1 + d).padStart(2, '0')}`)
  const weekday = (day: string) => ![0, 6].includes(new Date(day).getUTCDay())
  const records = [
    // an enrichment job at 01:00–04:59 UTC every day, weekends too: no telling name
    ...days.flatMap((day) => [1, 2, 3, 4].map((h) => rec({ at: `${day}T0${h}:30:00.000Z`, model: 'mid-a', feature: 'enrich', cost: 1 }))),
    // named like a job, but people run it in office hours on weekdays
    ...days.filter(weekday).flatMap((day) => [9, 11, 14, 16].map((h) => rec({ at: `${day}T${String(h).padStart(2, '0')}:00:00.000Z`, model: 'mid-a', feature: 'nightly-report', cost: 1 }))),
    // interactive traffic at night is still interactive
    ...days.flatMap((day) => [1, 2].map((h) => rec({ at: `${day}T0${h}:00:00.000Z`, model: 'mid-a', feature: 'support-chat', cost: 1 }))),
    // a scheduled job on a model without a batch API saves nothing
    ...days.map((day) => rec({ at: `${day}T03:00:00.000Z`, model: 'tiny-a', feature: 'digest', cost: 1 }))
  ]
  const found = batching(records, { table }).recommendations
  t.strictSame(found.map((r) => r.title), ['Send enrich through the batch API'])
  t.match(found[0], { confidence: 'high', monthly_savings_usd: roundCents(56 * 0.5 * 30 / 14) })
  t.match(found[0].evidence, { hours_utc: '01–05 UTC', share_in_hours: 1, weekend_to_weekday: 1, batchable_requests: 56 })
  t.equal(found[0].evidence.reason, '100% of its requests come at 01–05 UTC, weekends as much as weekdays: a scheduled job')
  const listed = batching(records, { table, features: ['nightly-report'] }).recommendations
  t.strictSame(listed.map((r) => [r.title, r.confidence]), [['Send enrich through the batch API', 'high'], ['Send nightly-report through the batch API', 'high']])
  t.equal(listed[1].evidence.reason, 'named latency-insensitive by the caller')
})

t.test('output caps: features whose long tail runs far past the median, never on reasoning models or interactive features', async (t) => {
  const outputs = [...Array(10).fill(10_000), ...Array(5).fill(15_000), 20_000, 20_000, 30_000, 100_000, 200_000]
  const make = (model: string, feature: string) => outputs.map((o, i) => rec({ at: `2025-07-0${1 + (i % 6)}`, model, feature, output: o, cost: o * 8 / 1e6 }))
  const records = [
    ...make('mid-a', 'writer'),
    // an hourly aggregate says nothing of the tail
    rec({ at: '2025-07-03', model: 'mid-a', feature: 'writer', output: 1_000_000, requests: 5, cost: 0.5 }),
    // too few requests to judge
    ...[1, 1, 1, 1, 900_000].map((o) => rec({ at: '2025-07-02', model: 'mid-a', feature: 'short', output: o, cost: 0.1 })),
    ...make('think-a', 'planner'),
    ...make('mid-a', 'support-chat')
  ]
  const total = records.reduce((s, r) => s + r.cost_usd, 0)
  // nearest rank over 20 outputs: p50 = 10k, p90 = 30k, p95 = 100k; capping at 30k trims 240k tokens × 8 / 1e6 = 1.92 over 6 days
  const r = outputCaps(records, { table })
  t.strictSame(r.recommendations.map((x) => x.title), ['Cap writer output at 30000 tokens'], 'not planner (reasoning), not support-chat (interactive)')
  t.match(r.recommendations[0], { monthly_savings_usd: 9.6, savings_pct: roundTo(100 * 1.92 / total, 2), confidence: 'medium' })
  t.match(r.recommendations[0].evidence, { requests: 20, p50_output_tokens: 10_000, p90_output_tokens: 30_000, p95_output_tokens: 100_000, capped_requests: 2, output_tokens_trimmed: 240_000, period_savings_usd: 1.92 })
  t.strictSame(outputCaps(records, { table, ratio: 11 }).recommendations, [], 'p95 is 10× the median, not 11×')
  t.equal(outputCaps(records, { table, min_requests: 5 }).recommendations.length, 1, 'five requests are judged, but their p90 is their longest: nothing to trim')
})

t.test('recommendations sort by monthly savings, ties by type then title', async (t) => {
  const r = (type: Recommendation['type'], title: string, monthly: number): Recommendation =>
    ({ type, title, monthly_savings_usd: monthly, savings_pct: 0, confidence: 'low', evidence: {}, assumptions: [], risk: '' })
  const sorted = bySavings([r('limits', 'a', 1), r('caching', 'b', 30.5), r('tiering', 'c', 30.5), r('caching', 'a', 30.5), r('routing', 'd', 200)])
  t.strictSame(sorted.map((x) => `${x.type}/${x.title}/${x.monthly_savings_usd}`), ['routing/d/200', 'caching/a/30.5', 'caching/b/30.5', 'tiering/c/30.5', 'limits/a/1'])
})
