import type { Test } from 'tap'
import type { UsageRecord } from '../../src/tools/usage-data.js'

/**
 * Every figure of the supervisor's Markdown answer, worked out again from the raw usage records
 * and the price catalogue alone, without the pack's code. Money that comes straight from the
 * records is summed exactly in whole micro-dollars (the records' precision) and rounded half up
 * once; savings, which involve list prices and fractional prefixes, are summed in floats.
 */

/** A catalogue entry as the tests read it: USD per million tokens, and the billing rules. */
export interface Price {
  provider: string
  tier: string
  input: number
  output: number
  cached_input: number
  batch_discount?: number
  reasoning?: boolean
  status?: string
  cache?: { min_tokens: number, write: Record<string, number>, automatic: boolean }
  long_context?: { above_tokens: number, input: number, output: number, cached_input: number }
}
export type Catalogue = Readonly<Record<string, Price>>

/** How the answer may write one figure: one spelling, or both neighbours of a rounding tie that float sums cannot settle. */
type Fig = readonly string[]

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
/** monthly figures come from the last four weeks of the data */
const RECENT_DAYS = 28
const SIMPLE = /(^|[^a-z])(classif|categor|extract|summar|tag|label|sentiment|moderat|intent|pars)/
const INTERACTIVE = /(^|[^a-z0-9])(chat|assistant|support|bot|convers|copilot|agent|helpdesk|search|autocomplet)/
const SHORT_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

const grouped = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
const countText = (n: number | bigint) => grouped(String(n))
const centsText = (c: bigint) => `${c < 0n ? '-' : ''}$${grouped(String((c < 0n ? -c : c) / 100n))}.${String((c < 0n ? -c : c) % 100n).padStart(2, '0')}`
const basisText = (p: bigint) => `${p / 100n}.${String(p % 100n).padStart(2, '0')}%`
/** p / q rounded half up, for non-negative integers */
const div = (p: bigint, q: bigint) => (2n * p + q) / (2n * q)

const money = (micro: bigint): Fig => [centsText(div(micro, 10_000n))]
const share = (part: bigint, whole: bigint): Fig => [basisText(div(10_000n * part, whole))]
const count = (n: number): Fig => [countText(n)]

/** x rounded half up to an integer, or both neighbours when x sits on a half within float error */
function roundings (x: number): number[] {
  const f = Math.floor(x)
  return Math.abs(x - f - 0.5) <= Math.max(1e-6, Math.abs(x) * 1e-10) ? [f, f + 1] : [Math.round(x)]
}
const floatMoney = (usd: number): Fig => roundings(usd * 100).map((c) => centsText(BigInt(c)))
/** a percentage with up to two decimals, as a JS number prints */
const floatPercent = (p: number): Fig => roundings(p * 100).map((h) => `${h / 100}%`)

