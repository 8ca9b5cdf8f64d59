import { batchDiscountOf } from './catalogue.js'
import { byKey, countRequests, requestsOf, sumCost } from './group-by.js'
import { roundCents } from './money.js'
import { PRICES, type PriceTable } from './prices.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** Word stems of features nobody waits on. */
export const OFFLINE_STEMS = Object.freeze(['nightly', 'batch', 'report', 'offline', 'backfill', 'digest', 'etl', 'bulk', 'cron', 'scheduled', 'eval'])

export interface BatchingOptions {
  /** features known to be latency-insensitive, besides those whose names say so */
  features?: readonly string[]
  table?: PriceTable
}

export function isOffline (feature: string): boolean {
  return feature.toLowerCase().split(/[^a-z0-9]+/).some((word) => OFFLINE_STEMS.some((stem) => word.startsWith(stem)))
}

/**
 * Latency-insensitive features sent through the providers' batch APIs: their cost × the batch
 * discount of each request's model, where the catalogue lists one (no batch API: no saving).
 */
export function batching (records: readonly UsageRecord[], opts: BatchingOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const listed = opts.features ?? []
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const found: Recommendation[] = []
  for (const [feature, rows] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    const named = isOffline(feature)
    if (feature === UNATTRIBUTED || !(listed.includes(feature) || named)) continue
    let savings = 0
    let eligible = 0
    const discounts = new Map<string, number>()
    for (const r of rows) {
      const d = batchDiscountOf(r.model, table)
      if (d === undefined) continue
      eligible += requestsOf(r)
      savings += r.cost_usd * d
      discounts.set(r.model, d)
    }
    if (!(savings > 0)) continue
    found.push(recommendation(w, total, savings, {
      type: 'batching',
      title: `Send ${feature} through the batch API`,
      confidence: listed.includes(feature) ? 'high' : 'medium',
      evidence: {
        feature,
        reason: listed.includes(feature) ? 'named latency-insensitive by the caller' : 'its name marks it as offline work',
        requests: countRequests(rows),
        batchable_requests: eligible,
        cost_usd: roundCents(sumCost(rows)),
        batch_discount_by_model: Object.fromEntries([...discounts].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
        period_savings_usd: roundCents(savings)
      },
      risk: `Batch results come back within 24 hours, not seconds: only for ${feature} work nobody waits on, with a fallback to the live API when a batch is late.`
    }))
  }
  return recommendations(w, total, found)
}
