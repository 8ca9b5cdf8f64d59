import t from 'tap'
import { intentIn } from '../../src/llm/intent.js'
import { numbersIn, unfaithfulNumbers } from '../../src/llm/reword.js'
import { thoughtStream } from '../../src/llm/thinking.js'

t.test('thoughtStream coalesces deltas into lines of at least minChars, cut at maxChars', async (t) => {
  const thoughts: string[] = []
  const s = thoughtStream((x) => thoughts.push(x), { minChars: 20, maxChars: 40 })
  for (const d of ['The ', 'spend ', 'rose.\nIt ', 'was the ', 'retry loop on Tuesday.\n', 'Done']) s.push(d)
  t.strictSame(thoughts, ['The spend rose.\nIt was the retry loop on Tuesday.'], 'nothing until 20 chars end in a line break')
  s.flush()
  t.strictSame(thoughts.at(-1), 'Done')

  const long: string[] = []
  const l = thoughtStream((x) => long.push(x), { minChars: 20, maxChars: 40 })
  for (const word of 'one two three four five six seven eight nine ten eleven twelve'.split(' ')) l.push(word + ' ')
  t.ok(long.length >= 1 && long.every((x) => x.length <= 40), 'a line without a break is cut at a space before maxChars')
  l.flush()
  t.equal(long.join(' '), 'one two three four five six seven eight nine ten eleven twelve', 'nothing lost or doubled')

  const per: string[] = []
  const p = thoughtStream((x) => per.push(x), { minChars: 1 })
  for (const d of ['a', 'b\n', '\n', 'c']) p.push(d)
  p.flush()
  t.strictSame(per, ['ab', 'c'], 'minChars 1: every line, blank ones skipped')
})

t.test('intentIn reads the last intent line, or a bare name, and nothing else', async (t) => {
  const names = ['cost_optimisation', 'anomaly_investigation', 'capacity_planning', 'general_question'] as const
  t.equal(intentIn('They want to cut costs.\nintent: cost_optimisation', names), 'cost_optimisation')
  t.equal(intentIn('intent: general_question\nOn second thought…\nIntent: **capacity_planning**', names), 'capacity_planning')
  t.equal(intentIn('`anomaly_investigation`', names), 'anomaly_investigation')
  t.equal(intentIn('intent: save_money', names), undefined, 'not a known intent')
  t.equal(intentIn('I think this is about costs.', names), undefined)
  t.equal(intentIn('', names), undefined)
})

t.test('numbersIn reads every figure as a canonical decimal', async (t) => {
  t.strictSame(numbersIn('**$45,123.50** across 1,234 requests (12.0%), 2025-08-01'), ['45123.5', '1234', '12', '2025', '8', '1'])
})

t.test('unfaithfulNumbers: changed, rounded or invented figures and dropped dollar amounts', async (t) => {
  const report = '**$45,123.50** across **1,234** requests; at this rate **$46,000.00** a month (12.5% of it on gpt-4o).'
  t.strictSame(unfaithfulNumbers(report, 'You spent $45,123.50 on 1,234 requests, which is $46,000.00 a month; 12.5% goes to gpt-4o.'), [], 'same figures, new words')
  t.strictSame(unfaithfulNumbers(report, 'You spent $45,123.5 on 1234 requests: $46,000 a month, 12.50% on gpt-4o.'), [], 'the same values written differently')
  t.strictSame(unfaithfulNumbers(report, 'You spent $45,124 on 1,234 requests, $46,000.00 a month, 12.5% on gpt-4o.'), ['45124', '$45123.5 dropped'])
  t.strictSame(unfaithfulNumbers(report, 'You spent $45,123.50, $46,000.00 a month, 3 times more than needed.'), ['3'])
  t.strictSame(unfaithfulNumbers(report, 'You spent $45,123.50 on 1,234 requests.'), ['$46000 dropped'])
})
