import { Errors } from '../../errors.js'

export interface SchedulerLimits {
  /** runs one user may have running at once */
  perUser: number
  /** runs one user may have waiting; beyond that, `rate_limited` */
  queuePerUser: number
  /** runs running at once in this process */
  global: number
}

interface Waiting { run_id: string, start: () => void }

/**
 * Run slots: per-user and global caps, a bounded FIFO queue per user, and round-robin between
 * users when a slot frees, so one user's flood never starves the others. Only root runs take
 * slots; sub-agents and workflow steps run inside their run's slot and cannot deadlock on it.
 */
export function createScheduler (limits: SchedulerLimits) {
  const running = new Map<string, number>()
  /** users with waiting runs, in round-robin order (Map keeps insertion order) */
  const queues = new Map<string, Waiting[]>()
  let total = 0

  const canStart = (userId: string) => total < limits.global && (running.get(userId) ?? 0) < limits.perUser

  function start (userId: string, w: Waiting) {
    running.set(userId, (running.get(userId) ?? 0) + 1)
    total++
    w.start()
  }

  /** Fills free slots, visiting users in turn; a user served goes to the back of the line. */
  function pump () {
    let progressed = true
    while (progressed && total < limits.global) {
      progressed = false
      for (const [userId, queue] of queues) {
        if (!canStart(userId)) continue
        const next = queue.shift()!
        queues.delete(userId)
        if (queue.length) queues.set(userId, queue)
        start(userId, next)
        progressed = true
        if (total >= limits.global) break
      }
    }
  }

  return {
    /** throws `rate_limited` when the user's queue is full; call before creating the run */
    check (userId: string) {
      if (!canStart(userId) && (queues.get(userId)?.length ?? 0) >= limits.queuePerUser) {
        throw new Errors.RateLimited(`at most ${limits.perUser} runs at once and ${limits.queuePerUser} waiting`)
      }
    },

    /** starts the run now, or queues it: the answer says which, with its 1-based queue position */
    admit (userId: string, run_id: string, startRun: () => void): { status: 'running' } | { status: 'queued', position: number } {
      const w = { run_id, start: startRun }
      if (canStart(userId) && !queues.has(userId)) { start(userId, w); return { status: 'running' } }
      const queue = queues.get(userId) ?? []
      queue.push(w)
      if (!queues.has(userId)) queues.set(userId, queue)
      return { status: 'queued', position: queue.length }
    },

    /** a running run ended: its slot goes to the next user in turn */
    release (userId: string) {
      const n = (running.get(userId) ?? 0) - 1
      if (n > 0) running.set(userId, n)
      else running.delete(userId)
      total--
      pump()
    },

    /** removes a waiting run; false when it is not waiting (it started or never queued) */
    dequeue (userId: string, run_id: string): boolean {
      const queue = queues.get(userId)
      const i = queue?.findIndex((w) => w.run_id === run_id) ?? -1
      if (!queue || i < 0) return false
      queue.splice(i, 1)
      if (!queue.length) queues.delete(userId)
      return true
    },

    stats () {
      return { running: total, waiting: [...queues.values()].reduce((n, q) => n + q.length, 0) }
    }
  }
}

export type Scheduler = ReturnType<typeof createScheduler>
