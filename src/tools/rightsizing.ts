import { roundCents, roundTo } from './money.js'
import { catalogueModels, isCurrent, priceFor, tierRanks, type CatalogueModel } from './catalogue.js'
import { PRICES, costOf, type PriceTable } from './prices.js'
import { byKey, countRequests, sumCost } from './group-by.js'
import { recommendation, recommendations, type Recommendation, type Recommendations } from './recommendation.js'
import type { UsageRecord } from './usage-data.js'
import { windowOf, type UsageWindow } from './usage-period.js'
import { UNATTRIBUTED } from './usage-stats.js'

/** Word stems of features a small model does well: classification, extraction, summaries, tagging. */
export const SIMPLE_TASK_STEMS = Object.freeze(['classif', 'categor', 'extract', 'summar', 'tag', 'label', 'sentiment', 'moderat', 'intent', 'pars'])

export interface RightsizingOptions {
  /** features to treat as simple tasks besides those whose names say so */
  simple_features?: readonly string[]
  table?: PriceTable
}

export interface ModelMove {
  from: string
  to: string
  requests: number
  current_cost_usd: number
  new_cost_usd: number
}

export function isSimpleTask (feature: string, extra: readonly string[] = []): boolean {
  if (extra.includes(feature)) return true
  return feature.toLowerCase().split(/[^a-z0-9]+/).some((word) => SIMPLE_TASK_STEMS.some((stem) => word.startsWith(stem)))
}

/**
 * Traffic on a higher tier than its feature needs, priced at a cheaper model with the same tokens.
 * - tiering: a simple-task feature served above the cheapest tier moves to the cheapest-tier model
 *   it already uses most, or, when it uses none, to that tier's cheapest model for this traffic,
 *   from the same provider when it has one.
 * - routing: any other feature that already sends at least half its requests to lower tiers
 *   moves its top-tier requests to the lower-tier model it uses most.
 * Current cost is what the records say was paid; the new cost is the target's list price with
 * the same tokens. A target is always a current model (never legacy, deprecated or retired),
 * and never a reasoning model for traffic that does not reason now: its hidden reasoning tokens
 * bill as output, so the same tokens would understate its cost.
 */
export function rightsizing (records: readonly UsageRecord[], opts: RightsizingOptions = {}): Recommendations {
  const table = opts.table ?? PRICES
  const w = windowOf(records)
  const total = sumCost(records)
  if (!w) return recommendations(w, total, [])
  const ranks = tierRanks(table)
  const rankOf = (model: string) => {
    const p = priceFor(model, table)
    return p ? ranks.get(String(p.tier)) : undefined
  }
  const catalogue = catalogueModels(table)
  const found: Recommendation[] = []
  for (const [feature, rows] of byKey(records, (r) => r.feature ?? UNATTRIBUTED)) {
    if (feature === UNATTRIBUTED) continue
    const byModel = byKey(rows.filter((r) => rankOf(r.model) !== undefined), (r) => r.model)
    const rec = isSimpleTask(feature, opts.simple_features)
      ? tiering(w, total, feature, countRequests(rows), byModel, rankOf, catalogue, table)
      : routing(w, total, feature, byModel, rankOf, table)
    if (rec) found.push(rec)
  }
  return recommendations(w, total, found)
}

type RankOf = (model: string) => number | undefined

/** A model traffic may move to from `from`: current, and reasoning only where the traffic reasons already. */
function fitTarget (to: string, from: string, table: PriceTable): boolean {
  const target = priceFor(to, table)
  return !!target && isCurrent(to, table) && (!target.reasoning || !!priceFor(from, table)?.reasoning)
}

const evaluation = (feature: string, moves: readonly ModelMove[]) =>
  moves.map((m) => `run the ${feature} evaluation set on ${m.to} next to ${m.from} and compare quality before moving traffic`)

