import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { catalogueFrom } from '../../src/tools/catalogue-file.js'
import { canonicalModel, costOf, findPrice, priceOf, PRICES, TIERS, type ModelPrice } from '../../src/tools/prices.js'
import { TABLE } from '../helpers/analysis-fixtures.js'

const models = Object.entries(PRICES.models)

t.test('the catalogue is dated, versioned, sourced and frozen', async (t) => {
  t.equal(PRICES.version, 3)
  t.equal(PRICES.as_of, '2026-11-30')
  t.ok(Object.isFrozen(PRICES) && Object.isFrozen(PRICES.models) && models.every(([, p]) => Object.isFrozen(p)))
  t.equal(models.length, 45)
  t.strictSame([...new Set(models.map(([, p]) => p.provider))].sort(), ['anthropic', 'deepseek', 'google', 'mistral', 'openai'])
  for (const [name, p] of models) t.match(p.source, /^https:\/\//, `${name} says where its price was read`)
  for (const name of ['gpt-5.5', 'gpt-5.4-mini', 'claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-4-5', 'gemini-3.1-pro-preview', 'gemini-3-flash-preview', 'mistral-large-3']) {
    t.ok(Object.hasOwn(PRICES.models, name), `${name} is listed`)
  }
})

t.test('the tiers of each provider: right-sizing can stay with the provider', async (t) => {
  const tiers = (provider: string) => [...new Set(models.filter(([, p]) => p.provider === provider).map(([, p]) => p.tier))].sort()
  for (const provider of ['openai', 'anthropic', 'mistral']) t.strictSame(tiers(provider), ['economy', 'premium', 'standard'], provider)
  t.strictSame(tiers('google'), ['economy', 'premium'])
  t.strictSame(tiers('deepseek'), ['premium', 'standard'])
  t.strictSame([...TIERS], ['premium', 'standard', 'economy'])
})

t.test('every price is sane: cached ≤ input ≤ output, batch half price where there is a batch API, cache rules where there is a cached rate', async (t) => {
  for (const [name, p] of models) {
    t.ok(TIERS.includes(p.tier), `${name} tier`)
    t.ok(p.cached_input > 0 && p.cached_input <= p.input && p.input <= p.output, `${name}: ${p.cached_input} ≤ ${p.input} ≤ ${p.output}`)
    t.equal(p.batch_discount, p.provider === 'deepseek' ? undefined : 0.5, `${name} batch discount`)
    t.equal(p.cache !== undefined, p.cached_input < p.input, `${name}: cache rules exactly where a cached read is cheaper`)
    for (const w of Object.values(p.cache?.write ?? {})) t.ok(w >= p.input, `${name}: a cache write costs at least plain input`)
    t.ok(!p.long_context || (p.long_context.input > p.input && p.long_context.output > p.output), `${name}: long prompts cost more`)
  }
})

t.test('list prices of a few models, exactly, with their billing rules', async (t) => {
  const rules = (p: ModelPrice) => ({ input: p.input, output: p.output, cached_input: p.cached_input, reasoning: p.reasoning ?? false, status: p.status ?? 'current', cache: p.cache, long: p.long_context })
  t.strictSame(rules(PRICES.models['claude-sonnet-4']), {
    input: 3,
    output: 15,
    cached_input: 0.3,
    reasoning: false,
    status: 'legacy',
    cache: { min_tokens: 1024, write: { 300: 3.75, 3600: 6 }, automatic: false },
    long: { above_tokens: 200_000, input: 6, output: 22.5, cached_input: 0.6 }
  })
  t.strictSame(rules(PRICES.models['claude-opus-5-5']), { input: 4, output: 20, cached_input: 0.2, reasoning: true, status: 'current', cache: { min_tokens: 4096, write: { 300: 5, 3600: 8 }, automatic: false }, long: undefined })
  t.strictSame(rules(PRICES.models['gpt-5.4-mini']), { input: 0.75, output: 4.5, cached_input: 0.075, reasoning: true, status: 'current', cache: { min_tokens: 1024, write: { 300: 0.75 }, automatic: true }, long: undefined })
  t.strictSame(rules(PRICES.models['gpt-4.1']), { input: 2, output: 8, cached_input: 0.5, reasoning: false, status: 'legacy', cache: { min_tokens: 1024, write: { 300: 2 }, automatic: true }, long: undefined })
  t.strictSame(rules(PRICES.models['gemini-2.5-pro']), {
    input: 1.25,
    output: 10,
    cached_input: 0.125,
    reasoning: true,
    status: 'legacy',
    cache: { min_tokens: 2048, write: { 300: 1.25 }, automatic: true },
    long: { above_tokens: 200_000, input: 2.5, output: 15, cached_input: 0.25 }
  })
  t.strictSame(rules(PRICES.models['mistral-large-3']), { input: 0.5, output: 1.5, cached_input: 0.5, reasoning: false, status: 'current', cache: undefined, long: undefined })
  t.strictSame(rules(PRICES.models['deepseek-chat']), { input: 0.28, output: 0.42, cached_input: 0.028, reasoning: false, status: 'current', cache: { min_tokens: 64, write: { 3600: 0.28 }, automatic: true }, long: undefined })
  t.equal(PRICES.models['claude-3-5-haiku'].status, 'retired')
  t.equal(PRICES.models['gpt-5-nano'].status, 'deprecated')
})

t.test('costOf: uncached input, cached input and output at their rates, long prompts at the long-context rates (hand-computed)', async (t) => {
  // (8,000 × $3 + 2,000 × $0.30 + 500 × $15) / 1e6
  t.equal(costOf('claude-sonnet-4', { input_tokens: 10_000, output_tokens: 500, cached_tokens: 2000 }), 0.0321)
  // (4,000 × $0.30 + 600 × $2.50) / 1e6
  t.equal(costOf('gemini-2.5-flash', { input_tokens: 4000, output_tokens: 600 }), 0.0027)
  t.equal(costOf('gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 1_000_000 }), 0.75)
  t.equal(costOf('gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 0, cached_tokens: 1_000_000 }), 0.075)
  t.equal(costOf('claude-sonnet-4-20250514', { input_tokens: 10_000, output_tokens: 500, cached_tokens: 2000 }), 0.0321)
  t.equal(costOf('gemini-2.5-pro', { input_tokens: 120_000, output_tokens: 4000 }), 0.19)
  // over 200k tokens every token of the request is at the long rate: (300,000 × $2.50 + 4,000 × $15) / 1e6
  t.equal(costOf('gemini-2.5-pro', { input_tokens: 300_000, output_tokens: 4000 }), 0.81)
  // an aggregate of three such requests is three at the short rate
  t.equal(costOf('gemini-2.5-pro', { input_tokens: 360_000, output_tokens: 12_000, requests: 3 }), 0.57)
  t.throws(() => costOf('llama-3-70b', { input_tokens: 1, output_tokens: 1 }),
    new RangeError('no price for model "llama-3-70b" in the table of 2026-11-30'))
})

t.test('a catalogue file: negotiated rates over the built-in ones, new models, or a table of its own', async (t) => {
  const negotiated = catalogueFrom({ as_of: '2026-11-01', models: { 'gpt-4.1': { input: 1.6, output: 6.4 }, 'acme-1': { provider: 'acme', tier: 'standard', input: 1, output: 2, cached_input: 1 } } })
  t.equal(negotiated.as_of, '2026-11-01')
  t.strictSame([negotiated.models['gpt-4.1'].input, negotiated.models['gpt-4.1'].output, negotiated.models['gpt-4.1'].cached_input], [1.6, 6.4, 0.5], 'fields not given keep the list price')
  t.equal(costOf('acme-1', { input_tokens: 1_000_000, output_tokens: 1_000_000 }, negotiated), 3)
  t.equal(negotiated.models['claude-sonnet-4'], PRICES.models['claude-sonnet-4'])
  const own = catalogueFrom({ as_of: '2026-11-01', replace: true, models: { 'acme-1': { provider: 'acme', tier: 'economy', input: 1, output: 2, cached_input: 1 } } })
  t.strictSame(Object.keys(own.models), ['acme-1'])
  t.throws(() => catalogueFrom({ as_of: '2026-11-01', models: { 'acme-2': { input: 1 } } }), { message: '/models/acme-2 needs provider (it is not a built-in model)' })
  t.throws(() => catalogueFrom({ as_of: 'yesterday', models: {} }), /as_of/)
  t.throws(() => catalogueFrom({ as_of: '2026-11-01', models: { 'gpt-4.1': { input: -1 } } }), /input/)
  const dir = t.testdir({ 'prices.json': JSON.stringify({ as_of: '2026-11-01', models: { 'gpt-4.1': { input: 1.6 } } }), 'bad.json': '{' })
  t.equal(loadConfig({ PRICE_CATALOGUE: `${dir}/prices.json` }).prices.models['gpt-4.1'].input, 1.6)
  t.equal(loadConfig({}).prices, PRICES)
  t.throws(() => loadConfig({ PRICE_CATALOGUE: `${dir}/bad.json` }), /^invalid PRICE_CATALOGUE: cannot read .*bad\.json/)
  t.throws(() => loadConfig({ PRICE_CATALOGUE: `${dir}/none.json` }), /^invalid PRICE_CATALOGUE: cannot read/)
})

t.test('snapshots, aliases and prefixed names resolve to the catalogue entry', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['gpt-4o', 'gpt-4o'],
    ['GPT-4o', 'gpt-4o'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['openai/gpt-4.1', 'gpt-4.1'],
    ['gpt-4.1-2025-04-14', 'gpt-4.1'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['o3-2025-04-16', 'o3'],
    ['claude-sonnet-4-20250514', 'claude-sonnet-4'],
    ['claude-sonnet-4@20250514', 'claude-sonnet-4'],
    ['anthropic/claude-opus-4-1-20250805', 'claude-opus-4-1'],
    ['claude-3-5-haiku-latest', 'claude-3-5-haiku'],
    ['models/gemini-2.5-flash', 'gemini-2.5-flash'],
    ['google/gemini-2.5-flash-lite', 'gemini-2.5-flash-lite'],
    ['mistral-large-latest', 'mistral-large'],
    ['mistral-small-2506', 'mistral-small'],
    ['mistral-large-2411', 'mistral-large-2411'],
    ['GPT-4.1', 'gpt-4.1'],
    ['claude-opus-5-5', 'claude-opus-5-5'],
    ['deepseek-chat', 'deepseek-chat'],
    ['gpt-4o-audio-preview', undefined],
    ['claude-sonnet', undefined],
    ['llama-3-70b', undefined],
    ['toString', undefined],
    ['__proto__', undefined],
    ['', undefined]
  ]
  for (const [name, expected] of cases) {
    t.equal(canonicalModel(name), expected, name)
    t.equal(findPrice(name), expected && PRICES.models[expected], `findPrice ${name}`)
  }
  t.equal(priceOf('claude-sonnet-4@20250514'), PRICES.models['claude-sonnet-4'])
  t.throws(() => priceOf('gpt-4o-audio-preview'), RangeError)
})

t.test('a lookup reads the table it is given, not the catalogue', async (t) => {
  t.equal(canonicalModel('openai/mid-a-2025-01-01', TABLE), 'mid-a')
  t.equal(priceOf('mid-a', TABLE), TABLE.models['mid-a'])
  t.equal(findPrice('gpt-5', TABLE), undefined)
  t.throws(() => priceOf('gpt-5', TABLE), new RangeError('no price for model "gpt-5" in the table of 2025-07-01'))
  t.equal(costOf('mid-a', { input_tokens: 1_000_000, output_tokens: 0 }, TABLE), 2)
})
