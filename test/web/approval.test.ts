import t from 'tap'
import type { Page } from 'playwright-core'
import { tokenFor } from '../helpers/app.js'
import { browser, overflow, shot, until, watch } from '../helpers/browser.js'
import { listen } from '../helpers/ws.js'

const AGENTS = './test/fixtures/web-hitl-agents.mjs'
const USER = 'grace'

interface Ev { type: string, data: any }

async function signIn (page: Page, url: string) {
  await page.goto(url)
  await page.getByLabel('JWT (from your identity provider)').fill(tokenFor(USER))
  await page.getByRole('button', { name: 'Use this token' }).click()
  await page.locator('#connection[data-state="online"]').waitFor()
}

/** Asks the `pay` agent to wire `amount` to `to`; resolves with the turn's run card once it waits for the approval. */
async function pay (page: Page, to: string, amount: number) {
  await page.locator('#agent').selectOption('pay')
  await page.getByLabel('to (required)').fill(to)
  await page.getByLabel('amount (required)').fill(String(amount))
  await page.getByLabel('Your question').fill(`pay ${to}`)
  // the new turn, not the last one already shown (it may not be on the page yet)
  const turns = await page.locator('.turn').count()
  await page.getByRole('button', { name: 'Send' }).click()
  const run = page.locator('.turn').nth(turns).locator('article.run')
  await run.locator('.interrupt-card').waitFor()
  return run
}

async function storedEvents (url: string, runId: string): Promise<Ev[]> {
  const res = await fetch(`${url}/runs/${runId}/events`, { headers: { authorization: `Bearer ${tokenFor(USER)}` } })
  return (await res.json() as { events: Ev[] }).events
}
const received = (events: Ev[]) => events.filter((e) => e.type === 'input_received').map((e) => e.data)
const executed = (events: Ev[]) => events.filter((e) => e.type === 'tool_executing').map((e) => e.data.parameters)

