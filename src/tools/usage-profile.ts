import { priceFor } from './catalogue.js'
import { countRequests, sumCost } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { MIN_ANOMALY_DAYS } from './anomalies.js'
import { MIN_FORECAST_DAYS } from './forecast.js'
import { PRICES, type PriceTable } from './prices.js'
import type { UsageRecord } from './usage-data.js'
import { dayOf, MONTH_DAYS, recentRecords, windowOf, type UsageWindow } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

export interface UsageProfile {
  has_data: boolean
  records: number
  /** an aggregated record counts its `requests` */
  requests: number
  period: UsageWindow | null
  days_with_data: number
  total_cost_usd: number
  /** spend of the recent window (`run_rate_window`), per 30-day month */
  monthly_run_rate_usd: number
  /** the last 28 days of the data (all of it when shorter): what the run rate is read from */
  run_rate_window: UsageWindow | null
  models: string[]
  providers: string[]
  features: string[]
  /** spend on models the price catalogue does not know: no recommendation can price it */
  unpriced: { models: string[], cost_usd: number, share: number }
  /** which analyses the data supports */
  enough_for: { summary: boolean, recommendations: boolean, anomalies: boolean, forecast: boolean }
  min_days: { anomalies: number, forecast: number }
}

/** What the user's data holds and which analyses it can support. */
export function usageProfile (records: readonly UsageRecord[], table: PriceTable = PRICES): UsageProfile {
  const w = windowOf(records)
  const total = sumCost(records)
  const names = (keyOf: (r: UsageRecord) => string) => [...new Set(records.map(keyOf))].sort()
  const models = names((r) => r.model)
  const unpricedModels = models.filter((m) => !priceFor(m, table))
  const unpricedCost = sumCost(records.filter((r) => unpricedModels.includes(r.model)))
  const recent = recentRecords(records)
  return {
    has_data: records.length > 0,
    records: records.length,
    requests: countRequests(records),
    period: w,
    days_with_data: new Set(records.map((r) => dayOf(r.timestamp))).size,
    total_cost_usd: roundCents(total),
    monthly_run_rate_usd: recent ? roundCents(sumCost(recent.records) * MONTH_DAYS / recent.window.days) : 0,
    run_rate_window: recent?.window ?? null,
    models,
    providers: names((r) => r.provider),
    features: names((r) => r.feature ?? UNATTRIBUTED),
    unpriced: { models: unpricedModels, cost_usd: roundCents(unpricedCost), share: total > 0 ? roundTo(unpricedCost / total, 4) : 0 },
    enough_for: {
      summary: records.length > 0,
      recommendations: records.length > 0,
      anomalies: (w?.days ?? 0) >= MIN_ANOMALY_DAYS,
      forecast: (w?.days ?? 0) >= MIN_FORECAST_DAYS
    },
    min_days: { anomalies: MIN_ANOMALY_DAYS, forecast: MIN_FORECAST_DAYS }
  }
}
