import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { documentBody, errorResponses } from '../plugins/swagger.js'
import { userOf } from '../plugins/user-context.js'
import type { Config } from '../src/config.js'
import { Errors } from '../src/errors.js'
import type { UsageGroup } from '../src/store/types.js'
import type { UsageRecord } from '../src/tools/usage-data.js'
import { roundCents, roundTo } from '../src/tools/money.js'
import { Notes, parseTimestamp, readUsage, usageBounds, type UsageFormat } from '../src/usage/parse.js'
import { sampleRecords, USAGE_PROFILES, type UsageProfile } from '../src/usage/sample.js'

const FORMATS: Readonly<Record<string, UsageFormat>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/json': 'json'
}

const Count = Type.Integer({ minimum: 0 })
const Sums = {
  records: Count,
  requests: Count,
  input_tokens: Count,
  output_tokens: Count,
  cached_tokens: Count,
  cost_usd: Type.Number()
}
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])
const Instant = Type.String({ maxLength: 64, description: 'ISO-8601, or epoch seconds or milliseconds' })

// for the docs only: the handler reads and checks the rows itself, listing every bad one
const UsageRecordSchema = Type.Object({
  timestamp: Type.String({ description: 'ISO-8601, or epoch seconds or milliseconds' }),
  provider: Type.String({ maxLength: 64 }),
  model: Type.String({ maxLength: 128 }),
  input_tokens: Type.Integer({ minimum: 0, description: 'all prompt tokens, cached_tokens included' }),
  output_tokens: Type.Integer({ minimum: 0 }),
  cached_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
  cost_usd: Type.Optional(Type.Number({ minimum: 0, description: 'priced from the model catalogue when absent' })),
  latency_ms: Type.Optional(Type.Number({ minimum: 0 })),
  feature: Type.Optional(Type.String({ maxLength: 128 })),
  request_id: Type.Optional(Type.String({ maxLength: 256, description: 'deduplicates: a request_id already imported is not imported again; hashed from the row when absent' })),
  prompt_hash: Type.Optional(Type.String({ maxLength: 256 })),
  requests: Type.Optional(Type.Integer({ minimum: 1, description: 'how many requests the row stands for; 1 when absent' }))
}, { description: 'A usage row; any other column or key is ignored.' })
const recordExample = {
  timestamp: '2025-10-01T09:30:00Z',
  provider: 'openai',
  model: 'gpt-4o',
  input_tokens: 1200,
  output_tokens: 350,
  cached_tokens: 800,
  feature: 'search',
  request_id: 'req_01'
}
const usageBody = documentBody({
  'text/csv': Type.String({
    description: 'A header row naming the columns (those of a usage row, in any order), then one row per line.',
    examples: ['timestamp,provider,model,input_tokens,output_tokens,cached_tokens,feature,request_id\n' +
      '2025-10-01T09:30:00Z,openai,gpt-4o,1200,350,800,search,req_01\n']
  }),
  'application/x-ndjson': Type.String({
    description: 'One usage row as a JSON object per line.',
    examples: [`${JSON.stringify(recordExample)}\n`]
  }),
  'application/json': Type.Array(UsageRecordSchema, { description: 'An array of usage rows.', examples: [[recordExample]] })
})

/**
 * Each database sums in its own order, so raw totals differ in float noise far below a micro-dollar;
 * rounding there first makes SQLite and Postgres agree to the cent even on a half-cent.
 */
const dollars = (usd: number) => roundCents(roundTo(usd, 6))
const cents = <G extends UsageGroup>(g: G): G => ({ ...g, cost_usd: dollars(g.cost_usd) })

const Warning = Type.Object({
  code: Type.String(),
  message: Type.String(),
  lines: Type.Array(Type.Integer({ minimum: 1 }), { description: 'the first rows concerned, by line in the file' })
})

