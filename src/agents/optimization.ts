import { defineAgent } from '../core/registry.js'
import { bySavings, type Recommendation, type Recommendations } from '../tools/recommendation.js'
import type { UsageWindow } from '../tools/usage-period.js'
import type { UsageProfile } from '../tools/usage-profile.js'
import { usd } from './format.js'
import { RANGE_SCHEMA, type DayRange } from './schemas.js'

/** Every recommendation tool of the pack, each asked with its defaults; retry storms first, since the others leave them out. */
export const RECOMMENDATION_TOOLS = Object.freeze(['find_retry_storms', 'recommend_rightsizing', 'recommend_caching', 'recommend_batching', 'recommend_output_caps'])

export interface OptimizationResult {
  /** the days the savings are read from */
  period: UsageWindow | null
  monthly_spend_usd: number
  /** largest monthly savings first */
  recommendations: Recommendation[]
  /** how many recommendations each tool gave */
  found_by: Record<string, number>
  /** spend no recommendation can price */
  unpriced: UsageProfile['unpriced']
}

const NONE: UsageProfile['unpriced'] = { models: [], cost_usd: 0, share: 0 }

export const optimization = defineAgent<{ range?: DayRange, unpriced?: UsageProfile['unpriced'] }, OptimizationResult>({
  name: 'optimization',
  description: 'Looks for savings in the user\'s LLM usage with every recommendation tool (retry storms, model right-sizing and routing, prompt caching replayed under each provider\'s rules, batching by traffic pattern, output caps) and ranks what they find by monthly savings, read from the last 28 days unless a range is given.',
  input_schema: { type: 'object', properties: { range: RANGE_SCHEMA, unpriced: { type: 'object' } } },
  async run (ctx, input) {
    ctx.think(`Running ${RECOMMENDATION_TOOLS.join(', ')}.`)
    const args = input.range ? { ...input.range } : {}
    const results = await Promise.all(RECOMMENDATION_TOOLS.map((name) => ctx.call_tool<Recommendations>(name, args)))
    const recommendations = bySavings(results.flatMap((r) => r.recommendations))
    const best = recommendations[0]
    ctx.think(best
      ? `${recommendations.length} recommendation(s); the largest: ${best.title}, ${usd(best.monthly_savings_usd)} a month.`
      : 'No recommendation: nothing in the data points to a saving that holds under the providers\' billing rules.')
    return {
      period: results[0].period,
      monthly_spend_usd: results[0].monthly_spend_usd,
      recommendations,
      found_by: Object.fromEntries(RECOMMENDATION_TOOLS.map((name, i) => [name, results[i].recommendations.length])),
      unpriced: input.unpriced ?? NONE
    }
  }
})
