import { roundCents, roundTo } from './money.js'
import { median, solve } from './robust-stats.js'
import type { UsageRecord } from './usage-data.js'
import { addDays, dailyCost, windowOf, type UsageWindow } from './usage-period.js'

/** Two of each weekday, so every day-of-week effect rests on more than one day. */
export const MIN_FORECAST_DAYS = 14
export const FORECAST_LEVELS = Object.freeze([0.8, 0.9, 0.95])
const Z: Record<string, number> = { 0.8: 1.281552, 0.9: 1.644854, 0.95: 1.959964 }
const OUTLIER_Z = 3.5
const FLOAT_NOISE = 1e-9
const MAX_PHI = 0.95
/** the first backtest origin: four weeks of history */
const MIN_TRAIN = 28
/** fewer backtests than this calibrate nothing */
const MIN_BACKTESTS = 8
const WEEKDAYS = Object.freeze(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const)

export interface ForecastHorizon {
  days: number
  from: string
  to: string
  /** the median outcome */
  point_usd: number
  low_usd: number
  high_usd: number
}

export interface Backtest {
  /** forecasts made from earlier days of the history and checked against what followed */
  origins: number
  horizon_days: number
  /** share of those outcomes inside the uncalibrated interval */
  raw_coverage: number
  /** how much the interval was widened so that the backtests' outcomes fall inside it at the stated level */
  widening: number
}

export interface Forecast {
  period: UsageWindow | null
  method: string
  confidence_level: number
  /** 'multiplicative': growth compounds (fitted on log spend); 'additive': a straight line (days with no spend) */
  model?: 'multiplicative' | 'additive'
  /** multiplicative: daily growth rate; additive: dollars added to daily spend each day */
  growth_per_day?: number
  /** spend per 30 days at the end of the history against its start, from the fitted trend */
  growth_per_month_pct?: number
  /** each weekday's spend against Sunday's (multiplicative: a factor; additive: dollars), trend aside */
  weekday_effect?: Record<typeof WEEKDAYS[number], number>
  /** how much a day's deviation from the fit carries into the next (AR(1) coefficient of the residuals) */
  persistence?: number
  /** one-off spikes and dips (robust z-score of their residual above 3.5) left out of the fit */
  excluded_days?: string[]
  /** actual spend of the last 30 days of the window (fewer when the window is shorter) */
  last_30_days_usd?: number
  backtest?: Backtest | null
  horizons: ForecastHorizon[]
  insufficient?: string
}

export interface ForecastOptions { level?: number }

const METHOD = 'least squares on daily spend (on its logarithm when every day has spend, so growth compounds): trend + day-of-week effects, ' +
  'one-off spikes and dips left out; the interval carries the day-to-day persistence of deviations (AR(1)) and the trend\'s own uncertainty, ' +
  'widened until rolling-origin backtests over the history land inside it at the stated level'

interface Fit {
  beta: number[]
  /** (XᵀX)⁻¹ */
  inv: number[][]
  /** residual of every day of the history (0 on days left out) */
  residuals: number[]
  s2: number
  phi: number
  excluded: number[]
  log: boolean
}

const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i], 0)
const P = 8

/** The design row of day t of a history starting on weekday `start`: 1, t and six weekday dummies (Sunday is the base). */
function row (t: number, start: number): number[] {
  const x = [1, t, 0, 0, 0, 0, 0, 0]
  const dow = (start + t) % 7
  if (dow > 0) x[1 + dow] = 1
  return x
}

function ols (z: readonly number[], days: readonly number[], start: number) {
  const xtx = Array.from({ length: P }, () => new Array<number>(P).fill(0))
  const xty = new Array<number>(P).fill(0)
  for (const t of days) {
    const x = row(t, start)
    for (let i = 0; i < P; i++) {
      xty[i] += x[i] * z[t]
      for (let j = 0; j < P; j++) xtx[i][j] += x[i] * x[j]
    }
  }
  const beta = solve(xtx, xty)
  if (!beta) return undefined
  const inv = Array.from({ length: P }, (_, i) => solve(xtx, Array.from({ length: P }, (__, j) => (i === j ? 1 : 0)))!)
  return { beta, inv, residuals: days.map((t) => z[t] - dot(row(t, start), beta)), days }
}

