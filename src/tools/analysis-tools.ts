import { defineTool, type ToolDefinition } from '../core/registry.js'
import type { AnomalyReport } from './anomalies.js'
import type { Analyst } from './analyst.js'
import type { Forecast } from './forecast.js'
import type { Recommendations } from './recommendation.js'
import type { RetryStormReport } from './retry-storms.js'
import type { DayRange } from './usage-period.js'
import type { UsageProfile } from './usage-profile.js'
import { GROUP_BY, type CostDrivers, type GroupBy, type UsageSummary } from './usage-stats.js'

const DAY = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }
/** an optional inclusive range of UTC days that every analysis below can be narrowed to */
const RANGE = {
  from: { ...DAY, description: 'first day to include, YYYY-MM-DD (UTC)' },
  to: { ...DAY, description: 'last day to include, YYYY-MM-DD (UTC)' }
}
const WINDOW = 'Savings are read from the last 28 days of the data unless from/to say otherwise, and stated per 30-day month.'
const NAMES = { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100, uniqueItems: true }

const schema = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', properties, required, additionalProperties: false })

export interface SpendInPeriod extends UsageSummary { from: string, to: string }
export type RangedSummary = UsageSummary & { from?: string | null, to?: string | null }

/** The pack's tools; each runs its analysis through `analyst`, over the records of `ctx.user_id`. */
export function createAnalysisTools (analyst: Analyst): ToolDefinition[] {
  const tool = <A, R>(name: Parameters<Analyst['run']>[1], description: string, inputSchema: Record<string, unknown>) =>
    defineTool<A, R>({
      name,
      description,
      input_schema: inputSchema,
      async execute (args, ctx) { return await analyst.run(ctx, name, args as Record<string, unknown>) as R }
    })
  return [
    tool<{ group_by?: GroupBy } & DayRange, RangedSummary>('usage_summary',
      'Total LLM spend, requests and tokens, optionally between two days (inclusive), with a breakdown by model, provider, feature or day, largest cost first.',
      schema({ group_by: { type: 'string', enum: [...GROUP_BY], default: 'model' }, ...RANGE })),
    tool<{ limit?: number } & DayRange, CostDrivers>('top_cost_drivers',
      'The (model, feature) pairs that cost the most, optionally between two days, each with its cost, requests, average cost per request and share of spend.',
      schema({ limit: { type: 'integer', minimum: 1, maximum: 20, default: 5 }, ...RANGE })),
    tool<Record<string, never>, UsageProfile>('usage_profile',
      'What the usage data holds (records, days, models, providers, features, spend the catalogue cannot price, monthly run rate of the last 28 days) and which analyses it can support.',
      schema({})),
    tool<DayRange & { group_by?: GroupBy }, SpendInPeriod>('spend_in_period',
      'Spend, requests and tokens between two days (inclusive), with a breakdown by model, provider, feature or day.',
      schema({ ...RANGE, group_by: { type: 'string', enum: [...GROUP_BY], default: 'model' } }, ['from', 'to'])),
    tool<DayRange & { threshold?: number }, AnomalyReport>('detect_anomalies',
      'Spikes in daily spend per model and per feature, each day measured against the same weekday, with what drove each: request volume, model mix, tokens per request, repeated prompts.',
      schema({ ...RANGE, threshold: { type: 'number', exclusiveMinimum: 0, maximum: 100, default: 3.5 } })),
    tool<{ horizons?: number[], level?: number }, Forecast>('forecast_spend',
      'Spend forecast for the coming days (30 and 90 by default): growth and weekly cycle fitted to daily spend, with an interval whose coverage is checked by rolling-origin backtests.',
      schema({
        horizons: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 365 }, minItems: 1, maxItems: 4, default: [30, 90] },
        level: { type: 'number', enum: [0.8, 0.9, 0.95], default: 0.9 }
      })),
    tool<DayRange & { min_requests?: number, gap_s?: number }, Omit<RetryStormReport, 'request_ids'>>('find_retry_storms',
      'Bursts of the same prompt sent again and again within seconds (a client retrying): their requests and what the retries cost. ' + WINDOW,
      schema({ ...RANGE, min_requests: { type: 'integer', minimum: 2, maximum: 100_000, default: 20 }, gap_s: { type: 'integer', minimum: 1, maximum: 3600, default: 120 } })),
    tool<DayRange & { simple_features?: string[] }, Recommendations>('recommend_rightsizing',
      'Traffic on a higher model tier than its feature needs, moved to current (not legacy or deprecated) cheaper models, each move flagged with the evaluation it needs. ' + WINDOW,
      schema({ ...RANGE, simple_features: NAMES })),
    tool<DayRange & { min_prompt_tokens?: number }, Recommendations>('recommend_caching',
      'Repeated prompt prefixes replayed on their real request times under each provider\'s cache rules (minimum prefix, TTL, write surcharge, read price), retry storms left out. ' + WINDOW,
      schema({ ...RANGE, min_prompt_tokens: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 } })),
    tool<DayRange & { features?: string[] }, Recommendations>('recommend_batching',
      'Work nobody waits on, found by its traffic pattern (a daily schedule, at night or on weekends as on weekdays) or named by the caller, moved to the batch APIs at their discount. ' + WINDOW,
      schema({ ...RANGE, features: NAMES })),
    tool<DayRange & { min_requests?: number, ratio?: number }, Recommendations>('recommend_output_caps',
      'Features whose longest outputs run far above their median (p95 ≥ ratio × median), capped at their p90; never on reasoning models or interactive features. ' + WINDOW,
      schema({
        ...RANGE,
        min_requests: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20 },
        ratio: { type: 'number', minimum: 1, maximum: 100, default: 2 }
      }))
  ]
}
