import t from 'tap'
import { createStore } from '../../src/store/kysely-store.js'
import type { Store } from '../../src/store/types.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { DEFAULT_BOUNDS, MAX_REPORTED_ERRORS, parseTimestamp, parseUsage, readUsage, usageBounds } from '../../src/usage/parse.js'
import { databaseUrls, dropSchema, freshDatabaseUrl, requirePostgres } from '../helpers/db.js'

const ROW_ID = /^row-[0-9a-f]{32}$/
const opts = { maxRows: 1000 }
const HEADER = 'timestamp,provider,model,input_tokens,output_tokens,cached_tokens,cost_usd,latency_ms,feature,request_id,prompt_hash'

/** a record without its request_id, which the test checks on its own */
const withoutId = ({ request_id: _, ...rest }: UsageRecord) => rest

t.test('parseTimestamp: ISO-8601 in any zone, or epoch seconds or milliseconds, to toISOString', async (t) => {
  const noon = '2025-08-01T12:00:00.000Z'
  const cases: Array<[unknown, string | undefined]> = [
    ['2025-08-01T12:00:00Z', noon],
    ['2025-08-01T12:00:00.000Z', noon],
    ['2025-08-01t12:00:00z', noon],
    ['2025-08-01T12:00:00', noon],
    ['2025-08-01 12:00', noon],
    ['  2025-08-01T12:00:00Z ', noon],
    ['2025-08-01T14:00:00+02:00', noon],
    ['2025-08-01T07:30:00-0430', noon],
    ['2025-08-01T13:00:00+01', noon],
    ['2025-08-01T12:00:00.57Z', '2025-08-01T12:00:00.570Z'],
    ['2025-08-01T12:00:00,123456Z', '2025-08-01T12:00:00.123Z'],
    ['2025-08-01', '2025-08-01T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    [1754049600, noon],
    ['1754049600', noon],
    [1754049600000, noon],
    ['1754049600000', noon],
    [1754049600.5, '2025-08-01T12:00:00.500Z'],
    [0, '1970-01-01T00:00:00.000Z'],
    ['2025-02-29', undefined],
    ['2025-13-01', undefined],
    ['2025-08-01T24:00:00Z', undefined],
    ['2025-08-01T12:60:00Z', undefined],
    ['2025-08-01T12:00:00+25:00', undefined],
    ['1969-12-31T23:59:59Z', undefined],
    ['2025/08/01', undefined],
    ['12:00', undefined],
    ['yesterday', undefined],
    ['1e9', undefined],
    ['', undefined],
    [-1, undefined],
    [1e20, undefined],
    [Number.NaN, undefined],
    [null, undefined],
    [true, undefined]
  ]
  for (const [input, expected] of cases) t.equal(parseTimestamp(input), expected, JSON.stringify(input))
})

t.test('CSV: header row, quoted fields, CRLF, BOM, blank lines, extra columns, costs from the catalogue', async (t) => {
  const csv = '\uFEFF' + [
    `${HEADER},team`,
    '2025-08-01T09:30:00Z,openai,gpt-4o,1200,300,200,0.0051,812,support-chat,req-1,abc,x',
    '"2025-08-01T09:31:00Z","Anthropic","claude-sonnet-4","10000","500","2000",,"1530.5","summarise, long ""docs""",req-2,,"y"',
    '',
    '1754040720,google,gemini-2.5-flash,4000,600,,,,"two',
    'lines",,,z'
  ].join('\r\n') + '\r\n'
  const parsed = parseUsage(csv, 'csv', opts)
  t.strictSame(parsed.errors, [])
  t.equal(parsed.total_rows, 3)
  const [first, second, third] = parsed.records
  t.strictSame(first, {
    timestamp: '2025-08-01T09:30:00.000Z',
    provider: 'openai',
    model: 'gpt-4o',
    input_tokens: 1200,
    output_tokens: 300,
    cached_tokens: 200,
    cost_usd: 0.0051,
    latency_ms: 812,
    feature: 'support-chat',
    request_id: 'req-1',
    prompt_hash: 'abc'
  })
  t.strictSame(second, {
    timestamp: '2025-08-01T09:31:00.000Z',
    provider: 'anthropic',
    model: 'claude-sonnet-4',
    input_tokens: 10_000,
    output_tokens: 500,
    cached_tokens: 2000,
    // no cost_usd: (8,000 × $3 + 2,000 × $0.30 + 500 × $15) / 1e6
    cost_usd: 0.0321,
    latency_ms: 1530.5,
    feature: 'summarise, long "docs"',
    request_id: 'req-2'
  })
  t.strictSame(withoutId(third), {
    timestamp: '2025-08-01T09:32:00.000Z',
    provider: 'google',
    model: 'gemini-2.5-flash',
    input_tokens: 4000,
    output_tokens: 600,
    // (4,000 × $0.30 + 600 × $2.50) / 1e6
    cost_usd: 0.0027,
    feature: 'two\r\nlines'
  })
  t.match(third.request_id, ROW_ID)
  t.equal(parsed.records.length, 3)
})

t.test('NDJSON: one object per line, blank lines skipped, numbers as strings, snapshots priced', async (t) => {
  const ndjson = [
    '{"timestamp":"2025-08-01T11:30:00+02:00","provider":"openai","model":"gpt-4o-mini","input_tokens":1000,"output_tokens":100,"request_id":42}',
    '',
    '   ',
    '{"timestamp":1754041500000,"provider":"openai","model":"gpt-4o-2024-08-06","input_tokens":"2000","output_tokens":"10","requests":3,"extra":{"a":1},"feature":null}'
  ].join('\r\n')
  t.strictSame(parseUsage(ndjson, 'ndjson', opts), {
    records: [{
      timestamp: '2025-08-01T09:30:00.000Z',
      provider: 'openai',
      model: 'gpt-4o-mini',
      input_tokens: 1000,
      output_tokens: 100,
      // (1,000 × $0.15 + 100 × $0.60) / 1e6
      cost_usd: 0.00021,
      request_id: '42'
    }, {
      timestamp: '2025-08-01T09:45:00.000Z',
      provider: 'openai',
      model: 'gpt-4o',
      input_tokens: 2000,
      output_tokens: 10,
      // gpt-4o's price: (2,000 × $2.50 + 10 × $10) / 1e6
      cost_usd: 0.0051,
      request_id: parseUsage(ndjson, 'ndjson', opts).records[1]?.request_id,
      requests: 3
    }],
    errors: [],
    warnings: [{ code: 'model_renamed', message: '1 row names its model another way than the price catalogue; stored as: gpt-4o-2024-08-06 → gpt-4o', lines: [4] }],
    total_rows: 2
  })
  t.match(parseUsage(ndjson, 'ndjson', opts).records[1].request_id, ROW_ID)
})

t.test('JSON array: a model outside the catalogue is fine when the row has its cost', async (t) => {
  const rows = [
    { timestamp: '2025-08-01', provider: 'self-hosted', model: 'llama-3-70b', input_tokens: 500, output_tokens: 50, cost_usd: 0, feature: null, request_id: 'a' },
    { timestamp: 1754006400, provider: 'openai', model: 'gpt-4.1', input_tokens: 0, output_tokens: 0, cost_usd: '0.5', latency_ms: '120', prompt_hash: 'p', request_id: 'b' }
  ]
  t.strictSame(parseUsage(rows, 'json', opts), {
    records: [
      { timestamp: '2025-08-01T00:00:00.000Z', provider: 'self-hosted', model: 'llama-3-70b', input_tokens: 500, output_tokens: 50, cost_usd: 0, request_id: 'a' },
      { timestamp: '2025-08-01T00:00:00.000Z', provider: 'openai', model: 'gpt-4.1', input_tokens: 0, output_tokens: 0, cost_usd: 0.5, latency_ms: 120, prompt_hash: 'p', request_id: 'b' }
    ],
    errors: [],
    warnings: [{ code: 'unpriced_model', message: '1 row is on models the price catalogue does not list (llama-3-70b): its spend is reported, but no saving can be priced for them'.replace('its spend', 'their spend'), lines: [1] }],
    total_rows: 2
  })
  t.strictSame(parseUsage([], 'json', opts), { records: [], errors: [], warnings: [], total_rows: 0 })
})

t.test('bad rows are reported by line with every reason, and no record is returned', async (t) => {
  const csv = [
    'timestamp,provider,model,input_tokens,output_tokens,cached_tokens,cost_usd',
    '2025-08-01T09:00:00Z,openai,gpt-4o,100,10,,',
    '2025-08-01T10:00:00Z,openai,gpt-4o,-5,10,,',
    '"a quoted',
    'timestamp",openai,gpt-4o,1,1,,',
    '2025-13-01,openai,gpt-4o,1.5,x,,',
    '2025-08-01,,mystery-model,10,1,20,',
    '2025-08-01,openai,gpt-4o,1,1',
    '2025-08-01,openai,gpt-4o,1,1,,-0.5',
    '2025-08-01,openai,gpt-4o,9007199254740993,1,,'
  ].join('\n')
  const TS = 'timestamp must be ISO-8601 (e.g. 2025-08-01T12:00:00Z) or epoch seconds or milliseconds'
  const errors = [
    { line: 3, reason: 'input_tokens must be a non-negative integer' },
    { line: 4, reason: TS },
    { line: 6, reason: `${TS}; input_tokens must be a non-negative integer; output_tokens must be a non-negative integer` },
    { line: 7, reason: 'provider is required; cached_tokens must not exceed input_tokens; cost_usd is missing and model "mystery-model" is not in the price catalogue (version 3, 2026-11-30)' },
    { line: 8, reason: 'expected 7 fields as in the header, found 5' },
    { line: 9, reason: 'cost_usd must be a non-negative number' },
    { line: 10, reason: 'input_tokens must be a non-negative integer' }
  ]
  t.strictSame(parseUsage(csv, 'csv', opts), { records: [], errors, warnings: [], total_rows: 8 })

  const err = t.throws(() => readUsage(csv, 'csv', opts)) as Error & Record<string, unknown>
  t.equal(err.statusCode, 400)
  t.equal(err.code, 'invalid_request')
  t.equal(err.message, '7 bad rows, nothing imported: line 3: input_tokens must be a non-negative integer; ' +
    `line 4: ${TS}; line 6: ${TS}; input_tokens must be a non-negative integer; output_tokens must be a non-negative integer; ` +
    'line 7: provider is required; cached_tokens must not exceed input_tokens; cost_usd is missing and model "mystery-model" is not in the price catalogue (version 3, 2026-11-30); ' +
    'line 8: expected 7 fields as in the header, found 5; and 2 more')
  t.strictSame(err.errors, errors)

  const one = t.throws(() => readUsage('timestamp,provider,model,input_tokens,output_tokens\n2025-08-01,openai,gpt-4o,1,\n', 'csv', opts)) as Error & Record<string, unknown>
  t.equal(one.message, '1 bad row, nothing imported: line 2: output_tokens is required')
  t.strictSame(one.errors, [{ line: 2, reason: 'output_tokens is required' }])
})

t.test('NDJSON and JSON bad rows: line in the file, index + 1 in an array', async (t) => {
  const good = '{"timestamp":"2025-08-01","provider":"openai","model":"gpt-4o","input_tokens":1,"output_tokens":1}'
  const ndjson = [good, '', '{"timestamp":"2025-08-01",', '[1,2]', 'null', `${good.slice(0, -1)},"latency_ms":-3,"requests":0,"feature":7}`].join('\n')
  t.strictSame(parseUsage(ndjson, 'ndjson', opts).errors, [
    { line: 3, reason: 'not valid JSON' },
    { line: 4, reason: 'expected a JSON object' },
    { line: 5, reason: 'expected a JSON object' },
    { line: 6, reason: 'latency_ms must be a non-negative number; feature must be a string of at most 128 characters; requests must be a positive integer' }
  ])
  const row = JSON.parse(good)
  t.strictSame(parseUsage([row, 'row', { ...row, model: 'x'.repeat(129) }, { ...row, request_id: { id: 1 } }, row], 'json', opts), {
    records: [],
    errors: [
      { line: 2, reason: 'expected a JSON object' },
      { line: 3, reason: 'model must be a string of at most 128 characters' },
      { line: 4, reason: 'request_id must be a string of at most 256 characters' }
    ],
    warnings: [],
    total_rows: 5
  })
  t.throws(() => parseUsage({ records: [row] }, 'json', opts), { statusCode: 400, code: 'invalid_request', message: 'a JSON body must be an array of usage records' })
})

t.test('a bad CSV header or malformed quoting refuses the file at its line', async (t) => {
  const parse = (csv: string) => parseUsage(csv, 'csv', opts)
  t.strictSame(parse(''), { records: [], errors: [{ line: 1, reason: 'missing header row' }], warnings: [], total_rows: 0 })
  t.strictSame(parse('\n\n'), { records: [], errors: [{ line: 1, reason: 'missing header row' }], warnings: [], total_rows: 0 })
  t.strictSame(parse('timestamp,provider,model\n2025-08-01,openai,gpt-4o\n').errors, [{ line: 1, reason: 'missing columns: input_tokens, output_tokens' }])
  t.strictSame(parse('\nTimestamp , Provider,model,input_tokens\n').errors, [{ line: 2, reason: 'missing column: output_tokens' }])
  t.strictSame(parse('timestamp,provider,model,input_tokens,output_tokens,model\n').errors, [{ line: 1, reason: 'column "model" appears twice' }])
  t.strictSame(parse(`${HEADER}\n2025-08-01,openai,gpt-4o,1,1,,,,,,\n"2025-08-01,openai,gpt-4o,1,1,,,,,,\n`).errors,
    [{ line: 3, reason: 'malformed CSV: Quote Not Closed: the parsing is finished with an opening quote at line 3' }])
  // a header alone is an empty upload
  t.strictSame(parse(`${HEADER}\n`), { records: [], errors: [], warnings: [], total_rows: 0 })
})

t.test('bad data is refused by line: costs, tokens and timestamps out of bounds, one request_id with two contents', async (t) => {
  const now = Date.parse('2026-11-30T12:00:00Z')
  const bounded = { maxRows: 100, bounds: usageBounds(DEFAULT_BOUNDS, now) }
  const row = (x: Record<string, unknown>) => ({ timestamp: '2026-11-01T10:00:00Z', provider: 'openai', model: 'gpt-4o', input_tokens: 100, output_tokens: 10, cost_usd: 0.01, ...x })
  const { errors } = parseUsage([
    row({ request_id: 'ok' }),
    row({ request_id: 'inf', cost_usd: 1e308 }),
    row({ request_id: 'big', cost_usd: 5000, requests: 2 }),
    row({ request_id: 'agg', cost_usd: 5000, requests: 10 }),
    row({ request_id: 'far', timestamp: '9999-01-01T00:00:00Z' }),
    row({ request_id: 'y2200', timestamp: '2200-01-01T00:00:00Z' }),
    row({ request_id: 'old', timestamp: '2019-12-31T23:59:59Z' }),
    row({ request_id: 'tok', input_tokens: 20_000_000 }),
    row({ request_id: 'ok', cost_usd: 0.02 }),
    row({ request_id: 'ok2' }),
    row({ request_id: 'ok2' })
  ], 'json', bounded)
  t.strictSame(errors, [
    { line: 2, reason: 'cost_usd 1e+308 is more than $1000 per request (USAGE_MAX_COST_USD)' },
    { line: 3, reason: 'cost_usd 5000 is more than $1000 per request (USAGE_MAX_COST_USD)' },
    { line: 5, reason: 'timestamp 9999-01-01T00:00:00.000Z is in the future (after 2026-12-01T12:00:00.000Z, USAGE_MAX_AHEAD_S)' },
    { line: 6, reason: 'timestamp 2200-01-01T00:00:00.000Z is in the future (after 2026-12-01T12:00:00.000Z, USAGE_MAX_AHEAD_S)' },
    { line: 7, reason: 'timestamp 2019-12-31T23:59:59.000Z is before 2020-01-01, the earliest accepted (USAGE_EARLIEST)' },
    { line: 8, reason: 'input_tokens 20000000 is more than 10000000 per request (USAGE_MAX_TOKENS)' },
    { line: 9, reason: 'request_id ok is also on line 1, with different content' }
  ], 'an aggregate of ten requests may cost $5000; an exact repeat is no error')
})

t.test('names are normalised and the upload says what it changed, repeated or could not price', async (t) => {
  const bounded = { maxRows: 100, bounds: usageBounds(DEFAULT_BOUNDS, Date.parse('2026-11-30T12:00:00Z')) }
  const row = (x: Record<string, unknown>) => ({ timestamp: '2026-11-01T10:00:00Z', provider: 'openai', model: 'gpt-4o', input_tokens: 100, output_tokens: 10, cost_usd: 0.01, ...x })
  const parsed = parseUsage([
    row({ request_id: 'a', model: 'GPT-4O' }),
    row({ request_id: 'b', model: 'openai/gpt-4.1-2025-04-14', provider: 'OpenAI' }),
    row({ request_id: 'c', model: 'claude-sonnet-4', provider: 'openai' }),
    row({ request_id: 'd', model: 'claude-sonnet-4', provider: 'AWS Bedrock' }),
    row({ request_id: 'e', model: 'my-finetune' }),
    row({ request_id: 'a', model: 'GPT-4O' })
  ], 'json', bounded)
  t.strictSame(parsed.errors, [])
  t.strictSame(parsed.records.map((r) => [r.request_id, r.provider, r.model]), [
    ['a', 'openai', 'gpt-4o'], ['b', 'openai', 'gpt-4.1'], ['c', 'openai', 'claude-sonnet-4'], ['d', 'aws-bedrock', 'claude-sonnet-4'], ['e', 'openai', 'my-finetune']
  ], 'one name per model: GPT-4O is gpt-4o; a repeated row counts once')
  t.strictSame(parsed.warnings, [
    { code: 'model_renamed', message: '2 rows name their model another way than the price catalogue; stored as: GPT-4O → gpt-4o, openai/gpt-4.1-2025-04-14 → gpt-4.1', lines: [1, 2] },
    { code: 'provider_mismatch', message: '1 row\'s provider does not match the model\'s maker: claude-sonnet-4 is anthropic\'s, the row says openai', lines: [3] },
    { code: 'unpriced_model', message: '1 row is on models the price catalogue does not list (my-finetune): their spend is reported, but no saving can be priced for them', lines: [5] },
    { code: 'duplicate_row', message: '1 row repeats an earlier row exactly and was counted once: request_id a repeats line 1', lines: [6] }
  ])
})

t.test('more rows than the limit: 413, before any row is read', async (t) => {
  const row = '2025-08-01,openai,gpt-4o,1,1,,,,,,'
  const csv = [HEADER, row, '', row, row].join('\n')
  t.equal(parseUsage(csv, 'csv', { maxRows: 3 }).records.length, 3)
  t.throws(() => parseUsage(csv, 'csv', { maxRows: 2 }),
    { statusCode: 413, code: 'payload_too_large', message: 'too many rows: 3, at most 2 per upload; split the file' })
  t.throws(() => parseUsage('{}\n{}\n\n{}\n', 'ndjson', { maxRows: 2 }), { statusCode: 413, message: 'too many rows: 3, at most 2 per upload; split the file' })
  t.throws(() => parseUsage([{}, {}, {}], 'json', { maxRows: 2 }), { statusCode: 413, message: 'too many rows: 3, at most 2 per upload; split the file' })
})

t.test('rows without request_id get a stable id from their fields; equal rows stay distinct', async (t) => {
  const row = '2025-08-01T09:00:00Z,openai,gpt-4o,100,10,,,,chat,,'
  const csv = [HEADER, row, row, '2025-08-01T09:00:00Z,openai,gpt-4o,100,11,,,,chat,,'].join('\n')
  const ids = parseUsage(csv, 'csv', opts).records.map((r) => r.request_id)
  t.ok(ids.every((id) => ROW_ID.test(id)))
  t.equal(new Set(ids).size, 3, 'two equal rows are two requests')
  t.strictSame(parseUsage(csv, 'csv', opts).records.map((r) => r.request_id), ids, 'the same file gives the same ids')
  // the same rows as NDJSON: the id depends on the values, not on the format
  const ndjson = parseUsage(['{"timestamp":"2025-08-01T11:00:00+02:00","provider":"OpenAI","model":"gpt-4o","input_tokens":100,"output_tokens":10,"feature":"chat"}'].join('\n'), 'ndjson', opts)
  t.equal(ndjson.records[0].request_id, ids[0])
})

requirePostgres(t)

async function open (t: { teardown: (fn: () => unknown) => void }, base: string): Promise<Store> {
  const url = freshDatabaseUrl(base)
  const store = await createStore(url)
  t.teardown(async () => {
    await store.close()
    await dropSchema(url)
  })
  return store
}

const record = (i: number, extra: Partial<UsageRecord> = {}): UsageRecord => ({
  timestamp: new Date(Date.UTC(2025, 7, 1, 9, i)).toISOString(),
  provider: 'openai',
  model: 'gpt-4o',
  input_tokens: 1000 * i,
  output_tokens: 10 * i,
  cost_usd: 0.01 * i,
  request_id: `req-${i}`,
  ...extra
})

for (const base of databaseUrls()) {
  const dialect = base.startsWith('sqlite:') ? 'sqlite' : 'postgres'

  t.test(`${dialect}: importUsage counts re-sent request_ids as duplicates, and listUsage returns records as imported`, async (t) => {
    const store = await open(t, base)
    const full: UsageRecord = {
      timestamp: '2025-08-01T09:30:00.000Z',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      input_tokens: 5_000_000_000,
      output_tokens: 20_000_000,
      cached_tokens: 3_000_000_000,
      cost_usd: 21_600.5,
      latency_ms: 1530.5,
      feature: 'support-chat',
      request_id: 'hourly-1',
      prompt_hash: 'abc',
      requests: 250_000
    }
    const batch = [record(3), full, record(1), record(2)]
    t.strictSame(await store.importUsage('alice', batch), { inserted: 4, duplicates: 0 })
    t.strictSame(await store.listUsage('alice'), [record(1), record(2), record(3), full], 'oldest first, optional fields as given')
    t.strictSame(await store.importUsage('alice', batch), { inserted: 0, duplicates: 4 })
    t.strictSame(await store.importUsage('alice', [record(2), record(4), record(4, { cost_usd: 99 })]), { inserted: 1, duplicates: 2 },
      'a request_id repeated within one import is a duplicate too; the first one wins')
    t.strictSame(await store.listUsage('alice'), [record(1), record(2), record(3), record(4), full])
    t.strictSame(await store.importUsage('alice', []), { inserted: 0, duplicates: 0 })
  })

  t.test(`${dialect}: listUsage and usageTotals take a range, from ≤ timestamp < to`, async (t) => {
    const store = await open(t, base)
    await store.importUsage('alice', [1, 2, 3, 4].map((i) => record(i)))
    const at = (i: number) => record(i).timestamp
    t.strictSame(await store.listUsage('alice', { from: at(2), to: at(4) }), [record(2), record(3)])
    t.strictSame(await store.listUsage('alice', { from: at(3) }), [record(3), record(4)])
    t.strictSame(await store.listUsage('alice', { to: at(2) }), [record(1)])
    t.strictSame(await store.listUsage('alice', { from: at(4), to: at(1) }), [])
    t.strictSame((await store.usageTotals('alice', { from: at(2), to: at(4) })).records, 2)
  })

  t.test(`${dialect}: usageTotals sums per provider and per model, largest cost first`, async (t) => {
    const store = await open(t, base)
    await store.importUsage('alice', [
      record(1),
      record(2, { model: 'gpt-4o-mini', cached_tokens: 500, requests: 4 }),
      record(3, { provider: 'anthropic', model: 'claude-opus-4', cost_usd: 0.5 }),
      record(4, { model: 'gpt-4o-mini' })
    ])
    await store.importUsage('bob', [record(9, { cost_usd: 1000 })])
    // sums of binary fractions: compared to a billionth of a dollar
    const round = <G extends { cost_usd: number }>(g: G) => ({ ...g, cost_usd: Math.round(g.cost_usd * 1e9) / 1e9 })
    const { by_provider: byProvider, by_model: byModel, ...totals } = await store.usageTotals('alice')
    t.strictSame(round(totals), {
      records: 4,
      requests: 7,
      input_tokens: 10_000,
      output_tokens: 100,
      cached_tokens: 500,
      cost_usd: 0.57,
      from: record(1).timestamp,
      to: record(4).timestamp
    })
    t.strictSame(byProvider.map(round), [
      { provider: 'anthropic', records: 1, requests: 1, input_tokens: 3000, output_tokens: 30, cached_tokens: 0, cost_usd: 0.5 },
      { provider: 'openai', records: 3, requests: 6, input_tokens: 7000, output_tokens: 70, cached_tokens: 500, cost_usd: 0.07 }
    ])
    t.strictSame(byModel.map(round), [
      { provider: 'anthropic', model: 'claude-opus-4', records: 1, requests: 1, input_tokens: 3000, output_tokens: 30, cached_tokens: 0, cost_usd: 0.5 },
      { provider: 'openai', model: 'gpt-4o-mini', records: 2, requests: 5, input_tokens: 6000, output_tokens: 60, cached_tokens: 500, cost_usd: 0.06 },
      { provider: 'openai', model: 'gpt-4o', records: 1, requests: 1, input_tokens: 1000, output_tokens: 10, cached_tokens: 0, cost_usd: 0.01 }
    ])
    t.strictSame(await store.usageTotals('carol'), {
      records: 0, requests: 0, input_tokens: 0, output_tokens: 0, cached_tokens: 0, cost_usd: 0, from: null, to: null, by_provider: [], by_model: []
    })
  })

  t.test(`${dialect}: one user's usage is invisible to another, even with the same request_ids`, async (t) => {
    const store = await open(t, base)
    t.strictSame(await store.importUsage('alice', [record(1), record(2)]), { inserted: 2, duplicates: 0 })
    t.strictSame(await store.importUsage('bob', [record(2, { cost_usd: 7 }), record(3)]), { inserted: 2, duplicates: 0 })
    t.strictSame(await store.listUsage('alice'), [record(1), record(2)])
    t.strictSame(await store.listUsage('bob'), [record(2, { cost_usd: 7 }), record(3)])
    t.strictSame(await store.listUsage('carol'), [])
    t.equal(await store.deleteUsage('bob'), 2)
    t.equal(await store.deleteUsage('bob'), 0)
    t.strictSame(await store.listUsage('alice'), [record(1), record(2)], "bob's delete left alice's records")
  })

  t.test(`${dialect}: an import that fails part-way leaves nothing behind`, async (t) => {
    const store = await open(t, base)
    await store.importUsage('alice', [record(1)])
    // more than one insert statement, and the last one fails on a NOT NULL column
    const batch = Array.from({ length: 2500 }, (_, i) => record(i + 2))
    batch[2400] = { ...batch[2400], model: null as unknown as string }
    await t.rejects(store.importUsage('alice', batch))
    t.strictSame(await store.listUsage('alice'), [record(1)])
    await t.rejects(store.importUsage('alice', batch, { replace: true }))
    t.strictSame(await store.listUsage('alice'), [record(1)], 'the replace was rolled back too')
  })

  t.test(`${dialect}: replace swaps a user's records in one step`, async (t) => {
    const store = await open(t, base)
    await store.importUsage('alice', [record(1), record(2)])
    await store.importUsage('bob', [record(1)])
    t.strictSame(await store.importUsage('alice', [record(2, { cost_usd: 5 }), record(3)], { replace: true }), { inserted: 2, duplicates: 0 })
    t.strictSame(await store.listUsage('alice'), [record(2, { cost_usd: 5 }), record(3)])
    t.strictSame(await store.listUsage('bob'), [record(1)])
  })

  t.test(`${dialect}: a parsed upload sent twice is counted once`, async (t) => {
    const store = await open(t, base)
    const csv = [HEADER, '2025-08-01T09:00:00Z,openai,gpt-4o,100,10,,,,chat,,', '2025-08-01T09:00:00Z,openai,gpt-4o,100,10,,,,chat,,',
      '2025-08-01T09:01:00Z,anthropic,claude-sonnet-4,100,10,,,,chat,r-1,'].join('\n')
    const { records } = readUsage(csv, 'csv', opts)
    t.strictSame(await store.importUsage('alice', records), { inserted: 3, duplicates: 0 })
    t.strictSame(await store.importUsage('alice', readUsage(csv, 'csv', opts).records), { inserted: 0, duplicates: 3 })
    const byTime = (a: UsageRecord, b: UsageRecord) => a.timestamp.localeCompare(b.timestamp) || (a.request_id < b.request_id ? -1 : 1)
    t.strictSame(await store.listUsage('alice'), [...records].sort(byTime), 'ties in time are ordered by request_id')
  })
}

t.test('at most MAX_REPORTED_ERRORS bad rows are listed; the message counts them all', async (t) => {
  const rows = Array.from({ length: MAX_REPORTED_ERRORS + 5 }, () => ({}))
  const err = t.throws(() => readUsage(rows, 'json', { maxRows: 1000 })) as Error & { errors: unknown[] }
  t.equal(err.errors.length, MAX_REPORTED_ERRORS)
  t.match(err.message, /^105 bad rows, nothing imported: line 1: timestamp is required; provider is required; model is required; input_tokens is required; output_tokens is required; line 2: .*; and 100 more$/)
})
