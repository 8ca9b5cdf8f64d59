import t from 'tap'
import { auth, build } from '../helpers/app.js'
import { assertError } from '../helpers/http.js'

t.test('the chat page is public', async (t) => {
  const app = await build(t)

  const page = await app.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html\b/)
  t.match(page.body, '<title>agentwire · chat</title>')
  t.match(page.headers['content-security-policy'], "script-src 'self'", 'only its own scripts may run')

  // the built page: one script and one stylesheet, both files of its own (the CSP allows nothing inline)
  const script = /<script type="module" crossorigin src="\.\/(assets\/index-[\w-]+\.js)"><\/script>/.exec(page.body)?.[1]
  const style = /<link rel="stylesheet" crossorigin href="\.\/(assets\/index-[\w-]+\.css)">/.exec(page.body)?.[1]
  t.ok(script, 'the page loads its bundle')
  t.ok(style, 'the page loads its stylesheet')
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
  t.notMatch(page.body, /<style|\sstyle=/, 'no inline style')

  const js = await app.inject({ method: 'GET', url: `/${script}` })
  t.equal(js.statusCode, 200)
  t.match(js.headers['content-type'], /^(text|application)\/javascript\b/)
  t.match(js.headers['content-security-policy'], "default-src 'none'")

  const css = await app.inject({ method: 'GET', url: `/${style}` })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], /^text\/css\b/)

  const withToken = await app.inject({ method: 'GET', url: '/', headers: auth('alice') })
  t.equal(withToken.statusCode, 200, 'a token is no obstacle')
})

t.test('only the page is public', async (t) => {
  const app = await build(t)

  assertError(t, await app.inject({ method: 'GET', url: '/nope.html' }), 404, 'not_found', 'Not Found')
  assertError(t, await app.inject({ method: 'GET', url: '/src/main.ts' }), 404, 'not_found', 'Not Found')
  assertError(t, await app.inject({ method: 'GET', url: '/vite.config.ts' }), 404, 'not_found', 'Not Found')
  assertError(t, await app.inject({ method: 'GET', url: '/../package.json' }), 404, 'not_found', 'Not Found')
  // the routes registered after the page still need a token: its public flag did not leak
  assertError(t, await app.inject({ method: 'GET', url: '/threads' }), 401, 'unauthorized', 'Unauthorized')
  assertError(t, await app.inject({ method: 'POST', url: '/ws-tickets' }), 401, 'unauthorized', 'Unauthorized')
  t.equal((await app.inject({ method: 'GET', url: '/threads', headers: auth('alice') })).statusCode, 200)
})

t.test('the API docs are public like the page, and the spec lists the routes', async (t) => {
  const app = await build(t)
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  const spec = await app.inject({ url: '/docs/json' })
  t.equal(spec.statusCode, 200)
  t.ok('/messages' in (spec.json() as { paths: Record<string, unknown> }).paths, 'POST /messages is documented')
  t.equal((await app.inject({ url: '/threads' })).statusCode, 401, 'marking the docs public leaks to no API route')
})
