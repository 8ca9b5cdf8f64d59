export type Provider = 'openai' | 'anthropic' | 'google'
/** How a model ranks within its provider's line-up; right-sizing moves work down a tier. */
export type Tier = 'premium' | 'standard' | 'economy'

/** List prices in USD per million tokens. */
export interface ModelPrice {
  readonly provider: Provider
  readonly tier: Tier
  readonly input: number
  readonly output: number
  readonly cached_input: number
}

export interface PriceTable {
  /** the day these list prices were read; a catalogue keeps one table per date */
  readonly as_of: string
  readonly models: Readonly<Record<string, ModelPrice>>
}

const model = (provider: Provider, tier: Tier, input: number, output: number, cachedInput: number): ModelPrice =>
  Object.freeze({ provider, tier, input, output, cached_input: cachedInput })

// Standard (non-batch) rates; Gemini 2.5 Pro at its ≤200k-token prompt rate. Anthropic's cache
// reads are the cached rate here; cache writes are counted as plain input.
export const PRICES: PriceTable = Object.freeze({
  as_of: '2025-07-01',
  models: Object.freeze({
    'gpt-4o': model('openai', 'standard', 2.5, 10, 1.25),
    'gpt-4o-mini': model('openai', 'economy', 0.15, 0.6, 0.075),
    'gpt-4.1': model('openai', 'standard', 2, 8, 0.5),
    'gpt-4.1-mini': model('openai', 'economy', 0.4, 1.6, 0.1),
    'claude-opus-4': model('anthropic', 'premium', 15, 75, 1.5),
    'claude-sonnet-4': model('anthropic', 'standard', 3, 15, 0.3),
    'claude-3-5-haiku': model('anthropic', 'economy', 0.8, 4, 0.08),
    'gemini-2.5-pro': model('google', 'standard', 1.25, 10, 0.31),
    'gemini-2.5-flash': model('google', 'economy', 0.3, 2.5, 0.075)
  })
})

export function priceOf (name: string, table: PriceTable = PRICES): ModelPrice {
  const p = Object.hasOwn(table.models, name) ? table.models[name] : undefined
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
