import t from 'tap'
import { coverage, periodLabel, resolvePeriod } from '../../src/agents/periods.js'

// Monday 30 Nov 2026; the data runs from 1 Jun 2025 to yesterday
const CONTEXT = { today: '2026-11-30', data: { from: '2025-06-01', to: '2026-11-29' } }

const TABLE: ReadonlyArray<readonly [string, string, string]> = [
  ['How much did we spend since October?', '2026-10-01', '2026-11-30'],
  ['spend between Oct 1 and Oct 15', '2026-10-01', '2026-10-15'],
  ['from Oct 1 to Oct 15', '2026-10-01', '2026-10-15'],
  ['what did Oct 1-15 cost', '2026-10-01', '2026-10-15'],
  ['costs for 1–15 Oct', '2026-10-01', '2026-10-15'],
  ['between 1 and 15 October', '2026-10-01', '2026-10-15'],
  ['October 1 through October 15, 2026', '2026-10-01', '2026-10-15'],
  ['2026-10-01 to 2026-10-15', '2026-10-01', '2026-10-15'],
  ['from 2026-10-01 until 2026-10-15', '2026-10-01', '2026-10-15'],
  ['between 1 Oct and 15 Oct 2026', '2026-10-01', '2026-10-15'],
  ['Oct 1 to Nov 15', '2026-10-01', '2026-11-15'],
  ['Dec 20 to Jan 5', '2025-12-20', '2026-01-05'],
  ['spend over the last two weeks', '2026-11-17', '2026-11-30'],
  ['the past three days', '2026-11-28', '2026-11-30'],
  ['last 7 days', '2026-11-24', '2026-11-30'],
  ['in the last 30 days', '2026-11-01', '2026-11-30'],
  ['past 90 days', '2026-09-02', '2026-11-30'],
  ['what happened last Tuesday?', '2026-11-24', '2026-11-24'],
  ['the bill on Tuesday', '2026-11-24', '2026-11-24'],
  ['last Monday', '2026-11-23', '2026-11-23'],
  ['in July', '2026-07-01', '2026-07-31'],
  ['July 2025', '2025-07-01', '2025-07-31'],
  ['yesterday', '2026-11-29', '2026-11-29'],
  ['today', '2026-11-30', '2026-11-30'],
  ['the day before yesterday', '2026-11-28', '2026-11-28'],
  ['last week', '2026-11-23', '2026-11-29'],
  ['this week', '2026-11-30', '2026-11-30'],
  ['last month', '2026-10-01', '2026-10-31'],
  ['this month', '2026-11-01', '2026-11-30'],
  ['the past month', '2026-10-31', '2026-11-30'],
  ['last quarter', '2026-07-01', '2026-09-30'],
  ['this quarter', '2026-10-01', '2026-11-30'],
  ['in Q3', '2026-07-01', '2026-09-30'],
  ['Q3 2025', '2025-07-01', '2025-09-30'],
  ['in 2025', '2025-01-01', '2025-12-31'],
  ['last year', '2025-01-01', '2025-12-31'],
  ['this year', '2026-01-01', '2026-11-30'],
  ['year to date', '2026-01-01', '2026-11-30'],
  ['YTD', '2026-01-01', '2026-11-30'],
  ['month-to-date', '2026-11-01', '2026-11-30'],
  ['since Oct 5', '2026-10-05', '2026-11-30'],
  ['since last week', '2026-11-23', '2026-11-30'],
  ['after Oct 5', '2026-10-06', '2026-11-30'],
  ['since 2026-11-01', '2026-11-01', '2026-11-30'],
  ['on Oct 3', '2026-10-03', '2026-10-03'],
  ['Oct 3rd', '2026-10-03', '2026-10-03'],
  ['3 October', '2026-10-03', '2026-10-03'],
  ['October 3, 2025', '2025-10-03', '2025-10-03'],
  ['on the 3rd of October', '2026-10-03', '2026-10-03'],
  ['2026-10-03', '2026-10-03', '2026-10-03'],
  ['the first half of October', '2026-10-01', '2026-10-15'],
  ['second half of October', '2026-10-16', '2026-10-31'],
  ['the first week of October', '2026-10-01', '2026-10-07'],
  ['the last week of October', '2026-10-25', '2026-10-31'],
  ['the week of Oct 7', '2026-10-05', '2026-10-11'],
  ['last weekend', '2026-11-28', '2026-11-29'],
  ['over the weekend', '2026-11-28', '2026-11-29'],
  ['3 days ago', '2026-11-27', '2026-11-27'],
  ['two weeks ago', '2026-11-16', '2026-11-22'],
  ['the past 24 hours', '2026-11-29', '2026-11-30'],
  ['last fortnight', '2026-11-17', '2026-11-30'],
  ['before October', '2025-06-01', '2026-09-30'],
  ['until Oct 15', '2025-06-01', '2026-10-15'],
  ['from July to September', '2026-07-01', '2026-09-30'],
  ['between March and May', '2026-03-01', '2026-05-31'],
  ['in May', '2026-05-01', '2026-05-31'],
  ['H1 2026', '2026-01-01', '2026-06-30'],
  ['the last couple of weeks', '2026-11-17', '2026-11-30'],
  ['in the last week', '2026-11-24', '2026-11-30'],
  ['Nov 2026', '2026-11-01', '2026-11-30'],
  ['in December', '2025-12-01', '2025-12-31'],
  ['trailing 12 months', '2025-12-01', '2026-11-30'],
  ['the previous 2 months', '2026-10-01', '2026-11-30'],
  ['SINCE OCTOBER', '2026-10-01', '2026-11-30'],
  ['Sept 1 – Sept 10', '2026-09-01', '2026-09-10']
]