/** A record's cost in whole micro-dollars; throws when the record is more precise than that. */
function micro (r: UsageRecord): bigint {
  const m = Math.round(r.cost_usd * 1e6)
  if (Math.abs(m - r.cost_usd * 1e6) > 1e-3) throw new RangeError(`${r.request_id}: cost_usd ${r.cost_usd} is finer than a micro-dollar`)
  return BigInt(m)
}
const microOf = (rs: readonly UsageRecord[]) => rs.reduce((s, r) => s + micro(r), 0n)
const requestsOf = (r: UsageRecord) => r.requests ?? 1
const requests = (rs: readonly UsageRecord[]) => rs.reduce((s, r) => s + requestsOf(r), 0)
const cost = (rs: readonly UsageRecord[]) => rs.reduce((s, r) => s + r.cost_usd, 0)
const dayOf = (r: UsageRecord) => new Date(r.timestamp).toISOString().slice(0, 10)
const byName = <T>(a: [string, T], b: [string, T]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
const addDays = (day: string, n: number) => new Date(Date.parse(day) + n * DAY_MS).toISOString().slice(0, 10)

/** A span of days as the answer says it: "1–15 Oct 2026", "28 Sep – 4 Oct 2026", "3 Oct 2026". */
export function label (from: string, to: string): string {
  const [a, b] = [new Date(`${from}T00:00:00Z`), new Date(`${to}T00:00:00Z`)]
  const dm = (d: Date) => `${d.getUTCDate()} ${SHORT_MONTHS[d.getUTCMonth()]}`
  if (from === to) return `${dm(a)} ${a.getUTCFullYear()}`
  if (a.getUTCFullYear() !== b.getUTCFullYear()) return `${dm(a)} ${a.getUTCFullYear()} – ${dm(b)} ${b.getUTCFullYear()}`
  if (a.getUTCMonth() !== b.getUTCMonth()) return `${dm(a)} – ${dm(b)} ${b.getUTCFullYear()}`
  return `${a.getUTCDate()}–${b.getUTCDate()} ${SHORT_MONTHS[b.getUTCMonth()]} ${b.getUTCFullYear()}`
}

function groupBy (rs: readonly UsageRecord[], keyOf: (r: UsageRecord) => string): Map<string, UsageRecord[]> {
  const out = new Map<string, UsageRecord[]>()
  for (const r of rs) {
    const k = keyOf(r)
    const list = out.get(k)
    if (list) list.push(r)
    else out.set(k, [r])
  }
  return new Map([...out].sort(byName))
}

/** The records' first and last UTC day and how many calendar days they span. */
export function daysOf (records: readonly UsageRecord[]) {
  let from = ''
  let to = ''
  for (const r of records) {
    const d = dayOf(r)
    if (!from || d < from) from = d
    if (!to || d > to) to = d
  }
  return { from, to, days: (Date.parse(to) - Date.parse(from)) / DAY_MS + 1 }
}

/** The last 28 days of the records (all of them when fewer): what every monthly figure is read from. */
export function recentOf (records: readonly UsageRecord[]) {
  const all = daysOf(records)
  if (all.days <= RECENT_DAYS) return { ...all, records }
  const from = addDays(all.to, 1 - RECENT_DAYS)
  return { from, to: all.to, days: RECENT_DAYS, records: records.filter((r) => dayOf(r) >= from) }
}

export interface ExpectedMove { from: string, to: string, requests: number, current_micro: bigint, new_usd: number }

export interface ExpectedRecommendation {
  type: 'retries' | 'routing' | 'caching' | 'batching' | 'tiering' | 'limits'
  feature: string
  title: string
  /** raw saving over the recent window, USD */
  saving: number
  moves: ExpectedMove[]
  /** output caps: the cap and how many of how many single requests run past it */
  cap?: { tokens: number, capped: number, of: number }
}

/**
 * What each recommendation should be over the last 28 days, per (type, feature), under the
 * catalogue's billing rules: current, non-reasoning (for non-reasoning traffic) downgrade targets;
 * a cache replayed request by request (an aggregate's requests evenly spread over its hour);
 * batching for daily schedules; caps only where no one reads the answer live and nothing reasons.
 */
export function expectedRecommendations (all: readonly UsageRecord[], catalogue: Catalogue): ExpectedRecommendation[] {
  const records = recentOf(all).records
  const price = (m: string): Price | undefined => catalogue[m]
  const current = (m: string) => !!price(m) && (price(m)!.status ?? 'current') === 'current'
  const fits = (to: string, from: string) => current(to) && (!price(to)!.reasoning || !!price(from)!.reasoning)
  const listCost = (m: string, r: UsageRecord) => {
    const base = price(m)!
    const p = base.long_context && r.input_tokens / requestsOf(r) > base.long_context.above_tokens ? base.long_context : base
    const cached = r.cached_tokens ?? 0
    return ((r.input_tokens - cached) * p.input + cached * p.cached_input + r.output_tokens * p.output) / 1e6
  }
  const tierMean = new Map<string, number[]>()
  for (const p of Object.values(catalogue)) tierMean.set(p.tier, [...(tierMean.get(p.tier) ?? []), p.input + p.output])
  const tiers = [...tierMean].map(([tier, xs]) => [tier, xs.reduce((a, b) => a + b) / xs.length] as const).sort((a, b) => a[1] - b[1]).map(([tier]) => tier)
  const rank = (m: string) => tiers.indexOf(price(m)!.tier)
  const cheapest = Object.keys(catalogue).filter((m) => tiers.indexOf(catalogue[m].tier) === 0)
  const mostUsed = (list: Array<[string, UsageRecord[]]>) => [...list].sort((a, b) => requests(b[1]) - requests(a[1]) || byName(a, b))

  // retry storms: 20+ single requests of one prompt, each within 120 s of the last
  const stormIds = new Set<string>()
  const out: ExpectedRecommendation[] = []
  const wasted = new Map<string, { saving: number, requests: number, longest: number }>()
  for (const rs of groupBy(records.filter((r) => r.prompt_hash && requestsOf(r) === 1), (r) => `${r.model}|${r.prompt_hash}|${r.input_tokens}`).values()) {
    const sorted = [...rs].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.request_id < b.request_id ? -1 : 1))
    let burst: UsageRecord[] = []
    const close = () => {
      if (burst.length >= 20) {
        const f = burst[0].feature ?? 'unattributed'
        const w = wasted.get(f) ?? { saving: 0, requests: 0, longest: 0 }
        w.saving += cost(burst) - burst[0].cost_usd
        w.requests += burst.length
        w.longest = Math.max(w.longest, Date.parse(burst.at(-1)!.timestamp) - Date.parse(burst[0].timestamp))
        wasted.set(f, w)
        for (const r of burst) stormIds.add(r.request_id)
      }
      burst = []
    }
    for (const r of sorted) {
      if (burst.length && Date.parse(r.timestamp) - Date.parse(burst.at(-1)!.timestamp) > 120_000) close()
      burst.push(r)
    }
    close()
  }
  for (const [feature, w] of wasted) {
    out.push({ type: 'retries', feature, title: `Fix the retry storm in ${feature}: the same prompt sent ${w.requests} times in bursts of up to ${Math.max(1, Math.round(w.longest / 60_000))} min`, saving: w.saving, moves: [] })
  }

  for (const [feature, rows] of groupBy(records.filter((r) => r.feature), (r) => r.feature!)) {
    const byModel = [...groupBy(rows.filter((r) => price(r.model)), (r) => r.model)]

    if (SIMPLE.test(feature)) {
      const proven = mostUsed(byModel.filter(([m]) => rank(m) === 0 && current(m)))
      const moves: Array<ExpectedMove & { saving: number }> = []
      for (const [model, rs] of byModel) {
        if (rank(model) === 0) continue
        const fit = cheapest.filter((m) => fits(m, model))
        const own = fit.filter((m) => price(m)!.provider === price(model)!.provider)
        const targets = proven.length && fits(proven[0][0], model) ? [proven[0][0]] : own.length ? own : fit
        if (!targets.length) continue
        const [best] = targets.map((m) => ({ m, usd: rs.reduce((s, r) => s + listCost(m, r), 0) })).sort((a, b) => a.usd - b.usd || (a.m < b.m ? -1 : 1))
        const saving = cost(rs) - best.usd
        if (saving > 0) moves.push({ from: model, to: best.m, requests: requests(rs), current_micro: microOf(rs), new_usd: best.usd, saving })
      }
      if (moves.length) {
        out.push({ type: 'tiering', feature, title: `Move ${feature} to the ${tiers[0]} tier: ${moves.map((m) => `${m.from} → ${m.to}`).join(', ')}`, saving: moves.reduce((s, m) => s + m.saving, 0), moves })
      }
    } else if (byModel.length) {
      const top = Math.max(...byModel.map(([m]) => rank(m)))
      const upper = byModel.filter(([m]) => rank(m) === top)
      const lower = byModel.filter(([m]) => rank(m) < top)
      const n = (list: typeof upper) => list.reduce((s, [, rs]) => s + requests(rs), 0)
      const fitLower = lower.filter(([m]) => upper.every(([from]) => fits(m, from)))
      if (lower.length && n(lower) >= n(upper) && fitLower.length) {
        const [target] = mostUsed(fitLower)[0]
        const moves = upper.map(([model, rs]) => {
          const usd = rs.reduce((s, r) => s + listCost(target, r), 0)
          return { from: model, to: target, requests: requests(rs), current_micro: microOf(rs), new_usd: usd, saving: cost(rs) - usd }
        }).filter((m) => m.saving > 0)
        if (moves.length) out.push({ type: 'routing', feature, title: `Route ${feature} requests from ${moves.map((m) => m.from).join(', ')} to ${target}`, saving: moves.reduce((s, m) => s + m.saving, 0), moves })
      }
    }

    // the cache, request by request: alive for the TTL after its last use
    const groups = [...groupBy(rows.filter((r) => r.prompt_hash && price(r.model)?.cache && !stormIds.has(r.request_id)), (r) => `${r.model} ${r.prompt_hash}`).values()]
      .map((rs) => ({ rs, p: price(rs[0].model)!, prefix: Math.min(...rs.map((r) => r.input_tokens / requestsOf(r))) }))
      .filter((g) => requests(g.rs) >= 2 && g.prefix >= g.p.cache!.min_tokens)
    if (groups.length) {
      const ttls = [...new Set(groups.flatMap((g) => Object.keys(g.p.cache!.write).map(Number)))].sort((a, b) => a - b)
      const savingAt = (ttl: number) => groups.reduce((sum, g) => {
        const own = Object.keys(g.p.cache!.write).map(Number).sort((a, b) => Math.abs(a - ttl) - Math.abs(b - ttl) || a - b)[0]
        const inTime = [...g.rs].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.request_id < b.request_id ? -1 : 1))
        let last = -Infinity
        let now = 0
        let cached = 0
        for (const r of inTime) {
          const n = requestsOf(r)
          const rates = g.p.long_context && r.input_tokens / n > g.p.long_context.above_tokens ? g.p.long_context : g.p
          const write = g.p.cache!.write[String(own)] * rates.input / g.p.input
          const already = Math.min(g.prefix, (r.cached_tokens ?? 0) / n)
          now += n * (already * rates.cached_input + (g.prefix - already) * rates.input) / 1e6
          const at = Date.parse(r.timestamp)
          const start = n === 1 ? at : Math.floor(at / HOUR_MS) * HOUR_MS
          const gap = HOUR_MS / n
          const first = n === 1 ? at : start + gap / 2
          const hits = (first - last <= own * 1000 ? 1 : 0) + (n > 1 && gap <= own * 1000 ? n - 1 : 0)
          cached += (hits * g.prefix * rates.cached_input + (n - hits) * g.prefix * write) / 1e6
          last = n === 1 ? at : start + gap * (n - 0.5)
        }
        return sum + now - cached
      }, 0)
      const options = ttls.map((ttl) => ({ ttl, saving: savingAt(ttl) }))
      const best = options.reduce((a, b) => (b.saving > a.saving ? b : a))
      if (best.saving > 0) {
        const ttlText = best.ttl % 3600 === 0 ? `${best.ttl / 3600} h` : `${best.ttl / 60} min`
        out.push({ type: 'caching', feature, title: `Cache the repeated prompt prefixes of ${feature} (${ttlText} TTL)`, saving: best.saving, moves: [] })
      }
    }

    // batching: 90% of requests within six consecutive UTC hours, every day or at night; never interactive
    if (!INTERACTIVE.test(feature)) {
      const hours = new Array<number>(24).fill(0)
      for (const r of rows) hours[new Date(r.timestamp).getUTCHours()] += requestsOf(r)
      const total = hours.reduce((a, b) => a + b, 0)
      let fit: number[] | undefined
      for (let len = 1; len <= 6 && !fit; len++) {
        let bestSum = -1
        for (let s = 0; s < 24; s++) {
          const span = Array.from({ length: len }, (_, k) => (s + k) % 24)
          const sum = span.reduce((a, h) => a + hours[h], 0)
          if (sum >= 0.9 * total && sum > bestSum) { bestSum = sum; fit = span }
        }
      }
      if (fit) {
        const { from, to } = daysOf(rows)
        let we = [0, 0]
        let wd = [0, 0]
        for (let d = from; d <= to; d = addDays(d, 1)) {
          const n = requests(rows.filter((r) => dayOf(r) === d))
          if ([0, 6].includes(new Date(d).getUTCDay())) we = [we[0] + n, we[1] + 1]
          else wd = [wd[0] + n, wd[1] + 1]
        }
        const everyDay = we[1] > 0 && wd[1] > 0 && wd[0] > 0 && (we[0] / we[1]) / (wd[0] / wd[1]) >= 0.75
        const night = fit.every((h) => [22, 23, 0, 1, 2, 3, 4, 5].includes(h))
        const saving = rows.reduce((s, r) => s + r.cost_usd * (price(r.model)?.batch_discount ?? 0), 0)
        if ((everyDay || night) && saving > 0) out.push({ type: 'batching', feature, title: `Send ${feature} through the batch API`, saving, moves: [] })
      }
    }

    // output caps at the p90 of single requests on models that bill no reasoning
    const single = rows.filter((r) => requestsOf(r) === 1 && price(r.model) && !price(r.model)!.reasoning)
    if (!INTERACTIVE.test(feature) && single.length >= 20) {
      const outs = single.map((r) => r.output_tokens).sort((a, b) => a - b)
      const at = (p: number) => outs[Math.ceil(p / 100 * outs.length) - 1]
      const cap = at(90)
      const saving = single.filter((r) => r.output_tokens > cap).reduce((s, r) => s + (r.output_tokens - cap) * price(r.model)!.output / 1e6, 0)
      const capped = single.filter((r) => r.output_tokens > cap).length
      if (at(50) > 0 && at(95) >= 2 * at(50) && saving > 0) out.push({ type: 'limits', feature, title: `Cap ${feature} output at ${cap} tokens`, saving, moves: [], cap: { tokens: cap, capped, of: single.length } })
    }
  }
  return out
}

