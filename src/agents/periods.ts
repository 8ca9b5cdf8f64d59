/**
 * Time phrases of a question ("since October", "between Oct 1 and Oct 15", "last two weeks",
 * "last Tuesday", "in July") resolved to inclusive UTC days. Relative phrases count from today;
 * a month or day named without a year is its latest occurrence that has begun by today, and among
 * those the latest that holds usage data.
 */

export interface DaySpan { from: string, to: string }

export interface ResolvedPeriod extends DaySpan {
  /** the question's own words */
  text: string
  /** how the answer says it back: "1–15 Oct 2026" */
  label: string
}

export interface PeriodContext {
  /** today, YYYY-MM-DD (UTC) */
  today: string
  /** the first and last day of the user's data, when there is any */
  data?: DaySpan | null
}

const DAY_MS = 86_400_000
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december']
const SHORT_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']
const NUMBER_WORDS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  fourteen: 14,
  fifteen: 15,
  twenty: 20,
  thirty: 30,
  sixty: 60,
  ninety: 90,
  couple: 2,
  few: 3,
  several: 3
}
const ORDINALS: Record<string, number> = { first: 1, second: 2, third: 3, fourth: 4, last: -1 }

const MONTH = '(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\\.?'
const DAY = '(\\d{1,2})(?:st|nd|rd|th)?'
const YEAR = '(?:,?\\s+(\\d{4}))?'
const ISO = '(?<![\\w.-])(\\d{4}-\\d{2}-\\d{2})(?![\\w.])'
const MONTH_NC = MONTH.replace('(', '(?:')
const TO = '\\s*(?:-|to|and|through|thru|until|till)\\s*'
const NUM = '(\\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|thirty|sixty|ninety|couple(?: of)?|few|several)'
const UNIT = '(day|week|fortnight|month|quarter|year)s?'
const WEEKDAY = '(sunday|monday|tuesday|wednesday|thursday|friday|saturday)'

export const dayString = (ms: number) => new Date(ms).toISOString().slice(0, 10)
const ms = (day: string) => Date.parse(`${day}T00:00:00Z`)
export const plusDays = (day: string, n: number) => dayString(ms(day) + n * DAY_MS)
const ymd = (y: number, m: number, d: number) => dayString(Date.UTC(y, m, d))
const monthIndex = (name: string) => MONTHS.findIndex((m) => m.startsWith(name.slice(0, 3)))
const numberOf = (word: string) => /^\d+$/.test(word) ? Number(word) : NUMBER_WORDS[word.replace(/ of$/, '')]
const lastOfMonth = (y: number, m: number) => new Date(Date.UTC(y, m + 1, 0)).getUTCDate()
const weekday = (day: string) => new Date(ms(day)).getUTCDay()
/** weeks start on Monday */
const mondayOf = (day: string) => plusDays(day, -((weekday(day) + 6) % 7))
const daysBetween = (a: string, b: string) => Math.round((ms(b) - ms(a)) / DAY_MS)

/** `n` calendar months after `day` (negative: before), the day clamped to the month's length. */
function addMonths (day: string, n: number): string {
  const d = new Date(ms(day))
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + n
  const [y, m] = [Math.floor(total / 12), ((total % 12) + 12) % 12]
  return ymd(y, m, Math.min(d.getUTCDate(), lastOfMonth(y, m)))
}

/** How the answer says a span back: "14 Oct 2026", "1–15 Oct 2026", "28 Sep – 4 Oct 2026", "28 Dec 2025 – 3 Jan 2026". */
export function periodLabel ({ from, to }: DaySpan): string {
  const [a, b] = [new Date(ms(from)), new Date(ms(to))]
  const dm = (d: Date) => `${d.getUTCDate()} ${SHORT_MONTHS[d.getUTCMonth()]}`
  if (from === to) return `${dm(a)} ${a.getUTCFullYear()}`
  if (a.getUTCFullYear() !== b.getUTCFullYear()) return `${dm(a)} ${a.getUTCFullYear()} – ${dm(b)} ${b.getUTCFullYear()}`
  if (a.getUTCMonth() !== b.getUTCMonth()) return `${dm(a)} – ${dm(b)} ${b.getUTCFullYear()}`
  return `${a.getUTCDate()}–${b.getUTCDate()} ${SHORT_MONTHS[b.getUTCMonth()]} ${b.getUTCFullYear()}`
}

export const spanDays = (s: DaySpan) => daysBetween(s.from, s.to) + 1

