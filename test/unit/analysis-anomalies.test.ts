import t from 'tap'
import { decompose, detectAnomalies, robustZ, seasonalZ } from '../../src/tools/anomalies.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { mulberry32 } from '../../src/usage/random.js'
import { SAMPLE_FACTS, sampleRecords, USAGE_PROFILES } from '../../src/usage/sample.js'
import { dayAfter, rec } from '../helpers/analysis-fixtures.js'

const dayIndex = (from: string, day: string) => (Date.parse(day) - Date.parse(from)) / 86_400_000

/** one record per (day, model) with that day's cost; zero-cost days get no record */
function series (start: string, costs: Record<string, number[]>, feature = 'chat'): UsageRecord[] {
  return Object.entries(costs).flatMap(([model, days]) =>
    days.flatMap((cost, d) => (cost > 0 ? [rec({ at: dayAfter(start, d), model, feature, cost })] : [])))
}

t.test('the same weekday is the baseline: median of the same weekday within four weeks, deviation relative to it, robust z over all days', async (t) => {
  // three weeks: weekdays 10, weekends 2; the second Saturday (day 12 from Monday 2025-06-30, i.e. 2025-07-12) costs 6
  const days = Array.from({ length: 21 }, (_, d) => ([5, 6].includes(d % 7) ? (d === 12 ? 6 : 2) : 10))
  const { z, baseline, peers } = seasonalZ(days)
  t.strictSame(peers[12], [5, 19], 'the other Saturdays')
  t.equal(baseline[12], 2)
  t.equal(baseline[0], 10)
  // deviations: day 12 (6 − 2) / 2 = 2; the other Saturdays have day 12 among their peers, median(2, 6) = 4, so (2 − 4) / 4 = −0.5;
  // 0 elsewhere. MAD 0, so the mean absolute deviation: (2 + 0.5 + 0.5) / 21
  t.equal(Math.round(z[12] * 1e4) / 1e4, Math.round(2 / (1.253314 * 3 / 21) * 1e4) / 1e4)
  const r = detectAnomalies(series('2025-06-30', { m: days }))
  t.strictSame(r.anomalies.map((a) => [a.dimension, a.key, a.days, a.cost_usd, a.baseline_usd, a.excess_usd, a.multiple, a.baseline_days]), [
    ['feature', 'chat', ['2025-07-12'], 6, 2, 4, 3, ['2025-07-05', '2025-07-19']],
    ['model', 'm', ['2025-07-12'], 6, 2, 4, 3, ['2025-07-05', '2025-07-19']]
  ])
  // against the whole series' median (10) the same Saturday is a below-median day: no spike at all
  t.ok(robustZ(days)[12] < 0)
  t.strictSame(robustZ([1, 2, 3, 2, 1, 2, 3, 2, 13]).map((x) => Math.round(x * 1e4) / 1e4), [-0.6745, 0, 0.6745, 0, -0.6745, 0, 0.6745, 0, 7.4195])
  t.strictSame(robustZ([2, 2, 2]), [0, 0, 0], 'a constant series has no spike')
})

t.test('a Saturday spike in a growing series with a weekly cycle is caught against other Saturdays', async (t) => {
  const rng = mulberry32(7)
  const start = '2025-03-03'
  const load = [0.3, 1, 1.05, 1.1, 1.05, 0.95, 0.3]
  const spikeDay = '2025-04-26'
  const records: UsageRecord[] = []
  for (let d = 0; d < 91; d++) {
    const day = dayAfter(start, d)
    const spike = day === spikeDay ? 3.5 : 1
    records.push(rec({ at: day, model: 'm', feature: 'report', cost: 100 * load[new Date(day).getUTCDay()] * (1 + 0.004 * d) * spike * (0.95 + 0.1 * rng()) }))
  }
  const r = detectAnomalies(records)
  t.strictSame(r.anomalies.map((a) => [a.dimension, a.days]), [['feature', [spikeDay]], ['model', [spikeDay]]], 'that Saturday, and nothing else')
  t.ok(r.anomalies[0].max_robust_z > 10, `robust z ${r.anomalies[0].max_robust_z}`)
  t.ok(r.anomalies[0].multiple! > 3 && r.anomalies[0].multiple! < 4)
  // its cost is barely a weekday's: measured against every day it is no outlier
  const daily = Array.from({ length: 91 }, (_, d) => records[d].cost_usd)
  t.ok(robustZ(daily)[dayIndex(start, spikeDay)] < 3.5, 'the whole-series median misses it')
})

