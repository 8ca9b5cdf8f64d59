import t from 'tap'
import { roundCents } from '../../src/tools/money.js'
import { costOf, priceOf } from '../../src/tools/prices.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { generateSample, SAMPLE_FACTS, sampleRecords, USAGE_PROFILES, type UsageProfile } from '../../src/usage/sample.js'

const day = (r: UsageRecord) => r.timestamp.slice(0, 10)
const weekday = (d: string) => new Date(`${d}T00:00:00Z`).getUTCDay()
const requestsOf = (r: UsageRecord) => r.requests ?? 1
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
/** raw cost per UTC day of the records that pass `keep` */
function dailyCost (records: readonly UsageRecord[], keep: (r: UsageRecord) => boolean) {
  const out = new Map<string, number>()
  for (const r of records) if (keep(r)) out.set(day(r), (out.get(day(r)) ?? 0) + r.cost_usd)
  return out
}

const EXPECTED: Record<UsageProfile, { records: number, requests: number, total: number, first: UsageRecord }> = {
  enterprise: {
    records: 6000,
    requests: 2_908_429,
    total: 45_220.87,
    first: {
      timestamp: '2025-08-02T00:07:29.000Z',
      provider: 'anthropic',
      model: 'claude-opus-4',
      input_tokens: 36_195,
      output_tokens: 384,
      // 43 requests: (36,195 × $15 + 384 × $75) / 1e6
      cost_usd: 0.571725,
      latency_ms: 1573,
      feature: 'classify',
      prompt_hash: '2408eab7437b9dec',
      requests: 43,
      request_id: 'enterprise-0001'
    }
  },
  team: {
    records: 8535,
    requests: 8535,
    total: 477.18,
    first: {
      timestamp: '2025-08-02T00:31:01.000Z',
      provider: 'google',
      model: 'gemini-2.5-flash',
      input_tokens: 3427,
      output_tokens: 618,
      // (3,427 × $0.30 + 618 × $2.50) / 1e6 = 0.0025731
      cost_usd: 0.002573,
      latency_ms: 4072,
      feature: 'extract',
      request_id: 'team-0001'
    }
  }
}

