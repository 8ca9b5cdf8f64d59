import { defineAgent } from '../core/registry.js'
import type { AnomalyReport, Spike } from '../tools/anomalies.js'
import { usd } from './format.js'
import { RANGE_SCHEMA, type DayRange } from './schemas.js'

export interface AnomalyResult extends AnomalyReport {
  /** every day with a spike somewhere, oldest first */
  spike_days: string[]
  /** the range the question asked about, and the spikes with a day in it */
  asked?: { range: DayRange, spikes: Spike[] }
}

export const anomaly = defineAgent<{ range?: DayRange }, AnomalyResult>({
  name: 'anomaly',
  description: 'Finds spikes in daily spend per model and per feature with robust statistics, with the days, cost against baseline and robust z-score of each; a range picks out the spikes within it.',
  input_schema: { type: 'object', properties: { range: RANGE_SCHEMA } },
  async run (ctx, input) {
    // the baseline needs the whole history: a range only picks which spikes to point at
    ctx.think('Checking the daily spend of every model and feature against its own median, over the whole history.')
    const report = await ctx.call_tool<AnomalyReport>('detect_anomalies', {})
    const first = report.anomalies[0]
    ctx.think(report.insufficient
      ? `Not enough data: ${report.insufficient}.`
      : first
        ? `${report.anomalies.length} spike(s); the largest: ${first.key} on ${first.days.join(', ')}, ${usd(first.cost_usd)} against a baseline of ${usd(first.baseline_usd)}.`
        : `No spike in ${report.series_checked} daily series.`)
    const range = input.range
    return {
      ...report,
      spike_days: [...new Set(report.anomalies.flatMap((a) => a.days))].sort(),
      ...(range && { asked: { range, spikes: report.anomalies.filter((a) => a.days.some((d) => d >= range.from && d <= range.to)) } })
    }
  }
})
