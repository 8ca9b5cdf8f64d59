import { isInteractive } from './batching.js'
import { priceFor } from './catalogue.js'
import { byKey, requestsOf, sumCost } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { PRICES, type PriceTable } from './prices.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import { percentile } from './robust-stats.js'
import type { UsageRecord } from './usage-data.js'
import { windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

export interface OutputCapOptions {
  /** fewer requests than this say too little about a feature's outputs */
  min_requests?: number
  /** flag a feature when its p95 output is at least this many times its median */
  ratio?: number
  table?: PriceTable
}

/**
 * Features whose long outputs run far past what they usually need (p95 ≥ ratio × median, nearest
 * rank): capping `max_tokens` at their p90 saves the output tokens above it at each model's price.
 * Only single-request records count. Never on reasoning models (their output counts hide the
 * reasoning a cap would cut) nor on interactive features (a person reads those answers).
 */
export function outputCaps (records: readonly UsageRecord[], opts: OutputCapOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const minRequests = opts.min_requests ?? 20
  const ratio = opts.ratio ?? 2
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const found: Recommendation[] = []
  for (const [feature, all] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    if (isInteractive(feature)) continue
    // an aggregated line has only a mean output per request, which says nothing of the tail
    const rows = all.filter((r) => requestsOf(r) === 1 && priceFor(r.model, table) && !priceFor(r.model, table)!.reasoning)
    if (rows.length < minRequests) continue
    const sorted = rows.map((r) => r.output_tokens).sort((a, b) => a - b)
    const [p50, p90, p95] = [50, 90, 95].map((p) => percentile(sorted, p))
    if (!(p50 > 0 && p95 >= ratio * p50)) continue
    let savings = 0
    let capped = 0
    let trimmed = 0
    for (const r of rows) {
      if (r.output_tokens <= p90) continue
      capped++
      trimmed += r.output_tokens - p90
      savings += ((r.output_tokens - p90) * priceFor(r.model, table)!.output) / 1e6
    }
    if (!(savings > 0)) continue
    const cappedShare = roundTo(capped / rows.length, 4)
    found.push(recommendation(w, total, savings, {
      type: 'limits',
      title: `Cap ${feature} output at ${p90} tokens`,
      confidence: p95 >= 4 * p50 ? 'medium' : 'low',
      evidence: {
        feature,
        requests: rows.length,
        p50_output_tokens: p50,
        p90_output_tokens: p90,
        p95_output_tokens: p95,
        max_output_tokens: sorted[sorted.length - 1],
        cap_tokens: p90,
        capped_requests: capped,
        capped_share: cappedShare,
        output_tokens_trimmed: trimmed,
        period_savings_usd: roundCents(savings)
      },
      assumptions: [
        `the ${capped} answers above ${p90} tokens would have been as useful cut at ${p90}: check a sample of them before capping`,
        'the models bill no hidden reasoning tokens, so the output counted is the answer itself'
      ],
      risk: `${roundTo(cappedShare * 100, 2)}% of ${feature} responses run past the cap and would be cut off: ask for brevity in the prompt and watch for truncated answers (finish_reason "length").`
    }))
  }
  return recommendations(w, total, found)
}
