import type { UsageRecord } from './usage-data.js'

export const DAY_MS = 86_400_000
/** Recommendations and run rates are stated per month of this many days. */
export const MONTH_DAYS = 30

/** The calendar days the records span, first and last included (UTC). */
export interface UsageWindow { from: string, to: string, days: number }

/** A request's UTC calendar day, `YYYY-MM-DD`. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
/** Stored timestamps are already `toISOString()` text: their first ten characters are the day. */
export const dayOf = (timestamp: string) => (ISO_UTC.test(timestamp) ? timestamp.slice(0, 10) : new Date(timestamp).toISOString().slice(0, 10))
/** A request's UTC hour, 0–23. */
export const hourOf = (timestamp: string) => (ISO_UTC.test(timestamp) ? Number(timestamp.slice(11, 13)) : new Date(timestamp).getUTCHours())
/** Epoch ms of a timestamp, memoised per text: the analyses compare the same ones many times. */
export function epochOf (memo: Map<string, number>, timestamp: string): number {
  let t = memo.get(timestamp)
  if (t === undefined) memo.set(timestamp, (t = Date.parse(timestamp)))
  return t
}
/** Day index of each day text from `from`, memoised. */
export function dayIndex (from: string): (day: string) => number {
  const start = Date.parse(from)
  const memo = new Map<string, number>()
  return (day) => {
    let i = memo.get(day)
    if (i === undefined) memo.set(day, (i = Math.round((Date.parse(day) - start) / DAY_MS)))
    return i
  }
}

export const addDays = (day: string, n: number) => new Date(Date.parse(day) + n * DAY_MS).toISOString().slice(0, 10)

export function windowOf (records: readonly UsageRecord[]): UsageWindow | null {
  let from = ''
  let to = ''
  for (const r of records) {
    const d = dayOf(r.timestamp)
    if (from === '' || d < from) from = d
    if (to === '' || d > to) to = d
  }
  if (from === '') return null
  return { from, to, days: (Date.parse(to) - Date.parse(from)) / DAY_MS + 1 }
}

/** What turns a cost over the window into a cost per 30-day month. */
export const monthlyFactor = (w: UsageWindow) => MONTH_DAYS / w.days

/** An optional inclusive day range, as the analysis tools take it. */
export interface DayRange { from?: string, to?: string }

export function inRange (records: readonly UsageRecord[], range: DayRange = {}): readonly UsageRecord[] {
  if (!range.from && !range.to) return records
  return records.filter((r) => {
    const d = dayOf(r.timestamp)
    return (!range.from || d >= range.from) && (!range.to || d <= range.to)
  })
}

/** Cost per day of the window for each key, zero on days without requests, oldest first. */
export function dailyCost (records: readonly UsageRecord[], w: UsageWindow, keyOf: (r: UsageRecord) => string): Map<string, number[]> {
  const series = new Map<string, number[]>()
  const index = dayIndex(w.from)
  for (const r of records) {
    const key = keyOf(r)
    let s = series.get(key)
    if (!s) series.set(key, (s = new Array<number>(w.days).fill(0)))
    s[index(dayOf(r.timestamp))] += r.cost_usd
  }
  return series
}

/** Monthly figures are read from the most recent this many days: four whole weeks, so every weekday counts equally. */
export const RECENT_DAYS = 28

/** The last RECENT_DAYS days of a window (all of it when it is shorter): the base of every monthly figure. */
export function recentWindow (w: UsageWindow, days = RECENT_DAYS): UsageWindow {
  if (w.days <= days) return w
  return { from: addDays(w.to, 1 - days), to: w.to, days }
}

/** The records of the recent window, and the window itself; null when there are no records. */
export function recentRecords (records: readonly UsageRecord[], days = RECENT_DAYS): { window: UsageWindow, records: readonly UsageRecord[] } | null {
  const w = windowOf(records)
  if (!w) return null
  const recent = recentWindow(w, days)
  return { window: recent, records: recent === w ? records : inRange(records, recent) }
}
