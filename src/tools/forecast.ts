import { roundCents, roundTo } from './money.js'
import { median, solve } from './robust-stats.js'
import type { UsageRecord } from './usage-data.js'
import { addDays, dailyCost, windowOf, type UsageWindow } from './usage-period.js'

/** Two of each weekday, so every day-of-week effect rests on more than one day. */
export const MIN_FORECAST_DAYS = 14
/** two-sided 95% normal quantile */
const Z95 = 1.959964
const OUTLIER_Z = 3.5
const FLOAT_NOISE = 1e-9
const WEEKDAYS = Object.freeze(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const)

export interface ForecastHorizon {
  days: number
  from: string
  to: string
  point_usd: number
  low_usd: number
  high_usd: number
}

export interface Forecast {
  period: UsageWindow | null
  method: string
  confidence_level: number
  /** the fitted trend: how much daily spend grows per day */
  trend_usd_per_day?: number
  /** each weekday's spend against Sunday's, trend aside */
  weekday_effect_usd?: Record<typeof WEEKDAYS[number], number>
  /** standard deviation of the fit's daily residuals */
  residual_sd_usd?: number
  /** one-off spikes and dips (robust z-score of their residual above 3.5) left out of the fit */
  excluded_days?: string[]
  /** actual spend of the last 30 days of the window (fewer when the window is shorter) */
  last_30_days_usd?: number
  horizons: ForecastHorizon[]
  insufficient?: string
}

const METHOD = 'least squares on daily spend: intercept + linear trend + day-of-week effects, one-off spikes and dips left out; ' +
  'interval from the residual spread and the fit\'s own uncertainty (95%)'

/**
 * Spend over the next `horizons` days. Daily spend y_t (t = 0 … n−1, idle days zero) is fitted
 * as a + b·t + c_weekday (Sunday = 0) by ordinary least squares, leaving out one-off spikes and
 * dips (days whose residual is a robust outlier); a horizon's point is the sum of
 * the fitted days after the window (each at least zero), and its interval is
 * point ± 1.96 · s · √(H + gᵀ(XᵀX)⁻¹g), where s² = RSS ÷ (n − 8) and g sums the future rows of X.
 */
export function forecastSpend (records: readonly UsageRecord[], horizons: readonly number[] = [30, 90]): Forecast {
  const w = windowOf(records)
  const empty = (insufficient: string): Forecast => ({ period: w, method: METHOD, confidence_level: 0.95, horizons: [], insufficient })
  if (!w) return empty('there are no usage records')
  if (w.days < MIN_FORECAST_DAYS) return empty(`${w.days} days of data; a forecast needs at least ${MIN_FORECAST_DAYS}`)

  const y = dailyCost(records, w, () => 'all').get('all')!
  const start = new Date(w.from).getUTCDay()
  const row = (t: number) => {
    const x = [1, t, 0, 0, 0, 0, 0, 0]
    const dow = (start + t) % 7
    if (dow > 0) x[1 + dow] = 1
    return x
  }
  const p = 8
  const fitDays = (days: readonly number[]) => {
    const xtx = Array.from({ length: p }, () => new Array<number>(p).fill(0))
    const xty = new Array<number>(p).fill(0)
    for (const t of days) {
      const x = row(t)
      for (let i = 0; i < p; i++) {
        xty[i] += x[i] * y[t]
        for (let j = 0; j < p; j++) xtx[i][j] += x[i] * x[j]
      }
    }
    const beta = solve(xtx, xty)
    if (!beta) return undefined
    const residuals = days.map((t) => y[t] - dot(row(t), beta))
    return { xtx, beta, residuals, days }
  }
  const all = Array.from({ length: w.days }, (_, t) => t)
  const first = fitDays(all)
  if (!first) return empty('the daily series cannot be fitted')
  // one-off spikes and dips are not the trend: the most extreme outlier day (robust z-score of its
  // residual above OUTLIER_Z) is left out and the rest refitted, one day at a time, while every
  // weekday keeps two days and at most a fifth of the days are left out
  let model = first
  const outliers: number[] = []
  while (outliers.length < Math.floor(w.days / 5)) {
    const m = median(model.residuals)
    const mad = median(model.residuals.map((e) => Math.abs(e - m)))
    // an exact fit leaves only rounding noise, which is no outlier
    if (!(mad > FLOAT_NOISE * (1 + Math.max(...y)))) break
    const z = model.residuals.map((e) => (0.6745 * Math.abs(e - m)) / mad)
    const worst = z.indexOf(Math.max(...z))
    const day = model.days[worst]
    if (!(z[worst] > OUTLIER_Z) || model.days.filter((t) => (t - day) % 7 === 0).length <= 2) break
    const next = fitDays(model.days.filter((t) => t !== day))
    if (!next) break
    outliers.push(day)
    model = next
  }
  const { xtx, beta } = model
  const fit = (x: number[]) => dot(x, beta)
  const s2 = model.residuals.reduce((sum, e) => sum + e * e, 0) / (model.days.length - p)

  const out: ForecastHorizon[] = horizons.map((h) => {
    let point = 0
    const g = new Array<number>(p).fill(0)
    for (let k = 1; k <= h; k++) {
      const x = row(w.days - 1 + k)
      point += Math.max(0, fit(x))
      x.forEach((v, i) => { g[i] += v })
    }
    const spread = Z95 * Math.sqrt(s2 * (h + dot(g, solve(xtx, g)!)))
    return {
      days: h,
      from: addDays(w.to, 1),
      to: addDays(w.to, h),
      point_usd: roundCents(point),
      low_usd: roundCents(Math.max(0, point - spread)),
      high_usd: roundCents(point + spread)
    }
  })
  const effects = Object.fromEntries(WEEKDAYS.map((d, i) => [d, roundCents(i === 0 ? 0 : beta[1 + i])])) as Forecast['weekday_effect_usd']
  return {
    period: w,
    method: METHOD,
    confidence_level: 0.95,
    trend_usd_per_day: roundTo(beta[1], 4),
    weekday_effect_usd: effects,
    residual_sd_usd: roundCents(Math.sqrt(s2)),
    excluded_days: outliers.sort((a, b) => a - b).map((t) => addDays(w.from, t)),
    last_30_days_usd: roundCents(y.slice(-30).reduce((s, v) => s + v, 0)),
    horizons: out
  }
}

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i], 0)
