import { roundCents, roundTo } from './money.js'
import { monthlyFactor, type UsageWindow } from './usage-period.js'

export const RECOMMENDATION_TYPES = Object.freeze(['retries', 'routing', 'caching', 'batching', 'tiering', 'limits'] as const)
export type RecommendationType = typeof RECOMMENDATION_TYPES[number]
export type Confidence = 'high' | 'medium' | 'low'

export interface Recommendation {
  type: RecommendationType
  title: string
  /** what the change would have saved over the analysed window, per 30-day month, in cents */
  monthly_savings_usd: number
  /** of the spend over the same window, in percent with two decimals */
  savings_pct: number
  confidence: Confidence
  /** the figures the recommendation rests on */
  evidence: Record<string, unknown>
  /** what the saving takes for granted, in words */
  assumptions: string[]
  risk: string
}

/** What every recommendation tool returns. */
export interface Recommendations {
  /** the days the savings were read from: the last 28 days of the data unless a range was asked for */
  period: UsageWindow | null
  /** spend over the window, per 30-day month */
  monthly_spend_usd: number
  recommendations: Recommendation[]
}

/** Money in, rounded once: `savings` and `total` are the raw sums over the window. */
export function recommendation (w: UsageWindow, total: number, savings: number, r: Omit<Recommendation, 'monthly_savings_usd' | 'savings_pct'>): Recommendation {
  return {
    type: r.type,
    title: r.title,
    monthly_savings_usd: roundCents(savings * monthlyFactor(w)),
    savings_pct: total > 0 ? roundTo((100 * savings) / total, 2) : 0,
    confidence: r.confidence,
    evidence: r.evidence,
    assumptions: r.assumptions,
    risk: r.risk
  }
}

/** Largest monthly savings first; ties by type, then title, so the order is stable. */
export function bySavings (list: readonly Recommendation[]): Recommendation[] {
  return [...list].sort((a, b) => b.monthly_savings_usd - a.monthly_savings_usd ||
    (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) || (a.title < b.title ? -1 : a.title > b.title ? 1 : 0))
}

export function recommendations (w: UsageWindow | null, total: number, list: readonly Recommendation[]): Recommendations {
  return { period: w, monthly_spend_usd: w ? roundCents(total * monthlyFactor(w)) : 0, recommendations: bySavings(list) }
}