for (const profile of USAGE_PROFILES) {
  const records = sampleRecords(profile)
  const facts = SAMPLE_FACTS[profile]
  const expected = EXPECTED[profile]

  t.test(`${profile}: deterministic, frozen, and exactly this many records`, async (t) => {
    t.equal(sampleRecords(profile), records, 'generated once')
    t.strictSame(generateSample(profile), records, 'a fresh generation is equal')
    t.equal(records.length, expected.records)
    t.equal(sum(records.map(requestsOf)), expected.requests)
    t.equal(roundCents(sum(records.map((r) => r.cost_usd))), expected.total)
    t.strictSame(records[0], expected.first)
    t.ok(Object.isFrozen(records) && records.every((r) => Object.isFrozen(r)))
    t.equal(new Set(records.map((r) => r.request_id)).size, records.length, 'request ids are unique')
    t.ok(records.every((r, i) => i === 0 || records[i - 1].timestamp <= r.timestamp), 'oldest first')
    t.ok(records.every((r) => facts.aggregated ? Number.isInteger(r.requests) && r.requests! >= 1 : r.requests === undefined),
      facts.aggregated ? 'every record aggregates requests' : 'one record per request')
  })

  t.test(`${profile}: 30 days, several providers and tiers, every cost from the catalogue`, async (t) => {
    t.strictSame(facts.period, { from: '2025-08-02', to: '2025-08-31', days: 30 })
    const days = [...new Set(records.map(day))]
    t.equal(days.length, 30)
    t.equal(days[0], facts.period.from)
    t.equal(days.at(-1), facts.period.to)
    t.strictSame([...new Set(records.map((r) => r.provider))].sort(), ['anthropic', 'google', 'openai'])
    t.strictSame([...new Set(records.map((r) => priceOf(r.model).tier))].sort(), ['economy', 'premium', 'standard'])
    t.strictSame([...new Set(records.map((r) => r.feature))].sort(),
      ['classify', 'code-review', 'extract', 'nightly-report', 'summarise', 'support-chat'])
    const wrong = records.filter((r) => {
      const cost = costOf(r.model, r)
      return Math.abs(cost - r.cost_usd) > 5e-7 + 1e-12 || Math.round(r.cost_usd * 1e6) / 1e6 !== r.cost_usd || r.provider !== priceOf(r.model).provider
    })
    t.strictSame(wrong, [], 'every cost is tokens × price, to 6 decimals')
    t.ok(records.every((r) => (r.cached_tokens ?? 0) <= r.input_tokens))
  })

  t.test(`${profile}: weekdays are busier than weekends`, async (t) => {
    const perDay = dailyCost(records, (r) => r.feature !== 'nightly-report')
    const weekdays = [...perDay].filter(([d]) => weekday(d) % 6 !== 0).map(([, c]) => c)
    const weekends = [...perDay].filter(([d]) => weekday(d) % 6 === 0).map(([, c]) => c)
    t.equal(weekdays.length, 20)
    t.equal(weekends.length, 10)
    t.ok(median(weekdays) > 2 * median(weekends), `weekday ${median(weekdays)} vs weekend ${median(weekends)}`)
  })

  t.test(`${profile}: the spike is on its days, in its feature and model, and nowhere else`, async (t) => {
    const { feature, model, days, factor } = facts.spike
    t.equal(factor, 6)
    const perDay = dailyCost(records, (r) => r.feature === feature && r.model === model)
    t.equal(perDay.size, 30)
    const usual = median([...perDay].filter(([d]) => !days.includes(d) && weekday(d) % 6 !== 0).map(([, c]) => c))
    for (const d of days) t.ok(perDay.get(d)! > 4 * usual, `${d}: ${perDay.get(d)} vs a usual weekday ${usual}`)
    const others = [...perDay].filter(([d]) => !days.includes(d))
    t.ok(others.every(([, c]) => c < 1.5 * usual), 'no other day of the stream is far above the usual')
    // the stream's spike shows in the whole day's spend too
    const all = dailyCost(records, () => true)
    const usualDay = median([...all].filter(([d]) => !days.includes(d) && weekday(d) % 6 !== 0).map(([, c]) => c))
    for (const d of days) t.ok(all.get(d)! > 1.2 * usualDay, `${d} total ${all.get(d)} vs ${usualDay}`)
  })

  t.test(`${profile}: nightly-report runs only at night, every night: batchable`, async (t) => {
    const { feature, models, hours_utc } = facts.batchable
    t.strictSame(hours_utc, [1, 2, 3, 4])
    const nightly = records.filter((r) => r.feature === feature)
    t.strictSame([...new Set(nightly.map((r) => r.model))].sort(), [...models].sort())
    t.ok(nightly.every((r) => hours_utc.includes(new Date(r.timestamp).getUTCHours())))
    t.equal(new Set(nightly.map(day)).size, 30)
    t.ok(records.filter((r) => models.includes(r.model) && r.feature !== feature).every((r) => r.feature !== 'nightly-report'))
  })

  t.test(`${profile}: a premium model does part of a simple feature`, async (t) => {
    const { feature, model, tier, cheaper_model } = facts.right_sizing
    t.strictSame({ feature, model, tier, cheaper_model }, { feature: 'classify', model: 'claude-opus-4', tier: 'premium', cheaper_model: 'gpt-4.1-mini' })
    const classify = records.filter((r) => r.feature === feature)
    t.strictSame([...new Set(classify.map((r) => r.model))].sort(), [model, cheaper_model].sort())
    const premium = sum(classify.filter((r) => r.model === model).map(requestsOf)) / sum(classify.map(requestsOf))
    t.ok(premium > 0.1 && premium < 0.4, `premium share of classify requests ${premium}`)
    const perRequestOutput = classify.map((r) => r.output_tokens / requestsOf(r))
    t.ok(perRequestOutput.every((n) => n >= 2 && n <= 12), 'a label: a few output tokens')
  })

  t.test(`${profile}: repeated prompts share a few prompt_hash values`, async (t) => {
    t.strictSame(facts.repeated_prompts.map((p) => [p.feature, p.model, p.prompt_hashes.length, p.shared_prefix_tokens, p.cached_share]),
      profile === 'enterprise'
        ? [['support-chat', 'claude-sonnet-4', 3, 5000, 0], ['support-chat', 'gpt-4.1', 2, 5000, 0.4], ['classify', 'gpt-4.1-mini', 2, 700, 0], ['classify', 'claude-opus-4', 2, 700, 0]]
        : [['support-chat', 'claude-sonnet-4', 2, 4000, 0], ['classify', 'gpt-4.1-mini', 1, 600, 0], ['classify', 'claude-opus-4', 1, 600, 0]])
    for (const p of facts.repeated_prompts) {
      const stream = records.filter((r) => r.feature === p.feature && r.model === p.model)
      t.strictSame([...new Set(stream.map((r) => r.prompt_hash))].sort(), [...p.prompt_hashes].sort(), `${p.feature} on ${p.model}: only the templates`)
      t.ok(stream.every((r) => r.input_tokens / requestsOf(r) > p.shared_prefix_tokens), 'the prefix is part of every prompt')
      t.equal(stream.some((r) => r.cached_tokens !== undefined), p.cached_share > 0, 'cached tokens only where the provider caches already')
    }
    const repeated = new Set(facts.repeated_prompts.map((p) => `${p.feature}/${p.model}`))
    t.ok(records.filter((r) => !repeated.has(`${r.feature}/${r.model}`)).every((r) => r.prompt_hash === undefined), 'other prompts are all different')
  })

  t.test(`${profile}: code-review answers are far longer than needed`, async (t) => {
    const { feature, model, output_tokens_per_request: [lo, hi], needed_output_tokens } = facts.verbose_output
    t.strictSame([feature, model, lo, hi, needed_output_tokens], ['code-review', 'claude-sonnet-4', 2800, 4000, 800])
    const reviews = records.filter((r) => r.feature === feature)
    t.ok(reviews.length > 0 && reviews.every((r) => {
      const perRequest = r.output_tokens / requestsOf(r)
      return perRequest >= lo - 0.5 && perRequest <= hi + 0.5
    }))
  })
}

t.test('the enterprise month costs about $45k, the team month a few hundred dollars', async (t) => {
  const total = (p: UsageProfile) => sum(sampleRecords(p).map((r) => r.cost_usd))
  t.ok(total('enterprise') >= 40_000 && total('enterprise') <= 50_000, `enterprise ${total('enterprise')}`)
  t.ok(total('team') >= 300 && total('team') <= 1500, `team ${total('team')}`)
  t.ok(sampleRecords('enterprise').length <= 20_000, 'small enough to import in well under a second')
})
