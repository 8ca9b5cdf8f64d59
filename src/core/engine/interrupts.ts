import { randomUUID } from 'node:crypto'
import type { Store, StoredInput } from '../../store/types.js'
import { now, type EventData, type RunEvent } from '../events.js'
import type { JsonSchema } from '../registry.js'
import { RunFailure, isInterruption, raceAbort, type WaitClock } from './failures.js'
import type { RunEmitter } from './run-emitter.js'

type Requested = EventData<'input_requested'>
type Received = EventData<'input_received'>

/** One interrupt of the run, as the stored events and this process know it. */
interface Interrupt {
  interrupt_id: string
  /** what a replayed attempt matches it by: agent name, kind, tool or question */
  key: string
  tool_call_id?: string
  expires_at: number
  open: boolean
  received?: Received
}

/** What an agent or a tool call waits for. */
export interface InterruptRequest {
  kind: 'approval' | 'question'
  tool_name?: string
  tool_call_id?: string
  arguments?: unknown
  question?: string
  schema: JsonSchema
  expires_in_s: number
  /** the stored answer at expiry */
  on_expiry: Record<string, unknown>
}

/** The answer an interrupt got: who gave it and its body (`decision`… or `answer`). */
export interface InterruptAnswer {
  interrupt_id: string
  by: 'user' | 'expiry'
  body: Record<string, unknown>
  /** the tool call id the approval was asked for, and whether that call already ran */
  tool_call_id?: string
  executed: boolean
}

const keyOf = (agentName: string, kind: string, what: string | undefined) => `${agentName}\u0000${kind}\u0000${what ?? ''}`
const expiryOf = (iso: string) => Date.parse(iso)
/** setTimeout's longest delay; a later expiry is re-armed */
const MAX_DELAY = 2 ** 31 - 1

/**
 * The interrupts of one run on the process that holds it (CONTRACT §5.6). An interrupt is an
 * `input_requested` event; its answer is a row in the store (the first stored wins: the user's, or
 * the default at expiry), which the process waiting for it reads when told over the bus, at expiry,
 * or at once when the answer was stored before it began to wait. A process that takes a run over
 * rebuilds them from the stored events: a replayed attempt's k-th ask of the same agent, kind and
 * tool (or question) finds the k-th such interrupt, answered or still open, instead of asking again.
 * It is also the run's wait clock: deadlines do not count the time spent waiting.
 */
export class RunInputs implements WaitClock {
  readonly #records: Interrupt[] = []
  readonly #asked = new Map<string, number>()
  readonly #executed = new Set<string>()
  readonly #checks = new Map<string, () => void>()
  readonly #stops = new Map<string, () => void>()
  readonly #store: Store
  readonly #emitter: RunEmitter
  readonly #runId: string
  /** told whenever the run may have started or stopped waiting; reads `waiting` */
  readonly #onWaiting: (waiting: boolean) => Promise<void>
  #open = 0
  #waitStart = 0
  #waited = 0

  constructor (deps: { store: Store, emitter: RunEmitter, run_id: string, onWaiting: (waiting: boolean) => Promise<void> }, history: readonly RunEvent[] = []) {
    this.#store = deps.store
    this.#emitter = deps.emitter
    this.#runId = deps.run_id
    this.#onWaiting = deps.onWaiting
    for (const e of history) {
      if (e.type === 'input_requested') {
        const d = e.data as Requested
        this.#records.push({ interrupt_id: d.interrupt_id, key: keyOf(d.agent_name, d.kind, d.kind === 'approval' ? d.tool_name : d.question), tool_call_id: d.tool_call_id, expires_at: expiryOf(d.expires_at), open: true })
        this.#opened(d.timestamp * 1000)
      } else if (e.type === 'input_received') {
        const d = e.data as Received
        const r = this.#records.find((x) => x.interrupt_id === d.interrupt_id)
        if (r?.open) {
          r.open = false
          r.received = d
          this.#closed(d.timestamp * 1000)
        }
      } else if (e.type === 'tool_executing') {
        this.#executed.add((e.data as EventData<'tool_executing'>).tool_call_id)
      }
    }
  }

