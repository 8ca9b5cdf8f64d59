import { defineAgent, type AgentContext } from '../core/registry.js'
import { rewordReport } from '../llm/reword.js'
import type { LlmClient } from '../llm/types.js'
import type { Spike } from '../tools/anomalies.js'
import type { Forecast } from '../tools/forecast.js'
import type { Recommendation } from '../tools/recommendation.js'
import type { BreakdownRow } from '../tools/usage-stats.js'
import type { ActionPlan } from './actions.js'
import type { AnomalyResult } from './anomaly.js'
import type { DataResult } from './data.js'
import { count, pct, usd, usdFine } from './format.js'
import type { OptimizationResult } from './optimization.js'
import { periodLabel, spanDays, type DaySpan } from './periods.js'
import type { Dimension, Intent, TriageResult } from './triage.js'

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
 * The final answer in Markdown. Its first line answers the question; tables follow only where
 * they serve it. It formats figures, never computes them: every number in it is copied from a
 * tool or agent result in its input.
 */
export function writeReport (input: ReportInput): string {
  const { triage } = input
  if (triage.intent === 'greeting') return greeting(triage)
  if (triage.intent === 'off_topic') return offTopic()
  if (!triage.data.has_data) return noData(triage)
  const scope = scopeOf(input)
  const lines = [firstLine(input, scope)]
  if (scope.partial) lines.push('', `_Your data covers ${scope.partial} of ${scope.label}._`)
  if (!triage.data_sufficient) lines.push('', `> ${triage.data_note}`)
  const order = [...new Set([triage.intent, ...triage.secondary])]
  for (const intent of order) lines.push(...section(intent, input, scope))
  if (input.actions?.phases.length) lines.push('', ...plan(input.actions))
  for (const name of input.failed ?? []) lines.push('', `_The ${name} analysis failed, so its part is missing from this answer._`)
  return lines.join('\n')
}

/**
 * The agent that writes the answer from the other agents' results; the supervisor writes it
 * itself with writeReport, so that a run carries its answer once.
 */
export const createReporting = (llm?: LlmClient) => defineAgent<ReportInput, Report>({
  name: 'reporting',
  description: 'Writes the final answer in Markdown from the other agents\' results, its first line answering the question and every figure copied from a tool result; without usage data, explains how to upload it and offers the sample.',
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
    ctx.think('Writing the answer.')
    return { answer: await wordAnswer(llm, ctx, input) }
  }
})

/**
 * The report, reworded by the model when there is one and it keeps every figure. It streams as
 * it is written: the model's wording token by token, the computed one a section at a time.
 */
export async function wordAnswer (llm: LlmClient | undefined, ctx: Parameters<typeof rewordReport>[1], input: ReportInput): Promise<string> {
  const answer = writeReport(input)
  if (!llm || !input.triage.data.has_data || input.triage.intent === 'greeting' || input.triage.intent === 'off_topic') return streamSections(ctx, answer)
  try {
    return await rewordReport(llm, ctx, answer)
  } catch (err) {
    if (ctx.signal.aborted) throw err
    ctx.think(`The model could not reword the report (${(err as Error).message}); keeping the computed wording.`)
    return streamSections(ctx, answer)
  }
}

/** Streams a computed answer a section (paragraph, list, table) at a time; returns it unchanged. */
function streamSections (ctx: Partial<Pick<AgentContext, 'stream'>>, answer: string): string {
  for (const section of answer.split(/(?<=\n\n)/)) ctx.stream?.(section)
  return answer
}

/** Without a model, the report exactly as computed. */
export const reporting = createReporting()

const CAPABILITIES = 'I answer questions about your team\'s LLM spend from your own usage data: where the money goes, how to spend less, what caused a spike, and what the coming months will cost.'
const EXAMPLES = 'Try: "Which model costs us most?", "How can we cut our LLM costs?", "Why did spend jump last week?" or "What will we spend next month?"'