const usageRoutes: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  const { usageMaxBytes, usageMaxRows, usageBounds: bounds } = config.limits
  const common = { tags: ['usage'], security: [{ bearer: [] }] }

  // scoped to this plugin: nowhere else takes CSV or NDJSON
  app.addContentTypeParser(['text/csv', 'application/x-ndjson'], { parseAs: 'string' }, (_request, body, done) => {
    done(null, body)
  })
  // Fastify's own refusal says only "Request body is too large"; anything else goes on to the root handler
  app.setErrorHandler((err: FastifyError) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      throw new Errors.PayloadTooLarge(`the upload is larger than ${usageMaxBytes} bytes; split it into smaller files`)
    }
    throw err
  })

  app.post('/usage', {
    bodyLimit: usageMaxBytes,
    config: { swaggerTransform: usageBody, rateLimit: app.rateLimits.uploads },
    schema: {
      ...common,
      operationId: 'importUsage',
      summary: 'Upload LLM usage records',
      description: 'Imports LLM usage records from CSV (header row), NDJSON or a JSON array, by `Content-Type`. Any bad row refuses the whole upload ' +
        '(400 with `errors: [{line, reason}]`): a cost, token count or timestamp out of bounds, or a request_id twice with different content. ' +
        'A request_id already imported is counted in `duplicates`, not again. Model names are stored as the price catalogue names them; ' +
        '`warnings` says what was renamed, repeated, unpriced, or on another provider than the model\'s maker, by line. ' +
        `At most ${usageMaxBytes} bytes (413 otherwise) and ${usageMaxRows} rows.`,
      response: {
        200: Type.Object({ inserted: Count, duplicates: Count, total_rows: Count, warnings: Type.Array(Warning) }, {
          description: 'Imported.',
          examples: [{ inserted: 1, duplicates: 0, total_rows: 1, warnings: [] }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized', 'payload_too_large'], { rowErrors: true })
      }
    }
  }, async (request) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    const format = FORMATS[type]
    if (!format) throw new Errors.InvalidRequest(`content-type must be one of ${Object.keys(FORMATS).join(', ')}`)
    const userId = userOf(request).user_id
    const { records, total_rows, warnings, lines } = readUsage(request.body, format, { maxRows: usageMaxRows, prices: config.prices, bounds: usageBounds(bounds) })
    const conflicts = await storedConflicts(userId, records, lines)
    const { inserted, duplicates } = await app.store.importUsage(userId, records)
    return { inserted, duplicates, total_rows, warnings: [...warnings, ...conflicts] }
  })

  /** Rows whose request_id is stored already, with other content: the stored record stays, and the answer says so by line. */
  async function storedConflicts (userId: string, records: readonly UsageRecord[], lines: Map<string, number>) {
    if (!records.length) return []
    let from = records[0].timestamp
    let to = from
    for (const r of records) {
      if (r.timestamp < from) from = r.timestamp
      if (r.timestamp > to) to = r.timestamp
    }
    const stored = new Map((await app.store.listUsage(userId, { from, to: new Date(Date.parse(to) + 1).toISOString() })).map((r) => [r.request_id, JSON.stringify(r)]))
    const notes = new Notes()
    for (const r of records) {
      const before = stored.get(r.request_id)
      if (before !== undefined && before !== JSON.stringify(r)) notes.add('conflicts_stored', r.request_id, lines.get(r.request_id)!)
    }
    return notes.warnings()
  }

  app.get('/usage/summary', {
    schema: {
      ...common,
      operationId: 'getUsageSummary',
      summary: 'Usage totals',
      description: 'Totals of this user\'s usage, by provider and by model (largest cost first), optionally for from ≤ timestamp < to. Money is in cents.',
      querystring: Type.Object({ from: Type.Optional(Instant), to: Type.Optional(Instant) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          records: Count,
          requests: Count,
          from: Nullable(Type.String()),
          to: Nullable(Type.String()),
          total_cost_usd: Type.Number(),
          input_tokens: Count,
          output_tokens: Count,
          cached_tokens: Count,
          by_provider: Type.Array(Type.Object({ provider: Type.String(), ...Sums })),
          by_model: Type.Array(Type.Object({ model: Type.String(), provider: Type.String(), ...Sums }))
        }, {
          description: 'The totals.',
          examples: [{
            records: 1,
            requests: 1,
            from: '2025-10-01T09:30:00.000Z',
            to: '2025-10-01T09:30:00.000Z',
            total_cost_usd: 0.01,
            input_tokens: 1200,
            output_tokens: 350,
            cached_tokens: 800,
            by_provider: [{ provider: 'openai', records: 1, requests: 1, input_tokens: 1200, output_tokens: 350, cached_tokens: 800, cost_usd: 0.01 }],
            by_model: [{ model: 'gpt-4o', provider: 'openai', records: 1, requests: 1, input_tokens: 1200, output_tokens: 350, cached_tokens: 800, cost_usd: 0.01 }]
          }]
        }),
        ...errorResponses(['invalid_request', 'unauthorized'])
      }
    }
  }, async (request) => {
    const bound = (name: 'from' | 'to') => {
      const v = request.query[name]
      if (v === undefined) return undefined
      const at = parseTimestamp(v)
      if (at === undefined) throw new Errors.InvalidRequest(`querystring/${name} must be ISO-8601 or epoch seconds or milliseconds`)
      return at
    }
    const { cost_usd, by_provider, by_model, ...totals } = await app.store.usageTotals(userOf(request).user_id, { from: bound('from'), to: bound('to') })
    return { ...totals, total_cost_usd: dollars(cost_usd), by_provider: by_provider.map(cents), by_model: by_model.map(cents) }
  })

  app.delete('/usage', {
    schema: {
      ...common,
      operationId: 'deleteUsage',
      summary: 'Delete all usage records',
      description: 'Deletes all of this user\'s usage records.',
      response: {
        200: Type.Object({ deleted: Count }, { description: 'How many were deleted.', examples: [{ deleted: 8535 }] }),
        ...errorResponses(['unauthorized'])
      }
    }
  }, async (request) => ({ deleted: await app.store.deleteUsage(userOf(request).user_id) }))

  app.post('/usage/sample', {
    schema: {
      ...common,
      operationId: 'loadUsageSample',
      summary: 'Load a sample of usage',
      description: 'Replaces this user\'s usage with a realistic, deterministic sample: `enterprise` (about $45k over 30 days) or `team`. ' +
        'A bare POST with no body loads `enterprise`.',
      body: Type.Object({
        profile: Type.Optional(Type.Unsafe<UsageProfile>({ type: 'string', enum: [...USAGE_PROFILES], default: 'enterprise' }))
      }, { additionalProperties: false, examples: [{ profile: 'team' }] }),
      response: {
        200: Type.Object({ profile: Type.String(), inserted: Count }, { description: 'The sample is loaded.', examples: [{ profile: 'team', inserted: 8535 }] }),
        ...errorResponses(['invalid_request', 'unauthorized', 'payload_too_large'])
      }
    },
    // a bare POST (no body at all) asks for the default profile
    preValidation: async (request) => { request.body ??= {} }
  }, async (request) => {
    const profile = request.body.profile ?? 'enterprise'
    const { inserted } = await app.store.importUsage(userOf(request).user_id, sampleRecords(profile), { replace: true })
    return { profile, inserted }
  })
}

export default usageRoutes
