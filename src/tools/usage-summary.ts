import { defineTool } from '../core/registry.js'
import type { UsageSource } from './usage-data.js'
import { GROUP_BY, summariseUsage, type GroupBy, type UsageSummary } from './usage-stats.js'

export interface UsageSummaryArgs { group_by?: GroupBy }

export const createUsageSummaryTool = (source: UsageSource) => defineTool<UsageSummaryArgs, UsageSummary>({
  name: 'usage_summary',
  description: 'Total LLM spend, requests and tokens over the usage records, with a breakdown by model, provider, feature or day, largest cost first.',
  input_schema: {
    type: 'object',
    properties: { group_by: { type: 'string', enum: [...GROUP_BY], default: 'model' } },
    additionalProperties: false
  },
  async execute (args, ctx) {
    const groupBy = args.group_by ?? 'model'
    const records = await source(ctx)
    ctx.progress(`summarising ${records.length} usage records by ${groupBy}`, 0.5)
    return summariseUsage(records, groupBy)
  }
})
