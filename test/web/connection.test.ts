import t from 'tap'
import { bannerFor, describeError, diagnose, shouldProbe } from '../../web/src/state/connection.js'

const ORIGIN = 'http://127.0.0.1:3000'
const closedEarly = { code: 'network', message: 'the WebSocket closed before it was established (1006)' }

t.test('the banner says what the connection is doing', async (t) => {
  t.strictSame(bannerFor({ state: 'connected', reason: 'connect' }), { state: 'online', text: 'Connected' })
  t.strictSame(bannerFor({ state: 'disconnected', code: 1001, reason: '' }), { state: 'connecting', text: 'The server is restarting. Reconnecting…' })
  t.strictSame(bannerFor({ state: 'disconnected', code: 1006, reason: '' }), { state: 'connecting', text: 'Connection lost. Reconnecting…' })
  t.strictSame(bannerFor({ state: 'reconnecting', attempt: 3, delay_ms: 1800, error: closedEarly }),
    { state: 'offline', text: 'The server cannot be reached. The page keeps trying. Reconnecting in 2 s (attempt 3)…' })
  t.strictSame(bannerFor({ state: 'failed', error: { code: 'unauthorized', message: 'token expired' } }),
    { state: 'failed', text: 'Your sign-in has expired. Sign in again.', action: 'signin' })
  t.strictSame(bannerFor({ state: 'failed', error: { code: 'forbidden_origin', message: 'origin not allowed' } }, ORIGIN),
    { state: 'failed', text: `The server refuses live connections from this page's address (${ORIGIN}). Whoever runs it must add that origin to ALLOWED_ORIGINS.`, action: 'fatal' })
})

t.test('failures in words', async (t) => {
  t.equal(describeError({ code: 'rate_limited', message: 'slow down', retryAfter: 7 }), 'Too many requests: wait 7 s, then try again.')
  t.equal(describeError({ code: 'rate_limited', message: 'slow down' }), 'Too many requests: slow down. Wait a little, then try again.')
  t.equal(describeError({ code: 'unauthorized', message: 'invalid token' }), 'The server did not accept your sign-in (invalid token). Sign in again.')
  t.equal(describeError({ code: 'thread_busy', message: 'a run is active on this thread' }), 'This conversation is still answering. Wait for it, or cancel it first.')
  t.equal(describeError({ code: 'unknown_agent', message: 'no agent named "x"' }), 'no agent named "x"', 'a code without words of its own keeps the server\'s message')
})

t.test('reconnect: the page probes only after sockets closed before opening, twice in a row', async (t) => {
  t.equal(shouldProbe({ state: 'reconnecting', attempt: 1, delay_ms: 250, error: closedEarly }), false, 'one failure may be a blip')
  t.equal(shouldProbe({ state: 'reconnecting', attempt: 2, delay_ms: 500, error: closedEarly }), true)
  t.equal(shouldProbe({ state: 'reconnecting', attempt: 5, delay_ms: 500, error: { code: 'network', message: 'no connection_established within 10000 ms' } }), false)
  t.equal(shouldProbe({ state: 'reconnecting', attempt: 5, delay_ms: 500 }), false, 'a reconnect after a drop has no error')
  t.equal(shouldProbe({ state: 'disconnected', code: 1006, reason: '' }), false)
})

t.test('the probe\'s answer names the reason', async (t) => {
  t.strictSame(diagnose(401, { code: 'unauthorized', message: 'invalid or used ticket' }), { code: 'unauthorized', message: 'invalid or used ticket' })
  t.strictSame(diagnose(429, { code: 'rate_limited', message: 'at most 8 open WebSockets per user' }, 3), { code: 'rate_limited', message: 'at most 8 open WebSockets per user', retryAfter: 3 })
  t.equal(diagnose(503, { code: 'unavailable' }), undefined, 'a server not ready: keep trying, say nothing more')
  t.equal(diagnose(0, undefined), undefined)
  t.equal(diagnose(404, { code: 'not_found' })?.code, 'forbidden_origin', 'the credential passed over HTTP, so the upgrade failed on its Origin')
})
