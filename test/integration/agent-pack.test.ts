import t, { type Test } from 'tap'
import type { SupervisorResult } from '../../src/agents/supervisor.js'
import type { RunEvent } from '../../src/core/events.js'
import { PRICES } from '../../src/tools/prices.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { sampleRecords } from '../../src/usage/sample.js'
import { auth, build } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { getEvents, runToEnd } from '../helpers/http.js'
import { checkAnswerFigures, expectedRecommendations, label, recentOf, type Catalogue } from '../helpers/report-figures.js'

const CATALOGUE = PRICES.models as unknown as Catalogue

/** Checks every recommendation of a finished supervisor run against the independent figures, over the last 28 days. */
function checkRecommendations (t: Test, result: SupervisorResult, records: readonly UsageRecord[]) {
  const { days, records: recent } = recentOf(records)
  const total = recent.reduce((s, r) => s + r.cost_usd, 0)
  const expected = new Map(expectedRecommendations(records, CATALOGUE).map((r) => [`${r.type} ${r.feature}`, r.saving]))
  const got = result.recommendations
  t.strictSame(got.map((r) => `${r.type} ${String(r.evidence.feature)}`).sort(), [...expected.keys()].sort(), 'the recommendations the records call for, no more')
  for (const r of got) {
    const raw = expected.get(`${r.type} ${String(r.evidence.feature)}`)!
    const monthly = raw * 30 / days
    t.ok(Math.abs(r.monthly_savings_usd - monthly) <= 0.005 + 1e-9, `${r.title}: ${r.monthly_savings_usd} a month, recomputed ${monthly.toFixed(4)}`)
    t.equal(Math.round(r.monthly_savings_usd * 100) / 100, r.monthly_savings_usd, 'whole cents')
    t.ok(Math.abs(r.savings_pct - 100 * raw / total) <= 0.005 + 1e-9, `${r.title}: ${r.savings_pct}% of spend`)
    t.ok(result.answer.includes(`${r.title}**`), 'the answer names it')
  }
  t.ok(got.every((r, i) => i === 0 || got[i - 1].monthly_savings_usd >= r.monthly_savings_usd), 'largest saving first')
  t.ok(Math.abs(result.totals!.total_cost_usd - records.reduce((s, r) => s + r.cost_usd, 0)) <= 0.005 + 1e-9, 'total spend')
}

/** The run's agents: each sub-agent's parent is the supervisor, every one starts once and completes. */
function checkAgents (t: Test, events: RunEvent[], expected: string[]) {
  const started = events.filter((e) => e.type === 'agent_started').map((e) => e.data as { agent_id: string, agent_name: string, parent_agent_id?: string })
  const root = started[0]
  t.equal(root.agent_name, 'supervisor')
  t.equal(root.parent_agent_id, undefined)
  t.strictSame(started.slice(1).map((a) => a.agent_name).sort(), [...expected].sort())
  for (const a of started.slice(1)) t.equal(a.parent_agent_id, root.agent_id, `${a.agent_name} is the supervisor's`)
  const completed = new Set(events.filter((e) => e.type === 'agent_completed').map((e) => (e.data as { agent_id: string }).agent_id))
  t.ok(started.every((a) => completed.has(a.agent_id)), 'every agent completed')
  t.equal(events.at(-1)!.type, 'run_completed')
}

