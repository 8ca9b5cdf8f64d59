import { defineAgent } from '../core/registry.js'
import type { BreakdownRow, CostDriver, CostDrivers, UsageSummary } from '../tools/usage-stats.js'
import { count, pct, usd, usdFine } from './format.js'

const DRIVERS = 5
const TOP_MODELS = 5
const PROVIDER_WORDS: Record<string, RegExp> = {
  openai: /\b(openai|gpt)/i,
  anthropic: /\b(anthropic|claude)/i,
  google: /\b(google|gemini)/i
}

export interface SupervisorResult {
  answer: string
  total_cost_usd: number
  top_models: Array<{ model: string, cost_usd: number, requests: number, share: number }>
  top_drivers: CostDriver[]
}

export const supervisor = defineAgent<Record<string, unknown>, SupervisorResult>({
  name: 'supervisor',
  description: 'Answers questions about the team\'s LLM spend: totals, spend by model, the biggest cost drivers, and a focus on the providers, models or features the question names.',
  input_schema: { type: 'object' },
  async run (ctx) {
    const askedFeatures = /\bfeatures?\b/i.test(ctx.content)
    const askedProviders = Object.keys(PROVIDER_WORDS).filter((p) => PROVIDER_WORDS[p].test(ctx.content))
    ctx.think(`I will read the usage records: spend by model, then the top ${DRIVERS} model × feature cost drivers` +
      (askedFeatures ? ', then spend by feature' : '') +
      (askedProviders.length ? `, then spend by provider for ${askedProviders.join(', ')}` : '') + '.')

    const byModel = await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'model' })
    const drivers = await ctx.call_tool<CostDrivers>('top_cost_drivers', { limit: DRIVERS })
    const byFeature = askedFeatures ? await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'feature' }) : undefined
    const byProvider = askedProviders.length ? await ctx.call_tool<UsageSummary>('usage_summary', { group_by: 'provider' }) : undefined

    const focus = [
      ...(byProvider?.breakdown.filter((r) => askedProviders.includes(r.key)).map((r) => focusLine(r, drivers.drivers.filter((d) => d.provider === r.key))) ?? []),
      ...byModel.breakdown.filter((r) => mentions(ctx.content, r.key)).map((r) => focusLine(r, drivers.drivers.filter((d) => d.model === r.key)))
    ]
    const top = drivers.drivers[0]
    if (top) ctx.think(`Total ${usd(byModel.total_cost_usd)}; the biggest driver is ${top.model} on ${top.feature} at ${pct(top.share)}. Writing the answer.`)

    return {
      answer: render(byModel, drivers, byFeature, focus),
      total_cost_usd: byModel.total_cost_usd,
      top_models: byModel.breakdown.slice(0, TOP_MODELS).map((r) => ({ model: r.key, cost_usd: r.cost_usd, requests: r.requests, share: r.share })),
      top_drivers: drivers.drivers
    }
  }
})

function render (byModel: UsageSummary, drivers: CostDrivers, byFeature: UsageSummary | undefined, focus: string[]): string {
  if (!byModel.period) return 'There are no usage records yet, so there is no spend to analyse.'
  const lines = [
    `## LLM spend, ${byModel.period.from.slice(0, 10)} to ${byModel.period.to.slice(0, 10)}`,
    '',
    `**${usd(byModel.total_cost_usd)}** across **${count(byModel.total_requests)}** requests ` +
      `(${count(byModel.total_input_tokens)} input and ${count(byModel.total_output_tokens)} output tokens).`,
    ...(focus.length ? ['', '### What you asked about', ...focus.map((f) => `- ${f}`)] : []),
    '',
    '### Spend by model',
    ...table(['Model', 'Cost', 'Requests', 'Share'], byModel.breakdown.map((r) => [r.key, usd(r.cost_usd), count(r.requests), pct(r.share)]))
  ]
  if (byFeature) {
    lines.push('', '### Spend by feature',
      ...table(['Feature', 'Cost', 'Requests', 'Share'], byFeature.breakdown.map((r) => [r.key, usd(r.cost_usd), count(r.requests), pct(r.share)])))
  }
  lines.push('', `### Top ${drivers.drivers.length} cost drivers (model × feature)`,
    ...table(['Model', 'Feature', 'Cost', 'Requests', 'Per request', 'Share'],
      drivers.drivers.map((d) => [d.model, d.feature, usd(d.cost_usd), count(d.requests), usdFine(d.avg_cost_per_request_usd), pct(d.share)]), 2))
  const top = drivers.drivers[0]
  if (top) {
    const together = drivers.drivers.reduce((s, d) => s + d.share, 0)
    lines.push('', `**Where to look first:** ${top.model} on ${top.feature} costs ${usd(top.cost_usd)} (${pct(top.share)} of spend) ` +
      `at ${usdFine(top.avg_cost_per_request_usd)} per request; these ${drivers.drivers.length} drivers together make up ${pct(together)} of spend.`)
  }
  return lines.join('\n')
}

function focusLine (row: BreakdownRow, drivers: CostDriver[]): string {
  const line = `**${row.key}**: ${usd(row.cost_usd)} (${pct(row.share)} of spend) over ${count(row.requests)} requests`
  if (!drivers.length) return `${line}; none of the top ${DRIVERS} cost drivers.`
  return `${line}; among the top drivers: ${drivers.map((d) => `${d.model} on ${d.feature} (${usd(d.cost_usd)})`).join(', ')}.`
}

/** a model name as a whole word: `gpt-4o` must not match inside `gpt-4o-mini` */
function mentions (text: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`(^|[^\\w-])${escaped}(?![\\w-])`, 'i').test(text)
}

/** A Markdown table: the first `textColumns` left-aligned, the figures right-aligned. */
function table (head: string[], rows: string[][], textColumns = 1): string[] {
  const align = head.map((_, i) => (i < textColumns ? '---' : '---:'))
  return [head, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`)
}