t.test('an approval card: approve, reject with a reason, edit the arguments; each decision is in the run\'s events', async (t) => {
  const context = await browser(t)
  if (!context) return
  const server = await listen(t, { AGENT_MODULES: AGENTS })
  const page = await context.newPage()
  const problems = watch(page)
  await signIn(page, server.url)

  // approve
  let run = await pay(page, 'bob', 500)
  t.equal(await run.getAttribute('data-status'), 'waiting')
  t.equal(await run.locator('.run-head .badge').first().textContent(), 'Waiting for you')
  const card = run.locator('.interrupt-card')
  t.equal(await card.getByRole('heading', { level: 3 }).textContent(), 'Approve wire?')
  t.strictSame(JSON.parse(await card.locator('pre').textContent() ?? ''), { to: 'bob', amount: 500 }, 'the call\'s arguments are shown')
  t.match(await page.locator('#announce').textContent(), /^pay waits for your approval of wire\.$/, 'screen readers are told')
  await shot(page, 'approval-01-card')
  // a reload finds the waiting run and its card again, from the stored events
  await page.reload()
  await page.locator('#connection[data-state="online"]').waitFor()
  run = page.locator('.turn').last().locator('article.run')
  await run.locator('.interrupt-card').waitFor()
  t.equal(await run.getAttribute('data-status'), 'waiting', 'after a reload, the run still waits')
  await card.getByRole('button', { name: 'Approve', exact: true }).focus()
  await page.keyboard.press('Enter')
  await page.locator('.turn').last().locator('article.run[data-status="completed"]').waitFor()
  t.equal(await run.locator('.interrupt-card').count(), 0, 'the card is gone once answered')
  t.equal(await run.locator('.decisions .interrupt-received').textContent(), 'You approved wire.')
  t.equal(await page.evaluate('document.activeElement.className'), 'interrupt-received', 'focus lands on the recorded decision')
  t.equal(await run.locator('.answer').textContent(), 'Sent 500 to bob.\n')
  let events = await storedEvents(server.url, (await run.getAttribute('data-run'))!)
  t.match(received(events), [{ kind: 'approval', by: 'user', decision: 'approve' }])
  t.strictSame(executed(events), [{ to: 'bob', amount: 500 }])
  await shot(page, 'approval-02-approved')

  // reject, with a reason
  run = await pay(page, 'mallory', 900)
  // by keyboard: the reason box takes the focus from the button it replaced
  await run.getByRole('button', { name: 'Reject…' }).focus()
  await page.keyboard.press('Enter')
  await until(page, 'document.activeElement.id.endsWith("-reason")')
  await page.keyboard.type('not to mallory')
  await shot(page, 'approval-03-rejecting')
  await run.getByRole('button', { name: 'Reject', exact: true }).click()
  await page.locator('.turn').last().locator('article.run[data-status="completed"]').waitFor()
  t.equal(await run.locator('.decisions .interrupt-received').textContent(), 'You rejected wire: not to mallory.')
  t.match(await run.locator('.answer').textContent(), /^Not sent: .*not to mallory/)
  events = await storedEvents(server.url, (await run.getAttribute('data-run'))!)
  t.match(received(events), [{ kind: 'approval', by: 'user', decision: 'reject', reason: 'not to mallory' }])
  t.match(events.filter((e) => e.type === 'tool_completed').map((e) => e.data), [{ tool_name: 'wire', status: 'error', error: { code: 'rejected' } }], 'the rejected call ends without running')

  // edit the arguments: checked before sending, a refusal shown in words, then approved as edited
  run = await pay(page, 'bob', 500)
  await run.getByRole('button', { name: 'Edit arguments…' }).click()
  await until(page, 'document.activeElement.id.endsWith("-json")')
  // Escape leaves the editor, back to the button that opened it
  await page.keyboard.press('Escape')
  await until(page, 'document.activeElement.textContent === "Edit arguments…"')
  await page.keyboard.press('Enter')
  const editor = run.getByLabel('Arguments (JSON)')
  t.strictSame(JSON.parse(await editor.inputValue()), { to: 'bob', amount: 500 }, 'the editor starts from the call\'s arguments')
  await editor.fill('{"to": "bob", ')
  await run.getByRole('button', { name: 'Approve with these arguments' }).click()
  await run.locator('.interrupt-card [role="alert"]', { hasText: 'Not JSON' }).waitFor()
  await editor.fill('{"to": "bob", "amount": -5, "memo": "x"}')
  await run.getByRole('button', { name: 'Approve with these arguments' }).click()
  await run.locator('.interrupt-card [role="alert"]', { hasText: 'amount' }).waitFor()
  t.strictSame(await run.locator('.interrupt-card [role="alert"] p').allTextContents(), ['amount: -5 is less than 0.', '"memo" is not allowed.'], 'the tool\'s schema is checked in the page')
  await shot(page, 'approval-04-edit-invalid')
  // the server's refusal (here made up, once) is said in words and the card stays
  await page.route('**/runs/*/resume', (route) => route.fulfill({
    status: 400,
    contentType: 'application/json',
    body: JSON.stringify({ statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: 'arguments/amount must be a number' })
  }), { times: 1 })
  await editor.fill('{"to": "carol", "amount": 50}')
  await run.getByRole('button', { name: 'Approve with these arguments' }).click()
  await run.locator('.interrupt-card [role="alert"]', { hasText: 'refused' }).waitFor()
  t.equal(await run.locator('.interrupt-card [role="alert"]').textContent(), 'The server refused this answer: arguments/amount must be a number. Change it and send it again.')
  t.equal(await run.getAttribute('data-status'), 'waiting', 'the run still waits')
  t.equal(await editor.inputValue(), '{"to": "carol", "amount": 50}', 'the edit is kept')
  await shot(page, 'approval-05-refused')
  await run.getByRole('button', { name: 'Approve with these arguments' }).click()
  await page.locator('.turn').last().locator('article.run[data-status="completed"]').waitFor()
  t.equal(await run.locator('.decisions .interrupt-received').textContent(), 'You approved wire with edited arguments.')
  t.strictSame(JSON.parse(await run.locator('.decisions .interrupt-step pre').textContent() ?? ''), { to: 'carol', amount: 50 })
  t.equal(await run.locator('.answer').textContent(), 'Sent 50 to carol.\n')
  events = await storedEvents(server.url, (await run.getAttribute('data-run'))!)
  t.match(received(events), [{ kind: 'approval', by: 'user', decision: 'approve', arguments: { to: 'carol', amount: 50 } }])
  t.strictSame(executed(events), [{ to: 'carol', amount: 50 }], 'the edited arguments replaced the call\'s')
  await shot(page, 'approval-06-edited')

  // nobody answers: at its expiry the tool's default (reject) closes it
  await page.locator('#agent').selectOption('pay')
  await page.getByLabel('quick').check()
  await page.getByLabel('to (required)').fill('dan')
  await page.getByLabel('amount (required)').fill('1')
  await page.getByLabel('Your question').fill('pay dan')
  const turns = await page.locator('.turn').count()
  await page.getByRole('button', { name: 'Send' }).click()
  run = page.locator('.turn').nth(turns).locator('article.run')
  await page.locator('.turn').nth(turns).locator('article.run[data-status="completed"]').waitFor()
  t.equal(await run.locator('.interrupt-card').count(), 0)
  t.equal(await run.locator('.decisions .interrupt-received').textContent(), 'Expired: rejected quick_wire: no answer before the approval expired.')
  events = await storedEvents(server.url, (await run.getAttribute('data-run'))!)
  t.match(received(events), [{ kind: 'approval', by: 'expiry', decision: 'reject' }])
  await shot(page, 'approval-07-expired')
  t.strictSame(problems, [])
})

t.test('a question at a phone width, dark: a form from its schema, checked before it is sent', async (t) => {
  const context = await browser(t, { width: 390, height: 844, dark: true })
  if (!context) return
  const server = await listen(t, { AGENT_MODULES: AGENTS })
  const page = await context.newPage()
  const problems = watch(page)
  await signIn(page, server.url)
  await page.locator('#agent').selectOption('count')
  await page.getByLabel('Your question').fill('count with me')
  await page.getByRole('button', { name: 'Send' }).click()
  const run = page.locator('article.run')
  const card = run.locator('.interrupt-card')
  await card.waitFor()
  t.equal(await card.getByRole('heading', { level: 3 }).textContent(), 'How many?')
  const field = card.getByLabel('answer (required)')
  await field.fill('0')
  await card.getByRole('button', { name: 'Answer' }).click()
  await card.locator('[role="alert"]', { hasText: '0 is less than 1.' }).waitFor()
  t.strictSame((await overflow(page)).culprits, [], 'the card fits the phone')
  await shot(page, 'question-01-invalid')
  await field.fill('3')
  await field.press('Tab')
  await page.keyboard.press('Enter')
  await page.locator('article.run[data-status="completed"]').waitFor()
  t.equal(await run.locator('.decisions .interrupt-received').textContent(), 'You answered 3.')
  t.equal(await run.locator('.answer').textContent(), 'You said 3.\n')
  t.match(received(await storedEvents(server.url, (await run.getAttribute('data-run'))!)), [{ kind: 'question', by: 'user', answer: 3 }])
  await shot(page, 'question-02-answered')
  t.strictSame(problems, [])
})
