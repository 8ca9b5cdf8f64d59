import { requestsOf } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { findRetryStorms } from './retry-storms.js'
import { median } from './robust-stats.js'
import type { UsageRecord } from './usage-data.js'
import { addDays, dayIndex, dayOf, windowOf, type UsageWindow } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** fewer days than this give a series no baseline to speak of */
export const MIN_ANOMALY_DAYS = 7
/** same-weekday days on each side of a day that make its baseline: four weeks back and four ahead */
const PEER_WEEKS = 4

export const ANOMALY_DIMENSIONS = Object.freeze(['model', 'feature'] as const)
export type AnomalyDimension = typeof ANOMALY_DIMENSIONS[number]
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

export interface AnomalyOptions {
  /** robust z-score above which a day is a spike (Iglewicz and Hoaglin suggest 3.5) */
  threshold?: number
  /** at least this many days in the window; MIN_ANOMALY_DAYS by default */
  min_days?: number
}

/** What a spike's days had that its usual days did not, per day, in dollars and in the measures behind them. */
export interface SpikeCauses {
  /** more (or fewer) requests, at the usual cost per request */
  volume_usd: number
  /** requests moved between models of different cost */
  model_mix_usd: number
  /** each model's requests costing more: more tokens per request (or dearer tokens) */
  per_request_usd: number
  requests: { spike: number, usual: number }
  input_tokens_per_request: { spike: number, usual: number }
  output_tokens_per_request: { spike: number, usual: number }
  /** share of requests inside retry storms (the same prompt again within seconds) */
  retry_share: { spike: number, usual: number }
  /** the largest of the causes */
  main: 'volume' | 'model mix' | 'tokens per request' | 'retries'
}

export interface Spike {
  dimension: AnomalyDimension
  key: string
  /** consecutive days above the threshold */
  days: string[]
  cost_usd: number
  /** the sum of each spike day's baseline: the median of the same weekday in the weeks around it */
  baseline_usd: number
  excess_usd: number
  /** cost ÷ baseline; null when the baseline is zero */
  multiple: number | null
  /** largest over the spike's days */
  max_robust_z: number
  /** the days the baseline was read from */
  baseline_days: string[]
  causes: SpikeCauses
  /** the causes in words */
  explanation: string
}

