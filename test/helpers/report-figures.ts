import type { Test } from 'tap'
import type { UsageRecord } from '../../src/tools/usage-data.js'

/**
 * Every figure of the supervisor's Markdown answer, worked out again from the raw usage records
 * and the price catalogue alone, without the pack's code. Money that comes straight from the
 * records is summed exactly in whole micro-dollars (the records' precision) and rounded half up
 * once; savings, which involve list prices and fractional prefixes, are summed in floats.
 */

/** A catalogue entry as the tests read it: USD per million tokens. */
export interface Price { provider: string, tier: string, input: number, output: number, cached_input: number, batch_discount?: number }
export type Catalogue = Readonly<Record<string, Price>>

/** How the answer may write one figure: one spelling, or both neighbours of a rounding tie that float sums cannot settle. */
type Fig = readonly string[]

const DAY_MS = 86_400_000
/** OpenAI and Anthropic cache no prompt shorter than this many tokens. */
const MIN_CACHEABLE_TOKENS = 1024

const grouped = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
const countText = (n: number | bigint) => grouped(String(n))
const centsText = (c: bigint) => `$${grouped(String(c / 100n))}.${String(c % 100n).padStart(2, '0')}`
const tenThousandthsText = (u: bigint) => `$${grouped(String(u / 10_000n))}.${String(u % 10_000n).padStart(4, '0')}`
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
const floatCount = (n: number): Fig => roundings(n).map(countText)
const floatShare = (s: number): Fig => roundings(s * 10_000).map((p) => basisText(BigInt(p)))
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

function groupBy (rs: readonly UsageRecord[], keyOf: (r: UsageRecord) => string): Map<string, UsageRecord[]> {
  const out = new Map<string, UsageRecord[]>()
  for (const r of rs) out.set(keyOf(r), [...(out.get(keyOf(r)) ?? []), r])
  return new Map([...out].sort(byName))
}

/** The records' first and last UTC day and how many calendar days they span. */
export function daysOf (records: readonly UsageRecord[]) {
  const days = records.map(dayOf).sort()
  const from = days[0]
  const to = days.at(-1)!
  return { from, to, days: (Date.parse(to) - Date.parse(from)) / DAY_MS + 1 }
}

export interface ExpectedMove { from: string, to: string, requests: number, current_micro: bigint, new_usd: number }

export interface ExpectedRecommendation {
  type: 'routing' | 'caching' | 'batching' | 'tiering' | 'limits'
  feature: string
  title: string
  /** raw saving over the records' days, USD */
  saving: number
  /** every evidence figure, by its label in the answer, as the answer writes its value */
  evidence: Map<string, Fig>
  moves: ExpectedMove[]
  /** output caps: the cap and how many of how many single requests run past it */
  cap?: { tokens: number, capped: number, of: number }
}

/**
 * What each recommendation should be, per (type, feature): its raw saving over the records'
 * days and its evidence. An aggregated record stands for `requests` requests of its mean size.
 */
