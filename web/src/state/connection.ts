/**
 * The connection banner and the words for every failure. A browser cannot read why a WebSocket
 * upgrade was refused (it sees only a close, 1006), so after failed attempts the page asks the
 * server over HTTP (`probeUpgrade`) and names the reason: origin refused, token expired, too many
 * sockets, server unavailable.
 */

export interface ErrorLike { code: string, message: string, retryAfter?: number, status?: number }

/** The client's ConnectionStatus, loosely typed so the tests need no client. */
export type Status =
  | { state: 'connected', reason?: string }
  | { state: 'disconnected', code: number, reason: string }
  | { state: 'reconnecting', attempt: number, delay_ms: number, error?: ErrorLike }
  | { state: 'failed', error: ErrorLike }
  | { state: 'closed' }

export type BannerState = 'online' | 'connecting' | 'offline' | 'failed'

export interface Banner {
  state: BannerState
  text: string
  /** the failure needs the user: sign in again (`signin`), or nothing can be done here (`fatal`) */
  action?: 'signin' | 'fatal'
}

/** Words for an error from the client or the API. */
export function describeError (err: ErrorLike, origin = ''): string {
  switch (err.code) {
    case 'forbidden_origin':
      return `The server refuses live connections from this page's address${origin ? ` (${origin})` : ''}. Whoever runs it must add that origin to ALLOWED_ORIGINS.`
    case 'unauthorized':
      return /expired/i.test(err.message) ? 'Your sign-in has expired. Sign in again.' : `The server did not accept your sign-in (${err.message}). Sign in again.`
    case 'rate_limited':
      return err.retryAfter !== undefined ? `Too many requests: wait ${err.retryAfter} s, then try again.` : `Too many requests: ${err.message}. Wait a little, then try again.`
    case 'thread_busy':
      return 'This conversation is still answering. Wait for it, or cancel it first.'
    case 'unavailable':
      return 'The server is restarting or not ready. The page keeps trying.'
    case 'network':
      return 'The server cannot be reached. The page keeps trying.'
    case 'payload_too_large':
      return `Too large: ${err.message}.`
    case 'not_found':
      return 'Not found: it was deleted, or it belongs to another user.'
    case 'internal':
      return 'The server hit an internal error. Try again; if it persists, tell whoever runs it.'
    default:
      return err.message
  }
}

/** The banner for a connection status. */
export function bannerFor (status: Status, origin = ''): Banner {
  switch (status.state) {
    case 'connected':
      return { state: 'online', text: 'Connected' }
    case 'disconnected':
      return { state: 'connecting', text: status.code === 1001 ? 'The server is restarting. Reconnecting…' : 'Connection lost. Reconnecting…' }
    case 'reconnecting': {
      const s = Math.ceil(status.delay_ms / 1000)
      const why = status.error ? `${describeError(status.error, origin)} ` : ''
      return { state: 'offline', text: `${why}Reconnecting${s > 0 ? ` in ${s} s` : ''} (attempt ${status.attempt})…` }
    }
    case 'failed':
      return { state: 'failed', text: describeError(status.error, origin), action: status.error.code === 'unauthorized' ? 'signin' : 'fatal' }
    case 'closed':
      return { state: 'offline', text: 'Signed out' }
  }
}

/** How many failed attempts in a row before the page asks the server why. */
export const PROBE_AFTER = 2

/**
 * True when the page should probe: the socket closed before it was established (which is all a
 * browser learns of a refused upgrade) `PROBE_AFTER` times in a row.
 */
export function shouldProbe (status: Status): boolean {
  return status.state === 'reconnecting' && status.attempt >= PROBE_AFTER && status.error?.code === 'network' &&
    /before it was established/.test(status.error.message)
}

/**
 * What a refused upgrade was, from a plain `GET /ws?ticket=` over HTTP: the same checks run on it
 * except the Origin (a same-origin GET carries none). An answer that passes the credential checks
 * means the upgrade failed on its Origin.
 */
export function diagnose (probeStatus: number, body: { code?: string, message?: string } | undefined, retryAfter?: number): ErrorLike | undefined {
  if (probeStatus === 401) return { code: 'unauthorized', message: body?.message ?? 'unauthorized' }
  if (probeStatus === 403) return { code: 'forbidden_origin', message: body?.message ?? 'origin not allowed' }
  if (probeStatus === 429) return { code: 'rate_limited', message: body?.message ?? 'too many open connections', ...(retryAfter !== undefined && { retryAfter }) }
  if (probeStatus >= 500 || probeStatus === 0) return undefined
  return { code: 'forbidden_origin', message: 'the WebSocket upgrade was refused though the credential is good' }
}