function greeting (triage: TriageResult): string {
  const p = triage.data
  const data = p.has_data && p.period
    ? `Your data: ${count(p.records)} records from ${periodLabel(p.period)}, ${usd(p.total_cost_usd)} in all.`
    : 'You have no usage data yet: send it to `POST /usage` (CSV, NDJSON or JSON), or load a realistic sample with `POST /usage/sample`.'
  return [`Hello! ${CAPABILITIES}`, '', data, '', EXAMPLES].join('\n')
}

function offTopic (): string {
  return [`That is outside what I can help with. ${CAPABILITIES}`, '', EXAMPLES].join('\n')
}

const NEXT: Record<Intent, string> = {
  cost_optimisation: 'look for savings in it (cheaper models where they suffice, prompt caching, batching, output caps, retry storms), each with its monthly dollars',
  anomaly_investigation: 'look for spikes in daily spend per model and per feature, and what drove each',
  capacity_planning: 'forecast your spend for the next 30 and 90 days',
  general_question: 'break your spend down by model, provider and feature',
  greeting: 'answer questions about it',
  off_topic: 'answer questions about it'
}

export function noData (triage: TriageResult): string {
  return [
    `There is no LLM usage data for your account yet, so there is nothing of yours to analyse. Once it is in, I will ${NEXT[triage.intent]}.`,
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

interface Scope {
  /** the days the figures are of, as the answer says them */
  label: string
  /** the asked period had no data: what to say before the figures of the nearest one */
  missing?: string
  /** the asked period is only partly covered: the covered days */
  partial?: string
}

function scopeOf ({ triage, data }: ReportInput): Scope {
  const range = triage.entities.time_range
  const all = triage.data.period!
  if (!range) return { label: data?.range ? periodLabel(data.range) : periodLabel(all) }
  if (!range.covered) {
    const nearest = range.nearest!
    return {
      label: nearest.label,
      missing: `There is no usage data for ${range.label} (${range.text}): your data runs ${periodLabel(all)}.`
    }
  }
  const whole = range.covered.from === range.from && range.covered.to === range.to
  return { label: range.label, ...(!whole && { partial: periodLabel(range.covered) }) }
}

const DIMENSION_NAME: Record<Dimension, string> = { model: 'model', provider: 'provider', feature: 'feature', driver: 'model × feature' }

function rowsOf (d: DataResult, dimension: Dimension): BreakdownRow[] {
  if (dimension === 'driver') {
    return d.top_drivers.map((x) => ({ key: `${x.model} on ${x.feature}`, cost_usd: x.cost_usd, requests: x.requests, share: x.share, input_tokens: 0, output_tokens: 0 }))
  }
  return dimension === 'provider' ? d.by_provider : dimension === 'feature' ? d.by_feature : d.by_model
}

function firstLine (input: ReportInput, scope: Scope): string {
  const { triage, data } = input
  const lead = scope.missing ? `${scope.missing} The nearest ${spanDays(triage.entities.time_range!.nearest!)} days with data are ${scope.label}. ` : ''
  switch (triage.intent) {
    case 'cost_optimisation': {
      const o = input.optimization
      if (!o) return `${lead}The savings analysis is missing from this answer.`
      const window = o.period ? periodLabel(o.period) : scope.label
      const best = o.recommendations[0]
      return best
        ? `${lead}The largest saving: ${best.title}, ${usd(best.monthly_savings_usd)} a month (${best.savings_pct}% of spend); ${o.recommendations.length} ${o.recommendations.length === 1 ? 'recommendation' : 'recommendations'} in all, read from ${window}.`
        : `${lead}No saving holds up under the providers' billing rules in ${window}.`
    }
    case 'anomaly_investigation': {
      const a = input.anomaly
      if (!a) return `${lead}The spike analysis is missing from this answer.`
      if (a.insufficient) return `${lead}There is not enough data to look for spikes: ${a.insufficient}.`
      const list = a.asked ? a.asked.spikes : a.anomalies
      const s = list[0]
      const where = a.asked ? ` in ${scope.label}` : ''
      return s
        ? `${lead}The largest spike${where}: ${s.dimension} ${s.key} on ${days(s.days)}, ${usd(s.cost_usd)} against a usual ${usd(s.baseline_usd)}` +
          `${s.multiple === null ? '' : ` (${s.multiple}×)`}, mostly from ${MAIN[s.causes.main]}.`
        : `${lead}No day stands out${where} once each day is compared with the same weekday around it.`
    }
    case 'capacity_planning': {
      const f = input.capacity
      if (!f) return `${lead}The forecast is missing from this answer.`
      const h = f.horizons[0]
      if (!h) return `${lead}No forecast: ${f.insufficient}.`
      return `${lead}The next ${h.days} days should cost about ${usd(h.point_usd)} (${Math.round(f.confidence_level * 100)}% interval ${usd(h.low_usd)} to ${usd(h.high_usd)}); ` +
        `spend ${f.growth_per_month_pct! >= 0 ? 'grows' : 'shrinks'} ${Math.abs(f.growth_per_month_pct!)}% a month.`
    }
    default:
      return lead + spendLine(triage, data!, scope)
  }
}

const MAIN: Record<Spike['causes']['main'], string> = {
  volume: 'more requests',
  'model mix': 'a shift to dearer models',
  'tokens per request': 'more tokens per request',
  retries: 'a retry loop'
}

function spendLine (triage: TriageResult, d: DataResult, scope: Scope): string {
  const q = triage.question
  const focus = [...d.focus.models, ...d.focus.features, ...d.focus.providers]
  if (q.kind === 'per_request') {
    const r = focus[0]
    return r
      ? `${r.key} costs ${usdFine(r.requests ? r.cost_usd / r.requests : 0)} per request on average over ${scope.label} (${usd(r.cost_usd)} across ${count(r.requests)} requests).`
      : `A request costs ${usdFine(d.total_requests ? d.total_cost_usd / d.total_requests : 0)} on average over ${scope.label} (${usd(d.total_cost_usd)} across ${count(d.total_requests)} requests).`
  }
  if (q.kind === 'top') {
    const rows = ranked(rowsOf(d, q.dimension), q.metric)
    const top = rows[0]
    if (!top) return `There is no spend over ${scope.label}.`
    if (q.metric === 'tokens') {
      const all = d.total_input_tokens + d.total_output_tokens
      return `${top.key} uses the most tokens: ${count(top.input_tokens + top.output_tokens)} (${count(top.input_tokens)} input, ${count(top.output_tokens)} output), ${pct(share(top.input_tokens + top.output_tokens, all))} of all tokens over ${scope.label}.`
    }
    if (q.metric === 'requests') return `${top.key} has the most requests: ${count(top.requests)}, ${pct(share(top.requests, d.total_requests))} of requests over ${scope.label}.`
    return `${top.key} costs most: ${usd(top.cost_usd)}, ${pct(top.share)} of spend over ${scope.label}.`
  }
  if (focus.length && q.kind === 'total') {
    const r = focus[0]
    return `${r.key} cost ${usd(r.cost_usd)} over ${scope.label}: ${pct(r.share)} of spend, ${count(r.requests)} requests.`
  }
  if (q.kind === 'breakdown') {
    const top = rowsOf(d, q.dimension)[0]
    return `You spent ${usd(d.total_cost_usd)} over ${scope.label} across ${count(d.total_requests)} requests; by ${DIMENSION_NAME[q.dimension]}, ${top ? `${top.key} leads with ${usd(top.cost_usd)} (${pct(top.share)})` : 'there is nothing to break down'}.`
  }
  return `You spent ${usd(d.total_cost_usd)} over ${scope.label} across ${count(d.total_requests)} requests.`
}

const share = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1e4) / 1e4 : 0)

