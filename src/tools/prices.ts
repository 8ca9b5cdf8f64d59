export type Provider = 'openai' | 'anthropic' | 'google' | 'mistral' | 'deepseek'
/**
 * What a model is built for, across providers: `premium` the flagship/frontier reasoning models,
 * `standard` the general-purpose workhorses, `economy` the small, fast line (mini, nano, flash,
 * haiku, small). Right-sizing moves work down a tier.
 */
export type Tier = 'premium' | 'standard' | 'economy'
export const TIERS: readonly Tier[] = Object.freeze(['premium', 'standard', 'economy'])

/** List prices in USD per million tokens. */
export interface ModelPrice {
  readonly provider: Provider
  readonly tier: Tier
  readonly input: number
  readonly output: number
  /** a prompt token served from the provider's cache; equals `input` where there is no discount */
  readonly cached_input: number
  /** share taken off input and output through the provider's batch API (0.5 = half price); absent: no batch API */
  readonly batch_discount?: number
}

export interface PriceTable {
  /** bumped whenever a price, model or tier changes */
  readonly version: number
  /** the day these list prices were read; a catalogue keeps one table per date */
  readonly as_of: string
  readonly models: Readonly<Record<string, ModelPrice>>
}

const BATCH: Readonly<Partial<Record<Provider, number>>> = { openai: 0.5, anthropic: 0.5, google: 0.5, mistral: 0.5 }

const model = (provider: Provider, tier: Tier, input: number, output: number, cachedInput: number): ModelPrice => {
  const batch = BATCH[provider]
  return Object.freeze({ provider, tier, input, output, cached_input: cachedInput, ...(batch !== undefined && { batch_discount: batch }) })
}

// Standard (non-batch) rates. Gemini 2.5 Pro at its ≤200k-token prompt rate. Anthropic's cache
// reads are the cached rate here; cache writes are counted as plain input. Mistral has no cached
// rate; DeepSeek's cache-hit rate is its cached rate and it has no batch API.
export const PRICES: PriceTable = Object.freeze({
  version: 2,
  as_of: '2025-08-15',
  models: Object.freeze({
    'gpt-5': model('openai', 'premium', 1.25, 10, 0.125),
    'gpt-5-mini': model('openai', 'economy', 0.25, 2, 0.025),
    'gpt-5-nano': model('openai', 'economy', 0.05, 0.4, 0.005),
    o3: model('openai', 'premium', 2, 8, 0.5),
    'gpt-4.1': model('openai', 'standard', 2, 8, 0.5),
    'gpt-4.1-mini': model('openai', 'economy', 0.4, 1.6, 0.1),
    'gpt-4.1-nano': model('openai', 'economy', 0.1, 0.4, 0.025),
    'gpt-4o': model('openai', 'standard', 2.5, 10, 1.25),
    'gpt-4o-mini': model('openai', 'economy', 0.15, 0.6, 0.075),
    'claude-opus-4-1': model('anthropic', 'premium', 15, 75, 1.5),
    'claude-opus-4': model('anthropic', 'premium', 15, 75, 1.5),
    'claude-sonnet-4': model('anthropic', 'standard', 3, 15, 0.3),
    'claude-3-7-sonnet': model('anthropic', 'standard', 3, 15, 0.3),
    'claude-3-5-haiku': model('anthropic', 'economy', 0.8, 4, 0.08),
    'gemini-2.5-pro': model('google', 'premium', 1.25, 10, 0.31),
    'gemini-2.5-flash': model('google', 'economy', 0.3, 2.5, 0.075),
    'gemini-2.5-flash-lite': model('google', 'economy', 0.1, 0.4, 0.025),
    'gemini-2.0-flash': model('google', 'economy', 0.1, 0.4, 0.025),
    'mistral-large': model('mistral', 'premium', 2, 6, 2),
    'mistral-medium': model('mistral', 'standard', 0.4, 2, 0.4),
    'mistral-small': model('mistral', 'economy', 0.1, 0.3, 0.1),
    'deepseek-reasoner': model('deepseek', 'premium', 0.55, 2.19, 0.14),
    'deepseek-chat': model('deepseek', 'standard', 0.27, 1.1, 0.07)
  })
})

// How usage exports name the same model: `openai/gpt-4o`, `models/gemini-2.5-pro`,
// `claude-sonnet-4-20250514`, `claude-sonnet-4@20250514`, `gpt-4o-2024-08-06`, `mistral-large-2411`, `…-latest`
const PREFIX = /^(openai|anthropic|google|mistral|mistralai|deepseek|models)\//
const SNAPSHOT = /(-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-\d{4}|-latest)$/

/** The catalogue's name for `name` (a dated snapshot, alias or prefixed form of it), or undefined. */
export function canonicalModel (name: string, table: PriceTable = PRICES): string | undefined {
  const has = (n: string) => Object.hasOwn(table.models, n)
  if (has(name)) return name
  const bare = name.trim().toLowerCase().replace(PREFIX, '')
  if (has(bare)) return bare
  const undated = bare.replace(SNAPSHOT, '')
  return has(undated) ? undated : undefined
}

/** The price of `name` or of the model it is a snapshot or alias of; undefined when not in the table. */
export function findPrice (name: string, table: PriceTable = PRICES): ModelPrice | undefined {
  const key = canonicalModel(name, table)
  return key === undefined ? undefined : table.models[key]
}

export function priceOf (name: string, table: PriceTable = PRICES): ModelPrice {
  const p = findPrice(name, table)
  if (!p) throw new RangeError(`no price for model "${name}" in the table of ${table.as_of}`)
  return p
}

export interface TokenCounts {
  /** all prompt tokens, the cached ones included */
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cached_tokens?: number
}

/** Unrounded USD cost of one request: uncached input, cached input and output at their rates. */
export function costOf (name: string, t: TokenCounts, table: PriceTable = PRICES): number {
  const p = priceOf(name, table)
  const cached = t.cached_tokens ?? 0
  return ((t.input_tokens - cached) * p.input + cached * p.cached_input + t.output_tokens * p.output) / 1e6
}
