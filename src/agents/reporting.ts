import { defineAgent, type AgentContext } from '../core/registry.js'
import { rewordReport } from '../llm/reword.js'
import type { LlmClient } from '../llm/types.js'
import type { Forecast } from '../tools/forecast.js'
import type { Recommendation } from '../tools/recommendation.js'
import type { BreakdownRow } from '../tools/usage-stats.js'
import type { ActionPlan } from './actions.js'
import type { AnomalyResult } from './anomaly.js'
import type { DataResult } from './data.js'
import { count, pct, usd, usdFine } from './format.js'
import type { OptimizationResult } from './optimization.js'
import type { Intent, TriageResult } from './triage.js'

export interface ReportInput {
  triage: TriageResult
  data?: DataResult
  optimization?: OptimizationResult
  anomaly?: AnomalyResult
  capacity?: Forecast
  actions?: ActionPlan
  /** agents whose part is missing because they failed */
  failed?: string[]
}

export interface Report { answer: string }

/**
 * The final answer in Markdown. It formats figures, never computes them: every number in it is
 * copied from a tool or agent result in its input. A model may reword it, but not its figures.
 */
export const createReporting = (llm?: LlmClient) => defineAgent<ReportInput, Report>({
  name: 'reporting',
  description: 'Writes the final answer in Markdown from the other agents\' results, every figure copied from a tool result; without usage data, explains how to upload it and offers the sample.',
  input_schema: {
    type: 'object',
    properties: {
      triage: { type: 'object' },
      data: { type: 'object' },
      optimization: { type: 'object' },
      anomaly: { type: 'object' },
      capacity: { type: 'object' },
      actions: { type: 'object' },
      failed: { type: 'array', items: { type: 'string' } }
    },
    required: ['triage']
  },
  output_schema: { type: 'object', properties: { answer: { type: 'string', minLength: 1 } }, required: ['answer'] },
  async run (ctx, input) {
    const parts = (['data', 'optimization', 'actions', 'anomaly', 'capacity'] as const).filter((k) => input[k])
    ctx.think(input.triage.data.has_data
      ? `Writing the answer from ${parts.join(', ')}.`
      : 'Writing how to upload usage data, and offering the sample.')
    if (!input.triage.data.has_data) return { answer: streamSections(ctx, noData(input.triage)) }
    const answer = report(input)
    if (!llm) return { answer: streamSections(ctx, answer) }
    try {
      return { answer: await rewordReport(llm, ctx, answer) }
    } catch (err) {
      if (ctx.signal.aborted) throw err
      ctx.think(`The model could not reword the report (${(err as Error).message}); keeping the computed wording.`)
      return { answer: streamSections(ctx, answer) }
    }
  }
})

/** Streams a computed answer a section (paragraph, list, table) at a time; returns it unchanged. */
function streamSections (ctx: Pick<AgentContext, 'stream'>, answer: string): string {
  for (const section of answer.split(/(?<=\n\n)/)) ctx.stream(section)
  return answer
}

/** Without a model, the report exactly as computed. */
export const reporting = createReporting()

const NEXT: Record<Intent, string> = {
  cost_optimisation: 'look for savings in it (cheaper models where they suffice, prompt caching, batching, output caps), each with its monthly dollars',
  anomaly_investigation: 'look for spikes in daily spend per model and per feature',
  capacity_planning: 'forecast your spend for the next 30 and 90 days',
  general_question: 'break your spend down by model, provider and feature'
}

export function noData (triage: TriageResult): string {
  return [
    '## No usage data yet',
    '',
    'There are no LLM usage records for your account, so there is nothing of yours to analyse yet. ' +
      `Once they are in, I will ${NEXT[triage.intent]}.`,
    '',
    '**Upload your usage:** `POST /usage` with a CSV, NDJSON or JSON array body, one record per LLM call: ' +
      '`timestamp`, `provider`, `model`, `input_tokens`, `output_tokens`, and optionally `cached_tokens`, `cost_usd` ' +
      '(computed from the price catalogue when absent), `latency_ms`, `feature`, `request_id` (sending the same one twice does not count it twice) ' +
      'and `prompt_hash`.',
    '',
    '**Or try the sample:** `POST /usage/sample` fills your account with a realistic, deterministic sample ' +
      '(several providers and models, a weekday cycle, a cost spike, repeated prompts), so you can see what the analysis gives. ' +
      '`DELETE /usage` clears it again.',
    '',
    'Then ask your question again.'
  ].join('\n')
}

