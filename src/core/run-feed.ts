import type { EventBus } from '../bus/types.js'
import { eventLines, runChannel, threadChannel } from '../bus/types.js'
import { ACTIVE_STATUSES, type Store } from '../store/types.js'
import type { Logger } from './context.js'
import { TERMINAL_TYPES, type LocalEvents, type RunEvent } from './events.js'

/**
 * Where a followed run's events go (a WebSocket, an SSE response). The feed writes one event at a
 * time and never holds more than one page of a run in memory for a target.
 */
export interface FeedTarget {
  readonly user_id: string
  /**
   * Writes one event (its JSON is serialised once and shared by every target). Returns false when
   * the connection's buffer is past its mark: the feed then waits for `drained()` before writing more.
   */
  send (json: string, event: RunEvent): boolean
  /** resolves once the connection's buffer is below its mark (or the connection is gone) */
  drained (): Promise<void>
  /** the run's terminal event has been sent */
  end? (): void
  /** the connection did not drain within `stallMs`: close it (WebSocket 4008, SSE closed) */
  cut (): void
}

/** Timers, injected so tests step time themselves. */
export interface FeedClock {
  setTimeout (fn: () => void, ms: number): unknown
  clearTimeout (handle: unknown): void
}

const realClock: FeedClock = {
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout)
}

export interface FeedOptions {
  store: Store
  bus: EventBus
  log: Logger
  /** events read from the store at once (default 100: at most 6.4 MB of 64 KiB events) */
  pageSize?: number
  /** how long a target may stay full before it is cut */
  stallMs: number
  /** how often the store is read while the bus is down */
  pollMs?: number
  clock?: FeedClock
  /** told of every event written and its size, e.g. for metrics */
  onSent?: (bytes: number) => void
  /** told of every slow target cut */
  onCut?: () => void
}

export interface Following { stop (): void }

class Follower {
  /** the last seq written to the target */
  last: number
  /** caught up: events from the bus go straight to the target */
  live = false
  /** the highest seq the bus showed while not live: the store is read again up to it */
  seen = 0
  pumping = false
  stopped = false
  /** the run had ended when it was followed: once the store is read to its end, so is the follow */
  finished = false
  /** cuts a poll's sleep short */
  wake: (() => void) | undefined

  constructor (readonly target: FeedTarget, readonly runId: string, afterSeq: number) {
    this.last = afterSeq
  }
}

interface Channel { ready: Promise<() => Promise<void>>, followers: Set<Follower> }

interface ThreadWatch {
  user_id: string
  thread_id: string
  onRun: (runId: string) => void
  /** runs already announced, or there before the watch began */
  known: Set<string>
  stopped: boolean
  off?: () => Promise<void>
}

/**
 * Streams runs' events to targets (CONTRACT §5 rules 1–2). A follower reads the store in pages
 * after its last seq until it has caught up, then takes events from the bus as they come; one bus
 * subscription per run serves every follower in this process, and each event's JSON is shared.
 *
 * - Seam: the bus is listened to before the store is read; events already written are dropped
 *   (`seq <= last`), a jump in `seq` (a lost message) sends the follower back to the store.
 * - Backpressure: a target that reports itself full gets nothing more until it drains; what it
 *   misses meanwhile is read from the store afterwards. A target that stays full `stallMs` is cut.
 * - Bus down (`onStatus(false)`): followers poll the store every `pollMs`; on `onStatus(true)` they
 *   read once more and go live again. Nothing is lost or written twice.
 * - Every event is checked against the target's user at delivery.
 */
export class RunFeed {
  readonly #store: Store
  readonly #bus: EventBus
  readonly #log: Logger
  readonly #pageSize: number
  readonly #stallMs: number
  readonly #pollMs: number
  readonly #clock: FeedClock
  readonly #onSent: (bytes: number) => void
  readonly #onCut: () => void
  readonly #channels = new Map<string, Channel>()
  readonly #watches = new Set<ThreadWatch>()
  readonly #offStatus: () => void
  #busUp = true
  #pollTimer: unknown
  #stopped = false