function ranked (rows: readonly BreakdownRow[], metric: 'cost' | 'tokens' | 'requests'): BreakdownRow[] {
  if (metric === 'cost') return [...rows]
  const by = (r: BreakdownRow) => (metric === 'tokens' ? r.input_tokens + r.output_tokens : r.requests)
  return [...rows].sort((a, b) => by(b) - by(a) || (a.key < b.key ? -1 : 1))
}

function section (intent: Intent, input: ReportInput, scope: Scope): string[] {
  switch (intent) {
    case 'cost_optimisation': return input.optimization ? ['', ...savings(input.optimization, input.actions)] : []
    case 'anomaly_investigation': return input.anomaly ? ['', ...spikes(input.anomaly)] : []
    case 'capacity_planning': return input.capacity ? ['', ...forecast(input.capacity)] : []
    case 'general_question': return input.data ? spend(input.triage, input.data, scope) : []
    default: return []
  }
}

const days = (list: readonly string[]) => (list.length === 1 ? periodLabel({ from: list[0], to: list[0] }) : periodLabel({ from: list[0], to: list.at(-1)! }))

function spend (triage: TriageResult, d: DataResult, scope: Scope): string[] {
  const q = triage.question
  const lines: string[] = []
  const focus = [...d.focus.providers, ...d.focus.models, ...d.focus.features]
  if (focus.length > 1 || (focus.length === 1 && q.kind !== 'total' && q.kind !== 'per_request')) {
    lines.push('', '### What you asked about', ...focus.map((r) => `- **${r.key}**: ${usd(r.cost_usd)} (${pct(r.share)} of spend) over ${count(r.requests)} requests.`))
  }
  if (q.kind === 'top' || q.kind === 'breakdown') {
    const rows = ranked(rowsOf(d, q.dimension), q.metric)
    const shown = q.kind === 'top' ? rows.slice(0, 5) : rows
    const name = DIMENSION_NAME[q.dimension]
    const heading = q.kind === 'top' ? `### Top ${shown.length} by ${q.metric === 'cost' ? 'spend' : q.metric} (${name}), ${scope.label}` : `### Spend by ${name}, ${scope.label}`
    lines.push('', heading, ...(q.metric === 'tokens'
      ? table([cap(name), 'Input tokens', 'Output tokens', 'Cost'], shown.map((r) => [r.key, count(r.input_tokens), count(r.output_tokens), usd(r.cost_usd)]))
      : table([cap(name), 'Cost', 'Requests', 'Share'], shown.map((r) => [r.key, usd(r.cost_usd), count(r.requests), pct(r.share)]))))
  } else if (q.kind === 'total' && !focus.length) {
    const model = d.by_model[0]
    const feature = d.by_feature[0]
    if (model && feature) lines.push('', `The largest model is ${model.key} (${usd(model.cost_usd)}, ${pct(model.share)}); the largest feature is ${feature.key} (${usd(feature.cost_usd)}, ${pct(feature.share)}).`)
  }
  const p = triage.data
  if (!triage.entities.time_range && p.run_rate_window) {
    lines.push('', `At the rate of the last ${p.run_rate_window.days} days (${periodLabel(p.run_rate_window)}), that is ${usd(p.monthly_run_rate_usd)} a month.`)
  }
  return lines
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1)

