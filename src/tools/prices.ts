export type Provider = string
/**
 * What a model is built for, across providers: `premium` the flagship/frontier models,
 * `standard` the general-purpose workhorses, `economy` the small, fast line (mini, nano, flash,
 * haiku, small). Right-sizing moves work down a tier.
 */
export type Tier = 'premium' | 'standard' | 'economy'
export const TIERS: readonly Tier[] = Object.freeze(['premium', 'standard', 'economy'])

/** current: offered and recommended; legacy: served but superseded; deprecated: shutdown announced; retired: no longer served. */
export type Lifecycle = 'current' | 'legacy' | 'deprecated' | 'retired'
export const LIFECYCLES: readonly Lifecycle[] = Object.freeze(['current', 'legacy', 'deprecated', 'retired'])

/**
 * How a provider caches prompt prefixes. A prefix shorter than `min_tokens` is never cached; an
 * entry lives `ttl_s` seconds after its last use (each hit renews it). Writing a prefix costs
 * `write` USD per million tokens for that TTL; reading it costs the model's `cached_input`.
 */
export interface CacheRules {
  readonly min_tokens: number
  /** TTL in seconds → write price per million tokens */
  readonly write: Readonly<Record<string, number>>
  /** true: the provider caches on its own; false: the caller marks the prefix (Anthropic's cache_control) */
  readonly automatic: boolean
}

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
  /** bills hidden reasoning tokens as output: its output counts include them, and a cap truncates reasoning */
  readonly reasoning?: boolean
  /** absent: current */
  readonly status?: Lifecycle
  /** the day a deprecated model stops (or a retired one stopped) being served */
  readonly retires?: string
  /** absent: the provider caches nothing (or the table does not say) */
  readonly cache?: CacheRules
  /** prompts longer than `above_tokens` are billed at these rates, on every token of the request */
  readonly long_context?: { readonly above_tokens: number, readonly input: number, readonly output: number, readonly cached_input: number }
  /** where the price was read */
  readonly source?: string
}

export interface PriceTable {
  /** bumped whenever a price, model or tier changes */
  readonly version: number
  /** the day these list prices were read; a catalogue keeps one table per date */
  readonly as_of: string
  readonly models: Readonly<Record<string, ModelPrice>>
}

const SOURCES: Readonly<Record<string, string>> = {
  openai: 'https://developers.openai.com/api/docs/pricing',
  anthropic: 'https://platform.claude.com/docs/en/about-claude/pricing',
  google: 'https://ai.google.dev/gemini-api/docs/pricing',
  mistral: 'https://mistral.ai/pricing#api-pricing',
  deepseek: 'https://api-docs.deepseek.com/quick_start/pricing'
}

const BATCH: Readonly<Record<string, number>> = { openai: 0.5, anthropic: 0.5, google: 0.5, mistral: 0.5 }

interface Extra { reasoning?: boolean, status?: Lifecycle, retires?: string, min_cache?: number, long?: ModelPrice['long_context'], cache?: CacheRules | null }

/** Each provider's caching: OpenAI and Gemini cache on their own at no write surcharge; Anthropic writes cost 1.25× input (5 min) or 2× (1 h). */
function cacheRules (provider: string, input: number, min?: number): CacheRules | undefined {
  switch (provider) {
    case 'openai': return { min_tokens: min ?? 1024, write: { 300: input }, automatic: true }
    case 'anthropic': return { min_tokens: min ?? 1024, write: { 300: input * 1.25, 3600: input * 2 }, automatic: false }
    case 'google': return { min_tokens: min ?? 2048, write: { 300: input }, automatic: true }
    // DeepSeek's disk cache keeps a prefix for hours; 64-token units
    case 'deepseek': return { min_tokens: min ?? 64, write: { 3600: input }, automatic: true }
    default: return undefined
  }
}

const model = (provider: Provider, tier: Tier, input: number, output: number, cachedInput: number, x: Extra = {}): ModelPrice => {
  const batch = BATCH[provider]
  const cache = x.cache === null ? undefined : x.cache ?? (cachedInput < input ? cacheRules(provider, input, x.min_cache) : undefined)
  return Object.freeze({
    provider,
    tier,
    input,
    output,
    cached_input: cachedInput,
    ...(batch !== undefined && { batch_discount: batch }),
    ...(x.reasoning && { reasoning: true }),
    ...(x.status && x.status !== 'current' && { status: x.status }),
    ...(x.retires && { retires: x.retires }),
    ...(cache && { cache: Object.freeze({ ...cache, write: Object.freeze(cache.write) }) }),
    ...(x.long && { long_context: Object.freeze(x.long) }),
    source: SOURCES[provider]
  })
}

