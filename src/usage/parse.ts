import { CsvError, parse as parseCsv } from 'csv-parse/sync'
import { createHash } from 'node:crypto'
import { Errors } from '../errors.js'
import { canonicalModel, costOf, findPrice, PRICES, tidyModelName, type PriceTable } from '../tools/prices.js'
import type { UsageRecord } from '../tools/usage-data.js'

export type UsageFormat = 'csv' | 'ndjson' | 'json'

/** A bad row: its 1-based line in the file (for a JSON array, its index + 1) and what is wrong. */
export interface RowError { line: number, reason: string }

/** Something the upload's answer points out without refusing the file: which rows, and what. */
export interface UploadWarning {
  code: 'model_renamed' | 'provider_mismatch' | 'duplicate_row' | 'unpriced_model' | 'conflicts_stored'
  message: string
  /** the first rows concerned (at most MAX_REPORTED_ERRORS) */
  lines: number[]
}

export interface ParsedUsage {
  /** every good row, in file order (a repeated row once); empty when any row is bad */
  records: UsageRecord[]
  errors: RowError[]
  warnings: UploadWarning[]
  /** data rows seen, blank lines not counted */
  total_rows: number
}

/** What a sane usage row stays within; beyond it the row is refused. */
export interface UsageBounds {
  /** USD per request (an aggregate's cost ÷ its requests) */
  max_cost_usd: number
  /** input or output tokens per request */
  max_tokens: number
  /** timestamps before this (epoch ms) are refused */
  earliest_ms: number
  /** timestamps after this (epoch ms) are refused */
  latest_ms: number
}

export const DEFAULT_BOUNDS = Object.freeze({ max_cost_usd: 1000, max_tokens: 10_000_000, earliest: '2020-01-01', max_ahead_s: 86_400 })

/** The bounds as of `now`. */
export function usageBounds (b: { max_cost_usd: number, max_tokens: number, earliest: string, max_ahead_s: number } = DEFAULT_BOUNDS, now = Date.now()): UsageBounds {
  return { max_cost_usd: b.max_cost_usd, max_tokens: b.max_tokens, earliest_ms: Date.parse(`${b.earliest}T00:00:00Z`), latest_ms: now + b.max_ahead_s * 1000 }
}

export interface ParseOptions {
  /** more data rows than this: 413 payload_too_large */
  maxRows: number
  /** prices a row without cost_usd; the current catalogue by default */
  prices?: PriceTable
  /** DEFAULT_BOUNDS as of now by default */
  bounds?: UsageBounds
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
type Parsed = { record: UsageRecord, renamed: boolean, given: { model: string } } | { reasons: string[] }

/**
 * Parses an upload into usage records, or into the list of its bad rows. A row without cost_usd
 * is priced from the catalogue; a row without request_id gets one hashed from its fields, so the
 * same file sent again adds nothing. Throws 413 when there are more than `maxRows` rows.
 */
export function parseUsage (body: unknown, format: UsageFormat, opts: ParseOptions): ParsedUsage {
  const { lines: _lines, ...parsed } = parseLines(body, format, opts)
  return parsed
}

/** parseUsage, and each record's line in the file by request_id. */
function parseLines (body: unknown, format: UsageFormat, opts: ParseOptions): ParsedUsage & { lines: Map<string, number> } {
  const read = format === 'csv' ? csvRows(body) : format === 'ndjson' ? ndjsonRows(body) : jsonRows(body)
  if ('error' in read) return { records: [], errors: [read.error], warnings: [], total_rows: 0, lines: new Map() }
  const { rows } = read
  if (rows.length > opts.maxRows) {
    throw new Errors.PayloadTooLarge(`too many rows: ${rows.length}, at most ${opts.maxRows} per upload; split the file`)
  }
  const prices = opts.prices ?? PRICES
  const bounds = opts.bounds ?? usageBounds()
  const errors: RowError[] = []
  const records: UsageRecord[] = []
  const seen = new Map<string, number>()
  const byId = new Map<string, { line: number, key: string }>()
  const lines = new Map<string, number>()
  const notes = new Notes()
  for (const row of rows) {
    const r = 'reasons' in row ? row : toRecord(row.raw, prices, seen, bounds)
    if ('reasons' in r) {
      errors.push({ line: row.line, reason: r.reasons.join('; ') })
      continue
    }
    const { record, renamed, given } = r
    // the same request twice: once when equal, refused when the two disagree
    const key = JSON.stringify(record)
    const first = byId.get(record.request_id)
    if (first) {
      if (first.key === key) notes.add('duplicate_row', `request_id ${record.request_id} repeats line ${first.line}`, row.line)
      else errors.push({ line: row.line, reason: `request_id ${record.request_id} is also on line ${first.line}, with different content` })
      continue
    }
    byId.set(record.request_id, { line: row.line, key })
    if (renamed) notes.add('model_renamed', `${given.model} → ${record.model}`, row.line)
    const price = findPrice(record.model, prices)
    if (!price) notes.add('unpriced_model', record.model, row.line)
    else if (price.provider !== record.provider && !RESELLER.test(record.provider)) notes.add('provider_mismatch', `${record.model} is ${price.provider}'s, the row says ${record.provider}`, row.line)
    lines.set(record.request_id, row.line)
    if (errors.length === 0) records.push(record)
  }
  return { records: errors.length ? [] : records, errors, warnings: errors.length ? [] : notes.warnings(), total_rows: rows.length, lines }
}

/** Providers that resell other providers' models: their rows name the model's maker's model under their own name. */
const RESELLER = /bedrock|azure|vertex|openrouter|together|fireworks|groq|databricks|snowflake|watsonx|cloudflare|litellm/

const WARNING_TEXT: Record<UploadWarning['code'], (items: string[], rows: number) => string> = {
  model_renamed: (items, rows) => `${rows} ${rows === 1 ? 'row names its model' : 'rows name their model'} another way than the price catalogue; stored as: ${items.join(', ')}`,
  provider_mismatch: (items, rows) => `${rows} ${rows === 1 ? 'row\'s provider does' : 'rows\' providers do'} not match the model's maker: ${items.join('; ')}`,
  duplicate_row: (items, rows) => `${rows} ${rows === 1 ? 'row repeats' : 'rows repeat'} an earlier row exactly and ${rows === 1 ? 'was' : 'were'} counted once: ${items.slice(0, 5).join('; ')}${items.length > 5 ? '; …' : ''}`,
  unpriced_model: (items, rows) => `${rows} ${rows === 1 ? 'row is' : 'rows are'} on models the price catalogue does not list (${items.join(', ')}): their spend is reported, but no saving can be priced for them`,
  conflicts_stored: (items, rows) => `${rows} ${rows === 1 ? 'row has a request_id' : 'rows have request_ids'} imported before with different content; the stored ${rows === 1 ? 'record is' : 'records are'} kept: ${items.slice(0, 5).join(', ')}${items.length > 5 ? ', …' : ''}`
}

/** Warnings gathered by kind: what each is about, and on which lines. */
export class Notes {
  #by = new Map<UploadWarning['code'], { items: Set<string>, lines: number[], rows: number }>()
  add (code: UploadWarning['code'], item: string, line: number) {
    const n = this.#by.get(code) ?? { items: new Set<string>(), lines: [], rows: 0 }
    n.items.add(item)
    n.rows++
    if (n.lines.length < MAX_REPORTED_ERRORS) n.lines.push(line)
    this.#by.set(code, n)
  }

