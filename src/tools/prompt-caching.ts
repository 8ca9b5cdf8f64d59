import { priceFor } from './catalogue.js'
import { byKey, countRequests, requestsOf, sumCost } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import { PRICES, ratesFor, type CacheRules, type ModelPrice, type PriceTable } from './prices.js'
import { recommendation, recommendations, type Confidence, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { epochOf, windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

const HOUR_MS = 3_600_000

export interface CachingOptions {
  /** prefixes shorter than this are left out, besides the provider's own minimum */
  min_prompt_tokens?: number
  table?: PriceTable
  /** requests to leave out (a retry storm's: a bug to fix, not traffic to cache) */
  exclude?: ReadonlySet<string>
}

/** The replay of one (model, prompt_hash) group under one TTL. */
export interface CacheReplay {
  hits: number
  writes: number
  /** what the prefix tokens cost as billed */
  current_usd: number
  /** what they would cost with the cache: writes at the write price, hits at the read price */
  cached_usd: number
}

export const ttlLabel = (ttlS: number) => (ttlS % 3600 === 0 ? `${ttlS / 3600} h` : `${ttlS / 60} min`)

/**
 * Replays one group's requests in time order through a cache that keeps a prefix `ttlS` seconds
 * after its last use. A request finding the prefix alive reads it at the cached-input price; any
 * other writes it at the TTL's write price. An hourly aggregate's `requests` are taken as evenly
 * spread over its hour. The current cost prices the prefix as billed: the record's own cached
 * tokens at the cached rate, the rest at the input rate (long-context rates for long prompts).
 */
export function replayCache (group: readonly UsageRecord[], prefix: number, price: ModelPrice, ttlS: number): CacheReplay {
  const write = price.cache!.write[String(ttlS)]
  const ttl = ttlS * 1000
  const memo = new Map<string, number>()
  const at = (r: UsageRecord) => epochOf(memo, r.timestamp)
  const sorted = [...group].sort((a, b) => at(a) - at(b) || (a.request_id < b.request_id ? -1 : 1))
  let last: number | undefined
  const out: CacheReplay = { hits: 0, writes: 0, current_usd: 0, cached_usd: 0 }
  for (const r of sorted) {
    const n = requestsOf(r)
    const rates = ratesFor(price, r.input_tokens / n)
    const cachedNow = Math.min(prefix, (r.cached_tokens ?? 0) / n)
    out.current_usd += n * (cachedNow * rates.cached_input + (prefix - cachedNow) * rates.input) / 1e6
    const t = at(r)
    const start = n === 1 ? t : Math.floor(t / HOUR_MS) * HOUR_MS
    const gap = HOUR_MS / n
    const first = n === 1 ? t : start + gap / 2
    const firstHits = last !== undefined && first - last <= ttl
    const rest = n - 1
    const restHit = gap <= ttl
    const hits = (firstHits ? 1 : 0) + (restHit ? rest : 0)
    const writes = n - hits
    out.hits += hits
    out.writes += writes
    // a write is billed at the write price; Anthropic's writes cost more than plain input
    out.cached_usd += (hits * prefix * rates.cached_input + writes * prefix * (write * rates.input / price.input)) / 1e6
    last = n === 1 ? t : start + gap * (n - 0.5)
  }
  return out
}

function rulesText (p: ModelPrice, rules: CacheRules): string {
  const writes = Object.entries(rules.write).map(([ttl, w]) => `${ttlLabel(Number(ttl))} TTL writes at ${roundTo(w / p.input, 2)}× input`).join(', ')
  return `${p.provider}: prefixes of ${rules.min_tokens}+ tokens, ${rules.automatic ? 'cached automatically' : 'marked with cache_control'}, ${writes}, reads at ${roundTo(p.cached_input / p.input, 3)}× input`
}

/**
 * Requests that repeat a prompt prefix (same model and `prompt_hash`), replayed on their actual
 * times under each provider's cache rules (minimum prefix, TTLs, write surcharge, read price);
 * for each feature, the TTL that saves most. The shared prefix is taken as the shortest prompt of
 * the group (a shared prefix cannot be longer). Models without cache rules, and prefixes below
 * the provider's minimum, are left out. A saving can be negative: then there is no recommendation.
 */
export function promptCaching (records: readonly UsageRecord[], opts: CachingOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const found: Recommendation[] = []
  for (const [feature, rows] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    const usable = rows.filter((r) => r.prompt_hash && priceFor(r.model, table)?.cache && !opts.exclude?.has(r.request_id))
    const groups: Array<{ rows: UsageRecord[], prefix: number, price: ModelPrice }> = []
    for (const group of byKey(usable, (r) => JSON.stringify([r.model, r.prompt_hash])).values()) {
      if (countRequests(group) < 2) continue
      const price = priceFor(group[0].model, table)!
      const prefix = group.reduce((m, r) => Math.min(m, r.input_tokens / requestsOf(r)), Infinity)
      if (prefix < Math.max(price.cache!.min_tokens, opts.min_prompt_tokens ?? 0)) continue
      groups.push({ rows: group, prefix, price })
    }
    if (!groups.length) continue
    const ttls = [...new Set(groups.flatMap((g) => Object.keys(g.price.cache!.write).map(Number)))].sort((a, b) => a - b)
    // a group whose provider lacks the TTL uses its nearest one
    const nearest = (g: typeof groups[number], ttl: number) => Object.keys(g.price.cache!.write).map(Number).sort((a, b) => Math.abs(a - ttl) - Math.abs(b - ttl) || a - b)[0]
    const byTtl = ttls.map((ttl) => {
      const sum = { ttl, hits: 0, writes: 0, current: 0, cached: 0 }
      for (const g of groups) {
        const r = replayCache(g.rows, g.prefix, g.price, nearest(g, ttl))
        sum.hits += r.hits
        sum.writes += r.writes
        sum.current += r.current_usd
        sum.cached += r.cached_usd
      }
      return sum
    })
    const best = byTtl.reduce((a, b) => (b.current - b.cached > a.current - a.cached ? b : a))
    const savings = best.current - best.cached
    if (!(savings > 0)) continue
    const hitShare = best.hits / (best.hits + best.writes)
    const aggregated = groups.some((g) => g.rows.some((r) => requestsOf(r) > 1))
    const confidence: Confidence = aggregated ? (hitShare >= 0.8 ? 'medium' : 'low') : hitShare >= 0.8 ? 'high' : hitShare >= 0.5 ? 'medium' : 'low'
    const prefixes = groups.map((g) => g.prefix)
    const rules = [...new Map(groups.map((g) => [g.price.provider, rulesText(g.price, g.price.cache!)])).values()]
    found.push(recommendation(w, total, savings, {
      type: 'caching',
      title: `Cache the repeated prompt prefixes of ${feature} (${ttlLabel(best.ttl)} TTL)`,
      confidence,
      evidence: {
        feature,
        requests: countRequests(rows),
        repeated_prompts: groups.length,
        estimated_prefix_tokens: { min: Math.round(Math.min(...prefixes)), max: Math.round(Math.max(...prefixes)) },
        cache_hits: best.hits,
        cache_writes: best.writes,
        hit_share: roundTo(hitShare, 4),
        prefix_cost_now_usd: roundCents(best.current),
        prefix_cost_cached_usd: roundCents(best.cached),
        period_savings_by_ttl_usd: Object.fromEntries(byTtl.map((s) => [ttlLabel(s.ttl), roundCents(s.current - s.cached)])),
        period_savings_usd: roundCents(savings)
      },
      assumptions: [
        `replayed on the requests' own times: a prefix stays cached ${ttlLabel(best.ttl)} after its last use, and every miss writes it again`,
        ...rules,
        'the shared prefix of each (model, prompt_hash) is its shortest prompt, and it opens every prompt byte for byte',
        ...(aggregated ? ['an hourly aggregate\'s requests are taken as evenly spread over its hour'] : [])
      ],
      risk: 'Anything that changes inside the prefix (a date, a user name, tool order) turns every hit into a write. Check cached_tokens in the usage log a day after the change.'
    }))
  }
  return recommendations(w, total, found)
}
