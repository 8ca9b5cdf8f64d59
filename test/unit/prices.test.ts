import t from 'tap'
import { canonicalModel, costOf, findPrice, priceOf, PRICES, TIERS } from '../../src/tools/prices.js'
import { TABLE } from '../helpers/analysis-fixtures.js'

const models = Object.entries(PRICES.models)

t.test('the catalogue is dated, versioned and frozen', async (t) => {
  t.equal(PRICES.version, 2)
  t.equal(PRICES.as_of, '2025-08-15')
  t.ok(Object.isFrozen(PRICES) && Object.isFrozen(PRICES.models) && models.every(([, p]) => Object.isFrozen(p)))
  t.equal(models.length, 23)
  t.strictSame([...new Set(models.map(([, p]) => p.provider))].sort(), ['anthropic', 'deepseek', 'google', 'mistral', 'openai'])
})

t.test('the tiers of each provider: right-sizing can stay with the provider', async (t) => {
  const tiers = (provider: string) => [...new Set(models.filter(([, p]) => p.provider === provider).map(([, p]) => p.tier))].sort()
  for (const provider of ['openai', 'anthropic', 'mistral']) t.strictSame(tiers(provider), ['economy', 'premium', 'standard'], provider)
  // Gemini's line-up is Pro and the Flash family
  t.strictSame(tiers('google'), ['economy', 'premium'])
  t.strictSame(tiers('deepseek'), ['premium', 'standard'])
  t.strictSame([...TIERS], ['premium', 'standard', 'economy'])
})

t.test('every price is sane: cached ≤ input ≤ output, batch half price where there is a batch API', async (t) => {
  for (const [name, p] of models) {
    t.ok(TIERS.includes(p.tier), `${name} tier`)
    t.ok(p.cached_input > 0 && p.cached_input <= p.input && p.input <= p.output, `${name}: ${p.cached_input} ≤ ${p.input} ≤ ${p.output}`)
    t.equal(p.batch_discount, p.provider === 'deepseek' ? undefined : 0.5, `${name} batch discount`)
  }
})

t.test('list prices of a few models, exactly', async (t) => {
  t.strictSame(PRICES.models['claude-sonnet-4'], { provider: 'anthropic', tier: 'standard', input: 3, output: 15, cached_input: 0.3, batch_discount: 0.5 })
  t.strictSame(PRICES.models['claude-opus-4-1'], { provider: 'anthropic', tier: 'premium', input: 15, output: 75, cached_input: 1.5, batch_discount: 0.5 })
  t.strictSame(PRICES.models['gpt-5'], { provider: 'openai', tier: 'premium', input: 1.25, output: 10, cached_input: 0.125, batch_discount: 0.5 })
  t.strictSame(PRICES.models['gpt-4.1-mini'], { provider: 'openai', tier: 'economy', input: 0.4, output: 1.6, cached_input: 0.1, batch_discount: 0.5 })
  t.strictSame(PRICES.models['gemini-2.5-pro'], { provider: 'google', tier: 'premium', input: 1.25, output: 10, cached_input: 0.31, batch_discount: 0.5 })
  t.strictSame(PRICES.models['mistral-medium'], { provider: 'mistral', tier: 'standard', input: 0.4, output: 2, cached_input: 0.4, batch_discount: 0.5 })
  t.strictSame(PRICES.models['deepseek-chat'], { provider: 'deepseek', tier: 'standard', input: 0.27, output: 1.1, cached_input: 0.07 })
})

t.test('costOf: uncached input, cached input and output at their rates (hand-computed)', async (t) => {
  // (8,000 × $3 + 2,000 × $0.30 + 500 × $15) / 1e6
  t.equal(costOf('claude-sonnet-4', { input_tokens: 10_000, output_tokens: 500, cached_tokens: 2000 }), 0.0321)
  // (4,000 × $0.30 + 600 × $2.50) / 1e6
  t.equal(costOf('gemini-2.5-flash', { input_tokens: 4000, output_tokens: 600 }), 0.0027)
  // a million of each: the list prices themselves
  t.equal(costOf('gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 1_000_000 }), 0.75)
  t.equal(costOf('gpt-4o-mini', { input_tokens: 1_000_000, output_tokens: 0, cached_tokens: 1_000_000 }), 0.075)
  // a dated snapshot costs what its model costs
  t.equal(costOf('claude-sonnet-4-20250514', { input_tokens: 10_000, output_tokens: 500, cached_tokens: 2000 }), 0.0321)
  t.equal(costOf('gemini-2.5-pro', { input_tokens: 120_000, output_tokens: 4000 }), 0.19)
  t.throws(() => costOf('llama-3-70b', { input_tokens: 1, output_tokens: 1 }),
    new RangeError('no price for model "llama-3-70b" in the table of 2025-08-15'))
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