const overlaps = (s: DaySpan, data?: DaySpan | null) => !!data && s.from <= data.to && s.to >= data.from

type Span = DaySpan | undefined
interface Rule { pattern: RegExp, span: (m: RegExpExecArray, c: PeriodContext) => Span }

/**
 * A span without a year: tried in the year of today and back, the latest that has begun by today
 * and holds data wins; without data, the latest that has begun. `make(y)` gives the span in year y.
 */
function latest (c: PeriodContext, make: (year: number) => Span): Span {
  const thisYear = Number(c.today.slice(0, 4))
  const begun: DaySpan[] = []
  for (let y = thisYear + 1; y >= thisYear - 10; y--) {
    const s = make(y)
    if (s && s.from <= c.today) begun.push(s)
  }
  return begun.find((s) => overlaps(s, c.data)) ?? begun[0]
}

const yearOr = (year: string | undefined, c: PeriodContext, make: (y: number) => Span) => (year ? make(Number(year)) : latest(c, make))

function valid (y: number, m: number, d: number): boolean {
  return m >= 0 && m < 12 && d >= 1 && d <= lastOfMonth(y, m)
}
const dayIn = (y: number, m: number, d: number): Span => (valid(y, m, d) ? { from: ymd(y, m, d), to: ymd(y, m, d) } : undefined)
const monthIn = (y: number, m: number): DaySpan => ({ from: ymd(y, m, 1), to: ymd(y, m, lastOfMonth(y, m)) })

/** From one day to another of the same year, the first in the year before when it falls after the second ("Dec 20 to Jan 5"). */
function between (y: number, m1: number, d1: number, m2: number, d2: number): Span {
  if (!valid(y, m2, d2)) return undefined
  const fromYear = m1 > m2 || (m1 === m2 && d1 > d2) ? y - 1 : y
  if (!valid(fromYear, m1, d1)) return undefined
  return { from: ymd(fromYear, m1, d1), to: ymd(y, m2, d2) }
}

/** The start of the span a phrase names, for "since …" and "before …". */
function startOf (phrase: string, c: PeriodContext): Span {
  for (const rule of POINT_RULES) {
    const m = new RegExp(`^${rule.pattern.source}$`).exec(phrase)
    if (m) return rule.span(m, c)
  }
  return undefined
}

const trailing = (c: PeriodContext, n: number, unit: string): DaySpan => {
  const from = unit === 'day'
    ? plusDays(c.today, 1 - n)
    : unit === 'week' || unit === 'fortnight'
      ? plusDays(c.today, 1 - n * (unit === 'week' ? 7 : 14))
      : plusDays(addMonths(c.today, -n * (unit === 'month' ? 1 : unit === 'quarter' ? 3 : 12)), 1)
  return { from, to: c.today }
}

/** A whole calendar day, week, month, quarter or year, `back` of them before this one; this one ends today. */
function calendar (c: PeriodContext, unit: string, back: number): DaySpan {
  const span = calendarSpan(c, unit, back)
  return back === 0 && span.to > c.today ? { from: span.from, to: c.today } : span
}

function calendarSpan (c: PeriodContext, unit: string, back: number): DaySpan {
  const t = new Date(ms(c.today))
  const [y, m] = [t.getUTCFullYear(), t.getUTCMonth()]
  switch (unit) {
    case 'day': return { from: plusDays(c.today, -back), to: plusDays(c.today, -back) }
    case 'week': {
      const monday = plusDays(mondayOf(c.today), -7 * back)
      return { from: monday, to: plusDays(monday, 6) }
    }
    case 'month': return monthIn(y, m - back)
    case 'quarter': {
      const q = Math.floor(m / 3) - back
      return { from: ymd(y, q * 3, 1), to: ymd(y, q * 3 + 3, 0) }
    }
    default: return { from: ymd(y - back, 0, 1), to: ymd(y - back, 11, 31) }
  }
}

