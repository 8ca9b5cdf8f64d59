import type { IncomingMessage, ServerResponse } from 'node:http'
import type { WebSocket } from 'ws'
import type { EventBus } from '../bus/types.js'
import type { Logger, UserExecutionContext } from '../core/context.js'
import type { SubmitRequest } from '../core/engine/engine.js'
import type { ResumeRequest, RunEvent } from '../core/events.js'
import { RunFeed, type FeedClock, type FeedTarget } from '../core/run-feed.js'
import type { RunStatus, Store } from '../store/types.js'
import { WsSession } from './ws-session.js'

/** What the hub asks of the engine: a socket's `message`, `cancel` and `resume` frames. */
export interface HubEngine {
  submit (user: UserExecutionContext, req: SubmitRequest): Promise<{ message_id: string, thread_id: string, run_id: string }>
  cancel (user: UserExecutionContext, runId: string): Promise<{ run_id: string, status: RunStatus }>
  resume (user: UserExecutionContext, runId: string, req: ResumeRequest): Promise<{ run_id: string, interrupt_id: string }>
}

export type Transport = 'ws' | 'sse'

export interface HubMetrics {
  /** one event written to a client, and its size in bytes */
  sent (transport: Transport, bytes: number): void
  /** a client that stopped reading was cut */
  cut (transport: Transport): void
}

export interface HubLimits {
  /** unsent bytes a connection may hold; past it the connection is cut at once */
  maxBufferedBytes: number
  /** how long a connection's buffer may stay full before it is cut */
  stallMs: number
  /** open WebSockets per user */
  socketsPerUser: number
  /** SSE comment interval, so proxies keep the stream open */
  sseKeepAliveMs: number
  /** WebSocket ping interval; a socket that misses a pong is cut with 4008 */
  heartbeatMs: number
}

export interface HubOptions {
  store: Store
  bus: EventBus
  engine: HubEngine
  log: Logger
  limits: HubLimits
  metrics?: HubMetrics
  pageSize?: number
  pollMs?: number
  clock?: FeedClock
}

const noMetrics: HubMetrics = { sent () {}, cut () {} }

/**
 * Every client connection of this process: WebSocket sessions and SSE streams, fed by one run feed.
 * Each connection has a bounded send buffer: replay waits for it to drain, and a connection whose
 * buffer stays full `stallMs` (or passes `maxBufferedBytes`) is cut. `stop()` ends them all at once.
 */
export class Hub {
  readonly feed: RunFeed
  readonly engine: HubEngine
  readonly store: Store
  readonly log: Logger
  readonly limits: HubLimits
  readonly metrics: HubMetrics
  /** a connection past this many unsent bytes gets no more events until it drains */
  readonly highWater: number
  readonly #sessions = new Map<string, Set<WsSession>>()
  readonly #streams = new Set<SseStream>()
  readonly #heartbeat: NodeJS.Timeout
  #stopped = false

