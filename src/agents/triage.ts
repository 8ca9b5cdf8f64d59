import { defineAgent, type AgentContext } from '../core/registry.js'
import { askIntent } from '../llm/intent.js'
import type { LlmClient } from '../llm/types.js'
import { catalogueModels } from '../tools/catalogue.js'
import { addDays } from '../tools/usage-period.js'
import type { UsageProfile } from '../tools/usage-profile.js'

export const INTENTS = Object.freeze(['cost_optimisation', 'anomaly_investigation', 'capacity_planning', 'general_question'] as const)
export type Intent = typeof INTENTS[number]

interface Rule { intent: Exclude<Intent, 'general_question'> | 'general_question', weight: number, pattern: RegExp }

/**
 * Phrase rules, matched on the lower-cased question. An intent's score is the sum of its rules'
 * weights; the general rules only weigh 1, so any specific signal wins over them.
 */
const RULES: readonly Rule[] = [
  { intent: 'anomaly_investigation', weight: 3, pattern: /\b(spike[sd]?|spiking|anomal\w*)/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\b(surge[ds]?|jump(ed|s)?|shot up|blew up|blown up|skyrocket\w*|explod\w*|balloon\w*|doubled|tripled|sudden(ly)?)\b/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\b(unusual\w*|unexpected\w*|abnormal\w*|strange|weird|odd|suspicious|outliers?|irregular\w*)\b/ },
  { intent: 'anomaly_investigation', weight: 3, pattern: /\bwhy (did|does|do|is|was|were|are|has|have)\b.*\b(go up|went up|gone up|increas\w*|ris(e|en)|rose|jump\w*|so (high|much)|higher|spik\w*|doubl\w*|more expensive)/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\bwhat happened\b|\bwhat caused\b|\bretry loop|\brunaway\b/ },
  { intent: 'capacity_planning', weight: 3, pattern: /\b(forecast\w*|projection\w*|projected|project (our|the|my|this)\b|predict\w*|extrapolat\w*)/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\b(budget\w*|run[- ]rate|trajectory|headroom|capacity|plan(ning)? for)\b/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\bnext (week|month|quarter|year|\d+ (days|weeks|months))\b|\bend of (the )?(month|quarter|year)\b|\b(coming|upcoming) (weeks|months|quarter)\b/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\b(will|going to|gonna|expect(ed)? to)\b.*\b(spend|cost|pay|bill|need)\b|\bif (we|usage|traffic) (keep|keeps|grow|grows|double|doubles|scale|scales)/ },
  { intent: 'capacity_planning', weight: 1, pattern: /\b(trend\w*|growth|growing|scal(e|ing) up)\b/ },
  { intent: 'cost_optimisation', weight: 3, pattern: /\b(sav(e|es|ing|ings)|cheaper|cheapest|less expensive|spend(ing)? less|pay(ing)? less|cost[- ]?(down|cutting|reduction)|optimi[sz]\w*|efficien\w*)\b/ },
  { intent: 'cost_optimisation', weight: 3, pattern: /\b(too (expensive|much)|overspend\w*|overpa(y|ying|id)|wast(e|ed|es|ing|eful))\b/ },
  { intent: 'cost_optimisation', weight: 2, pattern: /\b(reduc\w*|cut|cutting|lower(ing)?|decreas\w*|trim\w*|shrink\w*|bring down)\b/ },
  { intent: 'cost_optimisation', weight: 2, pattern: /\b(cach(e|ing)|batch(ing|es)?|right-?siz\w*|downgrad\w*|smaller models?|switch(ing)? (to|models?)|max_tokens|output caps?|cap (the )?outputs?|rout(e|ing) )/ },
  { intent: 'general_question', weight: 1, pattern: /\b(how much|what) (did|do|does|have) (we|i|our \w+) (spend|spent|pay|paid|cost)|\bwhere (does|did|is) (our|the|my) (money|spend|budget)/ },
  { intent: 'general_question', weight: 1, pattern: /\b(break ?down|split|by (model|provider|feature)|top (models?|features?|providers?|drivers?)|(which|what) (models?|features?|providers?))\b/ }
]