t.test('with the sample loaded, a cost question runs the pack end to end', async (t) => {
  const app = await build(t)
  const sample = sampleRecords('team')
  await app.store.importUsage('alice', sample)
  const records = await app.store.listUsage('alice')
  t.strictSame(records, sample, 'the store gives the records back as they went in')

  const { accepted, run } = await runToEnd(app, 'alice', { content: 'How can we cut our LLM costs?' })
  t.equal(run.status, 'completed')
  const events = await getEvents(app, 'alice', accepted.run_id)
  assertRunContract(t, events)
  checkAgents(t, events, ['triage', 'data', 'optimization', 'actions'])
  const result = run.result as SupervisorResult
  t.strictSame((events.at(-1)!.data as { result: unknown }).result, result, 'run_completed holds the result')
  t.equal(result.intent, 'cost_optimisation')
  t.equal(result.has_data, true)
  t.ok(result.recommendations.length >= 3)
  checkRecommendations(t, result, records)
  const recent = recentOf(records)
  t.match(result.answer, new RegExp(`^The largest saving: .+; \\d+ recommendations in all, read from ${label(recent.from, recent.to)}\\.\n`))
  checkAnswerFigures(t, result.answer, { records, catalogue: CATALOGUE })

  const tools = events.filter((e) => e.type === 'tool_completed').map((e) => e.data as { agent_name: string, tool_name: string, status: string })
  t.ok(tools.every((x) => x.status === 'success'))
  t.strictSame(tools.filter((x) => x.agent_name === 'optimization').map((x) => x.tool_name).sort(),
    ['find_retry_storms', 'recommend_batching', 'recommend_caching', 'recommend_output_caps', 'recommend_rightsizing'])

  const messages = await app.inject({ method: 'GET', url: `/threads/${accepted.thread_id}/messages`, headers: auth('alice') })
  t.equal(messages.json().messages.at(-1).content, result.answer, 'the assistant message is the answer')
})

const headings = (answer: string) => answer.split('\n').filter((l) => l.startsWith('### ')).map((l) => l.slice(4))

for (const profile of ['enterprise', 'team'] as const) {
  t.test(`POST /usage/sample ${profile}, then a cost question: every saving and every figure of the answer recomputed from the stored records`, async (t) => {
    const app = await build(t)
    const loaded = await app.inject({ method: 'POST', url: '/usage/sample', headers: auth('dana'), payload: { profile } })
    t.equal(loaded.statusCode, 200)
    const records = await app.store.listUsage('dana')
    t.equal(loaded.json().inserted, records.length)
    t.strictSame(records, sampleRecords(profile), 'the stored records are the sample')
    const { accepted, run } = await runToEnd(app, 'dana', { content: 'Where can we save money on AI? Break it down for OpenAI, Anthropic and Google, and for claude-opus-4 and support-chat.' })
    t.equal(run.status, 'completed')
    const result = run.result as SupervisorResult
    t.equal(result.intent, 'cost_optimisation')
    t.strictSame(result.failed, [])
    t.ok(result.recommendations.length >= 3, `${result.recommendations.length} recommendations`)
    checkRecommendations(t, result, records)
    t.strictSame(headings(result.answer), ['Savings opportunities', 'Plan'], 'no breakdown table in a savings answer')
    checkAnswerFigures(t, result.answer, { records, catalogue: CATALOGUE })
    const events = await getEvents(app, 'dana', accepted.run_id)
    assertRunContract(t, events)
    checkAgents(t, events, ['triage', 'data', 'optimization', 'actions'])
  })

  t.test(`POST /usage/sample ${profile}, then a spend question: every breakdown figure of the answer recomputed from the stored records`, async (t) => {
    const app = await build(t)
    t.equal((await app.inject({ method: 'POST', url: '/usage/sample', headers: auth('dana'), payload: { profile } })).statusCode, 200)
    const records = await app.store.listUsage('dana')
    const { accepted, run } = await runToEnd(app, 'dana', { content: 'How much did we spend between Aug 25 and Aug 31, 2025? Break down by provider: OpenAI, Anthropic and Google.' })
    t.equal(run.status, 'completed')
    const result = run.result as SupervisorResult
    t.equal(result.intent, 'general_question')
    t.strictSame(result.failed, [])
    t.strictSame(headings(result.answer), ['What you asked about', 'Spend by provider, 25–31 Aug 2025'])
    t.match(result.answer, /^You spent \$[\d,.]+ over 25–31 Aug 2025 across [\d,]+ requests; by provider, /)
    checkAnswerFigures(t, result.answer, { records, catalogue: CATALOGUE, range: { from: '2025-08-25', to: '2025-08-31' } })
    checkAgents(t, await getEvents(app, 'dana', accepted.run_id), ['triage', 'data'])

    const top = await runToEnd(app, 'dana', { content: 'Which model costs us most?' })
    const answer = (top.run.result as SupervisorResult).answer
    t.strictSame(headings(answer), ['Top 5 by spend (model), 2–31 Aug 2025'])
    checkAnswerFigures(t, answer, { records, catalogue: CATALOGUE })
  })
}