  /** true while some interrupt of the run is open: the run holds no run slot */
  get waiting () { return this.#open > 0 }

  waited (): number {
    return this.#waited + (this.#open > 0 ? Math.max(0, Date.now() - this.#waitStart) : 0)
  }

  /** An answer may have been stored for the interrupt: the waiter reads it. */
  notify (interruptId: string) {
    this.#checks.get(interruptId)?.()
  }

  /**
   * Asks and waits for the answer; resolves with it, or rejects with the signal's reason. A cancel
   * closes the interrupt (`input_received` by `cancel`); an interruption leaves it open for the
   * process that takes the run over.
   */
  async request (agent: { agent_id: string, agent_name: string }, req: InterruptRequest, signal: AbortSignal): Promise<InterruptAnswer> {
    if (signal.aborted) throw signal.reason
    const key = keyOf(agent.agent_name, req.kind, req.kind === 'approval' ? req.tool_name : req.question)
    const nth = this.#asked.get(key) ?? 0
    this.#asked.set(key, nth + 1)
    let record = this.#records.filter((r) => r.key === key)[nth]
    if (record?.received) {
      const { by, interrupt_id, agent_id: _a, agent_name: _n, kind: _k, timestamp: _t, ...body } = record.received
      if (by !== 'cancel') return { interrupt_id, by, body, tool_call_id: record.tool_call_id, executed: this.#executed.has(record.tool_call_id ?? '') }
    }
    if (!record || !record.open) {
      const expiresAt = Date.now() + req.expires_in_s * 1000
      record = { interrupt_id: randomUUID(), key, tool_call_id: req.tool_call_id, expires_at: expiresAt, open: true }
      const data: Requested = {
        ...agent,
        interrupt_id: record.interrupt_id,
        kind: req.kind,
        ...(req.kind === 'approval' ? { tool_name: req.tool_name, tool_call_id: req.tool_call_id, arguments: req.arguments } : { question: req.question }),
        schema: req.schema,
        expires_at: new Date(expiresAt).toISOString(),
        timestamp: now()
      }
      // an event refused at once (too large) leaves nothing open
      const emitted = this.#emitter.emit({ type: 'input_requested', data })
      this.#records.push(record)
      this.#opened(Date.now())
      await emitted
    }
    await this.#onWaiting(true)
    const interrupt = record
    let stored: StoredInput
    try {
      stored = await raceAbort(this.#answer(interrupt, req.on_expiry), signal)
    } catch (err) {
      this.#stops.get(interrupt.interrupt_id)?.()
      const reason = signal.aborted ? signal.reason : err
      if (!isInterruption(reason) && interrupt.open) {
        await this.#close(interrupt, { ...agent, interrupt_id: interrupt.interrupt_id, kind: req.kind, by: 'cancel', timestamp: now() }).catch(() => {})
      }
      throw reason
    }
    await this.#close(interrupt, { ...agent, interrupt_id: interrupt.interrupt_id, kind: req.kind, by: stored.by, ...stored.body, timestamp: now() })
    return { interrupt_id: interrupt.interrupt_id, by: stored.by, body: stored.body, tool_call_id: interrupt.tool_call_id, executed: this.#executed.has(interrupt.tool_call_id ?? '') }
  }

  /** Resolves with the stored answer: already there, told of, or stored here at expiry. */
  #answer (interrupt: Interrupt, onExpiry: Record<string, unknown>): Promise<StoredInput> {
    return new Promise<StoredInput>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      let reading = false
      let again = false
      const stop = () => {
        clearTimeout(timer)
        this.#checks.delete(interrupt.interrupt_id)
        this.#stops.delete(interrupt.interrupt_id)
      }
      const done = (v: StoredInput) => {
        stop()
        resolve(v)
      }
      const check = () => {
        if (reading) { again = true; return }
        reading = true
        this.#store.getInput(this.#runId, interrupt.interrupt_id).then((found) => {
          reading = false
          if (found) done(found)
          else if (again) { again = false; check() }
        }, (err) => { stop(); reject(err) })
      }
      const arm = () => {
        timer = setTimeout(() => {
          if (Date.now() < interrupt.expires_at) return arm()
          // first stored wins: a user's answer stored just before keeps its place
          this.#store.storeInput(this.#runId, { interrupt_id: interrupt.interrupt_id, by: 'expiry', body: onExpiry })
            .then(check, (err) => { stop(); reject(err) })
        }, Math.min(MAX_DELAY, Math.max(0, interrupt.expires_at - Date.now())))
        timer.unref()
      }
      this.#checks.set(interrupt.interrupt_id, check)
      this.#stops.set(interrupt.interrupt_id, stop)
      arm()
      check()
    })
  }

  async #close (interrupt: Interrupt, data: Received) {
    if (!interrupt.open) return
    interrupt.open = false
    interrupt.received = data
    this.#closed(Date.now())
    try {
      await this.#emitter.emit({ type: 'input_received', data })
    } finally {
      await this.#onWaiting(this.waiting)
    }
  }

  #opened (at: number) {
    if (this.#open++ === 0) this.#waitStart = at
  }

  #closed (at: number) {
    if (--this.#open === 0) this.#waited += Math.max(0, at - this.#waitStart)
  }
}

/** The answer schema of an approval: a decision, an optional reason, arguments the tool accepts. */
export function approvalSchema (inputSchema: JsonSchema): JsonSchema {
  return {
    type: 'object',
    properties: {
      decision: { enum: ['approve', 'reject'] },
      reason: { type: 'string', maxLength: 1000 },
      arguments: inputSchema
    },
    required: ['decision'],
    additionalProperties: false
  }
}

export const rejected = (reason: unknown) =>
  new RunFailure('rejected', typeof reason === 'string' && reason ? `the call was rejected: ${reason.slice(0, 900)}` : 'the call was rejected', false)
