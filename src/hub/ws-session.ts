import { randomUUID } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import type { Logger, UserExecutionContext } from '../core/context.js'
import { FRAME_TYPES, checkFrame, type ClientFrame } from '../core/events.js'
import { MAX_JSON_DEPTH, jsonTooDeep } from '../core/json-depth.js'
import type { FeedTarget, Following } from '../core/run-feed.js'
import { isCoded } from '../errors.js'
import type { Hub } from './hub.js'

const MAX_DELAY = 2 ** 31 - 1
/** frames waiting for their turn before the socket stops being read */
const MAX_QUEUED_FRAMES = 32
/** longest message of an error frame: a frame's own text is never echoed whole */
const MAX_MESSAGE_CHARS = 300

/** `reply_to` is the frame's `id` only when it is one the contract allows: bounded, never echoed raw. */
function replyTo (frame: { id?: unknown }): { reply_to?: string | number } {
  const id = frame.id
  if (typeof id === 'string' && id.length <= 128) return { reply_to: id }
  if (typeof id === 'number' && Number.isFinite(id)) return { reply_to: id }
  return {}
}

const bounded = (message: string) => message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message

/** A followed run; `stopped` silences a follow still starting when it is replaced or dropped. */
interface Follow { stopped: boolean, handle?: Following }
interface Watch { stopped: boolean, stop (): void }

/**
 * One WebSocket `/ws` (CONTRACT §4). Frames are handled one at a time, in the order they came;
 * while too many wait, the socket is not read. No error of a frame can escape its listener.
 */
export class WsSession {
  readonly connection_id: string
  readonly user: UserExecutionContext
  readonly socket: WebSocket
  readonly #hub: Hub
  readonly #log: Logger
  readonly #tokenExp: number
  readonly #runs = new Map<string, Follow>()
  readonly #threads = new Map<string, Watch>()
  #queue: Promise<void> = Promise.resolve()
  #pending = 0
  #open = true
  #alive = true
  #waiters: Array<() => void> = []
  #expiry: NodeJS.Timeout | undefined

