import { roundCents, roundTo } from './money.js'
import { median } from './robust-stats.js'
import type { UsageRecord } from './usage-data.js'
import { addDays, dailyCost, windowOf, type UsageWindow } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** fewer days than this give a series no baseline to speak of */
export const MIN_ANOMALY_DAYS = 7

export const ANOMALY_DIMENSIONS = Object.freeze(['model', 'feature'] as const)
export type AnomalyDimension = typeof ANOMALY_DIMENSIONS[number]

export interface AnomalyOptions {
  /** robust z-score above which a day is a spike (Iglewicz and Hoaglin suggest 3.5) */
  threshold?: number
  /** at least this many days in the window; MIN_ANOMALY_DAYS by default */
  min_days?: number
}

export interface Spike {
  dimension: AnomalyDimension
  key: string
  /** consecutive days above the threshold */
  days: string[]
  cost_usd: number
  /** the series' median day, times the spike's days */
  baseline_usd: number
  excess_usd: number
  /** cost ÷ baseline; null when the baseline is zero */
  multiple: number | null
  /** 0.6745 × (day − median) ÷ MAD, largest over the spike's days */
  max_robust_z: number
}

export interface AnomalyReport {
  period: UsageWindow | null
  threshold: number
  series_checked: number
  /** largest excess first */
  anomalies: Spike[]
  /** why nothing was checked, when nothing was */
  insufficient?: string
}

const KEY: Record<AnomalyDimension, (r: UsageRecord) => string> = {
  model: (r) => r.model,
  feature: (r) => r.feature ?? UNATTRIBUTED
}

/**
 * Spikes in daily spend per model and per feature. Each series (every day of the window, zero
 * when idle) gets its median and median absolute deviation; a day's robust z-score is
 * 0.6745 × (cost − median) ÷ MAD, or (cost − median) ÷ (1.2533 × mean absolute deviation) when
 * the MAD is zero. Consecutive days above the threshold make one spike.
 */
export function detectAnomalies (records: readonly UsageRecord[], opts: AnomalyOptions = {}): AnomalyReport {
  const threshold = opts.threshold ?? 3.5
  const minDays = opts.min_days ?? MIN_ANOMALY_DAYS
  const w = windowOf(records)
  if (!w) return { period: null, threshold, series_checked: 0, anomalies: [], insufficient: 'there are no usage records' }
  if (w.days < minDays) return { period: w, threshold, series_checked: 0, anomalies: [], insufficient: `${w.days} days of data; spikes need at least ${minDays}` }
  const anomalies: Spike[] = []
  let checked = 0
  for (const dimension of ANOMALY_DIMENSIONS) {
    for (const [key, series] of [...dailyCost(records, w, KEY[dimension])].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      checked++
      const z = robustZ(series)
      anomalies.push(...spikesOf(z, threshold).map((run) => {
        const cost = run.reduce((s, d) => s + series[d], 0)
        const baseline = run.length * median(series)
        return {
          dimension,
          key,
          days: run.map((d) => addDays(w.from, d)),
          cost_usd: roundCents(cost),
          baseline_usd: roundCents(baseline),
          excess_usd: roundCents(cost - baseline),
          multiple: baseline > 0 ? roundTo(cost / baseline, 2) : null,
          max_robust_z: roundTo(Math.max(...run.map((d) => z[d])), 2)
        }
      }))
    }
  }
  anomalies.sort((a, b) => b.excess_usd - a.excess_usd || (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0) || (a.key < b.key ? -1 : 1))
  return { period: w, threshold, series_checked: checked, anomalies }
}

/** Each day's robust z-score; all zero for a flat series. */
export function robustZ (series: readonly number[]): number[] {
  const m = median(series)
  const deviations = series.map((x) => Math.abs(x - m))
  const mad = median(deviations)
  const meanAd = deviations.reduce((s, d) => s + d, 0) / series.length
  // sums of float costs differ in their last bits: that is no spread
  const noise = 1e-9 * (1 + Math.abs(m))
  if (mad > noise) return series.map((x) => (0.6745 * (x - m)) / mad)
  if (meanAd > noise) return series.map((x) => (x - m) / (1.253314 * meanAd))
  return series.map(() => 0)
}

/** Runs of consecutive day indexes whose robust z-score is above the threshold. */
function spikesOf (z: readonly number[], threshold: number): number[][] {
  const runs: number[][] = []
  z.forEach((v, d) => {
    if (!(v > threshold)) return
    const last = runs[runs.length - 1]
    if (last && last[last.length - 1] === d - 1) last.push(d)
    else runs.push([d])
  })
  return runs
}
