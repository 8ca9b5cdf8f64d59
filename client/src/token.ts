import { AgentwireError } from './errors.js'

/** A bearer token, or a function that returns a current one (called again to refresh). */
export type TokenOption = string | (() => Promise<string>)

/** The `exp` claim of a JWT, epoch seconds; undefined when it has none or is not a JWT. */
export function tokenExpiry (token: string): number | undefined {
  const part = token.split('.')[1]
  if (!part) return undefined
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const exp = (JSON.parse(json) as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined
  } catch {
    return undefined
  }
}

/**
 * Holds the current token. A fixed string is used as is; a getter is called for the first token,
 * again when the token is about to expire (`refreshBeforeS`), and when the server refused it.
 */
export class TokenSource {
  private current?: string
  /** when the current token was received, epoch ms: its lifetime counts from there */
  private receivedAt = 0
  private pending?: Promise<string>

  constructor (
    private readonly option: TokenOption | undefined,
    /** how long before `exp` a getter's token counts as expired; at most half its lifetime */
    private readonly refreshBeforeS: number,
    private readonly now: () => number
  ) {
    if (typeof option === 'string') this.current = option
  }

  get configured (): boolean { return this.option !== undefined }
  get refreshable (): boolean { return typeof this.option === 'function' }

  /** A token that is not about to expire, fetching a new one if needed; undefined without a token option. */
  async get (): Promise<string | undefined> {
    if (this.option === undefined) return undefined
    if (this.current !== undefined && !this.stale()) return this.current
    return this.refresh()
  }

  /** Asks the getter for a new token (one call at a time); a fixed token is returned unchanged. */
  refresh (): Promise<string> {
    const option = this.option
    if (typeof option !== 'function') {
      if (option === undefined) return Promise.reject(new AgentwireError('unauthorized', 'no token configured'))
      return Promise.resolve(option)
    }
    this.pending ??= (async () => {
      try {
        const token = await option()
        if (typeof token !== 'string' || token === '') throw new AgentwireError('unauthorized', 'the token getter returned no token')
        this.current = token
        this.receivedAt = this.now()
        return token
      } finally {
        this.pending = undefined
      }
    })()
    return this.pending
  }

  /** Epoch ms at which the current token should be replaced; undefined if it never needs to be. */
  refreshAt (): number | undefined {
    if (!this.refreshable || this.current === undefined) return undefined
    const exp = tokenExpiry(this.current)
    if (exp === undefined) return undefined
    const lifetimeMs = Math.max(0, exp * 1000 - this.receivedAt)
    return exp * 1000 - Math.min(this.refreshBeforeS * 1000, lifetimeMs / 2)
  }

  private stale (): boolean {
    const at = this.refreshAt()
    return at !== undefined && at <= this.now()
  }
}
