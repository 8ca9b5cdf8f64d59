import { defineAgent } from '../core/registry.js'
import type { LlmClient } from '../llm/types.js'
import type { Spike } from '../tools/anomalies.js'
import type { ForecastHorizon } from '../tools/forecast.js'
import type { Recommendation } from '../tools/recommendation.js'
import type { Period } from '../tools/usage-stats.js'
import type { ActionPlan, Phase } from './actions.js'
import type { DataResult } from './data.js'
import { wordAnswer, type ReportInput } from './reporting.js'
import type { DayRange } from './schemas.js'
import type { Entities, Intent, TriageResult } from './triage.js'

export interface SupervisorResult {
  /** the final answer, Markdown; its first line answers the question */
  answer: string
  intent: Intent
  confidence: TriageResult['confidence']
  has_data: boolean
  entities: Entities
  /** the days the figures are of: the range asked for, the nearest one with data, or all the data */
  period: DayRange | null
  /** the sub-agents that ran, in the order they were started */
  agents: string[]
  /** sub-agents that failed; the answer says what is missing */
  failed: string[]
  totals: { period: Period, total_cost_usd: number, total_requests: number, monthly_run_rate_usd: number } | null
  /** largest monthly savings first */
  recommendations: Recommendation[]
  anomalies?: Spike[]
  forecast?: ForecastHorizon[]
  plan?: Phase[]
  /** without data: where to send it, or how to load the sample */
  upload?: { method: 'POST', path: '/usage', formats: string[] }
  sample?: { method: 'POST', path: '/usage/sample' }
}

/**
 * The default agent. Its path follows triage, so it calls its sub-agents itself rather than
 * being a fixed workflow: a greeting or an off-topic question gets a short answer and no
 * analysis; without data it explains how to upload; with data it runs `data` and the analyses the
 * intent needs (in parallel) over the period asked for, then `actions` on their findings, and
 * writes the answer itself, so that the run carries it once.
 */
export const createSupervisor = (llm?: LlmClient) => defineAgent<Record<string, unknown>, SupervisorResult>({
  name: 'supervisor',
  description: 'Answers questions about the team\'s LLM spend from their own usage data: where the money goes, how to spend less, what caused a spike, what next month will cost.',
  input_schema: { type: 'object' },
  output_schema: { type: 'object', properties: { answer: { type: 'string', minLength: 1 } }, required: ['answer'] },
  async run (ctx, input) {
    ctx.think('First: what the question asks, and whether there is usage data to answer it.')
    const triage = await ctx.call_agent<TriageResult>('triage', { content: ctx.content })
    const agents = ['triage']
    const base = { intent: triage.intent, confidence: triage.confidence, entities: triage.entities }
    const empty = { failed: [], totals: null, recommendations: [] }

    if (!triage.agents.length) {
      ctx.think(!triage.data.has_data
        ? 'No usage records yet: explaining how to upload them, and offering the sample.'
        : 'Nothing to analyse: answering briefly with what I can do.')
      const answer = await wordAnswer(llm, ctx, { triage })
      return {
        answer,
        ...base,
        has_data: triage.data.has_data,
        period: null,
        agents,
        ...empty,
        ...(!triage.data.has_data && {
          upload: { method: 'POST' as const, path: '/usage' as const, formats: ['csv', 'ndjson', 'json'] },
          sample: { method: 'POST' as const, path: '/usage/sample' as const }
        })
      }
    }

    const asked = triage.entities.time_range
    // a period without data is answered with the nearest one that has it, and the answer says so
    const range: DayRange | undefined = asked
      ? (asked.covered ? { from: asked.from, to: asked.to } : { from: asked.nearest!.from, to: asked.nearest!.to })
      : undefined
    const analyses = triage.agents.filter((a) => a !== 'actions')
    ctx.think(`Intent: ${triage.intent.replace('_', ' ')}. Running ${analyses.join(', ')}` +
      (triage.agents.includes('actions') ? ', then actions on the recommendations' : '') + ', then writing the answer.')
    const results: Omit<ReportInput, 'triage' | 'failed'> = {}
    const failed: string[] = []
    agents.push(...analyses)
    await Promise.all(analyses.map(async (name) => {
      try {
        (results as Record<string, unknown>)[name] = await ctx.call_agent(name, inputFor(name, range, triage))
      } catch (err) {
        // the summary is the answer's backbone; any other part may be missing, and the answer says so
        if (name === 'data' || ctx.signal.aborted) throw err
        failed.push(name)
      }
    }))
    if (triage.agents.includes('actions') && results.optimization) {
      agents.push('actions')
      try {
        results.actions = await ctx.call_agent<ActionPlan>('actions', {
          recommendations: results.optimization.recommendations,
          ...(results.anomaly && { anomalies: results.anomaly.anomalies }),
          // `"input": {"ask": false}` on the message: nobody is there to ask, so the plan asks nothing
          ...(typeof input.ask === 'boolean' && { ask: input.ask })
        })
      } catch (err) {
        if (ctx.signal.aborted) throw err
        failed.push('actions')
      }
    }
    failed.sort()
    ctx.think('Writing the answer.')
    const answer = await wordAnswer(llm, ctx, { triage, ...results, failed })
    return {
      answer,
      ...base,
      has_data: true,
      period: range ?? (triage.data.period && { from: triage.data.period.from, to: triage.data.period.to }),
      agents,
      failed,
      totals: totals(results.data!, triage),
      recommendations: results.optimization?.recommendations ?? [],
      ...(results.anomaly && { anomalies: results.anomaly.anomalies }),
      ...(results.capacity && { forecast: results.capacity.horizons }),
      ...(results.actions && { plan: results.actions.phases })
    }
  }
})

export const supervisor = createSupervisor()

function inputFor (name: string, range: DayRange | undefined, triage: TriageResult): Record<string, unknown> {
  const { models, providers, features } = triage.entities
  if (name === 'data') return { ...(range && { range }), focus: { models, providers, features } }
  if (name === 'optimization') return { ...(range && { range }), unpriced: triage.data.unpriced }
  if (name === 'anomaly') return range ? { range } : {}
  return {}
}

const totals = (d: DataResult, t: TriageResult) => ({
  period: d.period,
  total_cost_usd: d.total_cost_usd,
  total_requests: d.total_requests,
  monthly_run_rate_usd: t.data.monthly_run_rate_usd
})
