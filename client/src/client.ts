import { AgentwireError } from './errors.js'
import { AgentwireHttp, type MessageBody, type ResumeBody, type RunStatus } from './http.js'
import { Link, type ServerFrame, type SocketLike, type WebSocketClass } from './link.js'
import { Run, RunFeed, ThreadFollow, type RunHost } from './run.js'
import { TokenSource, type TokenOption } from './token.js'
import type { RunEvent } from './wire.js'

export interface ReconnectOptions {
  /** first delay, ms; each further attempt doubles it, up to `maxDelayMs`, with jitter (default 250) */
  initialDelayMs?: number
  /** default 10000 */
  maxDelayMs?: number
  /** attempts in a row before everything followed fails with the last error (default: no limit) */
  maxAttempts?: number
}

export interface ClientOptions {
  /** the service's base URL, `http(s)://host:port` */
  url: string
  /** a bearer token, or a function returning a current one (called again before `exp` and after a refusal) */
  token?: TokenOption
  /** a function returning a WebSocket ticket (`POST /ws-tickets`), for pages that keep the token on their own server */
  ticket?: () => Promise<string>
  /** the WebSocket class: default `ws` in Node, the global `WebSocket` elsewhere */
  WebSocket?: WebSocketClass
  fetch?: typeof fetch
  /** Node only: the `Origin` header of the WebSocket upgrade */
  origin?: string
  reconnect?: ReconnectOptions
  /** a token from the getter is replaced this long before its `exp`, at most half its lifetime (default 60 s) */
  refreshBeforeS?: number
  /** ping the server this often to notice a dead connection, ms; 0: never (default 25000) */
  pingMs?: number
  /** how long an upgrade may take until `connection_established`, ms (default 10000) */
  connectTimeoutMs?: number
  /** told whenever the connection changes */
  onStatus?: (status: ConnectionStatus) => void
  /** for tests: the random source of the jitter */
  random?: () => number
}

export type ConnectionStatus =
  | { state: 'connected', connection_id: string, user_id: string, reason: 'connect' | 'reconnect' | 'token_refresh' }
  | { state: 'disconnected', code: number, reason: string }
  | { state: 'reconnecting', attempt: number, delay_ms: number, error?: AgentwireError }
  | { state: 'failed', error: AgentwireError }
  | { state: 'closed' }

export interface SendOptions {
  agent?: string
  thread_id?: string
  input?: Record<string, unknown>
  multitask?: MessageBody['multitask']
}

/** Errors after which trying again cannot help. */
const FATAL = new Set(['unauthorized', 'forbidden_origin', 'not_found', 'invalid_request'])

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string'

/**
 * A connection to agentwire: runs started or followed through it deliver every event exactly once,
 * in order, across dropped sockets, server restarts and token refreshes.
 */
export class AgentwireClient implements RunHost {
  readonly http: AgentwireHttp
  private readonly tokens: TokenSource
  private readonly wsUrl: string
  private link?: Link
  private opening?: Promise<Link>
  private reconnectTimer?: ReturnType<typeof setTimeout>
  private refreshTimer?: ReturnType<typeof setTimeout>
  private attempts = 0
  private everConnected = false
  private closed = false
  private socketClass?: Promise<{ Ctor: WebSocketClass, headers: boolean }>
  /** run id → the feeds of the Run objects following it */
  private readonly feeds = new Map<string, Set<RunFeed>>()
  /** thread id → its follows */
  private readonly follows = new Map<string, Set<ThreadFollow>>()
  private readonly reconnect: Required<ReconnectOptions>
  private readonly random: () => number