const REASONING = { reasoning: true }

// Standard (non-batch) list rates, read from each provider's pricing page (SOURCES) on `as_of`.
// Gemini Pro models at their ≤200k-token prompt rate, with the longer-prompt rate as long_context.
export const PRICES: PriceTable = Object.freeze({
  version: 3,
  as_of: '2026-11-30',
  models: Object.freeze({
    'gpt-5.5': model('openai', 'premium', 5, 30, 0.5, REASONING),
    'gpt-5.4': model('openai', 'standard', 2.5, 15, 0.25, REASONING),
    'gpt-5.4-mini': model('openai', 'economy', 0.75, 4.5, 0.075, REASONING),
    'gpt-5.4-nano': model('openai', 'economy', 0.2, 1.25, 0.02, REASONING),
    'gpt-5.2': model('openai', 'standard', 1.75, 14, 0.175, { reasoning: true, status: 'legacy' }),
    'gpt-5.1': model('openai', 'standard', 1.25, 10, 0.125, { reasoning: true, status: 'legacy' }),
    'gpt-5': model('openai', 'standard', 1.25, 10, 0.125, { reasoning: true, status: 'legacy' }),
    'gpt-5-mini': model('openai', 'economy', 0.25, 2, 0.025, { reasoning: true, status: 'legacy' }),
    'gpt-5-nano': model('openai', 'economy', 0.05, 0.4, 0.005, { reasoning: true, status: 'deprecated' }),
    o3: model('openai', 'premium', 2, 8, 0.5, { reasoning: true, status: 'legacy' }),
    'o4-mini': model('openai', 'standard', 1.1, 4.4, 0.275, { reasoning: true, status: 'legacy' }),
    'gpt-4.1': model('openai', 'standard', 2, 8, 0.5, { status: 'legacy' }),
    'gpt-4.1-mini': model('openai', 'economy', 0.4, 1.6, 0.1, { status: 'legacy' }),
    'gpt-4.1-nano': model('openai', 'economy', 0.1, 0.4, 0.025, { status: 'legacy' }),
    'gpt-4o': model('openai', 'standard', 2.5, 10, 1.25, { status: 'legacy' }),
    'gpt-4o-mini': model('openai', 'economy', 0.15, 0.6, 0.075, { status: 'legacy' }),
    'claude-opus-5-5': model('anthropic', 'premium', 4, 20, 0.2, { reasoning: true, min_cache: 4096 }),
    'claude-opus-5': model('anthropic', 'premium', 5, 25, 0.5, { reasoning: true, status: 'legacy', min_cache: 4096 }),
    'claude-opus-4-5': model('anthropic', 'premium', 5, 25, 0.5, { status: 'deprecated', min_cache: 4096 }),
    'claude-opus-4-1': model('anthropic', 'premium', 15, 75, 1.5, { status: 'deprecated' }),
    'claude-opus-4': model('anthropic', 'premium', 15, 75, 1.5, { status: 'deprecated' }),
    'claude-sonnet-5-5': model('anthropic', 'standard', 2, 10, 0.1, REASONING),
    'claude-sonnet-5': model('anthropic', 'standard', 2, 10, 0.2, { reasoning: true, status: 'legacy' }),
    'claude-sonnet-4-5': model('anthropic', 'standard', 3, 15, 0.3, { status: 'legacy', long: { above_tokens: 200_000, input: 6, output: 22.5, cached_input: 0.6 } }),
    'claude-sonnet-4': model('anthropic', 'standard', 3, 15, 0.3, { status: 'legacy', long: { above_tokens: 200_000, input: 6, output: 22.5, cached_input: 0.6 } }),
    'claude-3-7-sonnet': model('anthropic', 'standard', 3, 15, 0.3, { status: 'retired', retires: '2026-02-19' }),
    'claude-haiku-4-5': model('anthropic', 'economy', 1, 5, 0.1, { min_cache: 4096 }),
    'claude-3-5-haiku': model('anthropic', 'economy', 0.8, 4, 0.08, { status: 'retired', retires: '2026-02-19', min_cache: 2048 }),
    'gemini-3.1-pro-preview': model('google', 'premium', 2, 12, 0.2, { reasoning: true, min_cache: 4096, long: { above_tokens: 200_000, input: 4, output: 18, cached_input: 0.4 } }),
    'gemini-3-pro-preview': model('google', 'premium', 2, 12, 0.2, { reasoning: true, status: 'legacy', min_cache: 4096, long: { above_tokens: 200_000, input: 4, output: 18, cached_input: 0.4 } }),
    'gemini-3-flash-preview': model('google', 'economy', 0.5, 3, 0.05, { reasoning: true, min_cache: 4096 }),
    'gemini-2.5-pro': model('google', 'premium', 1.25, 10, 0.125, { reasoning: true, status: 'legacy', long: { above_tokens: 200_000, input: 2.5, output: 15, cached_input: 0.25 } }),
    'gemini-2.5-flash': model('google', 'economy', 0.3, 2.5, 0.03, { reasoning: true, status: 'legacy' }),
    'gemini-2.5-flash-lite': model('google', 'economy', 0.1, 0.4, 0.01, { status: 'legacy' }),
    'gemini-2.0-flash': model('google', 'economy', 0.1, 0.4, 0.025, { status: 'deprecated' }),
    'mistral-large-3': model('mistral', 'premium', 0.5, 1.5, 0.5),
    'mistral-large': model('mistral', 'premium', 0.5, 1.5, 0.5),
    'mistral-large-2411': model('mistral', 'premium', 2, 6, 2, { status: 'legacy' }),
    'mistral-medium-3': model('mistral', 'standard', 0.4, 2, 0.4),
    'mistral-medium': model('mistral', 'standard', 0.4, 2, 0.4),
    'mistral-small-4': model('mistral', 'economy', 0.1, 0.3, 0.1),
    'mistral-small': model('mistral', 'economy', 0.1, 0.3, 0.1),
    'magistral-medium': model('mistral', 'premium', 2, 5, 2, REASONING),
    'deepseek-reasoner': model('deepseek', 'premium', 0.28, 0.42, 0.028, REASONING),
    'deepseek-chat': model('deepseek', 'standard', 0.28, 0.42, 0.028)
  })
})

