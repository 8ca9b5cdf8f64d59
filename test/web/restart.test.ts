import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { tokenFor } from '../helpers/app.js'
import { browser, shot, watch } from '../helpers/browser.js'
import { startNode } from '../helpers/cluster.js'

t.test('the server is killed mid-run and started again: the page reconnects, the run resumes and finishes', async (t) => {
  const context = await browser(t)
  if (!context) return
  const dir = mkdtempSync(path.join(tmpdir(), 'agentwire-web-restart-'))
  const env = {
    DATABASE_URL: `sqlite:${path.join(dir, 'agentwire.db')}`,
    // long enough that a loaded machine's late renewal does not lapse the live process's own lease
    LEASE_MS: '5000',
    AGENT_MODULES: './test/fixtures/cluster-agents.mjs',
    CLUSTER_DIR: dir
  }
  const first = await startNode(t, env)
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(first.url)
  await page.getByLabel('JWT (from your identity provider)').fill(tokenFor('erin'))
  await page.getByRole('button', { name: 'Use this token' }).click()
  await page.locator('#connection[data-state="online"]').waitFor()

  await page.locator('#agent').selectOption('hold')
  await page.getByLabel('Your question').fill('hold until released')
  await page.getByRole('button', { name: 'Send' }).click()
  const run = page.locator('article.run')
  await run.getByText(`hold holding in ${first.pid}`).waitFor()
  const runId = await run.getAttribute('data-run')
  await shot(page, 'restart-01-holding')

  first.child.kill('SIGKILL')
  await first.exited
  await page.locator('#connection:not([data-state="online"])').waitFor()
  t.not(await page.locator('#connection').textContent(), 'Connected')
  await shot(page, 'restart-02-server-down')

  const second = await startNode(t, { ...env, PORT: new URL(first.url).port })
  await page.locator('#connection[data-state="online"]').waitFor()
  // the restarted server takes the run over once its lease lapsed: attempt 2, in the new process
  await run.getByText(`hold holding in ${second.pid}`).waitFor()
  t.match(await run.locator('.attempt-failed').first().textContent(), /^Attempt 1 failed\. Interrupted: the server running it was lost\. It will be retried\.$/)
  await shot(page, 'restart-03-resumed')

  writeFileSync(path.join(dir, `${runId}.release`), '')
  await page.locator('article.run[data-status="completed"]').waitFor()
  t.match(await run.locator('.answer').textContent(), `"pid": ${second.pid}`, 'the answer came from the restarted server')
  t.match(await run.locator('.run-head').textContent(), /1 retry/)
  await shot(page, 'restart-04-finished')

  // every event once: the page's count equals the server's
  const events = await (await fetch(`${second.url}/runs/${runId}/events`, { headers: { authorization: `Bearer ${tokenFor('erin')}` } })).json() as { events: unknown[] }
  t.equal(await run.locator('.trace > summary').textContent(), `Steps ${events.events.length} events`)
  t.strictSame(problems, [])
})