function savings (o: OptimizationResult, actions: ActionPlan | undefined): string[] {
  const lines = ['### Savings opportunities']
  const window = o.period ? `${periodLabel(o.period)} (${o.period.days} days)` : 'the data'
  if (!o.recommendations.length) {
    lines.push('', 'None of the checks (retry storms, model right-sizing and routing, prompt caching replayed under each provider\'s rules, batching by traffic pattern, output caps) found a saving in this data.')
  } else {
    lines.push('', `Current spend: ${usd(o.monthly_spend_usd)} a month at the rate of ${window}. Each saving is read from the same days and stated per 30-day month; largest first.`, '',
      ...table(['Recommendation', 'Type', 'Confidence', 'Saves a month', 'Of spend'],
        o.recommendations.map((r) => [r.title, r.type, r.confidence, usd(r.monthly_savings_usd), `${r.savings_pct}%`]), 3))
    for (const r of o.recommendations) {
      lines.push('', `**${r.title}** (${usd(r.monthly_savings_usd)} a month, ${r.confidence} confidence)`, `- Evidence: ${evidence(r)}`)
      if (r.assumptions.length) lines.push(`- Assumes: ${r.assumptions.join('; ')}.`)
      lines.push(`- Risk: ${r.risk}`)
    }
  }
  if (o.unpriced.models.length) {
    lines.push('', `> ${pct(o.unpriced.share)} of spend (${usd(o.unpriced.cost_usd)}) is on models the price catalogue does not list (${o.unpriced.models.join(', ')}): no recommendation above covers it.`)
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
  if (key.endsWith('_share') || key.includes('discount') || key === 'hit_share' || key === 'share_in_hours') return pct(v)
  if (key === 'weekend_to_weekday') return `${v}×`
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
    return [...lines, `No day stands out: none of the ${a.series_checked} daily series (per model and per feature) has a robust z-score above ${a.threshold} against the same weekday.`]
  }
  lines.push(`Days whose spend is far above the same weekday in the weeks around them (robust z-score above ${a.threshold}, ${a.series_checked} daily series), largest excess first:`, '',
    ...table(['Where', 'Days', 'Cost', 'Usual', 'Excess', '× usual', 'Robust z', 'Mostly'],
      a.anomalies.map((s) => [`${s.dimension} ${s.key}`, s.days.join(', '), usd(s.cost_usd), usd(s.baseline_usd), usd(s.excess_usd),
        s.multiple === null ? 'n/a' : `${s.multiple}×`, String(s.max_robust_z), s.causes.main]), 2))
  for (const s of a.anomalies) lines.push('', `- ${s.explanation}`)
  if (a.asked) {
    const { range, spikes } = a.asked
    lines.push('', spikes.length
      ? `In the days you asked about (${periodLabel(range)}): ${spikes.map((s) => `${s.dimension} ${s.key} on ${s.days.join(', ')}`).join('; ')}.`
      : `None of these spikes falls in the days you asked about (${periodLabel(range)}).`)
  }
  return lines
}

