import t from 'tap'
import { Ajv } from 'ajv'
import { silentLogger } from '../../src/core/context.js'
import { AgentRegistry, type AgentContext, type ToolContext, type ToolDefinition } from '../../src/core/registry.js'
import { builtinModule } from '../../src/agents/index.js'
import { count, pct, usd, usdFine } from '../../src/agents/format.js'
import { supervisor, type SupervisorResult } from '../../src/agents/supervisor.js'
import { createTopCostDriversTool } from '../../src/tools/top-cost-drivers.js'
import { createUsageSummaryTool } from '../../src/tools/usage-summary.js'
import type { CostDrivers, UsageSummary } from '../../src/tools/usage-stats.js'

const toolContext: ToolContext = { user_id: 'user-1', run_id: 'run-1', signal: new AbortController().signal, progress () {} }

/** An AgentContext whose call_tool validates like the engine and runs the real tools. */
function fakeContext (content: string, tools: ToolDefinition[] = builtinModule.tools!) {
  const ajv = new Ajv({ useDefaults: true })
  const byName = new Map(tools.map((tool) => [tool.name, { tool, validate: ajv.compile(tool.input_schema) }]))
  const calls: Array<{ name: string, args: Record<string, unknown> }> = []
  const thoughts: string[] = []
  const ctx: AgentContext = {
    user_id: 'user-1',
    thread_id: 'thread-1',
    run_id: 'run-1',
    agent_id: 'agent-1',
    content,
    signal: new AbortController().signal,
    log: silentLogger,
    think (text) { thoughts.push(text) },
    call_tool: async <R>(name: string, args: Record<string, unknown>): Promise<R> => {
      calls.push({ name, args: structuredClone(args) })
      const entry = byName.get(name)
      if (!entry) throw new Error(`unknown tool ${name}`)
      if (!entry.validate(args)) throw new Error(`invalid arguments for ${name}`)
      return await entry.tool.execute(args, toolContext) as R
    },
    call_agent: async () => { throw new Error('the supervisor calls no agents') }
  }
  return { ctx, calls, thoughts }
}

const run = async (ctx: AgentContext) => await supervisor.run!(ctx, {}) as SupervisorResult
const tool = (name: string) => builtinModule.tools!.find((x) => x.name === name)!
const summary = async (groupBy: string) => await tool('usage_summary').execute({ group_by: groupBy }, toolContext) as UsageSummary
const topDrivers = async () => await tool('top_cost_drivers').execute({ limit: 5 }, toolContext) as CostDrivers

t.test('the built-in module registers', async (t) => {
  const registry = new AgentRegistry().register(builtinModule)
  t.strictSame(registry.list().map((a) => a.name), ['supervisor'])
  t.strictSame(registry.tools().map((x) => x.name), ['usage_summary', 'top_cost_drivers'])
})

t.test('a general question: spend by model and the top drivers, all from the tools', async (t) => {
  const { ctx, calls, thoughts } = fakeContext('Where is our AI money going?')
  const result = await run(ctx)
  t.strictSame(calls, [
    { name: 'usage_summary', args: { group_by: 'model' } },
    { name: 'top_cost_drivers', args: { limit: 5 } }
  ])
  t.equal(thoughts.length, 2)
  t.match(thoughts[0], /spend by model, then the top 5 model × feature cost drivers\.$/)

  const byModel = await summary('model')
  const drivers = await topDrivers()
  t.equal(result.total_cost_usd, byModel.total_cost_usd)
  t.strictSame(result.top_models, byModel.breakdown.slice(0, 5).map((r) => ({ model: r.key, cost_usd: r.cost_usd, requests: r.requests, share: r.share })))
  t.strictSame(result.top_drivers, drivers.drivers)

  t.ok(result.answer.includes('**$93.83** across **2,760** requests'), 'the total, as the sample gives it')
  t.ok(result.answer.includes(`**${usd(byModel.total_cost_usd)}** across **${count(byModel.total_requests)}** requests ` +
    `(${count(byModel.total_input_tokens)} input and ${count(byModel.total_output_tokens)} output tokens)`))
  t.ok(result.answer.startsWith('## LLM spend, 2025-07-02 to 2025-07-31\n'))
  for (const r of byModel.breakdown) t.ok(result.answer.includes(`| ${r.key} | ${usd(r.cost_usd)} | ${count(r.requests)} | ${pct(r.share)} |`), r.key)
  for (const d of drivers.drivers) {
    t.ok(result.answer.includes(`| ${d.model} | ${d.feature} | ${usd(d.cost_usd)} | ${count(d.requests)} | ${usdFine(d.avg_cost_per_request_usd)} | ${pct(d.share)} |`), `${d.model} ${d.feature}`)
  }
  const top = drivers.drivers[0]
  t.ok(result.answer.includes(`**Where to look first:** ${top.model} on ${top.feature} costs ${usd(top.cost_usd)} (${pct(top.share)} of spend)`))
  t.notOk(result.answer.includes('Spend by feature'))
  t.notOk(result.answer.includes('What you asked about'))
})

t.test('a question about features adds spend by feature', async (t) => {
  const { ctx, calls } = fakeContext('Which features cost us the most?')
  const result = await run(ctx)
  t.strictSame(calls.map((c) => c.name), ['usage_summary', 'top_cost_drivers', 'usage_summary'])
  t.strictSame(calls[2].args, { group_by: 'feature' })
  const byFeature = await summary('feature')
  t.ok(result.answer.includes('### Spend by feature'))
  for (const r of byFeature.breakdown) t.ok(result.answer.includes(`| ${r.key} | ${usd(r.cost_usd)} | ${count(r.requests)} | ${pct(r.share)} |`), r.key)
})

t.test('a question naming a provider and a model focuses on them', async (t) => {
  const { ctx, calls } = fakeContext('How much goes to Claude, and to gpt-4o?')
  const result = await run(ctx)
  t.strictSame(calls.map((c) => c.name), ['usage_summary', 'top_cost_drivers', 'usage_summary'])
  t.strictSame(calls[2].args, { group_by: 'provider' }, 'gpt-4o names OpenAI too, so both providers come from one call')
  const anthropic = (await summary('provider')).breakdown.find((r) => r.key === 'anthropic')!
  const openai = (await summary('provider')).breakdown.find((r) => r.key === 'openai')!
  const gpt4o = (await summary('model')).breakdown.find((r) => r.key === 'gpt-4o')!
  t.ok(result.answer.includes('### What you asked about'))
  t.ok(result.answer.includes(`- **anthropic**: ${usd(anthropic.cost_usd)} (${pct(anthropic.share)} of spend) over ${count(anthropic.requests)} requests`))
  t.ok(result.answer.includes(`- **openai**: ${usd(openai.cost_usd)}`))
  t.ok(result.answer.includes(`- **gpt-4o**: ${usd(gpt4o.cost_usd)} (${pct(gpt4o.share)} of spend) over ${count(gpt4o.requests)} requests`))
  t.notOk(result.answer.includes('- **gpt-4o-mini**'), 'gpt-4o is not gpt-4o-mini')
  t.notOk(result.answer.includes('- **google**'))
})

t.test('no usage records: an honest empty answer', async (t) => {
  const { ctx, calls } = fakeContext('What did we spend?', [createUsageSummaryTool(() => []), createTopCostDriversTool(() => [])])
  const result = await run(ctx)
  t.equal(calls.length, 2)
  t.strictSame(result, {
    answer: 'There are no usage records yet, so there is no spend to analyse.',
    total_cost_usd: 0,
    top_models: [],
    top_drivers: []
  })
})
