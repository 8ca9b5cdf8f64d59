import { batchDiscountOf } from './catalogue.js'
import { byKey, countRequests, requestsOf, sumCost } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { PRICES, type PriceTable } from './prices.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { DAY_MS, dayOf, hourOf, windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** A feature whose requests fit in this many hours of the day (90 % of them) runs on a schedule. */
export const SCHEDULE_HOURS = 6
const SCHEDULE_SHARE = 0.9
/** a job runs on weekends as on weekdays; people do not */
const WEEKEND_RATIO = 0.75
/** UTC hours nobody in Europe or the Americas is at work */
const NIGHT = new Set([22, 23, 0, 1, 2, 3, 4, 5])

/** Word stems of features a person waits on: never batched, never capped without evidence. */
export const INTERACTIVE_STEMS = Object.freeze(['chat', 'assistant', 'support', 'bot', 'convers', 'copilot', 'agent', 'helpdesk', 'search', 'autocomplet'])

export const isInteractive = (feature: string) =>
  feature.toLowerCase().split(/[^a-z0-9]+/).some((word) => INTERACTIVE_STEMS.some((stem) => word.startsWith(stem)))

export interface BatchingOptions {
  /** features known to be latency-insensitive, whatever their traffic looks like */
  features?: readonly string[]
  table?: PriceTable
}

export interface TrafficPattern {
  /** the fewest consecutive UTC hours (wrapping midnight) that hold 90 % of the requests */
  hours: number[]
  share_in_hours: number
  /** requests per weekend day ÷ per weekday, idle days counted as zero; null without both */
  weekend_to_weekday: number | null
  /** every hour of the window is a night hour in Europe and the Americas */
  at_night: boolean
}

/** When in the day, and on which days, a feature's requests come. */
export function trafficPattern (rows: readonly UsageRecord[]): TrafficPattern {
  const byHour = new Array<number>(24).fill(0)
  const perDay = new Map<string, number>()
  for (const r of rows) {
    const n = requestsOf(r)
    byHour[hourOf(r.timestamp)] += n
    perDay.set(dayOf(r.timestamp), (perDay.get(dayOf(r.timestamp)) ?? 0) + n)
  }
  const total = byHour.reduce((a, b) => a + b, 0)
  let best = { start: 0, length: 24, sum: total }
  for (let length = 1; length <= 24 && best.length === 24; length++) {
    for (let start = 0; start < 24; start++) {
      let sum = 0
      for (let k = 0; k < length; k++) sum += byHour[(start + k) % 24]
      if (sum >= SCHEDULE_SHARE * total && (best.length === 24 || sum > best.sum)) best = { start, length, sum }
    }
  }
  const hours = Array.from({ length: best.length }, (_, k) => (best.start + k) % 24)
  const w = windowOf(rows)
  let weekend = { n: 0, days: 0 }
  let weekday = { n: 0, days: 0 }
  if (w) {
    for (let t = Date.parse(w.from); t <= Date.parse(w.to); t += DAY_MS) {
      const dow = new Date(t).getUTCDay()
      const n = perDay.get(dayOf(new Date(t).toISOString())) ?? 0
      if (dow === 0 || dow === 6) weekend = { n: weekend.n + n, days: weekend.days + 1 }
      else weekday = { n: weekday.n + n, days: weekday.days + 1 }
    }
  }
  const ratio = weekend.days && weekday.days && weekday.n > 0 ? (weekend.n / weekend.days) / (weekday.n / weekday.days) : null
  return {
    hours,
    share_in_hours: total > 0 ? roundTo(best.sum / total, 4) : 0,
    weekend_to_weekday: ratio === null ? null : roundTo(ratio, 4),
    at_night: hours.length < 24 && hours.every((h) => NIGHT.has(h))
  }
}

const hoursText = (hours: number[]) => `${String(hours[0]).padStart(2, '0')}–${String((hours.at(-1)! + 1) % 24).padStart(2, '0')} UTC`

/**
 * Work nobody waits on, sent through the providers' batch APIs at their discount: features
 * named by the caller, or whose traffic runs on a schedule (90 % of requests within six UTC
 * hours) and either at night or as much on weekends as on weekdays. Interactive features
 * (chat, assistants, support) are never batched. Models without a batch API save nothing.
 */
export function batching (records: readonly UsageRecord[], opts: BatchingOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const listed = opts.features ?? []
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const found: Recommendation[] = []
  for (const [feature, rows] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    const named = listed.includes(feature)
    if (feature === UNATTRIBUTED && !named) continue
    const pattern = trafficPattern(rows)
    const scheduled = pattern.hours.length <= SCHEDULE_HOURS
    const everyDay = pattern.weekend_to_weekday !== null && pattern.weekend_to_weekday >= WEEKEND_RATIO
    if (!named && (isInteractive(feature) || !scheduled || !(everyDay || pattern.at_night))) continue
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
    const reason = named
      ? 'named latency-insensitive by the caller'
      : `${roundTo(pattern.share_in_hours * 100, 2)}% of its requests come at ${hoursText(pattern.hours)}` +
        (everyDay ? ', weekends as much as weekdays: a scheduled job' : ', at night: a scheduled job')
    found.push(recommendation(w, total, savings, {
      type: 'batching',
      title: `Send ${feature} through the batch API`,
      confidence: named || (everyDay && pattern.at_night) ? 'high' : 'medium',
      evidence: {
        feature,
        reason,
        hours_utc: hoursText(pattern.hours),
        share_in_hours: pattern.share_in_hours,
        ...(pattern.weekend_to_weekday !== null && { weekend_to_weekday: pattern.weekend_to_weekday }),
        requests: countRequests(rows),
        batchable_requests: eligible,
        cost_usd: roundCents(sumCost(rows)),
        batch_discount_by_model: Object.fromEntries([...discounts].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
        period_savings_usd: roundCents(savings)
      },
      assumptions: [
        'the work can wait for results: batch APIs answer within 24 hours, usually much sooner',
        'the batch discount applies to input and output alike, and the prompts do not change'
      ],
      risk: `Batch results come back within 24 hours, not seconds: keep the live API as a fallback for ${feature} items that cannot wait.`
    }))
  }
  return recommendations(w, total, found)
}
