import { AgentwireError, RunCancelledError, RunFailedError } from './errors.js'
import type { ResumeBody, RunStatus } from './http.js'
import { TERMINAL_TYPES, type RunEvent } from './wire.js'

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_TYPES)

export const isTerminal = (event: RunEvent): boolean => TERMINAL.has(event.type)

/**
 * One run's events as the client received them: each `seq` after `afterSeq` once, in order,
 * whatever socket or replay it came from. Runs and thread follows read from it.
 */
export class RunFeed {
  readonly events: RunEvent[] = []
  lastSeq: number
  thread_id?: string
  ended = false
  error?: AgentwireError
  /** a resubscribe was asked for after a gap, and nothing has filled it yet */
  resyncing = false
  private readonly waiters = new Set<() => void>()

  constructor (readonly run_id: string, readonly afterSeq: number) {
    this.lastSeq = afterSeq
  }

  get done (): boolean { return this.ended || this.error !== undefined }

  /** `ok`: the next event, kept; `old`: seen already; `gap`: events are missing before it. */
  accept (event: RunEvent): 'ok' | 'old' | 'gap' {
    if (this.done || event.seq <= this.lastSeq) return 'old'
    if (event.seq > this.lastSeq + 1) return 'gap'
    this.lastSeq = event.seq
    this.thread_id ??= event.thread_id
    this.resyncing = false
    this.events.push(event)
    if (isTerminal(event)) this.ended = true
    this.wake()
    return 'ok'
  }

  fail (err: AgentwireError): void {
    if (this.done) return
    this.error = err
    this.wake()
  }

  /** Resolves at the next event, end or failure. */
  next (): Promise<void> {
    if (this.done) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add(resolve))
  }

  private wake () {
    for (const w of [...this.waiters]) w()
    this.waiters.clear()
  }
}

export interface RunHost {
  cancel (runId: string): Promise<{ run_id: string, status: RunStatus }>
  resume (runId: string, body: ResumeBody): Promise<{ run_id: string, interrupt_id: string }>
  release (feed: RunFeed): void
}

/** A run being followed: its events as an async iterator, its result as a promise. */
export class Run {
  constructor (
    private readonly feed: RunFeed,
    private readonly host: RunHost,
    readonly thread_id: string
  ) {}

  get id (): string { return this.feed.run_id }
  /** the `seq` of the last event received */
  get lastSeq (): number { return this.feed.lastSeq }
  /** every event received so far, in seq order */
  get received (): readonly RunEvent[] { return this.feed.events }

  /**
   * Every event of the run after the `after_seq` it was followed from, each exactly once and in
   * `seq` order across reconnects, ending after the terminal event. Each call starts from the first
   * one. Throws if following the run failed (`not_found`, `unauthorized`, `closed`, …).
   */
  async * events (): AsyncGenerator<RunEvent, void, undefined> {
    for (let i = 0; ; i++) {
      while (i >= this.feed.events.length) {
        if (this.feed.error) throw this.feed.error
        if (this.feed.ended) return
        await this.feed.next()
      }
      yield this.feed.events[i]
    }
  }

  /**
   * Resolves with `run_completed`'s result; rejects with `RunFailedError` (code = the run's error
   * code) or `RunCancelledError`, or the `AgentwireError` that stopped the following.
   */
  async result (): Promise<unknown> {
    const end = await this.end()
    if (end.type === 'run_completed') return end.data.result
    if (end.type === 'run_failed') throw new RunFailedError(end)
    if (end.type === 'run_cancelled') throw new RunCancelledError(end)
    throw new AgentwireError('protocol', `a run ended with ${(end as RunEvent).type}`)
  }

  /** The terminal event, whichever it is. */
  async end (): Promise<RunEvent> {
    while (!this.feed.ended) {
      if (this.feed.error) throw this.feed.error
      await this.feed.next()
    }
    return this.feed.events[this.feed.events.length - 1]
  }

  /** Asks the server to cancel the run; the events still end with its terminal event. */
  cancel (): Promise<{ run_id: string, status: RunStatus }> {
    return this.host.cancel(this.id)
  }

  /**
   * Answers an `input_requested` of this run: `{ decision: 'approve' | 'reject', reason?, arguments? }`
   * for an approval, `{ answer }` for a question. Rejects with `invalid_request` (the run keeps
   * waiting) or `interrupt_closed`.
   */
  respond (interruptId: string, answer: { decision: 'approve' | 'reject', reason?: string, arguments?: Record<string, unknown> } | { answer: unknown }): Promise<{ run_id: string, interrupt_id: string }> {
    return this.host.resume(this.id, { interrupt_id: interruptId, ...answer } as ResumeBody)
  }

  /** The text of the answer streamed so far (`answer_delta` events; contract §5.7). */
  get answerSoFar (): string {
    let text = ''
    for (const e of this.feed.events) if (e.type === 'answer_delta') text = e.data.reset ? e.data.delta : text + e.data.delta
    return text
  }

  /** Stops following the run (its events stop arriving; the run itself goes on). */
  stop (): void {
    this.feed.fail(new AgentwireError('closed', 'stopped following the run'))
    this.host.release(this.feed)
  }
}

/** Every event of a thread's runs, as they come: the active run's from seq 1, then every later run's. */
export class ThreadFollow implements AsyncIterable<RunEvent> {
  /** runs of the thread this follow has seen or that ended before it began: never delivered (again) */
  readonly known = new Set<string>()
  /** the runs being received, each deduplicated like a run's own feed */
  readonly runs = new Map<string, RunFeed>()
  private readonly queue: RunEvent[] = []
  private readonly waiters = new Set<() => void>()
  error?: AgentwireError
  private stopped = false

  constructor (readonly thread_id: string, private readonly onStop: (f: ThreadFollow) => void) {}

  /** The feed of a run of this thread: an existing one, a new one for a run not seen yet, or none. */
  feedFor (runId: string): RunFeed | undefined {
    if (this.stopped) return undefined
    const feed = this.runs.get(runId)
    if (feed || this.known.has(runId)) return feed
    this.known.add(runId)
    const fresh = new RunFeed(runId, 0)
    this.runs.set(runId, fresh)
    return fresh
  }

  /** Called after `feed` accepted an event. */
  delivered (feed: RunFeed): void {
    this.queue.push(feed.events[feed.events.length - 1])
    if (feed.ended) this.runs.delete(feed.run_id)
    this.wake()
  }

  fail (err: AgentwireError): void {
    if (this.stopped || this.error) return
    this.error = err
    this.wake()
  }

  /** Ends the iteration; the thread's runs go on. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.runs.clear()
    this.wake()
    this.onStop(this)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<RunEvent, void, undefined> {
    try {
      for (;;) {
        while (this.queue.length === 0) {
          if (this.error) throw this.error
          if (this.stopped) return
          await new Promise<void>((resolve) => this.waiters.add(resolve))
        }
        yield this.queue.shift()!
      }
    } finally {
      this.stop()
    }
  }

  private wake () {
    for (const w of [...this.waiters]) w()
    this.waiters.clear()
  }
}