t.test('the answer crosses the wire once in full: in run_completed, besides the deltas that add up to it', async (t) => {
  const app = await build(t)
  await app.store.importUsage('dora', sampleRecords('team'))
  const frames: string[] = []
  let ended!: () => void
  const done = new Promise<void>((resolve) => { ended = resolve })
  const socket = await app.injectWS('/ws', { headers: auth('dora') }, {
    onInit: (ws) => ws.on('message', (raw) => {
      frames.push(raw.toString())
      if (JSON.parse(raw.toString()).type === 'run_completed') ended()
    })
  })
  t.teardown(() => socket.terminate())
  socket.send(JSON.stringify({ type: 'message', content: 'How can we cut our LLM costs?' }))
  await done

  const events = frames.map((f) => JSON.parse(f)).filter((f) => typeof f.seq === 'number') as RunEvent[]
  assertRunContract(t, events)
  t.same(events, await getEvents(app, 'dora', events[0].run_id), 'the frames are the stored events')
  const answer = (events.at(-1)!.data as { result: SupervisorResult }).result.answer
  const quoted = JSON.stringify(answer).slice(1, -1)
  t.strictSame(frames.filter((f) => f.includes(quoted)).map((f) => JSON.parse(f).type), ['run_completed'], 'one frame carries the whole answer')
  const deltas = events.filter((e) => e.type === 'answer_delta').map((e) => e.data as { delta: string, reset?: true })
  t.ok(deltas.length > 1, 'the answer streamed in pieces')
  t.equal(deltas.map((d) => d.delta).join(''), answer, 'which add up to it')
  t.notOk(deltas.some((d) => d.reset), 'none withdrawn')
  const root = events.find((e) => e.type === 'agent_completed' && (e.data as { agent_name: string }).agent_name === 'supervisor')!
  t.notOk('result' in root.data, 'the root agent\'s agent_completed carries no result')
  const thoughts = events.filter((e) => e.type === 'agent_thinking').map((e) => (e.data as { thought: string }).thought)
  t.strictSame(thoughts.filter((x) => x.length >= 20 && answer.includes(x)), [], 'no thought repeats a piece of the answer')
  t.notOk(thoughts.some((x) => x.includes(answer.split('\n')[0])), 'nor its first line')
})

t.test('a dataset that calls for every kind of recommendation', async (t) => {
  const app = await build(t)
  const records = synthetic()
  await app.store.importUsage('carol', records)
  // nobody is there to answer the plan's question about a customer-facing move: it is left out unasked
  const { accepted, run } = await runToEnd(app, 'carol', { content: 'Where can we save money on AI?', input: { ask: false } })
  t.equal(run.status, 'completed')
  const result = run.result as SupervisorResult
  t.strictSame([...new Set(result.recommendations.map((r) => r.type))].sort(), ['batching', 'caching', 'limits', 'retries', 'routing', 'tiering'])
  const stored = await app.store.listUsage('carol')
  checkRecommendations(t, result, stored)
  checkAnswerFigures(t, result.answer, { records: stored, catalogue: CATALOGUE })
  assertRunContract(t, await getEvents(app, 'carol', accepted.run_id))
})

