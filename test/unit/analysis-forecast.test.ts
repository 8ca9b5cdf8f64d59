import t from 'tap'
import { forecastSpend } from '../../src/tools/forecast.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { mulberry32 } from '../../src/usage/random.js'
import { SAMPLE_FACTS, sampleRecords } from '../../src/usage/sample.js'
import { dayAfter, rec } from '../helpers/analysis-fixtures.js'

/** Sunday first, as getUTCDay counts */
const WEEK = [0, 5, 5, 5, 5, 4, 1]

const daily = (start: string, costs: number[]): UsageRecord[] => costs.map((cost, d) => rec({ at: dayAfter(start, d), model: 'm', feature: 'f', cost }))

t.test('an exact trend and weekly cycle is fitted exactly: the interval closes on the point', async (t) => {
  // 2025-06-01 is a Sunday; y = 10 + 0.5 t + WEEK[t mod 7] for four weeks
  const y = Array.from({ length: 28 }, (_, i) => 10 + 0.5 * i + WEEK[i % 7])
  const f = forecastSpend(daily('2025-06-01', y), [7, 30])
  // next 7 days (t = 28 … 34): 70 + 0.5 × 217 + 25 = 203.5
  // next 30 days (t = 28 … 57): 300 + 0.5 × 1275 + 4 × 25 + (0 + 5) = 1042.5
  t.strictSame(f, {
    period: { from: '2025-06-01', to: '2025-06-28', days: 28 },
    method: 'least squares on daily spend: intercept + linear trend + day-of-week effects, one-off spikes and dips left out; ' +
      'interval from the residual spread and the fit\'s own uncertainty (95%)',
    confidence_level: 0.95,
    trend_usd_per_day: 0.5,
    weekday_effect_usd: { sun: 0, mon: 5, tue: 5, wed: 5, thu: 5, fri: 4, sat: 1 },
    residual_sd_usd: 0,
    excluded_days: [],
    last_30_days_usd: 569, // the whole four weeks: 280 + 0.5 × 378 + 4 × 25
    horizons: [
      { days: 7, from: '2025-06-29', to: '2025-07-05', point_usd: 203.5, low_usd: 203.5, high_usd: 203.5 },
      { days: 30, from: '2025-06-29', to: '2025-07-28', point_usd: 1042.5, low_usd: 1042.5, high_usd: 1042.5 }
    ]
  })
})

t.test('a one-off spike and a dip are left out of the fit', async (t) => {
  // the exact series again, with a retry loop adding 100 on 2025-06-11 and an outage taking 12 off 2025-06-20
  const y = Array.from({ length: 28 }, (_, i) => 10 + 0.5 * i + WEEK[i % 7] + (i === 10 ? 100 : 0) - (i === 19 ? 12 : 0))
  const f = forecastSpend(daily('2025-06-01', y), [7, 30])
  t.strictSame(f.excluded_days, ['2025-06-11', '2025-06-20'])
  t.equal(f.trend_usd_per_day, 0.5)
  t.equal(f.residual_sd_usd, 0)
  t.match(f.horizons, [{ days: 7, point_usd: 203.5, low_usd: 203.5, high_usd: 203.5 }, { days: 30, point_usd: 1042.5 }], 'the forecast of the series without them')
  t.equal(f.last_30_days_usd, 657, 'what was spent still counts: 569 + 100 − 12')
})

t.test('a noisy synthetic series: the next 30 and 90 days land within the stated interval', async (t) => {
  const rng = mulberry32(7)
  const truth = (i: number) => 50 + 1.2 * i + 4 * WEEK[(i + 1) % 7] // starts on a Monday
  const noisy = (i: number) => truth(i) + 6 * (rng() - 0.5)
  const history = Array.from({ length: 56 }, (_, i) => noisy(i))
  const f = forecastSpend(daily('2025-03-03', history))
  t.strictSame(f.horizons.map((h) => [h.days, h.from, h.to]), [[30, '2025-04-28', '2025-05-27'], [90, '2025-04-28', '2025-07-26']])
  for (const h of f.horizons) {
    const actual = Array.from({ length: h.days }, (_, k) => noisy(56 + k)).reduce((s, v) => s + v, 0)
    const expected = Array.from({ length: h.days }, (_, k) => truth(56 + k)).reduce((s, v) => s + v, 0)
    t.ok(h.low_usd <= actual && actual <= h.high_usd, `${h.days} days: ${actual.toFixed(2)} in [${h.low_usd}, ${h.high_usd}]`)
    t.ok(h.low_usd < h.point_usd && h.point_usd < h.high_usd)
    t.ok(Math.abs(h.point_usd - expected) / expected < 0.01, `${h.days} days: point ${h.point_usd} near the truth ${expected.toFixed(2)}`)
  }
  t.ok(Math.abs(f.trend_usd_per_day! - 1.2) < 0.05, `trend ${f.trend_usd_per_day}`)
  const wider = f.horizons[1].high_usd - f.horizons[1].low_usd
  t.ok(wider > f.horizons[0].high_usd - f.horizons[0].low_usd, 'a longer horizon, a wider interval')
  t.ok(Math.abs(f.residual_sd_usd! - 6 / Math.sqrt(12)) < 0.5, `residual sd ${f.residual_sd_usd} against the noise's ${(6 / Math.sqrt(12)).toFixed(2)}`)
})

t.test('idle days count as zero spend, and a falling forecast stops at zero', async (t) => {
  // 6 a day, nothing on Wednesdays (no records at all): the Wednesday effect is −6, the next week 6 × 6
  const idle = daily('2025-06-01', Array.from({ length: 21 }, (_, i) => (i % 7 === 3 ? 0 : 6))).filter((r) => r.cost_usd > 0)
  const week = forecastSpend(idle, [7])
  t.equal(week.weekday_effect_usd!.wed, -6)
  t.match(week.horizons, [{ days: 7, point_usd: 36, low_usd: 36, high_usd: 36 }])
  // 20, 19, … 1: the line is at or below zero from the first forecast day on
  const falling = forecastSpend(daily('2025-06-01', Array.from({ length: 20 }, (_, i) => 20 - i)), [30])
  t.equal(falling.trend_usd_per_day, -1)
  t.match(falling.horizons, [{ days: 30, point_usd: 0, low_usd: 0, high_usd: 0 }])
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
})
