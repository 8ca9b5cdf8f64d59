import t from 'tap'
import { batching } from '../../src/tools/batching.js'
import { outputCaps } from '../../src/tools/output-caps.js'
import { promptCaching } from '../../src/tools/prompt-caching.js'
import { bySavings, type Recommendation } from '../../src/tools/recommendation.js'
import { isSimpleTask, rightsizing } from '../../src/tools/rightsizing.js'
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
        target_choice: 'the model of that tier the feature already uses most',
        moves: [
          { from: 'mid-a', to: 'small-a', requests: 2, current_cost_usd: 5.7, new_cost_usd: 1.35 },
          { from: 'mid-b', to: 'small-a', requests: 1, current_cost_usd: 4.5, new_cost_usd: 0.7 }
        ],
        feature_requests: 5,
        requests_already_on_target_tier: 1,
        period_savings_usd: 8.15
      },
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
  t.equal(r[0].evidence.target_choice, 'the cheapest model of that tier from the same provider')
  t.equal(r[0].confidence, 'medium', 'nothing of it on the target tier yet')
  t.equal(r[0].monthly_savings_usd, 117, '1.90 + 2.00 in one day, ×30')
})

t.test('which features count as simple tasks', async (t) => {
  for (const f of ['classify', 'ticket-classification', 'extract_fields', 'summarise', 'Summarize', 'auto_tagging', 'sentiment', 'intent-detect', 'pdf-parse']) t.ok(isSimpleTask(f), f)
  for (const f of ['chat', 'agent', 'code-review', 'search', 'attagging']) t.notOk(isSimpleTask(f), f)
})

