import { countRequests, requestsOf } from './group-by.js'
import { roundCents, roundTo } from './money.js'
import type { UsageRecord } from './usage-data.js'
import { dayOf } from './usage-period.js'

export const GROUP_BY = Object.freeze(['model', 'provider', 'feature', 'day'] as const)
export type GroupBy = typeof GROUP_BY[number]

/** the first and last request seen; null when there are no records */
export type Period = { from: string, to: string } | null

export interface BreakdownRow { key: string, cost_usd: number, requests: number, share: number, input_tokens: number, output_tokens: number }

export interface UsageSummary {
  period: Period
  total_cost_usd: number
  total_requests: number
  total_input_tokens: number
  total_output_tokens: number
  /** largest cost first */
  breakdown: BreakdownRow[]
}

export interface CostDriver {
  model: string
  provider: string
  feature: string
  cost_usd: number
  requests: number
  avg_cost_per_request_usd: number
  share: number
}

export interface CostDrivers { period: Period, total_cost_usd: number, drivers: CostDriver[] }

export const UNATTRIBUTED = 'unattributed'

const KEY: Record<GroupBy, (r: UsageRecord) => string> = {
  model: (r) => r.model,
  provider: (r) => r.provider,
  feature: (r) => r.feature ?? UNATTRIBUTED,
  day: (r) => dayOf(r.timestamp)
}

export function summariseUsage (records: readonly UsageRecord[], groupBy: GroupBy = 'model'): UsageSummary {
  const keyOf = KEY[groupBy]
  if (!keyOf) throw new RangeError(`cannot group by "${groupBy}"`)
  let input = 0
  let output = 0
  for (const r of records) {
    input += r.input_tokens
    output += r.output_tokens
  }
  const { total, groups } = costByGroup(records, keyOf)
  return {
    period: periodOf(records),
    total_cost_usd: roundCents(total),
    total_requests: countRequests(records),
    total_input_tokens: input,
    total_output_tokens: output,
    breakdown: groups.map((g) => ({ key: g.key, cost_usd: roundCents(g.cost), requests: g.requests, share: shareOf(g.cost, total), input_tokens: g.input, output_tokens: g.output }))
  }
}

/** The (model, feature) pairs that cost the most, largest first. */
export function topCostDrivers (records: readonly UsageRecord[], limit = 5): CostDrivers {
  const { total, groups } = costByGroup(records, (r) => JSON.stringify([r.model, r.feature ?? UNATTRIBUTED]))
  return {
    period: periodOf(records),
    total_cost_usd: roundCents(total),
    drivers: groups.slice(0, limit).map((g) => ({
      model: g.first.model,
      provider: g.first.provider,
      feature: g.first.feature ?? UNATTRIBUTED,
      cost_usd: roundCents(g.cost),
      requests: g.requests,
      // a request typically costs a fraction of a cent, so cents would hide it
      avg_cost_per_request_usd: roundTo(g.cost / g.requests, 6),
      share: shareOf(g.cost, total)
    }))
  }
}

interface Group { key: string, cost: number, requests: number, input: number, output: number, first: UsageRecord }

/** Raw (unrounded) cost per key, largest first, ties by key so the order is stable. */
function costByGroup (records: readonly UsageRecord[], keyOf: (r: UsageRecord) => string) {
  const groups = new Map<string, Group>()
  let total = 0
  for (const r of records) {
    const key = keyOf(r)
    const g = groups.get(key) ?? { key, cost: 0, requests: 0, input: 0, output: 0, first: r }
    g.cost += r.cost_usd
    g.requests += requestsOf(r)
    g.input += r.input_tokens
    g.output += r.output_tokens
    groups.set(key, g)
    total += r.cost_usd
  }
  // compared to the micro-dollar: float noise in equal sums must not decide the order of a tie
  const micro = (x: number) => Math.round(x * 1e6)
  const sorted = [...groups.values()].sort((a, b) => micro(b.cost) - micro(a.cost) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return { total, groups: sorted }
}

const shareOf = (part: number, total: number) => (total > 0 ? roundTo(part / total, 4) : 0)

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

function periodOf (records: readonly UsageRecord[]): Period {
  // toISOString text sorts as its instants do: no parsing needed
  if (records.every((r) => ISO_MS.test(r.timestamp))) {
    let from = ''
    let to = ''
    for (const r of records) {
      if (!from || r.timestamp < from) from = r.timestamp
      if (!to || r.timestamp > to) to = r.timestamp
    }
    return from ? { from, to } : null
  }
  let from = Infinity
  let to = -Infinity
  for (const r of records) {
    const t = Date.parse(r.timestamp)
    if (t < from) from = t
    if (t > to) to = t
  }
  return from <= to ? { from: new Date(from).toISOString(), to: new Date(to).toISOString() } : null
}