const TITLE: Record<Intent, string> = {
  cost_optimisation: 'Where to save on LLM spend',
  anomaly_investigation: 'Spikes in LLM spend',
  capacity_planning: 'LLM spend forecast',
  general_question: 'LLM spend'
}

function report (input: ReportInput): string {
  const { triage, data } = input
  const period = data?.period ?? triage.data.period
  const lines: string[] = [`## ${TITLE[triage.intent]}, ${period!.from.slice(0, 10)} to ${period!.to.slice(0, 10)}`, '']
  if (data) {
    lines.push(`**${usd(data.total_cost_usd)}** across **${count(data.total_requests)}** requests ` +
      `(${count(data.total_input_tokens)} input and ${count(data.total_output_tokens)} output tokens); ` +
      `at this rate **${usd(triage.data.monthly_run_rate_usd)}** a month.`)
    const range = triage.entities.time_range
    if (data.range && range) {
      lines.push('', `**${range.text}** (${days(data.range)}): ${usd(data.range.total_cost_usd)} across ${count(data.range.total_requests)} requests.`)
    }
    const focus = [...data.focus.providers, ...data.focus.models, ...data.focus.features]
    if (focus.length) lines.push('', '### What you asked about', ...focus.map((r) => `- **${r.key}**: ${usd(r.cost_usd)} (${pct(r.share)} of spend) over ${count(r.requests)} requests.`))
  }
  if (!triage.data_sufficient) lines.push('', `> ${triage.data_note}`)

  const sections: Record<string, () => string[]> = {
    optimization: () => savings(input.optimization!, input.actions),
    anomaly: () => spikes(input.anomaly!),
    capacity: () => forecast(input.capacity!)
  }
  const order = [primary(triage.intent), ...triage.secondary.map(primary), 'optimization', 'anomaly', 'capacity']
  for (const name of [...new Set(order)]) {
    if (name && input[name as keyof ReportInput]) lines.push('', ...sections[name]())
  }
  if (input.actions?.phases.length) lines.push('', ...plan(input.actions))
  if (data) lines.push('', ...spend(data, triage.intent === 'general_question'))
  for (const name of input.failed ?? []) lines.push('', `_The ${name} analysis failed, so its part is missing from this answer._`)
  return lines.join('\n')
}

const days = (r: { from: string, to: string }) => (r.from === r.to ? r.from : `${r.from} to ${r.to}`)

const primary = (intent: Intent) => ({ cost_optimisation: 'optimization', anomaly_investigation: 'anomaly', capacity_planning: 'capacity', general_question: '' })[intent]

function savings (o: OptimizationResult, actions: ActionPlan | undefined): string[] {
  const lines = ['### Savings opportunities']
  if (!o.recommendations.length) {
    return [...lines, '', 'None of the checks (model right-sizing and routing, prompt caching, batching, output caps) found a saving in this data.']
  }
  lines.push('', `Current spend: ${usd(o.monthly_spend_usd)} a month. Largest saving first; each is per 30-day month at the data's rate.`, '',
    ...table(['Recommendation', 'Type', 'Confidence', 'Saves a month', 'Of spend'],
      o.recommendations.map((r) => [r.title, r.type, r.confidence, usd(r.monthly_savings_usd), `${r.savings_pct}%`]), 3))
  for (const r of o.recommendations) {
    lines.push('', `**${r.title}** (${usd(r.monthly_savings_usd)} a month, ${r.confidence} confidence)`, `- Evidence: ${evidence(r)}`, `- Risk: ${r.risk}`)
  }
  for (const risk of actions?.risks ?? []) lines.push('', `> ${risk}`)
  return lines
}

/** The evidence's figures, formatted by what their names say they are. */
function evidence (r: Recommendation): string {
  const out: string[] = []
  for (const [key, value] of Object.entries(r.evidence)) {
    if (key === 'feature') continue
    if (key === 'moves' && Array.isArray(value)) {
      for (const m of value as Array<{ from: string, to: string, requests: number, current_cost_usd: number, new_cost_usd: number }>) {
        out.push(`${m.from} → ${m.to}: ${count(m.requests)} requests, ${usd(m.current_cost_usd)} → ${usd(m.new_cost_usd)} over the period`)
      }
    } else if (value && typeof value === 'object') {
      out.push(`${label(key)}: ${Object.entries(value).map(([k, v]) => `${k} ${figure(key, v)}`).join(', ')}`)
    } else {
      out.push(`${label(key)}: ${figure(key, value)}`)
    }
  }
  return out.join('; ')
}

