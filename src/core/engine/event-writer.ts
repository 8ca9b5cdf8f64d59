import { setTimeout as sleep } from 'node:timers/promises'
import type { RunEvent } from '../events.js'
import { FencedError, type EventBatch, type Store } from '../../store/types.js'

interface Pending extends EventBatch { resolve (): void, reject (err: Error): void }

/** Delays before the retries of a failed group commit: a store hiccup of a few seconds loses nothing. */
const RETRY_MS = [100, 500, 2000]

/**
 * Group commit: the events every run of this process emitted in one tick are stored in one
 * transaction, not one per run. A write waits for the transaction that holds it; a run whose
 * fence refused it gets FencedError, the others are stored. A failed transaction is retried a
 * few times before its writes fail. One per store (`writerFor`).
 */
export class EventWriter {
  readonly #store: Store
  readonly #retryMs: readonly number[]
  #queue: Pending[] = []
  #running: Promise<void> | undefined
  /** the last commit failed, even after its retries: readiness reports the store failing until a write succeeds */
  failing = false
  /** commits failed for good so far: a probe clears `failing` only if none failed while it ran */
  #failures = 0

  constructor (store: Store, retryMs: readonly number[] = RETRY_MS) {
    this.#store = store
    this.#retryMs = retryMs
  }

  /** `data`: each event's data serialised, when the caller has it */
  write (runId: string, epoch: number, events: readonly RunEvent[], data?: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ run_id: runId, epoch, events, data, resolve, reject })
      this.#running ??= this.#drain()
    })
  }

  async #drain (): Promise<void> {
    // let every run of this tick add its events first
    await new Promise((resolve) => setImmediate(resolve))
    while (this.#queue.length) {
      const batch = this.#queue
      this.#queue = []
      await this.#commit(batch)
    }
    this.#running = undefined
  }

  async #commit (batch: Pending[]) {
    for (let attempt = 0; ; attempt++) {
      try {
        const fenced = await this.#store.appendBatches(batch)
        // a commit whose every write was fenced stored nothing, so it cannot tell that the store is back
        if (fenced.size < batch.length) this.failing = false
        for (const p of batch) {
          if (fenced.has(p)) p.reject(new FencedError(`run ${p.run_id}: epoch ${p.epoch} no longer holds seq ${p.events[0]?.seq}`))
          else p.resolve()
        }
        return
      } catch (err) {
        if (attempt >= this.#retryMs.length) {
          this.failing = true
          this.#failures++
          for (const p of batch) p.reject(err as Error)
          return
        }
        await sleep(this.#retryMs[attempt])
      }
    }
  }

  /**
   * While failing, a process that gets no more events to commit would never see the store come
   * back: readiness calls this instead, a write of the store's own. Rejects while the store refuses it.
   */
  async probe (): Promise<void> {
    const failures = this.#failures
    await this.#store.probeWrite()
    if (this.#failures === failures) this.failing = false
  }
}

const writers = new WeakMap<Store, EventWriter>()

/** The one writer of a store in this process, so every run's events share its transactions; `retryMs` when it is made. */
export function writerFor (store: Store, retryMs?: readonly number[]): EventWriter {
  let writer = writers.get(store)
  if (!writer) writers.set(store, (writer = new EventWriter(store, retryMs)))
  return writer
}
