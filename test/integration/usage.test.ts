import t from 'tap'
import type { App } from '../../src/app.js'
import { roundCents } from '../../src/tools/money.js'
import { sampleRecords } from '../../src/usage/sample.js'
import { auth, build } from '../helpers/app.js'
import { databaseUrls, requirePostgres } from '../helpers/db.js'

const CSV = [
  'timestamp,provider,model,input_tokens,output_tokens,cached_tokens,cost_usd,feature,request_id',
  '2025-08-01T09:00:00Z,openai,gpt-4o,1000,100,,1.234,chat,a-1',
  // no cost, a prompt over 200k tokens at Sonnet 4's long-context rates: (800,000 × $6 + 200,000 × $0.60 + 50,000 × $22.50) / 1e6 = $6.045
  '2025-08-01T10:00:00+01:00,Anthropic,claude-sonnet-4,1000000,50000,200000,,summarise,a-2',
  // no cost, no request_id: (2,000,000 × $0.15 + 100,000 × $0.60) / 1e6 = $0.36
  '1754132400,openai,gpt-4o-mini-2024-07-18,2000000,100000,,,"classify, ""fast""",'
].join('\r\n')

/** The same three rows as NDJSON and as a JSON array. */
const ROWS = [
  { timestamp: '2025-08-01T09:00:00.000Z', provider: 'openai', model: 'gpt-4o', input_tokens: 1000, output_tokens: 100, cost_usd: 1.234, feature: 'chat', request_id: 'a-1' },
  { timestamp: '2025-08-01T09:00:00Z', provider: 'anthropic', model: 'claude-sonnet-4', input_tokens: 1_000_000, output_tokens: 50_000, cached_tokens: 200_000, feature: 'summarise', request_id: 'a-2' },
  { timestamp: 1754132400000, provider: 'openai', model: 'gpt-4o-mini-2024-07-18', input_tokens: 2_000_000, output_tokens: 100_000, feature: 'classify, "fast"' }
]
const NDJSON = ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n'

const SUMMARY = {
  records: 3,
  requests: 3,
  from: '2025-08-01T09:00:00.000Z',
  to: '2025-08-02T11:00:00.000Z',
  // 1.234 + 6.045 + 0.36, rounded once
  total_cost_usd: 7.64,
  input_tokens: 3_001_000,
  output_tokens: 150_100,
  cached_tokens: 200_000,
  by_provider: [
    { provider: 'anthropic', records: 1, requests: 1, input_tokens: 1_000_000, output_tokens: 50_000, cached_tokens: 200_000, cost_usd: 6.05 },
    { provider: 'openai', records: 2, requests: 2, input_tokens: 2_001_000, output_tokens: 100_100, cached_tokens: 0, cost_usd: 1.59 }
  ],
  by_model: [
    { model: 'claude-sonnet-4', provider: 'anthropic', records: 1, requests: 1, input_tokens: 1_000_000, output_tokens: 50_000, cached_tokens: 200_000, cost_usd: 6.05 },
    { model: 'gpt-4o', provider: 'openai', records: 1, requests: 1, input_tokens: 1000, output_tokens: 100, cached_tokens: 0, cost_usd: 1.23 },
    { model: 'gpt-4o-mini', provider: 'openai', records: 1, requests: 1, input_tokens: 2_000_000, output_tokens: 100_000, cached_tokens: 0, cost_usd: 0.36 }
  ]
}

const EMPTY = {
  records: 0, requests: 0, from: null, to: null, total_cost_usd: 0, input_tokens: 0, output_tokens: 0, cached_tokens: 0, by_provider: [], by_model: []
}

/** the dated snapshot is stored under the catalogue's name, and the answer says so at its line */
const renamed = (line: number) => [{ code: 'model_renamed', message: '1 row names its model another way than the price catalogue; stored as: gpt-4o-mini-2024-07-18 → gpt-4o-mini', lines: [line] }]

const TYPES = { csv: 'text/csv', ndjson: 'application/x-ndjson', json: 'application/json' }

async function upload (app: App, user: string, type: string, payload: string | unknown[]) {
  const res = await app.inject({ method: 'POST', url: '/usage', headers: { ...auth(user), 'content-type': type }, payload: payload as string })
  return { status: res.statusCode, body: res.json() }
}

async function summary (app: App, user: string, query = '') {
  const res = await app.inject({ method: 'GET', url: `/usage/summary${query}`, headers: auth(user) })
  return { status: res.statusCode, body: res.json() }
}

requirePostgres(t)