/** Among equal scores, the more specific question wins in this order. */
const PRECEDENCE: readonly Intent[] = ['cost_optimisation', 'anomaly_investigation', 'capacity_planning', 'general_question']

export interface IntentReading {
  intent: Intent
  confidence: 'high' | 'medium' | 'low'
  scores: Record<Intent, number>
  /** the other specific intents the question also touches */
  secondary: Intent[]
  /** the phrases that decided it */
  matched: string[]
}

export function classifyIntent (question: string): IntentReading {
  const text = normalise(question).replace(/\s+/g, ' ')
  const scores: Record<Intent, number> = { cost_optimisation: 0, anomaly_investigation: 0, capacity_planning: 0, general_question: 0 }
  const matched: string[] = []
  for (const rule of RULES) {
    const m = rule.pattern.exec(text)
    if (!m) continue
    scores[rule.intent] += rule.weight
    matched.push(m[0].trim())
  }
  const specific = PRECEDENCE.filter((i) => i !== 'general_question' && scores[i] > 0)
  const ranked = [...specific].sort((a, b) => scores[b] - scores[a] || PRECEDENCE.indexOf(a) - PRECEDENCE.indexOf(b))
  const intent = ranked[0] ?? 'general_question'
  const top = scores[intent]
  const runnerUp = ranked[1] ? scores[ranked[1]] : 0
  return {
    intent,
    confidence: intent === 'general_question' ? (top > 0 ? 'medium' : 'low') : top >= 3 && top - runnerUp >= 2 ? 'high' : top >= 2 ? 'medium' : 'low',
    scores,
    secondary: ranked.slice(1).filter((i) => scores[i] >= 2),
    matched
  }
}

/** The agents that answer each intent, besides `data`, which always runs. */
const AGENTS_FOR: Record<Intent, string[]> = {
  cost_optimisation: ['optimization', 'actions'],
  anomaly_investigation: ['anomaly'],
  capacity_planning: ['capacity'],
  general_question: []
}

export function planFor (intents: readonly Intent[]): string[] {
  return [...new Set(['data', ...intents.flatMap((i) => AGENTS_FOR[i])])]
}

export interface TimeRange {
  /** the words of the question */
  text: string
  /** inclusive UTC days, counted back from the last day of the data; null without data */
  from: string | null
  to: string | null
}

export interface Entities {
  models: string[]
  providers: string[]
  features: string[]
  time_range: TimeRange | null
}

const PROVIDER_WORDS: Record<string, RegExp> = {
  openai: /\b(openai|open ai|chatgpt|gpt)/,
  anthropic: /\b(anthropic|claude)/,
  google: /\b(google|gemini|vertex)/,
  mistral: /\bmistral/,
  deepseek: /\bdeepseek/
}
/** name parts too common to stand for one model on their own */
const NOT_AN_ALIAS = new Set(['claude', 'gemini', 'mistral', 'deepseek', 'mini', 'nano', 'lite', 'large', 'medium', 'small', 'chat', 'latest', 'turbo', 'preview'])

