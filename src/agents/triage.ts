import { defineAgent, type AgentContext } from '../core/registry.js'
import { askIntent } from '../llm/intent.js'
import type { LlmClient } from '../llm/types.js'
import { catalogueModels } from '../tools/catalogue.js'
import { canonicalModel, tidyModelName } from '../tools/prices.js'
import type { UsageProfile } from '../tools/usage-profile.js'
import { coverage, dayString, periodLabel, resolvePeriod, type DaySpan } from './periods.js'

export const INTENTS = Object.freeze(['cost_optimisation', 'anomaly_investigation', 'capacity_planning', 'general_question', 'greeting', 'off_topic'] as const)
export type Intent = typeof INTENTS[number]
/** The intents that call for an analysis of the data. */
export type AnalysisIntent = Exclude<Intent, 'greeting' | 'off_topic'>

interface Rule { intent: AnalysisIntent, weight: number, pattern: RegExp }

/**
 * Phrase rules, matched on the lower-cased question. An intent's score is the sum of its rules'
 * weights; the general rules only weigh 1, so any specific signal wins over them.
 */
const RULES: readonly Rule[] = [
  { intent: 'anomaly_investigation', weight: 3, pattern: /\b(spike[sd]?|spiking|anomal\w*)/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\b(surge[ds]?|jump(ed|s)?|shot up|blew up|blown up|skyrocket\w*|explod\w*|balloon\w*|doubled|tripled|sudden(ly)?)\b/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\b(unusual\w*|unexpected\w*|abnormal\w*|strange|weird|odd|suspicious|outliers?|irregular\w*)\b/ },
  { intent: 'anomaly_investigation', weight: 3, pattern: /\bwhy (did|does|do|is|was|were|are|has|have)\b.*\b(go up|went up|gone up|increas\w*|ris(e|en)|rose|jump\w*|so (high|much)|higher|spik\w*|doubl\w*|(so |more )?expensive|costly)/ },
  { intent: 'anomaly_investigation', weight: 2, pattern: /\bwhat happened\b|\bwhat caused\b|\bretry loop|\brunaway\b/ },
  { intent: 'capacity_planning', weight: 3, pattern: /\b(forecast\w*|projection\w*|projected|project (our|the|my|this)\b|predict\w*|extrapolat\w*)/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\b(budget\w*|run[- ]rate|trajectory|headroom|capacity|plan(ning)? for)\b/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\bnext (week|month|quarter|year|\d+ (days|weeks|months))\b|\bend of (the )?(month|quarter|year)\b|\b(coming|upcoming) (weeks|months|quarter)\b/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\b(will|going to|gonna|expect(ed)? to)\b.*\b(spend|cost|pay|bill|need)\b|\bif (we|usage|traffic) (keep|keeps|grow|grows|double|doubles|scale|scales)/ },
  { intent: 'capacity_planning', weight: 1, pattern: /\b(trend\w*|growth|growing|scal(e|ing) up)\b/ },
  { intent: 'capacity_planning', weight: 2, pattern: /\b(going|trending|heading) (up|down)\b|\b(spend|costs?|bill)s? (is |are )?(growing|shrinking|rising|falling)\b/ },
  { intent: 'cost_optimisation', weight: 3, pattern: /\b(sav(e|es|ing|ings)|cheaper|cheapest|less expensive|spend(ing)? less|pay(ing)? less|cost[- ]?(down|cutting|reduction)|optimi[sz]\w*|efficien\w*)\b/ },
  { intent: 'cost_optimisation', weight: 3, pattern: /\b(too (expensive|much)|overspend\w*|overpa(y|ying|id)|wast(e|ed|es|ing|eful))\b/ },
  { intent: 'cost_optimisation', weight: 2, pattern: /\b(reduc\w*|cut|cutting|lower(ing)?|decreas\w*|trim\w*|shrink\w*|bring down)\b/ },
  { intent: 'cost_optimisation', weight: 2, pattern: /\b(cach(e|ing)|batch(ing|es)?|right-?siz\w*|downgrad\w*|smaller models?|switch(ing)? (to|models?)|max_tokens|output caps?|cap (the )?outputs?|rout(e|ing) )/ },
  { intent: 'general_question', weight: 1, pattern: /\b(how much|what) (did|do|does|have) (we|i|our \w+) (spend|spent|pay|paid|cost)|\bwhere (does|did|is) (our|the|my) (money|spend|budget)/ },
  { intent: 'general_question', weight: 1, pattern: /\b(break ?down|split|by (model|provider|feature)|top (models?|features?|providers?|drivers?)|(which|what) (models?|features?|providers?))\b/ },
  { intent: 'general_question', weight: 1, pattern: /\b(spen[dt]|spending|costs?|costing|bill(ed|ing)?|invoice|paid|pay|expens\w*|price[ds]?|pricing|tokens?|usage|requests?|money|dollars?)\b|\$/ }
]