  constructor (opts: FeedOptions) {
    this.#store = opts.store
    this.#bus = opts.bus
    this.#log = opts.log
    this.#pageSize = opts.pageSize ?? 100
    this.#stallMs = opts.stallMs
    this.#pollMs = opts.pollMs ?? 1000
    this.#clock = opts.clock ?? realClock
    this.#onSent = opts.onSent ?? (() => {})
    this.#onCut = opts.onCut ?? (() => {})
    this.#offStatus = this.#bus.onStatus((up) => this.#status(up))
  }

  /** bus subscriptions held for runs */
  get channels () { return this.#channels.size }
  get followers () { let n = 0; for (const c of this.#channels.values()) n += c.followers.size; return n }

  /**
   * Follows a run for a target from `afterSeq`. Resolves with a handle once the owner is checked
   * and `subscribed(lastSeq)` was called (before any event is written), or undefined when the run
   * is not the target user's (it looks exactly like a missing one).
   */
  async follow (target: FeedTarget, runId: string, afterSeq: number, subscribed?: (lastSeq: number) => void): Promise<Following | undefined> {
    if (this.#stopped) return undefined
    const f = new Follower(target, runId, afterSeq)
    let channel = this.#channels.get(runId)
    if (!channel) {
      const ready = this.#bus.subscribe(runChannel(runId), (message, local) => this.#onMessage(runId, message, local))
      channel = { ready, followers: new Set() }
      this.#channels.set(runId, channel)
      ready.catch(() => {})
    }
    channel.followers.add(f)
    try {
      // listen first, then read the store: whatever is published meanwhile is seen (rule 1)
      await channel.ready
      const run = await this.#store.getRun(target.user_id, runId)
      if (!run) { this.#stop(f); return undefined }
      if (f.stopped) return { stop: () => {} }
      subscribed?.(Math.max(afterSeq, run.last_seq))
      const finished = !ACTIVE_STATUSES.includes(run.status)
      if (finished && afterSeq >= run.last_seq) {
        // followed from at or past its terminal event: nothing more will come
        this.#stop(f)
        target.end?.()
      } else {
        f.finished = finished
        this.#pump(f)
      }
      return { stop: () => this.#stop(f) }
    } catch (err) {
      this.#stop(f)
      throw err
    }
  }

  /**
   * Watches a thread for runs (CONTRACT §4 thread subscribe). Resolves with the runs to follow now
   * (the active run and any queued after it, in message order) and a stop function, or undefined
   * when the thread is not the user's. Every run started later is announced to `onRun` once, also
   * while the bus is down.
   */
  async watchThread (userId: string, threadId: string, onRun: (runId: string) => void): Promise<{ stop (): void, runIds: string[] } | undefined> {
    if (this.#stopped) return undefined
    const w: ThreadWatch = { user_id: userId, thread_id: threadId, onRun, known: new Set(), stopped: false }
    this.#watches.add(w)
    const stop = () => this.#unwatch(w)
    try {
      // watch first, then read: a run started in between is announced, not missed
      const off = await this.#bus.subscribe(threadChannel(threadId), (json) => {
        let runId: unknown
        try { runId = (JSON.parse(json) as { run_id?: unknown }).run_id } catch {}
        if (typeof runId === 'string') this.#announce(w, runId)
      })
      if (w.stopped) { off().catch(() => {}); return { stop, runIds: [] } }
      w.off = off
      const thread = await this.#store.getThread(userId, threadId)
      const messages = thread && await this.#store.listMessages(userId, threadId)
      if (!thread || !messages) { stop(); return undefined }
      const runIds: string[] = []
      let reached = false
      for (const m of messages) {
        if (m.role !== 'user' || !m.run_id) continue
        reached ||= m.run_id === thread.active_run_id
        // runs before the active one are history; the active one and those after it are followed
        if (reached && !w.known.has(m.run_id)) runIds.push(m.run_id)
        w.known.add(m.run_id)
      }
      return { stop, runIds }
    } catch (err) {
      stop()
      throw err
    }
  }

  /** Stops every follower and watch at once; what the bus still delivers is dropped. */
  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#offStatus()
    if (this.#pollTimer !== undefined) this.#clock.clearTimeout(this.#pollTimer)
    for (const channel of [...this.#channels.values()]) for (const f of [...channel.followers]) this.#stop(f)
    for (const w of [...this.#watches]) this.#unwatch(w)
  }

  /** A flush of a run's events: `local` holds them as objects when they were emitted in this process. */
  #onMessage (runId: string, message: string, local?: unknown) {
    const channel = this.#channels.get(runId)
    if (!channel) return
    if (local !== undefined) {
      const { events, lines } = local as LocalEvents
      for (let i = 0; i < events.length; i++) this.#deliverAll(channel, runId, events[i], lines[i])
      return
    }
    for (const json of eventLines(message)) {
      let event: RunEvent
      try {
        event = JSON.parse(json) as RunEvent
      } catch (err) {
        this.#log.error({ err, run_id: runId }, 'a run channel message is not JSON')
        continue
      }
      this.#deliverAll(channel, runId, event, json)
    }
  }

  #deliverAll (channel: Channel, runId: string, event: RunEvent, json: string) {
    for (const f of channel.followers) {
      try {
        this.#deliver(f, event, json)
      } catch (err) {
        this.#log.error({ err, run_id: runId }, 'delivering an event failed')
        this.#stop(f)
        f.target.cut()
      }
    }
  }

  #deliver (f: Follower, event: RunEvent, json: string) {
    if (f.stopped) return
    if (event.user_id !== f.target.user_id || event.run_id !== f.runId) {
      this.#log.error({ run_id: f.runId }, 'refused to deliver an event to another user')
      return
    }
    if (!f.live) { f.seen = Math.max(f.seen, event.seq); return }
    if (event.seq <= f.last) return
    if (event.seq > f.last + 1) {
      // a message was lost: read the gap from the store
      f.seen = event.seq
      f.live = false
      this.#pump(f)
      return
    }
    if (!this.#write(f, event, json)) {
      f.live = false
      this.#pump(f)
    }
  }

  /** Writes one event; false when the target is full (the caller stops writing). */
  #write (f: Follower, event: RunEvent, json: string): boolean {
    f.last = event.seq
    const room = f.target.send(json, event)
    this.#onSent(json.length)
    if (TERMINAL_TYPES.has(event.type)) {
      this.#stop(f)
      f.target.end?.()
      return false
    }
    return room
  }

  /** Reads the store after `f.last` in pages, waiting for the target to drain, until caught up. */
  #pump (f: Follower) {
    if (f.pumping || f.stopped) return
    f.pumping = true
    this.#catchUp(f).catch((err) => {
      this.#log.error({ err, run_id: f.runId }, 'a follower stopped: reading the store failed')
      this.#stop(f)
      f.target.cut()
    }).finally(() => { f.pumping = false })
  }

  async #catchUp (f: Follower) {
    let full = false
    let empty = 0
    for (;;) {
      if (full && !await this.#drained(f)) return
      full = false
      if (f.stopped) return
      const page = await this.#readPage(f)
      if (f.stopped || page === undefined) return
      if (page.length > 0) empty = 0
      for (let i = 0; i < page.length; i++) {
        const event = page[i]
        // what is written is the connection's to hold now: the page keeps only what is left
        page[i] = undefined as unknown as RunEvent
        if (event.seq <= f.last) continue
        if (!this.#write(f, event, JSON.stringify(event))) { full = !f.stopped; break }
      }
      if (f.stopped) return
      if (full || page.length >= this.#pageSize) continue
      if (f.seen > f.last) {
        // the bus showed events the store did not hold yet at this read: look again shortly
        if (page.length === 0 && ++empty > 1) await this.#sleep(f, this.#pollMs)
        if (empty > 5) f.seen = f.last
        continue
      }
      if (f.finished) {
        // an ended run read to the end without its terminal event: its events were purged
        this.#stop(f)
        f.target.end?.()
        return
      }
      if (this.#busUp) { f.live = true; return }
      // the bus is down: nothing tells us of new events, so look again in a while
      await this.#sleep(f, this.#pollMs)
    }
  }

  /** One page after `f.last`; a failing store is retried after `pollMs` while the follower lives. */
  async #readPage (f: Follower): Promise<RunEvent[] | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const page = await this.#store.listEvents(f.target.user_id, f.runId, f.last, this.#pageSize)
        if (!page) { this.#stop(f); f.target.end?.(); return undefined }
        return page
      } catch (err) {
        if (attempt >= 5) throw err
        this.#log.warn({ err, run_id: f.runId, attempt }, 'reading run events failed; retrying')
        await this.#sleep(f, this.#pollMs)
        if (f.stopped) return undefined
      }
    }
  }

  /** Waits for the target to drain; false (and the target cut) if it stays full `stallMs`. */
  #drained (f: Follower): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false
      const timer = this.#clock.setTimeout(() => {
        if (settled) return
        settled = true
        if (!f.stopped) {
          this.#log.info({ run_id: f.runId, user_id: f.target.user_id }, 'cut a client that stopped reading')
          this.#stop(f)
          this.#onCut()
          f.target.cut()
        }
        resolve(false)
      }, this.#stallMs)
      f.target.drained().then(() => {
        if (settled) return
        settled = true
        this.#clock.clearTimeout(timer)
        resolve(!f.stopped)
      }, () => {
        if (settled) return
        settled = true
        this.#clock.clearTimeout(timer)
        resolve(false)
      })
    })
  }

  #sleep (f: Follower, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => { f.wake = undefined; resolve() }, ms)
      f.wake = () => { this.#clock.clearTimeout(timer); f.wake = undefined; resolve() }
    })
  }

  #status (up: boolean) {
    if (this.#stopped || up === this.#busUp) return
    this.#busUp = up
    this.#log.warn({ up }, up ? 'bus is back: followers catch up from the store' : 'bus is down: followers read the store')
    // down: messages may be lost from now on; up: what was lost meanwhile is in the store
    for (const channel of this.#channels.values()) {
      for (const f of channel.followers) {
        f.live = false
        if (f.wake) f.wake()
        else this.#pump(f)
      }
    }
    if (up) {
      if (this.#pollTimer !== undefined) this.#clock.clearTimeout(this.#pollTimer)
      this.#pollTimer = undefined
      this.#pollThreads()
    } else {
      this.#scheduleThreadPoll()
    }
  }

  #scheduleThreadPoll () {
    if (this.#busUp || this.#stopped) return
    this.#pollTimer = this.#clock.setTimeout(() => {
      this.#pollThreads().finally(() => this.#scheduleThreadPoll())
    }, this.#pollMs)
  }

  /** Announces runs started on watched threads that the bus may not have told of. */
  async #pollThreads (): Promise<void> {
    await Promise.all([...this.#watches].map(async (w) => {
      try {
        const messages = await this.#store.listMessages(w.user_id, w.thread_id)
        for (const m of messages ?? []) if (m.role === 'user' && m.run_id) this.#announce(w, m.run_id)
      } catch (err) {
        this.#log.warn({ err, thread_id: w.thread_id }, 'reading a watched thread failed')
      }
    }))
  }

  #announce (w: ThreadWatch, runId: string) {
    if (w.stopped || w.known.has(runId)) return
    w.known.add(runId)
    w.onRun(runId)
  }

  #unwatch (w: ThreadWatch) {
    if (w.stopped) return
    w.stopped = true
    this.#watches.delete(w)
    const off = w.off
    w.off = undefined
    off?.().catch((err) => this.#log.error({ err }, 'bus unsubscribe failed'))
  }

  #stop (f: Follower) {
    if (f.stopped) return
    f.stopped = true
    f.wake?.()
    const channel = this.#channels.get(f.runId)
    if (!channel || !channel.followers.delete(f) || channel.followers.size > 0) return
    this.#channels.delete(f.runId)
    channel.ready.then((off) => off()).catch((err) => this.#log.error({ err }, 'bus unsubscribe failed'))
  }
}