/** Fits the series: log scale when every day has spend, one-off outliers left out, AR(1) on the residuals. */
function fitSeries (y: readonly number[], start: number): Fit | undefined {
  const log = y.every((v) => v > 0)
  const z = log ? y.map(Math.log) : [...y]
  const n = z.length
  let model = ols(z, Array.from({ length: n }, (_, t) => t), start)
  if (!model) return undefined
  const excluded: number[] = []
  while (excluded.length < Math.floor(n / 5)) {
    const m = median(model.residuals)
    const mad = median(model.residuals.map((e) => Math.abs(e - m)))
    // an exact fit leaves only rounding noise, which is no outlier
    if (!(mad > FLOAT_NOISE * (1 + z.reduce((m, v) => Math.max(m, Math.abs(v)), 0)))) break
    const zs = model.residuals.map((e) => (0.6745 * Math.abs(e - m)) / mad)
    let worst = 0
    for (let i = 1; i < zs.length; i++) if (zs[i] > zs[worst]) worst = i
    const day = model.days[worst]
    if (!(zs[worst] > OUTLIER_Z) || model.days.filter((t) => (t - day) % 7 === 0).length <= 2) break
    const next = ols(z, model.days.filter((t) => t !== day), start)
    if (!next) break
    excluded.push(day)
    model = next
  }
  const full = new Array<number>(n).fill(0)
  model.days.forEach((t, i) => { full[t] = model!.residuals[i] })
  const fitted = new Set(model.days)
  let num = 0
  let den = 0
  for (let t = 0; t < n; t++) {
    den += full[t] * full[t]
    if (t > 0) num += full[t] * full[t - 1]
  }
  // the lag-1 autocorrelation of fitted residuals runs low in short series (Kendall's (1 + 3φ)/n, and a trend fitted besides)
  const raw = den > 0 ? num / den : 0
  const phi = den > 0 ? Math.min(MAX_PHI, Math.max(0, raw + (1 + 3 * raw) / n + 2 / n)) : 0
  // a fitted trend soaks up slow deviations, so the residuals' own spread runs low; the innovations' spread does not
  let innovations = 0
  let m = 0
  for (let t = 1; t < n; t++) {
    if (!fitted.has(t) || !fitted.has(t - 1)) continue
    innovations += (full[t] - phi * full[t - 1]) ** 2
    m++
  }
  const s2 = m > P ? innovations / (m - P) / (1 - phi * phi) : model.residuals.reduce((s, e) => s + e * e, 0) / Math.max(1, model.days.length - P)
  return { beta: model.beta, inv: model.inv, residuals: full, s2, phi, excluded: excluded.sort((a, b) => a - b), log }
}

/**
 * The median of the next `h` days' total and its spread (a standard deviation on the fit's scale:
 * of the log of the total, or of the total). Future deviations start from the last day's residual
 * decaying at φ per day; their conditional covariance is s²(φ^|i−j| − φ^(i+j)); the trend's
 * uncertainty is s² gᵀ(XᵀX)⁻¹g, inflated by (1 + φ)/(1 − φ) for errors that persist.
 */
function project (fit: Fit, n: number, start: number, h: number): { median: number, sd: number } {
  const last = fit.residuals[n - 1]
  const levels: number[] = []
  const xs: number[][] = []
  for (let k = 1; k <= h; k++) {
    const x = row(n - 1 + k, start)
    xs.push(x)
    const z = dot(x, fit.beta) + fit.phi ** k * last
    // on the log scale a day's mean is exp(z + v/2), v its conditional variance s²(1 − φ^2k)
    levels.push(fit.log ? Math.exp(z + fit.s2 * (1 - fit.phi ** (2 * k)) / 2) : Math.max(0, z))
  }
  const total = levels.reduce((a, b) => a + b, 0)
  // weights: each day's share of the total on the log scale, or 1 on the dollar scale
  const wts = fit.log ? levels.map((v) => (total > 0 ? v / total : 0)) : levels.map(() => 1)
  let noise = 0
  const powers = Array.from({ length: 2 * h + 2 }, (_, i) => fit.phi ** i)
  for (let i = 1; i <= h; i++) {
    for (let j = 1; j <= h; j++) noise += wts[i - 1] * wts[j - 1] * (powers[Math.abs(i - j)] - powers[i + j])
  }
  noise *= fit.s2
  const g = new Array<number>(P).fill(0)
  xs.forEach((x, k) => x.forEach((v, i) => { g[i] += wts[k] * v }))
  const inflation = (1 + fit.phi) / (1 - fit.phi)
  const param = fit.s2 * inflation * dot(g, fit.inv.map((r) => dot(r, g)))
  const v = Math.max(0, noise + param)
  // the total of lognormal days is close to lognormal: its median sits exp(−V/2) below its mean
  return { median: fit.log ? total * Math.exp(-v / 2) : total, sd: Math.sqrt(v) }
}

const bounds = (p: { median: number, sd: number }, log: boolean, z: number) =>
  log
    ? { low: p.median * Math.exp(-z * p.sd), high: p.median * Math.exp(z * p.sd) }
    : { low: Math.max(0, p.median - z * p.sd), high: p.median + z * p.sd }