  warnings (): UploadWarning[] {
    return [...this.#by].map(([code, n]) => ({ code, message: WARNING_TEXT[code]([...n.items].slice(0, 20), n.rows), lines: n.lines }))
  }
}

/** As parseUsage, but any bad row throws 400 invalid_request listing them (message and `errors`). */
export function readUsage (body: unknown, format: UsageFormat, opts: ParseOptions): Omit<ParsedUsage, 'errors'> & { lines: Map<string, number> } {
  const { errors, ...parsed } = parseLines(body, format, opts)
  if (errors.length) throw badRows(errors)
  return parsed
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

function toRecord (raw: Raw, prices: PriceTable, seen: Map<string, number>, bounds: UsageBounds): Parsed {
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
  const n = requests ?? 1
  if (timestamp !== undefined) {
    const at = Date.parse(timestamp)
    if (at < bounds.earliest_ms) reasons.push(`timestamp ${timestamp} is before ${new Date(bounds.earliest_ms).toISOString().slice(0, 10)}, the earliest accepted (USAGE_EARLIEST)`)
    else if (at > bounds.latest_ms) reasons.push(`timestamp ${timestamp} is in the future (after ${new Date(bounds.latest_ms).toISOString()}, USAGE_MAX_AHEAD_S)`)
  }
  if (givenCost !== undefined && givenCost / n > bounds.max_cost_usd) {
    reasons.push(`cost_usd ${givenCost} is more than $${bounds.max_cost_usd} per request (USAGE_MAX_COST_USD)`)
  }
  for (const [field, v] of [['input_tokens', input], ['output_tokens', output]] as const) {
    if (v !== undefined && v / n > bounds.max_tokens) reasons.push(`${field} ${v} is more than ${bounds.max_tokens} per request (USAGE_MAX_TOKENS)`)
  }
  if (givenCost === undefined && model !== undefined && !findPrice(model, prices)) {
    reasons.push(`cost_usd is missing and model "${model}" is not in the price catalogue (version ${prices.version}, ${prices.as_of})`)
  }
  if (reasons.length) return { reasons }

  const provider = providerText!.toLowerCase().replace(/\s+/g, '-')
  // one name per model: the catalogue's when it knows the model (any case, prefix or dated snapshot of it), else tidied
  const name = canonicalModel(model!, prices) ?? tidyModelName(model!)
  const tokens = { input_tokens: input!, output_tokens: output!, ...(cached !== undefined && { cached_tokens: cached }) }
  const given = [timestamp, provider, model, input, output, cached, givenCost, latency, feature, promptHash, requests].map((v) => v ?? null)
  const record: UsageRecord = {
    timestamp: timestamp!,
    provider,
    model: name,
    ...tokens,
    cost_usd: givenCost ?? costOf(model!, { ...tokens, requests: n }, prices),
    ...(latency !== undefined && { latency_ms: latency }),
    ...(feature !== undefined && { feature }),
    request_id: requestId ?? rowId(given, seen),
    ...(promptHash !== undefined && { prompt_hash: promptHash }),
    ...(requests !== undefined && { requests })
  }
  return { record, renamed: name !== model, given: { model: model! } }
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
