import { CsvError, parse as parseCsv } from 'csv-parse/sync'
import { createHash } from 'node:crypto'
import { Errors } from '../errors.js'
import { costOf, findPrice, PRICES, type PriceTable } from '../tools/prices.js'
import type { UsageRecord } from '../tools/usage-data.js'

export type UsageFormat = 'csv' | 'ndjson' | 'json'

/** A bad row: its 1-based line in the file (for a JSON array, its index + 1) and what is wrong. */
export interface RowError { line: number, reason: string }

export interface ParsedUsage {
  /** every good row, in file order; empty when any row is bad */
  records: UsageRecord[]
  errors: RowError[]
  /** data rows seen, blank lines not counted */
  total_rows: number
}

export interface ParseOptions {
  /** more data rows than this: 413 payload_too_large */
  maxRows: number
  /** prices a row without cost_usd; the current catalogue by default */
  prices?: PriceTable
}

/** The fields of a usage row; any other column or key is ignored. */
export const USAGE_FIELDS = Object.freeze(['timestamp', 'provider', 'model', 'input_tokens', 'output_tokens', 'cached_tokens',
  'cost_usd', 'latency_ms', 'feature', 'request_id', 'prompt_hash', 'requests'] as const)
const REQUIRED = ['timestamp', 'provider', 'model', 'input_tokens', 'output_tokens'] as const

/** At most this many bad rows are listed in an error; the message gives the count of all of them. */
export const MAX_REPORTED_ERRORS = 100
const IN_MESSAGE = 5

const TEXT_MAX: Record<'provider' | 'model' | 'feature' | 'request_id' | 'prompt_hash', number> =
  { provider: 64, model: 128, feature: 128, request_id: 256, prompt_hash: 256 }

type Raw = Record<string, unknown>
/** a row to read, or one already known to be bad */
type Row = { line: number, raw: Raw } | { line: number, reasons: string[] }
type Parsed = UsageRecord | { reasons: string[] }

/**
 * Parses an upload into usage records, or into the list of its bad rows. A row without cost_usd
 * is priced from the catalogue; a row without request_id gets one hashed from its fields, so the
 * same file sent again adds nothing. Throws 413 when there are more than `maxRows` rows.
 */
export function parseUsage (body: unknown, format: UsageFormat, opts: ParseOptions): ParsedUsage {
  const read = format === 'csv' ? csvRows(body) : format === 'ndjson' ? ndjsonRows(body) : jsonRows(body)
  if ('error' in read) return { records: [], errors: [read.error], total_rows: 0 }
  const { rows } = read
  if (rows.length > opts.maxRows) {
    throw new Errors.PayloadTooLarge(`too many rows: ${rows.length}, at most ${opts.maxRows} per upload; split the file`)
  }
  const prices = opts.prices ?? PRICES
  const errors: RowError[] = []
  const records: UsageRecord[] = []
  const seen = new Map<string, number>()
  for (const row of rows) {
    const r = 'reasons' in row ? row : toRecord(row.raw, prices, seen)
    if ('reasons' in r) errors.push({ line: row.line, reason: r.reasons.join('; ') })
    else if (errors.length === 0) records.push(r)
  }
  return { records: errors.length ? [] : records, errors, total_rows: rows.length }
}

/** As parseUsage, but any bad row throws 400 invalid_request listing them (message and `errors`). */
export function readUsage (body: unknown, format: UsageFormat, opts: ParseOptions): { records: UsageRecord[], total_rows: number } {
  const { records, errors, total_rows } = parseUsage(body, format, opts)
  if (errors.length) throw badRows(errors)
  return { records, total_rows }
}

function badRows (errors: RowError[]): Error {
  const listed = errors.slice(0, IN_MESSAGE).map((e) => `line ${e.line}: ${e.reason}`).join('; ')
  const more = errors.length > IN_MESSAGE ? `; and ${errors.length - IN_MESSAGE} more` : ''
  const noun = errors.length === 1 ? 'bad row' : 'bad rows'
  return Object.assign(new Errors.InvalidRequest(`${errors.length} ${noun}, nothing imported: ${listed}${more}`),
    { errors: errors.slice(0, MAX_REPORTED_ERRORS) })
}

