import { defineAgent } from '../core/registry.js'
import type { Spike } from '../tools/anomalies.js'
import type { Recommendation, RecommendationType } from '../tools/recommendation.js'
import type { ModelMove } from '../tools/rightsizing.js'
import { count, pct, usd } from './format.js'

export interface PlanStep {
  title: string
  /** the recommendation this step carries out; absent for an investigation */
  type?: RecommendationType
  monthly_savings_usd?: number
  confidence?: Recommendation['confidence']
  how: string[]
  risk: string
  /** what, once seen, undoes the step; null for a step that changes nothing */
  rollback_trigger: string | null
}

export interface Phase { phase: number, name: string, goal: string, steps: PlanStep[] }

export interface ActionPlan {
  phases: Phase[]
  /** risks of the plan as a whole */
  risks: string[]
}

interface PhaseKind { name: string, goal: string, types: readonly RecommendationType[] }

/**
 * Changes that leave the answers as they are go first, model changes next behind an evaluation,
 * output caps last because they can cut answers short.
 */
const PHASES: readonly PhaseKind[] = [
  { name: 'Fix what is broken', goal: 'Stop paying for requests nobody needed.', types: ['retries'] },
  { name: 'Quick wins', goal: 'Cut cost without changing any answer: same models, same outputs.', types: ['caching', 'batching'] },
  { name: 'Model changes behind an evaluation', goal: 'Move traffic to cheaper models only where an evaluation shows the answers hold up.', types: ['tiering', 'routing'] },
  { name: 'Guardrails', goal: 'Bound what one request can cost.', types: ['limits'] }
]

/** Features whose answers reach customers: moving them to another model is the user's call. */
const CUSTOMER_FACING = /support|chat|customer|assistant|help|concierge|agent/i
const movesCustomerFacing = (r: Recommendation) =>
  (r.type === 'tiering' || r.type === 'routing') && CUSTOMER_FACING.test(String(r.evidence.feature ?? ''))

/** How long the plan waits for the user's word on a customer-facing move before leaving it out. */
const ASK_EXPIRES_IN_S = 600

export const actions = defineAgent<{ recommendations: Recommendation[], anomalies?: Spike[], ask?: boolean, ask_expires_in_s?: number }, ActionPlan>({
  name: 'actions',
  description: 'Turns recommendations (and any spend spikes) into a phased plan: steps, their risks, and the triggers that roll each back. ' +
    'Asks before planning to move a customer-facing feature to a cheaper model; unanswered (or with "ask": false), that move is left out.',
  input_schema: {
    type: 'object',
    properties: {
      recommendations: { type: 'array', items: { type: 'object' } },
      anomalies: { type: 'array', items: { type: 'object' } },
      ask: { type: 'boolean', description: 'false: nobody is there to ask, so customer-facing moves are left out without asking' },
      ask_expires_in_s: { type: 'integer', minimum: 1, maximum: 604800, description: `how long a question waits for an answer (default ${ASK_EXPIRES_IN_S})` }
    },
    required: ['recommendations']
  },
  async run (ctx, input) {
    const spikes = spikesToChase(input.anomalies ?? [])
    ctx.think(`Planning ${input.recommendations.length} recommendation(s)` + (spikes.length ? ` and ${spikes.length} spike(s) to explain first.` : '.'))
    // its users would get the cheaper model's answers: that is the user's call, and without their
    // word (no answer in time, or nobody to ask) the plan keeps the feature where it is
    const left: string[] = []
    const declined: Recommendation[] = []
    const expiresIn = input.ask_expires_in_s ?? ASK_EXPIRES_IN_S
    for (const r of input.recommendations.filter(movesCustomerFacing)) {
      const feature = String(r.evidence.feature)
      const saving = `about ${usd(r.monthly_savings_usd)} a month`
      const yes = input.ask === false
        ? undefined
        : await ctx.ask<boolean>({
          question: `Plan moving ${feature}, a customer-facing feature, to a cheaper model? It would save ${saving}, ` +
            `and its users would get the cheaper model's answers. Without an answer within ${minutes(expiresIn)} it is left out.`,
          schema: { type: 'boolean' },
          expires_in_s: expiresIn
        })
      if (yes === true) continue
      declined.push(r)
      left.push(yes === false
        ? `Left out, as you asked: ${r.title} (${saving}); ${feature} stays on its current model.`
        : `Left out, as nobody ${input.ask === false ? 'was there to say' : 'answered in time'} whether to move ${feature}, a customer-facing feature: ${r.title} (${saving}); it stays on its current model.`)
    }
    const recommendations = input.recommendations.filter((r) => !declined.includes(r))
    const phases: Phase[] = []
    if (spikes.length) {
      phases.push({ phase: 0, name: 'Contain the spike', goal: 'Find and stop what drove the spike before optimising around it.', steps: spikes.map(investigate) })
    }
    for (const kind of PHASES) {
      const steps = recommendations.filter((r) => kind.types.includes(r.type)).map(step)
      if (steps.length) phases.push({ phase: 0, name: kind.name, goal: kind.goal, steps })
    }
    phases.forEach((p, i) => { p.phase = i + 1 })
    return { phases, risks: [...overlaps(recommendations), ...left] }
  }
})

