import type { BusListener, EventBus } from '../../src/bus/types.js'
import { runChannel, threadChannel } from '../../src/bus/types.js'
import { silentLogger, type Logger } from '../../src/core/context.js'
import type { RunEvent } from '../../src/core/events.js'
import type { FeedClock, FeedTarget } from '../../src/core/run-feed.js'
import type { Message, Run, Store } from '../../src/store/types.js'

/** Lets every pending promise callback and immediate run. */
export async function settle (rounds = 10) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A clock the test moves by hand. */
export function fakeClock () {
  let now = 0
  const timers = new Map<number, { at: number, fn: () => void }>()
  let ids = 0
  const clock: FeedClock & { advance (ms: number): Promise<void>, readonly pending: number } = {
    setTimeout (fn, ms) { const id = ++ids; timers.set(id, { at: now + ms, fn }); return id },
    clearTimeout (id) { timers.delete(id as number) },
    async advance (ms) {
      const until = now + ms
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
        if (!due) break
        timers.delete(due[0])
        now = due[1].at
        due[1].fn()
        await settle()
      }
      now = until
      await settle()
    },
    get pending () { return timers.size }
  }
  return clock
}

/** One run's event, as the emitter makes it. */
export function ev (seq: number, opts: { type?: RunEvent['type'], user?: string, run?: string } = {}): RunEvent {
  const type = opts.type ?? 'agent_thinking'
  const data = type === 'agent_thinking'
    ? { agent_id: 'a1', agent_name: 'x', thought: `t${seq}`, timestamp: seq }
    : type === 'run_completed' ? { result: { ok: true }, timestamp: seq } : { timestamp: seq }
  return { type, seq, run_id: opts.run ?? 'run-1', thread_id: 'thread-1', user_id: opts.user ?? 'alice', data } as RunEvent
}

/**
 * A store of runs and events the test fills; `listEvents` can be held (`hold()`) so the test
 * decides when a read returns, and counts its calls.
 */
export function fakeStore () {
  const runs = new Map<string, Run>()
  const events = new Map<string, RunEvent[]>()
  const messages = new Map<string, Message[]>()
  const reads: Array<{ runId: string, afterSeq: number, limit?: number }> = []
  let held: Array<() => void> | undefined
  let failing = 0

  const store = {
    async getRun (userId: string, runId: string) {
      const run = runs.get(runId)
      return run && run.user_id === userId ? { ...run } : undefined
    },
    async listEvents (userId: string, runId: string, afterSeq: number, limit?: number) {
      reads.push({ runId, afterSeq, limit })
      if (held) await new Promise<void>((resolve) => held!.push(resolve))
      if (failing > 0) { failing--; throw new Error('the store is down') }
      const run = runs.get(runId)
      if (!run || run.user_id !== userId) return undefined
      const after = (events.get(runId) ?? []).filter((e) => e.seq > afterSeq)
      return limit === undefined ? after : after.slice(0, limit)
    },
    async getThread (userId: string, threadId: string) {
      const list = messages.get(threadId)
      if (!list || list[0]?.thread_id !== threadId || userId !== 'alice') return undefined
      const active = [...runs.values()].find((r) => r.thread_id === threadId && (r.status === 'running' || r.status === 'queued'))
      return { thread_id: threadId, user_id: userId, title: '', created_at: '', updated_at: '', active_run_id: active?.run_id ?? null }
    },
    async listMessages (userId: string, threadId: string) {
      if (userId !== 'alice') return undefined
      return messages.get(threadId)
    }
  }

  return {
    store: store as unknown as Store,
    reads,
    /** a run of `user` (default alice), running, with no events */
    addRun (runId: string, opts: { user?: string, thread?: string } = {}) {
      runs.set(runId, { run_id: runId, thread_id: opts.thread ?? 'thread-1', user_id: opts.user ?? 'alice', agent: 'x', status: 'running', input: null, created_at: '', started_at: null, finished_at: null, result: null, error: null, last_seq: 0 })
      if (opts.thread) {
        const list = messages.get(opts.thread) ?? []
        list.push({ message_id: `m-${runId}`, thread_id: opts.thread, role: 'user', content: '', run_id: runId, created_at: '' })
        messages.set(opts.thread, list)
      }
    },
    /** stores events (the emitter's first step); a terminal one finishes the run */
    append (...list: RunEvent[]) {
      for (const e of list) {
        const all = events.get(e.run_id) ?? []
        all.push(e)
        events.set(e.run_id, all)
        const run = runs.get(e.run_id)!
        run.last_seq = e.seq
        if (e.type === 'run_completed') run.status = 'completed'
      }
    },
    /** from now on reads wait for `release()` */
    hold () { held ??= [] },
    /** lets the held reads return, and stops holding */
    release () { const h = held ?? []; held = undefined; for (const r of h) r() },
    /** the next `n` reads fail */
    fail (n: number) { failing = n }
  }
}

/**
 * A bus whose subscriptions go live only when the test says so (`goLive()`), like a Redis
 * SUBSCRIBE that has not been acknowledged yet: what is published before that is lost.
 */
export function fakeBus (opts: { holdSubscribe?: boolean } = {}) {
  const live = new Map<string, Set<BusListener>>()
  const waiting: Array<() => void> = []
  const statusListeners = new Set<(up: boolean) => void>()
  let holding = opts.holdSubscribe ?? false
  let subscribes = 0
  const bus: EventBus = {
    async publish (channel, message) {
      for (const l of [...(live.get(channel) ?? [])]) l(message)
    },
    async subscribe (channel, listener) {
      subscribes++
      const add = () => {
        let set = live.get(channel)
        if (!set) live.set(channel, (set = new Set()))
        set.add(listener)
      }
      if (holding) await new Promise<void>((resolve) => waiting.push(() => { add(); resolve() }))
      else add()
      return async () => { live.get(channel)?.delete(listener) }
    },
    onStatus (listener) { statusListeners.add(listener); return () => { statusListeners.delete(listener) } },
    async ping () {},
    async close () {}
  }
  return {
    bus,
    /** one message of a flush: the events' JSON, one per line */
    publish (...list: RunEvent[]) { return bus.publish(runChannel(list[0].run_id), list.map((e) => JSON.stringify(e)).join('\n')) },
    announce (threadId: string, runId: string) { return bus.publish(threadChannel(threadId), JSON.stringify({ run_id: runId })) },
    /** makes held subscriptions live, and stops holding */
    goLive () { holding = false; for (const w of waiting.splice(0)) w() },
    status (up: boolean) { for (const l of statusListeners) l(up) },
    listeners (channel: string) { return live.get(channel)?.size ?? 0 },
    get subscribes () { return subscribes }
  }
}

/** A target that records what it is sent; `full` makes it report a full buffer until `drain()`. */
export function fakeTarget (user = 'alice') {
  const sent: RunEvent[] = []
  const jsons: string[] = []
  let full = false
  let waiters: Array<() => void> = []
  const state = { ended: 0, cut: 0 }
  const target: FeedTarget = {
    user_id: user,
    send (json, event) { sent.push(event); jsons.push(json); return !full },
    drained () { return full ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve() },
    end () { state.ended++ },
    cut () { state.cut++ }
  }
  return {
    target,
    sent,
    jsons,
    seqs: () => sent.map((e) => e.seq),
    state,
    /** from now on every send reports a full buffer */
    fill () { full = true },
    drain () { full = false; const w = waiters; waiters = []; for (const r of w) r() }
  }
}

export const quietLog: Logger = silentLogger