/** A message that only greets, thanks or asks what the agents can do. */
const GREETING = /^\W*(hi|hello|hey|hiya|howdy|yo|greetings|good (morning|afternoon|evening|day)|thanks?( you)?|thx|cheers|ok(ay)?|help|what can you do|who are you|what are you|what do you do|how does this work)\b[\s\w,'!?.]*$/
/** Words a question about LLM spend uses; without any of them, and without a specific intent, it is off topic. */
const ON_TOPIC = /\b(spen[dt]|spending|costs?|costing|cheap\w*|expens\w*|bill\w*|invoice\w*|money|dollars?|budget\w*|pay|paid|price[ds]?|pricing|tokens?|usage|used|requests?|calls?|llms?|ai|models?|providers?|features?|gpt\w*|claude|gemini|mistral|deepseek|openai|anthropic|google|o[134](-mini)?|sav(e|ing)s?|forecast\w*|spikes?|anomal\w*|cach\w*|batch\w*|run ?rate|data|records?)\b|\$|\d+\s*%/

/** Among equal scores, the more specific question wins in this order. */
const PRECEDENCE: readonly AnalysisIntent[] = ['cost_optimisation', 'anomaly_investigation', 'capacity_planning', 'general_question']

export interface IntentReading {
  intent: Intent
  confidence: 'high' | 'medium' | 'low'
  scores: Record<AnalysisIntent, number>
  /** the other specific intents the question also touches */
  secondary: AnalysisIntent[]
  /** the phrases that decided it */
  matched: string[]
}

export function classifyIntent (question: string): IntentReading {
  const text = normalise(question).replace(/\s+/g, ' ').trim()
  const scores: Record<AnalysisIntent, number> = { cost_optimisation: 0, anomaly_investigation: 0, capacity_planning: 0, general_question: 0 }
  const matched: string[] = []
  for (const rule of RULES) {
    const m = rule.pattern.exec(text)
    if (!m) continue
    scores[rule.intent] += rule.weight
    matched.push(m[0].trim())
  }
  const specific = PRECEDENCE.filter((i) => i !== 'general_question' && scores[i] > 0)
  const ranked = [...specific].sort((a, b) => scores[b] - scores[a] || PRECEDENCE.indexOf(a) - PRECEDENCE.indexOf(b))
  if (!ranked.length && (GREETING.test(text) || !text)) return { intent: 'greeting', confidence: 'high', scores, secondary: [], matched }
  if (!ranked.length && !ON_TOPIC.test(text)) return { intent: 'off_topic', confidence: 'medium', scores, secondary: [], matched }
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

/** The agents that answer each intent, besides `data`, which runs for every analysis. */
const AGENTS_FOR: Record<AnalysisIntent, string[]> = {
  cost_optimisation: ['optimization', 'actions'],
  anomaly_investigation: ['anomaly'],
  capacity_planning: ['capacity'],
  general_question: []
}

/** The agents an answer needs; greetings and off-topic questions need none. */
export function planFor (intents: readonly Intent[]): string[] {
  const analyses = intents.filter((i): i is AnalysisIntent => i in AGENTS_FOR)
  if (!analyses.length) return []
  return [...new Set(['data', ...analyses.flatMap((i) => AGENTS_FOR[i])])]
}

export const QUESTION_KINDS = Object.freeze(['total', 'top', 'breakdown', 'per_request'] as const)
export type Dimension = 'model' | 'provider' | 'feature' | 'driver'

/** What a question about spend asks for: a total, the top of a ranking, a breakdown, or a cost per request. */
export interface QuestionShape {
  kind: typeof QUESTION_KINDS[number]
  /** the ranking or breakdown asked for; the total's own dimension is 'model' */
  dimension: Dimension
  /** what the ranking ranks by */
  metric: 'cost' | 'tokens' | 'requests'
}

const DIMENSION_WORD = /\b(models?|features?|providers?|vendors?|(?:cost )?drivers?|teams?|products?)\b/
const dimensionOf = (word: string | undefined): Dimension => {
  if (!word) return 'model'
  if (/^(provider|vendor)/.test(word)) return 'provider'
  if (/driver/.test(word)) return 'driver'
  if (/^(feature|team|product)/.test(word)) return 'feature'
  return 'model'
}

/** The shape of a question about spend, from its words. */
export function questionShape (question: string): QuestionShape {
  const text = normalise(question).replace(/\s+/g, ' ')
  const metric = /\btokens?\b/.test(text) ? 'tokens' : /\b(most|more) (requests|calls|traffic)|\bbusiest\b/.test(text) ? 'requests' : 'cost'
  const word = DIMENSION_WORD.exec(text)?.[1]
  if (/\bper (request|call)\b|\beach (request|call)\b|\bunit cost\b/.test(text)) return { kind: 'per_request', dimension: dimensionOf(word), metric: 'cost' }
  if (/\b(top|most|biggest|largest|highest|costliest|priciest|main|leading)\b|\bmost expensive\b|\bcosts? (us )?(the )?most\b|\b(which|what) \w+ (costs?|uses?|eats?|drives?)\b/.test(text) && word) {
    return { kind: 'top', dimension: dimensionOf(word), metric }
  }
  if (/\b(break ?down|broken down|split|by (model|provider|feature|vendor|day)|per (model|provider|feature|vendor)|distribution|where (does|did|do|is) .*\b(money|spend|budget|cost)s? go)/.test(text)) {
    const by = /\b(?:by|per) (model|provider|feature|vendor)/.exec(text)?.[1] ?? word
    return { kind: 'breakdown', dimension: dimensionOf(by ?? (/money|budget/.test(text) ? 'feature' : undefined)), metric }
  }
  return { kind: 'total', dimension: 'model', metric }
}

export interface TimeRange {
  /** the words of the question */
  text: string
  /** inclusive UTC days */
  from: string
  to: string
  /** how the answer says it: "1–15 Oct 2026" */
  label: string
  /** the days of the range the data covers; null when it covers none */
  covered: DaySpan | null
  /** when the data covers none of it: the nearest span as long that it does cover */
  nearest?: DaySpan & { label: string }
}

export interface Entities {
  /** the user's own model names the question names (any dated variant or case of a named model), else the catalogue's */
  models: string[]
  providers: string[]
  features: string[]
  time_range: TimeRange | null
}

const PROVIDER_WORDS: Record<string, RegExp> = {
  openai: /\b(openai|open ai|chatgpt|gpt)/,
  anthropic: /\b(anthropic|claude)/,
  google: /\b(google|gemini|vertex)/,
  mistral: /\b(mistral|magistral)/,
  deepseek: /\bdeepseek/
}
/** name parts too common to stand for one model on their own */
const NOT_AN_ALIAS = new Set(['claude', 'gemini', 'mistral', 'deepseek', 'mini', 'nano', 'lite', 'large', 'medium', 'small', 'chat', 'latest', 'turbo', 'preview', 'magistral', 'reasoner'])

export interface EntityContext {
  models: readonly string[]
  providers: readonly string[]
  features: readonly string[]
  period: DaySpan | null
  /** today, YYYY-MM-DD; the period's last day when absent */
  today?: string
}

/** The models, providers, features and time range a question names, against the catalogue and the user's own data. */
export function extractEntities (question: string, profile?: EntityContext): Entities {
  const text = normalise(question).replace(/\s+/g, ' ')
  const own = profile?.models ?? []
  const known = [...new Set([...catalogueModels().map((m) => m.name), ...own])].sort()
  const named = new Set(known.filter((name) => namePattern(name).test(text)))
  // a family word ("sonnet", "opus", "flash") names every model that carries it, the user's own first
  const aliases = new Map<string, string[]>()
  for (const name of known) {
    for (const part of name.split(/[-\s/]/)) {
      if (/^[a-z]{4,}$/.test(part) && !NOT_AN_ALIAS.has(part)) aliases.set(part, [...(aliases.get(part) ?? []), name])
    }
  }
  for (const [alias, names] of aliases) {
    if (!new RegExp(`\\b${alias}\\b`).test(text)) continue
    const mine = names.filter((n) => own.some((m) => sameModel(m, n)))
    for (const n of mine.length ? mine : names) named.add(n)
  }
  // a named model stands for the user's records of it under any dated variant or case
  const models = new Set<string>()
  for (const n of named) {
    const mine = own.filter((m) => sameModel(m, n))
    for (const m of mine.length ? mine : [n]) models.add(m)
  }
  const providers = new Set(Object.keys(PROVIDER_WORDS).filter((p) => PROVIDER_WORDS[p].test(text)))
  for (const p of profile?.providers ?? []) if (namePattern(p).test(text)) providers.add(p)
  const features = (profile?.features ?? []).filter((f) => f !== 'unattributed' && featurePattern(f).test(text))
  return {
    models: [...models].sort(),
    providers: [...providers].sort(),
    features,
    time_range: timeRange(question, profile)
  }
}

/** Two names of one model: equal once tidied, or the same catalogue entry (a dated snapshot, another case, a prefix). */
export function sameModel (a: string, b: string): boolean {
  if (tidyModelName(a) === tidyModelName(b)) return true
  const ca = canonicalModel(a)
  return ca !== undefined && ca === canonicalModel(b)
}

function timeRange (question: string, profile?: EntityContext): TimeRange | null {
  const data = profile?.period ?? null
  const today = profile?.today ?? data?.to
  if (!today) return null
  const p = resolvePeriod(question, { today, data })
  if (!p) return null
  const c = coverage(p, data)
  return { text: p.text, from: p.from, to: p.to, label: p.label, covered: c.covered, ...(c.nearest && { nearest: { ...c.nearest, label: periodLabel(c.nearest) } }) }
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
  /** what a question about spend asks for */
  question: QuestionShape
  /** the day the question was asked, YYYY-MM-DD (UTC): what "last week" counts from */
  today: string
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
  general_question: 'what was spent and where: totals and breakdowns by model, provider or feature',
  greeting: 'a greeting, thanks, or a question about what the assistant can do',
  off_topic: 'anything that is not about the team\'s LLM usage and spend'
}

export interface TriageOptions {
  /** the clock "today" is read from */
  now?: () => number
}

/** Triage; with a model, the model reads the intent and the rules stay the fallback. */
export const createTriage = (llm?: LlmClient, opts: TriageOptions = {}) => defineAgent<{ content?: string }, TriageResult>({
  name: 'triage',
  description: 'Reads the question: its intent (cost optimisation, anomaly investigation, capacity planning, a general question, a greeting or off topic), the models, providers, features and time range it names, and whether the user\'s usage data can answer it.',
  input_schema: { type: 'object', properties: { content: { type: 'string', maxLength: 32768 } } },
  async run (ctx, input) {
    const question = input.content ?? ctx.content
    const reading = llm ? await modelReading(llm, ctx, question) : classifyIntent(question)
    if (!llm) {
      ctx.think(`The question reads as ${reading.intent.replace('_', ' ')}` +
        (reading.matched.length ? ` (from "${reading.matched.join('", "')}")` : ' (no specific signal)') + '. Checking what usage data there is.')
    }
    const profile = await ctx.call_tool<UsageProfile>('usage_profile', {})
    const today = dayString((opts.now ?? Date.now)())
    const entities = extractEntities(question, { ...profile, today })
    // a question that names a model or feature of the user's is about their spend; so is a short follow-up naming a period ("and last week?")
    const named = entities.models.some((m) => profile.models.includes(m)) || entities.features.length > 0 ||
      (entities.time_range !== null && question.trim().split(/\s+/).length <= 5)
    const read = reading.intent === 'off_topic' && named ? { ...reading, intent: 'general_question' as const, confidence: 'low' as const } : reading
    const { sufficient, note } = sufficiency(read.intent, profile)
    const agents = profile.has_data ? planFor([read.intent, ...read.secondary]) : []
    const range = entities.time_range
    ctx.think(!profile.has_data
      ? 'There are no usage records yet.'
      : !agents.length
          ? 'Nothing to analyse for this message.'
          : `${profile.records} records over ${profile.period!.days} days. ${note}` +
          (range ? ` The question asks about ${range.label}${range.covered ? '' : ', which the data does not cover'}.` : '') + ` Next: ${agents.join(', ')}.`)
    return { ...read, entities, question: questionShape(question), today, data: profile, data_sufficient: sufficient, data_note: note, agents }
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
  return { ...rules, intent, confidence: 'medium', secondary: intent === 'greeting' || intent === 'off_topic' ? [] : secondary }
}

function sufficiency (intent: Intent, p: UsageProfile): { sufficient: boolean, note: string } {
  if (!p.has_data) return { sufficient: false, note: 'There are no usage records to analyse.' }
  if (intent === 'greeting' || intent === 'off_topic') return { sufficient: true, note: 'Nothing to analyse.' }
  const days = p.period!.days
  if (intent === 'capacity_planning' && !p.enough_for.forecast) {
    return { sufficient: false, note: `${days} days of data; a forecast needs at least ${p.min_days.forecast}.` }
  }
  if (intent === 'anomaly_investigation' && !p.enough_for.anomalies) {
    return { sufficient: false, note: `${days} days of data; spotting spikes needs at least ${p.min_days.anomalies}.` }
  }
  return { sufficient: true, note: 'Enough data for this question.' }
}
