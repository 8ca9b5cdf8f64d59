import { now, type EventData, type RunEvent } from '../events.js'
import type { RunEmitter } from './run-emitter.js'

/**
 * The run's final answer as it is written: `answer_delta` events (CONTRACT §5.7). Each agent
 * attempt writes its own text; only what extends the text already sent goes out, so an attempt
 * replayed after a takeover (or a retry writing the same words) sends nothing twice. At the run's
 * end `finish` makes the deltas add up to exactly the answer: the missing tail, or, when an attempt
 * wrote something else, the whole answer again with `reset: true`.
 */
export class AnswerStream {
  readonly #emitter: RunEmitter
  #sent = ''

  constructor (emitter: RunEmitter, history: readonly RunEvent[] = []) {
    this.#emitter = emitter
    for (const e of history) {
      if (e.type !== 'answer_delta') continue
      const d = e.data as EventData<'answer_delta'>
      this.#sent = d.reset ? d.delta : this.#sent + d.delta
    }
  }

  /** The text streamed so far. */
  get text () { return this.#sent }

  /** A writer for one agent attempt; `live` is false once the attempt may write no more. */
  writer (agent: { agent_id: string, agent_name: string }, live: () => boolean) {
    let written = ''
    let diverged = false
    return (piece: string) => {
      if (!live() || diverged || typeof piece !== 'string' || piece === '') return
      written += piece
      if (written.length <= this.#sent.length) {
        if (!this.#sent.startsWith(written)) diverged = true
        return
      }
      if (!written.startsWith(this.#sent)) { diverged = true; return }
      const delta = written.slice(this.#sent.length)
      this.#sent = written
      this.#emitter.emit({ type: 'answer_delta', data: { delta, ...agent, timestamp: now() } }).catch(() => {})
    }
  }

  /** Before `run_completed`: the deltas of a run that streamed add up to exactly `answer`. */
  async finish (answer: string) {
    if (this.#sent === '' || this.#sent === answer) return
    const reset = !answer.startsWith(this.#sent)
    const delta = reset ? answer : answer.slice(this.#sent.length)
    this.#sent = answer
    await this.#emitter.emit({ type: 'answer_delta', data: { delta, ...(reset ? { reset: true as const } : {}), timestamp: now() } })
  }
}
