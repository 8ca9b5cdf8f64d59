import { byKey, sumCost } from './group-by.js'
import { roundCents } from './money.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { epochOf, windowOf } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

export interface RetryStormOptions {
  /** a burst is this many identical requests or more */
  min_requests?: number
  /** consecutive identical requests at most this many seconds apart belong to one burst */
  gap_s?: number
}

export interface RetryStorm {
  feature: string
  model: string
  prompt_hash: string
  input_tokens: number
  from: string
  to: string
  requests: number
  cost_usd: number
  /** every request after the first: the cost the retries added */
  wasted_usd: number
}

export interface RetryStormReport extends Recommendations {
  storms: RetryStorm[]
  /** the request_ids inside a storm, which no other saving should count on */
  request_ids: string[]
}

export const RETRY_MIN_REQUESTS = 20
export const RETRY_GAP_S = 120

/**
 * The same prompt (model, prompt_hash and input length all equal) sent again and again within
 * seconds: bursts of at least `min_requests` single requests, each at most `gap_s` after the one
 * before. That is a client retrying, not traffic to cache; the retries' cost is a bug's cost.
 */
export function findRetryStorms (records: readonly UsageRecord[], opts: RetryStormOptions = {}): RetryStormReport {
  const minRequests = opts.min_requests ?? RETRY_MIN_REQUESTS
  const gapMs = (opts.gap_s ?? RETRY_GAP_S) * 1000
  const w = windowOf(records)
  const total = sumCost(records)
  const storms: RetryStorm[] = []
  const raw = new Map<RetryStorm, number>()
  const ids: string[] = []
  const candidates = records.filter((r) => r.prompt_hash && (r.requests ?? 1) === 1)
  for (const group of byKey(candidates, (r) => JSON.stringify([r.model, r.prompt_hash, r.input_tokens])).values()) {
    if (group.length < minRequests) continue
    const memo = new Map<string, number>()
    const at = (r: UsageRecord) => epochOf(memo, r.timestamp)
    group.sort((a, b) => at(a) - at(b) || (a.request_id < b.request_id ? -1 : 1))
    let burst: UsageRecord[] = []
    const close = () => {
      if (burst.length >= minRequests) {
        const cost = sumCost(burst)
        const storm: RetryStorm = {
          feature: burst[0].feature ?? UNATTRIBUTED,
          model: burst[0].model,
          prompt_hash: burst[0].prompt_hash!,
          input_tokens: burst[0].input_tokens,
          from: burst[0].timestamp,
          to: burst.at(-1)!.timestamp,
          requests: burst.length,
          cost_usd: roundCents(cost),
          wasted_usd: roundCents(cost - burst[0].cost_usd)
        }
        storms.push(storm)
        raw.set(storm, cost - burst[0].cost_usd)
        ids.push(...burst.map((r) => r.request_id))
      }
      burst = []
    }
    for (const r of group) {
      if (burst.length && at(r) - at(burst.at(-1)!) > gapMs) close()
      burst.push(r)
    }
    close()
  }
  storms.sort((a, b) => b.wasted_usd - a.wasted_usd || (a.from < b.from ? -1 : 1))
  const found: Recommendation[] = []
  if (w) {
    for (const [feature, list] of byKey(storms, (s) => s.feature)) {
      const wasted = list.reduce((s, x) => s + raw.get(x)!, 0)
      const requests = list.reduce((n, s) => n + s.requests, 0)
      const minutes = Math.max(1, Math.round(Math.max(...list.map((s) => Date.parse(s.to) - Date.parse(s.from))) / 60_000))
      found.push(recommendation(w, total, wasted, {
        type: 'retries',
        title: `Fix the retry storm in ${feature}: the same prompt sent ${requests} times in bursts of up to ${minutes} min`,
        confidence: 'high',
        evidence: {
          feature,
          bursts: list.length,
          requests,
          largest_burst: list.reduce((a, b) => (b.requests > a.requests ? b : a)).requests,
          first_burst_at: list.map((s) => s.from).sort()[0],
          cost_usd: roundCents(list.reduce((s, x) => s + x.cost_usd, 0)),
          period_savings_usd: roundCents(wasted)
        },
        assumptions: [
          `a retry storm is ${minRequests} or more requests with the same model, prompt_hash and prompt length, each within ${gapMs / 1000} s of the last`,
          'every request of a burst after its first is a retry that a fixed client would not send',
          'the monthly figure assumes storms recur at the rate seen in the window; fixing the bug saves what they cost'
        ],
        risk: 'A bug to fix, not a setting: cap retries with exponential backoff and jitter, and alert on bursts of identical requests. Caching these requests would hide the bug, not fix it.'
      }))
    }
  }
  return { ...recommendations(w, total, found), storms, request_ids: ids }
}