/** The days a phrase names that can stand alone or open a "since …" (a day, a month, a relative start). */
const POINT_RULES: readonly Rule[] = [
  { pattern: new RegExp(ISO), span: (m) => (Number.isNaN(ms(m[1])) || dayString(ms(m[1])) !== m[1] ? undefined : { from: m[1], to: m[1] }) },
  { pattern: new RegExp(`${MONTH}\\s+${DAY}${YEAR}`), span: (m, c) => yearOr(m[3], c, (y) => dayIn(y, monthIndex(m[1]), Number(m[2]))) },
  { pattern: new RegExp(`${DAY}\\s+(?:of\\s+)?${MONTH}${YEAR}`), span: (m, c) => yearOr(m[3], c, (y) => dayIn(y, monthIndex(m[2]), Number(m[1]))) },
  { pattern: /(?:the\s+)?day before yesterday/, span: (_m, c) => calendar(c, 'day', 2) },
  { pattern: /yesterday/, span: (_m, c) => calendar(c, 'day', 1) },
  { pattern: /today/, span: (_m, c) => calendar(c, 'day', 0) },
  { pattern: new RegExp(`(?:last|this|previous)\\s+${WEEKDAY}`), span: (m, c) => weekdaySpan(m, c) },
  { pattern: /(?:last|previous)\s+(week|month|quarter|year)/, span: (m, c) => calendar(c, m[1], 1) },
  { pattern: /(?:this|the current|current)\s+(week|month|quarter|year)/, span: (m, c) => calendar(c, m[1], 0) },
  { pattern: /q([1-4])(?:\s+(\d{4}))?/, span: (m, c) => yearOr(m[2], c, (y) => ({ from: ymd(y, (Number(m[1]) - 1) * 3, 1), to: ymd(y, Number(m[1]) * 3, 0) })) },
  { pattern: new RegExp(`${MONTH}${YEAR}`), span: (m, c) => yearOr(m[2], c, (y) => monthIn(y, monthIndex(m[1]))) },
  { pattern: /(?<![\w.-])((?:19|20)\d{2})(?![\w-])/, span: (m) => ({ from: `${m[1]}-01-01`, to: `${m[1]}-12-31` }) },
  { pattern: new RegExp(WEEKDAY), span: (m, c) => weekdaySpan(m, c) }
]

/** "last Tuesday": the latest Tuesday before today; "this Tuesday": the Tuesday of this week. */
function weekdaySpan (m: RegExpExecArray, c: PeriodContext): DaySpan {
  const name = m[1]
  const target = WEEKDAYS.indexOf(name)
  if (/^this\b/.test(m[0])) {
    const d = plusDays(mondayOf(c.today), (target + 6) % 7)
    return { from: d, to: d }
  }
  const back = ((weekday(c.today) - target + 7) % 7) || 7
  const d = plusDays(c.today, -back)
  return { from: d, to: d }
}