t.test('prompt caching: repeats of a long shared prefix at the cached-input price', async (t) => {
  const records = [
    // h1 on mid-a: three requests; the shortest prompt (250k) bounds the shared prefix
    rec({ at: '2025-07-01T10:00:00.000Z', model: 'mid-a', feature: 'faq', input: 300_000, hash: 'h1', cost: 0.6 }),
    rec({ at: '2025-07-01T10:30:00.000Z', model: 'mid-a', feature: 'faq', input: 250_000, cached: 40_000, hash: 'h1', cost: 0.44 }),
    rec({ at: '2025-07-02T10:00:00.000Z', model: 'mid-a', feature: 'faq', input: 400_000, hash: 'h1', cost: 0.8 }),
    // the same prompt on another model is another cache
    rec({ at: '2025-07-02T11:00:00.000Z', model: 'mid-b', feature: 'faq', input: 100_000, hash: 'h1', cost: 0.3 }),
    // asked once
    rec({ at: '2025-07-02T12:00:00.000Z', model: 'mid-a', feature: 'faq', input: 100_000, hash: 'h2', cost: 0.2 }),
    // repeated, but shorter than the providers cache
    rec({ at: '2025-07-01T09:00:00.000Z', model: 'mid-a', feature: 'faq', input: 800, hash: 'h3', cost: 0.0016 }),
    rec({ at: '2025-07-02T09:00:00.000Z', model: 'mid-a', feature: 'faq', input: 800, hash: 'h3', cost: 0.0016 }),
    // no hash
    rec({ at: '2025-07-02T13:00:00.000Z', model: 'mid-a', feature: 'faq', input: 50_000, cost: 0.1 })
  ]
  // total 2.4432 over 2 days (×15). Repeats of h1: (250k − 40k cached) + 250k = 460k tokens × (2 − 0.5) / 1e6 = 0.69
  // → 10.35 a month, 28.24% of spend; one of the two repeats within the hour: medium confidence
  const all = promptCaching(records, { table })
  t.strictSame(all, {
    period: { from: '2025-07-01', to: '2025-07-02', days: 2 },
    monthly_spend_usd: 36.65,
    recommendations: [{
      type: 'caching',
      title: 'Cache the repeated prompt prefixes of faq',
      monthly_savings_usd: 10.35,
      savings_pct: 28.24,
      confidence: 'medium',
      evidence: {
        feature: 'faq',
        requests: 8,
        repeated_prompts: 1,
        repeat_requests: 2,
        repeats_within_1h: 1,
        input_tokens: 1_201_600,
        cacheable_input_tokens: 460_000,
        cacheable_share: 0.3828,
        estimated_prefix_tokens: { min: 250_000, max: 250_000 },
        min_prompt_tokens: 1024,
        period_savings_usd: 0.69
      },
      risk: 'Savings assume every repeat finds the prefix still cached; providers keep it for minutes to an hour, so ' +
        'repeats further apart miss, and Anthropic bills cache writes above the input price. The shared prefix must open the prompt.'
    }]
  })
  // with no minimum, h3's repeat (800 tokens × 1.5 / 1e6 = 0.0012) counts too: 0.6912 → 10.37
  const short = promptCaching(records, { table, min_prompt_tokens: 0 }).recommendations[0]
  t.equal(short.monthly_savings_usd, 10.37)
  t.match(short.evidence, { repeated_prompts: 2, repeat_requests: 3, repeats_within_1h: 1, cacheable_input_tokens: 460_800, estimated_prefix_tokens: { min: 800, max: 250_000 } })
  t.equal(short.confidence, 'medium', 'one warm repeat in three')

  // an hourly aggregate of 5 identical requests: 4 repeats within its hour, plus the next line's 3
  const agg = promptCaching([
    rec({ at: '2025-07-01T10:00:00.000Z', model: 'mid-a', feature: 'bot', input: 5 * 2000, hash: 'h', requests: 5, cost: 0.02 }),
    rec({ at: '2025-07-01T10:40:00.000Z', model: 'mid-a', feature: 'bot', input: 3 * 2000, cached: 3 * 500, hash: 'h', requests: 3, cost: 0.01 })
  ], { table }).recommendations[0]
  // (4 × 2000 + 3 × (2000 − 500)) × 1.5 / 1e6 = 0.01875 a day → 0.5625 → $0.56
  t.match(agg.evidence, { requests: 8, repeat_requests: 7, repeats_within_1h: 7, cacheable_input_tokens: 12_500, estimated_prefix_tokens: { min: 2000, max: 2000 } })
  t.equal(agg.monthly_savings_usd, 0.56)
  t.equal(agg.confidence, 'high')
})

t.test('batching: offline features at the batch discount of their models', async (t) => {
  const records = [
    rec({ at: '2025-07-01', model: 'mid-a', feature: 'nightly-report', cost: 4 }),
    rec({ at: '2025-07-05', model: 'tiny-a', feature: 'nightly-report', cost: 1 }),
    rec({ at: '2025-07-05', model: 'mid-b', feature: 'nightly-report', cost: 2 }),
    rec({ at: '2025-07-08', model: 'small-b', feature: 'enrich', cost: 3, requests: 6 }),
    rec({ at: '2025-07-10', model: 'mid-a', feature: 'chat', cost: 10 })
  ]
  // total 20 over 10 days (×3). nightly-report: only mid-a has a batch API here: 4 × 0.5 = 2 → 6.00 a month, 10%
  const nightly: Recommendation = {
    type: 'batching',
    title: 'Send nightly-report through the batch API',
    monthly_savings_usd: 6,
    savings_pct: 10,
    confidence: 'medium',
    evidence: {
      feature: 'nightly-report',
      reason: 'its name marks it as offline work',
      requests: 3,
      batchable_requests: 1,
      cost_usd: 7,
      batch_discount_by_model: { 'mid-a': 0.5 },
      period_savings_usd: 2
    },
    risk: 'Batch results come back within 24 hours, not seconds: only for nightly-report work nobody waits on, with a fallback to the live API when a batch is late.'
  }
  t.strictSame(batching(records, { table }), { period: { from: '2025-07-01', to: '2025-07-10', days: 10 }, monthly_spend_usd: 60, recommendations: [nightly] })
  // enrich, named by the caller: 3 × 0.5 = 1.5 → 4.50 a month, 7.5%, after nightly-report's 6.00
  const listed = batching(records, { table, features: ['enrich'] }).recommendations
  t.strictSame(listed.map((r) => [r.title, r.monthly_savings_usd, r.savings_pct, r.confidence]), [
    ['Send nightly-report through the batch API', 6, 10, 'medium'],
    ['Send enrich through the batch API', 4.5, 7.5, 'high']
  ])
  t.match(listed[1].evidence, { requests: 6, batchable_requests: 6, reason: 'named latency-insensitive by the caller' })
  t.strictSame(batching(records, { table, features: ['chat-without-records'] }).recommendations, [nightly])
})

