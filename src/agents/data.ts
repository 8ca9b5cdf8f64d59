import { defineAgent } from '../core/registry.js'
import type { RangedSummary } from '../tools/analysis-tools.js'
import type { BreakdownRow, CostDriver, CostDrivers, Period } from '../tools/usage-stats.js'
import { usd } from './format.js'
import { FOCUS_SCHEMA, RANGE_SCHEMA, type DayRange, type Focus } from './schemas.js'

const DRIVERS = 5

export interface DataResult {
  /** the days asked about, when a range was given; the first and last request in them */
  range?: DayRange
  period: Period
  total_cost_usd: number
  total_requests: number
  total_input_tokens: number
  total_output_tokens: number
  by_model: BreakdownRow[]
  by_provider: BreakdownRow[]
  by_feature: BreakdownRow[]
  top_drivers: CostDriver[]
  /** the rows of the models, providers and features the question named */
  focus: { models: BreakdownRow[], providers: BreakdownRow[], features: BreakdownRow[] }
}

export const data = defineAgent<{ range?: DayRange, focus?: Focus }, DataResult>({
  name: 'data',
  description: 'Spend summary of the user\'s LLM usage, over the days asked about when a range is given: totals, breakdowns by model, provider and feature, and the top cost drivers.',
  input_schema: { type: 'object', properties: { range: RANGE_SCHEMA, focus: FOCUS_SCHEMA } },
  async run (ctx, input) {
    const range = input.range ? { from: input.range.from, to: input.range.to } : {}
    ctx.think(`Summarising spend by model, provider and feature, and the top ${DRIVERS} cost drivers` +
      (input.range ? `, from ${input.range.from} to ${input.range.to}.` : ', over all the data.'))
    const byModel = await ctx.call_tool<RangedSummary>('usage_summary', { group_by: 'model', ...range })
    const byProvider = await ctx.call_tool<RangedSummary>('usage_summary', { group_by: 'provider', ...range })
    const byFeature = await ctx.call_tool<RangedSummary>('usage_summary', { group_by: 'feature', ...range })
    const drivers = await ctx.call_tool<CostDrivers>('top_cost_drivers', { limit: DRIVERS, ...range })
    const pick = (rows: BreakdownRow[], names: string[] = []) => rows.filter((r) => names.includes(r.key))
    const top = drivers.drivers[0]
    if (top) ctx.think(`Total ${usd(byModel.total_cost_usd)}; the largest driver is ${top.model} on ${top.feature} at ${usd(top.cost_usd)}.`)
    return {
      ...(input.range && { range: input.range }),
      period: byModel.period,
      total_cost_usd: byModel.total_cost_usd,
      total_requests: byModel.total_requests,
      total_input_tokens: byModel.total_input_tokens,
      total_output_tokens: byModel.total_output_tokens,
      by_model: byModel.breakdown,
      by_provider: byProvider.breakdown,
      by_feature: byFeature.breakdown,
      top_drivers: drivers.drivers,
      focus: {
        models: pick(byModel.breakdown, input.focus?.models),
        providers: pick(byProvider.breakdown, input.focus?.providers),
        features: pick(byFeature.breakdown, input.focus?.features)
      }
    }
  }
})