// How usage exports name the same model: `openai/gpt-4o`, `models/gemini-2.5-pro`,
// `claude-sonnet-4-20250514`, `claude-sonnet-4@20250514`, `gpt-4o-2024-08-06`, `mistral-large-2411`, `…-latest`
const PREFIX = /^(openai|anthropic|google|mistral|mistralai|deepseek|models|vertex_ai|bedrock)\//
const SNAPSHOT = /(-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-\d{4}|-latest|-v\d+:\d+)$/

/** A model name as usage exports spell it, tidied: trimmed, lower case, without a provider prefix. */
export function tidyModelName (name: string): string {
  return name.trim().toLowerCase().replace(PREFIX, '')
}

/** The catalogue's name for `name` (a dated snapshot, alias, other case or prefixed form of it), or undefined. */
export function canonicalModel (name: string, table: PriceTable = PRICES): string | undefined {
  const has = (n: string) => Object.hasOwn(table.models, n)
  if (has(name)) return name
  const bare = tidyModelName(name)
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
  /** how many requests the counts are totals of; absent means 1 */
  readonly requests?: number
}

/** The rates a request pays: the long-context ones when its prompt runs past the model's threshold. */
export function ratesFor (p: ModelPrice, promptTokensPerRequest: number): { input: number, output: number, cached_input: number } {
  const long = p.long_context
  return long && promptTokensPerRequest > long.above_tokens ? long : p
}

/** Unrounded USD cost: uncached input, cached input and output at their rates (long-context rates for long prompts). */
export function costOf (name: string, t: TokenCounts, table: PriceTable = PRICES): number {
  const p = ratesFor(priceOf(name, table), t.input_tokens / (t.requests ?? 1))
  const cached = t.cached_tokens ?? 0
  return ((t.input_tokens - cached) * p.input + cached * p.cached_input + t.output_tokens * p.output) / 1e6
}
