import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
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
    schema: {
      ...common,
      description: 'Imports LLM usage records from CSV (header row), NDJSON or a JSON array. Any bad row refuses the whole upload ' +
        '(400 with `errors: [{line, reason}]`): a cost, token count or timestamp out of bounds, or a request_id twice with different content. ' +
        'A request_id already imported is counted in `duplicates`, not again. Model names are stored as the price catalogue names them; ' +
        '`warnings` says what was renamed, repeated, unpriced, or on another provider than the model\'s maker, by line.',
      response: { 200: Type.Object({ inserted: Count, duplicates: Count, total_rows: Count, warnings: Type.Array(Warning) }) }
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
        })
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
    schema: { ...common, description: 'Deletes all of this user\'s usage records.', response: { 200: Type.Object({ deleted: Count }) } }
  }, async (request) => ({ deleted: await app.store.deleteUsage(userOf(request).user_id) }))

  app.post('/usage/sample', {
    schema: {
      ...common,
      description: 'Replaces this user\'s usage with a realistic, deterministic sample: `enterprise` (about $45k over 30 days) or `team`.',
      body: Type.Object({
        profile: Type.Optional(Type.Unsafe<UsageProfile>({ type: 'string', enum: [...USAGE_PROFILES], default: 'enterprise' }))
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ profile: Type.String(), inserted: Count }) }
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
