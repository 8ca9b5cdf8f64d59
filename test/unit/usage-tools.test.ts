import t, { type Test } from 'tap'
import { Ajv } from 'ajv'
import type { ToolContext } from '../../src/core/registry.js'
import { roundCents } from '../../src/tools/money.js'
import { createAnalysisTools } from '../../src/tools/analysis-tools.js'
import { createLocalAnalyst } from '../../src/tools/analyst.js'
import type { UsageRecord } from '../../src/tools/usage-data.js'
import { GROUP_BY, type CostDrivers, type GroupBy, type UsageSummary } from '../../src/tools/usage-stats.js'
import type { UsageSource } from '../../src/tools/usage-data.js'
import { sampleRecords, USAGE_PROFILES } from '../../src/usage/sample.js'

const toolNamed = (name: string) => (source: UsageSource) => createAnalysisTools(createLocalAnalyst(source)).find((x) => x.name === name)!
const createUsageSummaryTool = toolNamed('usage_summary')
const createTopCostDriversTool = toolNamed('top_cost_drivers')
/** breakdown rows without their token counts, which these hand-computed cases do not list */
const bare = (s: UsageSummary) => ({ ...s, breakdown: s.breakdown.map(({ input_tokens: _i, output_tokens: _o, ...r }) => r) })

function toolContext () {
  const progress: Array<[string, number | undefined]> = []
  const ctx: ToolContext = {
    user_id: 'user-1',
    run_id: 'run-1',
    signal: new AbortController().signal,
    progress (message, fraction) { progress.push([message, fraction]) }
  }
  return { ctx, progress }
}

/** whole cents, and within half a cent of the unrounded sum */
function sameToTheCent (t: Test, got: number, raw: number, what: string) {
  t.equal(Math.round(got * 100) / 100, got, `${what} is in whole cents`)
  t.ok(Math.abs(got - raw) <= 0.005 + 1e-9, `${what}: ${got} vs ${raw}`)
}

/** the test's own grouping, written without the module's helpers */
function groupRaw (records: readonly UsageRecord[], keyOf: (r: UsageRecord) => string) {
  const out = new Map<string, { cost: number, requests: number }>()
  for (const r of records) {
    const k = keyOf(r)
    const g = out.get(k) ?? { cost: 0, requests: 0 }
    g.cost += r.cost_usd
    g.requests += r.requests ?? 1
    out.set(k, g)
  }
  return out
}

