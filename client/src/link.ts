import { AgentwireError, codeOfStatus } from './errors.js'

/** What the client needs of a WebSocket: the browser's, Node 22's global, or the `ws` package's. */
export interface SocketLike {
  readonly readyState: number
  send (data: string): void
  close (code?: number, reason?: string): void
  addEventListener (type: string, listener: (event: any) => void): void
  /** `ws` only: hard close, and the refused upgrade's answer */
  terminate?: () => void
  on?: (event: string, listener: (...args: any[]) => void) => unknown
}

/**
 * A WebSocket class. One that takes `(url, { headers, origin })` like `ws` authenticates with the
 * `Authorization` header; a browser's takes `(url)` and the client authenticates with a ticket.
 */
export type WebSocketClass = new (url: string, options?: any) => SocketLike

/** A frame from the server: a run event (`seq`) or a reply. */
export interface ServerFrame {
  type: string
  reply_to?: string | number
  seq?: number
  run_id?: string
  thread_id?: string
  data?: any
  [key: string]: unknown
}

export interface LinkHandlers {
  frame (frame: ServerFrame, link: Link): void
  close (link: Link, code: number, reason: string): void
}

const OPEN = 1
let links = 0

/**
 * One WebSocket, from its upgrade to its close: request/reply by frame id, and a ping every
 * `pingMs` so a connection that went silent (a half-open TCP socket) is noticed and dropped.
 */
export class Link {
  readonly id = ++links
  /** what `connection_established` said */
  established?: { connection_id: string, user_id: string }
  private nextId = 0
  private readonly pending = new Map<string, { resolve: (f: ServerFrame) => void, reject: (e: Error) => void }>()
  private done = false
  private pinger?: ReturnType<typeof setInterval>
  private awaitingPong?: string

  private constructor (private readonly socket: SocketLike, private handlers: LinkHandlers) {}

