import type { EventBus } from '../bus/types.js'
import { eventLines, runChannel, threadChannel } from '../bus/types.js'
import type { Store } from '../store/types.js'
import type { Logger } from './context.js'
import { TERMINAL_TYPES, type RunEvent } from './events.js'

/** Where a followed run's events go: `send` gets the event and its JSON, serialised once. */
export interface FeedTarget {
  user_id: string
  send (json: string, event: RunEvent): void
  /** the run's terminal event has been sent */
  end?(): void
}

interface Follower {
  target: FeedTarget
  run_id: string
  last: number
  /** set while replaying from the store: live events wait here */
  buffer: RunEvent[] | null
  stopped: boolean
}

interface Channel { unsubscribe: Promise<() => Promise<void>>, followers: Set<Follower> }

/**
 * Streams a run's events to followers: replay from the store after `after_seq`, then live from
 * the bus, with no gap and no duplicate at the seam (CONTRACT §5 rule 1). One bus subscription per
 * run per process; each event is parsed once and its JSON handed to every follower. An event
 * reaches only followers of the run's owner (rule 2), checked again at delivery.
 */
export function createRunFeed (deps: { store: Store, bus: EventBus, log: Logger }) {
  const { store, bus, log } = deps
  const channels = new Map<string, Channel>()

  function onMessage (runId: string, message: string) {
    const channel = channels.get(runId)
    if (!channel) return
    for (const json of eventLines(message)) {
      const event = JSON.parse(json) as RunEvent
      for (const f of channel.followers) push(f, event, json)
    }
  }

  function push (f: Follower, event: RunEvent, json?: string) {
    if (f.stopped) return
    if (event.user_id !== f.target.user_id) {
      log.error({ run_id: event.run_id }, 'refused to deliver an event to another user')
      return
    }
    if (f.buffer) { f.buffer.push(event); return }
    if (event.seq <= f.last) return
    if (event.seq > f.last + 1) {
      catchUp(f).catch((err) => log.error({ err, run_id: f.run_id }, 'catching up a follower failed'))
      f.buffer!.push(event)
      return
    }
    f.last = event.seq
    f.target.send(json ?? JSON.stringify(event), event)
    if (TERMINAL_TYPES.has(event.type)) { stop(f); f.target.end?.() }
  }

  /** Replays from the store after `f.last`, then drains what arrived meanwhile. */
  async function catchUp (f: Follower): Promise<boolean> {
    f.buffer = []
    const events = await store.listEvents(f.target.user_id, f.run_id, f.last)
    if (!events) return false
    const waiting = f.buffer
    f.buffer = null
    for (const e of events) push(f, e)
    for (const e of waiting) push(f, e)
    return true
  }

  function stop (f: Follower) {
    if (f.stopped) return
    f.stopped = true
    const channel = channels.get(f.run_id)
    if (!channel) return
    channel.followers.delete(f)
    if (channel.followers.size === 0) {
      channels.delete(f.run_id)
      channel.unsubscribe.then((off) => off()).catch((err) => log.error({ err }, 'bus unsubscribe failed'))
    }
  }

  return {
    /**
     * Follows a run for a target. Resolves with the last seq replayed and a stop function, or
     * undefined when the run is not the target user's (it looks exactly like a missing one).
     * `subscribed` is called after the owner check and before the first event is sent.
     */
    async follow (target: FeedTarget, runId: string, afterSeq: number, subscribed?: (lastSeq: number) => void) {
      const f: Follower = { target, run_id: runId, last: afterSeq, buffer: [], stopped: false }
      let channel = channels.get(runId)
      if (!channel) {
        channel = { followers: new Set(), unsubscribe: bus.subscribe(runChannel(runId), (json) => onMessage(runId, json)) }
        channels.set(runId, channel)
      }
      channel.followers.add(f)
      // listen first, then read the store: whatever is published meanwhile waits in the buffer
      await channel.unsubscribe
      const run = await store.getRun(target.user_id, runId)
      if (!run) { stop(f); return undefined }
      const events = await store.listEvents(target.user_id, runId, afterSeq) ?? []
      subscribed?.(Math.max(afterSeq, events.at(-1)?.seq ?? 0, run.last_seq))
      const waiting = f.buffer!
      f.buffer = null
      for (const e of events) push(f, e)
      for (const e of waiting) push(f, e)
      // a finished run followed from at or past its terminal event: nothing more will come
      if (!f.stopped && run.status !== 'queued' && run.status !== 'running') { stop(f); target.end?.() }
      return { stop: () => stop(f) }
    },

    /** Calls `onRun` for each new run on a thread; resolves with a stop function. */
    async watchThread (threadId: string, onRun: (runId: string) => void) {
      const off = await bus.subscribe(threadChannel(threadId), (json) => onRun((JSON.parse(json) as { run_id: string }).run_id))
      return off
    },

    get channels () { return channels.size }
  }
}

export type RunFeed = ReturnType<typeof createRunFeed>