for (const profile of USAGE_PROFILES) {
  const records = sampleRecords(profile)
  const rawTotal = records.reduce((s, r) => s + r.cost_usd, 0)
  const summaryTool = createUsageSummaryTool(() => records)
  const driverTool = createTopCostDriversTool(() => records)
  const summary = async (args: { group_by?: GroupBy }) => await summaryTool.execute(args, toolContext().ctx) as UsageSummary
  const drivers = async (args: { limit?: number }) => await driverTool.execute(args, toolContext().ctx) as CostDrivers

  t.test(`${profile} sample: usage_summary matches an independent recomputation for every grouping`, async (t) => {
    const keys: Record<GroupBy, (r: UsageRecord) => string> = {
      model: (r) => r.model,
      provider: (r) => r.provider,
      feature: (r) => r.feature!,
      day: (r) => r.timestamp.slice(0, 10)
    }
    for (const groupBy of GROUP_BY) {
      const s = await summary({ group_by: groupBy })
      const expected = groupRaw(records, keys[groupBy])
      t.strictSame(s.period, { from: records[0].timestamp, to: records.at(-1)!.timestamp })
      sameToTheCent(t, s.total_cost_usd, rawTotal, 'total')
      t.equal(s.total_requests, records.reduce((n, r) => n + (r.requests ?? 1), 0))
      t.equal(s.total_input_tokens, records.reduce((n, r) => n + r.input_tokens, 0))
      t.equal(s.total_output_tokens, records.reduce((n, r) => n + r.output_tokens, 0))
      t.strictSame(s.breakdown.map((b) => b.key).sort(), [...expected.keys()].sort(), `${groupBy}: every key once`)
      for (const row of s.breakdown) {
        const e = expected.get(row.key)!
        sameToTheCent(t, row.cost_usd, e.cost, `${groupBy} ${row.key}`)
        t.equal(row.requests, e.requests)
        t.ok(Math.abs(row.share - e.cost / rawTotal) <= 0.00005 + 1e-12, `${groupBy} ${row.key} share`)
      }
      t.ok(s.breakdown.every((b, i) => i === 0 || s.breakdown[i - 1].cost_usd >= b.cost_usd), `${groupBy}: largest first`)
      const shares = s.breakdown.reduce((n, b) => n + b.share, 0)
      t.ok(Math.abs(shares - 1) < 0.002, `${groupBy}: shares sum to ${shares}`)
    }
    t.strictSame(await summary({}), await summary({ group_by: 'model' }), 'model is the default')
    t.equal((await summary({ group_by: 'day' })).breakdown.length, 30)
  })

  t.test(`${profile} sample: top_cost_drivers matches an independent recomputation`, async (t) => {
    const pairs = groupRaw(records, (r) => `${r.model} / ${r.feature}`)
    const ranked = [...pairs].sort((a, b) => b[1].cost - a[1].cost)
    const all = await drivers({ limit: 20 })
    t.equal(all.drivers.length, pairs.size, 'fewer pairs than the limit: all of them')
    sameToTheCent(t, all.total_cost_usd, rawTotal, 'total')
    all.drivers.forEach((d, i) => {
      const [key, e] = ranked[i]
      t.equal(`${d.model} / ${d.feature}`, key, `rank ${i + 1}`)
      sameToTheCent(t, d.cost_usd, e.cost, key)
      t.equal(d.requests, e.requests)
      t.ok(Math.abs(d.avg_cost_per_request_usd - e.cost / e.requests) <= 5e-7, `${key} average`)
      t.ok(Math.abs(d.share - e.cost / rawTotal) <= 0.00005 + 1e-12, `${key} share`)
      t.equal(d.provider, records.find((r) => r.model === d.model)!.provider)
    })
    t.strictSame((await drivers({})).drivers, all.drivers.slice(0, 5), 'five by default')
    t.strictSame((await drivers({ limit: 2 })).drivers, all.drivers.slice(0, 2))
  })

  t.test(`${profile} sample: the tools report progress`, async (t) => {
    const { ctx, progress } = toolContext()
    await summaryTool.execute({ group_by: 'feature' }, ctx)
    await driverTool.execute({ limit: 3 }, ctx)
    t.strictSame(progress, [
      [`usage summary over ${records.length} usage records`, 0.5],
      [`top cost drivers over ${records.length} usage records`, 0.5]
    ])
  })
}

t.test('the input schemas refuse bad arguments', async (t) => {
  const ajv = new Ajv()
  const summaryArgs = ajv.compile(createUsageSummaryTool(() => []).input_schema)
  const driverArgs = ajv.compile(createTopCostDriversTool(() => []).input_schema)
  for (const ok of [{}, ...GROUP_BY.map((g) => ({ group_by: g }))]) t.ok(summaryArgs(ok), JSON.stringify(ok))
  for (const bad of [{ group_by: 'week' }, { group_by: 'MODEL' }, { group_by: 1 }, { other: true }, { from: 'yesterday' }]) t.notOk(summaryArgs(bad), JSON.stringify(bad))
  t.ok(summaryArgs({ group_by: 'model', from: '2025-07-01', to: '2025-07-02' }))
  for (const ok of [{}, { limit: 1 }, { limit: 20 }]) t.ok(driverArgs(ok), JSON.stringify(ok))
  for (const bad of [{ limit: 0 }, { limit: 21 }, { limit: 2.5 }, { limit: '3' }, { top: 3 }]) t.notOk(driverArgs(bad), JSON.stringify(bad))
})