  constructor (private readonly opts: ClientOptions) {
    const base = new URL(opts.url)
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new AgentwireError('invalid_request', `url must be http(s)://…, not ${opts.url}`)
    this.tokens = new TokenSource(opts.token, opts.refreshBeforeS ?? 60, () => Date.now())
    const fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis)
    this.http = new AgentwireHttp(base.toString(), this.tokens, fetchImpl)
    const ws = new URL('ws', base.toString().endsWith('/') ? base : new URL(`${base.pathname}/`, base))
    ws.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:'
    this.wsUrl = ws.toString()
    this.reconnect = { initialDelayMs: 250, maxDelayMs: 10_000, maxAttempts: Infinity, ...opts.reconnect }
    this.random = opts.random ?? Math.random
  }

  /** The connection is open now. */
  get connected (): boolean { return this.link?.open ?? false }

  /** Opens the WebSocket; rejects with an `AgentwireError` (`unauthorized`, `forbidden_origin`, `network`, …) if it cannot. */
  async connect (): Promise<void> {
    if (this.closed) throw new AgentwireError('closed', 'the client is closed')
    if (this.link?.open) return
    await this.open()
  }

  /** Posts a message (`POST /messages`) and follows the run it started from its first event. */
  async send (content: string, opts: SendOptions = {}): Promise<Run> {
    if (this.closed) throw new AgentwireError('closed', 'the client is closed')
    const accepted = await this.http.postMessage({ content, ...opts })
    return this.follow(accepted.run_id, accepted.thread_id, 0)
  }

  /** Follows an existing run from `after_seq` (default 0: every event); `not_found` if it is not this user's. */
  async run (runId: string, opts: { after_seq?: number } = {}): Promise<Run> {
    if (this.closed) throw new AgentwireError('closed', 'the client is closed')
    const info = await this.http.getRun(runId)
    return this.follow(info.run_id, info.thread_id, opts.after_seq ?? 0)
  }

  /**
   * Follows a thread: the events of its active run from seq 1 and of every later run, as they come,
   * until `stop()`. A run that started and ended while the connection was down is delivered too.
   */
  async followThread (threadId: string): Promise<ThreadFollow> {
    if (this.closed) throw new AgentwireError('closed', 'the client is closed')
    const messages = await this.http.threadMessages(threadId)
    const follow = new ThreadFollow(threadId, (f) => this.unfollow(f))
    // runs that already answered are history; any other is delivered from its first event
    for (const m of messages) if (m.role === 'assistant' && m.run_id) follow.known.add(m.run_id)
    let set = this.follows.get(threadId)
    if (!set) this.follows.set(threadId, (set = new Set()))
    set.add(follow)
    if (this.link?.open) this.subscribeThread(this.link, threadId)
    else this.want()
    return follow
  }

  /** `POST /runs/:id/cancel`. */
  cancel (runId: string): Promise<{ run_id: string, status: RunStatus }> {
    return this.http.cancelRun(runId)
  }

  /** `POST /runs/:id/resume`: answers the run's `input_requested` (contract §5.6). */
  resume (runId: string, body: ResumeBody): Promise<{ run_id: string, interrupt_id: string }> {
    return this.http.resumeRun(runId, body)
  }

  /** Closes the connection; everything still followed fails with `closed`. */
  close (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.reconnectTimer)
    clearTimeout(this.refreshTimer)
    this.failAll(new AgentwireError('closed', 'the client was closed'))
    const link = this.link
    this.link = undefined
    link?.close(1000)
    this.status({ state: 'closed' })
  }

  release (feed: RunFeed): void {
    const set = this.feeds.get(feed.run_id)
    if (!set?.delete(feed)) return
    if (set.size > 0) return
    this.feeds.delete(feed.run_id)
    const watched = feed.thread_id !== undefined && this.follows.has(feed.thread_id)
    if (!feed.ended && !watched) this.link?.send({ type: 'unsubscribe', run_id: feed.run_id })
  }

  private follow (runId: string, threadId: string, afterSeq: number): Run {
    const feed = new RunFeed(runId, afterSeq)
    feed.thread_id = threadId
    let set = this.feeds.get(runId)
    if (!set) this.feeds.set(runId, (set = new Set()))
    set.add(feed)
    if (this.link?.open) this.subscribeRun(this.link, runId)
    else this.want()
    return new Run(feed, this, threadId)
  }

  private unfollow (follow: ThreadFollow) {
    const set = this.follows.get(follow.thread_id)
    if (!set?.delete(follow) || set.size > 0) return
    this.follows.delete(follow.thread_id)
    this.link?.send({ type: 'unsubscribe', thread_id: follow.thread_id })
  }

  /** Every feed still waiting for events of a run: the Run objects' and the thread follows'. */
  private consumers (runId: string, threadId?: string): RunFeed[] {
    const out = [...(this.feeds.get(runId) ?? [])].filter((f) => !f.done)
    for (const [tid, set] of this.follows) {
      if (threadId !== undefined && tid !== threadId) continue
      for (const follow of set) {
        const feed = follow.runs.get(runId)
        if (feed && !feed.done) out.push(feed)
      }
    }
    return out
  }

  private subscribeRun (link: Link, runId: string) {
    const waiting = this.consumers(runId)
    if (waiting.length === 0) return
    const afterSeq = Math.min(...waiting.map((f) => f.lastSeq))
    link.request({ type: 'subscribe', run_id: runId, after_seq: afterSeq }).catch((err: AgentwireError) => {
      // a closed link: the next one subscribes again
      if (err.code === 'network' || link !== this.link) return
      for (const feed of this.consumers(runId)) feed.fail(err)
      this.feeds.delete(runId)
    })
  }

  private subscribeThread (link: Link, threadId: string) {
    link.request({ type: 'subscribe', thread_id: threadId }).then(() => this.catchUp(link, threadId), (err: AgentwireError) => {
      if (err.code === 'network' || link !== this.link) return
      for (const follow of this.follows.get(threadId) ?? []) follow.fail(err)
    })
  }

  /** Runs of a followed thread that the subscription will not send (they ended while the socket was down): follow them too. */
  private async catchUp (link: Link, threadId: string) {
    let messages
    try {
      messages = await this.http.threadMessages(threadId)
    } catch {
      return
    }
    if (link !== this.link) return
    for (const follow of this.follows.get(threadId) ?? []) {
      for (const m of messages) {
        if (m.role !== 'user' || !m.run_id || follow.known.has(m.run_id)) continue
        follow.feedFor(m.run_id)
        this.subscribeRun(link, m.run_id)
      }
    }
  }

  private onFrame (frame: ServerFrame, link: Link) {
    if (typeof frame.seq !== 'number' || typeof frame.run_id !== 'string') return
    const event = frame as unknown as RunEvent
    const feeds = [...(this.feeds.get(event.run_id) ?? [])]
    const follows = [...(this.follows.get(event.thread_id) ?? [])]
    let gap = false
    for (const feed of feeds) {
      const r = feed.accept(event)
      if (r === 'gap') gap ||= !feed.resyncing
      if (r === 'gap') feed.resyncing = true
    }
    if (feeds.length > 0 && feeds.every((f) => f.ended)) this.feeds.delete(event.run_id)
    for (const follow of follows) {
      const feed = follow.feedFor(event.run_id)
      if (!feed) continue
      const r = feed.accept(event)
      if (r === 'ok') follow.delivered(feed)
      if (r === 'gap') gap ||= !feed.resyncing
      if (r === 'gap') feed.resyncing = true
    }
    // events are missing before this one (a follow began mid-run): ask again from the last one kept
    if (gap && link === this.link) this.subscribeRun(link, event.run_id)
  }

  private onClose (link: Link, code: number, reason: string) {
    if (link !== this.link) return
    this.link = undefined
    clearTimeout(this.refreshTimer)
    this.status({ state: 'disconnected', code, reason })
    if (this.closed) return
    if (code === 1008 && !this.tokens.refreshable && !this.opts.ticket) {
      this.failAll(new AgentwireError('unauthorized', `the server closed the connection: ${reason || 'policy violation'}`))
      return
    }
    this.scheduleReconnect(code === 1008)
  }

  /** Connects in the background if nothing is connected or connecting. */
  private want () {
    if (this.closed || this.link?.open || this.opening || this.reconnectTimer) return
    this.scheduleReconnect(false, 0)
  }

  private scheduleReconnect (freshToken: boolean, delayMs?: number, error?: AgentwireError) {
    if (this.closed || this.reconnectTimer || this.opening) return
    const attempt = ++this.attempts
    if (attempt > this.reconnect.maxAttempts) {
      this.attempts = 0
      this.failAll(error ?? new AgentwireError('network', 'could not reconnect'))
      return
    }
    const ceiling = Math.min(this.reconnect.maxDelayMs, this.reconnect.initialDelayMs * 2 ** (attempt - 1))
    const delay = delayMs ?? Math.round(ceiling / 2 + this.random() * ceiling / 2)
    this.status({ state: 'reconnecting', attempt, delay_ms: delay, ...(error && { error }) })
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      this.open(freshToken).catch((err: unknown) => {
        const e = err instanceof AgentwireError ? err : new AgentwireError('network', String((err as Error)?.message ?? err), { cause: err })
        if (FATAL.has(e.code)) {
          this.attempts = 0
          this.failAll(e)
          return
        }
        this.scheduleReconnect(freshToken, undefined, e)
      })
    }, delay)
  }

  /** Opens a link (one at a time) and makes it the current one. */
  private open (freshToken = false): Promise<Link> {
    this.opening ??= this.openLink(freshToken).then((link) => {
      this.opening = undefined
      if (this.closed) {
        link.close(1000)
        throw new AgentwireError('closed', 'the client was closed')
      }
      this.adopt(link, 'connect')
      return link
    }, (err) => {
      this.opening = undefined
      throw err
    })
    return this.opening
  }

  private adopt (link: Link, reason: 'connect' | 'reconnect' | 'token_refresh') {
    const established = link.established!
    this.link = link
    this.attempts = 0
    const why = reason === 'token_refresh' ? reason : this.everConnected ? 'reconnect' : 'connect'
    this.everConnected = true
    this.status({ state: 'connected', connection_id: established.connection_id, user_id: established.user_id, reason: why })
    const runIds = new Set(this.feeds.keys())
    for (const set of this.follows.values()) for (const follow of set) for (const id of follow.runs.keys()) runIds.add(id)
    for (const runId of runIds) this.subscribeRun(link, runId)
    for (const threadId of this.follows.keys()) this.subscribeThread(link, threadId)
    this.scheduleRefresh()
  }

  private async openLink (freshToken: boolean): Promise<Link> {
    const { Ctor, headers } = await this.resolveSocketClass()
    const handlers = { frame: (f: ServerFrame, l: Link) => this.onFrame(f, l), close: (l: Link, code: number, reason: string) => this.onClose(l, code, reason) }
    const linkOpts = { pingMs: this.opts.pingMs ?? 25_000, timeoutMs: this.opts.connectTimeoutMs ?? 10_000 }
    for (let attempt = 1; ; attempt++) {
      let make: () => SocketLike
      const withHeader = headers && this.tokens.configured && !this.opts.ticket
      if (withHeader) {
        const token = freshToken ? await this.tokens.refresh() : (await this.tokens.get())!
        const options = { headers: { authorization: `Bearer ${token}` }, ...(this.opts.origin && { origin: this.opts.origin }) }
        make = () => new Ctor(this.wsUrl, options)
      } else if (this.opts.ticket || this.tokens.configured) {
        if (freshToken && this.tokens.refreshable && !this.opts.ticket) await this.tokens.refresh()
        const ticket = this.opts.ticket ? await this.opts.ticket() : await this.http.wsTicket()
        const url = `${this.wsUrl}?ticket=${encodeURIComponent(ticket)}`
        make = headers && this.opts.origin ? () => new Ctor(url, { origin: this.opts.origin }) : () => new Ctor(url)
      } else {
        throw new AgentwireError('unauthorized', 'no token or ticket to authenticate with')
      }
      try {
        return await Link.open(make, handlers, linkOpts)
      } catch (err) {
        // the token was refused (expired, revoked): one more try with a new one from the getter
        if ((err as AgentwireError).code === 'unauthorized' && attempt === 1 && withHeader && this.tokens.refreshable && !freshToken) {
          freshToken = true
          continue
        }
        throw err
      }
    }
  }

  private resolveSocketClass () {
    this.socketClass ??= (async () => {
      if (this.opts.WebSocket) return { Ctor: this.opts.WebSocket, headers: isNode }
      if (isNode) {
        // Node 20 has no stable global WebSocket, and a browser-style one cannot send the Authorization header
        const ws = await import('ws')
        return { Ctor: ws.WebSocket as unknown as WebSocketClass, headers: true }
      }
      const global = (globalThis as { WebSocket?: WebSocketClass }).WebSocket
      if (!global) throw new AgentwireError('invalid_request', 'no WebSocket implementation: pass options.WebSocket')
      return { Ctor: global, headers: false }
    })()
    return this.socketClass
  }

  /** Replaces the token before it expires: a second socket with the new one takes over every subscription, then the first closes. */
  private scheduleRefresh () {
    clearTimeout(this.refreshTimer)
    if (this.opts.ticket) return
    const at = this.tokens.refreshAt()
    if (at === undefined) return
    this.refreshTimer = setTimeout(() => { this.rotate().catch(() => {}) }, Math.max(0, at - Date.now()))
    unref(this.refreshTimer)
  }

  private async rotate () {
    const old = this.link
    if (this.closed || !old?.open) return
    let next: Link
    try {
      next = await this.openLink(true)
    } catch {
      // the current socket lives until its token expires; the server then closes it and a reconnect gets a new one
      if (this.link === old && old.open) {
        this.refreshTimer = setTimeout(() => { this.rotate().catch(() => {}) }, 1000)
        unref(this.refreshTimer)
      }
      return
    }
    if (this.closed || this.link !== old) {
      next.close(1000)
      return
    }
    this.adopt(next, 'token_refresh')
    old.close(1000, 'token refreshed')
  }

  private failAll (err: AgentwireError) {
    for (const [runId, set] of this.feeds) {
      for (const feed of set) feed.fail(err)
      this.feeds.delete(runId)
    }
    for (const set of this.follows.values()) for (const follow of set) follow.fail(err)
    this.follows.clear()
    if (err.code !== 'closed') this.status({ state: 'failed', error: err })
  }

  private status (s: ConnectionStatus) {
    try { this.opts.onStatus?.(s) } catch {}
  }
}

function unref (timer: unknown) {
  (timer as { unref?: () => void }).unref?.()
}
