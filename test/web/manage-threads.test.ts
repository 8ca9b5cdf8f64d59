import t from 'tap'
import type { Page } from 'playwright-core'
import { tokenFor } from '../helpers/app.js'
import { browser, shot, watch } from '../helpers/browser.js'
import { SLOW_AGENTS, listen } from '../helpers/ws.js'

const USER = 'heidi'
const api = async (url: string, path: string) => await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${tokenFor(USER)}` } })

async function ask (page: Page, content: string) {
  await page.locator('#agent').selectOption('slow')
  await page.getByLabel('steps').fill('1')
  await page.getByLabel('ms', { exact: true }).fill('0')
  await page.getByLabel('Your question').fill(content)
  // the new turn, not the last one already shown (it may not be on the page yet)
  const turns = await page.locator('.turn').count()
  await page.getByRole('button', { name: 'Send' }).click()
  await page.locator('.turn').nth(turns).locator('article.run[data-status="completed"]').waitFor()
  await page.locator('.thread-title', { hasText: content }).waitFor()
}

t.test('rename and delete threads on the server: a reload (or another browser) sees the same list', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t, { AGENT_MODULES: `${SLOW_AGENTS},./test/fixtures/web-hitl-agents.mjs` })
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(server.url)
  await page.getByLabel('JWT (from your identity provider)').fill(tokenFor(USER))
  await page.getByRole('button', { name: 'Use this token' }).click()
  await page.locator('#connection[data-state="online"]').waitFor()

  await ask(page, 'first question')
  await page.getByRole('button', { name: '+ New conversation' }).click()
  await ask(page, 'second question')
  const secondId = new URLSearchParams(new URL(page.url()).hash.slice(1)).get('thread')!
  await shot(page, 'threads-01-two')

  page.once('dialog', (d) => { t.equal(d.type(), 'prompt'); d.accept('  Renamed   first ').catch(() => {}) })
  await page.getByRole('button', { name: 'Rename “first question”' }).click()
  await page.locator('.thread-title', { hasText: 'Renamed first' }).waitFor()
  const listed = async () => (await (await api(server.url, '/threads')).json() as { threads: Array<{ thread_id: string, title: string }> }).threads
  t.strictSame((await listed()).map((th) => th.title), ['second question', 'Renamed first'], 'the server has the new title; the list keeps its order')
  await shot(page, 'threads-02-renamed')

  page.once('dialog', (d) => { t.equal(d.type(), 'confirm'); d.accept().catch(() => {}) })
  await page.getByRole('button', { name: 'Delete “second question”' }).click()
  await page.getByText('Deleted “second question”.').waitFor()
  t.equal(await page.locator('.thread-title', { hasText: 'second question' }).count(), 0, 'gone from the list')
  t.equal(await page.locator('.turn').count(), 0, 'the open thread was the deleted one: the page starts a new one')
  t.notMatch(page.url(), /#thread=/)
  t.equal((await api(server.url, `/threads/${secondId}`)).status, 404, 'deleted on the server')
  await shot(page, 'threads-03-deleted')

  await page.reload()
  await page.locator('#connection[data-state="online"]').waitFor()
  await page.locator('.thread-title', { hasText: 'Renamed first' }).waitFor()
  t.strictSame(await page.locator('.thread-title').allTextContents(), ['Renamed first'], 'after a reload, the list is the server\'s')

  // a thread whose run waits for an answer cannot be deleted: said in words, and it stays
  await page.locator('#agent').selectOption('pay')
  await page.getByLabel('to (required)').fill('bob')
  await page.getByLabel('amount (required)').fill('5')
  await page.getByLabel('Your question').fill('pay bob')
  await page.getByRole('button', { name: 'Send' }).click()
  await page.locator('.interrupt-card').waitFor()
  await page.locator('.thread-title', { hasText: 'pay bob' }).waitFor()
  page.once('dialog', (d) => { d.accept().catch(() => {}) })
  await page.getByRole('button', { name: 'Delete “pay bob”' }).click()
  await page.locator('#notice', { hasText: 'This conversation is still answering. Wait for it, or cancel it first.' }).waitFor()
  t.equal(await page.locator('.thread-title', { hasText: 'pay bob' }).count(), 1, 'still listed')
  await shot(page, 'threads-04-busy')
  t.strictSame(problems, [])
})