const label = (key: string) => key.replace(/_usd$/, '').replace(/_/g, ' ')

function figure (key: string, v: unknown): string {
  if (typeof v !== 'number') return String(v)
  if (key.endsWith('_usd')) return usd(v)
  if (key.endsWith('_share') || key.includes('discount')) return pct(v)
  return count(v)
}

function plan (a: ActionPlan): string[] {
  const lines = ['### Plan']
  for (const p of a.phases) {
    lines.push('', `**Phase ${p.phase}: ${p.name}.** ${p.goal}`)
    for (const s of p.steps) {
      lines.push(`- **${s.title}**` + (s.monthly_savings_usd !== undefined ? ` (${usd(s.monthly_savings_usd)} a month)` : ''))
      for (const h of s.how) lines.push(`  - ${h}`)
      if (s.rollback_trigger) lines.push(`  - Roll back if: ${s.rollback_trigger}`)
    }
  }
  return lines
}

function spikes (a: AnomalyResult): string[] {
  const lines = ['### Spend spikes', '']
  if (a.insufficient) return [...lines, `Not enough data to look for spikes: ${a.insufficient}.`]
  if (!a.anomalies.length) {
    return [...lines, `No day stands out: none of the ${a.series_checked} daily series (per model and per feature) has a robust z-score above ${a.threshold}.`]
  }
  lines.push(`Days whose spend is far above the usual day (robust z-score above ${a.threshold}, from the median and MAD of ${a.series_checked} daily series), largest excess first:`, '',
    ...table(['Where', 'Days', 'Cost', 'Baseline', 'Excess', '× baseline', 'Robust z'],
      a.anomalies.map((s) => [`${s.dimension} ${s.key}`, s.days.join(', '), usd(s.cost_usd), usd(s.baseline_usd), usd(s.excess_usd),
        s.multiple === null ? 'n/a' : `${s.multiple}×`, String(s.max_robust_z)]), 2))
  if (a.asked) {
    const { range, spikes } = a.asked
    lines.push('', spikes.length
      ? `In the range you asked about (${days(range)}): ${spikes.map((s) => `${s.dimension} ${s.key} on ${s.days.join(', ')}`).join('; ')}.`
      : `None of these spikes falls in the range you asked about (${days(range)}).`)
  }
  return lines
}

function forecast (f: Forecast): string[] {
  const lines = ['### Forecast', '']
  if (f.insufficient) return [...lines, `No forecast: ${f.insufficient}.`]
  lines.push(...table(['Next', 'Days', 'Forecast', `${Math.round(f.confidence_level * 100)}% interval`],
    f.horizons.map((h) => [`${h.days} days`, `${h.from} to ${h.to}`, usd(h.point_usd), `${usd(h.low_usd)} to ${usd(h.high_usd)}`]), 2))
  const trend = f.trend_usd_per_day!
  lines.push('', `The last 30 days cost ${usd(f.last_30_days_usd!)}; the trend ${trend >= 0 ? 'adds' : 'takes'} ${usdFine(Math.abs(trend))} to daily spend each day. _Method: ${f.method}._`)
  return lines
}

function spend (d: DataResult, general: boolean): string[] {
  const rows = (list: BreakdownRow[]) => list.map((r) => [r.key, usd(r.cost_usd), count(r.requests), pct(r.share)])
  const lines = [
    '### Spend by model', ...table(['Model', 'Cost', 'Requests', 'Share'], rows(d.by_model)),
    '', '### Spend by feature', ...table(['Feature', 'Cost', 'Requests', 'Share'], rows(d.by_feature))
  ]
  if (general && d.top_drivers.length) {
    const top = d.top_drivers[0]
    lines.push('', `### Top ${d.top_drivers.length} cost drivers (model × feature)`,
      ...table(['Model', 'Feature', 'Cost', 'Requests', 'Per request', 'Share'],
        d.top_drivers.map((x) => [x.model, x.feature, usd(x.cost_usd), count(x.requests), usdFine(x.avg_cost_per_request_usd), pct(x.share)]), 2),
      '', `**Where to look first:** ${top.model} on ${top.feature} costs ${usd(top.cost_usd)} (${pct(top.share)} of spend), ${usdFine(top.avg_cost_per_request_usd)} per request.`)
  }
  return lines
}

/** A Markdown table: the first `textColumns` left-aligned, the figures right-aligned. */
function table (head: string[], rows: string[][], textColumns = 1): string[] {
  const align = head.map((_, i) => (i < textColumns ? '---' : '---:'))
  return [head, align, ...rows].map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`)
}
