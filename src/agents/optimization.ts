import { defineAgent } from '../core/registry.js'
import { bySavings, type Recommendation, type Recommendations } from '../tools/recommendation.js'
import type { UsageWindow } from '../tools/usage-period.js'
import { usd } from './format.js'
import { RANGE_SCHEMA, type DayRange } from './schemas.js'

/** Every recommendation tool of the pack, each asked with its defaults. */
export const RECOMMENDATION_TOOLS = Object.freeze(['recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'])

export interface OptimizationResult {
  period: UsageWindow | null
  monthly_spend_usd: number
  /** largest monthly savings first */
  recommendations: Recommendation[]
  /** how many recommendations each tool gave */
  found_by: Record<string, number>
}

export const optimization = defineAgent<{ range?: DayRange }, OptimizationResult>({
  name: 'optimization',
  description: 'Looks for savings in the user\'s LLM usage with every recommendation tool (model right-sizing and routing, prompt caching, batching, output caps) and ranks what they find by monthly savings.',
  input_schema: { type: 'object', properties: { range: RANGE_SCHEMA } },
  async run (ctx, input) {
    ctx.think(`Running ${RECOMMENDATION_TOOLS.join(', ')}.`)
    const args = input.range ? { ...input.range } : {}
    const results = await Promise.all(RECOMMENDATION_TOOLS.map((name) => ctx.call_tool<Recommendations>(name, args)))
    const recommendations = bySavings(results.flatMap((r) => r.recommendations))
    const best = recommendations[0]
    ctx.think(best
      ? `${recommendations.length} recommendation(s); the largest: ${best.title}, ${usd(best.monthly_savings_usd)} a month.`
      : 'No recommendation: nothing in the data points to a saving.')
    return {
      period: results[0].period,
      monthly_spend_usd: results[0].monthly_spend_usd,
      recommendations,
      found_by: Object.fromEntries(RECOMMENDATION_TOOLS.map((name, i) => [name, results[i].recommendations.length]))
    }
  }
})
