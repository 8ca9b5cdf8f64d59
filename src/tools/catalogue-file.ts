import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { readFileSync } from 'node:fs'
import { LIFECYCLES, PRICES, TIERS, type ModelPrice, type PriceTable } from './prices.js'

const Price = Type.Number({ minimum: 0, maximum: 100_000 })

const ModelSchema = Type.Object({
  provider: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  tier: Type.Optional(Type.Union(TIERS.map((t) => Type.Literal(t)))),
  input: Type.Optional(Price),
  output: Type.Optional(Price),
  cached_input: Type.Optional(Price),
  batch_discount: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
  reasoning: Type.Optional(Type.Boolean()),
  status: Type.Optional(Type.Union(LIFECYCLES.map((l) => Type.Literal(l)))),
  retires: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
  cache: Type.Optional(Type.Object({
    min_tokens: Type.Integer({ minimum: 0 }),
    write: Type.Record(Type.String({ pattern: '^\\d+$' }), Price),
    automatic: Type.Boolean()
  }, { additionalProperties: false })),
  long_context: Type.Optional(Type.Object({ above_tokens: Type.Integer({ minimum: 1 }), input: Price, output: Price, cached_input: Price }, { additionalProperties: false })),
  source: Type.Optional(Type.String({ maxLength: 500 }))
}, { additionalProperties: false })

/**
 * A catalogue file (`PRICE_CATALOGUE`): negotiated or newer rates without a release. Its models
 * override the built-in ones field by field (a new model needs provider, tier, input, output and
 * cached_input); with `"replace": true` only its own models count.
 */
export const CatalogueFileSchema = Type.Object({
  as_of: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
  replace: Type.Optional(Type.Boolean()),
  models: Type.Record(Type.String({ minLength: 1, maxLength: 128 }), ModelSchema)
}, { additionalProperties: false })
export type CatalogueFile = Static<typeof CatalogueFileSchema>

/** The table a catalogue file makes over `base`; throws an Error saying what is wrong with it. */
export function catalogueFrom (file: unknown, base: PriceTable = PRICES): PriceTable {
  const [first] = Value.Errors(CatalogueFileSchema, file)
  if (first) throw new Error(`${first.path || '/'} ${first.message}`)
  const f = file as CatalogueFile
  const models: Record<string, ModelPrice> = f.replace ? {} : { ...base.models }
  for (const [name, m] of Object.entries(f.models)) {
    const merged = { ...(f.replace ? {} : base.models[name]), ...m } as ModelPrice
    for (const field of ['provider', 'tier', 'input', 'output', 'cached_input'] as const) {
      if (merged[field] === undefined) throw new Error(`/models/${name} needs ${field} (it is not a built-in model)`)
    }
    models[name] = Object.freeze(merged)
  }
  return Object.freeze({ version: base.version * 1000 + 1, as_of: f.as_of, models: Object.freeze(models) })
}

/** Reads and checks a catalogue file; the message names the file and what is wrong. */
export function loadCatalogueFile (path: string, base: PriceTable = PRICES): PriceTable {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    return catalogueFrom(json, base)
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`)
  }
}