type Read = { rows: Row[] } | { error: RowError }

function csvRows (body: unknown): Read {
  if (typeof body !== 'string') throw new Errors.InvalidRequest('a CSV body must be text')
  let cells: string[][]
  try {
    cells = parseCsv(body, { bom: true, relax_column_count: true, skip_empty_lines: false })
  } catch (err) {
    if (err instanceof CsvError) return { error: { line: (err as CsvError & { lines?: number }).lines ?? 1, reason: `malformed CSV: ${err.message}` } }
    throw err
  }
  // a record spans one line plus the line breaks inside its quoted fields
  let line = 1
  const numbered = cells.map((record) => {
    const at = line
    line += 1 + record.reduce((n, cell) => n + (cell.match(/\r\n|\r|\n/g)?.length ?? 0), 0)
    return { line: at, record }
  }).filter(({ record }) => record.some((cell) => cell.trim() !== ''))

  const [header, ...data] = numbered
  if (!header) return { error: { line: 1, reason: 'missing header row' } }
  const names = header.record.map((h) => h.trim().toLowerCase())
  const twice = names.find((n, i) => (USAGE_FIELDS as readonly string[]).includes(n) && names.indexOf(n) !== i)
  if (twice) return { error: { line: header.line, reason: `column "${twice}" appears twice` } }
  const missing = REQUIRED.filter((f) => !names.includes(f))
  if (missing.length) return { error: { line: header.line, reason: `missing column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}` } }

  return {
    rows: data.map(({ line, record }) => record.length === names.length
      ? { line, raw: Object.fromEntries(names.map((n, i) => [n, record[i]])) }
      : { line, reasons: [`expected ${names.length} fields as in the header, found ${record.length}`] })
  }
}

function ndjsonRows (body: unknown): Read {
  if (typeof body !== 'string') throw new Errors.InvalidRequest('an NDJSON body must be text')
  const rows: Row[] = []
  body.replace(/^\uFEFF/, '').split('\n').forEach((text, i) => {
    if (text.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      rows.push({ line: i + 1, reasons: ['not valid JSON'] })
      return
    }
    rows.push(isObject(value) ? { line: i + 1, raw: value } : { line: i + 1, reasons: ['expected a JSON object'] })
  })
  return { rows }
}

function jsonRows (body: unknown): Read {
  if (!Array.isArray(body)) throw new Errors.InvalidRequest('a JSON body must be an array of usage records')
  return { rows: body.map((value, i): Row => isObject(value) ? { line: i + 1, raw: value } : { line: i + 1, reasons: ['expected a JSON object'] }) }
}

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