for (const base of databaseUrls()) {
  const dialect = base.startsWith('sqlite:') ? 'sqlite' : 'postgres'

  t.test(dialect, async (t) => {
    t.test('CSV, NDJSON and JSON import the same records; a re-sent file adds nothing', async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      t.strictSame(await upload(app, 'alice', TYPES.csv, CSV), { status: 200, body: { inserted: 3, duplicates: 0, total_rows: 3, warnings: renamed(4) } })
      t.strictSame(await summary(app, 'alice'), { status: 200, body: SUMMARY })
      t.strictSame(await upload(app, 'alice', `${TYPES.csv}; charset=utf-8`, CSV), { status: 200, body: { inserted: 0, duplicates: 3, total_rows: 3, warnings: renamed(4) } })
      t.strictSame(await upload(app, 'alice', TYPES.ndjson, NDJSON), { status: 200, body: { inserted: 0, duplicates: 3, total_rows: 3, warnings: renamed(3) } },
        'the same rows in another format are the same records')
      t.strictSame(await summary(app, 'alice'), { status: 200, body: SUMMARY }, 'totals unchanged')

      t.strictSame(await upload(app, 'bob', TYPES.ndjson, NDJSON), { status: 200, body: { inserted: 3, duplicates: 0, total_rows: 3, warnings: renamed(3) } })
      t.strictSame(await summary(app, 'bob'), { status: 200, body: SUMMARY })
      t.strictSame(await upload(app, 'carol', TYPES.json, ROWS), { status: 200, body: { inserted: 3, duplicates: 0, total_rows: 3, warnings: renamed(3) } })
      t.strictSame(await upload(app, 'carol', TYPES.json, ROWS), { status: 200, body: { inserted: 0, duplicates: 3, total_rows: 3, warnings: renamed(3) } })
      t.strictSame(await summary(app, 'carol'), { status: 200, body: SUMMARY })
      t.strictSame(await app.store.listUsage('carol'), await app.store.listUsage('alice'))
    })

    t.test('one bad row refuses the whole file: 400 with every bad line, nothing imported', async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      const bad = CSV.replace('1000000,50000,200000', '1000000,-50000,2000000').replace('chat,a-1', 'chat,a-1\r\n2025-08-01,openai,gpt-9,1,1,,,,')
      t.strictSame(await upload(app, 'alice', TYPES.csv, bad), {
        status: 400,
        body: {
          statusCode: 400,
          code: 'invalid_request',
          error: 'Bad Request',
          message: '2 bad rows, nothing imported: line 3: cost_usd is missing and model "gpt-9" is not in the price catalogue (version 3, 2026-11-30); ' +
            'line 4: output_tokens must be a non-negative integer; cached_tokens must not exceed input_tokens',
          errors: [
            { line: 3, reason: 'cost_usd is missing and model "gpt-9" is not in the price catalogue (version 3, 2026-11-30)' },
            { line: 4, reason: 'output_tokens must be a non-negative integer; cached_tokens must not exceed input_tokens' }
          ]
        }
      })
      t.strictSame(await summary(app, 'alice'), { status: 200, body: EMPTY }, 'the good rows were not imported either')
      t.strictSame(await upload(app, 'alice', TYPES.json, [ROWS[0], 7]), {
        status: 400,
        body: { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: '1 bad row, nothing imported: line 2: expected a JSON object', errors: [{ line: 2, reason: 'expected a JSON object' }] }
      })
      t.strictSame(await upload(app, 'alice', TYPES.json, { rows: ROWS } as unknown as unknown[]), {
        status: 400, body: { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'a JSON body must be an array of usage records' }
      })
      t.strictSame(await upload(app, 'alice', 'text/plain', CSV), {
        status: 400, body: { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'content-type must be one of text/csv, application/x-ndjson, application/json' }
      })
      const xml = await upload(app, 'alice', 'application/xml', '<usage/>')
      t.strictSame([xml.status, xml.body.code, xml.body.message], [400, 'invalid_request', 'Unsupported Media Type'])
      t.strictSame(await summary(app, 'alice'), { status: 200, body: EMPTY })
    })

    t.test('size limits: 413 over USAGE_MAX_BYTES or USAGE_MAX_ROWS', async (t) => {
      const app = await build(t, { DATABASE_URL: base, USAGE_MAX_BYTES: '1024', USAGE_MAX_ROWS: '3' })
      const tooBig = { statusCode: 413, code: 'payload_too_large', error: 'Payload Too Large', message: 'the upload is larger than 1024 bytes; split it into smaller files' }
      t.strictSame(await upload(app, 'alice', TYPES.csv, CSV + '\r\n'.repeat(1024)), { status: 413, body: tooBig })
      t.strictSame(await upload(app, 'alice', TYPES.json, [...ROWS, ...ROWS, ...ROWS]), { status: 413, body: tooBig })
      t.strictSame(await upload(app, 'alice', TYPES.ndjson, NDJSON + NDJSON.split('\n')[0]), {
        status: 413, body: { statusCode: 413, code: 'payload_too_large', error: 'Payload Too Large', message: 'too many rows: 4, at most 3 per upload; split the file' }
      })
      t.strictSame(await summary(app, 'alice'), { status: 200, body: EMPTY })
      t.strictSame(await upload(app, 'alice', TYPES.csv, CSV), { status: 200, body: { inserted: 3, duplicates: 0, total_rows: 3, warnings: renamed(4) } }, 'at the limits is fine')
    })

    t.test('the usage limit, not the general body limit, applies to uploads; CSV is accepted only there', async (t) => {
      const app = await build(t, { DATABASE_URL: base, BODY_LIMIT_BYTES: '1024' })
      const rows = Array.from({ length: 300 }, (_, i) => `2025-08-01T09:00:00Z,openai,gpt-4o,${i},1,,,,r-${i}`)
      const csv = [CSV.split('\r\n')[0], ...rows].join('\n')
      t.ok(csv.length > 1024)
      t.strictSame(await upload(app, 'alice', TYPES.csv, csv), { status: 200, body: { inserted: 300, duplicates: 0, total_rows: 300, warnings: [] } })
      for (const type of [TYPES.csv, TYPES.ndjson]) {
        const message = await app.inject({ method: 'POST', url: '/messages', headers: { ...auth('alice'), 'content-type': type }, payload: 'content' })
        t.strictSame([message.statusCode, message.json().message], [400, 'Unsupported Media Type'], `${type} is parsed only by the usage routes`)
      }
    })

    t.test("a user's usage never appears in another user's summary; DELETE clears only the caller's", async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      await upload(app, 'alice', TYPES.csv, CSV)
      t.strictSame((await app.inject({ method: 'POST', url: '/usage/sample', headers: auth('bob'), payload: { profile: 'team' } })).json(), { profile: 'team', inserted: 8535 })
      const team = sampleRecords('team')
      const bob = (await summary(app, 'bob')).body
      t.equal(bob.records, 8535)
      t.equal(bob.total_cost_usd, roundCents(team.reduce((s, r) => s + r.cost_usd, 0)))
      t.notOk(bob.by_model.some((m: { model: string }) => m.model === 'gpt-4o' || m.model.startsWith('gpt-4o-mini')), "none of alice's models")
      t.strictSame(await summary(app, 'alice'), { status: 200, body: SUMMARY }, "none of bob's records")
      t.strictSame(await summary(app, 'carol'), { status: 200, body: EMPTY })

      t.strictSame((await app.inject({ method: 'DELETE', url: '/usage', headers: auth('bob') })).json(), { deleted: 8535 })
      t.strictSame(await summary(app, 'bob'), { status: 200, body: EMPTY })
      t.strictSame(await summary(app, 'alice'), { status: 200, body: SUMMARY })
      t.strictSame((await app.inject({ method: 'DELETE', url: '/usage', headers: auth('alice') })).json(), { deleted: 3 })
      t.strictSame((await app.inject({ method: 'DELETE', url: '/usage', headers: auth('alice') })).json(), { deleted: 0 })
      t.strictSame(await summary(app, 'alice'), { status: 200, body: EMPTY })
    })

    t.test('the summary takes a time range: from ≤ timestamp < to', async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      await upload(app, 'alice', TYPES.csv, CSV)
      const mini = SUMMARY.by_model[2]
      const { model: _, ...byProvider } = mini
      t.strictSame(await summary(app, 'alice', '?from=2025-08-02'), {
        status: 200,
        body: {
          ...EMPTY,
          records: 1,
          requests: 1,
          from: '2025-08-02T11:00:00.000Z',
          to: '2025-08-02T11:00:00.000Z',
          total_cost_usd: 0.36,
          input_tokens: 2_000_000,
          output_tokens: 100_000,
          by_provider: [byProvider],
          by_model: [mini]
        }
      })
      t.equal((await summary(app, 'alice', '?from=2025-08-01T09:00:00Z&to=2025-08-01T09:00:00.001Z')).body.records, 2)
      t.equal((await summary(app, 'alice', '?to=1754006400')).body.records, 0)
      t.strictSame(await summary(app, 'alice', '?from=last%20week'), {
        status: 400, body: { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'querystring/from must be ISO-8601 or epoch seconds or milliseconds' }
      })
    })

    t.test('POST /usage/sample replaces the data with a deterministic profile, enterprise by default', async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      await upload(app, 'alice', TYPES.csv, CSV)
      const sample = async (payload?: unknown) => {
        const res = await app.inject({ method: 'POST', url: '/usage/sample', headers: auth('alice'), ...(payload !== undefined && { payload: payload as object }) })
        return { status: res.statusCode, body: res.json() }
      }
      t.strictSame(await sample(), { status: 200, body: { profile: 'enterprise', inserted: 6000 } })
      const first = await summary(app, 'alice')
      const records = await app.store.listUsage('alice')
      t.strictSame(records, sampleRecords('enterprise'), 'exactly the sample, nothing of the upload left')
      t.equal(first.body.records, 6000)
      t.equal(first.body.requests, 2_908_429)
      t.equal(first.body.total_cost_usd, 45_220.87)
      t.strictSame([first.body.from, first.body.to], ['2025-08-02T00:07:29.000Z', '2025-08-31T23:43:11.000Z'])
      t.strictSame(first.body.by_provider.map((p: { provider: string }) => p.provider), ['anthropic', 'openai', 'google'])

      t.strictSame(await sample({ profile: 'enterprise' }), { status: 200, body: { profile: 'enterprise', inserted: 6000 } })
      t.strictSame(await summary(app, 'alice'), first, 'the same sample again')
      t.strictSame(await app.store.listUsage('alice'), records)

      t.strictSame(await sample({ profile: 'team' }), { status: 200, body: { profile: 'team', inserted: 8535 } })
      const team = (await summary(app, 'alice')).body
      t.strictSame([team.records, team.total_cost_usd], [8535, 477.18])
      t.strictSame(await sample({}), { status: 200, body: { profile: 'enterprise', inserted: 6000 } })
      t.strictSame(await sample({ profile: 'startup' }), {
        status: 400, body: { statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'body/profile must be equal to one of the allowed values' }
      })
      t.strictSame(await summary(app, 'bob'), { status: 200, body: EMPTY }, "another user's sample is not mine")
    })

    t.test('bad data: out of bounds refused by line, a request_id stored before with other content named, bounds configurable', async (t) => {
      const app = await build(t, { DATABASE_URL: base, USAGE_MAX_COST_USD: '50' })
      const row = (x: Record<string, unknown>) => ({ timestamp: '2025-08-01T10:00:00Z', provider: 'openai', model: 'gpt-4o', input_tokens: 100, output_tokens: 10, cost_usd: 0.01, ...x })
      const bad = await upload(app, 'alice', TYPES.json, [row({ request_id: 'a' }), row({ request_id: 'b', cost_usd: 1e308 }), row({ request_id: 'c', timestamp: '9999-12-31T00:00:00Z' }), row({ request_id: 'd', cost_usd: 60 })])
      t.equal(bad.status, 400)
      t.strictSame(bad.body.errors.map((e: { line: number }) => e.line), [2, 3, 4])
      t.match(bad.body.errors[2].reason, 'cost_usd 60 is more than $50 per request (USAGE_MAX_COST_USD)')
      t.strictSame(await summary(app, 'alice'), { status: 200, body: EMPTY }, 'nothing imported')

      t.strictSame(await upload(app, 'alice', TYPES.json, [row({ request_id: 'a' }), row({ request_id: 'b' })]), { status: 200, body: { inserted: 2, duplicates: 0, total_rows: 2, warnings: [] } })
      t.strictSame(await upload(app, 'alice', TYPES.json, [row({ request_id: 'b', cost_usd: 0.02 }), row({ request_id: 'c' })]), {
        status: 200,
        body: {
          inserted: 1,
          duplicates: 1,
          total_rows: 2,
          warnings: [{ code: 'conflicts_stored', message: '1 row has a request_id imported before with different content; the stored record is kept: b', lines: [1] }]
        }
      })
      t.equal((await summary(app, 'alice')).body.total_cost_usd, 0.03, 'the stored b kept its cost')
    })

    t.test('every usage route needs a user', async (t) => {
      const app = await build(t, { DATABASE_URL: base })
      for (const [method, url] of [['POST', '/usage'], ['GET', '/usage/summary'], ['DELETE', '/usage'], ['POST', '/usage/sample']] as const) {
        const res = await app.inject({ method, url, headers: { 'content-type': TYPES.csv }, payload: CSV })
        t.equal(res.statusCode, 401, `${method} ${url}`)
        t.equal(res.json().code, 'unauthorized')
      }
    })
  })
}
