import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { browser, overflow, shot, until, watch } from '../helpers/browser.js'
import { listen } from '../helpers/ws.js'

// dev mode (no key configured): the page offers the user-id sign-in
const devEnv = () => ({ AUTH_JWT_SECRET: undefined as unknown as string, DATA_DIR: mkdtempSync(path.join(tmpdir(), 'agentwire-web-')) })

t.test('sign in, load the sample, ask, watch the steps, open a tool call, reload and find the thread', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t, devEnv())
  const page = await context.newPage()
  const problems = watch(page)

  await page.goto(server.url)
  await page.getByLabel('User id').fill('alice')
  await shot(page, 'chat-01-signin')
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.locator('#connection[data-state="online"]').waitFor()
  t.equal(await page.locator('#user-name').textContent(), 'alice')
  t.equal(await page.locator('#connection').textContent(), 'Connected')

  // a new user has no data: the data card is open and offers the sample
  t.equal(await page.locator('#data-card').getAttribute('open'), '', 'the data card opens for a user without records')
  t.equal(await page.locator('#data-summary').textContent(), 'no records yet')
  await page.getByRole('button', { name: 'Load the sample' }).click()
  await page.getByText('Loaded 8,535 sample records.').waitFor()
  t.match(await page.locator('#data-summary').textContent(), /^8,535 records · \$477\.18 · 2025-08-0\d to 2025-08-31$/)
  t.ok(await page.getByRole('button', { name: 'Replace with the sample' }).isVisible(), 'a user with data is not offered the sample as if they had none')
  await shot(page, 'chat-02-sample-loaded')
  await page.locator('#data-card > summary').click()

  // the agent picker lists GET /agents, supervisor first choice
  const agents = await page.locator('#agent option').allTextContents()
  t.ok(agents.includes('supervisor') && agents.includes('data'), `agents offered: ${agents.join(', ')}`)
  t.equal(await page.locator('#agent').inputValue(), 'supervisor')

  const question = 'Which model costs us the most?'
  await page.getByLabel('Your question').fill(question)
  await page.getByLabel('Your question').press('Enter')
  const run = page.locator('.turn').last().locator('article.run')
  // events arrive: the tree grows while the run works, then the answer comes
  await run.locator('.tool').first().waitFor()
  await shot(page, 'chat-03-running')
  await run.locator('[data-status="completed"].run').waitFor().catch(() => {})
  await page.locator('article.run[data-status="completed"]').waitFor()
  const events = Number(/(\d+) events/.exec(await run.locator('.trace > summary').textContent() ?? '')?.[1])
  t.ok(events > 10, `the run view counted ${events} events`)
  t.match(await run.locator('.answer').textContent(), /^claude-sonnet-4 costs most: \$237\.90/, 'the answer is rendered, its first line answering the question')
  t.ok(await run.locator('.answer h2, .answer table').count() > 0, 'Markdown became headings or tables')
  const tools = await run.locator('.tool').count()
  t.ok(tools >= 3, `${tools} tool calls shown`)
  await shot(page, 'chat-04-answered')

  // open a tool call: its parameters and result
  await run.locator('details.trace > summary').click()
  const tool = run.locator('details.tool').first()
  await tool.locator('summary').click()
  t.equal(await tool.getAttribute('open'), '', 'the tool call opens')
  t.ok(await tool.getByRole('heading', { name: 'Parameters' }).isVisible(), 'parameters are shown')
  t.ok(await tool.getByRole('heading', { name: 'Result' }).isVisible(), 'the result is shown')
  t.match(await tool.locator('pre').first().textContent(), /^[{[]/, 'parameters as JSON')
  await tool.scrollIntoViewIfNeeded()
  await shot(page, 'chat-05-tool-open')

  // the thread is listed; a reload finds it with the question, the steps and the answer
  await page.locator('.thread-title', { hasText: question }).waitFor()
  const threadUrl = page.url()
  t.match(threadUrl, /#thread=/)
  await page.reload()
  await page.locator('#connection[data-state="online"]').waitFor()
  await page.locator('article.run[data-status="completed"] .answer').waitFor()
  t.equal(await page.locator('.question').first().textContent(), question)
  t.equal(await page.locator('.thread[aria-current="true"] .thread-title').textContent(), question)
  t.equal(await page.locator('article.run .tool').count(), tools, 'every tool call is back after the reload')
  await shot(page, 'chat-06-reloaded')

  // a fresh tab (same session) opens the thread from the list
  await page.getByRole('button', { name: '+ New conversation' }).click()
  t.equal(await page.locator('.turn').count(), 0)
  await page.locator('.thread-open', { hasText: question }).click()
  await page.locator('article.run[data-status="completed"]').waitFor()

  // a rename is the server's: a reload finds it
  page.once('dialog', (d) => { d.accept('Costliest model').catch(() => {}) })
  await page.getByRole('button', { name: `Rename “${question}”` }).click()
  await page.locator('.thread-title', { hasText: 'Costliest model' }).waitFor()
  await page.reload()
  await page.locator('.thread-title', { hasText: 'Costliest model' }).waitFor()

  t.strictSame(problems, [], 'no script errors')
})

t.test('a phone width, dark: nothing overflows sideways', async (t) => {
  const context = await browser(t, { width: 390, height: 844, dark: true })
  if (!context) return
  const server = await listen(t, devEnv())
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(server.url)
  await shot(page, 'phone-01-signin')
  t.strictSame((await overflow(page)).culprits, [])
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.locator('#connection[data-state="online"]').waitFor()
  await page.getByRole('button', { name: 'Load the sample' }).click()
  await page.getByText('Loaded 8,535 sample records.').waitFor()
  await shot(page, 'phone-02-data')
  await page.locator('#data-card > summary').click()
  await page.getByRole('button', { name: 'How can we cut our LLM costs?' }).click()
  await page.locator('article.run[data-status="completed"] .answer').waitFor()
  await shot(page, 'phone-03-answer')
  const o = await overflow(page)
  t.equal(o.scrollWidth, 390, 'the page is exactly the viewport wide')
  t.strictSame(o.culprits, [], 'no element sticks out')

  // the conversations open from the menu button
  await page.getByRole('button', { name: 'Conversations' }).click()
  await page.locator('.thread-title', { hasText: 'How can we cut our LLM costs?' }).waitFor()
  await until(page, 'document.getElementById("sidebar").getBoundingClientRect().left >= 0')
  t.equal(await page.getByRole('button', { name: 'Conversations' }).getAttribute('aria-expanded'), 'true')
  await shot(page, 'phone-04-threads')
  t.strictSame(problems, [])
})