interface Summary { key: string, micro: bigint, requests: number }

/** Cost and requests per key, largest cost first, ties by key. */
function breakdown (records: readonly UsageRecord[], keyOf: (r: UsageRecord) => string): Summary[] {
  return [...groupBy(records, keyOf)].map(([key, rs]) => ({ key, micro: microOf(rs), requests: requests(rs) }))
    .sort((a, b) => (b.micro > a.micro ? 1 : b.micro < a.micro ? -1 : 0) || (a.key < b.key ? -1 : 1))
}

export interface AnswerExpectations {
  records: readonly UsageRecord[]
  catalogue: Catalogue
  /** the days the figures are of, when the question names some */
  range?: { from: string, to: string }
  /** the providers, models and features the question names */
  focus?: { providers?: string[], models?: string[], features?: string[] }
}

/** Lines whose digits are stated rules, words or plan prose, not computed figures. */
const PROSE_LINES = /^(- Assumes: |- Risk: |> \d+ recommendations touch |_Method|\*\*Phase \d+: )/

/**
 * Checks the figures of a supervisor answer against the records: its first line, the savings table
 * and each recommendation's monthly saving, period saving and model moves, the plan's savings and
 * moves, the spend tables, the rows asked about and the run rate. Whatever else holds a digit must
 * be a name, a day said back, or one of the stated-rule lines (assumptions, risks, method).
 */
