import t from 'tap'
import { forecastSpend } from '../../src/tools/forecast.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { mulberry32 } from '../../src/usage/random.js'
import { SAMPLE_FACTS, sampleRecords } from '../../src/usage/sample.js'
import { dayAfter, rec } from '../helpers/analysis-fixtures.js'

/** Sunday first, as getUTCDay counts */
const WEEK = [0.4, 1, 1.1, 1.1, 1.05, 0.9, 0.5]

const daily = (start: string, costs: number[]): UsageRecord[] => costs.map((cost, d) => rec({ at: dayAfter(start, d), model: 'm', feature: 'f', cost }))
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

t.test('compounding growth and a weekly cycle, fitted exactly on log spend: the interval closes on the point', async (t) => {
  // 2025-06-01 is a Sunday; y = 10 × 1.01^t × WEEK[t mod 7] for four weeks
  const y = (i: number) => 10 * 1.01 ** i * WEEK[i % 7]
  const f = forecastSpend(daily('2025-06-01', Array.from({ length: 28 }, (_, i) => y(i))), [7, 30])
  t.equal(f.model, 'multiplicative')
  t.equal(f.growth_per_day, 0.01)
  t.equal(f.growth_per_month_pct, Math.round(100 * (1.01 ** 30 - 1) * 100) / 100)
  t.strictSame(f.weekday_effect, { sun: 1, mon: 2.5, tue: 2.75, wed: 2.75, thu: 2.625, fri: 2.25, sat: 1.25 })
  t.strictSame(f.excluded_days, [])
  for (const h of f.horizons) {
    const truth = sum(Array.from({ length: h.days }, (_, k) => y(28 + k)))
    t.ok(Math.abs(h.point_usd - truth) <= 0.01, `${h.days} days: ${h.point_usd} is ${truth.toFixed(4)}`)
    t.ok(h.high_usd - h.low_usd <= 0.02, 'no noise, no width')
  }
  t.strictSame(f.horizons.map((h) => [h.days, h.from, h.to]), [[7, '2025-06-29', '2025-07-05'], [30, '2025-06-29', '2025-07-28']])
})

t.test('a one-off spike and a dip are left out of the fit', async (t) => {
  const y = Array.from({ length: 28 }, (_, i) => 10 * 1.01 ** i * WEEK[i % 7] * (i === 10 ? 5 : i === 19 ? 0.5 : 1))
  const f = forecastSpend(daily('2025-06-01', y), [7])
  t.strictSame(f.excluded_days, ['2025-06-11', '2025-06-20'])
  t.equal(f.growth_per_day, 0.01)
  t.ok(Math.abs(f.horizons[0].point_usd - sum(Array.from({ length: 7 }, (_, k) => 10 * 1.01 ** (28 + k) * WEEK[k % 7]))) <= 0.01, 'the forecast of the series without them')
  t.equal(f.last_30_days_usd, Math.round(sum(y) * 100) / 100, 'what was spent still counts')
})

/**
 * Daily spend with compounding growth (0–1.2 % a day), a weekly cycle and persistent noise (AR(1),
 * φ 0.5–0.9, innovations 4–14 %), 60–120 days of history: where did the next 30 days land?
 */
function simulate (seed: number, runs: number) {
  const rng = mulberry32(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
  let inside = 0
  let above = 0
  let below = 0
  for (let s = 0; s < runs; s++) {
    const n = 60 + Math.floor(rng() * 61)
    const growth = rng() * 0.012
    const phi = 0.5 + rng() * 0.4
    const sigma = 0.04 + rng() * 0.1
    const base = 50 + rng() * 500
    let u = 0
    const ys = Array.from({ length: n + 30 }, (_, i) => {
      u = phi * u + sigma * gauss()
      return base * (1 + growth) ** i * WEEK[i % 7] * Math.exp(u)
    })
    const h = forecastSpend(daily('2025-01-05', ys.slice(0, n)), [30], { level: 0.9 }).horizons[0]
    const actual = sum(ys.slice(n))
    if (actual > h.high_usd) above++
    else if (actual < h.low_usd) below++
    else inside++
  }
  return { coverage: inside / runs, above, below }
}

t.test('on simulated series with persistent noise and compounding growth, the nominal 90% interval covers at least 85% at 30 days', async (t) => {
  const r = simulate(20_261_130, 200)
  t.ok(r.coverage >= 0.85, `coverage ${r.coverage} (above ${r.above}, below ${r.below})`)
  t.ok(Math.abs(r.above - r.below) <= 0.5 * (r.above + r.below) + 5, `misses on both sides: ${r.above} above, ${r.below} below`)
})

t.test('the interval is backtested on the history itself', async (t) => {
  const rng = mulberry32(3)
  const y = Array.from({ length: 90 }, (_, i) => 100 * 1.005 ** i * WEEK[i % 7] * (0.9 + 0.2 * rng()))
  const f = forecastSpend(daily('2025-06-01', y))
  t.match(f.backtest, { origins: 33, horizon_days: 30 })
  t.ok(f.backtest!.widening >= 1)
  t.equal(f.confidence_level, 0.9)
  t.ok(f.horizons[1].high_usd - f.horizons[1].low_usd > f.horizons[0].high_usd - f.horizons[0].low_usd, 'a longer horizon, a wider interval')
  t.equal(forecastSpend(daily('2025-06-01', y.slice(0, 40))).backtest, null, 'forty days are too few to backtest thirty')
})

t.test('idle days: a straight line on dollars, and a falling forecast stops at zero', async (t) => {
  // 6 a day, nothing on Wednesdays (no records at all): the Wednesday effect is −6, the next week 6 × 6
  const idle = daily('2025-06-01', Array.from({ length: 21 }, (_, i) => (i % 7 === 3 ? 0 : 6))).filter((r) => r.cost_usd > 0)
  const week = forecastSpend(idle, [7])
  t.equal(week.model, 'additive')
  t.equal(week.weekday_effect!.wed, -6)
  t.match(week.horizons, [{ days: 7, point_usd: 36, low_usd: 36, high_usd: 36 }])
  const falling = forecastSpend(daily('2025-06-01', Array.from({ length: 20 }, (_, i) => Math.max(0, 19 - i))), [30])
  t.equal(falling.model, 'additive')
  t.match(falling.horizons, [{ days: 30, point_usd: 0, low_usd: 0 }])
})

t.test('too little data', async (t) => {
  t.match(forecastSpend([]), { period: null, horizons: [], insufficient: 'there are no usage records' })
  t.match(forecastSpend(daily('2025-06-01', Array(13).fill(1))), { horizons: [], insufficient: '13 days of data; a forecast needs at least 14' })
  t.equal(forecastSpend(daily('2025-06-01', Array(14).fill(1))).horizons.length, 2)
})

t.test('the team sample grows: the next 30 days cost more than the last 30', async (t) => {
  const sample = sampleRecords('team')
  const f = forecastSpend(sample)
  const since = dayAfter(SAMPLE_FACTS.team.period.to, -30)
  const last30 = sample.filter((r) => r.timestamp.slice(0, 10) > since).reduce((s, r) => s + r.cost_usd, 0)
  t.equal(f.last_30_days_usd, Math.round(last30 * 100) / 100)
  const [month, quarter] = f.horizons
  t.ok(month.point_usd > f.last_30_days_usd!)
  t.ok(month.low_usd < month.point_usd && month.point_usd < month.high_usd)
  t.ok(quarter.point_usd > 3 * month.point_usd, 'growth continues over the quarter')
  t.ok(f.growth_per_month_pct! > 0)
})
