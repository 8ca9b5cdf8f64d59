import { detectAnomalies } from './anomalies.js'
import { batching } from './batching.js'
import { forecastSpend } from './forecast.js'
import { outputCaps } from './output-caps.js'
import { PRICES, type PriceTable } from './prices.js'
import { promptCaching } from './prompt-caching.js'
import { recommendations, type Recommendations } from './recommendation.js'
import { findRetryStorms } from './retry-storms.js'
import { rightsizing } from './rightsizing.js'
import type { UsageRecord } from './usage-data.js'
import { inRange, recentRecords, type DayRange } from './usage-period.js'
import { usageProfile } from './usage-profile.js'
import { summariseUsage, topCostDrivers, type GroupBy } from './usage-stats.js'

/** What every analysis may read besides the records. */
export interface AnalysisEnv { prices: PriceTable }

export const DEFAULT_ENV: AnalysisEnv = Object.freeze({ prices: PRICES })

type Args = Record<string, any>
const hasRange = (a: Args) => !!(a.from || a.to)

// a run's snapshot is one array: what every tool derives from it is worked out once
const recentMemo = new WeakMap<readonly UsageRecord[], readonly UsageRecord[]>()
const stormMemo = new WeakMap<readonly UsageRecord[], ReturnType<typeof findRetryStorms>>()

/** A range asked for, else the recent window every monthly figure is read from. */
function windowed (records: readonly UsageRecord[], args: Args): readonly UsageRecord[] {
  if (hasRange(args)) return inRange(records, args as DayRange)
  let recent = recentMemo.get(records)
  if (!recent) recentMemo.set(records, (recent = recentRecords(records)?.records ?? records))
  return recent
}

function storms (records: readonly UsageRecord[], args: Args = {}): ReturnType<typeof findRetryStorms> {
  if (args.min_requests !== undefined || args.gap_s !== undefined) return findRetryStorms(records, { min_requests: args.min_requests, gap_s: args.gap_s })
  let found = stormMemo.get(records)
  if (!found) stormMemo.set(records, (found = findRetryStorms(records)))
  return found
}

/** A recommendation tool's answer once retry storms are taken out of the traffic it prices. */
function withoutStorms (records: readonly UsageRecord[], run: (rows: readonly UsageRecord[], exclude: ReadonlySet<string>) => Recommendations): Recommendations {
  return run(records, new Set(storms(records).request_ids))
}

/**
 * Every analysis of the pack, by tool name: a pure function of the user's records (one snapshot
 * per run), the tool's arguments and the environment. They run in the calling thread or in a
 * worker alike.
 */
export const ANALYSES = {
  usage_profile: (records: readonly UsageRecord[], _args: Args, env: AnalysisEnv) => usageProfile(records, env.prices),
  usage_summary: (records: readonly UsageRecord[], args: Args) => {
    const rows = inRange(records, args as DayRange)
    return { ...(hasRange(args) && { from: args.from ?? null, to: args.to ?? null }), ...summariseUsage(rows, (args.group_by ?? 'model') as GroupBy) }
  },
  top_cost_drivers: (records: readonly UsageRecord[], args: Args) => topCostDrivers(inRange(records, args as DayRange), args.limit ?? 5),
  spend_in_period: (records: readonly UsageRecord[], args: Args) =>
    ({ from: args.from, to: args.to, ...summariseUsage(inRange(records, args as DayRange), (args.group_by ?? 'model') as GroupBy) }),
  detect_anomalies: (records: readonly UsageRecord[], args: Args) => detectAnomalies(inRange(records, args as DayRange), { threshold: args.threshold }),
  forecast_spend: (records: readonly UsageRecord[], args: Args) => forecastSpend(records, args.horizons ?? [30, 90], { level: args.level }),
  find_retry_storms: (records: readonly UsageRecord[], args: Args) => {
    const { request_ids: _ids, ...report } = storms(windowed(records, args), args)
    return report
  },
  recommend_rightsizing: (records: readonly UsageRecord[], args: Args, env: AnalysisEnv) =>
    rightsizing(windowed(records, args), { simple_features: args.simple_features, table: env.prices }),
  recommend_caching: (records: readonly UsageRecord[], args: Args, env: AnalysisEnv) =>
    withoutStorms(windowed(records, args), (rows, exclude) => promptCaching(rows, { min_prompt_tokens: args.min_prompt_tokens, table: env.prices, exclude })),
  recommend_batching: (records: readonly UsageRecord[], args: Args, env: AnalysisEnv) =>
    batching(windowed(records, args), { features: args.features, table: env.prices }),
  recommend_output_caps: (records: readonly UsageRecord[], args: Args, env: AnalysisEnv) =>
    outputCaps(windowed(records, args), { min_requests: args.min_requests, ratio: args.ratio, table: env.prices })
} satisfies Record<string, (records: readonly UsageRecord[], args: Args, env: AnalysisEnv) => unknown>

export type AnalysisName = keyof typeof ANALYSES
export type AnalysisResult<N extends AnalysisName> = ReturnType<typeof ANALYSES[N]>

export const emptyRecommendations = () => recommendations(null, 0, [])