export function checkAnswerFigures (t: Test, answer: string, x: AnswerExpectations): void {
  const scope = x.range ? x.records.filter((r) => dayOf(r) >= x.range!.from && dayOf(r) <= x.range!.to) : x.records
  const total = microOf(scope)
  const recent = recentOf(x.records)
  const recentMicro = microOf(recent.records)
  const recentUsd = cost(recent.records)
  const monthly = (usd: number) => floatMoney(usd * 30 / recent.days)
  const recs = expectedRecommendations(x.records, x.catalogue)
    .sort((a, b) => {
      const ma = Math.round(a.saving * 30 / recent.days * 100)
      const mb = Math.round(b.saving * 30 / recent.days * 100)
      return mb - ma || (a.type < b.type ? -1 : 1) || (a.title < b.title ? -1 : 1)
    })
  const byTitle = new Map(recs.map((r) => [r.title, r]))
  const lines = answer.split('\n')
  const residue: string[] = []
  const keep = (line: string, figs: Array<[string, Fig]>) => {
    let rest = line
    for (const [got, fig] of figs) {
      t.ok(fig.includes(got), `${got} is ${fig.join(' / ')}`)
      rest = rest.replace(got, '#')
    }
    residue.push(rest)
  }
  const rows = (list: Summary[]) => list.map((g) => [g.key, money(g.micro)[0], countText(g.requests), share(g.micro, total)[0]])
  const dims: Record<string, Summary[]> = {
    model: breakdown(scope, (r) => r.model),
    provider: breakdown(scope, (r) => r.provider),
    feature: breakdown(scope, (r) => r.feature ?? 'unattributed')
  }
  let rec: ExpectedRecommendation | undefined
  let heading = ''
  const shownTables = new Map<string, string[][]>()
  for (const line of lines) {
    let m: RegExpExecArray | null
    if (line.startsWith('### ')) { heading = line.slice(4); residue.push(''); continue }
    if (line.startsWith('| ')) {
      shownTables.set(heading, [...(shownTables.get(heading) ?? []), line.slice(2, -2).split(' | ')])
      residue.push('')
      continue
    }
    if ((m = /^The largest saving: (.+), (\S+) a month \((\S+) of spend\); (\d+) recommendations? in all, read from (.+)\.$/.exec(line))) {
      t.equal(m[1], recs[0]?.title, 'the largest saving first')
      t.equal(Number(m[4]), recs.length, 'how many')
      t.equal(m[5], label(recent.from, recent.to), 'the window it is read from')
      keep(line.replace(m[1], '').replace(m[5], '').replace(`; ${m[4]} rec`, '; rec'), [[m[2], monthly(recs[0].saving)], [m[3], floatPercent(100 * recs[0].saving / recentUsd)]])
    } else if ((m = /^You spent (\S+) over (.+) across (\S+) requests(?:; by (model|provider|feature), (.+) leads with (\S+) \((\S+)\))?\.$/.exec(line))) {
      t.equal(m[2], x.range ? label(x.range.from, x.range.to) : label(daysOf(x.records).from, daysOf(x.records).to))
      const figs: Array<[string, Fig]> = [[m[1], money(total)], [m[3], count(requests(scope))]]
      if (m[4]) {
        const lead = dims[m[4]][0]
        t.equal(m[5], lead.key, `the largest ${m[4]}`)
        figs.push([m[6], money(lead.micro)], [m[7], share(lead.micro, total)])
      }
      keep(line.replace(m[2], '').replace(m[5] ?? '\u0000', ''), figs)
    } else if ((m = /^(.+) costs most: (\S+), (\S+) of spend over (.+)\.$/.exec(line))) {
      const lead = [dims.model, dims.feature, dims.provider].find((d) => d[0]?.key === m![1])?.[0]
      t.ok(lead, `${m[1]} leads its ranking`)
      if (lead) keep(line.replace(m[1], '').replace(m[4], ''), [[m[2], money(lead.micro)], [m[3], share(lead.micro, total)]])
      else residue.push(line)
    } else if ((m = /^ {2}- Set max_tokens to (\d+) for /.exec(line)) && rec?.cap) {
      keep(line, [[m[1], [String(rec.cap.tokens)]]])
    } else if ((m = /^ {2}- Roll back if: More than (\S+) of /.exec(line)) && rec?.cap) {
      keep(line, [[m[1], share(BigInt(rec.cap.capped), BigInt(rec.cap.of))]])
    } else if ((m = /^Current spend: (\S+) a month at the rate of (.+) \((\d+) days\)\. /.exec(line))) {
      t.equal(m[2], label(recent.from, recent.to))
      t.equal(Number(m[3]), recent.days)
      keep(line.replace(m[2], '').replace(`(${m[3]} days)`, ''), [[m[1], [centsText(div(recentMicro * 30n, 10_000n * BigInt(recent.days)))]]])
    } else if ((m = /^At the rate of the last (\d+) days \((.+)\), that is (\S+) a month\.$/.exec(line))) {
      t.equal(Number(m[1]), recent.days)
      t.equal(m[2], label(recent.from, recent.to))
      keep(line.replace(m[2], '').replace(`last ${m[1]} days`, ''), [[m[3], [centsText(div(recentMicro * 30n, 10_000n * BigInt(recent.days)))]]])
    } else if ((m = /^\*\*(.+)\*\* \((\S+) a month, \w+ confidence\)$/.exec(line))) {
      rec = byTitle.get(m[1])
      t.ok(rec, `"${m[1]}" is a recommendation the records call for`)
      if (rec) keep(line.replace(m[1], ''), [[m[2], monthly(rec.saving)]])
      else residue.push(line)
    } else if (line.startsWith('- Evidence: ') && rec) {
      const r = rec
      const figs: Array<[string, Fig]> = []
      const period = /period savings: (-?\$[\d,]+\.\d\d)(?:;|$)/.exec(line)
      t.ok(period, `${r.title}: its period saving`)
      if (period) figs.push([period[1], floatMoney(r.saving)])
      for (const mv of r.moves) {
        const seg = new RegExp(`${mv.from} → ${mv.to}: (\\S+) requests, (\\S+) → (\\S+) over the period`).exec(line)
        t.ok(seg, `${r.title}: the move ${mv.from} → ${mv.to}`)
        if (seg) figs.push([seg[1], count(mv.requests)], [seg[2], money(mv.current_micro)], [seg[3], floatMoney(mv.new_usd)])
      }
      keep(line, figs)
      // the other evidence figures are inputs the recommendation shows, checked in the unit tests
      residue[residue.length - 1] = ''
    } else if ((m = /^- \*\*(.+)\*\*: (\S+) \((\S+) of spend\) over (\S+) requests\.$/.exec(line))) {
      const g = [...dims.provider, ...dims.model, ...dims.feature].find((s) => s.key === m![1])
      t.ok(g, `${m[1]} is a key of the data`)
      if (g) keep(line.replace(m[1], ''), [[m[2], money(g.micro)], [m[3], share(g.micro, total)], [m[4], count(g.requests)]])
    } else if ((m = /^- \*\*(.+)\*\* \((\S+) a month\)$/.exec(line))) {
      rec = byTitle.get(m[1])
      t.ok(rec, `plan: "${m[1]}" is a recommendation`)
      if (rec) keep(line.replace(m[1], ''), [[m[2], monthly(rec.saving)]])
      else residue.push(line)
    } else if ((m = /^ {2}- Run the (.+?) evaluation set on (.+?) next to (.+?) \(its (\S+) requests there cost (\S+) on (.+?), and would cost (\S+) on (.+?)\)\.$/.exec(line))) {
      const mv = rec?.moves.find((v) => v.from === m![3] && v.to === m![2])
      t.ok(mv, `plan: a move ${m[3]} → ${m[2]}`)
      if (mv) keep(line.replace(/ on \S+ next to \S+/, '').replace(/ on \S+, and/, '').replace(/ on \S+\)/, ''), [[m[4], count(mv.requests)], [m[5], money(mv.current_micro)], [m[7], floatMoney(mv.new_usd)]])
      else residue.push(line)
    } else if ((m = /^> Left out, .+?: (.+) \(about (\S+) a month\); .+\.$/.exec(line))) {
      // a customer-facing move the plan left out: its saving is the recommendation's
      const left = byTitle.get(m[1])
      t.ok(left, `plan: "${m[1]}", left out, is a recommendation`)
      if (left) keep(line.replace(m[1], ''), [[m[2], monthly(left.saving)]])
      else residue.push(line)
    } else if (PROSE_LINES.test(line)) {
      residue.push('')
    } else {
      residue.push(line)
    }
  }

  const savings = shownTables.get('Savings opportunities')
  if (savings) {
    t.strictSame(savings.slice(2).map((c) => c[0]), recs.map((r) => r.title), 'the savings table: every recommendation the records call for, largest first')
    for (const c of savings.slice(2)) {
      const r = byTitle.get(c[0])
      if (!r) continue
      t.equal(c[1], r.type)
      t.ok(monthly(r.saving).includes(c[3]), `${r.title}: ${c[3]} a month`)
      t.ok(floatPercent(100 * r.saving / recentUsd).includes(c[4]), `${r.title}: ${c[4]} of spend`)
    }
  }
  for (const [name, shown] of shownTables) {
    const m = /^(Top \d+ by spend|Spend by) \((?:model|provider|feature)\)|^Spend by (model|provider|feature)|^Top (\d+) by spend \((model|provider|feature)\)/.exec(name)
    const top = /^Top (\d+) by spend \((model|provider|feature)\), (.+)$/.exec(name)
    const all = /^Spend by (model|provider|feature), (.+)$/.exec(name)
    if (!m && !top && !all) continue
    const dim = (top?.[2] ?? all?.[1])!
    const expected = rows(dims[dim])
    t.strictSame(shown.slice(2), top ? expected.slice(0, Number(top[1])) : expected, `every row of "${name}"`)
  }
  for (const [name, shown] of shownTables) {
    // a table this check does not recompute keeps its figures in the residue
    if (name !== 'Savings opportunities' && !/^(Top \d+ by spend|Spend by) /.test(name)) residue.push(...shown.map((c) => c.join(' | ')))
  }

  const names = [...new Set([...Object.keys(x.catalogue), ...x.records.flatMap((r) => [r.model, r.provider, r.feature ?? 'unattributed'])])].sort((a, b) => b.length - a.length)
  const days = new Set<string>()
  const { from, to } = daysOf(x.records)
  for (let d = from; d <= to; d = addDays(d, 1)) for (let e = d; e <= to; e = addDays(e, 1)) if (e === d || e === to || d === from) days.add(label(d, e))
  if (x.range) days.add(label(x.range.from, x.range.to))
  const strip = (line: string) => [...days].sort((a, b) => b.length - a.length).reduce((s, l) => s.replaceAll(l, '‹day›'),
    names.reduce((s, n) => s.replace(new RegExp(`(?<![\\w.-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w]|[.-]\\w)`, 'g'), '‹›'), line))
    .replace(/\(\d+ (min|h) TTL\)/g, '').replace(/30-day month|within 24 hours|\d+ daily series|robust z-score above [\d.]+/g, '…')
  t.strictSame(residue.map(strip).filter((s) => /\d/.test(s)), [], 'no figure in the answer escapes the recomputation')
}
