import { defineTool, type ToolContext, type ToolDefinition } from '../core/registry.js'
import { detectAnomalies, type AnomalyReport } from './anomalies.js'
import { batching } from './batching.js'
import { forecastSpend, type Forecast } from './forecast.js'
import { outputCaps } from './output-caps.js'
import { promptCaching } from './prompt-caching.js'
import type { Recommendations } from './recommendation.js'
import { rightsizing } from './rightsizing.js'
import type { UsageSource } from './usage-data.js'
import { inRange, type DayRange } from './usage-period.js'
import { usageProfile, type UsageProfile } from './usage-profile.js'
import { GROUP_BY, summariseUsage, type GroupBy, type UsageSummary } from './usage-stats.js'

const DAY = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }
/** an optional inclusive range of UTC days that every analysis below can be narrowed to */
const RANGE = {
  from: { ...DAY, description: 'first day to include, YYYY-MM-DD (UTC)' },
  to: { ...DAY, description: 'last day to include, YYYY-MM-DD (UTC)' }
}
const NAMES = { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100, uniqueItems: true }

const schema = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', properties, required, additionalProperties: false })

async function read (source: UsageSource, ctx: ToolContext, range: DayRange, what: string) {
  const records = inRange(await source(ctx), range)
  ctx.progress(`${what} over ${records.length} usage records`, 0.5)
  return records
}

export interface SpendInPeriod extends UsageSummary { from: string, to: string }

/** The analysis tools over one source of usage records; each reads the records of `ctx.user_id`. */
export function createAnalysisTools (source: UsageSource): ToolDefinition[] {
  return [
    defineTool<Record<string, never>, UsageProfile>({
      name: 'usage_profile',
      description: 'What the usage data holds (records, days, models, providers, features, monthly run rate) and which analyses it can support.',
      input_schema: schema({}),
      async execute (_args, ctx) { return usageProfile(await read(source, ctx, {}, 'profiling')) }
    }),
    defineTool<DayRange & { group_by?: GroupBy }, SpendInPeriod>({
      name: 'spend_in_period',
      description: 'Spend, requests and tokens between two days (inclusive), with a breakdown by model, provider, feature or day.',
      input_schema: schema({ ...RANGE, group_by: { type: 'string', enum: [...GROUP_BY], default: 'model' } }, ['from', 'to']),
      async execute (args, ctx) {
        const records = await read(source, ctx, args, `summarising ${args.from} to ${args.to}`)
        return { from: args.from!, to: args.to!, ...summariseUsage(records, args.group_by ?? 'model') }
      }
    }),
    defineTool<DayRange & { threshold?: number }, AnomalyReport>({
      name: 'detect_anomalies',
      description: 'Spikes in daily spend per model and per feature by robust statistics (median and MAD): the days, cost against baseline and robust z-score of each.',
      input_schema: schema({ ...RANGE, threshold: { type: 'number', exclusiveMinimum: 0, maximum: 100, default: 3.5 } }),
      async execute (args, ctx) {
        return detectAnomalies(await read(source, ctx, args, 'looking for spikes'), { threshold: args.threshold })
      }
    }),
    defineTool<{ horizons?: number[] }, Forecast>({
      name: 'forecast_spend',
      description: 'Spend forecast for the coming days (30 and 90 by default): linear trend plus day-of-week effects on daily spend, with a 95% interval.',
      input_schema: schema({
        horizons: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 365 }, minItems: 1, maxItems: 4, default: [30, 90] }
      }),
      async execute (args, ctx) {
        return forecastSpend(await read(source, ctx, {}, 'fitting trend and weekly cycle'), args.horizons ?? [30, 90])
      }
    }),
    defineTool<DayRange & { simple_features?: string[] }, Recommendations>({
      name: 'recommend_rightsizing',
      description: 'Traffic on a higher model tier than its feature needs: simple tasks moved to the cheapest tier (tiering), and top-tier requests of features that mostly run lower moved down (routing), with monthly savings.',
      input_schema: schema({ ...RANGE, simple_features: NAMES }),
      async execute (args, ctx) {
        return rightsizing(await read(source, ctx, args, 'pricing cheaper models'), { simple_features: args.simple_features })
      }
    }),
    defineTool<DayRange & { min_prompt_tokens?: number }, Recommendations>({
      name: 'recommend_caching',
      description: 'Repeated prompts (same model and prompt_hash) whose shared prefix could be read from the provider cache at the cached-input price, with monthly savings.',
      input_schema: schema({ ...RANGE, min_prompt_tokens: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 1024 } }),
      async execute (args, ctx) {
        return promptCaching(await read(source, ctx, args, 'finding repeated prompts'), { min_prompt_tokens: args.min_prompt_tokens })
      }
    }),
    defineTool<DayRange & { features?: string[] }, Recommendations>({
      name: 'recommend_batching',
      description: 'Latency-insensitive features (named nightly, batch, report, offline… or listed) moved to the providers\' batch APIs at their discount, with monthly savings.',
      input_schema: schema({ ...RANGE, features: NAMES }),
      async execute (args, ctx) {
        return batching(await read(source, ctx, args, 'finding batchable work'), { features: args.features })
      }
    }),
    defineTool<DayRange & { min_requests?: number, ratio?: number }, Recommendations>({
      name: 'recommend_output_caps',
      description: 'Features whose longest outputs run far above their median (p95 ≥ ratio × median): the saving of capping max_tokens at their p90.',
      input_schema: schema({
        ...RANGE,
        min_requests: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 20 },
        ratio: { type: 'number', minimum: 1, maximum: 100, default: 2 }
      }),
      async execute (args, ctx) {
        return outputCaps(await read(source, ctx, args, 'measuring output lengths'), { min_requests: args.min_requests, ratio: args.ratio })
      }
    })
  ]
}