export function expectedRecommendations (records: readonly UsageRecord[], catalogue: Catalogue): ExpectedRecommendation[] {
  const price = (m: string) => catalogue[m]
  const listCost = (m: string, r: UsageRecord) => {
    const p = price(m)
    const cached = r.cached_tokens ?? 0
    return ((r.input_tokens - cached) * p.input + cached * p.cached_input + r.output_tokens * p.output) / 1e6
  }
  const tierMean = new Map<string, number[]>()
  for (const p of Object.values(catalogue)) tierMean.set(p.tier, [...(tierMean.get(p.tier) ?? []), p.input + p.output])
  const tiers = [...tierMean].map(([tier, xs]) => [tier, xs.reduce((a, b) => a + b) / xs.length] as const).sort((a, b) => a[1] - b[1]).map(([tier]) => tier)
  const rank = (m: string) => tiers.indexOf(price(m).tier)
  const cheapest = Object.keys(catalogue).filter((m) => rank(m) === 0)
  const mostUsed = (list: Array<[string, UsageRecord[]]>) => [...list].sort((a, b) => requests(b[1]) - requests(a[1]) || byName(a, b))

  const out: ExpectedRecommendation[] = []
  const moveFigure = (m: ExpectedMove) => floatMoney(m.new_usd).map((next) => `${countText(m.requests)} requests, ${money(m.current_micro)[0]} → ${next} over the period`)
  const moveEvidence = (moves: ExpectedMove[]) => moves.map((m) => [`${m.from} → ${m.to}`, moveFigure(m)] as const)

  for (const [feature, rows] of groupBy(records.filter((r) => r.feature), (r) => r.feature!)) {
    const byModel = [...groupBy(rows, (r) => r.model)]

    if (/(^|[^a-z])(classif|categor|extract|summar|tag|label|sentiment|moderat|intent|pars)/.test(feature)) {
      // the cheapest-tier model the feature uses most, else its provider's cheapest for this traffic
      const proven = mostUsed(byModel.filter(([m]) => rank(m) === 0))
      const moves: Array<ExpectedMove & { saving: number }> = []
      for (const [model, rs] of byModel) {
        if (rank(model) === 0) continue
        const own = cheapest.filter((m) => price(m).provider === price(model).provider)
        const targets = proven.length ? [proven[0][0]] : own.length ? own : cheapest
        const [best] = targets.map((m) => ({ m, usd: rs.reduce((s, r) => s + listCost(m, r), 0) })).sort((a, b) => a.usd - b.usd || (a.m < b.m ? -1 : 1))
        const saving = cost(rs) - best.usd
        if (saving > 0) moves.push({ from: model, to: best.m, requests: requests(rs), current_micro: microOf(rs), new_usd: best.usd, saving })
      }
      if (moves.length) {
        const saving = moves.reduce((s, m) => s + m.saving, 0)
        out.push({
          type: 'tiering',
          feature,
          title: `Move ${feature} to the ${tiers[0]} tier: ${moves.map((m) => `${m.from} → ${m.to}`).join(', ')}`,
          saving,
          moves,
          evidence: new Map([
            ...moveEvidence(moves),
            ['feature requests', count(requests(rows))],
            ['requests already on target tier', count(proven.reduce((n, [, rs]) => n + requests(rs), 0))],
            ['period savings', floatMoney(saving)]
          ])
        })
      }
    } else {
      const top = Math.max(...byModel.map(([m]) => rank(m)))
      const upper = byModel.filter(([m]) => rank(m) === top)
      const lower = byModel.filter(([m]) => rank(m) < top)
      const n = (list: typeof upper) => list.reduce((s, [, rs]) => s + requests(rs), 0)
      if (lower.length && n(lower) >= n(upper)) {
        const [target, targetRows] = mostUsed(lower)[0]
        const moves = upper.map(([model, rs]) => {
          const usd = rs.reduce((s, r) => s + listCost(target, r), 0)
          return { from: model, to: target, requests: requests(rs), current_micro: microOf(rs), new_usd: usd, saving: cost(rs) - usd }
        }).filter((m) => m.saving > 0)
        if (moves.length) {
          const saving = moves.reduce((s, m) => s + m.saving, 0)
          out.push({
            type: 'routing',
            feature,
            title: `Route ${feature} requests from ${moves.map((m) => m.from).join(', ')} to ${target}`,
            saving,
            moves,
            evidence: new Map([
              ...moveEvidence(moves),
              ['top tier requests', count(n(upper))],
              ['lower tier requests', count(n(lower))],
              ['lower tier share', share(BigInt(n(lower)), BigInt(n(lower) + n(upper)))],
              ['target model requests', count(requests(targetRows))],
              ['period savings', floatMoney(saving)]
            ])
          })
        }
      }
    }

    // each request after the first of a (model, prompt_hash) group reads the shared prefix from cache
    let saving = 0
    let repeats = 0
    let warm = 0
    let cacheable = 0
    const prefixes: number[] = []
    for (const rs of groupBy(rows.filter((r) => r.prompt_hash), (r) => `${r.model} ${r.prompt_hash}`).values()) {
      const prefix = Math.min(...rs.map((r) => r.input_tokens / requestsOf(r)))
      if (requests(rs) < 2 || prefix < MIN_CACHEABLE_TOKENS) continue
      prefixes.push(prefix)
      const p = price(rs[0].model)
      const inTime = [...rs].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.request_id < b.request_id ? -1 : 1))
      inTime.forEach((r, i) => {
        const n = requestsOf(r)
        const again = i === 0 ? n - 1 : n
        const tokens = again * Math.max(0, prefix - (r.cached_tokens ?? 0) / n)
        repeats += again
        cacheable += tokens
        saving += tokens * (p.input - p.cached_input) / 1e6
        // an aggregated record's requests fall within its hour; a record's first request is warm when the group's previous one is under an hour before
        warm += n - 1 + (i > 0 && Date.parse(r.timestamp) - Date.parse(inTime[i - 1].timestamp) <= 3_600_000 ? 1 : 0)
      })
    }
    if (saving > 0) {
      const input = rows.reduce((s, r) => s + r.input_tokens, 0)
      const lo = floatCount(Math.min(...prefixes))
      const hi = floatCount(Math.max(...prefixes))
      out.push({
        type: 'caching',
        feature,
        title: `Cache the repeated prompt prefixes of ${feature}`,
        saving,
        moves: [],
        evidence: new Map([
          ['requests', count(requests(rows))],
          ['repeated prompts', count(prefixes.length)],
          ['repeat requests', count(repeats)],
          ['repeats within 1h', count(warm)],
          ['input tokens', count(input)],
          ['cacheable input tokens', floatCount(cacheable)],
          ['cacheable share', floatShare(cacheable / input)],
          ['estimated prefix tokens', lo.flatMap((a) => hi.map((b) => `min ${a}, max ${b}`))],
          ['min prompt tokens', count(MIN_CACHEABLE_TOKENS)],
          ['period savings', floatMoney(saving)]
        ])
      })
    }

    if (/(nightly|batch|report|offline|backfill|digest|etl|bulk|cron|scheduled|eval)/.test(feature)) {
      const batchable = rows.filter((r) => price(r.model).batch_discount)
      const saving = batchable.reduce((s, r) => s + r.cost_usd * price(r.model).batch_discount!, 0)
      if (saving > 0) {
        const discounts = [...groupBy(batchable, (r) => r.model).keys()].map((m) => `${m} ${floatShare(price(m).batch_discount!)[0]}`)
        out.push({
          type: 'batching',
          feature,
          title: `Send ${feature} through the batch API`,
          saving,
          moves: [],
          evidence: new Map([
            ['requests', count(requests(rows))],
            ['batchable requests', count(requests(batchable))],
            ['cost', money(microOf(rows))],
            ['batch discount by model', [discounts.join(', ')]],
            ['period savings', floatMoney(saving)]
          ])
        })
      }
    }

    const single = rows.filter((r) => requestsOf(r) === 1)
    if (single.length >= 20) {
      const outs = single.map((r) => r.output_tokens).sort((a, b) => a - b)
      const at = (p: number) => outs[Math.ceil(p / 100 * outs.length) - 1]
      const cap = at(90)
      const over = single.filter((r) => r.output_tokens > cap)
      const saving = over.reduce((s, r) => s + (r.output_tokens - cap) * price(r.model).output / 1e6, 0)
      if (at(95) >= 2 * at(50) && saving > 0) {
        out.push({
          type: 'limits',
          feature,
          title: `Cap ${feature} output at ${cap} tokens`,
          saving,
          moves: [],
          cap: { tokens: cap, capped: over.length, of: single.length },
          evidence: new Map([
            ['requests', count(single.length)],
            ['p50 output tokens', count(at(50))],
            ['p90 output tokens', count(cap)],
            ['p95 output tokens', count(at(95))],
            ['max output tokens', count(outs.at(-1)!)],
            ['cap tokens', count(cap)],
            ['capped requests', count(over.length)],
            ['capped share', share(BigInt(over.length), BigInt(single.length))],
            ['output tokens trimmed', count(over.reduce((s, r) => s + r.output_tokens - cap, 0))],
            ['period savings', floatMoney(saving)]
          ])
        })
      }
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
  /** the day range the question names, worked out by the test, and its words as the question has them */
  range?: { text: string, from: string, to: string }
  /** the providers, models and features the question names */
  focus?: { providers?: string[], models?: string[], features?: string[] }
}