function forecast (f: Forecast): string[] {
  const lines = ['### Forecast', '']
  if (f.insufficient) return [...lines, `No forecast: ${f.insufficient}.`]
  lines.push(...table(['Next', 'Days', 'Median', `${Math.round(f.confidence_level * 100)}% interval`],
    f.horizons.map((h) => [`${h.days} days`, `${periodLabel(h)}`, usd(h.point_usd), `${usd(h.low_usd)} to ${usd(h.high_usd)}`]), 2))
  const bt = f.backtest
  lines.push('', `The last 30 days cost ${usd(f.last_30_days_usd!)}; the ${f.model} trend ${f.growth_per_month_pct! >= 0 ? 'adds' : 'takes'} ${Math.abs(f.growth_per_month_pct!)}% a month.` +
    (bt
      ? ` Checked on ${bt.origins} rolling-origin backtests of ${bt.horizon_days} days: ${pct(bt.raw_coverage)} landed inside the fitted interval, so it was widened ${bt.widening}×.`
      : ' The history is too short to backtest the interval.') + ` _Method: ${f.method}._`)
  return lines
}

/** A Markdown table: the first `textColumns` left-aligned, the figures right-aligned. */
function table (head: string[], rows: string[][], textColumns = 1): string[] {
  const align = head.map((_, i) => (i < textColumns ? '---' : '---:'))
  return [head, align, ...rows].map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`)
}

export type { DaySpan }