function tiering (w: UsageWindow, total: number, feature: string, requests: number, byModel: Map<string, UsageRecord[]>,
  rankOf: RankOf, catalogue: CatalogueModel[], table: PriceTable): Recommendation | undefined {
  const lowest = Math.min(...catalogue.map((m) => m.rank))
  const targets = catalogue.filter((m) => m.rank === lowest)
  // a cheapest-tier model this feature already runs on has shown it does the job
  const proven = [...byModel].filter(([m]) => rankOf(m) === lowest && isCurrent(m, table))
    .sort((a, b) => countRequests(b[1]) - countRequests(a[1]) || (a[0] < b[0] ? -1 : 1))
  const onTarget = [...byModel].filter(([m]) => rankOf(m) === lowest).reduce((n, [, rows]) => n + countRequests(rows), 0)
  const moves: Array<ModelMove & { savings: number }> = []
  let crossProvider = false
  for (const [model, rows] of byModel) {
    if (rankOf(model) === lowest) continue
    const provider = priceFor(model, table)!.provider
    const fit = targets.filter((m) => fitTarget(m.name, model, table))
    const sameProvider = fit.filter((m) => m.provider === provider)
    const candidates = (proven.length && fitTarget(proven[0][0], model, table)) ? [proven[0][0]] : (sameProvider.length ? sameProvider : fit).map((m) => m.name)
    if (!candidates.length) continue
    if (!proven.length && !sameProvider.length) crossProvider = true
    const best = candidates
      .map((name) => ({ name, cost: rows.reduce((s, r) => s + costOf(name, r, table), 0) }))
      .sort((a, b) => a.cost - b.cost || (a.name < b.name ? -1 : 1))[0]
    const current = sumCost(rows)
    if (current - best.cost > 0) {
      moves.push({ from: model, to: best.name, requests: countRequests(rows), current_cost_usd: roundCents(current), new_cost_usd: roundCents(best.cost), savings: current - best.cost })
    }
  }
  if (!moves.length) return undefined
  const savings = moves.reduce((s, m) => s + m.savings, 0)
  return recommendation(w, total, savings, {
    type: 'tiering',
    title: `Move ${feature} to the ${targets[0].tier} tier: ${moves.map((m) => `${m.from} → ${m.to}`).join(', ')}`,
    confidence: proven.length ? 'high' : crossProvider ? 'low' : 'medium',
    evidence: {
      feature,
      reason: 'a simple task (by its name) served above the cheapest tier',
      target_tier: targets[0].tier,
      target_choice: proven.length ? 'the current model of that tier the feature already uses most' : crossProvider ? 'the cheapest current model of that tier, from another provider' : 'the cheapest current model of that tier from the same provider',
      moves: moves.map(({ savings: _, ...m }) => m),
      feature_requests: requests,
      requests_already_on_target_tier: onTarget,
      period_savings_usd: roundCents(savings)
    },
    assumptions: [
      'the new model needs the same input and output tokens as the current one',
      ...evaluation(feature, moves)
    ],
    risk: `A smaller model may miss edge cases in ${feature}: run its evaluation set on the new model first and roll out gradually.`
  })
}

function routing (w: UsageWindow, total: number, feature: string, byModel: Map<string, UsageRecord[]>, rankOf: RankOf, table: PriceTable): Recommendation | undefined {
  const top = Math.max(...[...byModel.keys()].map((m) => rankOf(m)!))
  const upper = [...byModel].filter(([m]) => rankOf(m) === top)
  const lower = [...byModel].filter(([m]) => rankOf(m)! < top)
  const upperRequests = upper.reduce((n, [, rows]) => n + countRequests(rows), 0)
  const lowerRequests = lower.reduce((n, [, rows]) => n + countRequests(rows), 0)
  if (!lower.length || lowerRequests < upperRequests) return undefined
  const proven = lower.filter(([m]) => upper.every(([from]) => fitTarget(m, from, table)))
  if (!proven.length) return undefined
  const [target, targetRows] = proven.sort((a, b) => countRequests(b[1]) - countRequests(a[1]) || (a[0] < b[0] ? -1 : 1))[0]
  const moves: Array<ModelMove & { savings: number }> = []
  for (const [model, rows] of upper) {
    const current = sumCost(rows)
    const cost = rows.reduce((s, r) => s + costOf(target, r, table), 0)
    if (current - cost > 0) moves.push({ from: model, to: target, requests: countRequests(rows), current_cost_usd: roundCents(current), new_cost_usd: roundCents(cost), savings: current - cost })
  }
  if (!moves.length) return undefined
  const savings = moves.reduce((s, m) => s + m.savings, 0)
  const lowerShare = lowerRequests / (lowerRequests + upperRequests)
  return recommendation(w, total, savings, {
    type: 'routing',
    title: `Route ${feature} requests from ${moves.map((m) => m.from).join(', ')} to ${target}`,
    confidence: lowerShare >= 0.75 ? 'medium' : 'low',
    evidence: {
      feature,
      reason: `most of ${feature} already runs on a lower tier`,
      moves: moves.map(({ savings: _, ...m }) => m),
      top_tier_requests: upperRequests,
      lower_tier_requests: lowerRequests,
      lower_tier_share: roundTo(lowerShare, 4),
      target_model_requests: countRequests(targetRows),
      period_savings_usd: roundCents(savings)
    },
    assumptions: [
      `the ${feature} requests on the top tier are like those the lower tier already serves`,
      'the new model needs the same input and output tokens as the current one',
      ...evaluation(feature, moves)
    ],
    risk: `The ${feature} requests on the top tier may be its hardest ones: route by a difficulty signal or A/B test, and keep the larger model as a fallback.`
  })
}
