import t from 'tap'
import { detectAnomalies, robustZ } from '../../src/tools/anomalies.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { mulberry32 } from '../../src/usage/random.js'
import { SAMPLE_FACTS, sampleRecords, USAGE_PROFILES } from '../../src/usage/sample.js'
import { dayAfter, rec } from '../helpers/analysis-fixtures.js'

/** one record per (day, model) with that day's cost; zero-cost days get no record */
function series (start: string, costs: Record<string, number[]>, feature = 'chat'): UsageRecord[] {
  return Object.entries(costs).flatMap(([model, days]) =>
    days.flatMap((cost, d) => (cost > 0 ? [rec({ at: dayAfter(start, d), model, feature, cost })] : [])))
}

t.test('median and MAD by hand', async (t) => {
  // model steady: 1 a day (MAD 0, mean deviation 0: never a spike)
  // model bursty: 0 1 2 1 0 1 2 1 12 → median 1, |x − 1| = 1 0 1 0 1 0 1 0 11 → MAD 1; day 9: 0.6745 × 11 = 7.42
  // feature chat (both): 1 2 3 2 1 2 3 2 13 → median 2, MAD 1; day 9: 0.6745 × 11 = 7.42
  const records = series('2025-07-01', { steady: [1, 1, 1, 1, 1, 1, 1, 1, 1], bursty: [0, 1, 2, 1, 0, 1, 2, 1, 12] })
  t.strictSame(detectAnomalies(records), {
    period: { from: '2025-07-01', to: '2025-07-09', days: 9 },
    threshold: 3.5,
    series_checked: 3,
    anomalies: [
      { dimension: 'feature', key: 'chat', days: ['2025-07-09'], cost_usd: 13, baseline_usd: 2, excess_usd: 11, multiple: 6.5, max_robust_z: 7.42 },
      { dimension: 'model', key: 'bursty', days: ['2025-07-09'], cost_usd: 12, baseline_usd: 1, excess_usd: 11, multiple: 12, max_robust_z: 7.42 }
    ]
  })
  t.strictSame(robustZ([1, 2, 3, 2, 1, 2, 3, 2, 13]).map((z) => Math.round(z * 1e4) / 1e4), [-0.6745, 0, 0.6745, 0, -0.6745, 0, 0.6745, 0, 7.4195])
})

t.test('a flat series with one jump: the mean-deviation fallback when the MAD is zero', async (t) => {
  // 1 ×8 then 5: median 1, MAD 0; mean absolute deviation 4/9; z = 4 ÷ (1.253314 × 4/9) = 7.18
  const r = detectAnomalies(series('2025-07-01', { m: [1, 1, 1, 1, 1, 1, 1, 1, 5] }))
  t.strictSame(r.anomalies.map((a) => [a.dimension, a.days, a.max_robust_z, a.excess_usd]), [
    ['feature', ['2025-07-09'], 7.18, 4],
    ['model', ['2025-07-09'], 7.18, 4]
  ])
  t.strictSame(robustZ([2, 2, 2]), [0, 0, 0], 'a constant series has no spike')
})

t.test('consecutive spike days are one spike; a dip is never one', async (t) => {
  // median 2, MAD 0.5 (deviations 0 ×5, 0.5 ×3 … sorted middle); days 4 and 5 (9 and 11) are far above, day 8 (0) far below
  const costs = [2, 2.5, 2, 9, 11, 2, 1.5, 0, 2, 2.5, 2]
  const r = detectAnomalies(series('2025-06-28', { m: costs }, 'search'))
  const spike = r.anomalies.find((a) => a.dimension === 'model')!
  t.strictSame(spike.days, ['2025-07-01', '2025-07-02'], 'across a month boundary, zero-filled days included')
  t.equal(spike.cost_usd, 20)
  t.equal(spike.baseline_usd, 4, 'two days at the median')
  t.equal(spike.excess_usd, 16)
  t.equal(spike.multiple, 5)
  t.equal(spike.max_robust_z, 12.14, '0.6745 × 9 ÷ 0.5')
  t.equal(r.anomalies.length, 2, 'the model and its feature, nothing for the dip')
  t.equal(detectAnomalies(series('2025-06-28', { m: costs })).anomalies.length, 2)
  t.equal(detectAnomalies(series('2025-06-28', { m: costs }), { threshold: 13 }).anomalies.length, 0, 'a higher threshold')
})

t.test('too little data', async (t) => {
  t.strictSame(detectAnomalies([]), { period: null, threshold: 3.5, series_checked: 0, anomalies: [], insufficient: 'there are no usage records' })
  t.strictSame(detectAnomalies(series('2025-07-01', { m: [1, 1, 1, 1, 1, 9] })), {
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