function toRecord (raw: Raw, prices: PriceTable, seen: Map<string, number>): Parsed {
  const reasons: string[] = []
  const value = (field: typeof USAGE_FIELDS[number]) => blank(raw[field]) ? undefined : raw[field]
  const required = <T>(field: typeof REQUIRED[number], read: (v: unknown) => T | undefined, what: string): T | undefined => {
    const v = value(field)
    if (v === undefined) { reasons.push(`${field} is required`); return undefined }
    const out = read(v)
    if (out === undefined) reasons.push(`${field} ${what}`)
    return out
  }
  const optional = <T>(field: typeof USAGE_FIELDS[number], read: (v: unknown) => T | undefined, what: string): T | undefined => {
    const v = value(field)
    if (v === undefined) return undefined
    const out = read(v)
    if (out === undefined) reasons.push(`${field} ${what}`)
    return out
  }
  const text = (field: keyof typeof TEXT_MAX, numbersToo = false) => (v: unknown) => {
    const s = typeof v === 'string' ? v.trim() : numbersToo && typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined
    return s !== undefined && s.length <= TEXT_MAX[field] ? s : undefined
  }
  const textWhat = (field: keyof typeof TEXT_MAX) => `must be a string of at most ${TEXT_MAX[field]} characters`

  const timestamp = required('timestamp', parseTimestamp, 'must be ISO-8601 (e.g. 2025-08-01T12:00:00Z) or epoch seconds or milliseconds')
  const providerText = required('provider', text('provider'), textWhat('provider'))
  const model = required('model', text('model'), textWhat('model'))
  const input = required('input_tokens', count, 'must be a non-negative integer')
  const output = required('output_tokens', count, 'must be a non-negative integer')
  const cached = optional('cached_tokens', count, 'must be a non-negative integer')
  const givenCost = optional('cost_usd', amount, 'must be a non-negative number')
  const latency = optional('latency_ms', amount, 'must be a non-negative number')
  const feature = optional('feature', text('feature'), textWhat('feature'))
  const requestId = optional('request_id', text('request_id', true), textWhat('request_id'))
  const promptHash = optional('prompt_hash', text('prompt_hash'), textWhat('prompt_hash'))
  const requests = optional('requests', (v) => { const n = count(v); return n !== undefined && n >= 1 ? n : undefined }, 'must be a positive integer')
  if (cached !== undefined && input !== undefined && cached > input) reasons.push('cached_tokens must not exceed input_tokens')
  if (givenCost === undefined && model !== undefined && !findPrice(model, prices)) {
    reasons.push(`cost_usd is missing and model "${model}" is not in the price catalogue (version ${prices.version}, ${prices.as_of})`)
  }
  if (reasons.length) return { reasons }

  const provider = providerText!.toLowerCase()
  const tokens = { input_tokens: input!, output_tokens: output!, ...(cached !== undefined && { cached_tokens: cached }) }
  const given = [timestamp, provider, model, input, output, cached, givenCost, latency, feature, promptHash, requests].map((v) => v ?? null)
  return {
    timestamp: timestamp!,
    provider,
    model: model!,
    ...tokens,
    cost_usd: givenCost ?? costOf(model!, tokens, prices),
    ...(latency !== undefined && { latency_ms: latency }),
    ...(feature !== undefined && { feature }),
    request_id: requestId ?? rowId(given, seen),
    ...(promptHash !== undefined && { prompt_hash: promptHash }),
    ...(requests !== undefined && { requests })
  }
}

/**
 * A request_id for a row that has none: a hash of its fields as given, and of how many identical
 * rows came before it in the same upload, so two equal rows stay two and a re-sent file maps onto itself.
 */
function rowId (fields: unknown[], seen: Map<string, number>): string {
  const key = JSON.stringify(fields)
  const n = seen.get(key) ?? 0
  seen.set(key, n + 1)
  return `row-${createHash('sha256').update(JSON.stringify([key, n])).digest('hex').slice(0, 32)}`
}

const blank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '')

function count (v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function amount (v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v) ? Number(v) : NaN
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i
const FIRST_MS = 0
const END_MS = Date.UTC(10000, 0, 1)
/** epoch values below this are seconds (1e11 s is the year 5138; 1e11 ms is 1973) */
const SECONDS_BELOW = 1e11

/**
 * An ISO-8601 date-time (a missing zone is UTC; a date alone is its midnight UTC) or epoch
 * seconds or milliseconds, as `toISOString()` writes it; undefined when it is none of these.
 */
export function parseTimestamp (v: unknown): string | undefined {
  if (typeof v === 'number') return fromEpoch(v)
  if (typeof v !== 'string') return undefined
  const s = v.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return fromEpoch(Number(s))
  const m = ISO.exec(s)
  if (!m) return undefined
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone = 'Z'] = m
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > new Date(Date.UTC(+y, +mo, 0)).getUTCDate() || +h > 23 || +mi > 59 || +sec > 59) return undefined
  let offsetMin = 0
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '')
    const [oh, om] = [+digits.slice(0, 2), +(digits.slice(2) || '0')]
    if (oh > 23 || om > 59) return undefined
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  const at = new Date(0)
  at.setUTCFullYear(+y, +mo - 1, +d)
  at.setUTCHours(+h, +mi, +sec, +frac.padEnd(3, '0').slice(0, 3))
  return inRange(at.getTime() - offsetMin * 60_000)
}

function fromEpoch (n: number): string | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined
  return inRange(Math.round(n < SECONDS_BELOW ? n * 1000 : n))
}

const inRange = (ms: number) => (ms >= FIRST_MS && ms < END_MS ? new Date(ms).toISOString() : undefined)