/** Words with digits that are prose, not figures: the month the figures are per, batch turnaround, evidence labels. */
const PROSE = ['30-day month', 'within 24 hours', 'repeats within 1h', 'p50 output tokens', 'p90 output tokens', 'p95 output tokens']

/**
 * Checks every figure of a supervisor answer against the records: each line's figures are matched
 * to a recomputed value and blanked out; what is left of the answer, once model, provider and
 * feature names and the PROSE phrases are taken out, must hold no digit at all.
 */
export function checkAnswerFigures (t: Test, answer: string, x: AnswerExpectations): void {
  const { records } = x
  const total = microOf(records)
  const period = daysOf(records)
  const monthly: Fig = [centsText(div(total * 30n, 10_000n * BigInt(period.days)))]
  const rows = (list: Summary[]) => list.map((g) => [g.key, money(g.micro)[0], countText(g.requests), share(g.micro, total)[0]])
  const byModel = breakdown(records, (r) => r.model)
  const byProvider = breakdown(records, (r) => r.provider)
  const byFeature = breakdown(records, (r) => r.feature ?? 'unattributed')
  const summaries = new Map([...byProvider, ...byModel, ...byFeature].map((g) => [g.key, g]))
  const drivers = breakdown(records, (r) => JSON.stringify([r.model, r.feature ?? 'unattributed'])).slice(0, 5).map((g) => {
    const [model, feature] = JSON.parse(g.key) as [string, string]
    return [model, feature, money(g.micro)[0], countText(g.requests), tenThousandthsText(div(g.micro, 100n * BigInt(g.requests))), share(g.micro, total)[0]]
  })
  const inRange = x.range && records.filter((r) => dayOf(r) >= x.range!.from && dayOf(r) <= x.range!.to)
  const totalUsd = cost(records)
  const recs = expectedRecommendations(records, x.catalogue)
    .sort((a, b) => b.saving - a.saving || (a.type < b.type ? -1 : 1) || (a.title < b.title ? -1 : 1))
  const monthlySaving = (r: ExpectedRecommendation) => floatMoney(r.saving * 30 / period.days)
  const tables = new Map<string, string[][]>([
    ['Spend by model', rows(byModel)],
    ['Spend by feature', rows(byFeature)],
    [`Top ${drivers.length} cost drivers (model × feature)`, drivers],
    ['Savings opportunities', recs.map((r) => [r.title, r.type, '', monthlySaving(r)[0], floatPercent(100 * r.saving / totalUsd)[0]])]
  ])
  /** a shown savings row's figures, each ∈ its figure spelt as the expectation spells it */
  const savingsRow = (cells: string[]) => {
    const r = recs.find((e) => e.title === cells[0])
    if (!r) return cells
    const pick = (got: string, fig: Fig) => (fig.includes(got) ? fig[0] : got)
    return [cells[0], cells[1], '', pick(cells[3], monthlySaving(r)), pick(cells[4], floatPercent(100 * r.saving / totalUsd))]
  }

  const residue: string[] = []
  const shownTables = new Map<string, Array<{ cells: string[], at: number }>>()
  const focus: string[] = []
  let heading = ''
  let rec: ExpectedRecommendation | undefined
  let phase = 0

  /** compares a match's groups with their figures; a group that matches is blanked from the line's residue */
  const lineCheck = (line: string, m: RegExpExecArray, figs: Array<Fig | null | undefined>, what: string[]) => {
    const spans: Array<[number, number]> = []
    figs.forEach((fig, i) => {
      if (fig === null) return
      const got = m[i + 1]
      const ok = fig === undefined
        ? t.equal(got, undefined, `${what[i]}: nothing expected`)
        : fig.length === 1 ? t.equal(got, fig[0], what[i]) : t.ok(got !== undefined && fig.includes(got), `${what[i]}: ${got} is a side of the tie ${fig.join(' / ')}`)
      if (ok && got !== undefined) spans.push(m.indices![i + 1])
    })
    return spans.sort((a, b) => b[0] - a[0]).reduce((s, [from, to]) => s.slice(0, from) + '#' + s.slice(to), line)
  }
  const findRec = (title: string, what: string) => {
    const r = recs.find((e) => e.title === title)
    t.ok(r, `${what}: "${title}" is a recommendation the records call for`)
    return r
  }

  for (const line of answer.split('\n')) {
    let m: RegExpExecArray | null
    if (line.startsWith('### ')) heading = line.slice(4)
    if (line.startsWith('| ')) {
      const list = shownTables.get(heading) ?? []
      shownTables.set(heading, [...list, { cells: line.slice(2, -2).split(' | '), at: residue.length }])
      residue.push(line)
    } else if ((m = /^## (.+), (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})$/d.exec(line))) {
      residue.push(lineCheck(line, m, [null, [period.from], [period.to]], ['', 'first day', 'last day']))
    } else if ((m = /^\*\*(\S+)\*\* across \*\*(\S+)\*\* requests \((\S+) input and (\S+) output tokens\); at this rate \*\*(\S+)\*\* a month\.$/d.exec(line))) {
      residue.push(lineCheck(line, m, [money(total), count(requests(records)), count(records.reduce((s, r) => s + r.input_tokens, 0)),
        count(records.reduce((s, r) => s + r.output_tokens, 0)), monthly], ['total spend', 'requests', 'input tokens', 'output tokens', 'monthly rate']))
    } else if ((m = /^\*\*(.+)\*\* \((\d{4}-\d{2}-\d{2})(?: to (\d{4}-\d{2}-\d{2}))?\): (\S+) across (\S+) requests\.$/d.exec(line))) {
      const r = x.range ?? { text: '', from: '', to: '' }
      residue.push(lineCheck(line, m, [[r.text], [r.from], r.from === r.to ? undefined : [r.to], money(microOf(inRange ?? [])), count(requests(inRange ?? []))],
        ['range words', 'range start', 'range end', 'spend in the range', 'requests in the range']))
    } else if ((m = /^- \*\*(.+?)\*\*: (\S+) \((\S+) of spend\) over (\S+) requests\.$/d.exec(line))) {
      const g = summaries.get(m[1])
      focus.push(m[1])
      residue.push(g ? lineCheck(line, m, [null, money(g.micro), share(g.micro, total), count(g.requests)], ['', `${m[1]} spend`, `${m[1]} share`, `${m[1]} requests`]) : line)
    } else if ((m = /^Current spend: (\S+) a month\. /d.exec(line))) {
      residue.push(lineCheck(line, m, [monthly], ['current monthly spend']))
    } else if ((m = /^\*\*(.+)\*\* \((\S+) a month, \w+ confidence\)$/d.exec(line))) {
      rec = findRec(m[1], 'recommendation')
      residue.push(rec ? lineCheck(line, m, [[rec.title], monthlySaving(rec)], ['title', `${rec.title}: monthly saving`]) : line)
    } else if (line.startsWith('- Evidence: ') && rec) {
      residue.push(checkEvidence(t, line, rec))
    } else if ((m = /^- Risk: (\S+) of (.+?) responses run past the cap/d.exec(line)) && rec?.cap) {
      residue.push(lineCheck(line, m, [floatPercent(100 * rec.cap.capped / rec.cap.of), null], [`${rec.title}: share of responses over the cap`]))
    } else if ((m = /^> (\d+) recommendations touch (.+?) \(/d.exec(line))) {
      residue.push(lineCheck(line, m, [count(recs.filter((r) => r.feature === m![2]).length), null], [`recommendations on ${m[2]}`]))
    } else if ((m = /^\*\*Phase (\d+): /d.exec(line))) {
      residue.push(lineCheck(line, m, [[String(++phase)]], ['phases numbered from 1']))
    } else if ((m = /^- \*\*(.+)\*\* \((\S+) a month\)$/d.exec(line))) {
      rec = findRec(m[1], 'plan step')
      residue.push(rec ? lineCheck(line, m, [[rec.title], monthlySaving(rec)], ['title', `plan: ${rec.title}: monthly saving`]) : line)
    } else if ((m = /^ {2}- Run the (.+?) evaluation set on (.+?) next to (.+?) \(its (\S+) requests there cost (\S+) on (.+?), and would cost (\S+) on (.+?)\)\.$/d.exec(line))) {
      const move = rec?.moves.find((v) => v.from === m![3] && v.to === m![2])
      t.ok(move, `plan: a move ${m[3]} → ${m[2]} of ${rec?.title}`)
      residue.push(move ? lineCheck(line, m, [null, null, null, count(move.requests), money(move.current_micro), null, floatMoney(move.new_usd), null], ['', '', '', 'requests moved', 'their cost now', '', '', 'their cost after']) : line)
    } else if ((m = /^ {2}- Set max_tokens to (\d+) for /d.exec(line)) && rec?.cap) {
      residue.push(lineCheck(line, m, [[String(rec.cap.tokens)]], [`${rec.title}: max_tokens`]))
    } else if ((m = /^ {2}- Roll back if: More than (\S+) of /d.exec(line)) && rec?.cap) {
      residue.push(lineCheck(line, m, [share(BigInt(rec.cap.capped), BigInt(rec.cap.of))], [`${rec.title}: rollback share`]))
    } else if ((m = /^### Top (\d+) cost drivers /d.exec(line))) {
      residue.push(lineCheck(line, m, [count(drivers.length)], ['how many cost drivers']))
    } else if ((m = /^\*\*Where to look first:\*\* (.+?) on (.+?) costs (\S+) \((\S+) of spend\), (\S+) per request\.$/d.exec(line))) {
      const [model, feature, usd, , perRequest, part] = drivers[0]
      residue.push(lineCheck(line, m, [[model], [feature], [usd], [part], [perRequest]], ['top driver model', 'top driver feature', 'its cost', 'its share', 'its cost per request']))
    } else {
      residue.push(line)
    }
  }

  for (const [name, shown] of shownTables) {
    const expected = tables.get(name)
    // the header and alignment rows hold no figures; a table nobody expects stays in the residue whole
    if (!expected) continue
    const body = shown.slice(2)
    const got = name === 'Savings opportunities' ? body.map((r) => savingsRow(r.cells)) : body.map((r) => r.cells)
    t.strictSame(got, expected, `every row of "${name}"`)
    // a row equal to its expectation is checked cell by cell, except a savings row's confidence, which is no figure
    got.forEach((cells, i) => {
      if (JSON.stringify(cells) === JSON.stringify(expected[i])) residue[body[i].at] = name === 'Savings opportunities' ? body[i].cells[2] : ''
    })
  }
  const named = (list: Summary[], keys: string[] = []) => list.filter((g) => keys.includes(g.key)).map((g) => g.key)
  t.strictSame(focus, [...named(byProvider, x.focus?.providers), ...named(byModel, x.focus?.models), ...named(byFeature, x.focus?.features)],
    'the breakdown rows the question asked about, providers, models then features, each largest first')

  const names = [...new Set([...Object.keys(x.catalogue), ...records.flatMap((r) => [r.model, r.provider, r.feature ?? 'unattributed'])])].sort((a, b) => b.length - a.length)
  const strip = (line: string) => PROSE.reduce((s, p) => s.replaceAll(p, '…'),
    names.reduce((s, n) => s.replace(new RegExp(`(?<![\\w.-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w]|[.-]\\w)`, 'g'), '‹›'), line))
  t.strictSame(residue.map(strip).filter((s) => /\d/.test(s)), [], 'no figure in the answer escapes the recomputation')
}

/** The evidence line of a recommendation: each segment whose value has a figure, by its label. */
function checkEvidence (t: Test, line: string, rec: ExpectedRecommendation): string {
  const left: string[] = []
  const shown = new Map<string, string>()
  for (const segment of line.slice('- Evidence: '.length).split('; ')) {
    const at = segment.indexOf(': ')
    const [label, value] = [segment.slice(0, at), segment.slice(at + 2)]
    if (/\d/.test(value)) shown.set(label, value)
    else left.push(segment)
  }
  t.strictSame([...shown.keys()].sort(), [...rec.evidence.keys()].sort(), `${rec.title}: the evidence figures`)
  for (const [label, value] of shown) {
    const fig = rec.evidence.get(label)
    const ok = !fig ? false : fig.length === 1 ? t.equal(value, fig[0], `${rec.title}: ${label}`) : t.ok(fig.includes(value), `${rec.title}: ${label}: ${value} is a side of the tie ${fig.join(' / ')}`)
    if (!ok) left.push(`${label}: ${value}`)
  }
  return left.join('; ')
}