t.test('each spike is decomposed into volume, model mix, tokens per request and retries, exactly', async (t) => {
  const usual = [...Array(10)].map(() => rec({ at: '2025-07-01', model: 'a', cost: 0.01, input: 1000, output: 100 }))
    .concat([...Array(10)].map(() => rec({ at: '2025-07-08', model: 'a', cost: 0.01, input: 1000, output: 100 })))
  // the spike day: three times the requests on a, and ten on a model five times dearer
  const spike = [...Array(30)].map(() => rec({ at: '2025-07-15', model: 'a', cost: 0.01, input: 1000, output: 100 }))
    .concat([...Array(10)].map(() => rec({ at: '2025-07-15', model: 'b', cost: 0.05, input: 1000, output: 100 })))
  const c = decompose(spike, 1, usual, 2, new Set())
  // Δ = 0.80 − 0.10: volume (40 − 10) × 0.01 = 0.30; mix 40 × (0.75 × 0.01 + 0.25 × 0.05 − 0.01) = 0.40; per request 0
  t.strictSame(c, {
    volume_usd: 0.3,
    model_mix_usd: 0.4,
    per_request_usd: 0,
    requests: { spike: 40, usual: 10 },
    input_tokens_per_request: { spike: 1000, usual: 1000 },
    output_tokens_per_request: { spike: 100, usual: 100 },
    retry_share: { spike: 0, usual: 0 },
    main: 'model mix'
  })
  // longer prompts on the same requests: all of it per request
  const longer = [...Array(10)].map(() => rec({ at: '2025-07-15', model: 'a', cost: 0.03, input: 3000, output: 100 }))
  t.match(decompose(longer, 1, usual, 2, new Set()), { volume_usd: 0, model_mix_usd: 0, per_request_usd: 0.2, input_tokens_per_request: { spike: 3000, usual: 1000 }, main: 'tokens per request' })
  // more requests, most of them retries
  const retries = [...Array(40)].map(() => rec({ at: '2025-07-15', model: 'a', cost: 0.01 }))
  t.match(decompose(retries, 1, usual, 2, new Set(retries.slice(5).map((r) => r.request_id))), { volume_usd: 0.3, main: 'retries', retry_share: { spike: 0.875, usual: 0 } })
})

t.test('too little data', async (t) => {
  t.match(detectAnomalies([]), { period: null, threshold: 3.5, series_checked: 0, anomalies: [], insufficient: 'there are no usage records' })
  t.match(detectAnomalies(series('2025-07-01', { m: [1, 1, 1, 1, 1, 9] })), {
    period: { from: '2025-07-01', to: '2025-07-06', days: 6 }, threshold: 3.5, series_checked: 0, anomalies: [], insufficient: '6 days of data; spikes need at least 7'
  })
})

t.test('an injected spike in a synthetic series is found with its exact days, and nothing else is', async (t) => {
  // six weeks of three features on two models: weekday load, 1% daily growth, ±15% noise
  const rng = mulberry32(42)
  const start = '2025-05-05'
  const features = { search: 40, support: 25, digest: 10 }
  const records: UsageRecord[] = []
  for (let d = 0; d < 42; d++) {
    const day = dayAfter(start, d)
    const weekday = new Date(day).getUTCDay()
    const load = (weekday === 0 || weekday === 6 ? 0.4 : 1) * (1 + 0.01 * d)
    for (const [feature, base] of Object.entries(features)) {
      // search triples on 2025-05-21 and 2025-05-22 (a Wednesday and Thursday)
      const spike = feature === 'search' && (day === '2025-05-21' || day === '2025-05-22') ? 3 : 1
      for (const model of ['alpha', 'beta']) {
        records.push(rec({ at: day, model, feature, cost: (base / 2) * load * spike * (0.85 + 0.3 * rng()) }))
      }
    }
  }
  const r = detectAnomalies(records)
  t.equal(r.series_checked, 5)
  t.strictSame(r.anomalies.map((a) => [a.dimension, a.key, a.days]), [
    ['feature', 'search', ['2025-05-21', '2025-05-22']],
    ['model', 'alpha', ['2025-05-21', '2025-05-22']],
    ['model', 'beta', ['2025-05-21', '2025-05-22']]
  ])
  const search = r.anomalies[0]
  const raw = records.filter((x) => x.feature === 'search' && search.days.includes(x.timestamp.slice(0, 10))).reduce((s, x) => s + x.cost_usd, 0)
  t.equal(search.cost_usd, Math.round(raw * 100) / 100, 'the spike\'s cost is its days\' spend')
  t.ok(search.multiple! > 2.5 && search.multiple! < 4, `about three times the baseline: ${search.multiple}`)
})

for (const profile of USAGE_PROFILES) {
  t.test(`the ${profile} sample: its retry loop on its spike days, in its feature and model, and nothing else`, async (t) => {
    const { feature, model, days } = SAMPLE_FACTS[profile].spike
    const r = detectAnomalies(sampleRecords(profile))
    t.strictSame(r.anomalies.map((a) => [a.dimension, a.key, a.days]).sort(), [
      ['feature', feature, days],
      ['model', model, days]
    ])
  })
}

t.test('rounding noise in float sums is no spread and no spike', async (t) => {
  // 0.1 + 0.2 is 0.30000000000000004: the days differ only in their last bits
  const records = Array.from({ length: 10 }, (_, d) => [
    rec({ at: dayAfter('2025-07-01', d), model: 'm', cost: d === 4 ? 0.1 : 0.15 }),
    rec({ at: dayAfter('2025-07-01', d), model: 'm', cost: d === 4 ? 0.2 : 0.15 })
  ]).flat()
  t.strictSame(detectAnomalies(records).anomalies, [])
  t.strictSame(robustZ([0.3, 0.3, 0.1 + 0.2, 0.3]), [0, 0, 0, 0])
})
