import { priceFor } from './catalogue.js'
import { countRequests, sumCost } from './group-by.js'
import { roundCents } from './money.js'
import { MIN_ANOMALY_DAYS } from './anomalies.js'
import { MIN_FORECAST_DAYS } from './forecast.js'
import type { UsageRecord } from './usage-data.js'
import { dayOf, monthlyFactor, windowOf, type UsageWindow } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

export interface UsageProfile {
  has_data: boolean
  records: number
  /** an aggregated record counts its `requests` */
  requests: number
  period: UsageWindow | null
  days_with_data: number
  total_cost_usd: number
  /** spend over the window, per 30-day month */
  monthly_run_rate_usd: number
  models: string[]
  providers: string[]
  features: string[]
  /** models the price catalogue does not know: the recommendations skip their traffic */
  unpriced_models: string[]
  /** which analyses the data supports */
  enough_for: { summary: boolean, recommendations: boolean, anomalies: boolean, forecast: boolean }
  min_days: { anomalies: number, forecast: number }
}

/** What the user's data holds and which analyses it can support. */
export function usageProfile (records: readonly UsageRecord[]): UsageProfile {
  const w = windowOf(records)
  const total = sumCost(records)
  const names = (keyOf: (r: UsageRecord) => string) => [...new Set(records.map(keyOf))].sort()
  const models = names((r) => r.model)
  return {
    has_data: records.length > 0,
    records: records.length,
    requests: countRequests(records),
    period: w,
    days_with_data: new Set(records.map((r) => dayOf(r.timestamp))).size,
    total_cost_usd: roundCents(total),
    monthly_run_rate_usd: w ? roundCents(total * monthlyFactor(w)) : 0,
    models,
    providers: names((r) => r.provider),
    features: names((r) => r.feature ?? UNATTRIBUTED),
    unpriced_models: models.filter((m) => !priceFor(m)),
    enough_for: {
      summary: records.length > 0,
      recommendations: records.length > 0,
      anomalies: (w?.days ?? 0) >= MIN_ANOMALY_DAYS,
      forecast: (w?.days ?? 0) >= MIN_FORECAST_DAYS
    },
    min_days: { anomalies: MIN_ANOMALY_DAYS, forecast: MIN_FORECAST_DAYS }
  }
}