t.test('output caps: features whose long tail runs far past the median', async (t) => {
  const outputs = [...Array(10).fill(10_000), ...Array(5).fill(15_000), 20_000, 20_000, 30_000, 100_000, 200_000]
  const records = [
    ...outputs.map((o, i) => rec({ at: `2025-07-0${1 + (i % 6)}`, model: 'mid-a', feature: 'chat', output: o, cost: o * 8 / 1e6 })),
    // an hourly aggregate says nothing of the tail
    rec({ at: '2025-07-03', model: 'mid-a', feature: 'chat', output: 1_000_000, requests: 5, cost: 0.5 }),
    // too few requests to judge
    ...[1, 1, 1, 1, 900_000].map((o) => rec({ at: '2025-07-02', model: 'mid-a', feature: 'short', output: o, cost: 0.1 }))
  ]
  // nearest rank over 20 outputs: p50 = 10k (10th), p90 = 30k (18th), p95 = 100k (19th), ten times the median.
  // Capping at 30k trims 70k + 170k = 240k tokens × 8 / 1e6 = 1.92 over 6 days (×5) → 9.60 a month;
  // total 4.36 + 0.5 + 0.5 = 5.36, so 35.82%
  t.strictSame(outputCaps(records, { table }), {
    period: { from: '2025-07-01', to: '2025-07-06', days: 6 },
    monthly_spend_usd: 26.8,
    recommendations: [{
      type: 'limits',
      title: 'Cap chat output at 30000 tokens',
      monthly_savings_usd: 9.6,
      savings_pct: 35.82,
      confidence: 'medium',
      evidence: {
        feature: 'chat',
        requests: 20,
        p50_output_tokens: 10_000,
        p90_output_tokens: 30_000,
        p95_output_tokens: 100_000,
        max_output_tokens: 200_000,
        cap_tokens: 30_000,
        capped_requests: 2,
        capped_share: 0.1,
        output_tokens_trimmed: 240_000,
        period_savings_usd: 1.92
      },
      risk: '10% of chat responses run past the cap and would be cut off: ask for brevity in the prompt and watch for truncated answers (finish_reason "length").'
    }]
  })
  t.strictSame(outputCaps(records, { table, ratio: 11 }).recommendations, [], 'p95 is 10× the median, not 11×')
  t.equal(outputCaps(records, { table, min_requests: 5 }).recommendations.length, 1, 'five requests are judged, but their p90 is their longest: nothing to trim')
})

t.test('recommendations sort by monthly savings, ties by type then title', async (t) => {
  const r = (type: Recommendation['type'], title: string, monthly: number): Recommendation =>
    ({ type, title, monthly_savings_usd: monthly, savings_pct: 0, confidence: 'low', evidence: {}, risk: '' })
  const sorted = bySavings([r('limits', 'a', 1), r('caching', 'b', 30.5), r('tiering', 'c', 30.5), r('caching', 'a', 30.5), r('routing', 'd', 200)])
  t.strictSame(sorted.map((x) => `${x.type}/${x.title}/${x.monthly_savings_usd}`), ['routing/d/200', 'caching/a/30.5', 'caching/b/30.5', 'tiering/c/30.5', 'limits/a/1'])
})