/** The models, providers, features and time range a question names, against the catalogue and the user's own data. */
export function extractEntities (question: string, profile?: Pick<UsageProfile, 'models' | 'providers' | 'features' | 'period'>): Entities {
  const text = normalise(question).replace(/\s+/g, ' ')
  const known = [...new Set([...catalogueModels().map((m) => m.name), ...(profile?.models ?? [])])].sort()
  const models = new Set(known.filter((name) => namePattern(name).test(text)))
  // a family word ("sonnet", "opus", "flash") names every model that carries it, the user's own first
  const aliases = new Map<string, string[]>()
  for (const name of known) {
    for (const part of name.split(/[-\s/]/)) {
      if (/^[a-z]{4,}$/.test(part) && !NOT_AN_ALIAS.has(part)) aliases.set(part, [...(aliases.get(part) ?? []), name])
    }
  }
  for (const [alias, names] of aliases) {
    if (!new RegExp(`\\b${alias}\\b`).test(text)) continue
    const own = names.filter((n) => profile?.models.includes(n))
    for (const n of own.length ? own : names) models.add(n)
  }
  const providers = new Set(Object.keys(PROVIDER_WORDS).filter((p) => PROVIDER_WORDS[p].test(text)))
  for (const p of profile?.providers ?? []) if (namePattern(p).test(text)) providers.add(p)
  const features = (profile?.features ?? []).filter((f) => f !== 'unattributed' && featurePattern(f).test(text))
  return {
    models: [...models].sort(),
    providers: [...providers].sort(),
    features,
    time_range: resolveTimeRange(question, profile?.period?.to)
  }
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december']
const MONTH_NAME = '(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)'
const MONTH = new RegExp(`\\b(?:(in|during|for|since|over|of|from)\\s+)?${MONTH_NAME}\\b\\.?(?:\\s+(\\d{4}))?`)
const MONTH_DAY = new RegExp(`\\b${MONTH_NAME}\\.?\\s+(\\d{1,2})(?:st|nd|rd|th)?\\b(?:,?\\s+(\\d{4}))?`)
const DAY_MONTH = new RegExp(`\\b(\\d{1,2})(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH_NAME}\\b(?:\\s+(\\d{4}))?`)
const SPAN_DAYS: Record<string, number> = { day: 1, week: 7, fortnight: 14, month: 30, quarter: 90, year: 365 }
const ISO_DAY = '(\\d{4}-\\d{2}-\\d{2})'
const monthIndex = (name: string) => MONTHS.findIndex((m) => m.startsWith(name.slice(0, 3)))

/**
 * A time range the question names, as inclusive days. Relative ranges ("last week", "past 30
 * days") count back from `endDay`, the last day of the user's data; a month or day without a
 * year is the latest one that is not after `endDay`.
 */
export function resolveTimeRange (question: string, endDay?: string): TimeRange | null {
  const text = normalise(question)
  // the question's own words where lower-casing kept every offset
  const words = (m: RegExpExecArray) => (text.length === question.length ? question.slice(m.index, m.index + m[0].length) : m[0]).trim()
  const range = (m: RegExpExecArray, from: string | null, to: string | null): TimeRange => ({ text: words(m), from, to })
  const back = (days: number) => (endDay ? addDays(endDay, 1 - days) : null)
  let m: RegExpExecArray | null
  if ((m = new RegExp(`\\b(?:from|between)\\s+${ISO_DAY}\\s+(?:to|and|until|through)\\s+${ISO_DAY}`).exec(text))) return range(m, m[1], m[2])
  if ((m = new RegExp(`\\b(?:since|after|from)\\s+${ISO_DAY}`).exec(text))) return range(m, m[1], endDay ?? null)
  if ((m = new RegExp(`\\b${ISO_DAY}\\b`).exec(text))) return range(m, m[1], m[1])
  if ((m = /\b(?:last|past|previous|trailing)\s+(\d{1,3})\s+(day|week|month)s?\b/.exec(text))) {
    return range(m, back(Number(m[1]) * SPAN_DAYS[m[2]]), endDay ?? null)
  }
  if ((m = /\b(?:last|past|previous)\s+(day|week|fortnight|month|quarter|year)\b/.exec(text))) return range(m, back(SPAN_DAYS[m[1]]), endDay ?? null)
  if ((m = /\byesterday\b/.exec(text))) return range(m, endDay ?? null, endDay ?? null)
  if ((m = /\b(?:this|current)\s+month\b/.exec(text))) return range(m, endDay ? `${endDay.slice(0, 8)}01` : null, endDay ?? null)
  if ((m = /\b(?:this|current)\s+week\b/.exec(text))) {
    // weeks start on Monday
    return range(m, endDay ? addDays(endDay, -((new Date(endDay).getUTCDay() + 6) % 7)) : null, endDay ?? null)
  }
  if ((m = /\bq([1-4])(?:\s+(\d{4}))?\b/.exec(text))) return { ...calendarRange(m, (Number(m[1]) - 1) * 3, 3, m[2], endDay), text: words(m) }
  if ((m = MONTH_DAY.exec(text)) && Number(m[2]) >= 1 && Number(m[2]) <= 31) return { ...calendarDay(m, monthIndex(m[1]), Number(m[2]), m[3], endDay), text: words(m) }
  if ((m = DAY_MONTH.exec(text)) && Number(m[1]) >= 1 && Number(m[1]) <= 31) return { ...calendarDay(m, monthIndex(m[2]), Number(m[1]), m[3], endDay), text: words(m) }
  if ((m = MONTH.exec(text))) {
    // "may" is a month only after a preposition or before a year
    if (m[2] === 'may' && !m[1] && !m[3]) return null
    return { ...calendarRange(m, monthIndex(m[2]), 1, m[3], endDay), text: words(m) }
  }
  return null
}

/** The year of a month named without one: the latest year in which it is not after `endDay`. */
function yearFor (month: number, day: number, year: string | undefined, endDay?: string): number | undefined {
  if (year) return Number(year)
  if (!endDay) return undefined
  const end = new Date(endDay)
  const after = month > end.getUTCMonth() || (month === end.getUTCMonth() && day > end.getUTCDate())
  return end.getUTCFullYear() - (after ? 1 : 0)
}

function calendarDay (m: RegExpExecArray, month: number, day: number, year: string | undefined, endDay?: string): TimeRange {
  const y = yearFor(month, day, year, endDay)
  const d = y === undefined ? null : new Date(Date.UTC(y, month, day)).toISOString().slice(0, 10)
  return { text: m[0].trim(), from: d, to: d }
}

/** `months` calendar months from month index `first` of `year`, or of the latest such year not after `endDay`. */
function calendarRange (m: RegExpExecArray, first: number, months: number, year: string | undefined, endDay?: string): TimeRange {
  const y = yearFor(first, 1, year, endDay)
  if (y === undefined) return { text: m[0].trim(), from: null, to: null }
  const from = new Date(Date.UTC(y, first, 1)).toISOString().slice(0, 10)
  const to = new Date(Date.UTC(y, first + months, 0)).toISOString().slice(0, 10)
  return { text: m[0].trim(), from, to }
}

const normalise = (s: string) => s.toLowerCase().replace(/[’‘]/g, '\'')
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A model or provider name as a whole word: `gpt-4o` is not inside `gpt-4o-mini`; a space may stand for a hyphen. */
function namePattern (name: string): RegExp {
  const body = name.toLowerCase().split('-').map(escape).join('[-\\s]?')
  return new RegExp(`(?<![\\w.-])${body}(?![\\w]|[.-]\\w)`)
}

/** A feature name with `-`, `_` or a space between its words, either spelling of -ise/-ize, and a plural. */
function featurePattern (name: string): RegExp {
  const body = name.toLowerCase().split(/[-_\s]+/).map((w) => escape(w).replace(/i[sz](e|ing|ation)/, 'i[sz]$1')).join('[-_\\s]?')
  return new RegExp(`(?<![\\w-])${body}s?(?![\\w-])`)
}

export interface TriageResult extends IntentReading {
  entities: Entities
  /** the user's data as the usage_profile tool saw it */
  data: UsageProfile
  /** whether the data supports an answer to this intent */
  data_sufficient: boolean
  data_note: string
  /** the agents the supervisor should run, in order */
  agents: string[]
}

/** What each intent means, for a model that classifies the question. */
const INTENT_MEANING: Readonly<Record<Intent, string>> = {
  cost_optimisation: 'how to spend less: cheaper models, caching, batching, output caps, waste',
  anomaly_investigation: 'why spend jumped or looks unusual: spikes, surges, what happened on a day',
  capacity_planning: 'what spend will be: forecasts, budgets, run rate, growth',
  general_question: 'what was spent and where: totals and breakdowns by model, provider or feature'
}

/** Triage; with a model, the model reads the intent and the rules stay the fallback. */
export const createTriage = (llm?: LlmClient) => defineAgent<{ content?: string }, TriageResult>({
  name: 'triage',
  description: 'Reads the question: its intent (cost optimisation, anomaly investigation, capacity planning or a general question), the models, providers, features and time range it names, and whether the user\'s usage data can answer it.',
  input_schema: { type: 'object', properties: { content: { type: 'string', maxLength: 32768 } } },
  async run (ctx, input) {
    const question = input.content ?? ctx.content
    const reading = llm ? await modelReading(llm, ctx, question) : classifyIntent(question)
    if (!llm) {
      ctx.think(`The question reads as ${reading.intent.replace('_', ' ')}` +
        (reading.matched.length ? ` (from "${reading.matched.join('", "')}")` : ' (no specific signal)') + '. Checking what usage data there is.')
    }
    const profile = await ctx.call_tool<UsageProfile>('usage_profile', {})
    const entities = extractEntities(question, profile)
    const { sufficient, note } = sufficiency(reading.intent, profile)
    const agents = profile.has_data ? planFor([reading.intent, ...reading.secondary]) : []
    ctx.think(profile.has_data
      ? `${profile.records} records over ${profile.period!.days} days. ${note} Next: ${agents.join(', ')}.`
      : 'There are no usage records yet.')
    return { ...reading, entities, data: profile, data_sufficient: sufficient, data_note: note, agents }
  }
})

export const triage = createTriage()

/**
 * The model's intent with the rules' scores and phrases kept as evidence. An answer that is not
 * an intent, or a model that fails, leaves the rules' reading; cancel and deadlines still end it.
 */
async function modelReading (llm: LlmClient, ctx: AgentContext, question: string): Promise<IntentReading> {
  const rules = classifyIntent(question)
  let intent: Intent | undefined
  try {
    intent = await askIntent(llm, ctx, question, INTENT_MEANING)
  } catch (err) {
    if (ctx.signal.aborted) throw err
    ctx.think(`The model could not classify the question (${(err as Error).message}); using the rules.`)
  }
  if (!intent) {
    ctx.think(`Reading the question by the rules as ${rules.intent.replace('_', ' ')}. Checking what usage data there is.`)
    return rules
  }
  ctx.think(`The model reads the question as ${intent.replace('_', ' ')}. Checking what usage data there is.`)
  if (intent === rules.intent) return rules
  // the rules' own top intent stays a secondary one when it had a real signal
  const secondary = PRECEDENCE.filter((i) => i !== intent && i !== 'general_question' && rules.scores[i] >= 2)
    .sort((a, b) => rules.scores[b] - rules.scores[a])
  return { ...rules, intent, confidence: 'medium', secondary }
}

function sufficiency (intent: Intent, p: UsageProfile): { sufficient: boolean, note: string } {
  if (!p.has_data) return { sufficient: false, note: 'There are no usage records to analyse.' }
  const days = p.period!.days
  if (intent === 'capacity_planning' && !p.enough_for.forecast) {
    return { sufficient: false, note: `${days} days of data; a forecast needs at least ${p.min_days.forecast}.` }
  }
  if (intent === 'anomaly_investigation' && !p.enough_for.anomalies) {
    return { sufficient: false, note: `${days} days of data; spotting spikes needs at least ${p.min_days.anomalies}.` }
  }
  return { sufficient: true, note: 'Enough data for this question.' }
}