t.test('a user without data is told how to upload, and never sees another user\'s', async (t) => {
  const app = await build(t)
  await app.store.importUsage('alice', sampleRecords('team'))
  const { accepted, run } = await runToEnd(app, 'bob', { content: 'How can we cut our LLM costs?' })
  t.equal(run.status, 'completed')
  const result = run.result as SupervisorResult
  t.equal(result.has_data, false)
  t.strictSame(result.recommendations, [])
  t.strictSame(result.sample, { method: 'POST', path: '/usage/sample' })
  t.match(result.answer, /`POST \/usage` with a CSV, NDJSON or JSON array body/)
  t.match(result.answer, /`POST \/usage\/sample`/)
  const events = await getEvents(app, 'bob', accepted.run_id)
  checkAgents(t, events, ['triage'])
  const profile = events.find((e) => e.type === 'tool_completed')!.data as { tool_name: string, result: { records: number } }
  t.equal(profile.tool_name, 'usage_profile')
  t.equal(profile.result.records, 0, 'alice\'s records are not bob\'s')
})

/** Two weeks of one team's traffic, priced at today's catalogue, with one clear case of each saving and a retry storm. */
function synthetic (): UsageRecord[] {
  let seed = 7
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647)
  const out: UsageRecord[] = []
  const add = (day: number, hour: number, minute: number, model: string, feature: string, promptTokens: number, answerTokens: number, extra: Partial<UsageRecord> = {}) => {
    // a busy team: every line stands for twenty times the tokens
    const [input, output] = [promptTokens * 20, answerTokens * 20]
    const p = CATALOGUE[model]
    const cached = extra.cached_tokens ?? 0
    out.push({
      timestamp: new Date(Date.UTC(2025, 7, 1 + day, hour, minute)).toISOString(),
      provider: p.provider,
      model,
      input_tokens: input,
      output_tokens: output,
      cost_usd: Math.round(((input - cached) * p.input + cached * p.cached_input + output * p.output)) / 1e6,
      feature,
      request_id: `c${out.length + 1}`,
      ...extra
    })
  }
  for (let d = 0; d < 14; d++) {
    // people work on weekdays, in office hours; the nightly job runs every night
    const weekend = [0, 6].includes(new Date(Date.UTC(2025, 7, 1 + d)).getUTCDay())
    const office = (i: number) => 8 + (i * 3) % 10
    for (let i = 0; i < (weekend ? 2 : 6); i++) add(d, office(i), i, 'gpt-4o', 'classify', 800 + Math.floor(400 * rand()), 5)
    for (let i = 0; i < 4; i++) add(d, 2, 10 + i, 'gpt-4o', 'nightly-report', 20_000, 2_000)
    for (let i = 0; i < (weekend ? 2 : 5); i++) add(d, office(i + 1), 20 + i, 'claude-haiku-4-5', 'support-bot', 5_000, 400)
    add(d, 15, 30, 'claude-opus-4', 'support-bot', 5_000, 400)
    for (let i = 0; i < 3; i++) add(d, 11, 40 + i, 'gpt-4.1-mini', 'faq', 4_000 + Math.floor(1000 * rand()), 100, { prompt_hash: 'faq-system-prompt' })
    for (let i = 0; i < (weekend ? 1 : 3); i++) add(d, office(i + 2), 50 + i, 'gpt-4.1-mini', 'writer', 1_000, i === 0 && d % 5 === 0 ? 8_000 : 300 + Math.floor(200 * rand()))
  }
  // a client retrying one summary 25 times, 5 seconds apart
  for (let i = 0; i < 25; i++) {
    out.push({ timestamp: new Date(Date.UTC(2025, 7, 6, 10, 0, 5 * i)).toISOString(), provider: 'openai', model: 'gpt-4.1-mini', input_tokens: 6000, output_tokens: 300, cost_usd: 0.00288, feature: 'summarise', prompt_hash: 'sum', request_id: `s${i + 1}` })
  }
  return out.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0))
}