t.test(`${TABLE.length} phrasings resolve to their days`, async (t) => {
  t.ok(TABLE.length >= 60)
  for (const [question, from, to] of TABLE) {
    const got = resolvePeriod(question, CONTEXT)
    t.strictSame(got && { from: got.from, to: got.to }, { from, to }, `${JSON.stringify(question)} → ${from} to ${to} (read "${got?.text}")`)
  }
})

t.test('no period: questions without one, model snapshots, "may" as a verb, counts', async (t) => {
  for (const q of ['Which model costs us most?', 'How may we save?', 'what does gpt-4.1-2025-04-14 cost', 'claude-sonnet-4-20250514 spend',
    'show the top 1000 requests', 'Where does our AI money go?', 'hello']) {
    t.equal(resolvePeriod(q, CONTEXT), null, q)
  }
})

t.test('a month without a year is the latest one with data that has begun', async (t) => {
  const old = { today: '2026-11-30', data: { from: '2025-05-01', to: '2025-09-30' } }
  t.match(resolvePeriod('in July', old), { from: '2025-07-01', to: '2025-07-31' }, 'July 2025 holds the data')
  t.match(resolvePeriod('Oct 1-15', old), { from: '2026-10-01', to: '2026-10-15' }, 'no October holds data: the latest that has begun')
  t.match(resolvePeriod('in December', { today: '2026-11-30' }), { from: '2025-12-01', to: '2025-12-31' }, 'never a month still to come')
})

t.test('the words and the label said back', async (t) => {
  t.match(resolvePeriod('What did we spend between Oct 1 and Oct 15?', CONTEXT), { text: 'between Oct 1 and Oct 15', label: '1–15 Oct 2026' })
  t.match(resolvePeriod('since October', CONTEXT), { text: 'since October', label: '1 Oct – 30 Nov 2026' })
  t.equal(periodLabel({ from: '2025-12-20', to: '2026-01-05' }), '20 Dec 2025 – 5 Jan 2026')
  t.equal(periodLabel({ from: '2026-10-03', to: '2026-10-03' }), '3 Oct 2026')
})

t.test('coverage: the days with data, or the nearest span as long', async (t) => {
  const data = { from: '2025-08-02', to: '2025-08-31' }
  t.strictSame(coverage({ from: '2025-08-25', to: '2025-09-07' }, data), { covered: { from: '2025-08-25', to: '2025-08-31' } })
  t.strictSame(coverage({ from: '2026-11-23', to: '2026-11-29' }, data), { covered: null, nearest: { from: '2025-08-25', to: '2025-08-31' } })
  t.strictSame(coverage({ from: '2025-07-01', to: '2025-07-31' }, data), { covered: null, nearest: { from: '2025-08-02', to: '2025-08-31' } })
  t.strictSame(coverage({ from: '2025-07-01', to: '2025-07-03' }, data), { covered: null, nearest: { from: '2025-08-02', to: '2025-08-04' } })
  t.strictSame(coverage({ from: '2025-07-01', to: '2025-07-03' }, null), { covered: null })
})
