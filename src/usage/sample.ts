import { createHash } from 'node:crypto'
import { roundTo } from '../tools/money.js'
import { costOf, priceOf, type Tier, type TokenCounts } from '../tools/prices.js'
import type { UsageRecord } from '../tools/usage-data.js'
import { mulberry32 } from './random.js'

export const USAGE_PROFILES = Object.freeze(['enterprise', 'team'] as const)
export type UsageProfile = typeof USAGE_PROFILES[number]

/** One kind of traffic: a feature calling a model. */
interface Stream {
  feature: string
  model: string
  /** requests on a full weekday, before growth and noise */
  per_weekday: number
  /** tokens per request, [min, max] */
  input: readonly [number, number]
  output: readonly [number, number]
  /** share of the input the provider already serves from its cache */
  cached?: number
  /** office hours, or a nightly job at 01:00–04:59 UTC every day */
  schedule: 'office' | 'nightly'
  /** load per weekday, Sunday first; WEEKDAY_LOAD when absent */
  weekday_load?: readonly number[]
  /** this many prompt templates (a long shared prefix each) repeat; absent: every prompt is new */
  prompts?: number
}

interface Profile {
  seed: number
  /** one record per stream and hour, carrying `requests`, instead of one per request */
  aggregate: boolean
  streams: readonly Stream[]
  spike: { feature: string, model: string, days: readonly string[], factor: number }
  /** prefix tokens each prompt template shares, by feature */
  shared_prefix_tokens: Readonly<Record<string, number>>
  /** what the verbose feature's answers need, in output tokens per request */
  needed_output_tokens: number
}

const LAST_DAY = Date.UTC(2025, 7, 31)
const DAYS = 30
const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
/** the traffic grows this much a day */
const GROWTH = 0.004
/** Sunday first, as `getUTCDay` counts */
const WEEKDAY_LOAD = Object.freeze([0.35, 1, 1.05, 1.1, 1.05, 0.95, 0.35])
const DEVELOPER_LOAD = Object.freeze([0.08, 1, 1.1, 1.1, 1.05, 0.85, 0.08])
/** share of an office day's requests in each UTC hour: Europe, then the Americas */
const OFFICE_HOURS = normalise([1.5, 1, 0.8, 0.8, 1, 1.5, 3, 5, 6.5, 7, 7, 6.5, 6.5, 7.5, 8, 8, 7.5, 6, 4.5, 3.5, 3, 2.5, 2, 1.7])
const NIGHTLY_HOURS = Object.freeze([1, 2, 3, 4])
const NIGHT_SHARE = normalise(Array.from({ length: 24 }, (_, h) => (NIGHTLY_HOURS.includes(h) ? 1 : 0)))
/** per-request latency: a base plus a time per output token and per 100 input tokens */
const LATENCY: Record<Tier, { base: number, per_output_token: number, per_100_input: number }> = {
  economy: { base: 300, per_output_token: 6, per_100_input: 1 },
  standard: { base: 600, per_output_token: 14, per_100_input: 2 },
  premium: { base: 1200, per_output_token: 28, per_100_input: 3 }
}

