import type { ToolContext } from '../core/registry.js'
import { roundTo } from './money.js'
import { costOf, priceOf, PRICES_2025_07_01, type Tier, type TokenCounts } from './prices.js'

/**
 * One LLM request as a team's usage log records it, or, with `requests`, an aggregate of that many
 * requests (an hourly export line): tokens and cost are then totals, latency the mean per request.
 */
export interface UsageRecord {
  /** ISO-8601 UTC */
  readonly timestamp: string
  readonly provider: string
  readonly model: string
  /** all prompt tokens, `cached_tokens` included */
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cached_tokens?: number
  readonly cost_usd: number
  readonly latency_ms?: number
  readonly feature?: string
  readonly request_id: string
  readonly prompt_hash?: string
  /** how many requests this record stands for; absent means 1 */
  readonly requests?: number
}

/** Where a tool reads the records of the user it runs for. */
export type UsageSource = (ctx: ToolContext) => readonly UsageRecord[] | Promise<readonly UsageRecord[]>

export type SampleProfile = 'team'

/** The bundled sample, for users who have not uploaded their own usage. */
export const sampleSource: UsageSource = () => sampleUsage()

/** Priced with the catalogue of its month (version 1), so a newer catalogue does not change it. */
export function sampleUsage (profile: SampleProfile = 'team'): readonly UsageRecord[] {
  return SAMPLES[profile]
}

interface FeatureProfile {
  feature: string
  per_weekday: number
  models: ReadonlyArray<readonly [string, number]>
  input: readonly [number, number]
  output: readonly [number, number]
  /** the largest share of the prompt served from the provider's cache */
  max_cached: number
  /** a small pool of prompts repeats verbatim (cacheable); otherwise every prompt is new */
  prompt_pool?: number
}

const TEAM: readonly FeatureProfile[] = [
  { feature: 'chat', per_weekday: 36, models: [['gpt-4o', 0.4], ['claude-sonnet-4', 0.45], ['claude-opus-4', 0.15]], input: [3000, 16000], output: [200, 1200], max_cached: 0.5 },
  { feature: 'summarise', per_weekday: 14, models: [['claude-sonnet-4', 0.6], ['gemini-2.5-pro', 0.4]], input: [12000, 60000], output: [400, 1500], max_cached: 0.3 },
  { feature: 'classify', per_weekday: 28, models: [['gpt-4o', 0.55], ['gpt-4o-mini', 0.3], ['claude-3-5-haiku', 0.15]], input: [300, 900], output: [3, 20], max_cached: 0, prompt_pool: 120 },
  { feature: 'extract', per_weekday: 16, models: [['gemini-2.5-flash', 0.6], ['gpt-4.1-mini', 0.4]], input: [1200, 4000], output: [150, 500], max_cached: 0 }
]

const SEED = 20250731
const LAST_DAY = Date.UTC(2025, 6, 31)
const DAYS = 30
const DAY_MS = 86_400_000
/** Sunday first, as `getUTCDay` counts */
const WEEKDAY_LOAD = [0.3, 1, 1.05, 1.1, 1.05, 0.9, 0.35]
/** a retry loop in summarise on one day: the anomaly a spend review should find */
const SPIKE = { day: '2025-07-17', feature: 'summarise', factor: 4 }
const LATENCY: Record<Tier, { base: number, per_output_token: number }> = {
  economy: { base: 250, per_output_token: 8 },
  standard: { base: 400, per_output_token: 15 },
  premium: { base: 700, per_output_token: 30 }
}

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function generate (profile: readonly FeatureProfile[], seed: number): readonly UsageRecord[] {
  const rng = mulberry32(seed)
  const between = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1))
  const hash = () => [rng(), rng()].map((x) => Math.floor(x * 2 ** 32).toString(16).padStart(8, '0')).join('')
  const pick = (models: FeatureProfile['models']) => {
    let x = rng()
    for (const [name, weight] of models) if ((x -= weight) < 0) return name
    return models[models.length - 1][0] // weights that sum to a hair under 1
  }
  const pools = new Map(profile.map((f) => [f.feature, Array.from({ length: f.prompt_pool ?? 0 }, hash)]))

  const drafts: Array<Omit<UsageRecord, 'request_id'>> = []
  for (let d = 0; d < DAYS; d++) {
    const dayStart = LAST_DAY - (DAYS - 1 - d) * DAY_MS
    const day = new Date(dayStart).toISOString().slice(0, 10)
    // a team that grows about 1% a day, busy on weekdays
    const load = WEEKDAY_LOAD[new Date(dayStart).getUTCDay()] * (1 + 0.01 * d)
    for (const f of profile) {
      const spike = day === SPIKE.day && f.feature === SPIKE.feature ? SPIKE.factor : 1
      const n = Math.round(f.per_weekday * load * spike * (0.85 + 0.3 * rng()))
      for (let i = 0; i < n; i++) {
        const model = pick(f.models)
        const price = priceOf(model, PRICES_2025_07_01)
        const hour = rng() < 0.8 ? between(8, 18) : between(0, 23)
        const at = dayStart + ((hour * 60 + between(0, 59)) * 60 + between(0, 59)) * 1000
        const input = between(f.input[0], f.input[1])
        const output = between(f.output[0], f.output[1])
        const tokens: TokenCounts = f.max_cached > 0
          ? { input_tokens: input, output_tokens: output, cached_tokens: Math.floor(input * f.max_cached * rng()) }
          : { input_tokens: input, output_tokens: output }
        const pool = pools.get(f.feature)!
        const latency = LATENCY[price.tier]
        drafts.push({
          timestamp: new Date(at).toISOString(),
          provider: price.provider,
          model,
          ...tokens,
          cost_usd: roundTo(costOf(model, tokens, PRICES_2025_07_01), 6),
          latency_ms: Math.round(latency.base + output * latency.per_output_token + input * 0.02 + 200 * rng()),
          feature: f.feature,
          prompt_hash: pool.length ? pool[Math.floor(rng() * pool.length)] : hash()
        })
      }
    }
  }
  // ISO strings of one format sort chronologically; the sort is stable, so ties keep their order
  drafts.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0))
  return Object.freeze(drafts.map((r, i) => Object.freeze({ ...r, request_id: `req_${String(i + 1).padStart(5, '0')}` })))
}

const SAMPLES: Readonly<Record<SampleProfile, readonly UsageRecord[]>> = Object.freeze({
  team: generate(TEAM, SEED)
})