const POINT = '(' + `${ISO}|${MONTH}\\s+${DAY}${YEAR}|${DAY}\\s+(?:of\\s+)?${MONTH}${YEAR}|(?:the\\s+)?day before yesterday|yesterday|today|(?:last|this|previous)\\s+${WEEKDAY}|(?:last|previous|this|the current|current)\\s+(?:week|month|quarter|year)|q[1-4](?:\\s+\\d{4})?|${MONTH}${YEAR}|(?:19|20)\\d{2}|${WEEKDAY}`
  .replace(/\((?!\?)/g, '(?:') + ')'

/** The rules for whole spans, most specific first; the first that matches wins. */
const RULES: readonly Rule[] = [
  // ranges with both ends
  { pattern: new RegExp(`(?:from|between)?\\s*${ISO}${TO}${ISO}`), span: (m) => (m[1] <= m[2] ? { from: m[1], to: m[2] } : undefined) },
  {
    pattern: new RegExp(`(?:from|between)?\\s*${MONTH}\\s+${DAY}${YEAR}${TO}${MONTH}\\s+${DAY}${YEAR}`),
    span: (m, c) => yearOr(m[6] ?? m[3], c, (y) => between(y, monthIndex(m[1]), Number(m[2]), monthIndex(m[4]), Number(m[5])))
  },
  {
    pattern: new RegExp(`(?:from|between)?\\s*${DAY}\\s+(?:of\\s+)?${MONTH}${YEAR}${TO}${DAY}\\s+(?:of\\s+)?${MONTH}${YEAR}`),
    span: (m, c) => yearOr(m[6] ?? m[3], c, (y) => between(y, monthIndex(m[2]), Number(m[1]), monthIndex(m[5]), Number(m[4])))
  },
  {
    pattern: new RegExp(`(?:from|between)?\\s*${MONTH}\\s+${DAY}${TO}${DAY}(?!\\s*(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH_NC})${YEAR}`),
    span: (m, c) => yearOr(m[4], c, (y) => between(y, monthIndex(m[1]), Number(m[2]), monthIndex(m[1]), Number(m[3])))
  },
  {
    pattern: new RegExp(`(?:from|between)?\\s*(?:the\\s+)?${DAY}${TO}(?:the\\s+)?${DAY}\\s+(?:of\\s+)?${MONTH}${YEAR}`),
    span: (m, c) => yearOr(m[4], c, (y) => between(y, monthIndex(m[3]), Number(m[1]), monthIndex(m[3]), Number(m[2])))
  },
  {
    pattern: new RegExp(`(?:from|between)\\s+${MONTH}${TO}${MONTH}${YEAR}`),
    span: (m, c) => yearOr(m[3], c, (y) => {
      const [a, b] = [monthIndex(m[1]), monthIndex(m[2])]
      const first = a > b ? y - 1 : y
      return { from: ymd(first, a, 1), to: monthIn(y, b).to }
    })
  },
  // an open start: since, after, from … on
  {
    pattern: new RegExp(`\\b(since|after|starting|from)\\s+(?:the\\s+(?:start|beginning)\\s+of\\s+)?${POINT}(?:\\s+(?:on(?:wards)?|until now|to date|till now))?`),
    span: (m, c) => {
      const start = startOf(m[2], c)
      if (!start) return undefined
      const from = m[1] === 'after' ? plusDays(start.to, 1) : start.from
      return from <= c.today ? { from, to: c.today } : undefined
    }
  },
  // an open end: before, until, up to
  {
    pattern: new RegExp(`(?<!day\\s)\\b(before|until|till|up to|through|prior to)\\s+${POINT}`),
    span: (m, c) => {
      const end = startOf(m[2], c)
      if (!end) return undefined
      // "before October" ends on 30 Sep; "until October" too, while "until Oct 15" and "through October" include them
      const exclusive = m[1] === 'before' || m[1] === 'prior to' || ((m[1] === 'until' || m[1] === 'till') && end.from !== end.to)
      const to = exclusive ? plusDays(end.from, -1) : end.to
      const from = c.data?.from && c.data.from <= to ? c.data.from : to
      return { from, to }
    }
  },
  // halves and weeks of a month
  {
    pattern: new RegExp(`(first|second|last)\\s+half\\s+of\\s+${MONTH}${YEAR}`),
    span: (m, c) => yearOr(m[3], c, (y) => {
      const mo = monthIndex(m[2])
      return m[1] === 'first' ? { from: ymd(y, mo, 1), to: ymd(y, mo, 15) } : { from: ymd(y, mo, 16), to: ymd(y, mo, lastOfMonth(y, mo)) }
    })
  },
  {
    pattern: new RegExp(`(first|second|third|fourth|last)\\s+week\\s+of\\s+${MONTH}${YEAR}`),
    span: (m, c) => yearOr(m[3], c, (y) => {
      const mo = monthIndex(m[2])
      const n = ORDINALS[m[1]]
      const start = n > 0 ? ymd(y, mo, 1 + 7 * (n - 1)) : ymd(y, mo, lastOfMonth(y, mo) - 6)
      return { from: start, to: plusDays(start, 6) }
    })
  },
  {
    pattern: new RegExp(`week\\s+(?:of|starting|beginning)\\s+${POINT}`),
    span: (m, c) => {
      const d = startOf(m[1], c)
      if (!d) return undefined
      const monday = /starting|beginning/.test(m[0]) ? d.from : mondayOf(d.from)
      return { from: monday, to: plusDays(monday, 6) }
    }
  },
  { pattern: /(first|second|last)\s+half\s+of\s+(\d{4})/, span: (m) => (m[1] === 'first' ? { from: `${m[2]}-01-01`, to: `${m[2]}-06-30` } : { from: `${m[2]}-07-01`, to: `${m[2]}-12-31` }) },
  { pattern: /\bh([12])\s+(\d{4})/, span: (m) => (m[1] === '1' ? { from: `${m[2]}-01-01`, to: `${m[2]}-06-30` } : { from: `${m[2]}-07-01`, to: `${m[2]}-12-31` }) },
  // to date
  { pattern: /\b(year|quarter|month|week)[-\s]to[-\s]date\b|\b(ytd|qtd|mtd|wtd)\b/, span: (m, c) => ({ from: calendar(c, m[1] ?? { ytd: 'year', qtd: 'quarter', mtd: 'month', wtd: 'week' }[m[2]]!, 0).from, to: c.today }) },
  // trailing windows
  { pattern: /\b(?:past|last|previous)\s+24\s+hours\b/, span: (_m, c) => ({ from: plusDays(c.today, -1), to: c.today }) },
  { pattern: new RegExp(`\\b(?:the\\s+)?(?:last|past|previous|trailing|recent)\\s+${NUM}\\s+${UNIT}`), span: (m, c) => trailing(c, numberOf(m[1]), m[2]) },
  { pattern: new RegExp(`\\b${NUM}\\s+${UNIT}\\s+ago\\b`), span: (m, c) => (m[2] === 'day' ? calendar(c, 'day', numberOf(m[1])) : m[2] === 'week' ? calendar(c, 'week', numberOf(m[1])) : m[2] === 'month' ? calendar(c, 'month', numberOf(m[1])) : undefined) },
  { pattern: /\b(?:the|in the|over the|during the|for the)\s+(?:last|past)\s+(day|week|fortnight|month|quarter|year)\b|\bpast\s+(day|week|fortnight|month|quarter|year)\b/, span: (m, c) => trailing(c, 1, m[1] ?? m[2]) },
  { pattern: /\b(?:last|previous)\s+fortnight\b/, span: (_m, c) => trailing(c, 1, 'fortnight') },
  {
    pattern: /\b(last|this|past)\s+weekend\b|\bover the weekend\b/,
    span: (m, c) => {
      const saturday = m[1] === 'this' ? plusDays(mondayOf(c.today), 5) : plusDays(c.today, -(((weekday(c.today) - 6 + 7) % 7) || 7))
      return { from: saturday, to: plusDays(saturday, 1) }
    }
  },
  { pattern: /\b(?:so far )?this year\b/, span: (_m, c) => calendar(c, 'year', 0) },
  // single points, last: "on Oct 3", "in July", "yesterday", "last month"
  ...POINT_RULES.map((r) => ({ pattern: new RegExp(`\\b(?:in|on|during|for|of)?\\s*${r.pattern.source}\\b`), span: r.span }))
]

/**
 * The span of days a question names, or null when it names none. `today` bounds what "last",
 * "this" and "since" mean; a month or day without a year is the latest one that has begun.
 */
export function resolvePeriod (question: string, c: PeriodContext): ResolvedPeriod | null {
  const text = normalise(question)
  for (const rule of RULES) {
    const re = new RegExp(rule.pattern.source, 'g')
    let m: RegExpExecArray | null
    while ((m = re.exec(text))) {
      if (m[0].trim() === '') { re.lastIndex++; continue }
      if (falseMay(text, m)) continue
      const span = rule.span(m, c)
      if (!span || span.from > span.to) continue
      const words = (text.length === question.length ? question.slice(m.index, m.index + m[0].length) : m[0]).trim()
      return { ...span, text: words.replace(/^(in|on|during|for|of)\s+/i, ''), label: periodLabel(span) }
    }
  }
  return null
}

/** "may" is a month only next to a day or a year, or after a preposition. */
function falseMay (text: string, m: RegExpExecArray): boolean {
  if (!/\bmay\b/.test(m[0])) return false
  if (/\bmay\s+\d|\d\s+(?:of\s+)?may\b/.test(m[0])) return false
  const before = text.slice(Math.max(0, m.index - 12), m.index + m[0].indexOf('may'))
  return !/\b(in|during|for|since|from|of|until|before|through|to|and)\s*$/.test(before)
}

function normalise (s: string): string {
  return s.toLowerCase().replace(/[’‘]/g, '\'').replace(/[–—]/g, '-').replace(/\bthe\s+(\d{1,2})(st|nd|rd|th)\s+of\s+/g, '$1$2 ')
}

export interface Coverage {
  /** the days of the span that the data covers; null when none */
  covered: DaySpan | null
  /** when the data covers none of the span: a span as long, as close to it as the data allows */
  nearest?: DaySpan
}

/** How much of a span the data covers, and the nearest span with data when it covers none. */
export function coverage (span: DaySpan, data: DaySpan | null | undefined): Coverage {
  if (!data) return { covered: null }
  if (overlaps(span, data)) return { covered: { from: span.from > data.from ? span.from : data.from, to: span.to < data.to ? span.to : data.to } }
  const length = spanDays(span)
  const nearest = span.from > data.to
    ? { from: maxDay(data.from, plusDays(data.to, 1 - length)), to: data.to }
    : { from: data.from, to: minDay(data.to, plusDays(data.from, length - 1)) }
  return { covered: null, nearest }
}

const maxDay = (a: string, b: string) => (a > b ? a : b)
const minDay = (a: string, b: string) => (a < b ? a : b)