  /**
   * Opens a socket and resolves once the server sent `connection_established`; rejects with
   * `unauthorized`, `forbidden_origin`, `unavailable`… for a refused upgrade, `network` otherwise.
   */
  static open (make: () => SocketLike, handlers: LinkHandlers, opts: { pingMs: number, timeoutMs: number }): Promise<Link> {
    return new Promise((resolve, reject) => {
      let socket: SocketLike
      try {
        socket = make()
      } catch (err) {
        reject(new AgentwireError('network', `could not open the WebSocket: ${(err as Error).message}`, { cause: err }))
        return
      }
      let settled = false
      let refused: AgentwireError | undefined
      const timer = setTimeout(() => fail(new AgentwireError('network', `no connection_established within ${opts.timeoutMs} ms`)), opts.timeoutMs)
      const fail = (err: AgentwireError) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        link.done = true
        try { socket.terminate ? socket.terminate() : socket.close() } catch {}
        reject(err)
      }
      const link = new Link(socket, {
        frame (frame) {
          if (settled) return handlers.frame(frame, link)
          if (frame.type !== 'connection_established') return fail(new AgentwireError('protocol', `expected connection_established, got ${frame.type}`))
          settled = true
          clearTimeout(timer)
          link.established = { connection_id: String(frame.data?.connection_id), user_id: String(frame.data?.user_id) }
          link.startPinging(opts.pingMs)
          resolve(link)
        },
        close (l, code, reason) {
          if (settled) return handlers.close(l, code, reason)
          fail(refused ?? new AgentwireError('network', `the WebSocket closed before it was established (${code}${reason ? ` ${reason}` : ''})`))
        }
      })
      // `ws` tells why an upgrade was refused: the contract's error body
      socket.on?.('unexpected-response', (req: { destroy (): void }, res: AsyncIterable<{ toString (): string }> & { statusCode?: number, headers: Record<string, string | undefined> }) => {
        readBody(res).then((text) => {
          let body: { code?: unknown, message?: unknown } = {}
          try { body = JSON.parse(text) } catch {}
          const status = res.statusCode ?? 0
          const code = typeof body.code === 'string' ? body.code : codeOfStatus(status)
          const message = typeof body.message === 'string' ? body.message : `the WebSocket upgrade was refused with ${status}`
          const retryAfter = Number(res.headers['retry-after'])
          fail(new AgentwireError(code, message, { status, ...(Number.isFinite(retryAfter) && retryAfter > 0 && { retryAfter }) }))
        }, () => fail(new AgentwireError(codeOfStatus(res.statusCode ?? 0), `the WebSocket upgrade was refused with ${res.statusCode}`, { status: res.statusCode })))
          .finally(() => req.destroy())
      })
      link.attach()
    })
  }

  private attach () {
    const s = this.socket
    s.addEventListener('message', (event: { data: unknown }) => {
      if (this.done) return
      let frame: ServerFrame
      try {
        frame = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data))
      } catch {
        return
      }
      if (this.awaitingPong !== undefined && frame.type === 'pong' && frame.reply_to === this.awaitingPong) this.awaitingPong = undefined
      const waiter = frame.reply_to === undefined ? undefined : this.pending.get(String(frame.reply_to))
      if (waiter) {
        this.pending.delete(String(frame.reply_to))
        if (frame.type === 'error') {
          const retryAfter = frame.data?.retry_after
          waiter.reject(new AgentwireError(frame.data?.code ?? 'protocol', frame.data?.message ?? 'error', typeof retryAfter === 'number' ? { retryAfter } : {}))
        } else waiter.resolve(frame)
      }
      this.handlers.frame(frame, this)
    })
    s.addEventListener('close', (event: { code?: number, reason?: string }) => this.closed(event.code ?? 1006, event.reason ?? ''))
    // an error is always followed by a close
    s.addEventListener('error', () => {})
  }

  get open (): boolean { return !this.done && this.socket.readyState === OPEN }

  /** Sends a frame with a fresh id; resolves with its answer, rejects with its `error` frame's code or when the socket closes. */
  request (frame: Record<string, unknown>): Promise<ServerFrame> {
    const id = `c${this.id}.${++this.nextId}`
    return new Promise((resolve, reject) => {
      if (!this.open) return reject(new AgentwireError('network', 'the connection is closed'))
      this.pending.set(id, { resolve, reject })
      this.socket.send(JSON.stringify({ ...frame, id }))
    })
  }

  /** Sends a frame whose answer nobody waits for. */
  send (frame: Record<string, unknown>): void {
    if (this.open) this.socket.send(JSON.stringify(frame))
  }

  /** Closes the socket; nothing more is handled from it and the close is reported now with `code`. */
  close (code = 1000, reason = ''): void {
    if (this.done) return
    try { code === 1000 ? this.socket.close(1000, reason) : (this.socket.terminate ? this.socket.terminate() : this.socket.close(1000, reason)) } catch {}
    this.closed(code, reason)
  }

  private startPinging (ms: number) {
    if (!(ms > 0)) return
    this.pinger = setInterval(() => {
      // no pong since the last ping: the connection is dead though no close came
      if (this.awaitingPong !== undefined) return this.close(4000, 'no pong')
      this.awaitingPong = `ping${this.id}.${++this.nextId}`
      this.send({ type: 'ping', id: this.awaitingPong })
    }, ms)
    ;(this.pinger as { unref?: () => void }).unref?.()
  }

  private closed (code: number, reason: string) {
    if (this.done) return
    this.done = true
    clearInterval(this.pinger)
    for (const { reject } of this.pending.values()) reject(new AgentwireError('network', `the connection closed (${code})`))
    this.pending.clear()
    this.handlers.close(this, code, reason)
  }
}

async function readBody (res: AsyncIterable<{ toString (): string }>): Promise<string> {
  let text = ''
  for await (const chunk of res) {
    text += chunk.toString()
    if (text.length > 65536) break
  }
  return text
}
