import { priceFor } from './catalogue.js'
import { byKey, countRequests, requestsOf, sumCost } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { PRICES, type PriceTable } from './prices.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** OpenAI and Anthropic cache nothing shorter than this many prompt tokens. */
export const MIN_CACHEABLE_TOKENS = 1024
const WARM_MS = 3_600_000

export interface CachingOptions {
  min_prompt_tokens?: number
  table?: PriceTable
}

/**
 * Requests that repeat a prompt (same model and `prompt_hash`): after the first, each could read
 * the shared prefix from the provider's cache at the cached-input price. The prefix is taken as
 * the shortest prompt of the group (a shared prefix cannot be longer), less the tokens each
 * request already had cached; prefixes under `min_prompt_tokens` are not cacheable. An
 * aggregated record counts as `requests` requests of its mean size, repeated within its hour.
 */
export function promptCaching (records: readonly UsageRecord[], opts: CachingOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const minTokens = opts.min_prompt_tokens ?? MIN_CACHEABLE_TOKENS
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const found: Recommendation[] = []
  for (const [feature, rows] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    let savings = 0
    let repeats = 0
    let warm = 0
    let prompts = 0
    let cacheable = 0
    const prefixes: number[] = []
    const groups = byKey(rows.filter((r) => r.prompt_hash && priceFor(r.model, table)), (r) => JSON.stringify([r.model, r.prompt_hash]))
    for (const group of groups.values()) {
      if (countRequests(group) < 2) continue
      const prefix = Math.min(...group.map((r) => r.input_tokens / requestsOf(r)))
      if (prefix < minTokens) continue
      const p = priceFor(group[0].model, table)!
      group.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.request_id < b.request_id ? -1 : 1))
      prompts++
      prefixes.push(prefix)
      group.forEach((r, i) => {
        const n = requestsOf(r)
        const again = i === 0 ? n - 1 : n
        const tokens = again * Math.max(0, prefix - (r.cached_tokens ?? 0) / n)
        repeats += again
        cacheable += tokens
        savings += (tokens * (p.input - p.cached_input)) / 1e6
        warm += n - 1 + (i > 0 && Date.parse(r.timestamp) - Date.parse(group[i - 1].timestamp) <= WARM_MS ? 1 : 0)
      })
    }
    if (!(savings > 0)) continue
    const input = rows.reduce((n, r) => n + r.input_tokens, 0)
    const warmShare = warm / repeats
    found.push(recommendation(w, total, savings, {
      type: 'caching',
      title: `Cache the repeated prompt prefixes of ${feature}`,
      confidence: warmShare >= 0.8 ? 'high' : warmShare >= 0.3 ? 'medium' : 'low',
      evidence: {
        feature,
        requests: countRequests(rows),
        repeated_prompts: prompts,
        repeat_requests: repeats,
        repeats_within_1h: warm,
        input_tokens: input,
        cacheable_input_tokens: Math.round(cacheable),
        cacheable_share: roundTo(cacheable / input, 4),
        // an hourly aggregate only gives a mean prompt length, so its estimate runs high
        estimated_prefix_tokens: { min: Math.round(Math.min(...prefixes)), max: Math.round(Math.max(...prefixes)) },
        min_prompt_tokens: minTokens,
        period_savings_usd: roundCents(savings)
      },
      risk: 'Savings assume every repeat finds the prefix still cached; providers keep it for minutes to an hour, so ' +
        'repeats further apart miss, and Anthropic bills cache writes above the input price. The shared prefix must open the prompt.'
    }))
  }
  return recommendations(w, total, found)
}