/**
 * Rolling-origin backtests: from every day with at least four weeks behind it and `h` days ahead,
 * fit on the past only and see where the next `h` days' total landed, in standard deviations
 * of the forecast. The widening is what makes `level` of them fall inside.
 */
function backtest (y: readonly number[], start: number, h: number, z: number, level: number): Backtest | null {
  const errors: number[] = []
  for (let o = MIN_TRAIN; o + h <= y.length; o++) {
    const fit = fitSeries(y.slice(0, o), start)
    if (!fit) continue
    const p = project(fit, o, start, h)
    const actual = y.slice(o, o + h).reduce((a, b) => a + b, 0)
    if (!(p.sd > 0)) continue
    if (fit.log) {
      if (actual > 0 && p.median > 0) errors.push(Math.abs(Math.log(actual / p.median)) / p.sd)
    } else {
      errors.push(Math.abs(actual - p.median) / p.sd)
    }
  }
  if (errors.length < MIN_BACKTESTS) return null
  const sorted = [...errors].sort((a, b) => a - b)
  const inside = errors.filter((e) => e <= z).length / errors.length
  const needed = sorted[Math.min(sorted.length - 1, Math.ceil(level * sorted.length) - 1)]
  return { origins: errors.length, horizon_days: h, raw_coverage: roundTo(inside, 4), widening: roundTo(Math.max(1, needed / z), 4) }
}

/**
 * Spend over the next `horizons` days with an interval at `level` (0.9 by default): daily spend
 * fitted as trend + weekday effects (on its logarithm when every day has spend, so that growth
 * compounds), AR(1) persistence of the residuals carried into the interval, which is widened
 * as rolling-origin backtests over the history require.
 */
export function forecastSpend (records: readonly UsageRecord[], horizons: readonly number[] = [30, 90], opts: ForecastOptions = {}): Forecast {
  const level = opts.level ?? 0.9
  const z = Z[String(level)] ?? Z['0.9']
  const w = windowOf(records)
  const empty = (insufficient: string): Forecast => ({ period: w, method: METHOD, confidence_level: level, horizons: [], insufficient })
  if (!w) return empty('there are no usage records')
  if (w.days < MIN_FORECAST_DAYS) return empty(`${w.days} days of data; a forecast needs at least ${MIN_FORECAST_DAYS}`)
  const y = dailyCost(records, w, () => 'all').get('all')!
  const start = new Date(w.from).getUTCDay()
  const fit = fitSeries(y, start)
  if (!fit) return empty('the daily series cannot be fitted')
  // the backtests check the longest horizon the history allows, up to the first one asked
  const checkH = Math.min(horizons[0], y.length - MIN_TRAIN - MIN_BACKTESTS + 1)
  const bt = checkH >= 7 ? backtest(y, start, checkH, z, level) : null
  const widening = bt?.widening ?? 1
  const out: ForecastHorizon[] = horizons.map((h) => {
    const p = project(fit, y.length, start, h)
    const { low, high } = bounds({ median: p.median, sd: p.sd * widening }, fit.log, z)
    return { days: h, from: addDays(w.to, 1), to: addDays(w.to, h), point_usd: roundCents(p.median), low_usd: roundCents(low), high_usd: roundCents(high) }
  })
  const b = fit.beta
  const growth = fit.log ? Math.exp(b[1]) - 1 : b[1]
  const effects = Object.fromEntries(WEEKDAYS.map((d, i) => [d, i === 0 ? (fit.log ? 1 : 0) : fit.log ? roundTo(Math.exp(b[1 + i]), 4) : roundCents(b[1 + i])])) as Forecast['weekday_effect']
  const fitted = (t: number) => (fit.log ? Math.exp(dot(row(t, start), b)) : dot(row(t, start), b))
  const monthAgo = Math.max(0, y.length - 31)
  const trendNow = fit.log ? Math.exp(b[1] * (y.length - 1)) : fitted(y.length - 1)
  const trendThen = fit.log ? Math.exp(b[1] * monthAgo) : fitted(monthAgo)
  return {
    period: w,
    method: METHOD,
    confidence_level: level,
    model: fit.log ? 'multiplicative' : 'additive',
    growth_per_day: roundTo(growth, fit.log ? 6 : 4),
    growth_per_month_pct: fit.log ? roundTo(100 * (Math.exp(30 * b[1]) - 1), 2) : (trendThen > 0 ? roundTo(100 * (trendNow / trendThen - 1), 2) : 0),
    weekday_effect: effects,
    persistence: roundTo(fit.phi, 4),
    excluded_days: fit.excluded.map((t) => addDays(w.from, t)),
    last_30_days_usd: roundCents(y.slice(-30).reduce((s, v) => s + v, 0)),
    backtest: bt,
    horizons: out
  }
}
