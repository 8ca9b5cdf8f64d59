import { defineTool } from '../core/registry.js'
import type { UsageSource } from './usage-data.js'
import { topCostDrivers, type CostDrivers } from './usage-stats.js'

export interface TopCostDriversArgs { limit?: number }

export const createTopCostDriversTool = (source: UsageSource) => defineTool<TopCostDriversArgs, CostDrivers>({
  name: 'top_cost_drivers',
  description: 'The (model, feature) pairs that cost the most, each with its cost, requests, average cost per request and share of total spend.',
  input_schema: {
    type: 'object',
    properties: { limit: { type: 'integer', minimum: 1, maximum: 20, default: 5 } },
    additionalProperties: false
  },
  async execute (args, ctx) {
    const records = await source(ctx)
    ctx.progress(`ranking ${records.length} usage records by model and feature`, 0.5)
    return topCostDrivers(records, args.limit ?? 5)
  }
})
