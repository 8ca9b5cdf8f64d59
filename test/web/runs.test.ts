import t from 'tap'
import { tokenFor } from '../helpers/app.js'
import { browser, shot, watch } from '../helpers/browser.js'
import { SLOW_AGENTS, listen } from '../helpers/ws.js'
import type { Page } from 'playwright-core'

async function signIn (page: Page, url: string, user: string, connects = true) {
  await page.goto(url)
  await page.getByLabel('JWT (from your identity provider)').fill(tokenFor(user))
  await page.getByRole('button', { name: 'Use this token' }).click()
  if (connects) await page.locator('#connection[data-state="online"]').waitFor()
}

t.test('cancel a running run, then retry it', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const page = await context.newPage()
  const problems = watch(page)
  await signIn(page, server.url, 'carol')

  // the agent picker shows the form the agent's input_schema describes
  await page.locator('#agent').selectOption('slow')
  t.strictSame(await page.locator('#agent-fields label').allTextContents(), ['steps', 'ms', 'pad'])
  await page.getByLabel('steps').fill('40')
  await page.getByLabel('ms', { exact: true }).fill('400')
  await page.getByLabel('Your question').fill('take your time')
  await page.getByRole('button', { name: 'Send' }).click()

  const first = page.locator('.turn').nth(0).locator('article.run')
  await first.locator('.tool').nth(1).waitFor()
  t.equal(await first.getAttribute('data-status'), 'running')
  await shot(page, 'runs-01-running')
  await first.getByRole('button', { name: 'Cancel' }).click()
  await page.locator('.turn').nth(0).locator('article.run[data-status="cancelled"]').waitFor()
  t.match(await first.locator('.run-note').textContent(), /^Cancelled \(.+\)\.$/)
  t.equal(await first.locator('.tool[data-status="cancelled"]').count(), 1, 'the open tool call shows as cancelled')
  await shot(page, 'runs-02-cancelled')

  await first.getByRole('button', { name: 'Retry' }).click()
  const second = page.locator('.turn').nth(1).locator('article.run')
  await second.locator('.tool').first().waitFor()
  t.equal(await page.locator('.turn').nth(1).locator('.question').textContent(), 'take your time', 'the same question again')
  t.equal(await second.getAttribute('data-status'), 'running', 'the retry runs')
  t.match(await second.locator('.run-head').textContent(), /slow/, 'with the same agent')
  await shot(page, 'runs-03-retried')
  await second.getByRole('button', { name: 'Cancel' }).click()
  await page.locator('.turn').nth(1).locator('article.run[data-status="cancelled"]').waitFor()
  t.strictSame(problems, [])
})

t.test('an origin the server refuses is said in words, not an endless "Reconnecting…"', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t, { ALLOWED_ORIGINS: 'https://chat.example.com' })
  const page = await context.newPage()
  await signIn(page, server.url, 'dave', false)
  const banner = page.locator('#connection[data-state="failed"]')
  await banner.waitFor()
  t.equal(await banner.textContent(), `The server refuses live connections from this page's address (${server.url}). Whoever runs it must add that origin to ALLOWED_ORIGINS.`)
  await shot(page, 'origin-01-refused')
  // the HTTP API still works: the thread list and agents loaded
  t.ok(await page.locator('#agent option').count() > 0)
})

t.test('an upload with bad rows shows each refused line; a good one adds its records', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t)
  const page = await context.newPage()
  const problems = watch(page)
  await signIn(page, server.url, 'frank')
  const header = 'timestamp,provider,model,input_tokens,output_tokens\n'
  await page.getByLabel('Upload records (CSV with a header row, NDJSON or a JSON array)').setInputFiles({
    name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from(`${header}2025-08-01,openai,gpt-4o,10,5\n2025-08-01,openai,gpt-4o,-1,5\n`)
  })
  await page.locator('.line-errors').waitFor()
  t.equal(await page.locator('#usage-status p').textContent(), 'bad.csv was not imported: nothing was added.')
  t.strictSame(await page.locator('.line-errors tbody td').allTextContents(), ['3', 'input_tokens must be a non-negative integer'])
  await shot(page, 'upload-01-refused')

  await page.getByLabel('Upload records (CSV with a header row, NDJSON or a JSON array)').setInputFiles({
    name: 'good.csv', mimeType: 'text/csv', buffer: Buffer.from(`${header}2025-08-01,openai,gpt-4o,10,5\n2025-08-02,openai,gpt-4o,20,5\n`)
  })
  await page.getByText('good.csv: 2 records added, 0 already there (2 rows).').waitFor()
  await page.locator('#data-summary', { hasText: '2 records' }).waitFor()
  t.match(await page.locator('#data-summary').textContent(), /^2 records · \$0\.00 · 2025-08-01 to 2025-08-02$/)
  t.strictSame(problems, [])
})