const minutes = (s: number) => s % 60 === 0 ? `${s / 60} minute${s === 60 ? '' : 's'}` : `${s} second${s === 1 ? '' : 's'}`

/** Feature spikes say where to look; model spikes only when no feature spiked. */
function spikesToChase (anomalies: readonly Spike[]): Spike[] {
  const features = anomalies.filter((a) => a.dimension === 'feature')
  return features.length ? features : anomalies.filter((a) => a.dimension === 'model')
}

const CHASE: Record<Spike['causes']['main'], string> = {
  volume: 'find the caller or job behind the extra requests.',
  'model mix': 'find the deploy or config that sent traffic to a dearer model.',
  'tokens per request': 'compare the prompts and answers of those days with usual ones: a longer context, a bigger retrieval, a verbose prompt.',
  retries: 'find the client resending the same prompt and cap its retries with backoff.'
}

function investigate (s: Spike): PlanStep {
  const where = s.dimension === 'feature' ? `feature ${s.key}` : `model ${s.key}`
  return {
    title: `Find what drove ${where} on ${s.days.join(', ')}`,
    how: [
      `Pull the ${where} requests of ${s.days.join(', ')}: ${usd(s.cost_usd)} against a baseline of ${usd(s.baseline_usd)}.`,
      `Start from what drove it (${s.causes.main}): ${CHASE[s.causes.main]}`,
      `Alert when a day of ${where} costs well above its usual day again.`
    ],
    risk: 'Until it is explained, the same cause can come back and erase the savings below.',
    rollback_trigger: null
  }
}

function step (r: Recommendation): PlanStep {
  const feature = String(r.evidence.feature ?? '')
  const base = { title: r.title, type: r.type, monthly_savings_usd: r.monthly_savings_usd, confidence: r.confidence, risk: r.risk }
  switch (r.type) {
    case 'retries':
      return {
        ...base,
        how: [
          `Find the ${feature} client that resends the same prompt, and give it a retry limit with exponential backoff and jitter.`,
          'Alert when one prompt is sent more than a few times within a minute.'
        ],
        rollback_trigger: null
      }
    case 'caching':
      return {
        ...base,
        how: [
          `Put the part of the ${feature} prompt that repeats first, and keep it byte-for-byte the same between requests.`,
          'Turn on prompt caching where it is opt-in (Anthropic: cache_control on that prefix); OpenAI and Gemini cache long prefixes on their own.',
          'After a day, check that cached_tokens in the usage log has risen.'
        ],
        rollback_trigger: `cached_tokens of ${feature} stay at zero after a day, or its latency rises.`
      }
    case 'batching':
      return {
        ...base,
        how: [
          `Submit ${feature} through the provider's batch API (OpenAI Batch, Anthropic Message Batches, Gemini batch mode) instead of one call per item.`,
          'Keep the live path as a fallback for items that cannot wait.'
        ],
        rollback_trigger: `A ${feature} batch is not back by the time its results are needed.`
      }
    case 'tiering':
    case 'routing': {
      const moves = (Array.isArray(r.evidence.moves) ? r.evidence.moves : []) as ModelMove[]
      return {
        ...base,
        how: [
          ...moves.map((m) => `Run the ${feature} evaluation set on ${m.to} next to ${m.from} (its ${count(m.requests)} requests there cost ${usd(m.current_cost_usd)} on ${m.from}, and would cost ${usd(m.new_cost_usd)} on ${m.to}).`),
          r.type === 'routing'
            ? `Route only the ${feature} requests a difficulty signal marks as easy at first, with ${moves.map((m) => m.from).join(', ')} as the fallback.`
            : `Shift ${feature} traffic in steps (a small share, then half, then all), comparing quality at each step.`
        ],
        rollback_trigger: `The ${feature} evaluation score or user feedback falls below the current model's, or retries and escalations rise above their level before the change.`
      }
    }
    case 'limits':
      return {
        ...base,
        how: [
          `Set max_tokens to ${String(r.evidence.cap_tokens)} for ${feature}.`,
          'Ask for concise answers in the prompt, so few answers need the cap.'
        ],
        rollback_trigger: typeof r.evidence.capped_share === 'number'
          ? `More than ${pct(r.evidence.capped_share)} of ${feature} answers end with finish_reason "length", or users report cut-off answers.`
          : `Users report cut-off ${feature} answers.`
      }
  }
}

/** Recommendations on the same feature touch the same traffic: their savings do not add up. */
function overlaps (recommendations: readonly Recommendation[]): string[] {
  const byFeature = new Map<string, Recommendation[]>()
  for (const r of recommendations) {
    const f = typeof r.evidence.feature === 'string' ? r.evidence.feature : undefined
    if (f) byFeature.set(f, [...(byFeature.get(f) ?? []), r])
  }
  return [...byFeature].filter(([, rs]) => rs.length > 1).map(([f, rs]) =>
    `${rs.length} recommendations touch ${f} (${rs.map((r) => r.type).join(', ')}): each saving is computed on its own, so together they save less than their sum.`)
}
