import type { PriceTable } from '../../src/tools/prices.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'

const model = (provider: string, tier: string, input: number, output: number, cached_input: number, batch_discount?: number, extra: Record<string, unknown> = {}) =>
  ({ provider, tier, input, output, cached_input, ...(batch_discount !== undefined && { batch_discount }), ...extra })

/**
 * A small catalogue with round prices (USD per million tokens), so the tests' figures can be
 * worked out by hand. Mean input + output per tier: premium 50, standard 14, economy 1.9.
 * old-a is deprecated and think-a bills reasoning tokens: neither is ever a downgrade target.
 */
export const TABLE = {
  version: 1,
  as_of: '2025-07-01',
  models: {
    'big-a': model('openai', 'premium', 10, 40, 1, 0.5),
    'mid-a': model('openai', 'standard', 2, 8, 0.5, 0.5, { cache: { min_tokens: 1024, write: { 300: 2 }, automatic: true } }),
    'small-a': model('openai', 'economy', 0.5, 2, 0.05, 0.5),
    'tiny-a': model('openai', 'economy', 0.1, 0.4, 0.01),
    'mid-b': model('anthropic', 'standard', 3, 15, 0.3, undefined, { cache: { min_tokens: 1024, write: { 300: 3.75, 3600: 6 }, automatic: false } }),
    'small-b': model('anthropic', 'economy', 1, 5, 0.1, 0.5),
    'old-a': model('openai', 'economy', 0.05, 0.2, 0.005, 0.5, { status: 'deprecated' }),
    'think-a': model('openai', 'economy', 0.05, 0.2, 0.005, 0.5, { reasoning: true })
  }
} as unknown as PriceTable

let n = 0

/** One record of the test catalogue; `at` is a day (noon UTC) or a full timestamp. */
export function rec (r: {
  at: string
  model: string
  /** the test catalogue's provider of the model, 'acme' for others, unless given */
  provider?: string
  cost: number
  feature?: string
  input?: number
  output?: number
  cached?: number
  hash?: string
  requests?: number
  latency?: number
}): UsageRecord {
  const provider = r.provider ?? (TABLE.models as Record<string, { provider: string }>)[r.model]?.provider ?? 'acme'
  return {
    timestamp: r.at.length === 10 ? `${r.at}T12:00:00.000Z` : r.at,
    provider,
    model: r.model,
    input_tokens: r.input ?? 0,
    output_tokens: r.output ?? 0,
    ...(r.cached !== undefined && { cached_tokens: r.cached }),
    cost_usd: r.cost,
    ...(r.latency !== undefined && { latency_ms: r.latency }),
    ...(r.feature !== undefined && { feature: r.feature }),
    request_id: `r${++n}`,
    ...(r.hash !== undefined && { prompt_hash: r.hash }),
    ...(r.requests !== undefined && { requests: r.requests })
  }
}

export const dayAfter = (day: string, k: number) => new Date(Date.parse(day) + k * 86_400_000).toISOString().slice(0, 10)
/** a day as a question names it: '2025-08-13' → 'August 13' */
export const spokenDay = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-US', { month: 'long', day: 'numeric', timeZone: 'UTC' })
