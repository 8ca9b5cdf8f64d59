import { defineAgent } from '../core/registry.js'
import type { SpendInPeriod } from '../tools/analysis-tools.js'
import type { BreakdownRow, CostDriver, CostDrivers, Period, UsageSummary } from '../tools/usage-stats.js'
import { usd } from './format.js'
import { FOCUS_SCHEMA, RANGE_SCHEMA, type DayRange, type Focus } from './schemas.js'

const DRIVERS = 5

export interface DataResult {
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
  /** spend within the time range the question named */
  range?: SpendInPeriod
}

export const data = defineAgent<{ range?: DayRange, focus?: Focus }, DataResult>({
  name: 'data',
  description: 'Spend summary of the user\'s LLM usage: totals, breakdowns by model, provider and feature, the top cost drivers, and the spend of a time range when one is given.',
  input_schema: { type: 'object', properties: { range: RANGE_SCHEMA, focus: FOCUS_SCHEMA } },
  async run (ctx, input) {
    ctx.think(`Summarising spend by model, provider and feature, and the top ${DRIVERS} cost drivers` +
      (input.range ? `, then ${input.range.from} to ${input.range.to} on its own.` : '.'))
    const byModel = await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'model' })
    const byProvider = await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'provider' })
    const byFeature = await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'feature' })
    const drivers = await ctx.call_tool<CostDrivers>('top_cost_drivers', { limit: DRIVERS })
    const range = input.range ? await ctx.call_tool<SpendInPeriod>('spend_in_period', { ...input.range, group_by: 'model' }) : undefined
    const pick = (rows: BreakdownRow[], names: string[] = []) => rows.filter((r) => names.includes(r.key))
    const top = drivers.drivers[0]
    if (top) ctx.think(`Total ${usd(byModel.total_cost_usd)}; the largest driver is ${top.model} on ${top.feature} at ${usd(top.cost_usd)}.`)
    return {
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
      },
      ...(range && { range })
    }
  }
})
