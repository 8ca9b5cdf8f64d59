import type { UsageRecord } from './usage-data.js'

/** Rows grouped by key, keys in ascending order so every walk over them is deterministic. */
export function byKey<T> (rows: readonly T[], keyOf: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const r of rows) {
    const k = keyOf(r)
    const list = out.get(k)
    if (list) list.push(r)
    else out.set(k, [r])
  }
  return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
}

/** Raw (unrounded) sum of the rows' cost. */
export const sumCost = (rows: ReadonlyArray<{ cost_usd: number }>) => rows.reduce((s, r) => s + r.cost_usd, 0)

/** How many requests a record stands for: an aggregated export line counts its `requests`. */
export const requestsOf = (r: UsageRecord) => (r as { requests?: number }).requests ?? 1

export const countRequests = (rows: readonly UsageRecord[]) => rows.reduce((n, r) => n + requestsOf(r), 0)