  constructor (hub: Hub, socket: WebSocket, user: UserExecutionContext, tokenExp: number) {
    this.#hub = hub
    this.socket = socket
    this.user = user
    this.#tokenExp = tokenExp
    this.connection_id = user.connection_id ?? randomUUID()
    this.#log = user.connection_id ? user.log : user.log.child({ connection_id: this.connection_id })
    // attached at once, before any await, so no frame is missed and nothing throws out of them
    socket.on('message', (data: RawData, isBinary: boolean) => this.#receive(data, isBinary))
    socket.on('close', () => this.#shutdown())
    socket.on('pong', () => { this.#alive = true })
  }

  /** Greets the client and arms the token expiry. */
  start () {
    const ms = Math.min(MAX_DELAY, Math.max(0, this.#tokenExp * 1000 - Date.now()))
    this.#expiry = setTimeout(() => this.close(1008, 'token_expired'), ms)
    this.#expiry.unref()
    this.#send({ type: 'connection_established', data: { connection_id: this.connection_id, user_id: this.user.user_id, server_time: Date.now() / 1000 } })
  }

  /** Heartbeat: a socket that did not answer the last ping is cut, the others are pinged. */
  beat () {
    if (!this.#open) return
    if (!this.#alive) return this.cut()
    this.#alive = false
    try { this.socket.ping() } catch {}
  }

  /** A client too far behind: it resumes with `after_seq` (CONTRACT §4, 4008). */
  cut () {
    if (!this.#open) return
    this.#hub.metrics.cut('ws')
    this.#log.info('cut a WebSocket client that stopped reading')
    this.close(4008, 'too slow')
  }

  close (code: number, reason: string) {
    this.#shutdown()
    try { this.socket.close(code, reason) } catch { this.socket.terminate() }
  }

  /** Drops a socket that could not take its close frame. */
  drop () {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate()
  }

  #receive (data: RawData, isBinary: boolean) {
    if (!this.#open) return
    this.#pending++
    if (this.#pending >= MAX_QUEUED_FRAMES && !this.socket.isPaused) this.socket.pause()
    this.#queue = this.#queue
      .then(() => this.#process(data, isBinary))
      .catch((err) => this.#log.error({ err }, 'websocket frame failed'))
      .finally(() => {
        this.#pending--
        if (this.#pending < MAX_QUEUED_FRAMES / 2 && this.socket.isPaused && this.#open) this.socket.resume()
      })
  }

  async #process (data: RawData, isBinary: boolean) {
    let frame: { id?: unknown, type?: unknown } = {}
    try {
      if (!this.#open) return
      if (isBinary) return this.#fail({}, 'invalid_request', 'binary frames are not supported; send JSON text')
      const text = data.toString()
      // JSON.parse handles deep nesting, but nothing after it should have to
      if (jsonTooDeep(text)) return this.#fail({}, 'invalid_request', `frame nests deeper than ${MAX_JSON_DEPTH} levels`)
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { return this.#fail({}, 'invalid_request', 'frame is not valid JSON') }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return this.#fail({}, 'invalid_request', 'frame must be a JSON object')
      frame = parsed as typeof frame
      if (typeof frame.type !== 'string' || !FRAME_TYPES.has(frame.type)) {
        return this.#fail(frame, 'invalid_request', `unknown frame type ${String(JSON.stringify(frame.type)).slice(0, 100)}`)
      }
      const checked = checkFrame(frame as { type: string })
      if ('error' in checked) return this.#fail(frame, 'invalid_request', `invalid ${frame.type} frame: ${checked.error}`)
      await this.#handle(checked.frame)
    } catch (err) {
      if (isCoded(err) && err.statusCode && err.statusCode < 500) return this.#fail(frame, err.code, err.message, (err as { retryAfter?: number }).retryAfter)
      this.#log.error({ err }, 'websocket frame failed')
      this.#fail(frame, 'internal', 'internal error')
    }
  }

  async #handle (frame: ClientFrame) {
    switch (frame.type) {
      case 'ping':
        return this.#send({ type: 'pong', ...replyTo(frame), data: { server_time: Date.now() / 1000 } })
      case 'subscribe':
        if ('run_id' in frame) {
          const ok = await this.#followRun(frame.run_id, frame.after_seq ?? 0, (lastSeq) =>
            this.#send({ type: 'subscribed', ...replyTo(frame), run_id: frame.run_id, last_seq: lastSeq, recovered: true }))
          if (!ok) this.#fail(frame, 'not_found', 'run not found')
          return
        }
        return await this.#watchThread(frame)
      case 'unsubscribe':
        if ('run_id' in frame) {
          this.#stopFollow(frame.run_id)
          return this.#send({ type: 'unsubscribed', ...replyTo(frame), run_id: frame.run_id })
        }
        this.#unwatch(frame.thread_id)
        return this.#send({ type: 'unsubscribed', ...replyTo(frame), thread_id: frame.thread_id })
      case 'message': {
        const { type: _t, id: _i, ...req } = frame
        const accepted = await this.#hub.engine.submit(this.user, req)
        this.#send({ type: 'message_accepted', ...replyTo(frame), data: { message_id: accepted.message_id, thread_id: accepted.thread_id, run_id: accepted.run_id } })
        if (!this.#runs.has(accepted.run_id)) await this.#followRun(accepted.run_id, 0)
        return
      }
      case 'cancel': {
        const result = await this.#hub.engine.cancel(this.user, frame.run_id)
        return this.#send({ type: 'cancel_accepted', ...replyTo(frame), data: result })
      }
      case 'resume': {
        const { type: _t, id: _i, run_id: runId, ...answer } = frame
        const result = await this.#hub.engine.resume(this.user, runId, answer)
        return this.#send({ type: 'resume_accepted', ...replyTo(frame), data: result })
      }
    }
  }

  async #followRun (runId: string, afterSeq: number, subscribed?: (lastSeq: number) => void): Promise<boolean> {
    this.#stopFollow(runId)
    const follow: Follow = { stopped: false }
    this.#runs.set(runId, follow)
    const forget = () => { if (this.#runs.get(runId) === follow) this.#runs.delete(runId) }
    const target: FeedTarget = {
      user_id: this.user.user_id,
      // two follows of one run would each send every event: only the current one may send
      send: (json) => follow.stopped ? true : this.#sendEvent(json),
      drained: () => this.#drained(),
      end: forget,
      cut: () => this.cut()
    }
    const handle = await this.#hub.feed.follow(target, runId, afterSeq, subscribed)
    if (!handle) { forget(); return false }
    if (follow.stopped || !this.#open) handle.stop()
    else follow.handle = handle
    return true
  }

  #stopFollow (runId: string) {
    const follow = this.#runs.get(runId)
    if (!follow) return
    this.#runs.delete(runId)
    follow.stopped = true
    follow.handle?.stop()
  }

  async #watchThread (frame: { id?: unknown, thread_id: string }) {
    const { thread_id } = frame
    if (this.#threads.has(thread_id)) return this.#send({ type: 'subscribed', ...replyTo(frame), thread_id })
    const watch: Watch = { stopped: false, stop () {} }
    this.#threads.set(thread_id, watch)
    const follow = (runId: string) => {
      if (watch.stopped || this.#runs.has(runId)) return
      this.#followRun(runId, 0).catch((err) => this.#log.error({ err, run_id: runId }, 'following a thread run failed'))
    }
    let watching
    try {
      watching = await this.#hub.feed.watchThread(this.user.user_id, thread_id, follow)
    } catch (err) {
      this.#forgetWatch(thread_id, watch)
      throw err
    }
    if (!watching) {
      this.#forgetWatch(thread_id, watch)
      return this.#fail(frame, 'not_found', 'thread not found')
    }
    watch.stop = watching.stop
    if (watch.stopped || !this.#open) return watching.stop()
    this.#send({ type: 'subscribed', ...replyTo(frame), thread_id })
    for (const runId of watching.runIds) {
      if (watch.stopped || this.#runs.has(runId)) continue
      await this.#followRun(runId, 0)
    }
  }

  #unwatch (threadId: string) {
    const watch = this.#threads.get(threadId)
    if (!watch) return
    this.#forgetWatch(threadId, watch)
    watch.stop()
  }

  #forgetWatch (threadId: string, watch: Watch) {
    watch.stopped = true
    if (this.#threads.get(threadId) === watch) this.#threads.delete(threadId)
  }

  /** An error frame; `rate_limited` carries `retry_after` (seconds), as HTTP's `Retry-After`. */
  #fail (frame: { id?: unknown }, code: string, message: string, retryAfter?: number) {
    const wait = code === 'rate_limited' ? { retry_after: retryAfter ?? 1 } : {}
    this.#send({ type: 'error', ...replyTo(frame), data: { code, message: bounded(message), ...wait } })
  }

  #send (frame: unknown) {
    let json: string
    try { json = JSON.stringify(frame) } catch (err) { this.#log.error({ err }, 'a frame could not be serialised'); return }
    this.#write(json)
  }

  /** An event's JSON; false when the socket is past its mark (the feed waits for `#drained`). */
  #sendEvent (json: string): boolean {
    if (!this.#write(json)) return true
    this.#hub.metrics.sent('ws', Buffer.byteLength(json))
    return this.socket.bufferedAmount < this.#hub.highWater
  }

  #write (json: string): boolean {
    if (!this.#open || this.socket.readyState !== WebSocket.OPEN) return false
    // what this tick wrote is held back by the cork, not by the client: only the rest counts
    if (this.socket.bufferedAmount - this.#tickBytes > this.#hub.limits.maxBufferedBytes) { this.cut(); return false }
    this.#cork()
    this.#tickBytes += json.length
    this.socket.send(json, this.#written)
    return true
  }

  /** The frames of one tick leave in one write (one syscall), not one each. */
  #cork () {
    if (this.#corked) return
    const raw = (this.socket as unknown as { _socket?: { cork (): void, uncork (): void } })._socket
    if (!raw) return
    this.#corked = true
    raw.cork()
    process.nextTick(() => { this.#corked = false; this.#tickBytes = 0; raw.uncork() })
  }

  #corked = false
  #tickBytes = 0

  readonly #written = () => {
    if (this.#waiters.length && (!this.#open || this.socket.bufferedAmount < this.#hub.highWater)) this.#release()
  }

  #drained (): Promise<void> {
    if (!this.#open || this.socket.bufferedAmount < this.#hub.highWater) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  #release () {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  #shutdown () {
    if (!this.#open) return
    this.#open = false
    clearTimeout(this.#expiry)
    for (const runId of [...this.#runs.keys()]) this.#stopFollow(runId)
    for (const threadId of [...this.#threads.keys()]) this.#unwatch(threadId)
    this.#release()
    this.#hub.closed(this)
  }
}