const PROFILES: Readonly<Record<UsageProfile, Profile>> = {
  enterprise: {
    seed: 4_500_031,
    aggregate: true,
    streams: [
      { feature: 'support-chat', model: 'claude-sonnet-4', per_weekday: 14_000, input: [6000, 11_000], output: [180, 450], schedule: 'office', prompts: 3 },
      { feature: 'support-chat', model: 'gpt-4.1', per_weekday: 6000, input: [5000, 9000], output: [150, 400], cached: 0.4, schedule: 'office', prompts: 2 },
      { feature: 'summarise', model: 'gpt-4.1', per_weekday: 4000, input: [12_000, 30_000], output: [500, 1200], cached: 0.1, schedule: 'office' },
      { feature: 'summarise', model: 'gemini-2.5-flash', per_weekday: 6000, input: [8000, 20_000], output: [400, 900], schedule: 'office' },
      { feature: 'classify', model: 'gpt-4.1-mini', per_weekday: 40_000, input: [800, 1600], output: [2, 12], schedule: 'office', prompts: 2 },
      { feature: 'classify', model: 'claude-opus-4', per_weekday: 8000, input: [800, 1600], output: [2, 12], schedule: 'office', prompts: 2 },
      { feature: 'extract', model: 'gemini-2.5-flash', per_weekday: 30_000, input: [3000, 7000], output: [300, 700], schedule: 'office' },
      { feature: 'code-review', model: 'claude-sonnet-4', per_weekday: 2400, input: [20_000, 45_000], output: [2800, 4000], schedule: 'office', weekday_load: DEVELOPER_LOAD },
      { feature: 'nightly-report', model: 'gpt-4.1', per_weekday: 1100, input: [60_000, 120_000], output: [2500, 5000], schedule: 'nightly' },
      { feature: 'nightly-report', model: 'gemini-2.5-pro', per_weekday: 550, input: [80_000, 150_000], output: [3000, 6000], schedule: 'nightly' }
    ],
    // a deploy put summarise into a retry loop for two days
    spike: { feature: 'summarise', model: 'gpt-4.1', days: ['2025-08-19', '2025-08-20'], factor: 6 },
    shared_prefix_tokens: { 'support-chat': 5000, classify: 700 },
    needed_output_tokens: 800
  },
  team: {
    seed: 20_250_831,
    aggregate: false,
    streams: [
      { feature: 'support-chat', model: 'claude-sonnet-4', per_weekday: 80, input: [5000, 9000], output: [150, 400], schedule: 'office', prompts: 2 },
      { feature: 'summarise', model: 'gpt-4.1', per_weekday: 25, input: [8000, 20_000], output: [400, 1000], cached: 0.1, schedule: 'office' },
      { feature: 'classify', model: 'gpt-4.1-mini', per_weekday: 60, input: [800, 1600], output: [2, 12], schedule: 'office', prompts: 1 },
      { feature: 'classify', model: 'claude-opus-4', per_weekday: 25, input: [800, 1600], output: [2, 12], schedule: 'office', prompts: 1 },
      { feature: 'extract', model: 'gemini-2.5-flash', per_weekday: 50, input: [3000, 7000], output: [300, 700], schedule: 'office' },
      { feature: 'code-review', model: 'claude-sonnet-4', per_weekday: 55, input: [20_000, 45_000], output: [2800, 4000], schedule: 'office', weekday_load: DEVELOPER_LOAD },
      { feature: 'nightly-report', model: 'gpt-4.1', per_weekday: 30, input: [60_000, 120_000], output: [2500, 5000], schedule: 'nightly' }
    ],
    spike: { feature: 'summarise', model: 'gpt-4.1', days: ['2025-08-13'], factor: 6 },
    shared_prefix_tokens: { 'support-chat': 4000, classify: 600 },
    needed_output_tokens: 800
  }
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** The prompt templates of a feature: stable hashes, so tests and tools can name them. */
const promptHashes = (profile: UsageProfile, feature: string, n: number) =>
  Array.from({ length: n }, (_, i) => createHash('sha256').update(`${profile}/${feature}/${i}`).digest('hex').slice(0, 16))

export interface SampleFacts {
  /** first and last UTC day, both included */
  period: { from: string, to: string, days: number }
  /** true: each record aggregates the requests of one feature and model in one hour (`requests`) */
  aggregated: boolean
  /** a feature and model whose traffic is `factor` times its usual on these UTC days */
  spike: { feature: string, model: string, days: readonly string[], factor: number }
  /**
   * Traffic whose prompts share a long prefix: the same few prompt_hash values over and over.
   * `cached_share` is the share of input the provider already serves from its cache (0: none).
   */
  repeated_prompts: ReadonlyArray<{ feature: string, model: string, prompt_hashes: readonly string[], shared_prefix_tokens: number, cached_share: number }>
  /** latency-insensitive traffic that runs only at these UTC hours, every day */
  batchable: { feature: string, models: readonly string[], hours_utc: readonly number[] }
  /** a premium model doing a simple task that an economy model does for the rest of the feature */
  right_sizing: { feature: string, model: string, tier: Tier, cheaper_model: string }
  /** answers far longer than needed */
  verbose_output: { feature: string, model: string, output_tokens_per_request: readonly [number, number], needed_output_tokens: number }
  /** load per weekday, Sunday first, of office-hours features (code-review: DEVELOPER_LOAD) */
  weekday_load: readonly number[]
}

function factsOf (name: UsageProfile): SampleFacts {
  const p = PROFILES[name]
  const streams = (feature: string) => p.streams.filter((s) => s.feature === feature)
  const review = streams('code-review')[0]
  const classify = streams('classify')
  return {
    period: { from: day(LAST_DAY - (DAYS - 1) * DAY_MS), to: day(LAST_DAY), days: DAYS },
    aggregated: p.aggregate,
    spike: p.spike,
    repeated_prompts: p.streams.filter((s) => s.prompts).map((s) => ({
      feature: s.feature,
      model: s.model,
      prompt_hashes: promptHashes(name, s.feature, s.prompts!),
      shared_prefix_tokens: p.shared_prefix_tokens[s.feature],
      cached_share: s.cached ?? 0
    })),
    batchable: { feature: 'nightly-report', models: streams('nightly-report').map((s) => s.model), hours_utc: NIGHTLY_HOURS },
    right_sizing: {
      feature: 'classify',
      model: classify.find((s) => priceOf(s.model).tier === 'premium')!.model,
      tier: 'premium',
      cheaper_model: classify.find((s) => priceOf(s.model).tier === 'economy')!.model
    },
    verbose_output: { feature: review.feature, model: review.model, output_tokens_per_request: review.output, needed_output_tokens: p.needed_output_tokens },
    weekday_load: WEEKDAY_LOAD
  }
}

/** What each sample profile was made with, for tests and for checking what the analysis finds. */
export const SAMPLE_FACTS: Readonly<Record<UsageProfile, SampleFacts>> = Object.freeze({
  enterprise: factsOf('enterprise'),
  team: factsOf('team')
})

// a memo of a pure function: each profile is generated once, on first use
const built: Partial<Record<UsageProfile, readonly UsageRecord[]>> = {}

/**
 * The realistic, deterministic usage of a profile over the 30 days to 2025-08-31, oldest first:
 * 'enterprise' (about $45k, hourly aggregates) or 'team' (a few hundred dollars, one record per request).
 */
export function sampleRecords (profile: UsageProfile): readonly UsageRecord[] {
  return (built[profile] ??= generateSample(profile))
}

/** sampleRecords without the memo: a fresh, equal copy each call */
export function generateSample (name: UsageProfile): readonly UsageRecord[] {
  const p = PROFILES[name]
  const rng = mulberry32(p.seed)
  const between = (lo: number, hi: number) => lo + (hi - lo) * rng()
  const pools = new Map(p.streams.map((s) => [s, promptHashes(name, s.feature, s.prompts ?? 0)]))
  const drafts: Array<{ at: number, order: number, record: Omit<UsageRecord, 'request_id'> }> = []

  const emit = (s: Stream, at: number, requests: number, order: number) => {
    const price = priceOf(s.model)
    const input = between(...s.input)
    const output = between(...s.output)
    const tokens: TokenCounts = {
      input_tokens: Math.round(input * requests),
      output_tokens: Math.round(output * requests),
      ...(s.cached !== undefined && { cached_tokens: Math.round(input * requests * s.cached * between(0.7, 1.3)) })
    }
    const latency = LATENCY[price.tier]
    const pool = pools.get(s)!
    drafts.push({
      at,
      order,
      record: {
        timestamp: new Date(at).toISOString(),
        provider: price.provider,
        model: s.model,
        ...tokens,
        cost_usd: roundTo(costOf(s.model, { ...tokens, requests }), 6),
        latency_ms: Math.round(latency.base + output * latency.per_output_token + (input / 100) * latency.per_100_input + between(0, 150)),
        feature: s.feature,
        ...(pool.length > 0 && { prompt_hash: pool[Math.floor(rng() * pool.length)] }),
        ...(p.aggregate && { requests })
      }
    })
  }

  for (let d = 0; d < DAYS; d++) {
    const dayStart = LAST_DAY - (DAYS - 1 - d) * DAY_MS
    const weekday = new Date(dayStart).getUTCDay()
    p.streams.forEach((s, order) => {
      const load = s.schedule === 'nightly' ? 1 : (s.weekday_load ?? WEEKDAY_LOAD)[weekday]
      const spike = s.feature === p.spike.feature && s.model === p.spike.model && p.spike.days.includes(day(dayStart)) ? p.spike.factor : 1
      const perDay = s.per_weekday * load * (1 + GROWTH * d) * spike * between(0.92, 1.08)
      const hours = s.schedule === 'nightly' ? NIGHT_SHARE : OFFICE_HOURS
      if (p.aggregate) {
        hours.forEach((share, h) => {
          const n = Math.round(perDay * share * between(0.9, 1.1))
          if (n > 0) emit(s, dayStart + h * HOUR_MS + Math.floor(rng() * HOUR_MS / 1000) * 1000, n, order)
        })
      } else {
        const n = Math.round(perDay)
        for (let i = 0; i < n; i++) {
          const h = pickIndex(hours, rng())
          emit(s, dayStart + h * HOUR_MS + Math.floor(rng() * HOUR_MS / 1000) * 1000, 1, order)
        }
      }
    })
  }
  drafts.sort((a, b) => a.at - b.at || a.order - b.order)
  const width = String(drafts.length).length
  return Object.freeze(drafts.map(({ record }, i) => Object.freeze({ ...record, request_id: `${name}-${String(i + 1).padStart(width, '0')}` })))
}

function normalise (weights: readonly number[]): readonly number[] {
  const sum = weights.reduce((a, b) => a + b, 0)
  return Object.freeze(weights.map((w) => w / sum))
}

/** the index whose cumulative share first exceeds x */
function pickIndex (shares: readonly number[], x: number): number {
  for (let i = 0; i < shares.length; i++) if ((x -= shares[i]) < 0) return i
  return shares.findLastIndex((s) => s > 0)
}