export interface AnomalyReport {
  period: UsageWindow | null
  threshold: number
  method: string
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

const METHOD = 'each day against the median of the same weekday in the four weeks before and after it; ' +
  'a day is a spike when its deviation from that baseline, relative to the baseline, has a robust z-score (median and MAD over every day) above the threshold'

/**
 * Spikes in daily spend per model and per feature, the weekly cycle taken out: each day's
 * baseline is the median of the same weekday within four weeks on either side (all other days
 * when there are fewer than two such), its deviation is (cost − baseline) ÷ baseline, and its
 * robust z-score is 0.6745 × (deviation − median) ÷ MAD over every day of the series (the mean
 * absolute deviation when the MAD is zero). Consecutive days above the threshold make one
 * spike, decomposed into volume, model mix, tokens per request and retries.
 */
export function detectAnomalies (records: readonly UsageRecord[], opts: AnomalyOptions = {}): AnomalyReport {
  const threshold = opts.threshold ?? 3.5
  const minDays = opts.min_days ?? MIN_ANOMALY_DAYS
  const w = windowOf(records)
  const base = { threshold, method: METHOD }
  if (!w) return { period: null, ...base, series_checked: 0, anomalies: [], insufficient: 'there are no usage records' }
  if (w.days < minDays) return { period: w, ...base, series_checked: 0, anomalies: [], insufficient: `${w.days} days of data; spikes need at least ${minDays}` }
  const dayAt = dayIndex(w.from)
  const index = (r: UsageRecord) => dayAt(dayOf(r.timestamp))
  const storms = new Set(findRetryStorms(records).request_ids)
  const anomalies: Spike[] = []
  let checked = 0
  for (const dimension of ANOMALY_DIMENSIONS) {
    const byKey = new Map<string, UsageRecord[][]>()
    for (const r of records) {
      const key = KEY[dimension](r)
      let days = byKey.get(key)
      if (!days) byKey.set(key, (days = Array.from({ length: w.days }, () => [])))
      days[index(r)].push(r)
    }
    for (const [key, days] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      checked++
      const series = days.map((rs) => rs.reduce((s, r) => s + r.cost_usd, 0))
      const { z, baseline, peers } = seasonalZ(series)
      for (const run of spikesOf(z, series, baseline, threshold)) {
        const cost = run.reduce((s, d) => s + series[d], 0)
        const base = run.reduce((s, d) => s + baseline[d], 0)
        const usualDays = [...new Set(run.flatMap((d) => peers[d]))].filter((d) => !run.includes(d)).sort((a, b) => a - b)
        const causes = decompose(run.flatMap((d) => days[d]), run.length, usualDays.flatMap((d) => days[d]), usualDays.length, storms)
        const spikeDays = run.map((d) => addDays(w.from, d))
        anomalies.push({
          dimension,
          key,
          days: spikeDays,
          cost_usd: roundCents(cost),
          baseline_usd: roundCents(base),
          excess_usd: roundCents(cost - base),
          multiple: base > 0 ? roundTo(cost / base, 2) : null,
          max_robust_z: roundTo(Math.max(...run.map((d) => z[d])), 2),
          baseline_days: usualDays.map((d) => addDays(w.from, d)),
          causes,
          explanation: explain(dimension, key, spikeDays, causes)
        })
      }
    }
  }
  anomalies.sort((a, b) => b.excess_usd - a.excess_usd || (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0) || (a.key < b.key ? -1 : 1))
  return { period: w, ...base, series_checked: checked, anomalies }
}

/** Each day's baseline (same-weekday median), the peers it came from, and its robust z-score. */
export function seasonalZ (series: readonly number[]): { z: number[], baseline: number[], peers: number[][] } {
  const n = series.length
  const peers = series.map((_, d) => {
    const same: number[] = []
    for (let k = -PEER_WEEKS; k <= PEER_WEEKS; k++) if (k !== 0 && d + 7 * k >= 0 && d + 7 * k < n) same.push(d + 7 * k)
    return same.length >= 2 ? same : series.map((__, i) => i).filter((i) => i !== d)
  })
  const baseline = peers.map((p) => median(p.map((i) => series[i])))
  const positive = series.filter((x) => x > 0)
  // a floor under the baseline, so a day of a feature that is usually idle is measured in dollars of its usual day
  const floor = Math.max(0.05 * (positive.length ? median(positive) : 0), 0.01)
  const deviation = series.map((x, d) => (x - baseline[d]) / Math.max(baseline[d], floor))
  return { z: robustZ(deviation), baseline, peers }
}

/** Each value's robust z-score; all zero for a flat series. */
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

/** Runs of consecutive days above the threshold whose cost is above their baseline. */
function spikesOf (z: readonly number[], series: readonly number[], baseline: readonly number[], threshold: number): number[][] {
  const runs: number[][] = []
  z.forEach((v, d) => {
    if (!(v > threshold) || !(series[d] - baseline[d] > 1e-9 * (1 + baseline[d]))) return
    const last = runs[runs.length - 1]
    if (last && last[last.length - 1] === d - 1) last.push(d)
    else runs.push([d])
  })
  return runs
}

interface Mix { requests: number, cost: number, input: number, output: number, retries: number, byModel: Map<string, { requests: number, cost: number }> }

function mixOf (rows: readonly UsageRecord[], days: number, storms: ReadonlySet<string>): Mix {
  const m: Mix = { requests: 0, cost: 0, input: 0, output: 0, retries: 0, byModel: new Map() }
  for (const r of rows) {
    const n = requestsOf(r)
    m.requests += n
    m.cost += r.cost_usd
    m.input += r.input_tokens
    m.output += r.output_tokens
    if (storms.has(r.request_id)) m.retries += n
    const g = m.byModel.get(r.model) ?? { requests: 0, cost: 0 }
    g.requests += n
    g.cost += r.cost_usd
    m.byModel.set(r.model, g)
  }
  // per day, so spike days and usual days compare like with like
  const k = Math.max(days, 1)
  return { ...m, requests: m.requests / k, cost: m.cost / k, input: m.input / k, output: m.output / k, retries: m.retries / k, byModel: new Map([...m.byModel].map(([model, g]) => [model, { requests: g.requests / k, cost: g.cost / k }])) }
}

/**
 * The change from an average usual day to an average spike day, split exactly into volume
 * ((N₁ − N₀) × C₀/N₀), model mix (N₁ × (Σ share₁ × cost per request₀ − C₀/N₀)) and cost per request
 * within each model (N₁ × Σ share₁ × Δ cost per request); a model new on the spike days keeps its own cost per request.
 */
export function decompose (spikeRows: readonly UsageRecord[], spikeDays: number, usualRows: readonly UsageRecord[], usualDays: number, storms: ReadonlySet<string>): SpikeCauses {
  const s = mixOf(spikeRows, spikeDays, storms)
  const u = mixOf(usualRows, usualDays, storms)
  const avgUsual = u.requests > 0 ? u.cost / u.requests : 0
  let atUsualRates = 0
  let rateChange = 0
  for (const [model, g] of s.byModel) {
    const share = s.requests > 0 ? g.requests / s.requests : 0
    const now = g.requests > 0 ? g.cost / g.requests : 0
    const usual = u.byModel.get(model)
    const before = usual && usual.requests > 0 ? usual.cost / usual.requests : now
    atUsualRates += share * before
    rateChange += share * (now - before)
  }
  const volume = u.requests > 0 ? (s.requests - u.requests) * avgUsual : s.cost
  const mix = u.requests > 0 ? s.requests * (atUsualRates - avgUsual) : 0
  const perRequest = u.requests > 0 ? s.requests * rateChange : 0
  const perReq = (tokens: number, n: number) => (n > 0 ? Math.round(tokens / n) : 0)
  const retryShare = { spike: s.requests > 0 ? roundTo(s.retries / s.requests, 4) : 0, usual: u.requests > 0 ? roundTo(u.retries / u.requests, 4) : 0 }
  const sizes: Array<[SpikeCauses['main'], number]> = [['volume', volume], ['model mix', mix], ['tokens per request', perRequest]]
  let main = sizes.reduce((a, b) => (Math.abs(b[1]) > Math.abs(a[1]) ? b : a))[0]
  // retried requests are volume, but the cause to fix is the retry loop
  if (main === 'volume' && retryShare.spike >= 0.5 && retryShare.spike > retryShare.usual) main = 'retries'
  return {
    volume_usd: roundCents(volume),
    model_mix_usd: roundCents(mix),
    per_request_usd: roundCents(perRequest),
    requests: { spike: Math.round(s.requests), usual: Math.round(u.requests) },
    input_tokens_per_request: { spike: perReq(s.input, s.requests), usual: perReq(u.input, u.requests) },
    output_tokens_per_request: { spike: perReq(s.output, s.requests), usual: perReq(u.output, u.requests) },
    retry_share: retryShare,
    main
  }
}

const signed = (usd: number) => `${usd < 0 ? '−' : '+'}$${Math.abs(usd).toFixed(2)}`
const change = (a: number, b: number) => (b > 0 ? `${a >= b ? '+' : '−'}${Math.abs(roundTo((100 * (a - b)) / b, 1))}%` : 'new')

function explain (dimension: AnomalyDimension, key: string, days: readonly string[], c: SpikeCauses): string {
  const weekday = WEEKDAYS[new Date(`${days[0]}T00:00:00Z`).getUTCDay()]
  const usual = days.length === 1 ? `a usual ${weekday}` : 'the usual same weekdays'
  const volume = c.requests.usual > 0
    ? `${c.requests.spike} requests a day against ${c.requests.usual} on ${usual} (${signed(c.volume_usd)} a day)`
    : `${c.requests.spike} requests a day where there are usually none`
  const parts = [
    `volume: ${volume}`,
    `model mix: ${signed(c.model_mix_usd)} a day`,
    `tokens per request: input ${change(c.input_tokens_per_request.spike, c.input_tokens_per_request.usual)}, ` +
      `output ${change(c.output_tokens_per_request.spike, c.output_tokens_per_request.usual)} (${signed(c.per_request_usd)} a day)`
  ]
  if (c.retry_share.spike > 0 || c.retry_share.usual > 0) {
    parts.push(`retries: ${roundTo(c.retry_share.spike * 100, 1)}% of requests are the same prompt resent within seconds (usually ${roundTo(c.retry_share.usual * 100, 1)}%)`)
  }
  const lead = { volume: 'more requests', 'model mix': 'a shift to dearer models', 'tokens per request': 'more tokens per request', retries: 'a retry loop' }[c.main]
  return `The ${dimension} ${key} spiked mostly from ${lead}: ${parts.join('; ')}.`
}