t.test('a hand-computed dataset', async (t) => {
  const hand: UsageRecord[] = [
    { timestamp: '2025-07-01T09:00:00.000Z', provider: 'openai', model: 'gpt-4o', input_tokens: 1000, output_tokens: 500, cost_usd: 0.125, feature: 'chat', request_id: 'a' },
    { timestamp: '2025-07-01T10:00:00.000Z', provider: 'openai', model: 'gpt-4o', input_tokens: 200, output_tokens: 10, cost_usd: 0.005, feature: 'classify', request_id: 'b' },
    { timestamp: '2025-07-01T11:00:00.000Z', provider: 'anthropic', model: 'claude-sonnet-4', input_tokens: 2000, output_tokens: 800, cost_usd: 0.3, feature: 'chat', request_id: 'c' },
    { timestamp: '2025-07-02T14:30:00.000Z', provider: 'openai', model: 'gpt-4o-mini', input_tokens: 3000, output_tokens: 100, cost_usd: 0.0151, request_id: 'd' }
  ]
  const { ctx } = toolContext()
  const summaryTool = createUsageSummaryTool(() => hand)
  const driverTool = createTopCostDriversTool(async () => hand)
  const by = async (groupBy: GroupBy) => bare(await summaryTool.execute({ group_by: groupBy }, ctx) as UsageSummary).breakdown

  // total 0.4451: $0.45, where rounding each record first would give $0.46
  t.strictSame(bare(await summaryTool.execute({}, ctx) as UsageSummary), {
    period: { from: '2025-07-01T09:00:00.000Z', to: '2025-07-02T14:30:00.000Z' },
    total_cost_usd: 0.45,
    total_requests: 4,
    total_input_tokens: 6200,
    total_output_tokens: 1410,
    breakdown: [
      { key: 'claude-sonnet-4', cost_usd: 0.3, requests: 1, share: 0.674 },
      { key: 'gpt-4o', cost_usd: 0.13, requests: 2, share: 0.2921 },
      { key: 'gpt-4o-mini', cost_usd: 0.02, requests: 1, share: 0.0339 }
    ]
  })
  t.strictSame(await by('provider'), [
    { key: 'anthropic', cost_usd: 0.3, requests: 1, share: 0.674 },
    { key: 'openai', cost_usd: 0.15, requests: 3, share: 0.326 }
  ])
  // 0.425 and 0.005 are halves: they round up
  t.strictSame(await by('feature'), [
    { key: 'chat', cost_usd: 0.43, requests: 2, share: 0.9548 },
    { key: 'unattributed', cost_usd: 0.02, requests: 1, share: 0.0339 },
    { key: 'classify', cost_usd: 0.01, requests: 1, share: 0.0112 }
  ])
  t.strictSame(await by('day'), [
    { key: '2025-07-01', cost_usd: 0.43, requests: 3, share: 0.9661 },
    { key: '2025-07-02', cost_usd: 0.02, requests: 1, share: 0.0339 }
  ])
  t.strictSame(await driverTool.execute({ limit: 3 }, ctx), {
    period: { from: '2025-07-01T09:00:00.000Z', to: '2025-07-02T14:30:00.000Z' },
    total_cost_usd: 0.45,
    drivers: [
      { model: 'claude-sonnet-4', provider: 'anthropic', feature: 'chat', cost_usd: 0.3, requests: 1, avg_cost_per_request_usd: 0.3, share: 0.674 },
      { model: 'gpt-4o', provider: 'openai', feature: 'chat', cost_usd: 0.13, requests: 1, avg_cost_per_request_usd: 0.125, share: 0.2808 },
      { model: 'gpt-4o-mini', provider: 'openai', feature: 'unattributed', cost_usd: 0.02, requests: 1, avg_cost_per_request_usd: 0.0151, share: 0.0339 }
    ]
  })
})