  constructor (opts: HubOptions) {
    this.engine = opts.engine
    this.store = opts.store
    this.log = opts.log
    this.limits = opts.limits
    this.metrics = opts.metrics ?? noMetrics
    this.highWater = Math.max(1, Math.min(64 * 1024, Math.floor(opts.limits.maxBufferedBytes / 2)))
    this.feed = new RunFeed({
      store: opts.store,
      bus: opts.bus,
      log: opts.log,
      stallMs: opts.limits.stallMs,
      pageSize: opts.pageSize,
      pollMs: opts.pollMs,
      clock: opts.clock
    })
    this.#heartbeat = setInterval(() => {
      for (const set of this.#sessions.values()) for (const s of set) s.beat()
    }, opts.limits.heartbeatMs)
    this.#heartbeat.unref()
  }

  get stopped () { return this.#stopped }
  get sockets () { let n = 0; for (const set of this.#sessions.values()) n += set.size; return n }
  get streams () { return this.#streams.size }

  /** Whether a user may open one more WebSocket. */
  hasRoomFor (userId: string): boolean {
    return (this.#sessions.get(userId)?.size ?? 0) < this.limits.socketsPerUser
  }

  /** Takes an upgraded socket whose user is verified; closes it at once when stopping or over the cap. */
  open (socket: WebSocket, user: UserExecutionContext, tokenExp: number): void {
    const session = new WsSession(this, socket, user, tokenExp)
    if (this.#stopped) return session.close(1001, 'server shutting down')
    if (!this.hasRoomFor(user.user_id)) return session.close(1008, 'too_many_sockets')
    let set = this.#sessions.get(user.user_id)
    if (!set) this.#sessions.set(user.user_id, (set = new Set()))
    set.add(session)
    session.start()
  }

  /** @internal a session has ended */
  closed (session: WsSession): void {
    const set = this.#sessions.get(session.user.user_id)
    if (!set?.delete(session)) return
    if (set.size === 0) this.#sessions.delete(session.user.user_id)
  }

  /**
   * Streams a run as SSE on a response the caller has taken over (CONTRACT §3), from `afterSeq`,
   * live until the terminal event. Resolves false (nothing written) when the run is not the user's.
   */
  async stream (request: IncomingMessage, response: ServerResponse, userId: string, runId: string, afterSeq: number): Promise<boolean> {
    if (this.#stopped) return false
    const stream = new SseStream(this, request, response, userId)
    this.#streams.add(stream)
    let following
    try {
      following = await this.feed.follow(stream.target, runId, afterSeq, () => stream.open())
    } catch (err) {
      stream.finish()
      throw err
    }
    if (!following) { stream.discard(); return false }
    stream.following = following
    if (stream.finished) following.stop()
    return true
  }

  /** @internal */
  streamEnded (stream: SseStream): void {
    this.#streams.delete(stream)
  }

  /**
   * Ends every connection now: sockets get `1001`, streams end, the feed stops. Sockets that cannot
   * take their close frame (a client that stopped reading) are dropped after `dropAfterMs`.
   */
  stop (dropAfterMs = 1000): void {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#heartbeat)
    this.feed.stop()
    const sessions = [...this.#sessions.values()].flatMap((set) => [...set])
    for (const s of sessions) s.close(1001, 'server shutting down')
    for (const s of [...this.#streams]) s.finish()
    if (sessions.length) setTimeout(() => { for (const s of sessions) s.drop() }, dropAfterMs).unref()
  }
}

/** One SSE response: its target of the feed, keep-alive comments and a bounded buffer. */
class SseStream {
  following: { stop (): void } | undefined
  finished = false
  readonly target: FeedTarget
  readonly #hub: Hub
  readonly #response: ServerResponse
  #keepAlive: NodeJS.Timeout | undefined

  constructor (hub: Hub, request: IncomingMessage, response: ServerResponse, userId: string) {
    this.#hub = hub
    this.#response = response
    const res = response
    this.target = {
      user_id: userId,
      send: (json: string, event: RunEvent) => {
        if (this.finished) return true
        if (res.writableLength > hub.limits.maxBufferedBytes) { this.target.cut(); return true }
        const chunk = `id: ${event.seq}\nevent: ${event.type}\ndata: ${json}\n\n`
        const room = res.write(chunk)
        hub.metrics.sent('sse', Buffer.byteLength(chunk))
        return room && res.writableLength < hub.highWater
      },
      drained: () => {
        if (this.finished || (!res.writableNeedDrain && res.writableLength < hub.highWater)) return Promise.resolve()
        return new Promise<void>((resolve) => {
          const done = () => { res.off('drain', done); res.off('close', done); resolve() }
          res.on('drain', done)
          res.on('close', done)
        })
      },
      end: () => this.finish(),
      cut: () => {
        if (this.finished) return
        hub.metrics.cut('sse')
        hub.log.info({ user_id: userId }, 'cut an SSE client that stopped reading')
        this.finish()
        res.destroy()
      }
    }
    request.on('close', () => this.finish())
    res.on('close', () => this.finish())
  }

  /** Sends the head: called once the run is known to be the user's, before its first event. */
  open () {
    if (this.finished) return
    this.#response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    this.#response.write(': stream\n\n')
    this.#keepAlive = setInterval(() => {
      // a comment keeps proxies from closing an idle stream; a full buffer needs none
      if (!this.#response.writableNeedDrain) this.#response.write(': keep-alive\n\n')
    }, this.#hub.limits.sseKeepAliveMs)
    this.#keepAlive.unref()
  }

  /** Forgets the stream without writing to it: the caller answers the request itself. */
  discard () {
    this.finished = true
    this.#hub.streamEnded(this)
  }

  finish () {
    if (this.finished) return
    this.finished = true
    clearInterval(this.#keepAlive)
    this.following?.stop()
    this.#hub.streamEnded(this)
    if (!this.#response.destroyed) {
      if (!this.#response.headersSent) this.#response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      this.#response.end()
    }
  }
}
