import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = path.resolve('test-artifacts', 'web')
/** Upper bound of a wait for something on the page (the agents are quick; the machine may be loaded). */
export const PAGE_WAIT_MS = 30_000

interface Tap {
  teardown (fn: () => unknown): void
  fail (message: string): unknown
  plan (n: number, comment?: string): unknown
}

/**
 * A headless Debian Chromium with a fresh profile, closed at teardown; undefined (the test skips)
 * when Chromium is missing, a failure under REQUIRE_SERVICES=1 (CI installs it).
 */
export async function browser (t: Tap, opts: { width?: number, height?: number, dark?: boolean } = {}): Promise<BrowserContext | undefined> {
  if (!existsSync(CHROMIUM)) {
    const why = `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
    if (process.env.REQUIRE_SERVICES === '1') t.fail(why)
    else t.plan(0, why)
    return undefined
  }
  const profile = mkdtempSync(path.join(tmpdir(), 'agentwire-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: opts.dark ? 'dark' : 'light',
    permissions: ['clipboard-read', 'clipboard-write']
  })
  context.setDefaultTimeout(PAGE_WAIT_MS)
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/**
 * The page's script errors: a test asserts there were none. (Refused requests are logged by Chromium
 * as console errors too; those the page makes on purpose, like the dev-mode check, are left out.)
 */
export function watch (page: Page): string[] {
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`) })
  return problems
}

/** Saves a screenshot of the page as test-artifacts/web/<name>.png. */
export async function shot (page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false })
}

/** Widest element sticking out of the viewport, if any: a phone width must not scroll sideways. */
// runs in the page (the test's tsconfig has no DOM types, so it is sent as text)
const OVERFLOW = `(() => {
  const culprits = []
  // content that scrolls inside its own box (a wide table) does not widen the page
  const contained = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true
    }
    return false
  }
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect()
    if (r.width > 0 && r.right > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed' && !contained(el)) culprits.push(el.tagName.toLowerCase() + '.' + el.className)
  }
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, culprits: culprits.slice(0, 5) }
})()`

/** Elements sticking out of the viewport, if any: a phone width must not scroll sideways. */
export function overflow (page: Page): Promise<{ scrollWidth: number, innerWidth: number, culprits: string[] }> {
  return page.evaluate(OVERFLOW)
}

/**
 * Waits until a JavaScript expression is true in the page. (Playwright's waitForFunction evaluates
 * a string with eval inside the page, which the page's CSP refuses: this polls from the test.)
 */
export async function until (page: Page, expression: string, timeoutMs = PAGE_WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await page.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