t.test('a hand-computed dataset with aggregated records counts their requests', async (t) => {
  // an hourly export line stands for `requests` requests; a line without it for one
  const hand: UsageRecord[] = [
    { timestamp: '2025-07-01T09:00:00.000Z', provider: 'openai', model: 'gpt-4o', input_tokens: 10000, output_tokens: 5000, cost_usd: 1.25, feature: 'chat', request_id: 'h1', requests: 10 },
    { timestamp: '2025-07-01T10:00:00.000Z', provider: 'openai', model: 'gpt-4o', input_tokens: 200, output_tokens: 10, cost_usd: 0.01, feature: 'classify', request_id: 'h2' },
    { timestamp: '2025-07-02T11:00:00.000Z', provider: 'anthropic', model: 'claude-sonnet-4', input_tokens: 6000, output_tokens: 2400, cost_usd: 0.9, feature: 'chat', request_id: 'h3', requests: 3 }
  ]
  const { ctx } = toolContext()
  const summaryTool = createUsageSummaryTool(() => hand)
  const by = async (groupBy: GroupBy) => bare(await summaryTool.execute({ group_by: groupBy }, ctx) as UsageSummary).breakdown

  // 10 + 1 + 3 requests in 3 records; total $2.16
  t.strictSame(bare(await summaryTool.execute({}, ctx) as UsageSummary), {
    period: { from: '2025-07-01T09:00:00.000Z', to: '2025-07-02T11:00:00.000Z' },
    total_cost_usd: 2.16,
    total_requests: 14,
    total_input_tokens: 16200,
    total_output_tokens: 7410,
    breakdown: [
      { key: 'gpt-4o', cost_usd: 1.26, requests: 11, share: 0.5833 },
      { key: 'claude-sonnet-4', cost_usd: 0.9, requests: 3, share: 0.4167 }
    ]
  })
  t.strictSame(await by('feature'), [
    { key: 'chat', cost_usd: 2.15, requests: 13, share: 0.9954 },
    { key: 'classify', cost_usd: 0.01, requests: 1, share: 0.0046 }
  ])
  t.strictSame(await by('day'), [
    { key: '2025-07-01', cost_usd: 1.26, requests: 11, share: 0.5833 },
    { key: '2025-07-02', cost_usd: 0.9, requests: 3, share: 0.4167 }
  ])
  // the average is per request: $1.25 over 10 requests, not over 1 record
  t.strictSame(await createTopCostDriversTool(() => hand).execute({}, ctx), {
    period: { from: '2025-07-01T09:00:00.000Z', to: '2025-07-02T11:00:00.000Z' },
    total_cost_usd: 2.16,
    drivers: [
      { model: 'gpt-4o', provider: 'openai', feature: 'chat', cost_usd: 1.25, requests: 10, avg_cost_per_request_usd: 0.125, share: 0.5787 },
      { model: 'claude-sonnet-4', provider: 'anthropic', feature: 'chat', cost_usd: 0.9, requests: 3, avg_cost_per_request_usd: 0.3, share: 0.4167 },
      { model: 'gpt-4o', provider: 'openai', feature: 'classify', cost_usd: 0.01, requests: 1, avg_cost_per_request_usd: 0.01, share: 0.0046 }
    ]
  })
})

t.test('no records', async (t) => {
  const { ctx } = toolContext()
  t.strictSame(await createUsageSummaryTool(() => []).execute({ group_by: 'feature' }, ctx), {
    period: null, total_cost_usd: 0, total_requests: 0, total_input_tokens: 0, total_output_tokens: 0, breakdown: []
  })
  t.strictSame(await createTopCostDriversTool(() => []).execute({}, ctx), { period: null, total_cost_usd: 0, drivers: [] })
})

t.test('roundCents rounds halves up despite binary floats', async (t) => {
  t.equal(roundCents(1.005), 1.01)
  t.equal(roundCents(2.675), 2.68)
  t.equal(roundCents(0.125), 0.13)
  t.equal(roundCents(0.004999), 0)
  t.equal(roundCents(1234.5649), 1234.56)
})
